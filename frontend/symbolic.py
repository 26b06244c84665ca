"""Symbolic variables: the graph the Python API builds (Theano's Variable/Apply).

Writing `x + y` creates an `Apply` node (an op name, input variables,
attributes and the user's `file.py:line`) and returns its output `Variable`.
The node's result types are inferred right away by building the real op
class from `OP_REGISTRY` on throwaway block arguments of the input types, so
a shape or dtype error is raised at the line that wrote the expression:

    t.py:12: 'tensor.dot' op contraction dims 3 and 4 do not match

The nodes form one growing DAG; `tensorir.function` (frontend/function.py)
lowers the part that its outputs need into a fresh `func.func` with `lower`.

Python numbers mixed with tensors are "weak" (numpy 2 / JAX rules):

| Python value | other operand(s)      | constant dtype                   |
|--------------|-----------------------|----------------------------------|
| bool         | any tensor            | the tensor's dtype               |
| int          | int or float tensor   | the tensor's dtype (must fit)    |
| int          | bool tensor / none    | int64                            |
| float        | float tensor          | the tensor's dtype               |
| float        | int/bool tensor, none | `config.floatX`                  |

so `fvector * 2.0` stays float32 and `ivector + 1` stays int32. numpy arrays
and numpy scalars keep their own dtype (they are "strong").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import dialects as _dialects  # noqa: F401  (the package; its modules register ops)
from ..dialects import builtin as _builtin  # noqa: F401
from ..dialects import func as _func  # noqa: F401
from ..dialects import tensor as _tensor  # noqa: F401
from ..ir.attributes import DYN, Dense, Typed
from ..ir.core import OP_REGISTRY, UNKNOWN, Block, Location, Operation, TirError, TirTypeError, Value, caller_location
from ..ir.types import ScalarType, TensorType, scalar
from .unsupported import missing_attribute


def dtype_name(t: TensorType) -> str:
    """numpy's name of a tensor's element type (`'float32'`), as Theano's `.dtype`."""
    return str(t.dtype)


def type_str(t: TensorType) -> str:
    return f"{dtype_name(t)} {t}"


# ---------------------------------------------------------------- graph nodes


@dataclass(eq=False)
class Apply:
    """One op application: `op` is the IR op name (`tensor.add`), attrs are its IR attributes."""

    op: str
    inputs: tuple[Variable, ...]
    attrs: dict[str, Any]
    loc: Location
    outputs: list[Variable] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Apply({self.op}, {len(self.inputs)} inputs)"


