"""`fuse-loops`: sibling top-level `loop.parallel` nests over the same rows become one nest.

Legal on entry: loop-level IR as `lower-to-loops` leaves it (docs/lowering.md, section 4):
`func.func` bodies of host ops (`mem.alloc/dealloc/dim/stride/view/check/copy`, `lib.*`, scalar
index arithmetic) and top-level `loop.parallel` / `loop.for` nests of `mem.load/store`, `scalar`
and `loop` ops. Legal on exit: the same kind of IR, with fewer top-level nests; a nest fused over
rows is a one-dimensional `loop.parallel` whose body holds the original bodies in their order (the
inner parallel dims of a nest stay as an inner `loop.parallel`); a nest fused whole keeps all its
dims. Nothing else changes.

Two consecutive top-level nests P and Q over the same dims (two or more, provably equal bounds) are
fused whole when every access to a buffer one writes and the other uses indexes that buffer (an alloc
of this function, not a view of it) with exactly the nest's induction variables: iteration (i, j)
touches only element (i, j). A float64 sum over axis 0 of a 3-d input and its cast to float32 then
form one nest, which emit-c renders in the column form (docs/lowering.md, section 7).

Otherwise, two consecutive top-level nests P and Q of a function body are fused over rows when

- their outermost bounds are the same value, or provably equal (equal constants, `mem.dim` of
  the same buffer and axis, an alloc's size operand and a `mem.dim` of that alloc, values that
  CSE would merge);
- iteration i touches only row i of every buffer that one nest writes and the other reads or
  writes: each access to it (in both nests) indexes the buffer's first dim with the nest's outer
  induction variable, directly or through views that keep rows in place (offset 0, the same
  first-dim stride, the inner dims the same or broadcast with stride 0). A written buffer must be
  a `mem.alloc` of this function, and the bodies hold only loops, loads, stores and pure ops;
- every op between them can move: pure ops, allocs and checks are hoisted above P (in order; a
  check only when P holds no check of its own), deallocs are sunk below the fused nest. Anything
  else between them (`lib.gemm`, `mem.copy`, a `mem.load` on the host, a `loop.for` nest, ...)
  keeps them apart.

Softmax after `lower-to-loops` (the row max, exp, row sum and division nests) becomes one row loop:

    loop.parallel %n ({ ^(%i):  m[i] = max_j x[i,j] })          %e = mem.alloc %n, %k
    %e = mem.alloc %n, %k                                        %s = mem.alloc %n
    loop.parallel %n, %k ({ ^(%i, %j): e[i,j] = exp(x - m[i]) })  loop.parallel %n ({ ^(%i):
    mem.dealloc %m                                       ==>       m[i] = max_j x[i,j]
    %s = mem.alloc %n                                              loop.parallel %k ({ ^(%j): e[i,j] = exp(x - m[i]) })
    loop.parallel %n ({ ^(%i):  s[i] = sum_j e[i,j] })             s[i] = sum_j e[i,j]
    loop.parallel %n, %k ({ ^(%i, %j): e[i,j] /= s[i] })           loop.parallel %k ({ ^(%j): e[i,j] /= s[i] })
                                                                 })
                                                                 mem.dealloc %m

so each row is read from memory once and stays in cache for the later steps. A nest that uses a tied
result's alloc is never fused with one that uses the argument it is tied to (passes/tied.py). Within a fused nest,
a load of what the same iteration stored earlier at the same indices (the row max, the row sum)
uses the stored value, and a buffer left write-only by that is dropped (in the sketch, %m and %s go:
the exp loop subtracts the row max as a scalar, which gcc then keeps out of its vector loop).

A fused nest holds at most MAX_FUSED_OPS ops: the next nest starts a new one. Every nest becomes one C
function, in which gcc's time grows faster than the function (50 row sums over the same rows fused into
one nest took gcc 71 s; in groups of three, 17 s), while a fusion's gain is a row read once instead of
several times, which the first few nests of a group already have. Softmax (37 ops), the training steps'
fusions (at most 26) and every fusion of tir-bench stay whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects.func import FuncOp
from ..dialects.kernel import KernelFuncOp
from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import PURE, Block, Operation, OpResult, Value
from ..ir.types import MemRefType
from .pass_manager import Pass
from .tied import tied_buffers

# A fused nest holds at most this many ops (the size bound in the module docstring).
MAX_FUSED_OPS = 64

# Ops a fusable body may hold besides pure ones (structure, and the accesses the analysis reads).
_BODY_OPS = (L.ForOp, L.ParallelOp, L.IfOp, L.YieldOp, M.LoadOp, M.StoreOp)

# ---------------------------------------------------------------- equal index values


_KEYS = threading.local()  # `memo`: the keys of the values seen while the pass runs (in this thread)


def value_key(v: Value) -> Hashable:
    """A key equal for two `index` values that are provably equal at run time (a small CSE). While the pass
    runs, each value's key is made once: index arithmetic is a DAG (the host's shape arithmetic shares its
    `n == 1` selects deeply), which a walk without memo expands into a tree, exponentially."""
    memo: dict[Value, Hashable] | None = getattr(_KEYS, "memo", None)
    if memo is None:
        return _value_key(v)
    key = memo.get(v)
    if key is None:
        key = memo[v] = _value_key(v)
    return key


def _value_key(v: Value) -> Hashable:
    if isinstance(v, OpResult):
        op = v.op
        if isinstance(op, S.ConstantOp):
            attr = op.attributes["value"]
            return ("const", repr(attr.value), str(v.type))
        if isinstance(op, M.DimOp):
            return dim_key(op.operands[0], op.attributes["axis"])
        if isinstance(op, M.StrideOp):
            return stride_key(op.operands[0], op.attributes["axis"])
        if op.dialect == "scalar" and op.has_trait(PURE) and not op.regions and len(op.results) == 1:
            attrs = tuple(sorted((k, repr(a)) for k, a in op.attributes.items()))
            return (op.name, attrs, tuple(value_key(o) for o in op.operands))
    return ("value", id(v))


def _int_key(n: int) -> Hashable:
    return ("const", repr(n), "index")


def _view_entries(view: M.ViewOp) -> tuple[Hashable, list[Hashable], list[Hashable]]:
    """Keys of a view's offset, sizes and strides (static entries and operands alike)."""
    offset, shape, strides = view.entries()
    dyn = iter(view.operands[1:])

    def key(e: object) -> Hashable:
        return value_key(next(dyn)) if e is DYN else _int_key(int(e))  # type: ignore[call-overload]
    return key(offset), [key(d) for d in shape], [key(s) for s in strides]


