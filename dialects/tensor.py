"""The `tensor` dialect: value-semantics array ops (Theano's), the high level of the IR.

Every op is declared once, in one class below: operands, attributes, type
inference (numpy dtype promotion and broadcasting; `None` dims are dynamic),
verifier and interpreter rule (numpy). The docstring of each class shows the
op as printed IR.

Result dtypes follow numpy exactly: `result_dtype` asks numpy what the op's
numpy function returns for the operand dtypes, so the interpreter, type
inference and numpy always agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.core import COMMUTATIVE, ELEMENTWISE, PURE, AttrDef, Operation, Value
from ..ir.types import Dim, ScalarType, TensorType, Type, scalar

# ---------------------------------------------------------------- helpers


def tensor_type(op: Operation, v: Value, what: str = "operand") -> TensorType:
    if not isinstance(v.type, TensorType):
        raise op.error(f"{what} must be a tensor, got {v.type}")
    return v.type


def fmt_shape(shape: Sequence[Dim]) -> str:
    """`(3, 4)`, `(?, 4)`, `()` as in error messages."""
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(op: Operation, shapes: Sequence[Sequence[Dim]]) -> tuple[Dim, ...]:
    """numpy broadcasting where None is an unknown dim (it may be 1 at run time)."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise op.error("operand shapes " + " and ".join(fmt_shape(s) for s in shapes) + " do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _probe_dtype(fn: Callable[..., Any], dtypes: tuple[np.dtype, ...], kwargs: tuple = ()) -> np.dtype:
    args = [np.ones((1,), dt) for dt in dtypes]
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args, **dict(kwargs))).dtype


def result_dtype(op: Operation, fn: Callable[..., Any], dtypes: Sequence[np.dtype], **kwargs: Any) -> ScalarType:
    """The element type numpy gives `fn` applied to arrays of these dtypes."""
    try:
        dt = _probe_dtype(fn, tuple(dtypes), tuple(sorted(kwargs.items())))
    except TypeError as e:
        names = ", ".join(str(scalar(d)) for d in dtypes)
        raise op.error(f"is not defined for element types ({names}): {e}") from None
    return scalar(dt)


def normalize_axes(op: Operation, axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Axes in [0, rank), sorted, checked; None means every axis."""
    if axes is None:
        return tuple(range(rank))
    out = []
    for a in axes:
        if not isinstance(a, int) or not -rank <= a < max(rank, 1) or (rank == 0 and a not in (0, -1)):
            raise op.error(f"axis {a} is out of range for a tensor of rank {rank}")
        out.append(a % rank if rank else 0)
    if len(set(out)) != len(out):
        raise op.error(f"repeated axis in {list(axes)}")
    return tuple(sorted(out))


# ---------------------------------------------------------------- elementwise


class ElementwiseOp(Operation):
    """Base of elementwise ops: numpy broadcasting of all operands, `fn` is the numpy rule."""

    fn: ClassVar[Callable[..., Any]]
    traits = frozenset({PURE, ELEMENTWISE})

    def infer_types(self) -> list[Type]:
        types = [tensor_type(self, v) for v in self.operands]
        shape = broadcast_shapes(self, [t.shape for t in types])
        elem = result_dtype(self, type(self).fn, [t.dtype for t in types])
        return [TensorType(shape, elem)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            return [type(self).fn(*args)]


class UnaryOp(ElementwiseOp):
    operands_def = ("x",)


class BinaryOp(ElementwiseOp):
    operands_def = ("lhs", "rhs")


class AddOp(BinaryOp):
    """Elementwise sum: `%c = tensor.add %a, %b : tensor<4xf32>`."""

    name = "tensor.add"
    fn = staticmethod(np.add)
    traits = BinaryOp.traits | {COMMUTATIVE}


class ExpOp(UnaryOp):
    """`%y = tensor.exp %x : tensor<?xf32>`"""

    name = "tensor.exp"
    fn = staticmethod(np.exp)


# ---------------------------------------------------------------- reductions


class ReductionOp(Operation):
    """Base of reductions over `axes` (all when absent), numpy's `keepdims`."""

    operands_def = ("x",)
    attrs = {"axes": AttrDef(tuple), "keepdims": AttrDef(bool)}
    traits = frozenset({PURE})
    fn: ClassVar[Callable[..., Any]]

    def reduced_axes(self) -> tuple[int, ...]:
        return normalize_axes(self, self.attributes.get("axes"), tensor_type(self, self.operands[0]).rank)

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        axes = self.reduced_axes()
        keep = bool(self.attributes.get("keepdims", False))
        shape = tuple(1 if k in axes else d for k, d in enumerate(t.shape) if keep or k not in axes)
        return [TensorType(shape, result_dtype(self, type(self).fn, [t.dtype], axis=0))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        with np.errstate(all="ignore"):
            return [type(self).fn(args[0], axis=self.reduced_axes(),
                                  keepdims=bool(self.attributes.get("keepdims", False)))]


class SumOp(ReductionOp):
    """`%s = tensor.sum %x {axes = [1], keepdims = true} : tensor<?x1xf32>`"""

    name = "tensor.sum"
    fn = staticmethod(np.sum)


# ---------------------------------------------------------------- creation


class ConstantOp(Operation):
    """A constant: `%c = tensor.constant {value = 0.1 : f32} : tensor<f32>` or
    `%c = tensor.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>`."""

    name = "tensor.constant"
    attrs = {"value": AttrDef(required=True)}
    traits = frozenset({PURE})

    @property
    def array(self) -> np.ndarray:
        from ..ir.attributes import Dense, Typed
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
