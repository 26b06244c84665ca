"""`tensorir.as_op` and `tensorir.extern_c`: library functions inside compiled functions (dialects/extern.py).

    @tensorir.as_op(itypes=[T.dvector], otypes=[T.dvector])
    def sort_desc(x):
        return np.sort(x)[::-1]

    y = sort_desc(T.exp(x)) * 2          # a tensor.py_call between compiled ops

    hypot2 = tensorir.extern_c("hypot2", "f64(f64, f64)", source="#include <math.h>\\n"
                               "void hypot2(const double* a, const double* b, double* out, int64_t n) {...}")
    z = hypot2(x, y)                     # a tensor.extern_c: the generated C calls hypot2 directly

as_op follows Theano (`theano.compile.ops.as_op`): `itypes`/`otypes` are types such as `T.dmatrix` (or
TensorTypes, or variables whose type to take); `infer_shape(node, input_shapes)` gets each input's shape
as a tuple of ints (static dims) and 0-d symbolic sizes, and returns one such tuple per output: the
outputs are then allocated before the call (else the callback's arrays are copied into fresh buffers);
`grad(inputs, output_grads)` returns one symbolic gradient (or None) per input, used by tensorir.grad.
"""

from __future__ import annotations

import functools
import inspect
import types as _types
from collections.abc import Callable, Sequence
from typing import Any

from ..dialects import extern as X
from ..ir.attributes import DYN
from ..ir.core import TirError, TirTypeError, caller_location
from ..ir.types import TensorType
from .symbolic import Constant, Variable, apply, as_variable

__all__ = ["ExternC", "PyOp", "as_op", "extern_c"]


def _tensor_type(t: Any, what: str) -> TensorType:
    """A declared type: a TensorType, a variable's type, or a constructor such as T.dmatrix (called once)."""
    if isinstance(t, TensorType):
        return t
    if isinstance(t, Variable):
        return t.type
    if callable(t):
        v = t()
        if isinstance(v, Variable):
            return v.type
    raise TirTypeError(f"as_op: {what} {t!r} is not a type (use T.dmatrix, T.fvector, ... or a TensorType)")


def _unique_name(fn: Callable[..., Any]) -> str:
    """`module.qualname`, numbered when another function holds that name already."""
    base = f"{getattr(fn, '__module__', None) or 'py'}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    name, k = base, 1
    while name in X.PY_FUNCTIONS and X.PY_FUNCTIONS[name].fn is not fn:
        k += 1
        name = f"{base}_{k}"
    return name


class PyOp:
    """A registered Python function that, called on symbolic variables, adds a `tensor.py_call` to the graph
    (one output variable, or a list of them for several outputs). `fn` is the wrapped function itself."""

    def __init__(self, entry: X.PyFunction) -> None:
        self.entry = entry
        self.fn = entry.fn
        functools.update_wrapper(self, entry.fn)  # type: ignore[arg-type]

    def __call__(self, *inputs: Any) -> Any:
        loc = caller_location()
        entry = self.entry
        if len(inputs) != len(entry.itypes):
            raise TirError(f"\"{entry.name}\" takes {len(entry.itypes)} inputs, got {len(inputs)}", loc)
        ins = [as_variable(v, t.dtype, loc) for v, t in zip(inputs, entry.itypes)]
        attrs: dict[str, Any] = {"fn": entry.name}
        sizes: list[Variable] = []
        if entry.infer_shape is not None:
            attrs["shapes"], sizes = self._shapes(ins, loc)
        outs = apply("tensor.py_call", [*ins, *sizes], attrs, loc, nout=len(entry.otypes))
        return outs[0] if len(outs) == 1 else outs

    def _shapes(self, ins: list[Variable], loc: Any) -> tuple[tuple[tuple[Any, ...], ...], list[Variable]]:
        """infer_shape's output shapes as the op's `shapes` attribute and its size operands."""
        entry = self.entry
        assert entry.infer_shape is not None
        shapes = [tuple(d if d is not None else v.shape[k] for k, d in enumerate(v.type.shape)) for v in ins]
        node = _types.SimpleNamespace(inputs=ins, op=self)
        pytensor_form = len(inspect.signature(entry.infer_shape).parameters) == 3  # (fgraph, node, shapes)
        out = entry.infer_shape(*((None,) if pytensor_form else ()), node, shapes)
        if len(out) != len(entry.otypes):
            raise TirError(f"infer_shape of \"{entry.name}\" gave {len(out)} shapes for {len(entry.otypes)} outputs",
                           loc)
        attr: list[tuple[Any, ...]] = []
        sizes: list[Variable] = []
        for shape, t in zip(out, entry.otypes):
            if len(shape) != t.rank:
                raise TirError(f"infer_shape of \"{entry.name}\" gave shape {tuple(shape)} for output {t}", loc)
            row: list[Any] = []
            for d in shape:
                if isinstance(d, Constant):
                    d = int(d.data)
                if isinstance(d, Variable):
                    row.append(DYN)
                    sizes.append(d)
                else:
                    row.append(int(d))
            attr.append(tuple(row))
        return tuple(attr), sizes


def as_op(itypes: Sequence[Any], otypes: Sequence[Any], infer_shape: Callable[..., Any] | None = None,
          grad: Callable[..., Any] | None = None, name: str | None = None) -> Callable[[Callable[..., Any]], PyOp]:
    """Theano's `as_op` decorator: a numpy function of arrays of `itypes` returning arrays of `otypes` becomes
    an op that every target runs (compiled code calls back into Python for it: docs/lowering.md says what a
    call costs). `name` (default `module.qualname`) is what `.tir` text calls it by."""
    ins = tuple(_tensor_type(t, "input type") for t in itypes)
    outs = tuple(_tensor_type(t, "output type") for t in otypes)
    if not outs:
        raise TirTypeError("as_op: otypes must name at least one output type")

    def wrap(fn: Callable[..., Any]) -> PyOp:
        entry = X.PyFunction(name or _unique_name(fn), fn, ins, outs, infer_shape, grad)
        return PyOp(X.register(entry))
    return wrap


class ExternC:
    """A declared C function; called on tensors (or arrays and numbers) it adds a `tensor.extern_c`."""

    def __init__(self, name: str, signature: str, source: str | None, library: str | None) -> None:
        self.signature = X.parse_signature(signature)
        self.attrs = {"name": name, "signature": str(self.signature), "source": source, "library": library}
        self.__name__ = name

    def __call__(self, *inputs: Any) -> Variable:
        loc = caller_location()
        ins = [as_variable(v, t.dtype, loc) for v, t in zip(inputs, self.signature.inputs)]
        return apply("tensor.extern_c", ins + [as_variable(v, loc=loc) for v in inputs[len(ins):]], self.attrs, loc)


def extern_c(name: str, signature: str, source: str | None = None, library: str | None = None) -> ExternC:
    """Declare `void name(const T0* in0, ..., R* out, int64_t n)`, an elementwise C function over whole arrays
    of one shape (`signature` "R(T0, ...)", e.g. "f64(f64, f64)"), from C `source` compiled into each module
    that calls it, or from the shared `library` at that path. The generated C calls it with no Python between."""
    if (source is None) == (library is None):
        raise TirError(f"extern_c \"{name}\": give exactly one of source= and library=", caller_location())
    try:
        return ExternC(name, signature, source, library)
    except ValueError as e:
        raise TirError(f"extern_c \"{name}\": {e}", caller_location()) from None
