"""Shape, indexing and creation ops of the `tensor` dialect (re-exported by dialects/tensor.py).

Sizes and bounds may be dynamic: an attribute entry `?` takes the value of the
op's next trailing operand, in order (MLIR's mixed static/dynamic convention):
`%y = tensor.reshape %x sizes %n {shape = [?, -1]} : tensor<?x?xf32>`. A size operand is an
`index` or a 0-d integer tensor, written after the word `sizes` in every op (`tensor.zeros sizes %n`);
other trailing segments are named when they follow operands (`bounds`).
Where such an operand is a `tensor.constant`, inference reads it and keeps the
dim static.

Basic slicing (`subtensor`, `set_subtensor`, `inc_subtensor`) is described by
per-dim attribute arrays of one length L (dims past L are kept whole):

    begin = [1, none, ?]   start (or, for an index dim, the index); none: absent
    end   = [none, none, none]   stop; none: absent (must be none for an index dim)
    step  = [none, 2, none]      step; none: absent (must be none for an index dim)
    index_dims = [2]       dims indexed by an integer (dropped from the result)

`?` entries are taken in the order begin..., end..., step... (MLIR's
offsets/sizes/strides order). Integer-array indexing along one axis is
`tensor.take`; its updates are `tensor.set_take` / `tensor.inc_take`
(Theano's AdvancedIncSubtensor1: repeated indices accumulate, like np.add.at).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import ELEMENTWISE, OP_REGISTRY, PURE, AttrDef, Operation, Value
from ..ir.rewriter import PatternRewriter, RewritePattern, broadcasts_into, make_constant, replace_with_built
from ..ir.types import Dim, ScalarType, TensorType, Type, f64, i64, scalar
from .tensor_common import (
    DynamicMarker,
    bind_dynamic,
    check_broadcast_to,
    check_broadcast_to_run_time,
    check_size_operands,
    check_sizes_run_time,
    count_dynamic,
    fmt_shape,
    normalize_axes,
    normalize_axis,
    runtime_error,
    size_check_failed,
    tensor_type,
)
from .tensor_grad import Grads, dim, emit, reshape_like, unbroadcast, zeros_like

__all__ = [
    "AllocOp", "ArangeOp", "BroadcastToOp", "ConcatenateOp", "DimshuffleOp", "ExpandDimsOp", "EyeOp",
    "FlattenOp", "IncSubtensorOp", "IncTakeOp", "OnesOp", "ReshapeOp", "SetSubtensorOp", "SetTakeOp",
    "ShapeOp", "SqueezeOp", "StackOp", "SubtensorOp", "TakeOp", "TransposeOp", "ZerosOp", "check_range",
    "out_of_bounds",
]

_SIZE = (int, DynamicMarker)
_PURE = frozenset({PURE})


def _entries(op: Operation, key: str) -> tuple[Any, ...]:
    v = op.attributes.get(key)
    return () if v is None else v


def _check_cast(op: Operation, src: ScalarType, dst: ScalarType) -> None:
    if not np.can_cast(src.dtype, dst.dtype, "same_kind"):
        raise op.error(f"cannot store {src} values into a tensor of {dst}")


def _index_value(b: Builder, e: int | Value) -> Value:
    """A size as a 0-d i64 tensor (a constant when static)."""
    return e if isinstance(e, Value) else b.insert(make_constant(np.asarray(e, np.int64), b.loc)).result


def _entry(e: int | Value) -> int | DynamicMarker:
    return e if isinstance(e, int) else DYN


# ---------------------------------------------------------------- shape ops


class ShapeOfElementwise(RewritePattern):
    """`tensor.shape` of an elementwise op's result is computed from its operands' shapes, as numpy
    broadcasts them (a dim of 1 takes the other operand's dim; lower ranks are padded with 1s on the
    left), so a shape query never keeps the op's result alive: the count of `mean((x - y) ** 2)` no longer
    makes fuse-elementwise store the squares for it. Whether the operands broadcast is checked by the
    elementwise op itself."""

    root: ClassVar[Any] = None  # ShapeOp, set below it

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        owner = getattr(op.operands[0], "op", None)
        if owner is None or not owner.has_trait(ELEMENTWISE):
            return False
        rank = tensor_type(op, op.operands[0]).rank
        parts = list(dict.fromkeys(v for v in owner.operands if isinstance(v.type, TensorType) and v.type.rank))
        if not parts:
            return False

        def make(name: str, *args: Value, **attrs: Any) -> Value:
            return rewriter.insert_before(op, OP_REGISTRY[name].build(*args, loc=op.loc, **attrs)).result

        def constant(value: Any) -> Value:
            return rewriter.insert_before(op, make_constant(np.asarray(value, np.int64), op.loc)).result

        def shape_of(v: Value) -> Value:
            s = make(ShapeOp.name, v)
            pad = rank - v.type.rank  # type: ignore[attr-defined]
            return make(ConcatenateOp.name, constant(np.ones(pad)), s, axis=0) if pad else s

        shape = shape_of(parts[0])
        for v in parts[1:]:
            shape = make("tensor.where", make("tensor.eq", shape, constant(1)), shape_of(v), shape)
        rewriter.replace_op(op, [shape])
        return True


class ShapeFromOperandDims(RewritePattern):
    """`tensor.shape` of the result of an op that says which operand dim each of its result dims is
    (`dims_from_operands`: a dot's rows are its left operand's, its columns its right operand's) is made of those
    operands' shapes, so a shape query does not keep the op alive (a gradient's broadcasting check of a
    product that only a recomputed step of a scan would otherwise compute)."""

    root: ClassVar[Any] = None  # ShapeOp, set below it

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        owner = getattr(op.operands[0], "op", None)
        dims = owner.dims_from_operands() if owner is not None and hasattr(owner, "dims_from_operands") else None
        if not dims:
            return False

        def make(name: str, *args: Value, **attrs: Any) -> Value:
            return rewriter.insert_before(op, OP_REGISTRY[name].build(*args, loc=op.loc, **attrs)).result

        shapes: dict[int, Value] = {}
        parts = []
        for i, k in dims:
            if i not in shapes:
                shapes[i] = make(ShapeOp.name, owner.operands[i])
            parts.append(make(SubtensorOp.name, shapes[i], begin=(k,), end=(k + 1,), step=(None,)))
        rewriter.replace_op(op, [make(ConcatenateOp.name, *parts, axis=0) if len(parts) > 1 else parts[0]])
        return True


class ShapeOp(Operation):
    """The shape as a vector: `%s = tensor.shape %x : tensor<2xi64>`."""

    name = "tensor.shape"
    differentiable = False
    operands_def = ("x",)
    traits = _PURE
    canonicalization_patterns = (ShapeOfElementwise(), ShapeFromOperandDims())

    def infer_types(self) -> list[Type]:
        return [TensorType((tensor_type(self, self.operands[0]).rank,), i64)]

    def fold(self, operands: Sequence[np.ndarray | None]) -> list[Any] | None:
        """The shape of a tensor of static shape is a constant."""
        t = tensor_type(self, self.operands[0])
        return [np.array(t.shape, np.int64)] if t.is_static else None

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.array(np.shape(args[0]), dtype=np.int64)]


ShapeOfElementwise.root = ShapeOp
ShapeFromOperandDims.root = ShapeOp


def sized_like(op: Operation, other: Value) -> bool:
    """Whether the result of a broadcast_to, alloc, zeros or ones has other's shape: each dim static and
    equal, or read from other's shape (`tensor.shape` of other, indexed at that dim)."""
    t, o = tensor_type(op, op.result), tensor_type(op, other)
    sizes = iter(op.operands[1:] if isinstance(op, BroadcastToOp) else op.operands)
    if t.rank != o.rank:
        return False
    for k, (e, d) in enumerate(zip(op.attributes["shape"], o.shape)):
        if e is DYN:
            read = getattr(next(sizes), "op", None)
            shape = getattr(read.operands[0], "op", None) if read is not None and read.name == SubtensorOp.name \
                else None
            if shape is None or shape.name != ShapeOp.name or shape.operands[0] is not other \
                    or read.attributes.get("index_dims") != (0,) or read.attributes["begin"] != (k,):
                return False
        elif e != d:
            return False
    return True