class Variable:
    """A symbolic tensor: a graph input (`owner is None`) or an output of an `Apply` node."""

    # numpy must hand `ndarray + var` to our reflected operators instead of broadcasting over us.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, type: TensorType, owner: Apply | None = None, index: int = 0,
                 name: str | None = None, loc: Location | None = None) -> None:
        if not isinstance(type, TensorType):
            raise TypeError(f"a symbolic variable needs a TensorType, got {type!r}")
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.loc = loc if loc is not None else (owner.loc if owner is not None else UNKNOWN)

    # ---- type facts
    @property
    def ndim(self) -> int:
        return self.type.rank

    @property
    def dtype(self) -> str:
        return dtype_name(self.type)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(d == 1 for d in self.type.shape)

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    def __repr__(self) -> str:
        label = self.name or (self.owner.op if self.owner is not None else "input")
        return f"<Variable {label}: {self.type}>"

    __str__ = __repr__

    # ---- Python protocol: a symbolic value has no truth value or length
    def __bool__(self) -> bool:
        raise TypeError("a symbolic variable has no truth value: use T.switch / T.where for conditions, "
                        "and T.eq / T.neq (not == / !=) to compare element-wise")

    def __len__(self) -> int:
        raise TypeError("a symbolic variable has no len(); use x.shape[0] for its symbolic length")

    def __iter__(self) -> Iterator[Variable]:
        raise TypeError("a symbolic variable is not iterable; index it (x[i]) or use tensorir.scan")

    def __index__(self) -> int:
        raise TypeError("a symbolic variable cannot be used as a Python integer")

    # ---- attribute-style API (implemented in tensor_api)
    @property
    def T(self) -> Variable:  # noqa: N802 (numpy's name)
        return _api().transpose(self)

    @property
    def shape(self) -> Variable:
        return _api().shape(self)

    @property
    def size(self) -> Variable:
        return _api().prod(_api().shape(self))

    def __getitem__(self, key: Any) -> Variable:
        return _api().getitem(self, key)

    def __getattr__(self, key: str) -> Any:
        # Methods (x.sum(), x.reshape(...)) forward to the T. function of the same name.
        if key.startswith("__"):
            raise AttributeError(f"symbolic variable has no attribute {key!r}")
        if key not in _METHODS:
            raise missing_attribute("Variable", "Variable.", key, _METHODS)
        fn = getattr(_api(), _METHODS[key])

        def method(*args: Any, **kwargs: Any) -> Any:
            return fn(self, *args, **kwargs)
        method.__name__ = key
        method.__doc__ = fn.__doc__
        return method

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *_METHODS]

    # ---- operators
    def __add__(self, o: Any) -> Variable: return _api().add(self, o)
    def __radd__(self, o: Any) -> Variable: return _api().add(o, self)
    def __sub__(self, o: Any) -> Variable: return _api().sub(self, o)
    def __rsub__(self, o: Any) -> Variable: return _api().sub(o, self)
    def __mul__(self, o: Any) -> Variable: return _api().mul(self, o)
    def __rmul__(self, o: Any) -> Variable: return _api().mul(o, self)
    def __truediv__(self, o: Any) -> Variable: return _api().true_div(self, o)
    def __rtruediv__(self, o: Any) -> Variable: return _api().true_div(o, self)
    def __floordiv__(self, o: Any) -> Variable: return _api().int_div(self, o)
    def __rfloordiv__(self, o: Any) -> Variable: return _api().int_div(o, self)
    def __mod__(self, o: Any) -> Variable: return _api().mod(self, o)
    def __rmod__(self, o: Any) -> Variable: return _api().mod(o, self)
    def __pow__(self, o: Any) -> Variable: return _api().pow(self, o)
    def __rpow__(self, o: Any) -> Variable: return _api().pow(o, self)
    def __matmul__(self, o: Any) -> Variable: return _api().matmul(self, o)
    def __rmatmul__(self, o: Any) -> Variable: return _api().matmul(o, self)
    def __neg__(self) -> Variable: return _api().neg(self)
    def __pos__(self) -> Variable: return self
    def __abs__(self) -> Variable: return _api().abs(self)
    def __lt__(self, o: Any) -> Variable: return _api().lt(self, o)
    def __le__(self, o: Any) -> Variable: return _api().le(self, o)
    def __gt__(self, o: Any) -> Variable: return _api().gt(self, o)
    def __ge__(self, o: Any) -> Variable: return _api().ge(self, o)
    def __and__(self, o: Any) -> Variable: return _api().and_(self, o)
    def __rand__(self, o: Any) -> Variable: return _api().and_(o, self)
    def __or__(self, o: Any) -> Variable: return _api().or_(self, o)
    def __ror__(self, o: Any) -> Variable: return _api().or_(o, self)
    def __xor__(self, o: Any) -> Variable: return _api().xor(self, o)
    def __rxor__(self, o: Any) -> Variable: return _api().xor(o, self)
    def __invert__(self) -> Variable: return _api().invert(self)
    # == and != stay Python identity (as in Theano), so variables can be dict keys.
    __hash__ = object.__hash__


class Constant(Variable):
    """A variable with a known value (`tensor.constant`); `data` is a read-only numpy array."""

    def __init__(self, data: np.ndarray, name: str | None = None, loc: Location | None = None) -> None:
        data = np.array(data)
        data.setflags(write=False)
        t = TensorType(data.shape, scalar(data.dtype))
        value: Any = Typed(data.item(), t.element) if data.ndim == 0 else Dense(data)
        node = Apply("tensor.constant", (), {"value": value}, loc or UNKNOWN)
        super().__init__(t, node, 0, name, loc)
        node.outputs.append(self)
        self.data = data

    def __repr__(self) -> str:
        return f"<Constant {self.data!r}: {self.type}>"


