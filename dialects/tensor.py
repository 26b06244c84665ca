"""The `tensor` dialect: value-semantics array ops (Theano's), the high level of the IR.

Every op is declared once, in one class: operands, attributes, type inference
(numpy dtype promotion and broadcasting; `None` dims are dynamic), verifier
and interpreter rule (numpy). The docstring of each class shows the op as
printed IR.

Result dtypes follow numpy exactly: `result_dtype` asks numpy what the op's
numpy function returns for the operand dtypes, so the interpreter, type
inference and numpy always agree.

This module holds elementwise ops, reductions, the softmax family, linear
algebra and constants; shape, indexing and creation ops live in
`tensor_shape.py` and are re-exported here, so importing this module
registers every `tensor.*` op.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.attributes import DYN, Dense, Typed
from ..ir.builder import Builder
from ..ir.core import (
    COMMUTATIVE,
    CONSTANT_LIKE,
    ELEMENTWISE,
    PURE,
    AttrDef,
    NotSupportedError,
    Operation,
    TirValueError,
    Value,
)
from ..ir.dialect import Dialect
from ..ir.rewriter import (
    PatternRewriter,
    RewritePattern,
    broadcasts_into,
    constant_array,
    make_constant,
    replace_with_built,
)
from ..ir.types import Dim, ScalarType, TensorType, Type, scalar
from ..ir.types import index as index_type
from .generic_base import GenericBase
from .linalg import LINALG_OPS  # noqa: F401  (the linear algebra ops, registered with the other tensor ops)
from .tensor_common import (
    EMPTY_REDUCTION,
    DynamicMarker,
    bind_dynamic,
    broadcast_shapes,
    check_broadcast,
    check_broadcast_to,
    check_broadcast_to_run_time,
    check_size_operands,
    count_dynamic,
    fmt_shape,
    normalize_axes,
    normalize_axis,
    result_dtype,
    runtime_error,
    size_check_failed,
    static_int,
    static_value,
    tensor_type,
)
from .tensor_control import IfOp, YieldOp  # noqa: F401  (registered with the other tensor ops)
from .tensor_grad import (
    Grads,
    Sym,
    broadcast_like,
    count,
    dim,
    emit,
    keep_reduced,
    ones_like,
    reshape_like,
    select,
    sized,
    unbroadcast,
    zeros_like,
)
from .tensor_scan import ScanOp  # noqa: F401
from .tensor_shape import *  # noqa: F403  (re-export: every tensor op is registered by importing this module)
from .tensor_shape import __all__ as _shape_ops
from .tensor_shape import check_range

__all__ = ["DynamicMarker", "bind_dynamic", "broadcast_shapes", "check_broadcast_to", "check_size_operands",
           "count_dynamic", "fmt_shape", "normalize_axes", "normalize_axis", "result_dtype", "runtime_error",
           "static_int", "static_value", "tensor_type", *_shape_ops]

# ---------------------------------------------------------------- elementwise


class ElementwiseOp(Operation):
    """Base of elementwise ops: numpy broadcasting of all operands, `fn` is the numpy rule.

    `element_type` and `compute` are the two hooks an op with attributes overrides
    (tensor.cast); the scalar dialect derives its ops from these classes and reuses both.
    """

    fn: ClassVar[Callable[..., Any]]
    traits = frozenset({PURE, ELEMENTWISE})
    # The op as a Python expression ({0}, {1}...: its operands as Python ints and bools) where every operand and
    # the result are of `python_types` (type names), which then gives numpy's number for any value those types
    # hold in a host plan's layout arithmetic (sizes, strides, broadcast conditions: runtime/host_plan.py, whose
    # scalar twins of these ops it writes so); None: the op keeps its numpy rule there.
    python: ClassVar[str | None] = None
    python_types: ClassVar[frozenset[str]] = frozenset()

    def python_form(self) -> str | None:
        """`python` where this op's operand and result types allow it, else None."""
        if self.python is None or len(self.results) != 1:
            return None
        types = [v.type for v in self.operands] + [self.results[0].type]
        return self.python if all(str(t) in self.python_types for t in types) else None

    def element_type(self, dtypes: Sequence[np.dtype]) -> ScalarType:
        return result_dtype(self, type(self).fn, dtypes)

    def compute(self, *args: Any) -> Any:
        return type(self).fn(*args)

    def infer_types(self) -> list[Type]:
        types = [tensor_type(self, v) for v in self.operands]
        shape = broadcast_shapes(self, [t.shape for t in types])
        return [TensorType(shape, self.element_type([t.dtype for t in types]))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        check_broadcast(self, [np.shape(a) for a in args])
        with np.errstate(all="ignore"):
            try:
                return [self.compute(*args)]
            except ValueError as e:  # e.g. integers to negative integer powers (tensor.pow)
                raise runtime_error(self, str(e)) from None


class UnaryOp(ElementwiseOp):
    operands_def = ("x",)


class BinaryOp(ElementwiseOp):
    operands_def = ("lhs", "rhs")

    # The facts of a reduction combiner (add, mul, maximum, minimum, and, or), which its scalar twin
    # carries too: `reduction_kind` names it in `simd_reduction` attributes, `omp_reduction` is its
    # OpenMP reduction identifier, and `identity(elem)` is its neutral element for an element type.
    reduction_kind: ClassVar[str | None] = None
    omp_reduction: ClassVar[str | None] = None

    @staticmethod
    def identity(elem: ScalarType) -> Any:
        raise NotImplementedError("not a reduction combiner")


_COMM = BinaryOp.traits | {COMMUTATIVE}
# python_types: sizes (no overflow for any size a buffer has); any int64 or bool (results that cannot leave the
# operands' range: comparisons, min/max, select, casts; an i64 may be the user's, whose add would wrap); conditions.
_SIZES, _EXACT, _CONDITIONS = frozenset({"index"}), frozenset({"index", "i64", "i1"}), frozenset({"i1"})

PartialsRule = Callable[..., Sequence[Sym | None]]


def elementwise_vjp(op: Operation, b: Builder, out_grads: list[Value], rule: PartialsRule) -> Grads:
    """The gradient of an elementwise op: `rule(*operands, result, g)` gives each operand's cotangent at the
    result's (broadcast) shape, as Syms (None: none); broadcasting is undone by summing (`unbroadcast`),
    except for a single operand, which has the result's shape."""
    parts = rule(*[Sym(b, v) for v in op.operands], Sym(b, op.result), Sym(b, out_grads[0]))
    if len(op.operands) == 1:
        return [None if p is None else p.v for p in parts]
    return [None if p is None else unbroadcast(b, p.v, v, [o for o in op.operands if o is not v])
            for p, v in zip(parts, op.operands)]


def _typed_value(value: Any, elem: ScalarType) -> Any:
    """`value` as the Python scalar of elem's kind (bool, int or float) that attributes hold."""
    v = np.asarray(value).astype(elem.dtype)[()]
    return bool(v) if elem.is_bool else (float(v) if elem.is_float else int(v))


def _lowest(elem: ScalarType) -> Any:
    """The least value of an element type: -inf, the integer minimum, false."""
    return float("-inf") if elem.is_float else _typed_value(False if elem.is_bool else np.iinfo(elem.dtype).min, elem)


def _highest(elem: ScalarType) -> Any:
    """The greatest value of an element type: +inf, the integer maximum, true."""
    return float("inf") if elem.is_float else _typed_value(True if elem.is_bool else np.iinfo(elem.dtype).max, elem)


class AddOp(BinaryOp):
    """Elementwise sum: `%c = tensor.add %a, %b : tensor<4xf32>`."""

    name = "tensor.add"
    fn = staticmethod(np.add)
    python, python_types = "({0} + {1})", _SIZES
    traits = _COMM
    reduction_kind, omp_reduction = "add", "+"

    @staticmethod
    def identity(elem: ScalarType) -> Any:
        return _typed_value(0, elem)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads, lambda a, c, y, g: [g, g])


class SubOp(BinaryOp):
    """`%c = tensor.sub %a, %b : tensor<4xf32>`"""

    name = "tensor.sub"
    fn = staticmethod(np.subtract)
    python, python_types = "({0} - {1})", _SIZES

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads, lambda a, c, y, g: [g, -g])


class MulOp(BinaryOp):
    """`%c = tensor.mul %a, %b : tensor<4xf32>`"""

    name = "tensor.mul"
    fn = staticmethod(np.multiply)
    python, python_types = "({0} * {1})", _SIZES
    traits = _COMM
    reduction_kind, omp_reduction = "mul", "*"

    @staticmethod
    def identity(elem: ScalarType) -> Any:
        return _typed_value(1, elem)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads, lambda a, c, y, g: [g * c, g * a])


class TrueDivOp(BinaryOp):
    """True division (ints give f64): `%c = tensor.true_div %a, %b : tensor<4xf64>`"""

    name = "tensor.true_div"
    fn = staticmethod(np.true_divide)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # d(a/c) = da/c - a dc/c^2 = da/c - y dc/c
        return elementwise_vjp(self, b, out_grads, lambda a, c, y, g: [g / c, -g * y / c])


class IntDivOp(BinaryOp):
    """Floor division: `%c = tensor.int_div %a, %b : tensor<4xi32>`"""

    name = "tensor.int_div"
    differentiable = False

    fn = staticmethod(np.floor_divide)
    python, python_types = "({0} // {1} if {1} else 0)", _SIZES  # (numpy: x // 0 is 0)