class SameShape(RewritePattern):
    """A reshape, broadcast_to or alloc to its operand's own static type is the operand, and so is a
    broadcast_to or alloc sized by the operand's own shape (Theano's local_useless_reshape,
    local_useless_alloc)."""

    root: ClassVar[Any] = None  # (ReshapeOp, BroadcastToOp, AllocOp), set below them

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = op.operands[0]
        if x.type != op.result.type or not (tensor_type(op, x).is_static
                                            or isinstance(op, BroadcastToOp) and sized_like(op, x)):
            return False
        rewriter.replace_op(op, [x])
        return True


class CollapseReshapes(RewritePattern):
    """A reshape of a reshape is one reshape of the inner one's operand, with the outer one's sizes (where
    the result type stays the same). Only a program whose inner reshape fails at run time would differ."""

    root: ClassVar[Any] = None  # ReshapeOp, set below it

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = getattr(op.operands[0], "op", None)
        if inner is None or inner.name != op.name:
            return False
        return replace_with_built(op, lambda b: b.create(type(op), inner.operands[0], *op.operands[1:],
                                                        **op.attributes).result, rewriter)


class ReshapeOp(Operation):
    """`%y = tensor.reshape %x sizes %n {shape = [?, -1]} : tensor<?x?xf32>`: entries are sizes, one -1
    (the rest of the elements) or `?` (a 0-d integer operand, in order)."""

    name = "tensor.reshape"
    operands_def = ("x", "sizes*")
    attrs = {"shape": AttrDef(tuple, required=True)}
    traits = _PURE
    canonicalization_patterns = (CollapseReshapes(),)
    # The run-time checks (bufferize's mem.check and the interpreter alike).
    ZERO_REST: ClassVar[str] = "cannot reshape: the other sizes of a -1 reshape multiply to 0"
    COUNT: ClassVar[str] = "cannot reshape {0} elements into a shape of {1} elements"
    NEGATIVE: ClassVar[str] = ("cannot reshape into a negative size {0} (only a -1 written in the shape means "
                               "'the rest')")

    def size_entries(self, values: Sequence[Any] | None = None) -> list[Any]:
        shape = self.attributes["shape"]
        for e in shape:
            if e is not DYN and (not isinstance(e, int) or isinstance(e, bool) or e < -1):
                raise self.error(f"shape entries must be sizes, -1 or ?, got {e!r}")
        if sum(1 for e in shape if e == -1 and e is not DYN) > 1:
            raise self.error(f"shape {list(shape)} has more than one -1")
        dyn = self.operands[1:]
        check_size_operands(self, dyn, count_dynamic([shape]))
        row = bind_dynamic([shape], dyn if values is None else values)[0]
        assert row is not None
        return row

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        sizes = self.size_entries()
        known = [s for s in sizes if s is not DYN and s != -1]
        total = math.prod(t.shape) if t.is_static else None
        out: list[Dim] = [None if s is DYN else s for s in sizes]
        n_known = math.prod(known)
        if -1 in out:
            k = out.index(-1)
            if total is not None and DYN not in sizes:
                if n_known == 0 or total % n_known:
                    raise self.error(f"cannot reshape a tensor of shape {fmt_shape(t.shape)} into "
                                     f"shape {fmt_shape(out)}")
                out[k] = total // n_known
            else:
                out[k] = None
        elif total is not None and DYN not in sizes and total != n_known:
            raise self.error(f"cannot reshape a tensor of shape {fmt_shape(t.shape)} ({total} elements) into "
                             f"shape {fmt_shape(out)} ({n_known} elements)")
        return [TensorType(tuple(out), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        sizes = [int(s) for s in self.size_entries(args[1:])]
        for s, e in zip(sizes, self.attributes["shape"]):
            if e is DYN and s < 0:
                raise size_check_failed(self, self.NEGATIVE, s)
        rest = [k for k, e in enumerate(self.attributes["shape"]) if e is not DYN and e == -1]
        total = args[0].size
        if rest:
            known = math.prod(s for k, s in enumerate(sizes) if k != rest[0])
            if known == 0:
                raise size_check_failed(self, self.ZERO_REST)
            sizes[rest[0]] = total // known
        if math.prod(sizes) != total:
            raise size_check_failed(self, self.COUNT, total, math.prod(sizes))
        try:
            return [np.reshape(args[0], sizes)]
        except ValueError as e:
            raise runtime_error(self, str(e)) from None

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [reshape_like(b, out_grads[0], self.operands[0]), *[None] * (len(self.operands) - 1)]


CollapseReshapes.root = ReshapeOp


class ComposeShuffles(RewritePattern):
    """A dimshuffle or transpose of a dimshuffle or transpose is one op, their patterns composed: a
    transpose where the result permutes all dims, nothing where it is the identity, else a dimshuffle
    (Theano's local_dimshuffle_lift); an identity dimshuffle or transpose alone is its operand."""

    root: ClassVar[Any] = None  # (DimshuffleOp, TransposeOp), set below them

    @staticmethod
    def pattern(op: Operation) -> tuple[Any, ...]:
        return tuple(op.attributes["pattern"]) if op.name == DimshuffleOp.name else op.perm()  # type: ignore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        x = op.operands[0]
        pattern = self.pattern(op)
        inner = getattr(x, "op", None)
        if inner is not None and inner.name in (DimshuffleOp.name, TransposeOp.name):
            inner_pattern = self.pattern(inner)
            pattern = tuple(p if p == "x" else inner_pattern[p] for p in pattern)
            x = inner.operands[0]
        elif pattern != tuple(range(tensor_type(op, x).rank)):
            return False
        rank = tensor_type(op, x).rank
        if pattern == tuple(range(rank)):
            return replace_with_built(op, lambda b: x, rewriter)
        if sorted(p for p in pattern if p != "x") == list(range(rank)) and "x" not in pattern:
            return replace_with_built(op, lambda b: b.create(TransposeOp, x, perm=pattern).result, rewriter)
        return replace_with_built(op, lambda b: b.create(DimshuffleOp, x, pattern=pattern).result, rewriter)


class DimshuffleOp(Operation):
    """Theano's dimshuffle: `%y = tensor.dimshuffle %x {pattern = [1, "x", 0]} : tensor<3x1x2xf32>`.
    Integers pick input dims in the new order, "x" inserts a broadcastable 1-dim; input dims not
    named are dropped and must be static 1."""

    name = "tensor.dimshuffle"
    operands_def = ("x",)
    attrs = {"pattern": AttrDef(tuple, required=True)}
    traits = _PURE
    canonicalization_patterns = (ComposeShuffles(),)

    def kept(self) -> list[int]:
        t = tensor_type(self, self.operands[0])
        kept = []
        for p in self.attributes["pattern"]:
            if p == "x":
                continue
            if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < t.rank:
                raise self.error(f"pattern entry {p!r} is not \"x\" or a dim of a tensor of rank {t.rank}")
            if p in kept:
                raise self.error(f"pattern {list(self.attributes['pattern'])} repeats dim {p}")
            kept.append(p)
        for k, d in enumerate(t.shape):
            if k not in kept and d != 1:
                raise self.error(f"dimension {k} of size {'?' if d is None else d} is dropped by the "
                                 f"pattern but is not 1")
        return kept

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        self.kept()
        return [TensorType(tuple(1 if p == "x" else t.shape[p] for p in self.attributes["pattern"]), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x = args[0]
        kept = self.kept()
        dropped = tuple(k for k in range(x.ndim) if k not in kept)
        y = np.squeeze(x, axis=dropped) if dropped else x
        order = sorted(kept)
        y = np.transpose(y, [order.index(p) for p in kept])
        it = iter(y.shape)
        return [y.reshape([1 if p == "x" else next(it) for p in self.attributes["pattern"]])]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # the inverse shuffle: each input dim from where the pattern put it, a dropped dim back as a 1
        pattern = list(self.attributes["pattern"])
        kept = self.kept()
        back = tuple(pattern.index(k) if k in kept else "x" for k in range(tensor_type(self, self.operands[0]).rank))
        return [emit(b, "dimshuffle", out_grads[0], pattern=back)]


class TransposeOp(Operation):
    """`%y = tensor.transpose %x {perm = [1, 0]} : tensor<4x3xf32>` (perm absent: reversed dims)."""

    name = "tensor.transpose"
    operands_def = ("x",)
    attrs = {"perm": AttrDef(tuple)}
    traits = _PURE

    def perm(self) -> tuple[int, ...]:
        t = tensor_type(self, self.operands[0])
        perm = self.attributes.get("perm")
        if perm is None:
            return tuple(reversed(range(t.rank)))
        if sorted(p if isinstance(p, int) else -1 for p in perm) != list(range(t.rank)):
            raise self.error(f"perm {list(perm)} is not a permutation of the {t.rank} dims")
        return tuple(perm)

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        return [TensorType(tuple(t.shape[p] for p in self.perm()), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.transpose(args[0], self.perm())]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        perm = self.perm()
        return [emit(b, "transpose", out_grads[0], perm=tuple(perm.index(k) for k in range(len(perm))))]


ComposeShuffles.root = (DimshuffleOp, TransposeOp)


class ExpandDimsOp(Operation):
    """Insert 1-dims at `axes` of the result: `%y = tensor.expand_dims %x {axes = [0]} : tensor<1x3xf32>`."""

    name = "tensor.expand_dims"
    operands_def = ("x",)
    attrs = {"axes": AttrDef(tuple, required=True)}
    traits = _PURE

    def axes(self) -> tuple[int, ...]:
        t = tensor_type(self, self.operands[0])
        return normalize_axes(self, self.attributes["axes"], t.rank + len(self.attributes["axes"]))

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        axes = self.axes()
        it = iter(t.shape)
        return [TensorType(tuple(1 if k in axes else next(it) for k in range(t.rank + len(axes))), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.expand_dims(args[0], self.axes())]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [reshape_like(b, out_grads[0], self.operands[0]), *[None] * (len(self.operands) - 1)]


class SqueezeOp(Operation):
    """Drop 1-dims: `%y = tensor.squeeze %x {axes = [0]} : tensor<3xf32>` (axes absent: every static 1)."""

    name = "tensor.squeeze"
    operands_def = ("x",)
    attrs = {"axes": AttrDef(tuple)}
    traits = _PURE

    def axes(self) -> tuple[int, ...]:
        t = tensor_type(self, self.operands[0])
        if self.attributes.get("axes") is None:
            return tuple(k for k, d in enumerate(t.shape) if d == 1)
        axes = normalize_axes(self, self.attributes["axes"], t.rank)
        for a in axes:
            if t.shape[a] not in (1, None):
                raise self.error(self.not_one(a).format(t.shape[a]))
        return axes

    @staticmethod
    def not_one(axis: int) -> str:
        """Squeezing a dim that is not 1: built, run-time (bufferize's mem.check) and interpreted alike."""
        return f"cannot squeeze dimension {axis} of size {{0}}: only a dimension of size 1 can be squeezed"

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        axes = self.axes()
        return [TensorType(tuple(d for k, d in enumerate(t.shape) if k not in axes), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        axes = self.axes()
        for a in axes:
            if args[0].shape[a] != 1:
                raise size_check_failed(self, self.not_one(a), args[0].shape[a])
        return [np.squeeze(args[0], axis=axes)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [reshape_like(b, out_grads[0], self.operands[0]), *[None] * (len(self.operands) - 1)]


class FillCut(RewritePattern):
    """A broadcast_to, alloc, zeros or ones read by an elementwise op where another operand of that op has
    at least its shape is read as its value (a 0-d constant for zeros and ones): `x + broadcast_to(v) ->
    x + v`, `x * ones -> x * 1`, then x (Theano's local_fill_cut, local_useless_alloc). The elementwise
    result keeps its shape and type."""

    root: ClassVar[Any] = None  # (BroadcastToOp, AllocOp, ZerosOp, OnesOp), set below them

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        value: Value | None = op.operands[0] if isinstance(op, BroadcastToOp) else None
        changed = False
        for use in list(op.result.uses):
            user, i = use.op, use.index
            others = [o for k, o in enumerate(user.operands) if k != i and o is not op.result]
            if not user.has_trait(ELEMENTWISE) or not any(
                    broadcasts_into(op.result, o) or sized_like(op, o) for o in others):
                continue
            if value is None:
                fill = np.full((), op.fill, tensor_type(op, op.result).dtype)  # type: ignore[attr-defined]
                value = rewriter.insert_before(op, make_constant(fill, op.loc)).result
            rewriter.modify_op_in_place(user, lambda user=user, i=i, value=value: user.set_operand(i, value))
            changed = True
        return changed


class BroadcastToOp(Operation):
    """numpy's broadcast_to: `%y = tensor.broadcast_to %x sizes %n {shape = [?, 3]} : tensor<?x3xf32>`."""

    name = "tensor.broadcast_to"
    operands_def = ("x", "sizes*")
    attrs = {"shape": AttrDef(tuple, required=True)}
    traits = _PURE
    canonicalization_patterns = (SameShape(), FillCut())

    def size_entries(self, values: Sequence[Any] | None = None) -> list[Any]:
        shape = self.attributes["shape"]
        for e in shape:
            if e is not DYN and (not isinstance(e, int) or isinstance(e, bool) or e < 0):
                raise self.error(f"shape entries must be non-negative sizes or ?, got {e!r}")
        dyn = self.operands[1:]
        check_size_operands(self, dyn, count_dynamic([shape]))
        row = bind_dynamic([shape], dyn if values is None else values)[0]
        assert row is not None
        return row

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        dst = tuple(None if s is DYN else s for s in self.size_entries())
        return [TensorType(check_broadcast_to(self, t.shape, dst, "operand"), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        sizes = [int(s) for s in self.size_entries(args[1:])]
        check_sizes_run_time(self, sizes)
        check_broadcast_to_run_time(self, "operand", np.shape(args[0]), sizes)
        try:
            return [np.array(np.broadcast_to(args[0], sizes))]
        except ValueError as e:
            raise runtime_error(self, str(e)) from None

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [unbroadcast(b, out_grads[0], self.operands[0]), *[None] * (len(self.operands) - 1)]


class AllocOp(BroadcastToOp):
    """Theano's alloc: a new tensor filled by broadcasting `value`, dtype of the value:
    `%y = tensor.alloc %v sizes %n {shape = [?, 3]} : tensor<?x3xf32>`."""

    name = "tensor.alloc"
    operands_def = ("value", "sizes*")


SameShape.root = (ReshapeOp, BroadcastToOp, AllocOp)


class FlattenOp(Operation):
    """Theano's flatten(x, ndim): keep the first ndim-1 dims, collapse the rest:
    `%y = tensor.flatten %x {ndim = 2} : tensor<?x12xf32>`."""

    name = "tensor.flatten"
    operands_def = ("x",)
    attrs = {"ndim": AttrDef(int, default=1)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = tensor_type(self, self.operands[0])
        n = self.attributes.get("ndim", 1)
        if n < 1 or n > max(t.rank, 1):
            raise self.error(f"ndim {n} must be in [1, {max(t.rank, 1)}] for a tensor of rank {t.rank}")
        rest = t.shape[n - 1:]
        last = math.prod(rest) if all(d is not None for d in rest) else None
        return [TensorType(t.shape[:n - 1] + (last,), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x = args[0]
        n = self.attributes.get("ndim", 1)
        return [np.reshape(x, x.shape[:n - 1] + (-1,))]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        return [reshape_like(b, out_grads[0], self.operands[0]), *[None] * (len(self.operands) - 1)]


class ConcatenateOp(Operation):
    """`%y = tensor.concatenate %a, %b {axis = 0} : tensor<7x3xf32>` (numpy dtype promotion)."""

    name = "tensor.concatenate"
    operands_def = ("inputs*",)
    attrs = {"axis": AttrDef(int, default=0)}
    traits = _PURE

    def the_axis(self) -> int:
        types = [tensor_type(self, v) for v in self.operands]
        if not types:
            raise self.error("needs at least one input")
        rank = types[0].rank
        if rank == 0:
            raise self.error("cannot concatenate 0-d tensors")
        for t in types:
            if t.rank != rank:
                raise self.error(f"inputs have ranks {[u.rank for u in types]}, not all equal")
        return normalize_axis(self, self.attributes.get("axis", 0), rank)

    @staticmethod
    def mismatch(i: int, d: int) -> str:
        """The run-time check that input #i fits input #0 in dim d (bufferize's mem.check and the
        interpreter alike), the sizes `{0}`, `{1}` in operand order."""
        return f"inputs #0 and #{i} differ in dimension {d}: sizes {{0}} and {{1}}"

    def infer_types(self) -> list[Type]:
        types = [tensor_type(self, v) for v in self.operands]
        a = self.the_axis()
        out: list[Dim] = []
        for k in range(types[0].rank):
            dims = [t.shape[k] for t in types]
            if k == a:
                out.append(sum(dims) if all(d is not None for d in dims) else None)  # type: ignore[arg-type]
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise self.error(f"input shapes {', '.join(fmt_shape(t.shape) for t in types)} differ "
                                 f"in dimension {k}")
            out.append(known.pop() if known else None)
        elem = scalar(np.result_type(*[t.dtype for t in types]))
        return [TensorType(tuple(out), elem)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        axis = self.the_axis()
        self.check_sizes(self, args, axis)
        return [np.concatenate(args, axis=axis)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # each input's slice of the gradient along the axis, at the sum of the sizes before it
        axis = self.the_axis()
        grads: Grads = []
        start: int | Value = 0
        for v in self.operands:
            size = dim(b, v, axis)
            end = start + size if isinstance(start, int) and isinstance(size, int) else \
                emit(b, "add", *(_index_value(b, e) for e in (start, size)))
            bounds = [e for e in (start, end) if not isinstance(e, int)]
            grads.append(emit(b, "subtensor", out_grads[0], *bounds, begin=(None,) * axis + (_entry(start),),
                              end=(None,) * axis + (_entry(end),), step=(None,) * (axis + 1)))
            start = end
        return grads

    @staticmethod
    def check_sizes(op: Operation, args: Sequence[np.ndarray], axis: int) -> None:
        """The interpreter's check of the sizes besides `axis`, in bufferize's order and wording."""
        first = args[0]
        for i, x in enumerate(args[1:], 1):
            for d in range(first.ndim):
                if d != axis and x.shape[d] != first.shape[d]:
                    raise size_check_failed(op, ConcatenateOp.mismatch(i, d), first.shape[d], x.shape[d])


class StackOp(Operation):
    """Join equal-shape tensors along a new axis: `%y = tensor.stack %a, %b {axis = 0} : tensor<2x3xf32>`."""

    name = "tensor.stack"
    operands_def = ("inputs*",)
    attrs = {"axis": AttrDef(int, default=0)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        types = [tensor_type(self, v) for v in self.operands]
        if not types:
            raise self.error("needs at least one input")
        rank = types[0].rank
        if any(t.rank != rank for t in types):
            raise self.error(f"inputs have ranks {[u.rank for u in types]}, not all equal")
        shape: list[Dim] = []
        for k in range(rank):
            known = {t.shape[k] for t in types if t.shape[k] is not None}
            if len(known) > 1:
                raise self.error(f"input shapes {', '.join(fmt_shape(t.shape) for t in types)} differ")
            shape.append(known.pop() if known else None)
        a = normalize_axis(self, self.attributes.get("axis", 0), rank + 1)
        shape.insert(a, len(types))
        return [TensorType(tuple(shape), scalar(np.result_type(*[t.dtype for t in types])))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        # Checked as its decomposition (decompose.py: a concatenate of the inputs with the new axis) is.
        a = normalize_axis(self, self.attributes.get("axis", 0), np.ndim(args[0]) + 1)
        ConcatenateOp.check_sizes(self, [np.expand_dims(x, a) for x in args], a)
        return [np.stack(args, axis=a)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        a = normalize_axis(self, self.attributes.get("axis", 0), tensor_type(self, self.operands[0]).rank + 1)
        return [emit(b, "subtensor", out_grads[0], begin=(None,) * a + (i,), end=(None,) * (a + 1),
                     step=(None,) * (a + 1), index_dims=(a,)) for i in range(len(self.operands))]


# ---------------------------------------------------------------- basic slicing


class _SliceMixin(Operation):
    """Shared by subtensor, set_subtensor, inc_subtensor: the slicing attributes (module docstring)."""

    n_leading: int = 1  # operands before the dynamic bounds
    attrs = {"begin": AttrDef(tuple), "end": AttrDef(tuple), "step": AttrDef(tuple), "index_dims": AttrDef(tuple)}

    @staticmethod
    def step_zero(d: int) -> str:
        """A zero step: refused at build time, and at run time on every target (prefixed with the op)."""
        return f"slice step of dim {d} is zero"

    def slicing(self, values: Sequence[Any] | None = None) -> tuple[list[Any], list[Any], list[Any], set[int]]:
        """(begin, end, step, index dims), `?` bound to operands (compile time) or `values` (run time)."""
        x = tensor_type(self, self.operands[0])
        lists = [self.attributes.get(k) for k in ("begin", "end", "step")]
        lens = {len(v) for v in lists if v is not None}
        if len(lens) > 1:
            raise self.error(f"begin, end and step have different lengths {[len(v) for v in lists if v is not None]}")
        n = lens.pop() if lens else 0
        if n > x.rank:
            raise self.error(f"slices {n} dims of a tensor of rank {x.rank}")
        for key, entries in zip(("begin", "end", "step"), lists):
            for e in entries or ():
                if e is not None and e is not DYN and (not isinstance(e, int) or isinstance(e, bool)):
                    raise self.error(f"{key} entries must be integers, none or ?, got {e!r}")
        index_dims = set()
        for d in _entries(self, "index_dims"):
            if not isinstance(d, int) or not 0 <= d < n or d in index_dims:
                raise self.error(f"index_dims entry {d!r} is not a distinct sliced dim in [0, {n})")
            index_dims.add(d)
        dyn = self.operands[self.n_leading:]
        check_size_operands(self, dyn, count_dynamic(lists))
        bound = bind_dynamic(lists, dyn if values is None else values)
        begin, end, step = ([None] * n if b is None else b for b in bound)
        for d in range(n):
            if d in index_dims:
                if begin[d] is None:
                    raise self.error(f"index dim {d} needs its index in begin")
                if end[d] is not None or step[d] is not None:
                    raise self.error(f"index dim {d} must have none as end and step")
            elif step[d] == 0:
                if values is None:
                    raise self.error(self.step_zero(d))
                raise size_check_failed(self, f"'{self.name}' op {self.step_zero(d)}")
        return begin, end, step, index_dims

    def slice_shape(self) -> tuple[Dim, ...]:
        x = tensor_type(self, self.operands[0])
        begin, end, step, index_dims = self.slicing()
        out: list[Dim] = []
        for d, size in enumerate(x.shape):
            if d >= len(begin):
                out.append(size)
            elif d in index_dims:
                i = begin[d]
                if size is not None and i is not DYN and not -size <= i < size:
                    raise self.error(f"index {i} is out of bounds for axis {d} of size {size}")
            elif DYN in (begin[d], end[d], step[d]):
                out.append(None)
            elif size is not None:
                out.append(len(range(*slice(begin[d], end[d], step[d]).indices(size))))
            elif begin[d] is None and end[d] is None and step[d] in (None, 1):
                out.append(None)
            else:
                out.append(None)
        return tuple(out)

    def index(self, x: np.ndarray, values: Sequence[Any]) -> tuple[Any, ...]:
        begin, end, step, index_dims = self.slicing(values)
        key: list[Any] = []
        for d in range(len(begin)):
            if d in index_dims:
                i, size = int(begin[d]), x.shape[d]
                if not -size <= i < size:
                    raise size_check_failed(self, out_of_bounds(self.name, d), i, size)
                key.append(i)
            else:
                key.append(slice(begin[d], end[d], step[d]))
        return tuple(key)


def _as_slice(r: range, size: int) -> tuple[int | None, int | None, int | None]:
    """begin, end, step of a slice that selects exactly range r of a dim of `size` (none where implied)."""
    if not r:
        return 0, 0, None
    stop = None if r.stop < 0 or (r.step > 0 and r.stop >= size) else r.stop
    start = None if r.start == (0 if r.step > 0 else size - 1) else r.start
    return start, stop, None if r.step == 1 else r.step


class MergeSubtensors(RewritePattern):
    """`x[a][b] -> x[c]`: a subtensor of a subtensor, both with static bounds, is one subtensor, the outer
    slice or index composed with the inner one over the static sizes of the dims both slice (Theano's
    local_subtensor_merge)."""

    root: ClassVar[Any] = None  # SubtensorOp, set below it

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = getattr(op.operands[0], "op", None)
        if inner is None or inner.name != op.name or len(op.operands) > 1 or len(inner.operands) > 1:
            return False
        x = inner.operands[0]
        shape = tensor_type(op, x).shape
        b1, e1, s1, idx1 = inner.slicing()
        b2, e2, s2, idx2 = op.slicing()
        kept = [d for d in range(len(shape)) if d not in idx1]  # x's dims that the inner result keeps, in order
        begin: list[int | None] = []
        end: list[int | None] = []
        step: list[int | None] = []
        index_dims: list[int] = []
        for d in range(max(len(b1), kept[len(b2) - 1] + 1 if b2 else 0)):
            j = kept.index(d) if d in kept else None
            first = slice(b1[d], e1[d], s1[d]) if d < len(b1) and d not in idx1 else slice(None)
            second = slice(b2[j], e2[j], s2[j]) if j is not None and j < len(b2) and j not in idx2 else slice(None)
            if d < len(b1) and d in idx1:
                entry: tuple[int | None, ...] = (b1[d], None, None)
            elif first == slice(None) and j is not None and j < len(b2):
                entry = (b2[j], e2[j], s2[j])
            elif shape[d] is None:
                if j is not None and j < len(b2) and (j in idx2 or second != slice(None)):
                    return False
                entry = (b1[d], e1[d], s1[d])
            else:
                r = range(*first.indices(shape[d]))
                if j is not None and j in idx2:
                    if not -len(r) <= b2[j] < len(r):
                        return False
                    entry = (r[b2[j]], None, None)
                else:
                    entry = _as_slice(r[second], shape[d])
            if (d < len(b1) and d in idx1) or (j is not None and j in idx2):
                index_dims.append(d)
            begin.append(entry[0])
            end.append(entry[1])
            step.append(entry[2])
        attrs: dict[str, Any] = {"begin": tuple(begin), "end": tuple(end), "step": tuple(step)}
        if index_dims:
            attrs["index_dims"] = tuple(index_dims)
        return replace_with_built(op, lambda b: b.create(SubtensorOp, x, **attrs).result, rewriter)


class SubtensorOp(_SliceMixin):
    """Basic slicing `x[1:, ::2, i]`:
    `%y = tensor.subtensor %x bounds %i {begin = [1, none, ?], end = [none, none, none], step = [none, 2, none],
    index_dims = [2]} : tensor<?x3xf32>`."""

    name = "tensor.subtensor"
    operands_def = ("x", "bounds*")
    traits = _PURE
    canonicalization_patterns = (MergeSubtensors(),)

    def infer_types(self) -> list[Type]:
        return [TensorType(self.slice_shape(), tensor_type(self, self.operands[0]).element)]

    def fold(self, operands: Sequence[np.ndarray | None]) -> list[Any] | None:
        """Static entries of `tensor.shape x` read with static bounds are constants (a dim of x known at
        compile time), even where other dims of x are not."""
        owner = getattr(self.operands[0], "op", None)
        if owner is None or owner.name != ShapeOp.name or len(self.operands) > 1:
            return None
        shape = tensor_type(self, owner.operands[0]).shape
        picked = np.arange(len(shape))[self.index(np.empty(len(shape)), [])]
        if any(shape[k] is None for k in np.ravel(picked)):
            return None
        return [np.array([shape[k] for k in np.ravel(picked)], np.int64).reshape(np.shape(picked))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x = args[0]
        return [np.array(x[self.index(x, args[1:])])]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        x, *bounds = self.operands
        return [emit(b, "inc_subtensor", zeros_like(b, x), out_grads[0], *bounds, **self.attributes),
                *[None] * len(bounds)]


MergeSubtensors.root = SubtensorOp


class SetSubtensorOp(_SliceMixin):
    """A copy of x with the slice replaced by y (broadcast to the slice shape): Theano's
    set_subtensor(x[1:], y): `%z = tensor.set_subtensor %x, %y {begin = [1]}` or, with
    a dynamic bound, `%z = tensor.set_subtensor %x, %y bounds %i {begin = [?]} : tensor<?x3xf32>`."""

    name = "tensor.set_subtensor"
    operands_def = ("x", "y", "bounds*")
    n_leading = 2
    traits = _PURE

    def infer_types(self) -> list[Type]:
        x = tensor_type(self, self.operands[0])
        y = tensor_type(self, self.operands[1], "value")
        check_broadcast_to(self, y.shape, self.slice_shape(), "value")
        _check_cast(self, y.element, x.element)
        return [x]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        out = np.array(args[0], copy=True)
        key = self.index(out, args[2:])
        check_broadcast_to_run_time(self, "value", np.shape(args[1]), out[key].shape)
        self.update(out, key, np.asarray(args[1]))
        return [out]

    def update(self, out: np.ndarray, key: tuple[Any, ...], y: np.ndarray) -> None:
        out[key] = y

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # x's gradient outside the slice (all of it for inc_subtensor), y's the slice summed to y's shape
        x, y, *bounds = self.operands
        g = out_grads[0]
        dy = unbroadcast(b, emit(b, "subtensor", g, *bounds, **self.attributes), y)
        dx = g if isinstance(self, IncSubtensorOp) else \
            emit(b, "set_subtensor", g, zeros_like(b, y), *bounds, **self.attributes)
        return [dx, dy, *[None] * len(bounds)]


class IncSubtensorOp(SetSubtensorOp):
    """A copy of x with y added to the slice: Theano's inc_subtensor(x[1:], y):
    `%z = tensor.inc_subtensor %x, %y {begin = [1]} : tensor<?x3xf32>`."""

    name = "tensor.inc_subtensor"

    def update(self, out: np.ndarray, key: tuple[Any, ...], y: np.ndarray) -> None:
        out[key] += y.astype(out.dtype)


# ---------------------------------------------------------------- integer-array indexing


def _check_indices(op: Operation, v: Value) -> TensorType:
    t = tensor_type(op, v, "indices")
    if not t.element.is_int:
        raise op.error(f"indices must be integers, got {t.element}")
    return t


def out_of_bounds(op_name: str, axis: int | None) -> str:
    """The message of an index out of bounds (`{0}` the index, `{1}` the size), on every target."""
    where = "the flattened tensor" if axis is None else f"axis {axis}"
    return f"'{op_name}' op index {{0}} is out of bounds for {where} of size {{1}}"


def check_range(op: Operation, idx: np.ndarray, size: int, axis: int | None) -> None:
    """The smallest index, if it is below -size, else the largest, if it is not below size, is reported
    (bufferize checks the two in this order)."""
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = idx.min() if idx.min() < -size else idx.max()
        raise size_check_failed(op, out_of_bounds(op.name, axis), bad, size)


class TakeOp(Operation):
    """np.take, raising on out-of-range indices: `%y = tensor.take %x, %idx {axis = 0} : tensor<5x3xf32>`
    (axis absent: over the flattened tensor). Result shape x[:axis] + idx + x[axis+1:]."""

    name = "tensor.take"
    operands_def = ("x", "indices")
    attrs = {"axis": AttrDef(int)}
    traits = _PURE

    def the_axis(self) -> int | None:
        a = self.attributes.get("axis")
        return None if a is None else normalize_axis(self, a, tensor_type(self, self.operands[0]).rank)

    def infer_types(self) -> list[Type]:
        x = tensor_type(self, self.operands[0])
        idx = _check_indices(self, self.operands[1])
        a = self.the_axis()
        shape = idx.shape if a is None else x.shape[:a] + idx.shape + x.shape[a + 1:]
        return [TensorType(shape, x.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x, idx = args
        a = self.the_axis()
        check_range(self, idx, x.size if a is None else x.shape[a], a)
        return [np.take(x, idx, axis=a)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        x, idx = self.operands
        a = self.the_axis()
        base = zeros_like(b, x) if a is not None else emit(b, "reshape", zeros_like(b, x), shape=(-1,))
        dx = emit(b, "inc_take", base, idx, out_grads[0], axis=0 if a is None else a)
        return [reshape_like(b, dx, x), None]


class SetTakeOp(Operation):
    """A copy of x with x[..., idx, ...] (along `axis`, default 0) set to y (broadcast); Theano's
    set_subtensor(x[idx], y): `%z = tensor.set_take %x, %idx, %y {axis = 0} : tensor<5x3xf32>`.
    With repeated indices the last write wins (numpy)."""

    name = "tensor.set_take"
    operands_def = ("x", "indices", "y")
    attrs = {"axis": AttrDef(int, default=0)}
    traits = _PURE

    def the_axis(self) -> int:
        return normalize_axis(self, self.attributes.get("axis", 0), tensor_type(self, self.operands[0]).rank)

    def infer_types(self) -> list[Type]:
        x = tensor_type(self, self.operands[0])
        idx = _check_indices(self, self.operands[1])
        y = tensor_type(self, self.operands[2], "value")
        a = self.the_axis()
        check_broadcast_to(self, y.shape, x.shape[:a] + idx.shape + x.shape[a + 1:], "value")
        _check_cast(self, y.element, x.element)
        return [x]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x, idx, y = args
        a = self.the_axis()
        check_range(self, idx, x.shape[a], a)
        out = np.array(x, copy=True)
        key = (slice(None),) * a + (idx,)
        check_broadcast_to_run_time(self, "value", np.shape(y), x.shape[:a] + idx.shape + x.shape[a + 1:])
        self.update(out, key, np.asarray(y).astype(out.dtype))
        return [out]

    def update(self, out: np.ndarray, key: tuple[Any, ...], y: np.ndarray) -> None:
        out[key] = y

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        x, idx, y = self.operands
        g, a = out_grads[0], self.the_axis()
        dy = unbroadcast(b, emit(b, "take", g, idx, axis=a), y)
        dx = g if isinstance(self, IncTakeOp) else emit(b, "set_take", g, idx, zeros_like(b, y), axis=a)
        return [dx, None, dy]


class IncTakeOp(SetTakeOp):
    """A copy of x with y added at x[..., idx, ...]; repeated indices accumulate (np.add.at); Theano's
    inc_subtensor(x[idx], y): `%z = tensor.inc_take %x, %idx, %y {axis = 0} : tensor<5x3xf32>`."""

    name = "tensor.inc_take"

    def update(self, out: np.ndarray, key: tuple[Any, ...], y: np.ndarray) -> None:
        np.add.at(out, key, np.broadcast_to(y, out[key].shape))


# ---------------------------------------------------------------- creation


class _FilledOp(Operation):
    """zeros/ones: `{shape = [...], dtype = f32}` with `?` entries from size operands."""

    operands_def = ("sizes*",)
    attrs = {"shape": AttrDef(tuple, required=True), "dtype": AttrDef(ScalarType, default=f64)}
    traits = _PURE
    fill: int = 0

    def size_entries(self, values: Sequence[Any] | None = None) -> list[Any]:
        shape = self.attributes["shape"]
        for e in shape:
            if e is not DYN and (not isinstance(e, int) or isinstance(e, bool) or e < 0):
                raise self.error(f"shape entries must be non-negative sizes or ?, got {e!r}")
        check_size_operands(self, self.operands, count_dynamic([shape]))
        row = bind_dynamic([shape], self.operands if values is None else values)[0]
        assert row is not None
        return row

    def infer_types(self) -> list[Type]:
        return [TensorType(tuple(None if s is DYN else s for s in self.size_entries()), self.attributes["dtype"])]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        sizes = self.size_entries(args)
        check_sizes_run_time(self, sizes)
        return [np.full(sizes, self.fill, dtype=self.attributes["dtype"].dtype)]


class ZerosOp(_FilledOp):
    """`%z = tensor.zeros sizes %n {shape = [?, 3], dtype = f32} : tensor<?x3xf32>` (dtype default f64)."""

    name = "tensor.zeros"
    differentiable = False


class OnesOp(_FilledOp):
    """`%z = tensor.ones {shape = [2, 3], dtype = f32} : tensor<2x3xf32>` (dtype default f64)."""

    name = "tensor.ones"
    differentiable = False
    fill = 1


FillCut.root = (BroadcastToOp, AllocOp, ZerosOp, OnesOp)


class EyeOp(Operation):
    """Theano's eye(n, m, k): ones on the k-th diagonal: `%e = tensor.eye sizes %n {n = ?, m = 4, k = 0, dtype = f32}
    : tensor<?x4xf32>` (m absent: n; `?` entries taken in the order n, m, k)."""

    name = "tensor.eye"
    differentiable = False
    operands_def = ("sizes*",)
    attrs = {"n": AttrDef(_SIZE, required=True), "m": AttrDef(_SIZE), "k": AttrDef(_SIZE, default=0),
             "dtype": AttrDef(ScalarType, default=f64)}
    traits = _PURE

    def params(self, values: Sequence[Any] | None = None) -> list[Any]:
        raw = [self.attributes["n"], self.attributes.get("m"), self.attributes.get("k", 0)]
        for key, e in zip("nm", raw):
            if isinstance(e, int) and e < 0:
                raise self.error(f"{key} must be a non-negative size, got {e}")
        present = [e for e in raw if e is not None]
        check_size_operands(self, self.operands, count_dynamic([present]))
        row = bind_dynamic([present], self.operands if values is None else values)[0]
        assert row is not None
        if raw[1] is None:
            row.insert(1, row[0])
        return row

    def infer_types(self) -> list[Type]:
        n, m, _ = self.params()
        return [TensorType((None if n is DYN else n, None if m is DYN else m), self.attributes["dtype"])]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        n, m, k = self.params(args)
        check_sizes_run_time(self, [n, m])
        return [np.eye(n, m, k, dtype=self.attributes["dtype"].dtype)]


_NUM = (int, float, DynamicMarker)


class ArangeOp(Operation):
    """np.arange(start, stop, step): `%r = tensor.arange %n {start = 0, stop = ?, step = 1} : tensor<?xi64>`.
    Each bound is a number or `?` (a 0-d operand, in the order start, stop, step); the element type is
    `dtype` when given, else numpy's for those bounds; the length is static when all bounds are."""

    name = "tensor.arange"
    differentiable = False
    operands_def = ("bounds*",)
    attrs = {"start": AttrDef(_NUM, default=0), "stop": AttrDef(_NUM, required=True),
             "step": AttrDef(_NUM, default=1), "dtype": AttrDef(ScalarType)}
    traits = _PURE
    STEP_ZERO: ClassVar[str] = "step must not be zero"  # at build time, and at run time on every target

    def bound_entries(self, values: Sequence[Any] | None = None) -> list[Any]:
        raw = [self.attributes.get("start", 0), self.attributes["stop"], self.attributes.get("step", 1)]
        check_size_operands(self, self.operands, count_dynamic([raw]), integer=False)
        row = bind_dynamic([raw], self.operands if values is None else values)[0]
        assert row is not None
        if values is None and row[2] == 0 and row[2] is not DYN:
            raise self.error(self.STEP_ZERO)
        return row

    def element(self) -> ScalarType:
        if self.attributes.get("dtype") is not None:
            return self.attributes["dtype"]
        it = iter(self.operands)
        samples = []
        for e, probe in zip([self.attributes.get("start", 0), self.attributes["stop"],
                             self.attributes.get("step", 1)], (0, 1, 1)):
            samples.append(type(e)(probe) if e is not DYN else tensor_type(self, next(it)).dtype.type(probe))
        return scalar(np.arange(*samples).dtype)

    def infer_types(self) -> list[Type]:
        start, stop, step = self.bound_entries()
        n: Dim = None
        if DYN not in (start, stop, step):
            n = max(0, math.ceil((stop - start) / step))
        return [TensorType((n,), self.element())]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        start, stop, step = self.bound_entries(args)
        if step == 0:
            raise size_check_failed(self, f"'{self.name}' op {self.STEP_ZERO}")
        return [np.arange(start, stop, step, dtype=self.element().dtype)]
