"""`decompose`: composite tensor ops become core tensor ops, in numerically stable forms.

docs/lowering.md section 1. One pattern per composite op (the DECOMPOSITIONS table, keyed by op
class; each entry's docstring gives its formula). Every replacement keeps the replaced op's
result type exactly (dtype and static shape) and location. Dynamic sizes come from
`tensor.shape` + `tensor.subtensor`/`tensor.take` + `tensor.prod`; static ones are constants.

Legal on entry: verified IR of any dialect (only the tensor ops below are touched).
On exit: no `tensor.mean/var/std/softmax/log_softmax/logsumexp/categorical_crossentropy/
binary_crossentropy/relu/outer/stack/flatten/expand_dims/dimshuffle` remains; what replaces
them are core tensor ops (elementwise ops, where, cast, sum, max, prod, take, reshape,
transpose, concatenate, arange, shape, subtensor, constant). `squeeze` is a core op (a view
that checks a dynamic squeezed dim is 1, see bufferize_rules.py).

Known gaps (documented, not silent): a softmax-family op over an axis that is empty only at run
time decomposes to a `tensor.max` that the tensor-level interpreter refuses (after
fuse-elementwise its init -inf gives numpy's result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..dialects import tensor as T
from ..ir.attributes import DYN
from ..ir.core import Operation, Value
from ..ir.rewriter import PatternRewriter, RewritePattern, apply_patterns_greedily, make_constant
from ..ir.types import ScalarType, TensorType, compatible, i64
from .pass_manager import Pass

Size = int | Value  # a static size, or a 0-d i64 tensor holding it


class _Emitter:
    """Builds replacement ops right before `op`, at op's location."""

    def __init__(self, op: Operation, rewriter: PatternRewriter) -> None:
        self.op = op
        self.rw = rewriter
        self.created: set[int] = set()  # ids of the values built here (only those may be retyped)

    def make(self, cls: type[Operation], *operands: Value, **attrs: Any) -> Value:
        v = self.rw.create_before(self.op, cls, *operands, **attrs).result
        self.created.add(id(v))
        return v

    def const(self, value: Any, dtype: ScalarType | np.dtype) -> Value:
        dt = dtype.dtype if isinstance(dtype, ScalarType) else dtype
        return self.rw.insert_before(self.op, make_constant(np.array(value, dtype=dt), self.op.loc)).result

    def cast(self, v: Value, elem: ScalarType) -> Value:
        return v if _tt(v).element == elem else self.make(T.CastOp, v, dtype=elem)

    # ---- sizes
    def dim(self, x: Value, k: int) -> Size:
        """Size of dim k of x: an int when static, else `subtensor(shape(x))[k]` (tensor<i64>)."""
        d = _tt(x).shape[k]
        if d is not None:
            return d
        shape = self.make(T.ShapeOp, x)
        return self.make(T.SubtensorOp, shape, begin=[k], end=[None], step=[None], index_dims=[0])

    def size_value(self, s: Size, elem: ScalarType = i64) -> Value:
        """A 0-d tensor of `elem` holding size s (a constant when static)."""
        return self.const(s, elem) if isinstance(s, int) else self.cast(s, elem)

    def count(self, x: Value, axes: Sequence[int]) -> Size:
        """Product of x's dims `axes`: static part folded, dynamic dims through take + prod."""
        shape = _tt(x).shape
        static = math.prod(shape[a] for a in axes if shape[a] is not None)  # type: ignore[misc]
        dyn = [a for a in axes if shape[a] is None]
        if not dyn:
            return static
        if len(dyn) == 1:
            n = self.dim(x, dyn[0])
            assert isinstance(n, Value)
        else:
            sizes = self.make(T.ShapeOp, x)
            picked = self.make(T.TakeOp, sizes, self.const(dyn, i64), axis=0)
            n = self.make(T.ProdOp, picked)
        return n if static == 1 else self.make(T.MulOp, n, self.const(static, i64))

    def reshape(self, x: Value, sizes: Sequence[Size]) -> Value:
        shape = [s if isinstance(s, int) else DYN for s in sizes]
        dyn = [s for s in sizes if isinstance(s, Value)]
        return self.make(T.ReshapeOp, x, *dyn, shape=shape)

    def reshape_like(self, x: Value, want: TensorType, sources: Sequence[tuple[Value, int] | None]) -> Value:
        """Reshape x into `want`'s shape; a dynamic dim k takes its size from dim sources[k] of a value
        (None: a dim of size 1)."""
        sizes: list[Size] = []
        for k, d in enumerate(want.shape):
            src = sources[k]
            sizes.append(d if d is not None else (1 if src is None else self.dim(*src)))
        return self.reshape(x, sizes)


