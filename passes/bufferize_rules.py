"""The rules of `bufferize` (passes/bufferize.py), one per tensor op class, in the table `RULES`.

A rule gets the FunctionBufferizer (whose helpers insert before the op being bufferized, with
its location) and the op; it returns one buffer per result of the op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..dialects import extern as X
from ..dialects import lib as LB
from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects import tensor as T
from ..dialects.linalg import LinalgOp
from ..dialects.tensor_common import EMPTY_REDUCTION, broadcast_to_dims, broadcast_to_failure, negative_size
from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import OP_REGISTRY, PURE, Block, NotSupportedError, Operation, OpResult, Region, Value
from ..ir.types import MemRefType, ScalarType, TensorType, f32, f64, i64, index
from .bufferize import FunctionBufferizer, Ix, broadcast_maps, memref_of, sop

Rule = Callable[[FunctionBufferizer, Operation], list[Value]]
RULES: dict[type[Operation], Rule] = {}

PAR, RED = "parallel", "reduction"


def rule(*classes: type[Operation]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for c in classes:
            RULES[c] = fn
        return fn
    return register


def _tt(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type


def _create(b: Builder, name: str, *operands: Value, **attrs: Any) -> Value:
    return b.create(sop(name), *operands, **attrs).result




def _static_out(results: Sequence[Value], maps: Sequence[Sequence[int]], n: int) -> list[int | None]:
    """Iteration dim sizes that the result types know."""
    static: list[int | None] = [None] * n
    for r, m in zip(results, maps):
        for d, k in enumerate(m):
            if k >= 0 and _tt(r).shape[d] is not None:
                static[k] = _tt(r).shape[d]
    return static


def _generic_alloc(cx: FunctionBufferizer, inputs: Sequence[Value], tensors_in: Sequence[Value],
                   results: Sequence[Value], maps: Sequence[Sequence[int]], iterators: Sequence[str],
                   inits: Sequence[Any] | None, body: Any, out_elems: Sequence[ScalarType] | None = None,
                   out_shapes: Sequence[Sequence[int | None]] | None = None) -> list[Value]:
    """Alloc the outputs (sizes from the inputs, following the maps) and emit the mem.generic.
    An output with an identity map reuses a dying input alloc of its type (in place)."""
    n_in = len(inputs)
    n = len(iterators)
    out_maps = maps[n_in:]
    static = _static_out(results, out_maps, n)
    needed = {k for m in out_maps for k in m if k >= 0}
    sizes = cx.iteration_sizes(inputs, maps[:n_in], n, static, needed)
    outs: list[Value] = []
    taken: set[Value] = set()
    for j, m in enumerate(out_maps):
        elem = out_elems[j] if out_elems is not None else _tt(results[j]).element
        shape = [1 if k < 0 else sizes[k] for k in m]
        want = MemRefType(tuple(s if isinstance(s, int) else None for s in shape), elem)
        reuse = None
        if RED not in iterators and list(m) == list(range(n)):
            for i, (t, b, im) in enumerate(zip(tensors_in, inputs, maps[:n_in])):
                if list(im) != list(m) or b in taken:
                    continue
                # Any other read of the same memory must be this very buffer, element for element.
                if any(cx.root.get(o) is cx.root.get(b) and (o is not b or list(om) != list(m))
                       for j, (o, om) in enumerate(zip(inputs, maps[:n_in])) if j != i):
                    continue
                cand = cx.reusable(t, want)
                # Every run-time size must be the buffer's own (a broadcast input is smaller).
                if cand is not None and all(isinstance(s, int) or s is cx.dim(cand, d) for d, s in enumerate(shape)):
                    reuse = cand
                    break
        if reuse is not None:
            taken.add(reuse)
            outs.append(reuse)
        else:
            outs.append(cx.alloc(shape, elem))
    cx.generic(inputs, outs, maps, iterators, inits, body)
    return outs


# ---------------------------------------------------------------- generic, elementwise, reductions


@rule(T.GenericOp)
def _generic(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    assert isinstance(op, T.GenericOp)
    region = op.regions.pop(0)
    region.parent = None
    keep, captured = cx.capture_host_scalars(region.block, op.inputs)
    tensors_in = [op.inputs[k] for k in keep]
    ins = [cx.get(v) for v in tensors_in]
    maps = [op.maps[k] for k in keep] + list(op.output_maps)
    inits = op.attributes.get("inits")
    _member_broadcasts(cx, region.block, ins, maps[:len(ins)], len(op.iterators), captured)
    if op.attributes.get("nonempty") and op.reduction_dims:
        red = set(op.reduction_dims)
        sizes = cx.iteration_sizes(ins, maps[:len(ins)], len(op.iterators), [None] * len(op.iterators), red)
        cx.check(cx.cmp("ne", cx.prod([sizes[k] for k in sorted(red)]), 0),
                 EMPTY_REDUCTION)
    return _generic_alloc(cx, ins, tensors_in, list(op.results), maps, op.iterators, inits, region)


def _member_broadcasts(cx: FunctionBufferizer, body: Block, ins: Sequence[Value], maps: Sequence[Sequence[int]],
                       n: int, captured: Sequence[Value] = ()) -> None:
    """The broadcasting checks of the elementwise ops that fuse-elementwise put in a generic's body (their
    scalar twins, at their locations), in program order with the shapes each op had: the interpreter,
    running the ops one by one, finds the same first failure. Only for numpy's alignment of the inputs
    (fuse-elementwise's maps); other generics keep the checks of their iteration sizes alone. `captured`: the
    0-d inputs the body reads as host scalars (passes/bufferize.py capture_host_scalars)."""
    if not all(k in (n - len(m) + d, -1) and (k >= 0 or b.type.shape[d] == 1)
               for b, m in zip(ins, maps) for d, k in enumerate(m)):
        return
    shapes: dict[Value, list[Ix] | None] = {arg: cx.shape(b) for arg, b in zip(body.args, ins)}
    shapes.update((v, []) for v in captured)
    for o in body.ops:
        if isinstance(o, S.ConstantOp):
            shapes[o.result] = []
        elif isinstance(o, S.ScalarElementwiseOp):
            operands = [shapes.get(v) for v in o.operands]
            known = [s for s in operands if s is not None]
            shapes[o.result] = cx.broadcast(o.tensor_op.name, o.loc, known) if len(known) == len(operands) else None


def _elementwise_body(op: Operation) -> Callable[[Builder, list[Value]], list[Value]]:
    cls = S.SCALAR_OF_TENSOR[type(op)]
    n = len(op.operands)
    attrs = {k: v for k, v in op.attributes.items()}

    def body(b: Builder, args: list[Value]) -> list[Value]:
        y = b.create(cls, *args[:n], **attrs).result
        return [S.cast_to(b, y, _tt(op.results[0]).element)]
    return body


def _elementwise(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    out = _tt(op.results[0])
    maps = broadcast_maps([_tt(v).shape for v in op.operands], out.shape)
    maps.append(list(range(out.rank)))
    ins = [cx.get(v) for v in op.operands]
    cx.broadcast(op.name, op.loc, [cx.shape(b) for b in ins])
    return _generic_alloc(cx, ins, list(op.operands), list(op.results), maps, [PAR] * out.rank, None,
                          _elementwise_body(op))


for _name, _cls in sorted(OP_REGISTRY.items()):
    if _name.startswith("tensor.") and issubclass(_cls, T.ElementwiseOp):
        RULES[_cls] = _elementwise


@rule(*T.LOOP_REDUCTIONS)
def _reduction(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A reduction as one mem.generic: accumulators, inits and body as the op declares them (the same
    as fuse-elementwise builds), then a cast to the result type when the accumulator is wider."""
    assert isinstance(op, T.ReductionOp)
    x = cx.get(op.operands[0])
    rank = x.type.rank
    axes = op.reduced_axes()  # argmax without axes: every dim
    if axes and op.empty_is_error():
        cx.check(cx.cmp("ne", cx.prod([cx.dim(x, a) for a in axes]), 0),
                 EMPTY_REDUCTION)
    keep = bool(op.attributes.get("keepdims", False))
    iters = [RED if k in axes else PAR for k in range(rank)]
    out_map = [(-1 if k in axes else k) for k in range(rank)] if keep else [k for k in range(rank) if k not in axes]

    def position(b: Builder) -> Value:
        """The flat (row-major) index over the reduced dims, from their iteration indices."""
        strides = cx.contiguous_strides([cx.dim(x, a) for a in axes])
        flat: Value | None = None
        for a, stride in zip(axes, strides):
            term = _create(b, "scalar.mul", b.create(T.IndexOp, dim=a).result, cx.ix(stride))
            flat = term if flat is None else _create(b, "scalar.add", flat, term)
        return S.cast_to(b, flat if flat is not None else _create(b, "scalar.constant", value=_typed(0, index)), i64)

    def body(b: Builder, args: list[Value]) -> list[Value]:
        return op.body(b, args[0], args[1:], lambda: position(b))
    accs = op.accumulator_types()
    outs = _generic_alloc(cx, [x], [op.operands[0]], [op.results[0]] * len(accs),
                          [list(range(rank))] + [out_map] * len(accs), iters, op.inits(), body, out_elems=accs)
    want = _tt(op.results[0]).element
    if outs[0].type.element == want:
        return [outs[0]]
    result = cx.alloc(cx.shape(outs[0]), want)
    _assign(cx, outs[0], result)
    return [result]


def _typed(value: Any, t: ScalarType) -> Any:
    from ..ir.attributes import Typed
    return Typed(value, t)


# ---------------------------------------------------------------- linear algebra


def _mul_add_body(out_el: ScalarType) -> Callable[[Builder, list[Value]], list[Value]]:
    def body(b: Builder, args: list[Value]) -> list[Value]:
        a, c, acc = args
        p = _create(b, "scalar.mul", S.cast_to(b, a, out_el), S.cast_to(b, c, out_el))
        return [_create(b, "scalar.add", acc, p)]
    return body


def _check_contraction(cx: FunctionBufferizer, a: Value, b: Value) -> None:
    i, j = T.contraction_dims(a.type.rank, b.type.rank)
    cx.check(cx.cmp("eq", cx.dim(a, i), cx.dim(b, j)), T.CONTRACTION, cx.dim(a, i), cx.dim(b, j))


@rule(T.DotOp, T.MatmulOp)
def _dot(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    ta, tb, tr = _tt(op.operands[0]), _tt(op.operands[1]), _tt(op.results[0])
    a, b = cx.get(op.operands[0]), cx.get(op.operands[1])
    if ta.rank == 0 or tb.rank == 0:  # np.dot with a scalar: elementwise product
        maps = broadcast_maps([ta.shape, tb.shape], tr.shape) + [list(range(tr.rank))]
        return _generic_alloc(cx, [a, b], list(op.operands), list(op.results), maps, [PAR] * tr.rank, None,
                              _product_body(tr.element))
    el = tr.element
    if ta.element == tb.element == el and el in (f32, f64):
        if ta.rank <= 2 and tb.rank <= 2:
            return [_blas(cx, a, b, el)]
        if op.name == "tensor.matmul" or tb.rank <= 2:  # np.dot of an n-d by a matrix or vector is matmul
            return [_gemm_batch(cx, op, a, b, el)]
    if op.name == "tensor.matmul":
        return _batched_matmul(cx, op, a, b)
    ra, rb = ta.rank, tb.rank
    if rb == 1:
        k = ra - 1
        maps = [list(range(ra - 1)) + [k], [k], list(range(ra - 1))]
        n_iter = ra
    else:
        k = ra - 1 + rb - 1
        maps = [list(range(ra - 1)) + [k], list(range(ra - 1, ra - 1 + rb - 2)) + [k, ra - 1 + rb - 2],
                list(range(k))]
        n_iter = k + 1
    _check_contraction(cx, a, b)
    iters = [PAR] * (n_iter - 1) + [RED]
    return _generic_alloc(cx, [a, b], list(op.operands), list(op.results), maps, iters, [T.AddOp.identity(el)],
                          _mul_add_body(el))


def _product_body(el: ScalarType) -> Callable[[Builder, list[Value]], list[Value]]:
    def body(b: Builder, args: list[Value]) -> list[Value]:
        return [_create(b, "scalar.mul", S.cast_to(b, args[0], el), S.cast_to(b, args[1], el))]
    return body


def _blas(cx: FunctionBufferizer, a: Value, b: Value, el: ScalarType) -> Value:
    ra, rb = a.type.rank, b.type.rank
    _check_contraction(cx, a, b)
    if ra == 2 or rb == 2:
        out = cx.alloc(([cx.dim(a, 0)] if ra == 2 else []) + ([cx.dim(b, 1)] if rb == 2 else []), el)
        _blas_call(cx, a, b, out, [], 1.0, 0.0, False, False)
        return out
    # 1-d . 1-d: gemv of a 1xN view of a, into a 1-element view of the 0-d result.
    out = cx.alloc([], el)
    n, s = cx.dim(a, 0), cx.stride(a, 0)
    row = cx.view(a, 0, [1, n], [cx.mul(n, s), s])
    y = cx.view(out, 0, [1], [1])
    cx.b.create(LB.GemvOp, row, b, y, alpha=1.0, beta=0.0, trans=False)
    return out


@rule(T.GemmOp)
def _gemm(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """One lib.gemm (lib.gemv where a factor is a vector) into an output that first holds c: c's own buffer
    where c dies here with the product's sizes, else a fresh alloc that a broadcast view of c is copied into
    (the bias row of a layer); BLAS then adds alpha * s * op(a) @ op(b) to beta times it."""
    assert isinstance(op, T.GemmOp)
    a, b = cx.get(op.operands[0]), cx.get(op.operands[1])
    ta, tb = bool(op.attributes["trans_a"]), bool(op.attributes["trans_b"])
    ka, kb = cx.dim(a, 0 if ta else a.type.rank - 1), cx.dim(b, 1 if tb else 0)
    cx.check(cx.cmp("eq", ka, kb), T.CONTRACTION, ka, kb)
    shape = ([cx.dim(a, 1 if ta else 0)] if a.type.rank == 2 else []) + \
        ([cx.dim(b, 0 if tb else 1)] if b.type.rank == 2 else [])
    tr = _tt(op.results[0])
    out, beta = None, 0.0
    if op.c is not None:
        beta = op.attributes["beta"]
        out = cx.reusable(op.c, MemRefType(tr.shape, tr.element), [a, b])
        if out is not None and not all(isinstance(n, int) or n is cx.dim(out, d) for d, n in enumerate(shape)):
            out = None  # c may be smaller at run time (broadcast): it cannot hold the result
    if out is None:
        out = cx.alloc(shape, tr.element)
        if op.c is not None:
            cx.b.create(M.CopyOp, _broadcast_view(cx, "c", cx.get(op.c), shape), out)
    scale = [cx.load_scalar(op.scale)] if op.scale is not None else []
    _blas_call(cx, a, b, out, scale, op.attributes["alpha"], beta, ta, tb)
    return [out]


def _blas_call(cx: FunctionBufferizer, a: Value, b: Value, out: Value, scale: list[Value], alpha: float, beta: float,
               ta: bool, tb: bool) -> None:
    """out = alpha * scale * op(a) @ op(b) + beta * out: lib.gemm of matrices, lib.gemv where one is a vector."""
    if a.type.rank == b.type.rank == 2:
        cx.b.create(LB.GemmOp, a, b, out, *scale, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    elif a.type.rank == 2:
        cx.b.create(LB.GemvOp, a, b, out, *scale, alpha=alpha, beta=beta, trans=ta)
    else:  # x @ op(B) = op(B)^T x
        cx.b.create(LB.GemvOp, b, a, out, *scale, alpha=alpha, beta=beta, trans=not tb)


def _gemm_batch(cx: FunctionBufferizer, op: Operation, a: Value, b: Value, el: ScalarType) -> Value:
    """matmul with batch dims as one lib.gemm_batch: each operand viewed as a stack of matrices over the
    result's batch dims (stride 0 along a dim it broadcasts; a 1-d operand is a 1xK or Kx1 matrix of every
    batch element), written into a view of the result with the vector's dim put back."""
    ra, rb = a.type.rank, b.type.rank
    _check_contraction(cx, a, b)
    if ra >= 2 and rb >= 2:
        batch = cx.broadcast(op.name, op.loc, [cx.shape(a), cx.shape(b)], core=2)
    else:
        batch = cx.shape(a if ra > 2 else b)[:-2]
    k = cx.dim(a, ra - 1)
    m: Ix = cx.dim(a, ra - 2) if ra >= 2 else 1
    n: Ix = cx.dim(b, rb - 1) if rb >= 2 else 1
    # a vector is a one-row (a) or one-column (b) matrix; the stride of its extent-1 dim does not matter
    av = _matrices(cx, a, batch, [m, k], [cx.stride(a, ra - 2), cx.stride(a, ra - 1)] if ra >= 2
                   else [1, cx.stride(a, 0)])
    bv = _matrices(cx, b, batch, [k, n], [cx.stride(b, rb - 2), cx.stride(b, rb - 1)] if rb >= 2
                   else [cx.stride(b, 0), 1])
    c = cx.alloc([*batch, *([m] if ra >= 2 else []), *([n] if rb >= 2 else [])], el)
    cs = [cx.stride(c, d) for d in range(len(batch))]
    cv = c if ra >= 2 and rb >= 2 else cx.view(c, 0, [*batch, m, n], [*cs, n, 1])
    cx.b.create(LB.GemmBatchOp, av, bv, cv, alpha=1.0, beta=0.0)
    return c


def _matrices(cx: FunctionBufferizer, x: Value, batch: Sequence[Ix], shape: list[Ix], strides: list[Ix]) -> Value:
    """x as a view of len(batch) + 2 dims: its batch dims (those before its last two) right-aligned to `batch`,
    stride 0 where x has none or a size 1 that broadcasts, then one matrix of `shape` and `strides`."""
    own = max(x.type.rank - 2, 0)
    lead: list[Ix] = []
    for d in range(len(batch)):
        j = d - (len(batch) - own)
        size = x.type.shape[j] if j >= 0 else 1
        if j < 0 or (size == 1 and batch[d] != 1):
            lead.append(0)
        elif size is None and cx.dim(x, j) is not batch[d]:  # 1 at run time against a larger size
            lead.append(cx.select(cx.cmp("eq", cx.dim(x, j), 1), 0, cx.stride(x, j)))
        else:
            lead.append(cx.stride(x, j))
    full_shape, full_strides = [*batch, *shape], [*lead, *strides]
    if x.type.rank == len(full_shape) and all(_same(p, q) for p, q in zip(
            [*full_shape, *full_strides], [*cx.shape(x), *(cx.stride(x, d) for d in range(x.type.rank))])):
        return x
    return cx.view(x, 0, full_shape, full_strides)


def _same(p: Ix, q: Ix) -> bool:
    return p is q or (isinstance(p, int) and isinstance(q, int) and p == q)


def _batched_matmul(cx: FunctionBufferizer, op: Operation, a: Value, b: Value) -> list[Value]:
    ta, tb, tr = _tt(op.operands[0]), _tt(op.operands[1]), _tt(op.results[0])
    ra, rb = ta.rank, tb.rank
    batch_a, batch_b = ta.shape[:-2], tb.shape[:-2]
    nb = max(len(batch_a), len(batch_b))
    rshape_batch = tr.shape[:nb]
    bm = broadcast_maps([batch_a, batch_b], rshape_batch)
    k_i = nb
    i_dim = k_i if ra >= 2 else None
    j_dim = (nb + (1 if ra >= 2 else 0)) if rb >= 2 else None
    kdim = nb + (ra >= 2) + (rb >= 2)
    map_a = bm[0] + ([i_dim] if i_dim is not None else []) + [kdim]
    map_b = bm[1] + [kdim] + ([j_dim] if j_dim is not None else [])
    out_map = list(range(kdim))
    _check_contraction(cx, a, b)
    if ra >= 2 and rb >= 2:
        cx.broadcast(op.name, op.loc, [cx.shape(a), cx.shape(b)], core=2)
    iters = [PAR] * kdim + [RED]
    return _generic_alloc(cx, [a, b], list(op.operands), list(op.results), [map_a, map_b, out_map], iters,
                          [T.AddOp.identity(tr.element)], _mul_add_body(tr.element))


# ---------------------------------------------------------------- views


@rule(T.TransposeOp)
def _transpose(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    assert isinstance(op, T.TransposeOp)
    x = cx.get(op.operands[0])
    perm = op.perm()
    return [cx.view(x, 0, [cx.dim(x, p) for p in perm], [cx.stride(x, p) for p in perm])]


@rule(T.SqueezeOp)
def _squeeze(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A view without the squeezed dims (never a copy); a dynamic one is checked to be 1."""
    assert isinstance(op, T.SqueezeOp)
    x = cx.get(op.operands[0])
    axes = op.axes()
    for a in axes:
        cx.check(cx.cmp("eq", cx.dim(x, a), 1), op.not_one(a), cx.dim(x, a))
    kept = [d for d in range(x.type.rank) if d not in axes]
    return [cx.view(x, 0, [cx.dim(x, d) for d in kept], [cx.stride(x, d) for d in kept])]


def _sizes(cx: FunctionBufferizer, entries: Sequence[Any], operands: Sequence[Value]) -> list[Any]:
    """Attribute entries with `?` replaced by the (index) value of the next operand."""
    it = iter(operands)
    return [cx.index_operand(next(it)) if e is DYN else e for e in entries]


@rule(T.ReshapeOp)
def _reshape(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    x = cx.contiguous_buffer(cx.get(op.operands[0]))
    tr = _tt(op.results[0])
    sizes = _sizes(cx, op.attributes["shape"], op.operands[1:])
    for s in sizes:
        if not isinstance(s, int):  # a run-time size: -1 only counts where the shape says it
            cx.check(cx.cmp("ge", s, 0), T.ReshapeOp.NEGATIVE, s)
    total = cx.prod(cx.shape(x))
    if any(isinstance(s, int) and s == -1 for s in sizes):
        k = next(j for j, s in enumerate(sizes) if isinstance(s, int) and s == -1)
        known = cx.prod([s for j, s in enumerate(sizes) if j != k])
        cx.check(cx.cmp("ne", known, 0), T.ReshapeOp.ZERO_REST)
        sizes[k] = cx.floordiv(total, cx.select(cx.cmp("eq", known, 0), 1, known))
    cx.check(cx.cmp("eq", cx.prod(sizes), total), T.ReshapeOp.COUNT, total, cx.prod(sizes))
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    v = cx.view(x, 0, sizes, cx.contiguous_strides(sizes))
    cx.known_contiguous.add(v)
    return [v]


@rule(T.BroadcastToOp)
def _broadcast_to(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    x = cx.get(op.operands[0])
    tr = _tt(op.results[0])
    sizes = _sizes(cx, op.attributes["shape"], op.operands[1:])
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    _check_sizes(cx, sizes)
    return [_broadcast_view(cx, "operand", x, sizes)]


def _check_broadcast_to(cx: FunctionBufferizer, what: str, x: Value, sizes: Sequence[Ix]) -> None:
    """Run-time checks that x broadcasts to `sizes` (numpy's broadcast_to), in the interpreter's order and
    wording (dialects/tensor_common.py broadcast_to_dims, broadcast_to_failure)."""
    src = cx.shape(x)
    for d in broadcast_to_dims(src, sizes):
        n, target = src[d], sizes[len(sizes) - len(src) + d]
        message, values = broadcast_to_failure(cx.op.name, what, src, sizes, d)
        cx.check(cx.or_(cx.cmp("eq", n, target), cx.cmp("eq", n, 1)), message, *values)


def _broadcast_view(cx: FunctionBufferizer, what: str, x: Value, sizes: Sequence[Ix]) -> Value:
    """A view of x broadcast to `sizes` (stride 0 along new and size-1 dims), checked."""
    _check_broadcast_to(cx, what, x, sizes)
    lead = len(sizes) - x.type.rank
    strides: list[Ix] = [0] * lead
    for d in range(x.type.rank):
        strides.append(cx.select(cx.cmp("eq", cx.dim(x, d), sizes[lead + d]), cx.stride(x, d), 0))
    return cx.view(x, 0, sizes, strides)


def _clamp(cx: FunctionBufferizer, e: Ix | None, default: Ix, size: Ix, lower: Ix, upper: Ix) -> Ix:
    """A slice bound as Python's slice.indices normalizes it."""
    if e is None:
        return default
    wrapped = cx.maximum(cx.add(e, size), lower)
    return cx.select(cx.cmp("lt", e, 0), wrapped, cx.minimum(e, upper))


def _slice_view(cx: FunctionBufferizer, op: Operation, x: Value, bounds: Sequence[Value]) -> Value:
    """The view of x that a subtensor-style op's begin/end/step/index_dims select."""
    lists = [op.attributes.get(k) for k in ("begin", "end", "step")]
    it = iter(bounds)
    n = max((len(v) for v in lists if v is not None), default=0)
    bound = [[cx.index_operand(next(it)) if e is DYN else e for e in (v if v is not None else [None] * n)]
             for v in lists]
    begin, end, step = bound
    index_dims = set(op.attributes.get("index_dims") or ())
    offset: Ix = 0
    shape: list[Ix] = []
    strides: list[Ix] = []
    for d in range(x.type.rank):
        size, stride = cx.dim(x, d), cx.stride(x, d)
        if d >= n:
            shape.append(size)
            strides.append(stride)
            continue
        if d in index_dims:
            i = begin[d]
            cx.check(cx.and_(cx.cmp("ge", i, cx.neg(size)), cx.cmp("lt", i, size)),
                     T.out_of_bounds(cx.op.name, d), i, size)
            i = cx.select(cx.cmp("lt", i, 0), cx.add(i, size), i)
            offset = cx.add(offset, cx.mul(i, stride))
            continue
        st = 1 if step[d] is None else step[d]
        cx.check(cx.cmp("ne", st, 0), f"'{op.name}' op {T.SubtensorOp.step_zero(d)}")
        neg = cx.cmp("lt", st, 0)
        lower = cx.select(neg, -1, 0)
        upper = cx.select(neg, cx.sub(size, 1), size)

        start = _clamp(cx, begin[d], cx.select(neg, upper, lower), size, lower, upper)
        stop = _clamp(cx, end[d], cx.select(neg, lower, upper), size, lower, upper)
        length = cx.maximum(cx.neg(cx.floordiv(cx.sub(start, stop), st)), 0)  # ceil((stop - start) / step)
        start = cx.select(cx.cmp("eq", length, 0), 0, start)
        offset = cx.add(offset, cx.mul(start, stride))
        shape.append(length)
        strides.append(cx.mul(stride, st))
    return cx.view(x, offset, shape, strides)


@rule(T.SubtensorOp)
def _subtensor(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    x = cx.get(op.operands[0])
    return [_slice_view(cx, op, x, op.operands[1:])]


# ---------------------------------------------------------------- writes into copies


def _assign(cx: FunctionBufferizer, src: Value, dst: Value, accumulate: bool = False) -> None:
    """dst = src (or dst += src), src broadcast to dst's shape and cast to its element type."""
    rank = dst.type.rank
    if not accumulate and src.type.element == dst.type.element and src.type.shape == dst.type.shape \
            and None not in src.type.shape:
        cx.b.create(M.CopyOp, src, dst)
        return
    maps = broadcast_maps([src.type.shape], dst.type.shape)
    el = dst.type.element
    ident = list(range(rank))

    def body(b: Builder, args: list[Value]) -> list[Value]:
        v = S.cast_to(b, args[0], el)
        if accumulate:
            v = _create(b, "scalar.add", args[1], v)
        return [v]
    ins = [src, dst] if accumulate else [src]
    cx.generic(ins, [dst], [*maps, *([ident] if accumulate else []), ident], [PAR] * rank, None, body)


def _writable_copy(cx: FunctionBufferizer, x: Value, others: Sequence[Value]) -> Value:
    """x's buffer when it may be overwritten here (a dying intermediate alloc), else a fresh copy."""
    b = cx.get(x)
    reuse = cx.reusable(x, b.type, others) if b.type.strides is None else None
    return reuse if reuse is not None else cx.copy_of(b)


@rule(T.SetSubtensorOp, T.IncSubtensorOp)
def _set_subtensor(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    y = cx.get(op.operands[1])
    out = _writable_copy(cx, op.operands[0], [y])
    view = _slice_view(cx, op, out, op.operands[2:])
    _check_broadcast_to(cx, "value", y, cx.shape(view))
    _assign(cx, y, view, accumulate=op.name == "tensor.inc_subtensor")
    return [out]


@rule(T.ConcatenateOp)
def _concatenate(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    assert isinstance(op, T.ConcatenateOp)
    axis = op.the_axis()
    ins = [cx.get(v) for v in op.operands]
    tr = _tt(op.results[0])
    first = ins[0]
    for i, x in enumerate(ins[1:], 1):
        for d in range(tr.rank):
            if d != axis:
                cx.check(cx.cmp("eq", cx.dim(x, d), cx.dim(first, d)), op.mismatch(i, d),
                         cx.dim(first, d), cx.dim(x, d))
    sizes: list[Ix] = [cx.dim(first, d) for d in range(tr.rank)]
    total: Ix = 0
    for x in ins:
        total = cx.add(total, cx.dim(x, axis))
    sizes[axis] = total
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    out = cx.alloc(sizes, tr.element)
    strides = cx.contiguous_strides(sizes)
    at: Ix = 0
    for x in ins:
        shape = list(sizes)
        shape[axis] = cx.dim(x, axis)
        part = cx.view(out, cx.mul(at, strides[axis]), shape, strides)
        _assign(cx, x, part) if x.type.element != tr.element else cx.b.create(M.CopyOp, x, part)
        at = cx.add(at, cx.dim(x, axis))
    return [out]


# ---------------------------------------------------------------- integer-array indexing


def _check_indices(cx: FunctionBufferizer, idx: Value, size: Ix, axis: int | None) -> None:
    """All indices in [-size, size): the smallest and largest index by one reduction (from 0 and -1, which
    pass), then a check of each with the interpreter's message, the smallest first (as it reports)."""
    rank = idx.type.rank
    bounds = [cx.alloc([], index), cx.alloc([], index)]

    def body(b: Builder, args: list[Value]) -> list[Value]:
        i = S.cast_to(b, args[0], index)
        return [_create(b, "scalar.minimum", args[1], i), _create(b, "scalar.maximum", args[2], i)]
    cx.generic([idx], bounds, [list(range(rank)), [], []], [RED] * rank, [0, -1], body)
    lo, hi = (cx.b.create(M.LoadOp, v).result for v in bounds)
    message = T.out_of_bounds(cx.op.name, axis)
    cx.check(cx.cmp("ge", lo, cx.neg(size)), message, lo, size)
    cx.check(cx.cmp("lt", hi, size), message, hi, size)


def _wrapped(b: Builder, v: Value, n: Value) -> Value:
    i = S.cast_to(b, v, index)
    zero = _create(b, "scalar.constant", value=_typed(0, index))
    return _create(b, "scalar.select", _create(b, "scalar.lt", i, zero), _create(b, "scalar.add", i, n), i)


@rule(T.TakeOp)
def _take(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    assert isinstance(op, T.TakeOp)
    x = cx.get(op.operands[0])
    idx = cx.get(op.operands[1])
    a = op.the_axis()
    if a is None:  # over the flattened tensor
        x = cx.contiguous_buffer(x)
        total = cx.prod(cx.shape(x))
        x = cx.view(x, 0, [total], [1])
        a = 0
    size = cx.ix(cx.dim(x, a))
    _check_indices(cx, idx, size, op.the_axis())
    ri = idx.type.rank
    tr = _tt(op.results[0])
    static = list(tr.shape)

    def body(b: Builder, args: list[Value]) -> list[Value]:
        subs = [b.create(T.IndexOp, dim=d).result for d in range(a)]
        subs.append(_wrapped(b, args[0], size))
        subs += [b.create(T.IndexOp, dim=a + ri + d).result for d in range(x.type.rank - a - 1)]
        return [b.create(M.LoadOp, x, *subs).result]
    shape = [*(cx.dim(x, d) for d in range(a)), *cx.shape(idx), *(cx.dim(x, d) for d in range(a + 1, x.type.rank))]
    shape = [d if d is not None else s for d, s in zip(static, shape)]
    out = cx.alloc(shape, tr.element)
    cx.generic([idx], [out], [list(range(a, a + ri)), list(range(tr.rank))], [PAR] * tr.rank, None, body)
    return [out]


@rule(T.SetTakeOp, T.IncTakeOp)
def _set_take(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """An ordered loop nest (repeated indices: the last write wins / updates accumulate)."""
    assert isinstance(op, T.SetTakeOp)
    idx = cx.get(op.operands[1])
    y = cx.get(op.operands[2])
    out = _writable_copy(cx, op.operands[0], [idx, y])
    a = op.the_axis()
    size = cx.ix(cx.dim(out, a))
    _check_indices(cx, idx, size, a)
    ri = idx.type.rank
    target = [*(cx.dim(out, d) for d in range(a)), *cx.shape(idx),
              *(cx.dim(out, d) for d in range(a + 1, out.type.rank))]
    yb = _broadcast_view(cx, "value", y, target)
    inc = op.name == "tensor.inc_take"
    el = out.type.element
    # Loop order: index dims outermost (in order), then the dims of x around the axis.
    order = list(range(a, a + ri)) + list(range(a)) + list(range(a + ri, len(target)))
    bounds = [cx.ix(target[k]) for k in order]
    b = cx.b
    ivs: dict[int, Value] = {}
    for k, n in zip(order, bounds):
        loop = b.insert(L.ForOp.create(n))
        assert isinstance(loop, L.ForOp)
        ivs[k] = loop.body.args[0]
        Builder.at_end(loop.body).create(L.YieldOp, loc=loop.loc)
        b = Builder(loop.body, 0, loop.loc)
    iv = [ivs[k] for k in range(len(target))]
    j = _wrapped(b, b.create(M.LoadOp, idx, *iv[a:a + ri]).result, size)
    subs = [*iv[:a], j, *iv[a + ri:]]
    v = S.cast_to(b, b.create(M.LoadOp, yb, *iv).result, el)
    if inc:
        v = _create(b, "scalar.add", b.create(M.LoadOp, out, *subs).result, v)
    b.create(M.StoreOp, v, out, *subs)
    return [out]


# ---------------------------------------------------------------- cumulative


@rule(T.CumsumOp, T.CumprodOp)
def _cumulative(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A loop nest: `loop.parallel` over the other dims around a sequential `loop.for` along the axis that
    carries the running value and stores it at every step (the for alone for a 1-d tensor)."""
    assert isinstance(op, T.CumsumOp | T.CumprodOp)
    x = cx.get(op.operands[0])
    el = _tt(op.results[0]).element
    axis = op.the_axis()
    shape = cx.shape(x)
    out = cx.alloc(shape, el)
    others = [d for d in range(len(shape)) if d != axis]
    b = cx.b
    outer: list[Value] = []
    if others:
        par = b.insert(L.ParallelOp.create([cx.ix(shape[d]) for d in others]))
        b = Builder.at_end(par.body, op.loc)
        outer = list(par.body.args)
    scan = b.insert(L.ForOp.create(cx.ix(shape[axis]), [_create(b, "scalar.constant",
                                                                 value=_typed(op.combiner.identity(el), el))]))
    ib = Builder.at_end(scan.body, op.loc)
    i, acc = scan.body.args
    idx = outer[:axis] + [i] + outer[axis:]
    value = S.cast_to(ib, ib.create(M.LoadOp, x, *idx).result, el)
    running = ib.create(S.SCALAR_OF_TENSOR[op.combiner], acc, value).result
    ib.create(M.StoreOp, running, out, *idx)
    ib.create(L.YieldOp, running)
    if others:
        b.create(L.YieldOp)
    return [out]


# ---------------------------------------------------------------- linear algebra through LAPACK


@rule(*LB.LAPACK_OF)
def _lapack(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """The op's size checks (a square matrix ...), one fresh buffer per result and its lib op, which writes them
    (LAPACK through backends/c_runtime/tir_linalg.h on the C target)."""
    assert isinstance(op, LinalgOp)
    ins = [cx.get(v) for v in op.inputs()]
    for (i, p), (j, q), message in op.equal_dims():
        m, n = cx.dim(ins[i], p), cx.dim(ins[j], q)
        cx.check(cx.cmp("eq", m, n), op.size_message(message), m, n)

    def size(ref: tuple[tuple[int, int], ...]) -> Ix:
        dims = [cx.dim(ins[i], p) for i, p in ref]
        return dims[0] if len(dims) == 1 else cx.minimum(*dims)
    outs = [cx.alloc([size(r) for r in refs], _tt(res).element) for refs, res in zip(op.result_dims(), op.results)]
    cx.b.create(LB.LAPACK_OF[type(op)], *ins, *outs, **op.attributes)
    return outs


# ---------------------------------------------------------------- sorting


@rule(T.SortOp, T.ArgsortOp)
def _sort(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A call of the runtime's stable merge sort (lib.sort) into a fresh buffer."""
    assert isinstance(op, T.SortOp | T.ArgsortOp)
    x = cx.get(op.operands[0])
    out = cx.alloc(cx.shape(x), _tt(op.results[0]).element)
    cx.b.create(LB.SortOp, x, out, axis=op.the_axis(), indices=isinstance(op, T.ArgsortOp))
    return [out]


@rule(T.TakeAlongAxisOp)
def _take_along_axis(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A gather: one element of x per index, at the index's own position besides the axis."""
    assert isinstance(op, T.TakeAlongAxisOp)
    x, idx = cx.get(op.operands[0]), cx.get(op.operands[1])
    a = op.the_axis()
    for d in range(x.type.rank):
        m, n = cx.dim(idx, d), cx.dim(x, d)
        if d != a and not (isinstance(m, int) and isinstance(n, int)):
            cx.check(cx.cmp("eq", m, n), op.mismatch(d), m, n)
    size = cx.ix(cx.dim(x, a))
    _check_indices(cx, idx, size, a)
    rank = x.type.rank

    def body(b: Builder, args: list[Value]) -> list[Value]:
        subs = [_wrapped(b, args[0], size) if d == a else b.create(T.IndexOp, dim=d).result for d in range(rank)]
        return [b.create(M.LoadOp, x, *subs).result]
    out = cx.alloc(cx.shape(idx), _tt(op.results[0]).element)
    cx.generic([idx], [out], [list(range(rank))] * 2, [PAR] * rank, None, body)
    return [out]


# ---------------------------------------------------------------- creation


def _fill(cx: FunctionBufferizer, out: Value, body: Callable[[Builder, list[Value]], list[Value]]) -> None:
    rank = out.type.rank
    cx.generic([], [out], [list(range(rank))], [PAR] * rank, None, body)


def _check_sizes(cx: FunctionBufferizer, sizes: Sequence[Ix]) -> None:
    for s in sizes:
        if not isinstance(s, int):
            cx.check(cx.cmp("ge", s, 0), negative_size(cx.op.name), s)


@rule(T.ZerosOp, T.OnesOp)
def _filled(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    tr = _tt(op.results[0])
    sizes = _sizes(cx, op.attributes["shape"], op.operands)
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    _check_sizes(cx, sizes)
    out = cx.alloc(sizes, tr.element)
    value = 1 if op.name == "tensor.ones" else 0
    el = tr.element
    cv = bool(value) if el.is_bool else (float(value) if el.is_float else value)
    _fill(cx, out, lambda b, args: [_create(b, "scalar.constant", value=_typed(cv, el))])
    return [out]


@rule(T.AllocOp)
def _alloc(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    tr = _tt(op.results[0])
    sizes = _sizes(cx, op.attributes["shape"], op.operands[1:])
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    _check_sizes(cx, sizes)
    out = cx.alloc(sizes, tr.element)
    _assign(cx, _broadcast_view(cx, "operand", cx.get(op.operands[0]), sizes), out)
    return [out]


@rule(T.EyeOp)
def _eye(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    tr = _tt(op.results[0])
    raw = [op.attributes["n"], op.attributes.get("m"), op.attributes.get("k", 0)]
    present = [e for e in raw if e is not None]
    vals = _sizes(cx, present, op.operands)
    if raw[1] is None:
        vals.insert(1, vals[0])
    n, m, k = vals
    sizes = [d if d is not None else s for d, s in zip(tr.shape, [n, m])]
    _check_sizes(cx, sizes)
    out = cx.alloc(sizes, tr.element)
    kv = cx.ix(k)
    el = tr.element

    def body(b: Builder, args: list[Value]) -> list[Value]:
        i = b.create(T.IndexOp, dim=0).result
        j = b.create(T.IndexOp, dim=1).result
        on = _create(b, "scalar.eq", _create(b, "scalar.add", i, kv), j)
        return [S.cast_to(b, on, el)]
    _fill(cx, out, body)
    return [out]


@rule(T.ArangeOp)
def _arange(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    tr = _tt(op.results[0])
    el = tr.element
    raw = [op.attributes.get("start", 0), op.attributes["stop"], op.attributes.get("step", 1)]
    it = iter(op.operands)
    vals: list[Any] = []
    for e in raw:
        if e is not DYN:
            vals.append(e)
            continue
        v = next(it)
        if _tt(v).element.is_float:
            vals.append(cx.load_scalar(v))
        else:
            vals.append(cx.index_operand(v))
    floating = any(isinstance(v, float) or (isinstance(v, Value) and v.type != index) for v in vals)
    if floating:  # bounds as f64 scalars; n = ceil((stop - start) / step)
        fv = [cx.const(float(v), f64) if isinstance(v, (int, float)) else S.cast_to(cx.b, v, f64) for v in vals]
        start, stop, step = fv
        cx.check(cx.b.create(sop("scalar.ne"), step, cx.const(0.0, f64)).result, f"'{op.name}' op {op.STEP_ZERO}")
        q = cx.b.create(sop("scalar.true_div"), cx.b.create(sop("scalar.sub"), stop, start).result, step).result
        n: Ix = cx.maximum(S.cast_to(cx.b, cx.b.create(sop("scalar.ceil"), q).result, index), 0)
    else:
        start, stop, step = vals
        cx.check(cx.cmp("ne", step, 0), f"'{op.name}' op {op.STEP_ZERO}")
        n = cx.maximum(cx.neg(cx.floordiv(cx.sub(start, stop), step)), 0)
    size = tr.shape[0] if tr.shape[0] is not None else n
    out = cx.alloc([size], el)
    calc = f64 if floating else index
    sv, tv = cx.ix(start) if not floating else start, cx.ix(step) if not floating else step

    def body(b: Builder, args: list[Value]) -> list[Value]:
        i = S.cast_to(b, b.create(T.IndexOp, dim=0).result, calc)
        v = _create(b, "scalar.add", sv, _create(b, "scalar.mul", i, tv))
        return [S.cast_to(b, v, el)]
    _fill(cx, out, body)
    return [out]


@rule(T.ShapeOp)
def _shape(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    x = cx.get(op.operands[0])
    out = cx.alloc([x.type.rank], i64)
    for d in range(x.type.rank):
        n = cx.dim(x, d)
        v = cx.const(n, i64) if isinstance(n, int) else S.cast_to(cx.b, n, i64)
        cx.b.create(M.StoreOp, v, out, cx.ix(d))
    return [out]


@rule(T.ConstantOp)
def _constant(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    return [cx.get(op.results[0])]


CORE_OPS: tuple[type[Operation], ...] = (
    T.GenericOp, *T.LOOP_REDUCTIONS, T.DotOp,
    T.MatmulOp, T.ReshapeOp, T.TransposeOp, T.BroadcastToOp, T.SubtensorOp, T.TakeOp, T.SetTakeOp, T.IncTakeOp,
    T.SetSubtensorOp, T.IncSubtensorOp, T.ConcatenateOp, T.ZerosOp, T.OnesOp, T.AllocOp, T.ArangeOp, T.EyeOp,
    T.ConstantOp, T.ShapeOp, T.SqueezeOp,
)
"""The core tensor ops of docs/lowering.md section 1 (besides the elementwise ops), each with a rule."""


@rule(T.IfOp)
def _if(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """The hook of an op with regions: a `loop.if` on the condition's element whose regions are the op's,
    each converted by the same machinery (its own liveness and deallocs), yielding one fresh allocation per
    result (its run-time sizes may differ between the branches where the result type has `?`)."""
    cond = cx.load_scalar(op.operands[0])
    out = cx.b.create(L.IfOp, cond, result_types=[memref_of(_tt(r)) for r in op.results],
                      regions=[Region() for _ in op.regions])
    for new, region in zip(out.regions, op.regions):
        new.add_block(region.blocks.pop())
        cx.convert_region(new.block)
    return list(out.results)


@rule(T.ScanOp)
def _scan(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A `loop.host_for` over the steps whose body is the step converted by the same machinery. Each state
    lives in one buffer: the initial rows then one row per step (its taps are views of earlier rows), or,
    for a `last` state, just its current value; each output without state in a buffer of one row per step,
    allocated before the loop (its row shape must be known there). The step's yields are copied into the
    step's rows; with until the loop ends after the step whose condition holds, and the results are views
    of the rows written."""
    assert isinstance(op, T.ScanOp)
    lay, last = op.layout(), op.last()
    where = f"'{op.name}' op"
    n = cx.index_operand(op.operands[0])
    cx.check(cx.cmp("ge", n, 0), f"{where} number of steps must be non-negative, got {{0}}", n)
    seqs = [cx.get(v) for v in op.sequences_()]
    for k, s in enumerate(seqs):
        rows = cx.dim(s, 0)
        cx.check(cx.cmp("le", n, rows), f"{where} sequence #{k} has {{1}} rows for {{0}} steps", n, rows)
    seq_rows = [(cx.shape(s)[1:], [cx.stride(s, d) for d in range(s.type.rank)]) for s in seqs]
    states: list[tuple[Value, list[Ix], Ix]] = []  # buffer, row shape, row size
    for k, v in enumerate(op.inits()):
        init, d = cx.get(v), lay.depth(k)
        shape = cx.shape(init)
        row = shape[1:] if d > 1 else shape
        if d > 1:
            cx.check(cx.cmp("eq", shape[0], d), f"{where} state #{k} reaches back {d} steps but its initial value "
                                                 "has {0} rows", shape[0])
        size = cx.prod(row)
        buf = cx.alloc(row if last[k] else [cx.add(n, d), *row], init.type.element)
        first = buf if last[k] else cx.view(buf, 0, shape if d > 1 else row, cx.contiguous_strides(shape))
        cx.b.create(M.CopyOp, init, first)
        states.append((buf, row, size))
    nonseqs = [cx.get(v) for v in op.nonseqs()]
    loop = cx.b.insert(L.HostForOp.create(cx.ix(n), bool(op.attributes.get("reverse", False))))
    assert isinstance(loop, L.HostForOp)
    t = loop.body.args[0]
    step = op.step_block
    for inner in list(step.ops):
        step.remove(inner)
        loop.body.append(inner)

    def row_view(buf: Value, at: Ix, row: list[Ix], size: Ix) -> Value:
        return cx.view(buf, cx.mul(at, size), row, cx.contiguous_strides(row))

    def bind_arguments() -> None:
        args = iter(step.args)
        for s, (row, strides) in zip(seqs, seq_rows):
            cx.bind(next(args), cx.view(s, cx.mul(t, strides[0]), row, strides[1:]))
        for k, (buf, row, size) in enumerate(states):
            for tap in lay.taps[k]:
                cx.bind(next(args), buf if last[k] else row_view(buf, cx.add(t, lay.depth(k) + tap), row, size))
        for b in nonseqs:
            cx.bind(next(args), b)

    plain: list[tuple[Value, list[Ix]]] = []

    def store_step(y: Operation) -> None:
        values = list(y.operands)
        for k, (buf, row, size) in enumerate(states):
            b = cx.get(values[k])
            for d, (want, got) in enumerate(zip(row, cx.shape(b))):
                cx.check(cx.cmp("eq", want, got), f"{where} state #{k} has size {{0}} in dimension {d} but the step "
                         "yields size {1}", want, got)
            dest = buf if last[k] else row_view(buf, cx.add(t, lay.depth(k)), row, size)
            if cx.root.get(b) is buf and b is not dest:  # a view of the state's own rows: via a copy
                b = cx.copy_of(b)
            cx.b.create(M.CopyOp, b, dest)
        for j, v in enumerate(values[lay.states:len(op.results)]):
            b = cx.get(v)
            row = cx.shape(b)
            outside = [_hoisted(size, loop, {}) if isinstance(size, Value) else size for size in row]
            if any(size is None for size in outside):
                raise NotSupportedError(f"{where} output #{lay.states + j} has a shape the step computes; the "
                                        "compiled targets need it known before the loop", op.loc)
            at = cx.b
            cx.b = Builder.before(loop)
            out = cx.alloc([n, *outside], b.type.element)
            size = cx.prod(outside)
            cx.b = at
            plain.append((out, outside))
            cx.b.create(M.CopyOp, b, row_view(out, t, outside, size))
        go = [cx.cmp("eq", cx.load_scalar(values[-1]), False)] if op.attributes.get("until", False) else []
        cx.b.create(L.YieldOp, *[cx.ix(g) for g in go])
        y.erase()

    cx.convert_region(loop.body, bind_arguments, store_step)
    step.args = []  # the step's arguments are bound to views: none is used any more
    count: Ix = loop.results[0] if op.attributes.get("until", False) else n
    out: list[Value] = []
    for k, (buf, row, size) in enumerate(states):
        out.append(buf if last[k] else cx.view(buf, cx.mul(lay.depth(k), size), [count, *row],
                                               cx.contiguous_strides([count, *row])))
    for buf, row in plain:
        out.append(cx.view(buf, 0, [count, *row], cx.contiguous_strides([count, *row])))
    return out


def _hoisted(v: Value, loop: Operation, done: dict[Value, Value | None]) -> Value | None:
    """v as a value defined before `loop`: itself, or a copy before the loop of the pure ops inside it that
    compute v from values defined outside (a size: mem.dim of a non-sequence, arithmetic on sizes); None
    when v depends on the step."""
    if v in done:
        return done[v]
    owner = v.op if isinstance(v, OpResult) else None
    inside = owner is not None and any(p is loop for p in _ancestors(owner))
    if not inside:
        done[v] = v if isinstance(v, OpResult) or not any(p is loop for p in _ancestors(v.block.parent_op)) else None
        return done[v]
    assert owner is not None
    operands = [_hoisted(o, loop, done) for o in owner.operands]
    if not owner.has_trait(PURE) or owner.regions or any(o is None for o in operands):
        done[v] = None
        return None
    copy = Builder.before(loop).insert(owner.clone(dict(zip(owner.operands, operands))))  # type: ignore[arg-type]
    done[v] = copy.results[v.index]  # type: ignore[attr-defined]
    return done[v]


def _ancestors(op: Operation | None) -> list[Operation]:
    out = []
    while op is not None:
        out.append(op)
        op = op.parent_op
    return out



# ---------------------------------------------------------------- library functions (dialects/extern.py)


@rule(X.PyCallOp)
def _py_call(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A lib.py_call: into fresh outputs when every output size is known before the call (static, or a size
    operand from as_op's infer_shape), else with results that the call allocates."""
    assert isinstance(op, X.PyCallOp)
    ins = [cx.get(v) for v in op.inputs]
    sizes = iter(op.sizes)
    shapes = [[cx.index_operand(next(sizes)) if d is DYN else d for d in s] for s in op.attributes["shapes"]] \
        if "shapes" in op.attributes else [list(_tt(r).shape) for r in op.results]
    if any(d is None for s in shapes for d in s):
        call = cx.b.create(X.LibPyCallOp, *ins, fn=op.attributes["fn"],
                           result_types=[memref_of(_tt(r)) for r in op.results])
        return list(call.results)
    outs = [cx.alloc(s, _tt(r).element) for s, r in zip(shapes, op.results)]
    cx.b.create(X.LibPyCallOp, *ins, *outs, fn=op.attributes["fn"], result_types=[])
    return outs


@rule(X.ExternCOp)
def _extern_c(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """A lib.extern_c on contiguous inputs (copies of strided ones) of one run-time shape, into a fresh output."""
    ins = [cx.contiguous_buffer(cx.get(v)) for v in op.operands]
    for k, x in enumerate(ins[1:], 1):
        for d in range(x.type.rank):
            m, n = cx.dim(x, d), cx.dim(ins[0], d)
            cx.check(cx.cmp("eq", m, n), f"'{op.name}' op input #{k} has size {{0}} in dimension {d}, "
                     "input #0 {1}", m, n)
    out = cx.alloc(cx.shape(ins[0]), _tt(op.result).element)
    attrs = {k: op.attributes[k] for k in ("name", "signature", "source", "library") if k in op.attributes}
    cx.b.create(X.LibExternCOp, *ins, out, **attrs)
    return [out]


# The random dialect's rules and the csr kernels' (dialects/sparse.py) register themselves in RULES.
from . import bufferize_random, bufferize_sparse  # noqa: E402, F401