class ModOp(BinaryOp):
    """Python-style modulo (sign of the divisor): `%c = tensor.mod %a, %b : tensor<4xi32>`"""

    name = "tensor.mod"
    fn = staticmethod(np.mod)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # a mod c = a - floor(a/c) c
        return elementwise_vjp(self, b, out_grads, lambda a, c, y, g: [g, -g * a.op("true_div", c).op("floor")])


class CheapPower(RewritePattern):
    """`x ** c` with c a constant whose elements all equal 2, 3, 4, 0.5, -1, -2, -0.5 or 0 (broadcasting
    into x) becomes multiplications, `sqrt`, a division or ones, as numpy's power computes `x**2` (square),
    `x**0.5` (sqrt) and `x**-1` (reciprocal): the same bits as pow for those three; `x**3`, `x**4`, `x**-2`
    and `x**-0.5` (1/sqrt) are within 2 ulp of pow (two or three roundings instead of one); `x**0` is 1
    for every x, nan included. Negative powers only of float bases (an integer base raises, as numpy)."""

    root: ClassVar[Any] = None  # PowOp, set below it
    POWERS: ClassVar[tuple[float, ...]] = (2.0, 3.0, 4.0, 0.5, -1.0, -2.0, -0.5, 0.0)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x, c = op.operands
        arr = constant_array(c)
        t = op.result.type
        if arr is None or arr.size == 0 or not isinstance(t, TensorType) or x.type != t \
                or not broadcasts_into(c, x):
            return False
        with np.errstate(all="ignore"):
            p = float(arr.flat[0])
            if p not in self.POWERS or not np.all(arr == p) or (p < 0 or abs(p) == 0.5) and not t.element.is_float:
                return False

        def make(b: Builder) -> Value:
            if p == 0.0:
                return ones_like(b, x)
            if abs(p) == 0.5:
                new = emit(b, "sqrt", x)
            else:
                new = x if abs(p) == 1.0 else emit(b, "mul", x, x)
                if abs(p) == 3.0:
                    new = emit(b, "mul", new, x)
                elif abs(p) == 4.0:
                    new = emit(b, "mul", new, new)
            return emit(b, "true_div", b.insert(make_constant(np.ones((), t.dtype), op.loc)).result, new) if p < 0 \
                else new

        # the type differs e.g. where sqrt of an integer base computes in another float type than pow
        return replace_with_built(op, make, rewriter)


class PowOp(BinaryOp):
    """`%c = tensor.pow %a, %b : tensor<4xf32>`"""

    name = "tensor.pow"
    fn = staticmethod(np.power)
    canonicalization_patterns = (CheapPower(),)
    # numpy refuses integers to negative integer powers; compiled code checks the same (backends/cstyle.py).
    NEGATIVE_POWER: ClassVar[str] = "integers to negative integer powers are not allowed"

    def compute(self, *args: Any) -> Any:
        base, exponent = args
        if np.result_type(base, exponent).kind in "iu" and np.any(np.asarray(exponent) < 0):
            raise ValueError(PowOp.NEGATIVE_POWER)
        return np.power(base, exponent)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads,
                               lambda a, c, y, g: [g * c * a.op("pow", c - 1.0), g * y * a.op("log")])


CheapPower.root = PowOp


class Arctan2Op(BinaryOp):
    """`%c = tensor.arctan2 %y, %x : tensor<4xf32>`"""

    name = "tensor.arctan2"
    fn = staticmethod(np.arctan2)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads,
                               lambda a, c, y, g: [g * c / (a * a + c * c), -g * a / (a * a + c * c)])


class MaximumOp(BinaryOp):
    """`%c = tensor.maximum %a, %b : tensor<4xf32>` (NaN propagates, as np.maximum)"""

    name = "tensor.maximum"
    fn = staticmethod(np.maximum)
    python, python_types = "max({0}, {1})", _EXACT - _CONDITIONS
    traits = _COMM
    reduction_kind, omp_reduction = "max", "max"
    identity = staticmethod(_lowest)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # ties go to the first operand
        return elementwise_vjp(self, b, out_grads,
                               lambda a, c, y, g: [select(a.op("ge", c), g, 0.0), select(a.op("ge", c), 0.0, g)])


class MinimumOp(BinaryOp):
    """`%c = tensor.minimum %a, %b : tensor<4xf32>`"""

    name = "tensor.minimum"
    fn = staticmethod(np.minimum)
    python, python_types = "min({0}, {1})", _EXACT - _CONDITIONS
    traits = _COMM
    reduction_kind, omp_reduction = "min", "min"
    identity = staticmethod(_highest)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # ties go to the first operand
        return elementwise_vjp(self, b, out_grads,
                               lambda a, c, y, g: [select(a.op("le", c), g, 0.0), select(a.op("le", c), 0.0, g)])


def _binary_crossentropy(output: Any, target: Any) -> Any:
    return -(target * np.log(output) + (1 - target) * np.log(1 - output))


class BinaryCrossentropyOp(BinaryOp):
    """-(t*log(o) + (1-t)*log(1-o)): `%l = tensor.binary_crossentropy %output, %target : tensor<?xf32>`"""

    name = "tensor.binary_crossentropy"
    operands_def = ("output", "target")
    fn = staticmethod(_binary_crossentropy)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # d/do = (o - t) / (o (1 - o)); d/dt = log(1 - o) - log(o)
        return elementwise_vjp(self, b, out_grads, lambda o, t, y, g: [
            g * (o - t) / (o * (1.0 - o)), g * ((1.0 - o).op("log") - o.op("log"))])


# comparisons (result i1)


class EqOp(BinaryOp):
    """`%c = tensor.eq %a, %b : tensor<4xi1>`"""

    name = "tensor.eq"
    differentiable = False

    fn = staticmethod(np.equal)
    python, python_types = "({0} == {1})", _EXACT
    traits = _COMM


class NeOp(BinaryOp):
    """`%c = tensor.ne %a, %b : tensor<4xi1>`"""

    name = "tensor.ne"
    differentiable = False

    fn = staticmethod(np.not_equal)
    python, python_types = "({0} != {1})", _EXACT
    traits = _COMM


class LtOp(BinaryOp):
    """`%c = tensor.lt %a, %b : tensor<4xi1>`"""

    name = "tensor.lt"
    differentiable = False

    fn = staticmethod(np.less)
    python, python_types = "({0} < {1})", _EXACT


class LeOp(BinaryOp):
    """`%c = tensor.le %a, %b : tensor<4xi1>`"""

    name = "tensor.le"
    differentiable = False

    fn = staticmethod(np.less_equal)
    python, python_types = "({0} <= {1})", _EXACT


class GtOp(BinaryOp):
    """`%c = tensor.gt %a, %b : tensor<4xi1>`"""

    name = "tensor.gt"
    differentiable = False

    fn = staticmethod(np.greater)
    python, python_types = "({0} > {1})", _EXACT


class GeOp(BinaryOp):
    """`%c = tensor.ge %a, %b : tensor<4xi1>`"""

    name = "tensor.ge"
    differentiable = False

    fn = staticmethod(np.greater_equal)
    python, python_types = "({0} >= {1})", _EXACT


# bitwise (logical on i1); floats are rejected by numpy's dtype rules


class AndOp(BinaryOp):
    """Bitwise and (logical on i1): `%c = tensor.and %a, %b : tensor<4xi1>`"""

    name = "tensor.and"
    differentiable = False

    fn = staticmethod(np.bitwise_and)
    python, python_types = "({0} and {1})", _CONDITIONS
    traits = _COMM
    reduction_kind, omp_reduction = "and", "&"

    @staticmethod
    def identity(elem: ScalarType) -> Any:
        return _typed_value(-1, elem)  # every bit set: true, -1, an unsigned type's max


class OrOp(BinaryOp):
    """`%c = tensor.or %a, %b : tensor<4xi1>`"""

    name = "tensor.or"
    differentiable = False

    fn = staticmethod(np.bitwise_or)
    python, python_types = "({0} or {1})", _CONDITIONS
    traits = _COMM
    reduction_kind, omp_reduction = "or", "|"

    @staticmethod
    def identity(elem: ScalarType) -> Any:
        return _typed_value(0, elem)


class XorOp(BinaryOp):
    """`%c = tensor.xor %a, %b : tensor<4xi32>`"""

    name = "tensor.xor"
    differentiable = False

    fn = staticmethod(np.bitwise_xor)
    python, python_types = "({0} != {1})", _CONDITIONS
    traits = _COMM


class NotOp(UnaryOp):
    """Bitwise not (logical on i1): `%c = tensor.not %a : tensor<4xi1>`"""

    name = "tensor.not"
    differentiable = False

    fn = staticmethod(np.invert)
    python, python_types = "(not {0})", _CONDITIONS


class _PredicateOp(UnaryOp):
    """Base of the float classification predicates (np.isnan, np.isinf, np.isfinite): an i1 result for any
    numeric operand (integers and booleans are finite), no gradient."""

    differentiable = False


class IsnanOp(_PredicateOp):
    """`%m = tensor.isnan %x : tensor<?xi1>` (np.isnan)"""

    name = "tensor.isnan"
    fn = staticmethod(np.isnan)


class IsinfOp(_PredicateOp):
    """`%m = tensor.isinf %x : tensor<?xi1>` (np.isinf: +inf or -inf)"""

    name = "tensor.isinf"
    fn = staticmethod(np.isinf)