def dim_key(buf: Value, axis: int) -> Hashable:
    t = buf.type
    assert isinstance(t, MemRefType)
    if t.shape[axis] is not None:
        return _int_key(t.shape[axis])
    if isinstance(buf, OpResult):
        op = buf.op
        if isinstance(op, M.AllocOp):
            return value_key(op.operands[sum(d is None for d in t.shape[:axis])])
        if isinstance(op, M.ViewOp):
            return _view_entries(op)[1][axis]
    return ("dim", id(buf), axis)


def stride_key(buf: Value, axis: int) -> Hashable:
    t = buf.type
    assert isinstance(t, MemRefType)
    s = M.layout_of(t)[axis]
    if s is not None:
        return _int_key(s)
    if isinstance(buf, OpResult):
        op = buf.op
        if isinstance(op, M.ViewOp):
            return _view_entries(op)[2][axis]
        if isinstance(op, M.AllocOp):  # contiguous: the product of the later dims
            static = 1
            dynamic: list[Hashable] = []
            for a in range(axis + 1, t.rank):
                d = t.shape[a]
                if d is None:
                    dynamic.append(dim_key(buf, a))
                else:
                    static *= d
            if static == 1 and len(dynamic) == 1:
                return dynamic[0]
            return ("product", static, tuple(dynamic))
    return ("stride", id(buf), axis)


# ---------------------------------------------------------------- accesses