# Method name -> T. function name.
_METHODS = {name: name for name in (
    "sum", "prod", "max", "min", "mean", "var", "std", "argmax", "argmin", "all", "any",
    "reshape", "dimshuffle", "transpose", "flatten", "astype", "dot", "clip", "round", "squeeze",
    "exp", "log", "sqrt", "ravel", "take", "swapaxes", "logsumexp", "sigmoid", "expand_dims", "zeros_like",
    "ones_like", "fill")}
_METHODS["abs"] = "abs"


def _api() -> Any:
    from . import tensor_api
    return tensor_api


# ---------------------------------------------------------------- building nodes


def op_class(name: str, loc: Location) -> type[Operation]:
    cls = OP_REGISTRY.get(name)
    if cls is None:
        raise TirError(f"'{name}' is not a registered op (the tensor dialect does not declare it yet)", loc)
    return cls


def infer(name: str, types: Sequence[TensorType], attrs: dict[str, Any], loc: Location) -> list[TensorType]:
    """Result types of op `name` on operands of `types`: the op class's own inference and verifier."""
    cls = op_class(name, loc)
    block = Block(list(types))  # throwaway operands: only their types matter
    op = _build(cls, list(block.args), attrs, loc)
    op.verify_()  # the constructor checked the arity and inferred the result types
    out = [r.type for r in op.results]
    for t in out:
        if not isinstance(t, TensorType):
            raise TirError(f"'{name}' op returns {t}, which the Python API cannot hold", loc)
    return out  # type: ignore[return-value]


def _build(cls: type[Operation], operands: list[Value], attrs: dict[str, Any], loc: Location) -> Operation:
    """The op of a graph node; an op with regions (tensor.if, tensor.scan) is built by its class's
    `from_operands` (a scan's attrs carry its traced step)."""
    if cls.num_regions:
        return cls.from_operands(operands, loc, attrs)  # type: ignore[attr-defined]
    return cls(operands, None, attrs, None, loc)


def apply(name: str, inputs: Sequence[Variable], attrs: dict[str, Any] | None = None,
          loc: Location | None = None, nout: int | None = None) -> Any:
    """Add one op application to the graph; returns its output variable (a list when nout is given)."""
    loc = loc if loc is not None else caller_location()
    attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    for i, v in enumerate(inputs):
        if not isinstance(v, Variable):
            raise TirError(f"'{name}' operand #{i} is {type(v).__name__}, not a symbolic variable", loc)
    try:
        types = infer(name, [v.type for v in inputs], attrs, loc)
    except TirError as e:
        raise _at(e, loc) from None
    node = Apply(name, tuple(inputs), attrs, loc)
    node.outputs = [Variable(t, node, i, loc=loc) for i, t in enumerate(types)]
    if nout is None:
        if len(types) != 1:
            raise TirError(f"'{name}' op has {len(types)} results", loc)
        return node.outputs[0]
    return node.outputs


def _at(e: TirError, loc: Location) -> TirError:
    """The error itself when it names a place, else the same message located at `loc`."""
    if e.loc is not None and e.loc != UNKNOWN:
        return e
    return TirError(e.message, loc, e.detail)


# ---------------------------------------------------------------- constants and weak typing


def _floatx() -> str:
    from ..config import config
    return config.floatX


def _weak_dtype(value: bool | int | float, like: np.dtype | None, loc: Location) -> np.dtype:
    """The dtype a Python number takes next to tensors of dtype `like` (module docstring table)."""
    if isinstance(value, bool):
        return like if like is not None else np.dtype(np.bool_)
    if isinstance(value, int):
        if like is None or like.kind == "b":
            return np.dtype(np.int64)
        if like.kind in "iu":
            info = np.iinfo(like)
            if not info.min <= value <= info.max:
                raise TirError(f"Python integer {value} does not fit the {like} operand; "
                               f"use np.{like.name}(...) or cast the tensor first", loc)
        return like
    if isinstance(value, float):
        return like if like is not None and like.kind == "f" else np.dtype(_floatx())
    raise TirError(f"cannot make a tensor of {type(value).__name__} {value!r}", loc)