class IsfiniteOp(_PredicateOp):
    """`%m = tensor.isfinite %x : tensor<?xi1>` (np.isfinite: neither nan nor infinite)"""

    name = "tensor.isfinite"
    fn = staticmethod(np.isfinite)


# unary math


UnaryGrad = Callable[[Sym, Sym, Sym], Sym]


def _unary(cls_name: str, op_name: str, fn: Callable[..., Any], grad: UnaryGrad, doc: str = "",
           python: str | None = None) -> type[UnaryOp]:
    """Declare a plain unary op `tensor.<op_name>` whose rule is the numpy function `fn` and whose
    gradient is `grad(x, y, g)`: the cotangent of x from x, the result y and y's cotangent g; `python`: its
    Python form on sizes (ElementwiseOp.python)."""
    text = doc or f"`%y = tensor.{op_name} %x : tensor<?xf32>`"

    def vjp(self: UnaryOp, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads, lambda x, y, g: [grad(x, y, g)])

    cls = type(cls_name, (UnaryOp,), {"__doc__": text, "name": f"tensor.{op_name}", "fn": staticmethod(fn),
                                      "vjp": vjp, "__module__": __name__, "__qualname__": cls_name,
                                      **({"python": python, "python_types": _SIZES} if python else {})})
    return cls


def _zero(x: Sym, y: Sym, g: Sym) -> Sym:
    """The gradient of a piecewise-constant op (sign, floor, ceil, round): zero, as Theano's."""
    return Sym(g.b, zeros_like(g.b, g.v))


LN2, LN10, TWO_OVER_SQRT_PI = math.log(2.0), math.log(10.0), 2.0 / math.sqrt(math.pi)


def _rsqrt(x: Any) -> Any:
    return np.reciprocal(np.sqrt(x))


def _relu(x: Any) -> Any:
    return np.maximum(x, np.zeros((), np.asarray(x).dtype))


def _softplus(x: Any) -> Any:
    return np.logaddexp(0, x)


NegOp = _unary("NegOp", "neg", np.negative, lambda x, y, g: -g, python="(-{0})")
AbsOp = _unary("AbsOp", "abs", np.abs, lambda x, y, g: g * x.op("sign"), python="abs({0})")
SignOp = _unary("SignOp", "sign", np.sign, _zero)
ExpOp = _unary("ExpOp", "exp", np.exp, lambda x, y, g: g * y)
Exp2Op = _unary("Exp2Op", "exp2", np.exp2, lambda x, y, g: g * y * LN2)
Expm1Op = _unary("Expm1Op", "expm1", np.expm1, lambda x, y, g: g * (y + 1.0))
LogOp = _unary("LogOp", "log", np.log, lambda x, y, g: g / x)
Log2Op = _unary("Log2Op", "log2", np.log2, lambda x, y, g: g / (x * LN2))
Log10Op = _unary("Log10Op", "log10", np.log10, lambda x, y, g: g / (x * LN10))
Log1pOp = _unary("Log1pOp", "log1p", np.log1p, lambda x, y, g: g / (x + 1.0))
SqrtOp = _unary("SqrtOp", "sqrt", np.sqrt, lambda x, y, g: g * 0.5 / y)
RsqrtOp = _unary("RsqrtOp", "rsqrt", _rsqrt, lambda x, y, g: g * -0.5 * y / x,
                 "1/sqrt(x): `%y = tensor.rsqrt %x : tensor<?xf32>`")
SquareOp = _unary("SquareOp", "square", np.square, lambda x, y, g: g * 2.0 * x)
SinOp = _unary("SinOp", "sin", np.sin, lambda x, y, g: g * x.op("cos"))
CosOp = _unary("CosOp", "cos", np.cos, lambda x, y, g: -g * x.op("sin"))
TanOp = _unary("TanOp", "tan", np.tan, lambda x, y, g: g * (y * y + 1.0))
TanhOp = _unary("TanhOp", "tanh", np.tanh, lambda x, y, g: g * (1.0 - y * y))
SinhOp = _unary("SinhOp", "sinh", np.sinh, lambda x, y, g: g * x.op("cosh"))
CoshOp = _unary("CoshOp", "cosh", np.cosh, lambda x, y, g: g * x.op("sinh"))
ArcsinOp = _unary("ArcsinOp", "arcsin", np.arcsin, lambda x, y, g: g * (1.0 - x * x).op("rsqrt"))
ArccosOp = _unary("ArccosOp", "arccos", np.arccos, lambda x, y, g: -g * (1.0 - x * x).op("rsqrt"))
ArctanOp = _unary("ArctanOp", "arctan", np.arctan, lambda x, y, g: g / (x * x + 1.0))


def _special(name: str, loops: str) -> Callable[..., Any]:
    """A scipy.special function, imported on first use (scipy costs ~0.4 s to import). `loops` are its ufunc's
    type characters in order (`scipy.special.expit.types`): the result type follows numpy's loop choice (the
    input's own loop, else the first it casts to safely) without importing scipy to build a graph."""

    def fn(*args: Any) -> Any:
        import scipy.special

        return getattr(scipy.special, name)(*args)

    def result_type(dtypes: tuple[np.dtype, ...]) -> np.dtype:
        (dt,) = dtypes
        if dt.char in loops:
            return dt
        for c in loops:
            if np.can_cast(dt, c, "safe"):
                return np.dtype(c)
        raise TypeError(f"ufunc '{name}' not supported for the input types")

    fn.__name__ = name
    fn.result_type = result_type  # type: ignore[attr-defined]
    return fn


SigmoidOp = _unary("SigmoidOp", "sigmoid", _special("expit", "dfg"), lambda x, y, g: g * y * (1.0 - y),
                   "1/(1+exp(-x)) (scipy's expit): `%y = tensor.sigmoid %x : tensor<?xf32>`")
SoftplusOp = _unary("SoftplusOp", "softplus", _softplus, lambda x, y, g: g * x.op("sigmoid"),
                    "log(1+exp(x)), stable (np.logaddexp(0, x)): `%y = tensor.softplus %x : tensor<?xf32>`")
ErfOp = _unary("ErfOp", "erf", _special("erf", "df"), lambda x, y, g: g * TWO_OVER_SQRT_PI * (-x * x).op("exp"))
ErfcOp = _unary("ErfcOp", "erfc", _special("erfc", "df"), lambda x, y, g: -g * TWO_OVER_SQRT_PI * (-x * x).op("exp"))
FloorOp = _unary("FloorOp", "floor", np.floor, _zero)
CeilOp = _unary("CeilOp", "ceil", np.ceil, _zero)
RoundOp = _unary("RoundOp", "round", np.round, _zero, "Round half to even: `%y = tensor.round %x : tensor<?xf32>`")
ReluOp = _unary("ReluOp", "relu", _relu, lambda x, y, g: select(x.op("gt", 0.0), g, 0.0),
                "max(x, 0) in x's dtype: `%y = tensor.relu %x : tensor<?xf32>`")


class ClipOp(ElementwiseOp):
    """`%y = tensor.clip %x, %lo, %hi : tensor<?xf32>` (np.clip; all three broadcast)"""

    name = "tensor.clip"
    operands_def = ("x", "lo", "hi")
    fn = staticmethod(np.clip)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # as Theano's: x's gradient where lo <= x <= hi, lo's where x < lo, hi's where x > hi
        return elementwise_vjp(self, b, out_grads, lambda x, lo, hi, y, g: [
            select(x.op("ge", lo).op("and", x.op("le", hi)), g, 0.0), select(x.op("lt", lo), g, 0.0),
            select(x.op("gt", hi), g, 0.0)])


class WhereOp(ElementwiseOp):
    """Select: `%y = tensor.where %cond, %a, %b : tensor<?xf32>` (np.where; all three broadcast)"""

    name = "tensor.where"
    operands_def = ("cond", "a", "b")
    fn = staticmethod(np.where)
    python, python_types = "({1} if {0} else {2})", _EXACT

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return elementwise_vjp(self, b, out_grads, lambda c, x, z, y, g: [None, select(c, g, 0.0), select(c, 0.0, g)])


class CastOp(UnaryOp):
    """Convert the element type: `%y = tensor.cast %x {dtype = f32} : tensor<?xf32>` (numpy astype)."""

    name = "tensor.cast"
    attrs = {"dtype": AttrDef(ScalarType, required=True)}

    @staticmethod
    def fn(x: Any) -> Any:  # the element type comes from the attribute: see compute
        return x

    python, python_types = "int({0})", _EXACT

    def element_type(self, dtypes: Sequence[np.dtype]) -> ScalarType:
        return self.attributes["dtype"]

    def compute(self, *args: Any) -> Any:
        return np.asarray(args[0]).astype(self.attributes["dtype"].dtype)

    def python_form(self) -> str | None:
        form = ElementwiseOp.python_form(self)  # (the scalar twin reuses this hook: no super())
        return "({0} != 0)" if form is not None and str(self.results[0].type) == "i1" else form

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # between float types: the gradient cast back (autodiff casts every cotangent to its value's type)
        return [out_grads[0]]


# ---------------------------------------------------------------- reductions