def root_of(v: Value) -> Value:
    """The buffer a memref value views (through mem.view chains)."""
    while isinstance(v, OpResult) and isinstance(v.op, M.ViewOp):
        v = v.op.operands[0]
    return v


def keeps_rows(v: Value) -> bool:
    """Whether element [i, ...] of `v` lies in row i of its root buffer, for every mem.view on the way."""
    while isinstance(v, OpResult) and isinstance(v.op, M.ViewOp):
        view = v.op
        src = view.operands[0]
        vt, st = v.type, src.type
        assert isinstance(vt, MemRefType) and isinstance(st, MemRefType)
        if vt.rank != st.rank or vt.rank == 0:
            return False
        offset, _, _ = _view_entries(view)
        if offset != _int_key(0) or stride_key(v, 0) != stride_key(src, 0):
            return False
        for a in range(1, vt.rank):
            same = stride_key(v, a) == stride_key(src, a) and dim_key(v, a) == dim_key(src, a)
            if not same and stride_key(v, a) != _int_key(0):
                return False
        v = src
    return True


@dataclass
class _Access:
    ref: Value
    indices: list[Value]
    write: bool


def _accesses(nest: L.ParallelOp) -> list[_Access] | None:
    """The loads and stores of a nest, or None when it holds an op the analysis does not know."""
    out: list[_Access] = []
    for op in nest.walk():
        if op is nest:
            continue
        if isinstance(op, M.LoadOp):
            out.append(_Access(op.operands[0], list(op.operands[1:]), False))
        elif isinstance(op, M.StoreOp):
            out.append(_Access(op.operands[1], list(op.operands[2:]), True))
        elif isinstance(op, _BODY_OPS):
            continue
        elif not op.has_trait(PURE) or op.regions or isinstance(op, M.ViewOp):
            return None
    return out


def _row_wise(acc: _Access, iv: Value) -> bool:
    return bool(acc.indices) and acc.indices[0] is iv and keeps_rows(acc.ref)


def _pointwise(acc: _Access, nest: L.ParallelOp) -> bool:
    return acc.indices == list(nest.body.args) and root_of(acc.ref) is acc.ref


def independent_rows(p: L.ParallelOp, q: L.ParallelOp) -> bool:
    """Whether running q's iteration i right after p's iteration i keeps every dependence (docstring)."""
    return _independent(p, q, lambda acc, nest: _row_wise(acc, nest.body.args[0]))


def independent_points(p: L.ParallelOp, q: L.ParallelOp) -> bool:
    """Whether running q's iteration (i, j, ...) right after p's keeps every dependence: p and q have the
    same dims, and each access to a buffer one writes and the other uses indexes it, not through a view,
    with exactly the nest's induction variables (the element of this iteration)."""
    return len(p.operands) == len(q.operands) > 1 and _independent(p, q, _pointwise)


def _independent(p: L.ParallelOp, q: L.ParallelOp, local: Callable[[_Access, L.ParallelOp], bool]) -> bool:
    """Whether every access of p and q to a buffer that one writes and the other uses is `local` to its
    iteration, and every written buffer is an alloc of this function."""
    pa, qa = _accesses(p), _accesses(q)
    if pa is None or qa is None:
        return False
    written_p = {root_of(a.ref) for a in pa if a.write}
    written_q = {root_of(a.ref) for a in qa if a.write}
    used_p = {root_of(a.ref) for a in pa}
    used_q = {root_of(a.ref) for a in qa}
    shared = (written_p & used_q) | (written_q & used_p)
    for buf in written_p | written_q:
        if not (isinstance(buf, OpResult) and isinstance(buf.op, M.AllocOp)):
            return False  # only this function's allocs are known not to alias anything else
    tied = tied_buffers(_function_of(p))
    if any(tied.get(b) in used_q for b in used_p) or any(tied.get(b) in used_p for b in used_q):
        return False  # a tied result's alloc may be its argument's storage: keep their order (passes/tied.py)
    for nest, accs in ((p, pa), (q, qa)):
        if any(root_of(a.ref) in shared and not local(a, nest) for a in accs):
            return False
    return True


