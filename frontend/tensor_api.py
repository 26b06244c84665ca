"""`tensorir.tensor` (import it as `T`): Theano's tensor functions, under Theano's and numpy's names.

    from tensorir import tensor as T
    x = T.fmatrix("x")
    y = T.nnet.softmax(T.dot(x, W) + b)

Every function adds `tensor.<op>` nodes to the symbolic graph (frontend/symbolic.py)
by op name, with the user's `file.py:line` as location; shapes and dtypes are
checked right there. Python numbers are weakly typed (see symbolic.py).
"""

from __future__ import annotations

import builtins
import types as _types
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.attributes import DYN
from ..ir.core import Location, TirError, caller_location
from ..ir.types import scalar as _elem_type
from .symbolic import (
    Variable,
    apply,
    as_variable,
    as_variables,
    dyn_operands,
    input_variable,
    static_value,
    type_str,
)
from .symbolic import constant as _constant
from .unsupported import missing_attribute as _missing_attribute

# ---------------------------------------------------------------- constructors


def _floatx() -> str:
    from ..config import config
    return config.floatX


_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64",
           "z": None, "c": None}
_KINDS: dict[str, tuple[int | None, ...]] = {
    "scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None), "col": (None, 1),
    "tensor3": (None,) * 3, "tensor4": (None,) * 4, "tensor5": (None,) * 5,
}


def tensor(dtype: Any = None, shape: Sequence[int | None] | None = None, name: str | None = None,
           broadcastable: Sequence[bool] | None = None) -> Variable:
    """A symbolic input: `T.tensor('float32', shape=(None, 3), name='x')`.

    `shape` entries are ints (static) or None (known at call time); Theano's
    `broadcastable=(True, False)` means shape `(1, None)`.
    """
    loc = caller_location()
    if isinstance(shape, str) and name is None:  # PyTensor's order: tensor(dtype, name, shape=...)
        shape, name = None, shape
    if shape is None and broadcastable is None:
        raise TirError("T.tensor needs shape= (or broadcastable=): e.g. shape=(None, 3)", loc)
    if shape is None:
        shape = tuple(1 if b else None for b in broadcastable or ())
    elif broadcastable is not None:
        raise TirError("give T.tensor either shape= or broadcastable=, not both", loc)
    return input_variable(_floatx() if dtype in (None, "floatX") else dtype, tuple(shape), name, loc)


def _make_constructor(kind: str, dtype: str | None) -> Any:
    shape = _KINDS[kind]

    def make(name: str | None = None, dtype: Any = dtype, shape: Sequence[int | None] | None = None) -> Variable:
        loc = caller_location()
        full = _KINDS[kind]
        if shape is not None:
            if len(shape) != len(full):
                raise TirError(f"T.{kind} has rank {len(full)}, got shape {tuple(shape)}", loc)
            full = tuple(shape)
        return input_variable(_floatx() if dtype is None else dtype, full, name, loc)

    def make_many(*names: str) -> list[Variable]:
        loc = caller_location()
        if len(names) == 1 and isinstance(names[0], int):
            names = tuple([None] * names[0])  # type: ignore[list-item]
        return [input_variable(_floatx() if dtype is None else dtype, shape, n, loc) for n in names]

    tag = dtype or "floatX"
    make.__doc__ = f"A symbolic {kind} input of {tag}: shape {shape}."
    make_many.__doc__ = f"Several symbolic {kind} inputs of {tag}, one per name."
    return make, make_many


def _install_constructors() -> None:
    g = globals()
    for kind in _KINDS:
        for prefix, dt in [("", None), *[(p, d) for p, d in _PREFIX.items() if d is not None]]:
            make, many = _make_constructor(kind, dt)
            make.__name__ = prefix + kind
            many.__name__ = prefix + kind + "s"
            g[prefix + kind] = make
            if kind != "tensor5":
                g[prefix + ("matrices" if kind == "matrix" else kind + "s")] = many


_install_constructors()


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Variable:
    """A constant tensor (`tensor.constant`); Python numbers follow the weak typing rules."""
    return _constant(value, dtype, name, loc=caller_location())


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    """A Variable as is; numbers and arrays become constants."""
    loc = caller_location()
    v = as_variable(x, loc=loc)
    if ndim is not None and v.ndim != ndim:
        raise TirError(f"expected a {ndim}-d tensor, got {type_str(v.type)}", loc)
    return v


as_tensor = as_tensor_variable


# ---------------------------------------------------------------- elementwise


def _ew(op: str, *args: Any) -> Variable:
    loc = caller_location()
    return apply(f"tensor.{op}", as_variables(args, loc), loc=loc)


def _unary(op: str, doc: str) -> Any:
    def fn(x: Any) -> Variable:
        return _ew(op, x)
    fn.__name__ = op
    fn.__doc__ = doc
    return fn


neg = _unary("neg", "-x")
abs = _unary("abs", "|x|")  # noqa: A001 (numpy's name)
abs_ = abs
sign = _unary("sign", "-1, 0 or 1 by the sign of x")
sgn = sign
exp = _unary("exp", "e**x")
exp2 = _unary("exp2", "2**x")
expm1 = _unary("expm1", "exp(x) - 1, accurate near 0")
log = _unary("log", "natural logarithm")
log2 = _unary("log2", "base-2 logarithm")
log10 = _unary("log10", "base-10 logarithm")
log1p = _unary("log1p", "log(1 + x), accurate near 0")
sqrt = _unary("sqrt", "square root")
rsqrt = _unary("rsqrt", "1 / sqrt(x)")
square = _unary("square", "x * x")
sqr = square
sin = _unary("sin", "sine")
cos = _unary("cos", "cosine")
tan = _unary("tan", "tangent")
tanh = _unary("tanh", "hyperbolic tangent")
sinh = _unary("sinh", "hyperbolic sine")
cosh = _unary("cosh", "hyperbolic cosine")
arcsin = _unary("arcsin", "inverse sine")
arccos = _unary("arccos", "inverse cosine")
arctan = _unary("arctan", "inverse tangent")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x))")
softplus = _unary("softplus", "log(1 + exp(x))")
erf = _unary("erf", "error function")
erfc = _unary("erfc", "complementary error function")
floor = _unary("floor", "round down")
ceil = _unary("ceil", "round up")
relu = _unary("relu", "max(x, 0)")
isnan = _unary("isnan", "x is nan (bool; false for integers)")
isinf = _unary("isinf", "x is +inf or -inf (bool; false for integers)")
isfinite = _unary("isfinite", "x is neither nan nor infinite (bool; true for integers)")
invert = _unary("not", "bitwise / logical not (~x)")
bitwise_not = invert
not_ = invert


def round(x: Any, mode: str = "half_to_even") -> Variable:  # noqa: A001 (Theano's name)
    """Round to the nearest integer, halves to even (numpy's rule; Theano's `round_half_to_even`)."""
    if mode != "half_to_even":
        raise TirError(f"T.round supports mode='half_to_even' only, got {mode!r}", caller_location())
    return _ew("round", x)


round_half_to_even = round


def _binary(op: str, doc: str) -> Any:
    def fn(a: Any, b: Any) -> Variable:
        return _ew(op, a, b)
    fn.__name__ = op
    fn.__doc__ = doc
    return fn