def widened(elem: ScalarType) -> ScalarType:
    """The accumulator of a sum or product of `elem`s: float64 for every float type. A naive loop in
    float64 over 10^7 elements errs by at most ~10^-9 relative, far below a float32 ulp; a float32
    accumulator (numpy's for float16) would err by up to n * 2^-24, several float16 ulps at n = 10^5
    where a loop adds along one column. Other types are kept (ints accumulate in the result type)."""
    return scalar("f64") if elem.is_float else elem


class ReductionOp(Operation):
    """Base of reductions over `axes` (all when absent), numpy's `keepdims`.

    A reduction that lowers to a loop declares here, once, what every pass and renderer reads:
    `combiner`, the elementwise op (its scalar twin in loop bodies) that folds one element into
    the accumulator, whose `identity` starts it; `accumulator_types`, the element types the loop
    accumulates in (`widens`: float16 and float32 in float64, then the result is cast);
    `inits`, the start values (numpy's `initial` where the op has one); and `body`, the scalar
    ops of one step. Composite reductions (mean, var, std) are decomposed into these.
    """

    operands_def = ("x",)
    attrs = {"axes": AttrDef(tuple), "keepdims": AttrDef(bool)}
    traits = frozenset({PURE})
    fn: ClassVar[Callable[..., Any]]
    needs_nonempty: ClassVar[bool] = False  # max/min/argmax have no identity
    combiner: ClassVar[type[BinaryOp] | None] = None
    widens: ClassVar[bool] = False  # rounding accumulates: sum and prod run in a wider float

    @property
    def result_element(self) -> ScalarType:
        return (self.results[0].type if self.results else self.infer_types()[0]).element  # type: ignore[union-attr]

    def accumulator_types(self) -> list[ScalarType]:
        """The element types of the loop's accumulators (the first one becomes the result)."""
        return [widened(self.result_element) if self.widens else self.result_element]

    def inits(self) -> list[Any]:
        """Start values of the accumulators: numpy's `initial` when given, else the combiner's identity."""
        assert self.combiner is not None
        initial = self.attributes.get("initial")
        acc = self.accumulator_types()[0]
        return [self.combiner.identity(acc) if initial is None else _typed_value(initial, acc)]

    def body(self, b: Builder, x: Value, accs: list[Value], position: Callable[[], Value]) -> list[Value]:
        """Build (with Builder `b`) one step of the reduction: the new accumulators after element `x`.
        `position()` builds the element's i64 index in the reduced dims (row-major), for argmax."""
        from . import scalar as S  # the scalar dialect is derived from this module

        assert self.combiner is not None
        (acc,) = accs
        return [b.create(S.SCALAR_OF_TENSOR[self.combiner], acc, S.cast_to(b, x, acc.type)).result]

    def reduced_axes(self) -> tuple[int, ...]:
        return normalize_axes(self, self.attributes.get("axes"), tensor_type(self, self.operands[0]).rank)

    def extra_kwargs(self) -> dict[str, Any]:
        return {}

    def spread(self, b: Builder, g: Value) -> Sym:
        """A gradient of the result broadcast back to the operand's shape (every reduced element's share)."""
        return Sym(b, broadcast_like(b, keep_reduced(b, g, self, self.reduced_axes()), self.operands[0]))

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        axes = self.reduced_axes()
        keep = bool(self.attributes.get("keepdims", False))
        shape = tuple(1 if k in axes else d for k, d in enumerate(t.shape) if keep or k not in axes)
        return [TensorType(shape, result_dtype(self, type(self).fn, [t.dtype], axis=0, **self.extra_kwargs()))]

    def empty_is_error(self) -> bool:
        """Whether reducing zero elements is an error (max/min/argmax without an `initial`)."""
        return self.needs_nonempty and self.attributes.get("initial") is None

    def verify_(self) -> None:
        t = tensor_type(self, self.operands[0])
        if self.empty_is_error() and any(t.shape[a] == 0 for a in self.reduced_axes()):
            raise self.error(EMPTY_REDUCTION)

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        if self.empty_is_error() and any(np.shape(args[0])[a] == 0 for a in self.reduced_axes()):
            raise size_check_failed(self, EMPTY_REDUCTION)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on the mean/var of empty slices (the result is nan)
            try:
                return [type(self).fn(args[0], axis=self.reduced_axes(),
                                      keepdims=bool(self.attributes.get("keepdims", False)), **self.extra_kwargs())]
            except ValueError as e:
                raise runtime_error(self, str(e)) from None


class SumOp(ReductionOp):
    """`%s = tensor.sum %x {axes = [1], keepdims = true} : tensor<?x1xf32>`"""

    name = "tensor.sum"
    fn = staticmethod(np.sum)
    combiner = AddOp
    widens = True

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [self.spread(b, out_grads[0]).v]


class ProdOp(ReductionOp):
    """`%s = tensor.prod %x {axes = [0]} : tensor<4xf32>`"""

    name = "tensor.prod"
    fn = staticmethod(np.prod)
    combiner = MulOp
    widens = True

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # Theano's rule: g * prod / x where no reduced element is 0; where one is, it gets g times the
        # product of the others and they get 0; where several are, all get 0
        x = Sym(b, self.operands[0])
        zero = x.op("eq", 0.0)
        nonzero = select(zero, 1.0, x)
        axes = {"axes": self.reduced_axes(), "keepdims": bool(self.attributes.get("keepdims", False))}
        others = self.spread(b, nonzero.op("prod", **axes).v)  # the product of the nonzero elements
        zeros = self.spread(b, zero.op("cast", dtype=tensor_type(self, x.v).element).op("sum", **axes).v)
        one_zero = select(zeros.op("eq", 1.0), others, 0.0)
        no_zero = select(zeros.op("eq", 0.0), others / nonzero, 0.0)
        return [(self.spread(b, out_grads[0]) * select(zero, one_zero, no_zero)).v]


class _ExtremumOp(ReductionOp):
    """max/min: an empty reduction is an error unless `initial` (numpy's keyword) gives its value."""

    attrs = {**ReductionOp.attrs, "initial": AttrDef((int, float))}
    needs_nonempty = True

    def extra_kwargs(self) -> dict[str, Any]:
        initial = self.attributes.get("initial")
        return {} if initial is None else {"initial": initial}

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # routed to the elements equal to the extremum (to each of them on ties, as Theano's)
        x = Sym(b, self.operands[0])
        return [select(x.op("eq", self.spread(b, self.result)), self.spread(b, out_grads[0]), 0.0).v]


class MaxOp(_ExtremumOp):
    """`%s = tensor.max %x {axes = [0]} : tensor<4xf32>`; `{initial = -inf}` allows empty axes."""

    name = "tensor.max"
    fn = staticmethod(np.max)
    combiner = MaximumOp  # NaN propagates


class MinOp(_ExtremumOp):
    """`%s = tensor.min %x : tensor<f32>`; `{initial = inf}` allows empty axes."""

    name = "tensor.min"
    fn = staticmethod(np.min)
    combiner = MinimumOp


class _MomentOp(ReductionOp):
    """mean/var/std: decomposed (passes/decompose.py) into sums in `accumulator_types()[0]`, then cast."""

    def accumulator_types(self) -> list[ScalarType]:
        """float64 for every input type, as sums of floats (numpy: float32 for float16 and the dtype itself
        for float32; float64 for ints and bools)."""
        return [scalar("f64")]


class MeanOp(_MomentOp):
    """`%m = tensor.mean %x {axes = [0]} : tensor<4xf32>` (ints give f64)"""

    name = "tensor.mean"
    fn = staticmethod(np.mean)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        g = out_grads[0]
        n = count(b, self.operands[0], self.reduced_axes(), tensor_type(self, g).dtype)
        return [(self.spread(b, g) / Sym(b, n)).v]


class VarOp(_MomentOp):
    """Variance with `ddof` (default 0): `%v = tensor.var %x {axes = [1], ddof = 1} : tensor<?xf32>`"""

    name = "tensor.var"
    fn = staticmethod(np.var)
    attrs = {**ReductionOp.attrs, "ddof": AttrDef(int, default=0)}

    def extra_kwargs(self) -> dict[str, Any]:
        return {"ddof": int(self.attributes.get("ddof", 0))}

    def verify_(self) -> None:
        super().verify_()
        if self.extra_kwargs()["ddof"] < 0:
            raise self.error(f"ddof must be non-negative, got {self.attributes['ddof']}")

    def centered(self, b: Builder, g: Value) -> Sym:
        """g * 2 (x - mean) / (n - ddof): the gradient of the variance."""
        x = Sym(b, self.operands[0])
        axes = self.reduced_axes()
        n = Sym(b, count(b, x.v, axes, tensor_type(self, self.result).dtype))
        mean = x.op("mean", axes=axes, keepdims=True)
        return self.spread(b, g) * 2.0 * (x - mean) / (n - float(self.extra_kwargs()["ddof"]))

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [self.centered(b, out_grads[0]).v]


class StdOp(VarOp):
    """`%s = tensor.std %x {axes = [0], ddof = 0} : tensor<4xf32>`"""

    name = "tensor.std"
    fn = staticmethod(np.std)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # d sqrt(v) = dv / (2 sqrt(v))
        g = Sym(b, out_grads[0]) / (Sym(b, self.result) * 2.0)
        return [self.centered(b, g.v).v]


class AllOp(ReductionOp):
    """`%b = tensor.all %x {axes = [0]} : tensor<4xi1>`"""

    name = "tensor.all"
    differentiable = False
    fn = staticmethod(np.all)
    combiner = AndOp  # on i1: acc and bool(x)