def _tt(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type


def _reduce_attrs(op: Operation, keepdims: bool) -> dict[str, Any]:
    return {"axes": list(op.reduced_axes()), "keepdims": keepdims}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- decompositions (one per op)


def _accumulator(op: Operation) -> ScalarType:
    assert isinstance(op, T.ReductionOp)
    return op.accumulator_types()[0]


def _mean(op: Operation, e: _Emitter) -> Value:
    """mean(x) = cast(sum(cast(x, acc)) / cast(n, acc)); n = product of the reduced dims, acc = the op's
    declared accumulator (f64), so the division is in it too."""
    x = op.operands[0]
    acc = _accumulator(op)
    s = e.make(T.SumOp, e.cast(x, acc), **_reduce_attrs(op, bool(op.attr("keepdims", False))))
    n = e.size_value(e.count(x, op.reduced_axes()), acc)  # type: ignore[attr-defined]
    return e.make(T.TrueDivOp, s, n)


def _var(op: Operation, e: _Emitter) -> Value:
    """var(x) = sum((x - mean(x, keepdims))²) / max(n - ddof, 0), in numpy's accumulator dtype (this is
    the doc's mean(d²)·n/(n-ddof), written as numpy computes it so n <= ddof gives inf/nan as numpy)."""
    x = op.operands[0]
    acc = _accumulator(op)
    axes = op.reduced_axes()  # type: ignore[attr-defined]
    xs = e.cast(x, acc)
    n = e.size_value(e.count(x, axes), acc)
    mu = e.make(T.TrueDivOp, e.make(T.SumOp, xs, **_reduce_attrs(op, True)), n)
    d = e.make(T.SubOp, xs, mu)
    ss = e.make(T.SumOp, e.make(T.MulOp, d, d), **_reduce_attrs(op, bool(op.attr("keepdims", False))))
    ddof = int(op.attr("ddof", 0))
    dof = n if ddof == 0 else e.make(T.MaximumOp, e.make(T.SubOp, n, e.const(ddof, acc)), e.const(0, acc))
    return e.make(T.TrueDivOp, ss, dof)


def _std(op: Operation, e: _Emitter) -> Value:
    """std(x) = sqrt(var(x)) (var as above)."""
    return e.make(T.SqrtOp, _var(op, e))


def _shifted(op: Operation, e: _Emitter) -> tuple[Value, Value, int]:
    """(z, m, axis) with m = max(x, axis, keepdims) and m = 0 where m is ±inf or NaN (|m| < inf is
    false exactly there; not m - m == 0, which canonicalize cancels as real algebra does), z = x - m; x is
    first cast to exp's dtype (ints: f64, bool: f16)."""
    x = op.operands[0]
    a = op.the_axis()  # type: ignore[attr-defined]
    elem = op.elem()  # type: ignore[attr-defined]
    xs = e.cast(x, elem)
    zero = e.const(0, elem)
    if _tt(x).shape[a] == 0:
        m = zero  # a static empty axis: tensor.max has no identity there; numpy's -inf max becomes 0
    else:
        # initial = -inf: a row that is empty at run time has max -inf (then m = 0), not an error.
        mr = e.make(T.MaxOp, xs, axes=[a], keepdims=True, initial=float("-inf"))
        finite = e.make(T.LtOp, e.make(T.AbsOp, mr), e.const(np.inf, elem))
        m = e.make(T.WhereOp, finite, mr, zero)
    return e.make(T.SubOp, xs, m), m, a


def _softmax(op: Operation, e: _Emitter) -> Value:
    """softmax(x) = ex / sum(ex, axis, keepdims) with ex = exp(x - m), m = max(x, axis, keepdims)."""
    z, _, a = _shifted(op, e)
    ex = e.make(T.ExpOp, z)
    return e.make(T.TrueDivOp, ex, e.make(T.SumOp, ex, axes=[a], keepdims=True))


def _log_softmax(op: Operation, e: _Emitter) -> Value:
    """log_softmax(x) = (x - m) - log(sum(exp(x - m), axis, keepdims))."""
    z, _, a = _shifted(op, e)
    s = e.make(T.SumOp, e.make(T.ExpOp, z), axes=[a], keepdims=True)
    return e.make(T.SubOp, z, e.make(T.LogOp, s))


def _logsumexp(op: Operation, e: _Emitter) -> Value:
    """logsumexp(x) = m + log(sum(exp(x - m), axis)), m = max(x, axis) and 0 where ±inf (all -inf
    gives -inf, a +inf gives +inf, as scipy); without keepdims m's axis is reshaped away."""
    z, m, a = _shifted(op, e)
    s = e.make(T.SumOp, e.make(T.ExpOp, z), axes=[a], keepdims=True)
    out = e.make(T.AddOp, m, e.make(T.LogOp, s))
    if op.attr("keepdims", False):
        return out
    x = op.operands[0]
    want = op.result.type
    return e.reshape_like(out, want, [(x, k if k < a else k + 1) for k in range(want.rank)])


def _categorical_crossentropy(op: Operation, e: _Emitter) -> Value:
    """one-hot form: -sum(t * log(p), axis=-1); index form: -log(take(flat(p), row * n + t)) with rows
    numbered by arange, and an out-of-range class index sent out of bounds so take raises."""
    p, t = op.operands
    if not op.indexed():  # type: ignore[attr-defined]
        prod = e.make(T.MulOp, t, e.make(T.LogOp, p))
        return e.make(T.NegOp, e.make(T.SumOp, prod, axes=[_tt(prod).rank - 1]))
    pt, tt = _tt(p), _tt(t)
    n = e.dim(p, pt.rank - 1)
    tf = e.cast(e.reshape(t, [-1]), i64)
    rows = e.dim(tf, 0)
    if isinstance(rows, int):
        row = e.const(np.arange(rows), i64)
    else:
        row = e.make(T.ArangeOp, rows, start=0, stop=DYN, step=1, dtype=i64)
    pf = e.reshape(p, [-1])
    nv = e.size_value(n)
    flat = e.make(T.AddOp, e.make(T.MulOp, row, nv), tf)
    valid = e.make(T.AndOp, e.make(T.GeOp, tf, e.const(0, i64)), e.make(T.LtOp, tf, nv))
    oob = e.make(T.SubOp, e.const(-1, i64), e.size_value(e.dim(pf, 0)))
    picked = e.make(T.TakeOp, pf, e.make(T.WhereOp, valid, flat, oob))
    want = op.result.type
    picked = e.reshape_like(picked, TensorType(want.shape, pt.element), [(t, k) for k in range(tt.rank)])
    return e.make(T.NegOp, e.make(T.LogOp, picked))


def _binary_crossentropy(op: Operation, e: _Emitter) -> Value:
    """binary_crossentropy(o, t) = -(t * log(o) + (1 - t) * log(1 - o)) (each 1 in its operand's dtype)."""
    o, t = op.operands
    a = e.make(T.MulOp, t, e.make(T.LogOp, o))
    one_t = e.make(T.SubOp, e.const(1, _tt(t).element), t)
    one_o = e.make(T.SubOp, e.const(1, _tt(o).element), o)
    b = e.make(T.MulOp, one_t, e.make(T.LogOp, one_o))
    return e.make(T.NegOp, e.make(T.AddOp, a, b))


def _relu(op: Operation, e: _Emitter) -> Value:
    """relu(x) = maximum(x, 0), 0 in x's dtype."""
    x = op.operands[0]
    return e.make(T.MaximumOp, x, e.const(0, _tt(x).element))


def _outer(op: Operation, e: _Emitter) -> Value:
    """outer(a, b) = reshape(a, [-1, 1]) * reshape(b, [1, -1])."""
    a, b = op.operands
    return e.make(T.MulOp, e.reshape(a, [-1, 1]), e.reshape(b, [1, -1]))


def _stack(op: Operation, e: _Emitter) -> Value:
    """stack(xs, axis) = concatenate(expand_dims(x, axis) for x in xs, axis), the expand_dims as reshapes."""
    rank = _tt(op.operands[0]).rank
    axis = int(op.attr("axis", 0)) % (rank + 1)
    parts = []
    for x in op.operands:
        sizes: list[Size] = [e.dim(x, k) for k in range(rank)]
        sizes.insert(axis, 1)
        parts.append(e.reshape(x, sizes))
    return e.make(T.ConcatenateOp, *parts, axis=axis)


def _flatten(op: Operation, e: _Emitter) -> Value:
    """flatten(x, ndim) = reshape(x, shape[:ndim-1] + [prod(shape[ndim-1:])]) (-1 when that is dynamic)."""
    x = op.operands[0]
    n = int(op.attr("ndim", 1))
    shape = _tt(x).shape
    rest = shape[n - 1:]
    last: Size = math.prod(rest) if all(d is not None for d in rest) else -1  # type: ignore[misc]
    return e.reshape(x, [e.dim(x, k) for k in range(n - 1)] + [last])


def _expand_dims(op: Operation, e: _Emitter) -> Value:
    """expand_dims(x, axes) = reshape(x, x's dims with 1s inserted at axes)."""
    x = op.operands[0]
    axes = op.axes()  # type: ignore[attr-defined]
    it = iter(range(_tt(x).rank))
    return e.reshape_like(x, op.result.type, [None if k in axes else (x, next(it))
                                              for k in range(op.result.type.rank)])


def _dimshuffle(op: Operation, e: _Emitter) -> Value:
    """dimshuffle(x, pattern) = reshape(transpose(x, kept dims in pattern order + dropped 1-dims), pattern
    shape): the transpose orders the kept dims, the reshape drops the 1-dims and inserts the "x" ones."""
    x = op.operands[0]
    kept = op.kept()  # type: ignore[attr-defined]
    rank = _tt(x).rank
    perm = kept + [k for k in range(rank) if k not in kept]
    y = x if perm == list(range(rank)) else e.make(T.TransposeOp, x, perm=perm)
    pattern = op.attr("pattern")
    if "x" not in pattern and len(kept) == rank:
        return y
    return e.reshape_like(y, op.result.type, [None if p == "x" else (x, p) for p in pattern])


Decomposition = Callable[[Operation, _Emitter], Value]

DECOMPOSITIONS: dict[type[Operation], Decomposition] = {
    T.MeanOp: _mean,
    T.VarOp: _var,
    T.StdOp: _std,
    T.SoftmaxOp: _softmax,
    T.LogSoftmaxOp: _log_softmax,
    T.LogsumexpOp: _logsumexp,
    T.CategoricalCrossentropyOp: _categorical_crossentropy,
    T.BinaryCrossentropyOp: _binary_crossentropy,
    T.ReluOp: _relu,
    T.OuterOp: _outer,
    T.StackOp: _stack,
    T.FlattenOp: _flatten,
    T.ExpandDimsOp: _expand_dims,
    T.DimshuffleOp: _dimshuffle,
}


class DecomposePattern(RewritePattern):
    """Replaces one composite op by its DECOMPOSITIONS entry, then fixes the result type exactly:
    a final cast to the op's dtype, and the op's declared static dims on the last new value."""

    def __init__(self, cls: type[Operation], fn: Decomposition) -> None:
        self.root = cls  # type: ignore[misc]
        self.fn = fn

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if type(op) is not self.root:  # VarOp's pattern must not take StdOp
            return False
        e = _Emitter(op, rewriter)
        want = op.result.type
        assert isinstance(want, TensorType)
        value = e.cast(self.fn(op, e), want.element)
        if value.type != want:
            if not compatible(value.type, want) or id(value) not in e.created or value.uses:
                # An existing value (or a conflicting shape) is not retyped; a reshape pins the type.
                value = e.reshape_like(value, want, [(value, k) for k in range(want.rank)])
            value.type = want  # compatible: the declared dims only refine the inferred ones
        if id(value) in e.created:
            value.name_hint = op.result.name_hint
        rewriter.replace_op(op, [value])
        return True


@dataclass
class DecomposePass(Pass):
    name: ClassVar[str] = "decompose"
    summary: ClassVar[str] = "composite tensor ops -> core tensor ops (numerically stable forms)"

    def run(self, module: Operation) -> bool:
        patterns = [DecomposePattern(cls, fn) for cls, fn in DECOMPOSITIONS.items()]
        return apply_patterns_greedily(module, patterns, fold=False, erase_dead=False)