# ---------------------------------------------------------------- moving the ops between two nests


def _hoistable(op: Operation, first: L.ParallelOp) -> bool:
    if op.regions:
        return False
    if isinstance(op, M.CheckOp):  # not across checks of the first nest: the first failing one reports
        return not any(isinstance(o, M.CheckOp) for o in first.walk())
    if isinstance(op, M.AllocOp):
        return True
    return op.has_trait(PURE) and not isinstance(op, M.LoadOp)


def _plan_between(between: list[Operation], first: L.ParallelOp) -> tuple[list[Operation], list[Operation]] | None:
    """(ops to hoist above `first`, deallocs to sink below the fused nest), or None if one cannot move."""
    hoist: list[Operation] = []
    sink: list[Operation] = []
    for op in between:
        if isinstance(op, M.DeallocOp):
            sink.append(op)
        elif _hoistable(op, first):
            hoist.append(op)  # its operands are above `first` or hoisted before it: ops between come in order
        else:
            return None
    return hoist, sink


# ---------------------------------------------------------------- the rewrite


def outer_only(nest: L.ParallelOp) -> L.ParallelOp:
    """`nest` as a loop.parallel over its first dim alone, the other dims an inner loop.parallel."""
    if len(nest.operands) == 1:
        return nest
    outer = Builder.before(nest).insert(L.ParallelOp.create([nest.operands[0]]))
    inner = L.ParallelOp.create(list(nest.operands[1:]))
    assert isinstance(outer, L.ParallelOp) and isinstance(inner, L.ParallelOp)
    outer.attributes.update(nest.attributes)
    old = nest.body
    for new, arg in zip([*outer.body.args, *inner.body.args], old.args):
        new.name_hint = arg.name_hint
        arg.replace_all_uses_with(new)
    _move_ops(old, inner.body)
    outer.body.append(inner)
    outer.body.append(L.YieldOp([], None, {}, None, nest.loc))
    inner.loc = nest.loc
    nest.erase()
    return outer


def _move_ops(src: Block, dst: Block, before: Operation | None = None) -> None:
    for op in list(src.ops):
        src.remove(op)
        if before is None:
            dst.append(op)
        else:
            dst.insert(dst.index(before), op)


def fuse(p: L.ParallelOp, q: L.ParallelOp, hoist: list[Operation], sink: list[Operation],
         whole: bool = False) -> L.ParallelOp:
    """Move the ops between p and q, then q's body into p's: over all dims when `whole` (the nests have the
    same dims), else over the first (q's other dims become an inner nest)."""
    block = p.parent
    assert block is not None
    for op in hoist:
        block.remove(op)
        block.insert(block.index(p), op)
    if not whole:
        p, q = outer_only(p), outer_only(q)
    for a, b in zip(q.body.args, p.body.args):
        a.replace_all_uses_with(b)
    body = q.body
    y = body.terminator
    assert y is not None
    y.erase()
    p_yield = p.body.terminator
    assert p_yield is not None
    _move_ops(body, p.body, before=p_yield)
    q.erase()
    after = block.index(p) + 1
    for op in sink:
        block.remove(op)
        block.insert(after, op)
        after += 1
    return p


def _top_ancestor(op: Operation, block: Block) -> Operation | None:
    cur: Operation | None = op
    while cur is not None and cur.parent is not block:
        cur = cur.parent_op
    return cur