class AnyOp(ReductionOp):
    """`%b = tensor.any %x : tensor<i1>`"""

    name = "tensor.any"
    differentiable = False
    fn = staticmethod(np.any)
    combiner = OrOp


class ArgmaxOp(ReductionOp):
    """Index of the maximum (i64), over the flattened tensor when `axes` is absent, else over
    exactly one axis: `%i = tensor.argmax %x {axes = [1]} : tensor<?xi64>`."""

    name = "tensor.argmax"
    differentiable = False
    fn = staticmethod(np.argmax)
    needs_nonempty = True
    better: ClassVar[type[BinaryOp]] = GtOp  # the comparison a new maximum wins by
    combiner = MaximumOp  # whose identity starts the value accumulator

    def accumulator_types(self) -> list[ScalarType]:
        """(index of the best element so far, its value)."""
        return [scalar("i64"), tensor_type(self, self.operands[0]).element]

    def inits(self) -> list[Any]:
        assert self.combiner is not None
        return [0, self.combiner.identity(self.accumulator_types()[1])]

    def body(self, b: Builder, x: Value, accs: list[Value], position: Callable[[], Value]) -> list[Value]:
        """Take the element when it beats the value so far (strictly: the first occurrence wins) or
        when it is NaN and the value so far is not (the first NaN wins), as numpy."""
        from . import scalar as S

        def make(cls: type[Operation], *operands: Value) -> Value:
            return b.create(S.SCALAR_OF_TENSOR[cls], *operands).result

        best_at, best = accs
        at = position()
        wins = make(self.better, x, best)
        if best.type.is_float:  # type: ignore[union-attr]
            wins = make(OrOp, wins, make(AndOp, make(NeOp, x, x), make(EqOp, best, best)))
        return [make(WhereOp, wins, at, best_at), make(WhereOp, wins, x, best)]

    def axis(self) -> int | None:
        axes = self.reduced_axes()
        if self.attributes.get("axes") is None:
            return None
        if len(self.attributes["axes"]) != 1:
            raise self.error(f"reduces over exactly one axis, got axes {list(self.attributes['axes'])}")
        return axes[0] if axes else None

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        axis = self.axis()
        keep = bool(self.attributes.get("keepdims", False))
        if axis is None:
            shape: tuple[Dim, ...] = (1,) * t.rank if keep else ()
        else:
            shape = tuple(1 if k == axis else d for k, d in enumerate(t.shape) if keep or k != axis)
        return [TensorType(shape, scalar("i64"))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x = args[0]
        axis = self.axis()
        if x.ndim == 0:
            x = x.reshape(1)
        if (x.size == 0) if axis is None else x.shape[axis] == 0:
            raise size_check_failed(self, EMPTY_REDUCTION)
        out = type(self).fn(x, axis=axis)
        if bool(self.attributes.get("keepdims", False)):
            out = np.asarray(out).reshape(self.results[0].type.shape if axis is None else
                                          np.expand_dims(out, axis).shape)
        return [np.asarray(out, dtype=np.int64)]


class ArgminOp(ArgmaxOp):
    """`%i = tensor.argmin %x : tensor<i64>`"""

    name = "tensor.argmin"
    fn = staticmethod(np.argmin)
    better = LtOp
    combiner = MinimumOp


def _loop_reductions() -> tuple[type[ReductionOp], ...]:
    found: list[type[ReductionOp]] = []
    stack = list(ReductionOp.__subclasses__())
    while stack:
        c = stack.pop()
        stack.extend(c.__subclasses__())
        if c.combiner is not None and getattr(c, "name", None):
            found.append(c)
    return tuple(sorted(set(found), key=lambda c: c.name))


# The reductions that lower to loops (fuse-elementwise, bufferize): those that declare a combiner;
# mean/var/std are decomposed into them first.
LOOP_REDUCTIONS: tuple[type[ReductionOp], ...] = _loop_reductions()


# ---------------------------------------------------------------- softmax family


class _AxisOp(Operation):
    """Base of the softmax family and the cumulative ops: one `axis` (default -1) of a tensor of rank >= 1."""

    operands_def = ("x",)
    attrs = {"axis": AttrDef(int, default=-1)}
    traits = frozenset({PURE})

    def the_axis(self) -> int:
        t = tensor_type(self, self.operands[0])
        if t.rank == 0:
            raise self.error("requires a tensor of rank at least 1, got a 0-d tensor")
        return normalize_axis(self, self.attributes.get("axis", -1), t.rank)

    def elem(self) -> ScalarType:
        return result_dtype(self, np.exp, [tensor_type(self, self.operands[0]).dtype])

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        self.the_axis()
        return [TensorType(t.shape, self.elem())]

    def axis_sum(self, v: Sym) -> Sym:
        return v.op("sum", axes=(self.the_axis(),), keepdims=True)

    def shifted(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x - max, max) along the axis, keepdims; infinite maxima are not subtracted."""
        x = np.asarray(x).astype(self.elem().dtype)
        m = np.max(x, axis=self.the_axis(), keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
        return x - m, m


class SoftmaxOp(_AxisOp):
    """exp(x) / sum(exp(x)) along `axis` (stable): `%p = tensor.softmax %x {axis = -1} : tensor<?x10xf32>`"""

    name = "tensor.softmax"

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # y (g - sum(g y)) along the axis (autodiff runs before decompose, so the family keeps its rules)
        y, g = Sym(b, self.result), Sym(b, out_grads[0])
        return [(y * (g - self.axis_sum(g * y))).v]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            z, _ = self.shifted(args[0])
            e = np.exp(z)
            return [e / np.sum(e, axis=self.the_axis(), keepdims=True)]


class LogSoftmaxOp(_AxisOp):
    """x - logsumexp(x) along `axis`: `%p = tensor.log_softmax %x {axis = -1} : tensor<?x10xf32>`"""

    name = "tensor.log_softmax"

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        y, g = Sym(b, self.result), Sym(b, out_grads[0])
        return [(g - y.op("exp") * self.axis_sum(g)).v]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            z, _ = self.shifted(args[0])
            return [z - np.log(np.sum(np.exp(z), axis=self.the_axis(), keepdims=True))]


class LogsumexpOp(_AxisOp):
    """log(sum(exp(x))) along `axis` (stable), numpy `keepdims`:
    `%l = tensor.logsumexp %x {axis = -1, keepdims = false} : tensor<?xf32>`"""

    name = "tensor.logsumexp"
    attrs = {"axis": AttrDef(int, default=-1), "keepdims": AttrDef(bool, default=False)}

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # g exp(x - y): the softmax of x times the result's gradient
        x, axes = Sym(b, self.operands[0]), (self.the_axis(),)
        g, y = (Sym(b, keep_reduced(b, v, self, axes)) for v in (out_grads[0], self.result))
        return [(g * (x - y).op("exp")).v]

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        a = self.the_axis()
        keep = bool(self.attributes.get("keepdims", False))
        shape = tuple(1 if k == a else d for k, d in enumerate(t.shape) if keep or k != a)
        return [TensorType(shape, self.elem())]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            z, m = self.shifted(args[0])
            a = self.the_axis()
            out = m + np.log(np.sum(np.exp(z), axis=a, keepdims=True))
            return [out if self.attributes.get("keepdims", False) else np.squeeze(out, axis=a)]


# ---------------------------------------------------------------- cumulative (scans along an axis)


def flip(b: Builder, v: Value, axis: int) -> Value:
    """`v` reversed along `axis` (a subtensor with step -1)."""
    return emit(b, "subtensor", v, begin=(None,) * (axis + 1), end=(None,) * (axis + 1),
                step=(None,) * axis + (-1,))


class _CumulativeOp(_AxisOp):
    """Base of the running reductions along one `axis` (np.cumsum, np.cumprod with an axis; the Python API
    flattens first for axis=None): element i is `combiner` over elements 0..i. The result dtype is numpy's
    (integers and booleans accumulate in i64 as np.cumsum does), and the running value is held in it, so
    float32 sums round as numpy's sequential loop does."""

    fn: ClassVar[Callable[..., Any]]
    combiner: ClassVar[type[BinaryOp]]

    def elem(self) -> ScalarType:
        return result_dtype(self, type(self).fn, [tensor_type(self, self.operands[0]).dtype], axis=0)

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            return [type(self).fn(args[0], axis=self.the_axis())]


class CumsumOp(_CumulativeOp):
    """Running sum: `%y = tensor.cumsum %x {axis = 0} : tensor<?x4xf32>`"""

    name = "tensor.cumsum"
    fn = staticmethod(np.cumsum)
    combiner = AddOp

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # x[j] feeds every y[i] with i >= j: the reversed running sum of g
        a = self.the_axis()
        return [flip(b, emit(b, "cumsum", flip(b, out_grads[0], a), axis=a), a)]


class CumprodOp(_CumulativeOp):
    """Running product: `%y = tensor.cumprod %x {axis = -1} : tensor<?x4xf64>`"""

    name = "tensor.cumprod"
    fn = staticmethod(np.cumprod)
    combiner = MulOp

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # dy[i]/dx[j] = y[i] / x[j] for i >= j: the reversed running sum of g*y, divided by x. Exact where x has
        # no zeros; at a zero of x the result is nan or inf (as the usual formula; JAX's is exact there).
        a = self.the_axis()
        x, y, g = Sym(b, self.operands[0]), Sym(b, self.result), Sym(b, out_grads[0])
        return [(Sym(b, flip(b, emit(b, "cumsum", flip(b, (g * y).v, a), axis=a), a)) / x).v]


# ---------------------------------------------------------------- sorting


class SortOp(_AxisOp):
    """Sorted along `axis`, stable, nan last (np.sort): `%y = tensor.sort %x {axis = -1} : tensor<?x5xf32>`"""

    name = "tensor.sort"

    def elem(self) -> ScalarType:
        return tensor_type(self, self.operands[0]).element

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.sort(args[0], axis=self.the_axis(), kind="stable")]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # y = x[p] along the axis (p = argsort x): x's gradient is g at the inverse permutation, argsort(p)
        a = self.the_axis()
        inverse = emit(b, "argsort", emit(b, "argsort", self.operands[0], axis=a), axis=a)
        return [emit(b, "take_along_axis", out_grads[0], inverse, axis=a)]