def constant(value: Any, dtype: Any = None, name: str | None = None, like: np.dtype | None = None,
             loc: Location | None = None) -> Constant:
    """A `tensor.constant` variable; Python numbers are typed by the weak rules unless `dtype` is given."""
    loc = loc if loc is not None else caller_location()
    if isinstance(value, Variable):
        raise TirError("T.constant needs a value, not a symbolic variable", loc)
    if dtype is not None:
        try:
            dt = scalar(dtype).dtype
        except ValueError as e:
            raise TirError(str(e), loc) from None
        arr = np.asarray(value)
        if arr.dtype.kind in "OUSV":
            raise TirError(f"cannot make a tensor constant of {value!r}", loc)
        with np.errstate(all="ignore"):
            conv = arr.astype(dt)
        if arr.dtype.kind != "f" or dt.kind != "f":
            if not np.array_equal(conv, arr) and not (arr.dtype.kind == "f" and np.isnan(arr).any()):
                raise TirError(f"value {value!r} does not fit dtype {dt}", loc)
        return Constant(conv, name, loc)
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return Constant(np.array(value, dtype=_weak_dtype(value, like, loc)), name, loc)
    arr = np.asarray(value)
    if arr.dtype.kind in "OUSVcMm":
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise TirTypeError(f"cannot make a tensor constant of {type(value).__name__} {shown} (dtype {arr.dtype}): "
                           "a tensor is built from real or boolean numbers, numpy arrays or lists of them", loc)
    if isinstance(value, (list, tuple)):
        # Python sequences follow the weak rules of their elements' kind.
        if arr.dtype.kind == "f":
            arr = arr.astype(like if like is not None and like.kind == "f" else _floatx())
        elif arr.dtype.kind in "iu" and like is not None and like.kind in "iuf":
            arr = arr.astype(like)
    try:
        scalar(arr.dtype)
    except ValueError:
        raise TirError(f"dtype {arr.dtype} is not supported", loc) from None
    return Constant(arr, name, loc)


def as_variable(value: Any, like: np.dtype | None = None, loc: Location | None = None) -> Variable:
    """A Variable as is; anything else becomes a constant (weakly typed next to `like`)."""
    if isinstance(value, Variable):
        return value
    return constant(value, like=like, loc=loc)


def as_variables(values: Sequence[Any], loc: Location) -> list[Variable]:
    """Operands of one op: Python numbers take their type from the symbolic and numpy operands."""
    strong = [v.type.dtype for v in values if isinstance(v, Variable)]
    strong += [np.asarray(v).dtype for v in values if isinstance(v, (np.ndarray, np.generic))]
    like = np.result_type(*strong) if strong else None
    return [as_variable(v, like, loc) for v in values]


# ---------------------------------------------------------------- graph inputs


def input_variable(dtype: Any, shape: Sequence[int | None], name: str | None = None,
                   loc: Location | None = None) -> Variable:
    loc = loc if loc is not None else caller_location()
    try:
        elem = scalar(dtype if dtype is not None else _floatx())
    except ValueError as e:
        raise TirError(str(e), loc) from None
    try:
        t = TensorType(tuple(None if d is None else int(d) for d in shape), elem)
    except (ValueError, TypeError) as e:
        raise TirError(f"bad shape {tuple(shape)!r}: {e}", loc) from None
    return Variable(t, None, 0, name, loc)


# ---------------------------------------------------------------- lowering to IR


def static_value(v: Variable) -> np.ndarray | None:
    """The value of a variable known while building (constants), else None."""
    return v.data if isinstance(v, Constant) else None