def forward_stores(nest: L.ParallelOp) -> bool:
    """Loads of a row value that this iteration stored earlier at the same indices use the stored value.

    For `mem.store %v, %b indices %i, %c0` directly in the body of `nest` (outer induction variable
    %i), the only store into alloc %b in the nest, a later `mem.load %b indices %i, %c0` of the same
    iteration reads %v. A buffer left with that store alone is dropped (alloc, store, deallocs)."""
    body = nest.body
    iv = body.args[0]
    stores: dict[Value, list[M.StoreOp]] = {}
    loads: list[M.LoadOp] = []
    for op in nest.walk():
        if isinstance(op, M.StoreOp):
            stores.setdefault(root_of(op.operands[1]), []).append(op)
        elif isinstance(op, M.LoadOp):
            loads.append(op)
    changed = False
    for buf, group in stores.items():
        store = group[0]
        if len(group) != 1 or store.parent is not body or store.operands[1] is not buf \
                or not (isinstance(buf, OpResult) and isinstance(buf.op, M.AllocOp)):
            continue
        idx = store.operands[2:]
        if not idx or idx[0] is not iv:
            continue
        keys = [value_key(v) for v in idx]
        here = body.index(store)
        for load in loads:
            if load.parent is None or load.operands[0] is not buf:
                continue
            top = _top_ancestor(load, body)
            if top is None or body.index(top) <= here or load.operands[1] is not iv \
                    or [value_key(v) for v in load.operands[1:]] != keys:
                continue
            load.results[0].replace_all_uses_with(store.operands[0])
            load.erase()
            changed = True
        users = buf.users
        if all(u is store or isinstance(u, M.DeallocOp) for u in users):
            for u in users:
                u.erase()
            buf.op.erase()
            changed = True
    return changed


def try_fuse(p: L.ParallelOp, q: L.ParallelOp) -> L.ParallelOp | None:
    """Fuse q into p (q after p in the same block, only movable ops between) if legal; the fused nest."""
    block = p.parent
    if block is None or q.parent is not block:
        return None
    if dict(p.attributes) != dict(q.attributes) or value_key(p.operands[0]) != value_key(q.operands[0]):
        return None
    between = block.ops[block.index(p) + 1:block.index(q)]
    plan = _plan_between(between, p)
    if plan is None:
        return None
    same_dims = [value_key(b) for b in p.operands] == [value_key(b) for b in q.operands]
    if same_dims and independent_points(p, q):
        return fuse(p, q, *plan, whole=True)
    if not independent_rows(p, q):
        return None
    return fuse(p, q, *plan)


def _next_nest(block: Block, start: int) -> L.ParallelOp | None:
    """The next loop.parallel from `start` with only movable-looking ops (no regions) before it."""
    for op in block.ops[start:]:
        if isinstance(op, L.ParallelOp):
            return op
        if op.regions:
            return None
    return None


def nest_size(nest: Operation) -> int:
    """The ops of a nest: what `MAX_FUSED_OPS` bounds."""
    return sum(1 for _ in nest.walk())


def fuse_block(block: Block) -> bool:
    changed = False
    k = 0
    while k < len(block.ops):
        p = block.ops[k]
        if not isinstance(p, L.ParallelOp):
            k += 1
            continue
        fused_any = False
        size = nest_size(p)
        while True:
            q = _next_nest(block, block.index(p) + 1)
            q_size = 0 if q is None else nest_size(q)
            if q is None or size + q_size > MAX_FUSED_OPS:
                break
            fused = try_fuse(p, q)
            if fused is None:
                break
            p, fused_any, size = fused, True, size + q_size
        if fused_any:
            forward_stores(p)
            changed = True
        k = block.index(p) + 1
    return changed


def _function_of(op: Operation) -> FuncOp:
    while not isinstance(op, FuncOp):
        op = op.parent_op  # type: ignore[assignment]
    return op


def _functions(module: Operation) -> Iterator[FuncOp]:
    for op in module.walk():
        if isinstance(op, FuncOp) and not isinstance(op, KernelFuncOp):
            yield op


@dataclass
class FuseLoopsPass(Pass):
    name: ClassVar[str] = "fuse-loops"
    summary: ClassVar[str] = "fuse sibling top-level loop.parallel nests over the same rows into one"

    def run(self, module: Operation) -> bool:
        changed = False
        _KEYS.memo = {}
        try:
            for fn in list(_functions(module)):
                for block in L.host_blocks(fn.body):  # never across a loop.if: its branches are blocks apart
                    changed |= fuse_block(block)
        finally:
            del _KEYS.memo
        return changed


__all__ = ["FuseLoopsPass", "dim_key", "fuse", "independent_rows", "keeps_rows", "outer_only", "root_of",
           "stride_key", "try_fuse", "value_key"]