sub = _binary("sub", "a - b")
subtract = sub
true_div = _binary("true_div", "a / b (true division)")
true_divide = true_div
divide = true_div
int_div = _binary("int_div", "a // b (floor division)")
floor_divide = int_div
floor_div = int_div
mod = _binary("mod", "a % b (sign of b, as Python and numpy)")
remainder = mod
pow = _binary("pow", "a ** b")  # noqa: A001 (Theano's name)
power = pow
arctan2 = _binary("arctan2", "angle of (b, a)")
maximum = _binary("maximum", "element-wise max")
minimum = _binary("minimum", "element-wise min")
eq = _binary("eq", "a == b element-wise (the == operator stays Python identity)")
equal = eq
neq = _binary("ne", "a != b element-wise")
ne = neq
not_equal = neq
lt = _binary("lt", "a < b")
less = lt
le = _binary("le", "a <= b")
less_equal = le
gt = _binary("gt", "a > b")
greater = gt
ge = _binary("ge", "a >= b")
greater_equal = ge
and_ = _binary("and", "a & b (bitwise; logical on bools)")
bitwise_and = and_
or_ = _binary("or", "a | b")
bitwise_or = or_
xor = _binary("xor", "a ^ b")
bitwise_xor = xor


def add(a: Any, b: Any, *more: Any) -> Variable:
    """a + b (+ more ...)."""
    loc = caller_location()
    out = apply("tensor.add", as_variables([a, b], loc), loc=loc)
    for m in more:
        out = apply("tensor.add", as_variables([out, m], loc), loc=loc)
    return out


def mul(a: Any, b: Any, *more: Any) -> Variable:
    """a * b (* more ...)."""
    loc = caller_location()
    out = apply("tensor.mul", as_variables([a, b], loc), loc=loc)
    for m in more:
        out = apply("tensor.mul", as_variables([out, m], loc), loc=loc)
    return out


multiply = mul