class ArgsortOp(_AxisOp):
    """The i64 positions that sort x along `axis`, stable, nan last (np.argsort(kind="stable")):
    `%p = tensor.argsort %x {axis = -1} : tensor<?x5xi64>`"""

    name = "tensor.argsort"
    differentiable = False

    def elem(self) -> ScalarType:
        return scalar("i64")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.argsort(args[0], axis=self.the_axis(), kind="stable").astype(np.int64)]


class TakeAlongAxisOp(Operation):
    """np.take_along_axis with indices of x's rank and x's sizes besides `axis`, raising on out-of-range
    indices (negative ones count from the end): `%y = tensor.take_along_axis %x, %idx {axis = 1} : tensor<?x3xf32>`.
    The gradient of tensor.sort; declared without one of its own (that would be a scatter-add)."""

    name = "tensor.take_along_axis"
    operands_def = ("x", "indices")
    attrs = {"axis": AttrDef(int, required=True)}
    traits = frozenset({PURE})
    differentiable = False

    @staticmethod
    def mismatch(d: int) -> str:
        """x and the indices differ in a dim besides the axis (verifier, bufferize's check, interpreter)."""
        return f"indices and x differ in dimension {d}: sizes {{0}} and {{1}}"

    def the_axis(self) -> int:
        return normalize_axis(self, self.attributes["axis"], tensor_type(self, self.operands[0]).rank)

    def infer_types(self) -> list[Type]:
        x, idx = tensor_type(self, self.operands[0]), tensor_type(self, self.operands[1], "indices")
        if not idx.element.is_int or idx.element.is_bool:
            raise self.error(f"indices must be integers, got {idx.element}")
        if idx.rank != x.rank:
            raise self.error(f"indices of rank {idx.rank} for a tensor of rank {x.rank}")
        a = self.the_axis()
        for d, (m, n) in enumerate(zip(idx.shape, x.shape)):
            if d != a and m is not None and n is not None and m != n:
                raise self.error(self.mismatch(d).format(m, n))
        shape = tuple(m if m is not None or d == a else n for d, (m, n) in enumerate(zip(idx.shape, x.shape)))
        return [TensorType(shape, x.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x, idx = args
        a = self.the_axis()
        for d in range(x.ndim):
            if d != a and idx.shape[d] != x.shape[d]:
                raise size_check_failed(self, self.mismatch(d), idx.shape[d], x.shape[d])
        check_range(self, idx, x.shape[a], a)
        return [np.take_along_axis(x, idx.astype(np.int64), axis=a)]


class CategoricalCrossentropyOp(Operation):
    """-sum(t * log(p)) over the last axis, Theano's categorical_crossentropy.

    `true_dist` is a probability (one-hot) tensor of coding_dist's shape, or an integer tensor of
    class indices with one dim less (-log(p[..., idx])); the result has shape coding_dist.shape[:-1]:
    `%l = tensor.categorical_crossentropy %p, %t : tensor<?xf32>`."""

    name = "tensor.categorical_crossentropy"
    operands_def = ("coding_dist", "true_dist")
    traits = frozenset({PURE})

    def indexed(self) -> bool:
        p = tensor_type(self, self.operands[0], "coding_dist")
        t = tensor_type(self, self.operands[1], "true_dist")
        if p.rank == 0:
            raise self.error("coding_dist must have rank at least 1, got a 0-d tensor")
        if t.rank == p.rank:
            return False
        if t.rank == p.rank - 1:
            if not t.element.is_int:
                raise self.error(f"true_dist of rank {t.rank} must hold integer class indices, got {t.element}")
            return True
        raise self.error(f"true_dist must have rank {p.rank} (probabilities) or {p.rank - 1} (class indices), "
                         f"got rank {t.rank}")

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        """-g t / p for p and -g log(p) for t; with class indices, -g / p at each row's index."""
        p, t = Sym(b, self.operands[0]), Sym(b, self.operands[1])
        g = Sym(b, emit(b, "expand_dims", out_grads[0], axes=(-1,)))
        if not self.indexed():
            return [unbroadcast(b, (-g * t / p).v, p.v), unbroadcast(b, (-g * p.op("log")).v, t.v)]
        n = dim(b, p.v, tensor_type(self, p.v).rank - 1)
        classes = emit(b, "arange", stop=n) if isinstance(n, int) else emit(b, "arange", n, stop=DYN)
        hit = Sym(b, emit(b, "expand_dims", t.v, axes=(-1,))).op("eq", Sym(b, classes))
        return [select(hit, -g / p, 0.0).v, None]

    def infer_types(self) -> list[Type]:
        p = tensor_type(self, self.operands[0], "coding_dist")
        t = tensor_type(self, self.operands[1], "true_dist")
        if self.indexed():
            if any(a is not None and b is not None and a != b for a, b in zip(p.shape[:-1], t.shape)):
                raise self.error(f"class indices of shape {fmt_shape(t.shape)} do not match coding_dist "
                                 f"of shape {fmt_shape(p.shape)}")
            shape = tuple(b if a is None else a for a, b in zip(p.shape[:-1], t.shape))
            elem = result_dtype(self, np.log, [p.dtype])
        else:
            shape = broadcast_shapes(self, [p.shape, t.shape])[:-1]
            elem = result_dtype(self, lambda a, b: a * np.log(b), [t.dtype, p.dtype])
        return [TensorType(shape, elem)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        p, t = args
        dt = self.results[0].type.dtype if self.results else None
        with np.errstate(all="ignore"):
            if self.indexed():
                n = p.shape[-1]
                if t.shape != p.shape[:-1]:
                    raise TirValueError(f"'{self.name}' op class indices of shape {fmt_shape(t.shape)} do not match "
                                        f"coding_dist of shape {fmt_shape(p.shape)}", self.loc)
                if t.size and (t.min() < 0 or t.max() >= n):
                    bad = t.min() if t.min() < 0 else t.max()
                    raise runtime_error(self, f"class index {bad} is out of range for {n} classes")
                picked = np.take_along_axis(p, t[..., None].astype(np.int64), axis=-1)[..., 0]
                return [np.asarray(-np.log(picked), dtype=dt)]
            # As its decomposition (decompose.py) computes it: t * log(p), checked as that tensor.mul is.
            check_broadcast(self, [t.shape, p.shape], name=MulOp.name)
            return [np.asarray(-np.sum(t * np.log(p), axis=-1), dtype=dt)]


# ---------------------------------------------------------------- linear algebra


CONTRACTION = "contraction dims {0} and {1} do not match"  # built, run-time (bufferize) and interpreted alike


def contraction_dims(a_rank: int, b_rank: int) -> tuple[int, int]:
    """The dims dot/matmul contract: a's last with b's only (b 1-d) or second-to-last."""
    return a_rank - 1, 0 if b_rank == 1 else b_rank - 2


def _contract(op: Operation, a: Dim, b: Dim) -> None:
    if a is not None and b is not None and a != b:
        raise op.error(CONTRACTION.format(a, b))


def _contract_at_run_time(op: Operation, a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim and b.ndim:
        i, j = contraction_dims(a.ndim, b.ndim)
        if a.shape[i] != b.shape[j]:
            raise size_check_failed(op, CONTRACTION, a.shape[i], b.shape[j])


class DotOp(Operation):
    """np.dot: `%c = tensor.dot %a, %b : tensor<?x10xf32>`. 0-d operands scale, 1-d . 1-d gives a
    0-d tensor, n-d . m-d contracts a's last dim with b's second-to-last (b's only dim if 1-d)."""

    name = "tensor.dot"
    operands_def = ("lhs", "rhs")
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        a = tensor_type(self, self.operands[0])
        b = tensor_type(self, self.operands[1])
        elem = result_dtype(self, np.dot, [a.dtype, b.dtype])
        if a.rank == 0 or b.rank == 0:
            return [TensorType(b.shape if a.rank == 0 else a.shape, elem)]
        if b.rank == 1:
            _contract(self, a.shape[-1], b.shape[0])
            return [TensorType(a.shape[:-1], elem)]
        _contract(self, a.shape[-1], b.shape[-2])
        return [TensorType(a.shape[:-1] + b.shape[:-2] + b.shape[-1:], elem)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        _contract_at_run_time(self, args[0], args[1])
        return [np.dot(args[0], args[1])]

    def dims_from_operands(self) -> list[tuple[int, int]]:
        """(operand, dim) of each result dim (canonicalize's ShapeFromOperandDims)."""
        ra, rb = (tensor_type(self, v).rank for v in self.operands)
        if ra == 0 or rb == 0:
            return [(1, k) for k in range(rb)] if ra == 0 else [(0, k) for k in range(ra)]
        lead = [(0, k) for k in range(ra - 1)]
        return lead if rb == 1 else [*lead, *((1, k) for k in range(rb - 2)), (1, rb - 1)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        a, c, g = Sym(b, self.operands[0]), Sym(b, self.operands[1]), Sym(b, out_grads[0])
        ra, rc = tensor_type(self, a.v).rank, tensor_type(self, c.v).rank
        if ra == 0 or rc == 0:  # a scaling: mul's rule
            return MulOp.vjp(self, b, out_grads)  # type: ignore[arg-type]
        if rc == 1:  # da = g[..., None] c; dc = a^T g for a matrix (a matrix-vector product: BLAS gemv, as the
            # forward one), else the sum over a's leading dims of a g[..., None]
            g1 = g.op("expand_dims", axes=(-1,))
            dc = a.op("transpose").op("dot", g) if ra == 2 else (a * g1).op("sum", axes=tuple(range(ra - 1)))
            return [(g1 * c).v, dc.v]
        # As matrices: a2 (rows of a, n), c2 (n, the rest of c: its batch dims, then k; c's contracted dim n
        # moved first), g2 (rows of a, the rest of c); then da = g2 c2^T and dc = a2^T g2, shaped back.
        perm = (rc - 2, *range(rc - 2), rc - 1)
        ct = c if rc == 2 else c.op("transpose", perm=perm)

        def matrix(v: Sym, already: bool, cols: int | Value) -> Sym:
            return v if already else Sym(b, sized(b, "reshape", v.v, [-1, cols]))

        c2 = ct if rc == 2 else Sym(b, sized(b, "reshape", ct.v, [dim(b, c.v, rc - 2), -1]))
        a2, g2 = matrix(a, ra == 2, dim(b, a.v, ra - 1)), matrix(g, ra == rc == 2, dim(b, c2.v, 1))
        da2, dc2 = g2.op("dot", c2.op("transpose")), a2.op("transpose").op("dot", g2)
        if ra == rc == 2:  # the products have a's and c's shapes already: no reshape between an SGD update
            return [da2.v, dc2.v]  # `W - lr * dot(x.T, g)` and the product (the gemm pass fuses them)
        da = reshape_like(b, da2.v, a.v)
        dc = Sym(b, reshape_like(b, dc2.v, ct.v))
        return [da, (dc if rc == 2 else dc.op("transpose", perm=tuple(perm.index(k) for k in range(rc)))).v]


class MatmulOp(Operation):
    """np.matmul with broadcast batch dims: `%c = tensor.matmul %a, %b : tensor<8x?x10xf32>`."""

    name = "tensor.matmul"
    operands_def = ("lhs", "rhs")
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        a = tensor_type(self, self.operands[0])
        b = tensor_type(self, self.operands[1])
        if a.rank == 0 or b.rank == 0:
            raise self.error("operands must have rank at least 1 (use tensor.mul to scale)")
        elem = result_dtype(self, np.matmul, [a.dtype, b.dtype])
        _contract(self, a.shape[-1], b.shape[0] if b.rank == 1 else b.shape[-2])
        batch = broadcast_shapes(self, [a.shape[:-2], b.shape[:-2]])
        rows = a.shape[-2:-1] if a.rank >= 2 else ()
        cols = b.shape[-1:] if b.rank >= 2 else ()
        return [TensorType(batch + rows + cols, elem)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # 1-d operands as matrices (a row, c a column), then da = g c^T and dc = a^T g, summed over the
        # batch dims each operand was broadcast along
        a, c = self.operands
        ra, rc = tensor_type(self, a).rank, tensor_type(self, c).rank
        a2 = Sym(b, a if ra > 1 else emit(b, "expand_dims", a, axes=(0,)))
        c2 = Sym(b, c if rc > 1 else emit(b, "expand_dims", c, axes=(1,)))
        g = out_grads[0]
        g = g if ra > 1 else emit(b, "expand_dims", g, axes=(-2 if rc > 1 else -1,))
        g2 = Sym(b, g if rc > 1 else emit(b, "expand_dims", g, axes=(-1,)))

        def swap(v: Sym) -> Sym:
            r = tensor_type(self, v.v).rank
            return v.op("transpose", perm=tuple(range(r - 2)) + (r - 1, r - 2))

        da, dc = g2.op("matmul", swap(c2)), swap(a2).op("matmul", g2)
        return [reshape_like(b, unbroadcast(b, da.v, a2.v), a), reshape_like(b, unbroadcast(b, dc.v, c2.v), c)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        _contract_at_run_time(self, args[0], args[1])
        if min(np.ndim(x) for x in args) >= 2:
            check_broadcast(self, [np.shape(x) for x in args], core=2)  # the batch dims
        return [np.matmul(args[0], args[1])]


class GemmOp(Operation):
    """BLAS's fused product, which the `gemm` pass makes of dot/scale/add chains:
    `%r = tensor.gemm %a, %b, %c, %s {alpha = -1.0, beta = 1.0, trans_a = true, trans_b = false} : tensor<?x?xf32>`
    is r = alpha * s * op(a) @ op(b) + beta * c, op(x) = x or x^T. The operands are a and b (matrices or
    one of them a vector: a matrix-vector product, BLAS gemv), then c when beta != 0 (broadcast into the
    product's shape, which is r's), then s when there is one: a 0-d run-time factor of alpha (a learning
    rate). Elements are f32 or f64, one type for all, as in BLAS."""

    name = "tensor.gemm"
    operands_def = ("args*",)
    attrs = {"alpha": AttrDef((int, float), default=1.0), "beta": AttrDef((int, float), default=0.0),
             "trans_a": AttrDef(bool, default=False), "trans_b": AttrDef(bool, default=False)}
    traits = frozenset({PURE})

    @property
    def c(self) -> Value | None:
        return self.operands[2] if self.attributes["beta"] != 0 and len(self.operands) > 2 else None

    @property
    def scale(self) -> Value | None:
        return self.operands[-1] if len(self.operands) == 3 + (self.c is not None) else None

    def factors(self) -> list[TensorType]:
        """The product's operands as op() sees them (a transposed matrix as its transpose)."""
        types = [tensor_type(self, v) for v in self.operands[:2]]
        for t, flag in zip(types, ("trans_a", "trans_b")):
            if t.rank == 1 and self.attributes[flag]:
                raise self.error(f"{flag} is set on a vector")
        return [TensorType(t.shape[::-1] if self.attributes[f] else t.shape, t.element)
                for t, f in zip(types, ("trans_a", "trans_b"))]

    def infer_types(self) -> list[Type]:
        n = len(self.operands)
        if not 2 <= n <= 4:
            raise self.error(f"expects 2 to 4 operands (a, b, c when beta != 0, a 0-d factor), got {n}")
        a, b = self.factors()
        if (a.rank, b.rank) not in ((2, 2), (2, 1), (1, 2)):
            raise self.error(f"op(a) and op(b) must be matrices or a matrix and a vector, got ranks {a.rank} and "
                             f"{b.rank}")
        _contract(self, a.shape[-1], b.shape[0])
        shape = a.shape[:-1] + b.shape[1:]
        c, s = self.c, self.scale
        if self.attributes["beta"] != 0 and c is None:
            raise self.error("beta != 0 needs c (the third operand)")
        if n != 2 + (c is not None) + (s is not None) or (s is not None and tensor_type(self, s).rank != 0):
            raise self.error("operands after a and b must be c (when beta != 0) and a 0-d factor of alpha")
        extra = [tensor_type(self, v) for v in (c, s) if v is not None]
        elements = {t.element for t in (a, b, *extra)}
        if len(elements) != 1 or not all(e.is_float and e.dtype.itemsize in (4, 8) for e in elements):
            raise self.error("operands must have one element type, f32 or f64, got "
                             + ", ".join(str(t.element) for t in (a, b, *extra)))
        if c is not None:
            check_broadcast_to(self, tensor_type(self, c).shape, shape, "c")
        return [TensorType(shape, a.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        a, b = (x.T if self.attributes[f] else x for x, f in zip(args, ("trans_a", "trans_b")))
        if a.shape[-1] != b.shape[0]:
            raise size_check_failed(self, CONTRACTION, a.shape[-1], b.shape[0])
        product = a @ b
        alpha = self.attributes["alpha"] * (args[-1] if self.scale is not None else 1)
        value = alpha * product
        if self.c is not None:
            check_broadcast_to_run_time(self, "c", args[2].shape, product.shape)
            value = value + self.attributes["beta"] * args[2]
        return [np.asarray(value, dtype=product.dtype)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        """With P = op(a) @ op(b) and h = alpha s g: d op(a) = h op(b)^T (h[:, None] op(b) for a vector op(b)),
        d op(b) = op(a)^T h (op(a)[:, None] h for a vector op(a)), each transposed back where flagged;
        dc = beta g summed to c's shape, ds = alpha sum(g P)."""
        x, y, g = (Sym(b, v) for v in (*self.operands[:2], out_grads[0]))
        ta, tb = self.attributes["trans_a"], self.attributes["trans_b"]
        opa, opb = (v.op("transpose") if t else v for v, t in ((x, ta), (y, tb)))
        alpha, s = self.attributes["alpha"], self.scale
        h = g * alpha if s is None else g * alpha * Sym(b, s)
        ra, rb = (tensor_type(self, v.v).rank for v in (opa, opb))
        da = h.op("dot", opb.op("transpose")) if rb == 2 else h.op("expand_dims", axes=(-1,)) * opb
        db = opa.op("transpose").op("dot", h) if ra == 2 else opa.op("expand_dims", axes=(-1,)) * h
        grads: Grads = [(da.op("transpose") if ta else da).v, (db.op("transpose") if tb else db).v]
        if self.c is not None:
            grads.append(unbroadcast(b, (g * self.attributes["beta"]).v, self.c))
        if s is not None:
            grads.append((g * opa.op("dot", opb) * alpha).op("sum").v)
        return grads


class OuterOp(Operation):
    """np.outer (operands flattened): `%c = tensor.outer %a, %b : tensor<3x4xf32>`."""

    name = "tensor.outer"
    operands_def = ("lhs", "rhs")
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        a = tensor_type(self, self.operands[0])
        b = tensor_type(self, self.operands[1])
        elem = result_dtype(self, np.outer, [a.dtype, b.dtype])
        size = [math.prod(t.shape) if t.is_static else None for t in (a, b)]
        return [TensorType(tuple(size), elem)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.outer(args[0], args[1])]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        a, c, g = (Sym(b, v) for v in (*self.operands, out_grads[0]))
        flat_a, flat_c = (v.op("reshape", shape=(-1,)) for v in (a, c))
        return [reshape_like(b, g.op("dot", flat_c).v, a.v),
                reshape_like(b, g.op("transpose").op("dot", flat_a).v, c.v)]


# ---------------------------------------------------------------- constants


class ConstantOp(Operation):
    """A constant: `%c = tensor.constant {value = 0.1 : f32} : tensor<f32>` or
    `%c = tensor.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>`."""

    name = "tensor.constant"
    differentiable = False
    attrs = {"value": AttrDef(required=True)}
    traits = frozenset({PURE, CONSTANT_LIKE})

    @property
    def array(self) -> np.ndarray:
        v = self.attributes["value"]
        if isinstance(v, Dense):
            return v.array
        if isinstance(v, Typed):
            return np.array(v.value, dtype=v.type.dtype)
        raise self.error(f"value must be a dense array or a typed scalar (`1.0 : f32`), got {v!r}")

    def infer_types(self) -> list[Type]:
        arr = self.array
        return [TensorType(arr.shape, scalar(arr.dtype))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [self.array]


# ---------------------------------------------------------------- gradients


class GradOp(Operation):
    """The gradient of a 0-d float `cost` with respect to each `wrt` value, which the `autodiff` pass expands
    into ordinary tensor ops by reverse mode (passes/autodiff.py):
    `%gw, %gb = tensor.grad %cost wrt %w, %b : tensor<784xf32>, tensor<f32>`.

    The `wrt` operands end with two optional groups that have no results, counted by attributes:
    `consider_constant = k`: k values held constant (no gradient flows through them);
    `known_grads = m`: m values then their m gradients, which are added to theirs (Theano's `known_grads`;
    with a constant 0 cost, the gradients are those of the known ones alone).
    `disconnected_inputs = "ignore"` (`"warn"`): an input the cost does not depend on gets a zero gradient
    (with a warning) instead of a DisconnectedInputError."""

    name = "tensor.grad"
    operands_def = ("cost", "wrt*")
    attrs = {"consider_constant": AttrDef(int), "known_grads": AttrDef(int), "disconnected_inputs": AttrDef(str)}
    num_results = None
    traits = frozenset({PURE})
    differentiable = False  # never differentiated itself: autodiff expands inner grads first
    DISCONNECTED: ClassVar[tuple[str, ...]] = ("raise", "warn", "ignore")

    def _counts(self) -> tuple[int, int]:
        """(consider_constant, known_grads), checked against the number of operands."""
        k, m = self.attributes.get("consider_constant", 0), self.attributes.get("known_grads", 0)
        if k < 0 or m < 0 or k + 2 * m > len(self.operands) - 1:
            raise self.error(f"consider_constant {k} and known_grads {m} need {k} + 2*{m} of the "
                             f"{len(self.operands) - 1} wrt operands")
        return k, m

    def inputs(self) -> list[Value]:
        """The values differentiated for (the wrt operands before the constants and known gradients)."""
        k, m = self._counts()
        return self.operands[1:len(self.operands) - k - 2 * m]

    def constants(self) -> list[Value]:
        k, m = self._counts()
        n = len(self.operands) - 2 * m
        return self.operands[n - k:n]

    def known(self) -> list[tuple[Value, Value]]:
        """The (value, its known gradient) pairs."""
        _, m = self._counts()
        n = len(self.operands)
        return list(zip(self.operands[n - 2 * m:n - m], self.operands[n - m:]))

    def infer_types(self) -> list[Type]:
        cost = tensor_type(self, self.operands[0], "cost")
        if cost.rank != 0 or not cost.element.is_float:
            raise self.error(f"cost must be a 0-d float tensor, got {cost}")
        if self.attributes.get("disconnected_inputs", "raise") not in self.DISCONNECTED:
            raise self.error(f"disconnected_inputs must be one of {list(self.DISCONNECTED)}, "
                             f"got {self.attributes['disconnected_inputs']!r}")
        for k, (v, g) in enumerate(self.known()):
            vt, gt = tensor_type(self, v, "known value"), tensor_type(self, g, "known gradient")
            if not vt.element.is_float or not gt.element.is_float or vt.rank != gt.rank or any(
                    a is not None and c is not None and a != c for a, c in zip(vt.shape, gt.shape)):
                raise self.error(f"known gradient #{k} has type {gt}, its value {vt}: a known gradient is a float "
                                 "tensor of its value's shape")
        types = [tensor_type(self, v, "wrt operand") for v in self.inputs()]
        for t in types:
            if not t.element.is_float:
                raise self.error(f"cannot differentiate with respect to a tensor of {t.element} (not a float)")
        return list(types)

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        raise NotSupportedError(f"'{self.name}' op must be expanded by the autodiff pass before it runs "
                                "(the interp and cpu pipelines run it first; with tir-opt: -p autodiff)", self.loc)


class StopGradientOp(Operation):
    """The identity, through which no gradient flows (JAX's `stop_gradient`, Theano's `disconnected_grad`):
    `%y = tensor.stop_gradient %x : tensor<?xf32>`. The `autodiff` pass replaces it by its operand once the
    grads are expanded, so no later pass sees it."""

    name = "tensor.stop_gradient"
    operands_def = ("x",)
    traits = frozenset({PURE})
    differentiable = False

    def infer_types(self) -> list[Type]:
        return [tensor_type(self, self.operands[0])]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0]]


# ---------------------------------------------------------------- generic (fused loops)


class GenericOp(GenericBase):
    """Fused elementwise + reduction loop nest on values (see dialects/generic_base.py):

        %r = tensor.generic %x {maps = [[0, 1], [0]], iterators = ["parallel", "reduction"],
                                inits = [0.0]} ({
        ^bb0(%v: f32, %acc: f32):
          %e = scalar.exp %v : f32
          %s = scalar.add %acc, %e : f32
          scalar.yield %s : f32
        }) : tensor<?xf32>
    """

    name = "tensor.generic"
    differentiable = False
    operands_def = ("inputs*",)

    @property
    def inputs(self) -> list[Value]:
        return list(self.operands)

    def output_types(self) -> list[Type]:
        return [r.type for r in self.results] if self.results else self.infer_types()

    def infer_types(self) -> list[Type]:
        shapes = [tensor_type(self, v, "input").shape for v in self.operands]
        n_in = len(shapes)
        elems = self.yield_types()
        if len(self.maps) != n_in + len(elems):
            raise self.error(f"has {n_in} inputs and {len(elems)} yielded values but {len(self.maps)} maps")
        sizes = self.static_sizes(shapes)
        return [TensorType(tuple(1 if k < 0 else sizes[k] for k in m), e)
                for m, e in zip(self.output_maps, elems)]

    def verify_(self) -> None:
        ranks = [tensor_type(self, v).rank for v in self.operands] + [r.type.rank for r in self.results]
        self.check_maps(ranks, len(self.operands), size_sources=len(self.operands))
        self.check_body([tensor_type(self, v).element for v in self.operands],
                        [r.type.element for r in self.results])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return self.evaluate(interp, args)


class IndexOp(Operation):
    """The current index along iteration dim `dim` of the enclosing generic op:
    `%i = tensor.index {dim = 1} : index`."""

    name = "tensor.index"
    differentiable = False
    attrs = {"dim": AttrDef(int, required=True)}
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        return [index_type]

    def verify_(self) -> None:
        parent = self.parent_op
        while parent is not None and not isinstance(parent, GenericBase):
            parent = parent.parent_op
        if parent is None:
            raise self.error("must be inside the body of a generic op")
        if not 0 <= self.attributes["dim"] < len(parent.iterators):
            raise self.error(f"dim {self.attributes['dim']} is out of range for "
                             f"{len(parent.iterators)} iteration dims")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [interp.generic_indices[-1][self.attributes["dim"]]]


DIALECT = Dialect("tensor", "value-semantics array ops (Theano's), the high level of the IR")