def lower(block: Block, inputs: dict[Variable, Value], outputs: Sequence[Variable],
          givens: dict[Variable, Variable] | None = None) -> list[Value]:
    """Append the ops that compute `outputs` to `block`; `inputs` maps graph inputs to block arguments.

    Raises TirError naming an input variable the outputs need but `inputs` lacks.
    """
    from ..ir.types import compatible

    givens = givens or {}
    env: dict[Variable, Value] = dict(inputs)
    done_nodes: dict[int, list[Value]] = {}
    with_regions: list[Operation] = []

    def resolve(v: Variable) -> Variable:
        seen = 0
        while v in givens and v not in env:
            v = givens[v]
            seen += 1
            if seen > 1000:
                raise TirError("givens form a cycle")
        return v

    def missing(v: Variable) -> TirError:
        label = f"'{v.name}'" if v.name else str(v.type)
        return TirError(f"an output depends on the input {label} ({v.type}), which is not in the "
                        "inputs of the function (pass it in the inputs list or use givens)", v.loc)

    # Iterative post-order walk: deep graphs must not hit the recursion limit.
    stack: list[tuple[Variable, bool]] = [(resolve(o), False) for o in reversed(list(outputs))]
    while stack:
        v, expanded = stack.pop()
        if v in env:
            continue
        node = v.owner
        if node is None:
            raise missing(v)
        if id(node) in done_nodes:
            env[v] = done_nodes[id(node)][v.index]
            continue
        ins = [resolve(i) for i in node.inputs]
        if not expanded:
            stack.append((v, True))
            for i in reversed(ins):
                if i not in env:
                    stack.append((i, False))
            continue
        cls = op_class(node.op, node.loc)
        operands = [env[i] for i in ins]
        try:
            op = _build(cls, operands, node.attrs, node.loc)
            op.verify_()  # build inferred the result types: the rest of Operation.verify holds
        except TirError as e:
            raise _at(e, node.loc) from None
        block.append(op)
        if hasattr(op, "sink_operands"):  # a tensor.if; a scan's body is isolated
            with_regions.append(op)
        for out_var, res in zip(node.outputs, op.results):
            if out_var.name:
                res.name_hint = out_var.name
            if not compatible(out_var.type, res.type) and not givens:
                raise TirError(f"'{node.op}' op lowered to {res.type} but was built as {out_var.type}", node.loc)
        done_nodes[id(node)] = list(op.results)
        env[v] = op.results[v.index]
    # Once every user is there, each op with regions (tensor.if) moves into them what only they need, the
    # last first (an if only a later if's branch uses moves into it, with what it alone needs).
    for op in reversed(with_regions):
        op.sink_operands()  # type: ignore[attr-defined]
    return [env[resolve(o)] for o in outputs]


def ancestors(outputs: Sequence[Variable]) -> list[Variable]:
    """Every variable the outputs depend on (them included), each once."""
    seen: dict[int, Variable] = {}
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen[id(v)] = v
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return list(seen.values())


def dyn_operands(entries: Sequence[Any], loc: Location, what: str) -> tuple[tuple[Any, ...], list[Variable]]:
    """Split a mixed static/symbolic size list into an attribute array with `?` and the dynamic operands.

    Constants become static entries; symbolic 0-d integer variables become `?` + an operand.
    """
    attr: list[Any] = []
    dyn: list[Variable] = []
    for e in entries:
        if isinstance(e, Variable):
            val = static_value(e)
            if val is not None and val.ndim == 0:
                attr.append(int(val))
                continue
            if e.ndim != 0 or e.type.element.dtype.kind not in "iu":
                raise TirError(f"{what} entries must be integers or 0-d integer variables, got {type_str(e.type)}",
                               loc)
            attr.append(DYN)
            dyn.append(e)
        elif e is None:
            attr.append(None)
        else:
            try:
                attr.append(int(e))
            except (TypeError, ValueError):
                raise TirError(f"{what} entries must be integers, got {e!r}", loc) from None
            if isinstance(e, float) or isinstance(e, np.floating):
                raise TirError(f"{what} entries must be integers, got {e!r}", loc)
    return tuple(attr), dyn


__all__ = ["Apply", "Constant", "ScalarType", "Variable", "apply", "as_variable", "as_variables", "constant",
           "dyn_operands", "input_variable", "lower"]
