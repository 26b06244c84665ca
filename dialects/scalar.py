"""The `scalar` dialect: arithmetic and math on scalar values (`f32`, `i64`, `i1`, ...).

These ops are the bodies of `tensor.generic` and of loops. There is one scalar op
for each elementwise tensor op, with the same text-name suffix, the same numpy
rule and the same dtype rules (numpy's on 0-d values); they are derived from the
tensor classes below rather than written twice:

    %c = scalar.constant {value = 1.0 : f32} : f32
    %s = scalar.add %a, %b : f32
    %e = scalar.exp %s : f32
    %p = scalar.lt %a, %b : i1
    %r = scalar.select %p, %a, %b : f32        (tensor.where)
    %i = scalar.cast %r {dtype = i32} : i32
    %k = scalar.add %i0, %i1 : index          (`index` operands give `index`)
    scalar.yield %i : i32

Interpreter rules return numpy scalars of the result dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.attributes import Typed
from ..ir.builder import Builder
from ..ir.core import COMMUTATIVE, CONSTANT_LIKE, PURE, TERMINATOR, AttrDef, Operation, Value
from ..ir.dialect import Dialect
from ..ir.types import ScalarType, Type, i1, i64, index
from . import tensor
from .tensor_common import result_dtype, runtime_error

__all__ = ["COMBINER_OF_KIND", "ConstantOp", "ScalarElementwiseOp", "YieldOp", "SCALAR_OF_TENSOR", "TENSOR_OF_SCALAR",
           "cast_to"]


def scalar_type(op: Operation, v: Value) -> ScalarType:
    if not isinstance(v.type, ScalarType):
        raise op.error(f"operand must be a scalar, got {v.type}")
    return v.type


class ScalarElementwiseOp(Operation):
    """Base of the derived scalar ops: `fn`, operands, attributes and the two hooks
    (`element_type`, `compute`) come from the tensor op named by `tensor_op`."""

    tensor_op: ClassVar[type[tensor.ElementwiseOp]]
    fn: ClassVar[Any]
    traits = frozenset({PURE})
    # Set on reduction combiners (add, mul, maximum, minimum, and, or) from their tensor twin: see tensor.BinaryOp.
    reduction_kind: ClassVar[str | None] = None
    omp_reduction: ClassVar[str | None] = None
    identity: ClassVar[Callable[[ScalarType], Any]]
    python: ClassVar[str | None] = None  # the Python form of host plans (tensor.ElementwiseOp.python)
    python_types: ClassVar[frozenset[str]] = frozenset()
    python_form = tensor.ElementwiseOp.python_form

    def element_type(self, dtypes: Sequence[np.dtype]) -> ScalarType:
        t = result_dtype(self, type(self).fn, dtypes)
        # Arithmetic on `index` (loop bounds, subscripts) stays `index`, where numpy alone would say
        # i64: every operand is `index`, or an `i1` (the condition of select).
        types = {v.type for v in self.operands}
        if t == i64 and index in types and types <= {index, i1}:
            return index
        return t

    def compute(self, *args: Any) -> Any:
        return type(self).fn(*args)

    def infer_types(self) -> list[Type]:
        return [self.element_type([scalar_type(self, v).dtype for v in self.operands])]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        out_t = self.results[0].type if self.results else self.infer_types()[0]
        assert isinstance(out_t, ScalarType)
        with np.errstate(all="ignore"):
            try:
                value = self.compute(*[np.asarray(a) for a in args])
            except ValueError as e:
                raise runtime_error(self, str(e)) from None
        return [np.asarray(value).astype(out_t.dtype)[()]]


def _scalar_name(tensor_name: str) -> str:
    suffix = tensor_name.split(".", 1)[1]
    return "scalar." + ("select" if suffix == "where" else suffix)


SCALAR_OF_TENSOR: dict[type[Operation], type[ScalarElementwiseOp]] = {}
TENSOR_OF_SCALAR: dict[type[ScalarElementwiseOp], type[Operation]] = {}
# The reduction combiners by `reduction_kind` (the names `simd_reduction` attributes hold).
COMBINER_OF_KIND: dict[str, type[ScalarElementwiseOp]] = {}


def _derive(tcls: type[tensor.ElementwiseOp]) -> type[ScalarElementwiseOp]:
    """The scalar twin of an elementwise tensor op class."""
    name = _scalar_name(tcls.name)
    cls_name = "SelectOp" if name == "scalar.select" else tcls.__name__
    body: dict[str, Any] = {
        "__doc__": f"`{name}` on scalars: the rule of `{tcls.name}` (see its class).",
        "__module__": __name__,
        "__qualname__": cls_name,
        "name": name,
        "tensor_op": tcls,
        "fn": staticmethod(tcls.fn),
        "operands_def": tcls.operands_def,
        "attrs": dict(tcls.attrs),
        "traits": frozenset({PURE} | ({COMMUTATIVE} & tcls.traits)),
    }
    # The Python form of host plans (runtime/host_plan.py) is the tensor op's too.
    body.update(python=tcls.python, python_types=tcls.python_types)
    # Ops whose rule depends on attributes (cast) override the hooks; reuse them as they are.
    for hook in ("element_type", "compute", "python_form"):
        impl = getattr(tcls, hook)
        if impl is not getattr(tensor.ElementwiseOp, hook):
            body[hook] = impl
    # A reduction combiner's facts (kind, OpenMP identifier, identity: see tensor.BinaryOp) hold for its twin.
    if issubclass(tcls, tensor.BinaryOp) and tcls.reduction_kind is not None:
        body.update(reduction_kind=tcls.reduction_kind, omp_reduction=tcls.omp_reduction,
                    identity=staticmethod(tcls.identity))
    cls = type(cls_name, (ScalarElementwiseOp,), body)
    SCALAR_OF_TENSOR[tcls] = cls
    TENSOR_OF_SCALAR[cls] = tcls
    if cls.reduction_kind is not None:
        COMBINER_OF_KIND[cls.reduction_kind] = cls
    return cls


def _elementwise_tensor_ops() -> list[type[tensor.ElementwiseOp]]:
    return [c for c in tensor.DIALECT.ops if issubclass(c, tensor.ElementwiseOp)]


for _tcls in _elementwise_tensor_ops():
    _cls = _derive(_tcls)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)


def cast_to(b: Builder, v: Value, elem: ScalarType) -> Value:
    """`v` converted to `elem` with Builder `b` (v itself when it has that type)."""
    return v if v.type == elem else b.create(SCALAR_OF_TENSOR[tensor.CastOp], v, dtype=elem).result


class ConstantOp(Operation):
    """`%c = scalar.constant {value = 1.0 : f32} : f32`"""

    name = "scalar.constant"
    attrs = {"value": AttrDef(Typed, required=True)}
    traits = frozenset({PURE, CONSTANT_LIKE})

    def infer_types(self) -> list[Type]:
        return [self.attributes["value"].type]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        v = self.attributes["value"]
        return [v.type.dtype.type(v.value)]


class YieldOp(Operation):
    """Ends the body of a `tensor.generic` or a loop: `scalar.yield %a, %b : f32, f32`."""

    name = "scalar.yield"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})

    def infer_types(self) -> list[Type]:
        return []

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []


DIALECT = Dialect("scalar", "arithmetic and math on scalar values")