def clip(x: Any, a_min: Any, a_max: Any) -> Variable:
    """min(max(x, a_min), a_max) element-wise (bounds are weakly typed after x)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    lo = as_variable(a_min, xv.type.dtype, loc)
    hi = as_variable(a_max, xv.type.dtype, loc)
    return apply("tensor.clip", [xv, lo, hi], loc=loc)


def switch(cond: Any, a: Any, b: Any) -> Variable:
    """Element-wise `a if cond else b` (Theano's switch, numpy's where)."""
    loc = caller_location()
    c = as_variable(cond, loc=loc)
    av, bv = as_variables([a, b], loc)
    return apply("tensor.where", [c, av, bv], loc=loc)


where = switch


def ifelse(cond: Any, then_value: Any, else_value: Any) -> Any:
    """Theano's lazy `ifelse`: `then_value` if the 0-d condition holds, else `else_value` (each a value or a
    list/tuple of values, the same number). Unlike switch, only the branch taken is computed: what only one
    branch needs runs inside it (a `tensor.if`). The results' dims are `?` where the branches' differ."""
    loc = caller_location()
    c = as_variable(cond, loc=loc)
    if c.type.rank != 0:
        raise TirError(f"ifelse condition must be a scalar (0-d), got {c.type}", loc)
    if c.type.element.name != "i1":
        c = apply("tensor.ne", [c, _constant(0, like=c.type.dtype, loc=loc)], loc=loc)
    many = isinstance(then_value, (list, tuple))
    thens = list(then_value) if many else [then_value]
    elses = list(else_value) if isinstance(else_value, (list, tuple)) else [else_value]
    if len(thens) != len(elses):
        raise TirError(f"ifelse branches give {len(thens)} and {len(elses)} values", loc)
    pairs = [as_variables([a, b], loc) for a, b in zip(thens, elses)]
    outs = apply("tensor.if", [c, *(a for a, _ in pairs), *(b for _, b in pairs)], loc=loc, nout=len(pairs))
    return outs if many else outs[0]


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Variable:
    """np.nan_to_num: nan -> `nan`, +inf -> `posinf`, -inf -> `neginf` (default: the largest and the
    lowest finite value of x's dtype); integer and boolean tensors come back unchanged."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    dt = xv.type.dtype
    if dt.kind != "f":
        return xv
    info = np.finfo(dt)
    hi = as_variable(info.max if posinf is None else posinf, dt, loc)
    lo = as_variable(info.min if neginf is None else neginf, dt, loc)
    inf = apply("tensor.isinf", [xv], loc=loc)
    positive = apply("tensor.gt", [xv, as_variable(0, dt, loc)], loc=loc)
    out = apply("tensor.where", [inf, apply("tensor.where", [positive, hi, lo], loc=loc), xv], loc=loc)
    return apply("tensor.where", [apply("tensor.isnan", [xv], loc=loc), as_variable(nan, dt, loc), out], loc=loc)


def cast(x: Any, dtype: Any) -> Variable:
    """x converted to `dtype` ('float32', 'int64', ..., or 'floatX')."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    try:
        dt = _elem_type(_floatx() if dtype == "floatX" else dtype)
    except ValueError as e:
        raise TirError(f"T.cast: {e}", loc) from None
    if dt == xv.type.element:
        return xv
    return apply("tensor.cast", [xv], {"dtype": dt}, loc=loc)


def astype(x: Any, dtype: Any) -> Variable:
    """The method form of `T.cast`."""
    return cast(x, dtype)


def binary_crossentropy(output: Any, target: Any) -> Variable:
    """-(target * log(output) + (1 - target) * log(1 - output)) element-wise."""
    loc = caller_location()
    return apply("tensor.binary_crossentropy", as_variables([output, target], loc), loc=loc)


# ---------------------------------------------------------------- reductions


def _axes(axis: Any, loc: Location) -> tuple[int, ...] | None:
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and builtins.all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                              for a in axis):
        return tuple(int(a) for a in axis)
    raise TirError(f"axis must be None, an int or a tuple of ints, got {axis!r}", loc)


def _reduce(op: str, x: Any, axis: Any, keepdims: bool, dtype: Any = None, **extra: Any) -> Variable:
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if dtype is not None:
        xv = cast(xv, dtype)
    attrs: dict[str, Any] = {"axes": _axes(axis, loc), **extra}
    if keepdims:
        attrs["keepdims"] = True
    return apply(f"tensor.{op}", [xv], attrs, loc=loc)


def sum(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None,  # noqa: A001
        acc_dtype: Any = None) -> Variable:
    """Sum over `axis` (all axes when None)."""
    return _reduce("sum", x, axis, keepdims, dtype)


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None, acc_dtype: Any = None) -> Variable:
    """Product over `axis`."""
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Maximum over `axis`."""
    return _reduce("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Minimum over `axis`."""
    return _reduce("min", x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None, acc_dtype: Any = None) -> Variable:
    """Arithmetic mean over `axis`."""
    return _reduce("mean", x, axis, keepdims, dtype)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0, corrected: bool = False) -> Variable:
    """Variance over `axis` (divisor n - ddof; `corrected=True` means ddof=1)."""
    return _reduce("var", x, axis, keepdims, None, ddof=1 if corrected else ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0, corrected: bool = False) -> Variable:
    """Standard deviation over `axis`."""
    return _reduce("std", x, axis, keepdims, None, ddof=1 if corrected else ddof)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Whether every element along `axis` is nonzero."""
    return _reduce("all", x, axis, keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:  # noqa: A001
    """Whether some element along `axis` is nonzero."""
    return _reduce("any", x, axis, keepdims)


def _arg(op: str, x: Any, axis: Any, keepdims: bool) -> Variable:
    loc = caller_location()
    if axis is not None and not (isinstance(axis, (int, np.integer)) or (
            isinstance(axis, (list, tuple)) and len(axis) == 1)):
        raise TirError(f"T.{op} takes one axis (or None for the flattened tensor), got {axis!r}", loc)
    return _reduce(op, x, axis, keepdims)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Index (int64) of the maximum along `axis` (of the flattened tensor when None)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Index (int64) of the minimum along `axis`."""
    return _arg("argmin", x, axis, keepdims)


def _cumulative(op: str, x: Any, axis: int | None, dtype: Any) -> Variable:
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if dtype is not None:
        xv = cast(xv, dtype)
    if axis is None:
        xv, axis = _flatten(xv, 1, loc), 0
    return apply(f"tensor.{op}", [xv], {"axis": axis}, loc=loc)


def cumsum(x: Any, axis: int | None = None, dtype: Any = None) -> Variable:
    """Running sum along `axis` (of the flattened tensor when None), numpy's result dtype."""
    return _cumulative("cumsum", x, axis, dtype)


def cumprod(x: Any, axis: int | None = None, dtype: Any = None) -> Variable:
    """Running product along `axis` (of the flattened tensor when None); its gradient divides by x, so it is
    nan/inf where x is zero (see tensor.cumprod)."""
    return _cumulative("cumprod", x, axis, dtype)


def _sorting(op: str, x: Any, axis: int | None, kind: Any) -> Variable:
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if kind not in (None, "stable", "mergesort", "quicksort"):
        raise TirError(f"T.{op}: kind must be None, 'stable', 'mergesort' or 'quicksort', got {kind!r}", loc)
    if axis is None:
        xv, axis = _flatten(xv, 1, loc), 0
    return apply(f"tensor.{op}", [xv], {"axis": _single_axis(axis, loc, f"T.{op}")}, loc=loc)


def sort(a: Any, axis: int | None = -1, kind: Any = None) -> Variable:
    """a sorted along `axis` (the flattened tensor when None), numpy's order (nan last); always stable, whatever
    `kind` says. The gradient moves g back through the sorting permutation."""
    return _sorting("sort", a, axis, kind)


def argsort(a: Any, axis: int | None = -1, kind: Any = None) -> Variable:
    """The int64 positions that sort a along `axis` (np.argsort; always stable, nan last)."""
    return _sorting("argsort", a, axis, kind)


def einsum(subscripts: str, *operands: Any) -> Variable:
    """np.einsum for the common contractions, decomposed into existing ops: letters of one operand that
    nothing else needs are summed first; then operands are folded pairwise, a shared letter that is still
    needed later staying a batch dim, the letters contracted by the pair going through one `matmul` (both
    operands transposed and reshaped to (batch..., rows, k) and (batch..., k, cols)), or a broadcast product
    when the pair contracts nothing; the result is transposed into the output's order. Explicit (`ij,jk->ik`)
    and implicit (`ij,jk`: the letters seen once, sorted) forms; no `...` and no letter repeated within one
    operand (diagonals)."""
    loc = caller_location()
    spec = subscripts.replace(" ", "")
    ins_text, arrow, out_text = spec.partition("->")
    terms = ins_text.split(",")
    if "." in spec or len(terms) != len(operands) or not builtins.all(t.isalpha() for t in terms if t):
        raise TirError(f"T.einsum: subscripts {subscripts!r} must be letters, one term per operand (no '...')", loc)
    if not arrow:
        out_text = "".join(sorted(c for c in set(ins_text) - {","} if ins_text.count(c) == 1))
    vs = [as_variable(v, loc=loc) for v in operands]
    for t, v in zip(terms, vs):
        if len(set(t)) != len(t) or len(t) != v.ndim:
            raise TirError(f"T.einsum: term {t!r} must name each of the {v.ndim} dims of its operand once", loc)
    if len(set(out_text)) != len(out_text) or not set(out_text) <= set(ins_text):
        raise TirError(f"T.einsum: output {out_text!r} must name distinct letters of the inputs", loc)
    size = {c: _dim(v, k, loc) for t, v in zip(terms, vs) for k, c in enumerate(t)}
    items = list(zip(vs, terms))

    def needed(k: int) -> set[str]:
        """The letters that the output or operands other than #k use."""
        return set(out_text).union(*(t for j, (_, t) in enumerate(items) if j != k))

    def presum(v: Variable, t: str, keep: set[str]) -> tuple[Variable, str]:
        drop = tuple(k for k, c in enumerate(t) if c not in keep)
        return (apply("tensor.sum", [v], {"axes": drop}, loc=loc), "".join(c for c in t if c in keep)) if drop \
            else (v, t)

    def arranged(v: Variable, t: str, order: str) -> Variable:
        perm = tuple(t.index(c) for c in order)
        return v if perm == tuple(range(len(t))) else apply("tensor.transpose", [v], {"perm": perm}, loc=loc)

    def product(sizes: str) -> Any:
        p: Any = 1
        for c in sizes:
            p = p * size[c]
        return p

    items = [presum(v, t, needed(k)) for k, (v, t) in enumerate(items)]
    while len(items) > 1:
        (a, ta), (b, tb) = items[0], items[1]
        later = set(out_text).union(*(t for _, t in items[2:]))
        batch = "".join(c for c in ta if c in tb and c in later)
        con = "".join(c for c in ta if c in tb and c not in later)
        left = "".join(c for c in ta if c not in tb)
        right = "".join(c for c in tb if c not in ta)
        if con:
            am = _shaped("reshape", arranged(a, ta, batch + left + con),
                         [size[c] for c in batch] + [product(left), product(con)], loc)
            bm = _shaped("reshape", arranged(b, tb, batch + con + right),
                         [size[c] for c in batch] + [product(con), product(right)], loc)
            joined = _shaped("reshape", apply("tensor.matmul", [am, bm], loc=loc),
                             [size[c] for c in batch + left + right], loc)
        else:
            ae = _expand_dims(arranged(a, ta, batch + left), tuple(range(len(batch + left), len(batch + left + right))),
                              loc)
            be = _expand_dims(arranged(b, tb, batch + right), tuple(range(len(batch), len(batch + left))), loc)
            joined = apply("tensor.mul", [ae, be], loc=loc)
        items = [(joined, batch + left + right), *items[2:]]
    v, t = presum(*items[0], set(out_text))
    return arranged(v, t, out_text)


# ---------------------------------------------------------------- softmax family


def _single_axis(axis: Any, loc: Location, fn: str) -> int:
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    raise TirError(f"{fn} takes one integer axis, got {axis!r}", loc)


def softmax(x: Any, axis: int = -1) -> Variable:
    """exp(x) / sum(exp(x)) along `axis` (the last by default)."""
    loc = caller_location()
    return apply("tensor.softmax", [as_variable(x, loc=loc)], {"axis": _single_axis(axis, loc, "softmax")}, loc=loc)


def log_softmax(x: Any, axis: int = -1) -> Variable:
    """log(softmax(x)), computed stably."""
    loc = caller_location()
    return apply("tensor.log_softmax", [as_variable(x, loc=loc)],
                 {"axis": _single_axis(axis, loc, "log_softmax")}, loc=loc)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """log(sum(exp(x))) along `axis` (all axes when None), computed stably."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    axes = _axes(axis, loc)
    if axes is None or len(axes) != 1:
        # Several axes: move them last, flatten them into one, reduce that.
        rank = xv.ndim
        chosen = sorted({a % rank for a in axes} if axes is not None else range(rank))
        if not chosen:
            return xv
        rest = [k for k in range(rank) if k not in chosen]
        moved = _transpose(xv, (*rest, *chosen), loc) if rest + chosen != list(range(rank)) else xv
        flat = _flatten(moved, len(rest) + 1, loc) if len(chosen) != 1 or rank == 0 else moved
        out = apply("tensor.logsumexp", [flat], {"axis": -1}, loc=loc)
        if keepdims:
            out = _expand_dims(out, tuple(chosen), loc)
        return out
    attrs: dict[str, Any] = {"axis": axes[0]}
    if keepdims:
        attrs["keepdims"] = True
    return apply("tensor.logsumexp", [xv], attrs, loc=loc)


def categorical_crossentropy(coding_dist: Any, true_dist: Any) -> Variable:
    """-sum(true_dist * log(coding_dist), axis=-1); true_dist may also be integer class indices."""
    loc = caller_location()
    return apply("tensor.categorical_crossentropy",
                 [as_variable(coding_dist, loc=loc), as_variable(true_dist, loc=loc)], loc=loc)


nnet = _types.SimpleNamespace(
    sigmoid=sigmoid, softplus=softplus, softmax=softmax, log_softmax=log_softmax, relu=relu,
    binary_crossentropy=binary_crossentropy, categorical_crossentropy=categorical_crossentropy,
    logsumexp=logsumexp, ultra_fast_sigmoid=sigmoid, hard_sigmoid=None,
)
del nnet.hard_sigmoid


# ---------------------------------------------------------------- linear algebra


def _structure(x: Any) -> tuple[list[Any], Any]:
    """A variable or a list/tuple of them as a list, and how to give results the same structure."""
    if isinstance(x, (list, tuple)):
        return list(x), type(x)
    return [x], lambda items: items[0]


def grad(cost: Any, wrt: Any, consider_constant: Sequence[Variable] | None = None,
         disconnected_inputs: str = "raise", known_grads: dict[Variable, Any] | None = None) -> Any:
    """Theano's grad: d cost / d wrt for a 0-d float `cost` (a variable, or a list or tuple of them, and the
    result has the same structure), as a `tensor.grad` op that the `autodiff` pass expands when the function
    is compiled. No gradient flows through `consider_constant`; an input the cost does not depend on raises
    DisconnectedInputError then, unless `disconnected_inputs="ignore"` (a zero gradient; "warn": with a
    warning). `known_grads` maps intermediate variables to gradients added to theirs; with it, `cost` may be
    None (the gradients are those the known ones give alone)."""
    loc = caller_location()
    wrts, rebuild = _structure(wrt)
    held, known = list(consider_constant or ()), list((known_grads or {}).items())
    if cost is None:
        if not known:
            raise TirError("grad needs a cost, or known_grads when cost is None", loc)
        cost = _constant(np.float64(0.0))
    values = [as_variable(v, loc=loc) for v, _ in known]
    grads = [as_variable(g, v.dtype, loc) for v, (_, g) in zip(values, known)]
    attrs = {"consider_constant": len(held) or None, "known_grads": len(known) or None,
             "disconnected_inputs": None if disconnected_inputs == "raise" else disconnected_inputs}
    results = apply("tensor.grad", [as_variable(cost, loc=loc), *as_variables(wrts, loc), *held, *values, *grads],
                    attrs, loc=loc, nout=len(wrts))
    return rebuild(results)


def stop_gradient(x: Any) -> Variable:
    """x, through which no gradient flows (JAX's `stop_gradient`, Theano's `disconnected_grad`): an input
    reached only through it is disconnected."""
    loc = caller_location()
    return apply("tensor.stop_gradient", [as_variable(x, loc=loc)], loc=loc)


def Lop(f: Any, wrt: Any, eval_points: Any, consider_constant: Sequence[Variable] | None = None,
        disconnected_inputs: str = "raise") -> Any:  # noqa: N802 (Theano's name)
    """The vector-Jacobian product: for each `wrt`, the sum over the outputs `f` (a variable or a list) of
    eval_point . d f / d wrt (`eval_points` has f's structure); reverse mode, as `grad` with known_grads."""
    loc = caller_location()
    fs, _ = _structure(f)
    points, _ = _structure(eval_points)
    if len(points) != len(fs):
        raise TirError(f"Lop: {len(points)} eval_points for {len(fs)} outputs f", loc)
    return grad(None, wrt, consider_constant, disconnected_inputs, dict(zip(fs, points)))


def Rop(f: Any, wrt: Any, eval_points: Any, disconnected_outputs: str = "ignore") -> Any:  # noqa: N802
    """The Jacobian-vector product: for each output `f` (a variable or a list), the sum over `wrt` of
    d f / d wrt . eval_point (`eval_points` has wrt's structure). Built from two reverse passes, as
    PyTensor does: the vector-Jacobian product is linear in its vector u, so d/du of u's product with
    eval_points is the forward product, and u's value never matters."""
    loc = caller_location()
    fs, rebuild = _structure(f)
    wrts, _ = _structure(wrt)
    points, _ = _structure(eval_points)
    if len(points) != len(wrts):
        raise TirError(f"Rop: {len(points)} eval_points for {len(wrts)} wrt variables", loc)
    us = [zeros_like(v) for v in fs]
    vjps = Lop(fs, wrts, us, disconnected_inputs="ignore")
    terms = [sum(g * as_variable(p, g.dtype, loc)) for g, p in zip(vjps, points)]
    inner = terms[0]
    for t in terms[1:]:
        inner = inner + t
    return rebuild(grad(inner, us, disconnected_inputs=disconnected_outputs))


def jacobian(expression: Any, wrt: Any, consider_constant: Sequence[Variable] | None = None,
             disconnected_inputs: str = "raise") -> Any:
    """d expression / d wrt, of shape expression.shape + wrt.shape for each `wrt` (a variable or a list: the
    result has the same structure); a 0-d expression gives its gradient. One reverse pass per element of the
    expression, unrolled (Theano loops with scan), so the expression's shape must be known at compile time."""
    loc = caller_location()
    e = as_variable(expression, loc=loc)
    wrts, rebuild = _structure(wrt)
    if e.ndim == 0:
        return grad(e, wrt, consider_constant, disconnected_inputs)
    if None in e.type.shape:
        raise TirError(f"jacobian: the expression is {type_str(e.type)}; jacobian unrolls one reverse "
                       "pass per element and needs a shape known at compile time: give the inputs static shapes "
                       "(T.tensor('float64', shape=(3,)))", loc)
    flat = _flatten(e, 1, loc)
    n = int(np.prod(e.type.shape))
    rows = [grad(flat[i], wrts, consider_constant, disconnected_inputs) for i in builtins.range(n)]
    return rebuild([reshape(stack([r[k] for r in rows]), (*e.type.shape, *_shape_entries(w, loc)))
                    for k, w in enumerate(as_variables(wrts, loc))])


def hessian(cost: Any, wrt: Any, consider_constant: Sequence[Variable] | None = None,
            disconnected_inputs: str = "raise") -> Any:
    """The second derivatives of a 0-d `cost` in each `wrt` (shape wrt.shape + wrt.shape): the jacobian of
    its gradient, one reverse pass per element of wrt (static shapes, as jacobian)."""
    wrts, rebuild = _structure(wrt)
    return rebuild([jacobian(grad(cost, w, consider_constant, disconnected_inputs), w, consider_constant,
                             disconnected_inputs) for w in wrts])


def dot(a: Any, b: Any) -> Variable:
    """numpy's dot: matrix product, vector inner product, scaling by a 0-d tensor."""
    loc = caller_location()
    return apply("tensor.dot", as_variables([a, b], loc), loc=loc)


def matmul(a: Any, b: Any) -> Variable:
    """numpy's matmul (`@`): batched matrix product, no 0-d operands."""
    loc = caller_location()
    return apply("tensor.matmul", as_variables([a, b], loc), loc=loc)


def outer(a: Any, b: Any) -> Variable:
    """Outer product of two vectors."""
    loc = caller_location()
    return apply("tensor.outer", as_variables([a, b], loc), loc=loc)


# ---------------------------------------------------------------- shapes


def shape(x: Any) -> Variable:
    """The shape of x as a symbolic int64 vector; `x.shape[0]` is a 0-d int64 variable."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if xv.type.is_static:
        return _constant(np.array(xv.type.shape, dtype=np.int64), loc=loc)
    return apply("tensor.shape", [xv], loc=loc)


def _dim(x: Variable, k: int, loc: Location) -> Variable | int:
    """Size of dim k: an int when static, else `shape(x)[k]`."""
    d = x.type.shape[k]
    if d is not None:
        return d
    return _index_vector(apply("tensor.shape", [x], loc=loc), k, loc)


def _shape_entries(x: Variable, loc: Location) -> list[Variable | int]:
    return [_dim(x, k, loc) for k in range(x.ndim)]


def _size_list(shape: Any, loc: Location, what: str) -> list[Any]:
    """A shape argument as a list of ints and 0-d int variables (a symbolic vector is split)."""
    if isinstance(shape, Variable):
        val = static_value(shape)
        if val is not None:
            return [int(v) for v in np.atleast_1d(val)]
        if shape.ndim == 0:
            return [shape]
        if shape.ndim != 1 or shape.type.shape[0] is None:
            raise TirError(f"{what}: a symbolic shape must be a vector of known length, got {type_str(shape.type)}",
                           loc)
        if shape.type.element.dtype.kind not in "iu":
            raise TirError(f"{what}: shape entries must be integers, got {type_str(shape.type)}", loc)
        return [_index_vector(shape, k, loc) for k in range(shape.type.shape[0])]
    if isinstance(shape, (int, np.integer)):
        return [int(shape)]
    if isinstance(shape, np.ndarray):
        return [int(v) for v in shape.reshape(-1)]
    if isinstance(shape, (list, tuple)):
        out: list[Any] = []
        for e in shape:
            if isinstance(e, Variable) and e.ndim == 0 and static_value(e) is not None:
                out.append(int(static_value(e)))  # type: ignore[arg-type]
            else:
                out.append(e)
        return out
    raise TirError(f"{what}: expected a shape (tuple of ints / symbolic scalars), got {shape!r}", loc)


def _index_vector(v: Variable, k: int, loc: Location) -> Variable:
    """v[k] for a 1-d variable (constants fold)."""
    val = static_value(v)
    if val is not None:
        return _constant(val[k], loc=loc)
    return _subtensor(v, [("index", k)], loc)


def _is_sequence(v: Any) -> bool:
    """A whole shape or axis order in one argument: a list, tuple, array or symbolic vector."""
    return isinstance(v, (list, tuple)) or (isinstance(v, (np.ndarray, Variable)) and v.ndim == 1)


def _one_or_many(args: tuple[Any, ...], keyword: Any, loc: Location, what: str) -> Any:
    """numpy's two forms of a shape or an axis order: one sequence (`x.reshape((2, -1))`, or by keyword)
    or its entries as arguments (`x.reshape(2, -1)`). None when neither is given."""
    if keyword is not None:
        if args:
            raise TirError(f"{what} is given twice: as arguments {args!r} and by keyword", loc)
        return keyword
    if len(args) == 1 and (args[0] is None or _is_sequence(args[0])):
        return args[0].tolist() if isinstance(args[0], np.ndarray) else args[0]
    return list(args) if args else None


def reshape(x: Any, *args: Any, shape: Any = None, ndim: int | None = None) -> Variable:
    """x with a new shape: `T.reshape(x, (2, -1))`, `x.reshape(2, -1)` (numpy's method) or Theano's
    `T.reshape(x, newshape, ndim)`; one entry may be -1; entries may be symbolic scalars (`x.shape[0]`)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if len(args) == 2 and _is_sequence(args[0]) and isinstance(args[1], (int, np.integer)):
        args, ndim = args[:1], int(args[1])
    new_shape = _one_or_many(args, shape, loc, "reshape: the shape")
    if new_shape is None:
        raise TirError("reshape needs a shape: x.reshape((2, -1)) or x.reshape(2, -1)", loc)
    sizes = _size_list(new_shape, loc, "reshape")
    attr, dyn = dyn_operands(sizes, loc, "reshape shape")
    if ndim is not None and ndim != len(attr):
        raise TirError(f"reshape: ndim={ndim} but the shape has {len(attr)} entries", loc)
    return apply("tensor.reshape", [xv, *dyn], {"shape": attr}, loc=loc)


def flatten(x: Any, ndim: int = 1, outdim: int | None = None) -> Variable:
    """x with its trailing dims merged so that it has `ndim` dims."""
    loc = caller_location()
    return _flatten(as_variable(x, loc=loc), outdim if outdim is not None else ndim, loc)


def _flatten(x: Variable, ndim: int, loc: Location) -> Variable:
    return apply("tensor.flatten", [x], {"ndim": ndim}, loc=loc)


def ravel(x: Any) -> Variable:
    """flatten(x, 1)."""
    loc = caller_location()
    return _flatten(as_variable(x, loc=loc), 1, loc)


def dimshuffle(x: Any, *pattern: Any) -> Variable:
    """Theano's dimshuffle: reorder dims, drop broadcastable ones, insert 'x' (new size-1) dims."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    pat: list[Any] = []
    for p in pattern:
        if p == "x":
            pat.append("x")
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            pat.append(int(p))
        else:
            raise TirError(f"dimshuffle pattern entries are dim numbers or 'x', got {p!r}", loc)
    return apply("tensor.dimshuffle", [xv], {"pattern": tuple(pat)}, loc=loc)


def transpose(x: Any, *args: Any, axes: Any = None) -> Variable:
    """Permute dims: `T.transpose(x, (2, 0, 1))`, `x.transpose(2, 0, 1)` (numpy's method) or `axes=`;
    reversed when no order is given."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    order = _axes(_one_or_many(args, axes, loc, "transpose: the axes"), loc)
    if order is None:
        return _transpose(xv, tuple(range(xv.ndim))[::-1], loc)
    return _transpose(xv, tuple(a + xv.ndim if a < 0 else a for a in order), loc)  # numpy's negative axes


def _transpose(x: Variable, perm: Sequence[int], loc: Location) -> Variable:
    return apply("tensor.transpose", [x], {"perm": tuple(perm)}, loc=loc)


def swapaxes(x: Any, axis1: int, axis2: int) -> Variable:
    """x with two dims exchanged."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    perm = list(range(xv.ndim))
    try:
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    except IndexError:
        raise TirError(f"swapaxes: axes ({axis1}, {axis2}) out of range for rank {xv.ndim}", loc) from None
    return _transpose(xv, perm, loc)


def expand_dims(x: Any, axis: Any) -> Variable:
    """x with new size-1 dims at `axis` (an int or a tuple) of the result."""
    loc = caller_location()
    axes = _axes(axis, loc)
    return _expand_dims(as_variable(x, loc=loc), axes or (), loc)


def _expand_dims(x: Variable, axes: tuple[int, ...], loc: Location) -> Variable:
    return apply("tensor.expand_dims", [x], {"axes": tuple(axes)}, loc=loc)


def _count_of_ones(n_ones: Any, loc: Location, fn: str) -> int:
    if isinstance(n_ones, (int, np.integer)) and not isinstance(n_ones, bool) and n_ones >= 0:
        return int(n_ones)
    raise TirError(f"{fn} takes a non-negative integer n_ones, got {n_ones!r}", loc)


def shape_padleft(x: Any, n_ones: int = 1) -> Variable:
    """Theano's: x with `n_ones` new size-1 dims in front."""
    loc = caller_location()
    n = _count_of_ones(n_ones, loc, "shape_padleft")
    return _expand_dims(as_variable(x, loc=loc), tuple(range(n)), loc)


def shape_padright(x: Any, n_ones: int = 1) -> Variable:
    """Theano's: x with `n_ones` new size-1 dims at the end."""
    loc = caller_location()
    n = _count_of_ones(n_ones, loc, "shape_padright")
    xv = as_variable(x, loc=loc)
    return _expand_dims(xv, tuple(range(xv.ndim, xv.ndim + n)), loc)


def shape_padaxis(x: Any, axis: int) -> Variable:
    """Theano's: x with a new size-1 dim at `axis` of the result (`expand_dims(x, axis)`)."""
    loc = caller_location()
    return _expand_dims(as_variable(x, loc=loc), (_single_axis(axis, loc, "shape_padaxis"),), loc)


def squeeze(x: Any, axis: Any = None) -> Variable:
    """x without size-1 dims (only `axis` when given; all static size-1 dims otherwise)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    axes = _axes(axis, loc)
    if axes is None:
        axes = tuple(k for k, d in enumerate(xv.type.shape) if d == 1)
    return apply("tensor.squeeze", [xv], {"axes": axes}, loc=loc)


def broadcast_to(x: Any, shape: Any) -> Variable:
    """x broadcast to `shape` (numpy's rules)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    attr, dyn = dyn_operands(_size_list(shape, loc, "broadcast_to"), loc, "broadcast_to shape")
    return apply("tensor.broadcast_to", [xv, *dyn], {"shape": attr}, loc=loc)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Variable:
    """Join tensors along an existing dim."""
    loc = caller_location()
    if isinstance(tensors, Variable) or not isinstance(tensors, (list, tuple)) or not tensors:
        raise TirError("T.concatenate takes a non-empty list of tensors", loc)
    return apply("tensor.concatenate", as_variables(list(tensors), loc),
                 {"axis": _single_axis(axis, loc, "T.concatenate")}, loc=loc)


def stack(*args: Any, tensors: Sequence[Any] | None = None, axis: int = 0) -> Variable:
    """Join tensors of one shape along a new dim: `T.stack([a, b], axis=1)` (numpy, Theano; the axis may
    follow the list) or `T.stack(a, b)` (Theano's older form: the tensors as arguments, axis by keyword)."""
    loc = caller_location()
    if tensors is not None:
        if args:
            raise TirError("T.stack: the tensors are given twice: as arguments and by keyword", loc)
        args = (tensors,)
    items = args
    if args and isinstance(args[0], (list, tuple)):
        if len(args) > 2:
            raise TirError(f"T.stack takes a list of tensors and an axis, got {len(args)} arguments", loc)
        if len(args) == 2:
            axis = args[1]
        items = tuple(args[0])
    if not items:
        raise TirError("T.stack takes a non-empty list of tensors: T.stack([a, b]) or T.stack(a, b)", loc)
    return apply("tensor.stack", as_variables(list(items), loc), {"axis": _single_axis(axis, loc, "T.stack")},
                 loc=loc)


def join(axis: int, *tensors: Any) -> Variable:
    """Theano's `T.join(axis, a, b, ...)`: `T.concatenate([a, b, ...], axis)`."""
    loc = caller_location()
    if not tensors:
        raise TirError("T.join takes an axis and at least one tensor: T.join(0, a, b)", loc)
    return apply("tensor.concatenate", as_variables(list(tensors), loc),
                 {"axis": _single_axis(axis, loc, "T.join")}, loc=loc)


# ---------------------------------------------------------------- creation


def _dtype_or_floatx(dtype: Any, loc: Location) -> Any:
    try:
        return _elem_type(_floatx() if dtype in (None, "floatX") else dtype)
    except ValueError as e:
        raise TirError(str(e), loc) from None


def _filled(op: str, shape: Any, dtype: Any, loc: Location) -> Variable:
    attr, dyn = dyn_operands(_size_list(shape, loc, f"T.{op}"), loc, f"{op} shape")
    return apply(f"tensor.{op}", dyn, {"shape": attr, "dtype": _dtype_or_floatx(dtype, loc)}, loc=loc)


def zeros(shape: Any, dtype: Any = None) -> Variable:
    """A tensor of zeros (`dtype` defaults to floatX); shape entries may be symbolic scalars."""
    return _filled("zeros", shape, dtype, caller_location())


def ones(shape: Any, dtype: Any = None) -> Variable:
    """A tensor of ones."""
    return _filled("ones", shape, dtype, caller_location())


def zeros_like(x: Any, dtype: Any = None) -> Variable:
    """Zeros of x's shape (and dtype unless given)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    return _filled("zeros", _shape_entries(xv, loc), dtype or xv.dtype, loc)


def ones_like(x: Any, dtype: Any = None) -> Variable:
    """Ones of x's shape (and dtype unless given)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    return _filled("ones", _shape_entries(xv, loc), dtype or xv.dtype, loc)


# ---------------------------------------------------------------- repeat, tile, pad (compositions of shape ops,
# so their gradients and every target come from those ops)


def _shaped(op: str, x: Variable, sizes: Sequence[Any], loc: Location) -> Variable:
    attr, dyn = dyn_operands(list(sizes), loc, f"{op} shape")
    return apply(f"tensor.{op}", [x, *dyn], {"shape": attr}, loc=loc)


def _static_count(value: Any, loc: Location, what: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise TirError(f"{what} must be non-negative integers, got {value!r}", loc)


def repeat(x: Any, repeats: int, axis: int | None = None) -> Variable:
    """Each element `repeats` times along `axis` (of the flattened tensor when None), as np.repeat with one
    static count: a broadcast along a new dim after `axis`, merged into it."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    r = _static_count(repeats, loc, "T.repeat: repeats")
    if axis is None:
        xv, axis = _flatten(xv, 1, loc), 0
    a = _single_axis(axis, loc, "T.repeat")
    if not -xv.ndim <= a < xv.ndim:
        raise TirError(f"T.repeat: axis {a} is out of range for a tensor of rank {xv.ndim}", loc)
    a %= xv.ndim
    dims = [_dim(xv, k, loc) for k in range(xv.ndim)]
    spread = _shaped("broadcast_to", _expand_dims(xv, (a + 1,), loc), [*dims[:a + 1], r, *dims[a + 1:]], loc)
    return _shaped("reshape", spread, [*dims[:a], dims[a] * r, *dims[a + 1:]], loc)


def tile(x: Any, reps: Any) -> Variable:
    """x repeated `reps` times along each dim, as np.tile (static reps; the shorter of x's shape and reps is
    padded with leading 1s): a broadcast along a new dim before each dim, merged into it."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    counts = [_static_count(r, loc, "T.tile: reps") for r in (reps if _is_sequence(reps) else [reps])]
    n = builtins.max(len(counts), xv.ndim)
    counts = [1] * (n - len(counts)) + counts
    dims = [1] * (n - xv.ndim) + [_dim(xv, k, loc) for k in range(xv.ndim)]
    spread = _shaped("broadcast_to", _shaped("reshape", xv, [e for d in dims for e in (1, d)], loc),
                     [e for r, d in zip(counts, dims) for e in (r, d)], loc)
    return _shaped("reshape", spread, [d * r for r, d in zip(counts, dims)], loc)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Variable:
    """np.pad in mode "constant": `pad_width` is an int, a (before, after) pair or one pair per dim (static);
    the result is a tensor of `constant_values` with x set into its middle (so the gradient is the slice)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if mode != "constant":
        raise TirError(f"T.pad supports mode='constant' only, got {mode!r}", loc)
    if xv.ndim == 0:  # as numpy: nothing to pad
        return xv
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=object), (xv.ndim, 2))
    except ValueError:
        raise TirError(f"T.pad: pad_width {pad_width!r} does not fit a tensor of rank {xv.ndim}", loc) from None
    pairs = [(_static_count(b, loc, "T.pad: pad_width"), _static_count(e, loc, "T.pad: pad_width")) for b, e in widths]
    sizes = [_dim(xv, k, loc) + b + e for k, (b, e) in enumerate(pairs)]
    filled = _shaped("alloc", as_variable(constant_values, xv.type.dtype, loc), sizes, loc)
    if filled.type.dtype != xv.type.dtype:
        filled = cast(filled, xv.type.dtype)
    return _inc_or_set("set_subtensor", filled[tuple(slice(b, -e or None) for b, e in pairs)], xv, loc)


def alloc(value: Any, *shape: Any) -> Variable:
    """`value` broadcast to `shape` (Theano's alloc): `T.alloc(0.0, n, 3)`."""
    loc = caller_location()
    v = as_variable(value, loc=loc)
    if len(shape) == 1 and isinstance(shape[0], (list, tuple, Variable)) and not (
            isinstance(shape[0], Variable) and shape[0].ndim == 0):
        shape = tuple(_size_list(shape[0], loc, "T.alloc"))
    attr, dyn = dyn_operands(list(shape), loc, "alloc shape")
    return apply("tensor.alloc", [v, *dyn], {"shape": attr}, loc=loc)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Variable:
    """A tensor of `fill_value` (numpy's full)."""
    loc = caller_location()
    v = _constant(fill_value, dtype, loc=loc) if not isinstance(fill_value, Variable) else (
        cast(fill_value, dtype) if dtype is not None else fill_value)
    attr, dyn = dyn_operands(_size_list(shape, loc, "T.full"), loc, "full shape")
    return apply("tensor.alloc", [v, *dyn], {"shape": attr}, loc=loc)


def fill(model: Any, value: Any) -> Variable:
    """`value` broadcast to the shape of `model` (Theano's fill), in value's dtype (weakly: model's)."""
    loc = caller_location()
    m = as_variable(model, loc=loc)
    v = as_variable(value, m.type.dtype, loc)
    attr, dyn = dyn_operands(_shape_entries(m, loc), loc, "fill shape")
    return apply("tensor.alloc", [v, *dyn], {"shape": attr}, loc=loc)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> Variable:
    """Evenly spaced values in [start, stop) (numpy's arange); bounds may be symbolic scalars."""
    loc = caller_location()
    if stop is None:
        start, stop = 0, start
    vals = [start, stop, step]
    attr, dyn = _bounds(vals, loc)
    attrs: dict[str, Any] = {"start": attr[0], "stop": attr[1], "step": attr[2]}
    if dtype is not None:
        attrs["dtype"] = _dtype_or_floatx(dtype, loc)
    elif builtins.any(isinstance(v, float) for v in vals) and not builtins.any(
            isinstance(v, Variable) and v.type.element.is_float for v in vals):
        attrs["dtype"] = _dtype_or_floatx(None, loc)  # Python float bounds: floatX (weak typing)
    return apply("tensor.arange", dyn, attrs, loc=loc)


def _bounds(vals: Sequence[Any], loc: Location) -> tuple[list[Any], list[Variable]]:
    attr: list[Any] = []
    dyn: list[Variable] = []
    for v in vals:
        if isinstance(v, Variable):
            val = static_value(v)
            if val is not None and val.ndim == 0:
                attr.append(val.item())
                continue
            if v.ndim != 0:
                raise TirError(f"arange bounds must be scalars, got {type_str(v.type)}", loc)
            attr.append(DYN)
            dyn.append(v)
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            attr.append(v.item() if isinstance(v, np.generic) else v)
        else:
            raise TirError(f"arange bounds must be numbers or 0-d variables, got {v!r}", loc)
    return attr, dyn


def eye(n: Any, m: Any = None, k: int = 0, dtype: Any = None) -> Variable:
    """An n x m matrix with ones on diagonal k."""
    loc = caller_location()
    return _eye(n, n if m is None else m, k, _dtype_or_floatx(dtype, loc), loc)


def _eye(n: Any, m: Any, k: Any, dtype: Any, loc: Location) -> Variable:
    attr, dyn = dyn_operands([n, m, k], loc, "eye")
    return apply("tensor.eye", dyn, {"n": attr[0], "m": attr[1], "k": attr[2], "dtype": dtype}, loc=loc)


def identity_like(x: Any, dtype: Any = None) -> Variable:
    """An identity matrix of x's shape (and dtype unless given)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if xv.ndim != 2:
        raise TirError(f"identity_like needs a matrix, got {type_str(xv.type)}", loc)
    n, m = _shape_entries(xv, loc)
    return _eye(n, m, 0, _dtype_or_floatx(dtype or xv.dtype, loc), loc)


# ---------------------------------------------------------------- indexing


Entry = tuple[Any, ...]  # ("index", i) | ("slice", start, stop, step) | ("newaxis",)


def _is_int_scalar(v: Any) -> bool:
    if isinstance(v, Variable):
        return v.ndim == 0 and v.type.element.dtype.kind in "iu"
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_index_array(v: Any) -> bool:
    if isinstance(v, Variable):
        return v.ndim >= 1 and v.type.element.dtype.kind in "iu"
    if isinstance(v, (list, np.ndarray)):
        arr = np.asarray(v)
        return arr.dtype.kind in "iu" and arr.ndim >= 1
    return False


def getitem(x: Variable, key: Any) -> Variable:
    """x[key]: ints, slices, None/np.newaxis, `...`, symbolic int scalars, one integer array."""
    loc = caller_location()
    items = list(key) if isinstance(key, tuple) else [key]
    for it in items:
        if isinstance(it, (bool, np.bool_)) or (isinstance(it, Variable) and it.type.element.is_bool) or (
                isinstance(it, np.ndarray) and it.dtype == np.bool_):
            raise TirError("boolean mask indexing is not supported; use T.switch / T.where", loc)
    n_ell = builtins.sum(it is Ellipsis for it in items)
    if n_ell > 1:
        raise TirError("an index can only have a single ellipsis ('...')", loc)
    n_dims = builtins.sum(it is not None and it is not Ellipsis for it in items)
    if n_dims > x.ndim:
        raise TirError(f"too many indices ({n_dims}) for a tensor of rank {x.ndim} ({x.type})", loc)
    if n_ell:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (x.ndim - n_dims)
    else:
        items += [slice(None)] * (x.ndim - n_dims)

    adv = [k for k, it in enumerate(items) if _is_index_array(it)]
    if adv:
        return _advanced(x, items, adv, loc)
    folded = _fold_getitem(x, items, loc)
    if folded is not None:
        return folded

    entries: list[Entry] = []
    new_axes: list[int] = []
    out_dim = 0
    for it in items:
        if it is None:
            new_axes.append(out_dim)
            out_dim += 1
        elif isinstance(it, slice):
            entries.append(("slice", it.start, it.stop, it.step))
            out_dim += 1
        elif _is_int_scalar(it):
            entries.append(("index", it))
        else:
            raise TirError(f"cannot index with {it!r}: use ints, slices, None, '...', symbolic int scalars or "
                           "one integer array", loc)
    out = x
    if builtins.any(e[0] == "index" or e[1:] != (None, None, None) for e in entries):
        out = _subtensor(x, entries, loc)
    elif not new_axes:
        out = _subtensor(x, entries, loc)  # x[:] still records a subtensor (for set_subtensor)
    if new_axes:
        out = _expand_dims(out, tuple(new_axes), loc)
    return out


def _fold_getitem(x: Variable, items: list[Any], loc: Location) -> Variable | None:
    """x[key] known while building: a constant x with a static key, or `shape(y)[k]` of a static dim k."""
    static = builtins.all(it is None or (isinstance(it, slice) and builtins.all(
        b is None or (isinstance(b, (int, np.integer)) and not isinstance(b, bool))
        for b in (it.start, it.stop, it.step))) or (isinstance(it, (int, np.integer)) and not isinstance(it, bool))
        for it in items)
    if not static:
        return None
    val = static_value(x)
    if val is not None:
        try:
            return _constant(np.array(val[tuple(items)]), loc=loc)
        except IndexError as e:
            raise TirError(f"index out of range for a constant of shape {val.shape}: {e}", loc) from None
    if x.owner is not None and x.owner.op == "tensor.shape" and len(items) == 1 and isinstance(
            items[0], (int, np.integer)):
        base = x.owner.inputs[0]
        k = int(items[0])
        if -base.ndim <= k < base.ndim and base.type.shape[k] is not None:
            return _constant(np.array(base.type.shape[k], dtype=np.int64), loc=loc)
    return None


def _advanced(x: Variable, items: list[Any], adv: list[int], loc: Location) -> Variable:
    if len(adv) > 1 or builtins.any(it is None for it in items) or builtins.any(
            not (isinstance(it, slice) and it == slice(None)) for k, it in enumerate(items) if k not in adv):
        raise TirError("integer-array indexing is supported as x[idx] / x[:, idx] with full slices elsewhere", loc)
    axis = adv[0]
    idx = as_variable(items[axis], loc=loc) if not isinstance(items[axis], list) else _constant(
        np.asarray(items[axis], dtype=np.int64), loc=loc)
    return apply("tensor.take", [x, idx], {"axis": axis}, loc=loc)


def take(x: Any, indices: Any, axis: int | None = None) -> Variable:
    """Elements of x at integer `indices` along `axis` (of the flattened x when None)."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if axis is None:
        xv = _flatten(xv, 1, loc)
        axis = 0
    idx = as_variable(indices if not isinstance(indices, list) else np.asarray(indices, dtype=np.int64), loc=loc)
    return apply("tensor.take", [xv, idx], {"axis": int(axis)}, loc=loc)


def _subtensor_attrs(x: Variable, entries: Sequence[Entry], loc: Location) -> tuple[dict[str, Any], list[Variable]]:
    """IR attributes and dynamic operands of `tensor.subtensor` for basic-index entries, one per leading dim.

    Each dim gets begin/end/step (`none` when absent, `?` for a symbolic bound); an integer index i
    is begin = i with the dim listed in `index_dims` (it is dropped).
    """
    lists: dict[str, list[Any]] = {"begin": [], "end": [], "step": []}
    dyns: dict[str, list[Variable]] = {"begin": [], "end": [], "step": []}
    index_dims: list[int] = []

    def bound(v: Any, key: str) -> Any:
        if v is None:
            return None
        if isinstance(v, Variable):
            val = static_value(v)
            if val is not None and val.ndim == 0:
                return int(val)
            if not _is_int_scalar(v):
                raise TirError(f"slice bounds must be integers or 0-d integer variables, got {type_str(v.type)}",
                               loc)
            dyns[key].append(v)
            return DYN
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return int(v)
        raise TirError(f"slice bounds must be integers, got {v!r}", loc)

    for k, e in enumerate(entries):
        if e[0] == "index":
            index_dims.append(k)
            parts = (e[1], None, None)
        else:
            parts = (e[1], e[2], e[3])
        for key, part in zip(("begin", "end", "step"), parts):
            lists[key].append(bound(part, key))
    attrs: dict[str, Any] = {key: tuple(vals) for key, vals in lists.items()}
    if index_dims:
        attrs["index_dims"] = tuple(index_dims)
    # `?` entries bind to the dynamic operands in the order begin..., end..., step...
    return attrs, [*dyns["begin"], *dyns["end"], *dyns["step"]]


def _subtensor(x: Variable, entries: Sequence[Entry], loc: Location) -> Variable:
    attrs, dyn = _subtensor_attrs(x, entries, loc)
    return apply("tensor.subtensor", [x, *dyn], attrs, loc=loc)


def _inc_or_set(op: str, lhs: Variable, value: Any, loc: Location) -> Variable:
    if not isinstance(lhs, Variable) or lhs.owner is None or lhs.owner.op not in ("tensor.subtensor", "tensor.take"):
        raise TirError(f"T.{op} needs an indexed tensor as first argument (x[...]), got {lhs!r}", loc)
    node = lhs.owner
    base = node.inputs[0]
    v = as_variable(value, base.type.dtype, loc)
    if node.op == "tensor.take":
        take_op = "tensor.set_take" if op == "set_subtensor" else "tensor.inc_take"
        return apply(take_op, [base, node.inputs[1], v], dict(node.attrs), loc=loc)
    return apply(f"tensor.{op}", [base, v, *node.inputs[1:]], dict(node.attrs), loc=loc)


def set_subtensor(x: Variable, y: Any) -> Variable:
    """A copy of the tensor `x` indexes into, with x's elements replaced by y: `T.set_subtensor(a[1:], b)`."""
    return _inc_or_set("set_subtensor", x, y, caller_location())


def inc_subtensor(x: Variable, y: Any) -> Variable:
    """A copy of the tensor `x` indexes into, with y added to x's elements: `T.inc_subtensor(a[idx], 1)`."""
    return _inc_or_set("inc_subtensor", x, y, caller_location())


__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in (
    "annotations", "builtins", "np", "Any", "Sequence", "Location", "DYN", "Entry", "TirError", "Variable",
    "apply", "as_variable", "as_variables", "dyn_operands", "input_variable", "static_value", "type_str",
    "caller_location")]


def __getattr__(name: str) -> Any:
    # numpy's functions and Theano's modules that T lacks say "not supported yet" (frontend/unsupported.py).
    raise _missing_attribute("T", "T.", name, __all__)


def __dir__() -> list[str]:
    return sorted(__all__)
