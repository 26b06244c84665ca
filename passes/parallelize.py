"""`parallelize`: split full reductions over threads, mark vectorizable reductions (docs/lowering.md, section 5).

Legal on entry: loop-level IR (what `lower-to-loops` produces): `func.func` bodies of host ops and
`loop.parallel` / `loop.for` nests of `mem.load`, `mem.store` and `scalar` ops. On exit: the same
dialects; every result is the same up to the reassociation of the split reductions.

A *reduction iter arg* of a `loop.for` is one whose value only flows through a chain
`acc' = op(acc, x)` (op one of scalar add, mul, maximum, minimum, and, or, always the same) up to
the `loop.yield`, possibly through a nested `loop.for` that reduces it with the same op.

(a) A top-level `loop.for` (directly in a `func.func` body: no loop around it) whose iter args are
all reductions, whose body writes no memory, and whose trip count is not a constant below
`min-trip-count`, is split into `chunks` pieces:

    %r = loop.for %n iter %init ({ ^bb0(%i, %acc): ... %a = scalar.add %acc, %x ... })

becomes

    %size = (%n + chunks - 1) / chunks                    ceil-div: the last chunks are shorter
    %part = mem.alloc {shape = [chunks], dtype = f32}    (or empty)
    loop.parallel %chunks ({
    ^bb0(%c: index):
      %lo = %c * %size
      %len = min(%size, max(%n - %lo, 0))
      %p = loop.for %len iter %identity ({               the op's identity: 0, 1, -inf, +inf, ...
      ^bb0(%ii: index, %acc: f32):
        %i = %ii + %lo
        ... the original body ...
      })
      mem.store %p, %part indices %c
    })
    %r = loop.for %chunks iter %init ({                  combine, from the original init
    ^bb0(%c: index, %acc: f32):
      %v = mem.load %part indices %c
      %a = scalar.add %acc, %v
      loop.yield %a
    }) {simd_reduction = "add"}
    mem.dealloc %part                                    after the last use of %r

An argmax/argmin loop (`arg_reduction_kind`, below) is split the same way, except that each chunk starts
from the loop's own init (a chunk where nothing beats it returns it) and the combining loop applies the
loop's step to each chunk's (index, value), in chunk order: ties and NaNs resolve as in one loop.

(b) Every innermost `loop.for` (no loop inside) that writes no memory and whose iter args are all
reductions by one op gets `{simd_reduction = "add"}` ("mul", "max", "min", "and", "or"): the C
backend vectorizes it with `#pragma omp simd reduction(...)`. One that carries (index, value) as
`tensor.argmax` / `argmin` declare their body (`arg_reduction_kind`) gets `{simd_reduction = "argmax"}`
("argmin"): the C backend finds the best value with a simd max (min), then its first index.

(c) Nothing else changes: `loop.parallel` already marks independent iterations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects import tensor as T
from ..dialects.func import FuncOp
from ..dialects.kernel import KernelFuncOp
from ..ir.attributes import Typed
from ..ir.builder import Builder
from ..ir.core import PURE, Block, Operation, Region, Value
from ..ir.types import ScalarType, index
from .lower_to_loops import typed_constant
from .pass_manager import Pass

# The reduction kinds and their identities are those the combiners declare (S.COMBINER_OF_KIND).
# Ops a reduction body may hold besides pure ones: they read memory or nest loops, but write nothing.
_READ_ONLY = {"mem.load", "loop.for", "loop.if", "loop.yield"}


def reduction_kind(loop: L.ForOp, j: int) -> str | None:
    """The op of iter arg j when it is a reduction chain `acc' = op(acc, x)` (see the docstring)."""
    body = loop.body
    yielded = body.ops[-1].operands[j]
    cur: Value = body.args[1 + j]
    kind: str | None = None
    while cur is not yielded:
        uses = cur.uses
        if len(uses) != 1:
            return None
        user, slot = uses[0].op, uses[0].index
        if user.parent is not body:
            return None
        if isinstance(user, S.ScalarElementwiseOp) and user.reduction_kind is not None:
            step = user.reduction_kind
            cur = user.result
        elif isinstance(user, L.ForOp) and slot >= 1:
            step = reduction_kind(user, slot - 1)
            cur = user.results[slot - 1]
        else:
            return None
        if step is None or kind not in (None, step):
            return None
        kind = step
    if kind is None or len(yielded.uses) != 1:  # the yield only; `acc` passed through unchanged is no reduction
        return None
    return kind


def loop_kind(loop: L.ForOp) -> str | None:
    """The single reduction op of all iter args of `loop`, or None."""
    n = len(loop.operands) - 1
    kinds = {reduction_kind(loop, j) for j in range(n)}
    if n == 0 or len(kinds) != 1 or None in kinds:
        return None
    return kinds.pop()


ARG_KINDS = ("argmax", "argmin")


def arg_reduction_kind(loop: L.ForOp) -> str | None:
    """"argmax" / "argmin" when `loop` carries (index, value) iter args through the body that
    `tensor.argmax` / `argmin` declare (ArgmaxOp.body): `%w = better(%x, %best)` (for floats
    `or(%w, and(ne(%x, %x), eq(%best, %best)))`), yielding `select(%w, %at, %best_at)`, `select(%w, %x, %best)`,
    where the accumulators are used nowhere else (so `%x` and `%at` depend on the iteration only)."""
    body = loop.body
    if len(loop.operands) != 3 or not isinstance(body.ops[-1], L.YieldOp):
        return None
    best_at, best = body.args[1:]
    at_sel, val_sel = (_op_of(v, T.WhereOp) for v in body.ops[-1].operands)
    if at_sel is None or val_sel is None:
        return None
    wins, x = val_sel.operands[0], val_sel.operands[1]
    if at_sel.operands[0] is not wins or list(at_sel.operands[2:]) != [best_at] or val_sel.operands[2] is not best:
        return None
    test = wins
    uses_of_best = {id(val_sel)}
    if isinstance(best.type, ScalarType) and best.type.is_float:
        either = _op_of(wins, T.OrOp)
        nan = _op_of(either.operands[1], T.AndOp) if either is not None else None
        is_nan = _op_of(nan.operands[0], T.NeOp) if nan is not None else None
        not_nan = _op_of(nan.operands[1], T.EqOp) if nan is not None else None
        if either is None or is_nan is None or not_nan is None or list(is_nan.operands) != [x, x] \
                or list(not_nan.operands) != [best, best]:
            return None
        test = either.operands[0]
        uses_of_best.add(id(not_nan))
    for cls in (T.ArgmaxOp, T.ArgminOp):
        better = _op_of(test, cls.better)
        if better is not None and list(better.operands) == [x, best]:
            uses_of_best.add(id(better))
            if {id(u.op) for u in best.uses} == uses_of_best and [u.op for u in best_at.uses] == [at_sel]:
                return cls.name.removeprefix("tensor.")
    return None


def _op_of(v: Value, cls: type[Operation]) -> Operation | None:
    """The op defining `v` when it is the scalar twin of tensor op `cls`."""
    owner = getattr(v, "op", None)
    return owner if type(owner) is S.SCALAR_OF_TENSOR[cls] else None


def _reduction_kinds(loop: L.ForOp) -> list[str] | None:
    kinds = [reduction_kind(loop, j) for j in range(len(loop.operands) - 1)]
    return None if not kinds or None in kinds else [k for k in kinds if k is not None]


def writes_nothing(loop: Operation) -> bool:
    return all(op is loop or op.has_trait(PURE) or op.name in _READ_ONLY for op in loop.walk())


def identity(kind: str, t: ScalarType) -> Typed:
    """The neutral element of a reduction kind for element type t (as its combiner declares it)."""
    return typed_constant(S.COMBINER_OF_KIND[kind].identity(t), t)


def _static_trip_count(v: Value) -> int | None:
    owner = getattr(v, "op", None)
    if isinstance(owner, S.ConstantOp):
        return int(owner.attributes["value"].value)
    return None


def split_reduction(loop: L.ForOp, kinds: list[str], chunks: int) -> None:
    """Rewrite a top-level reduction loop into parallel chunks + a combining loop (docstring, (a))."""
    b = Builder.before(loop)
    n = loop.operands[0]
    inits = list(loop.operands[1:])

    def const(value: object, t: ScalarType = index) -> Value:
        return b.create(S.ConstantOp, value=typed_constant(value, t)).result

    p = const(chunks)
    p.name_hint = "chunks"
    size = b.create(S.IntDivOp, b.create(S.AddOp, n, const(chunks - 1)).result, p).result
    size.name_hint = "chunk"
    zero = const(0)
    elems = [v.type for v in inits]
    partials = []
    for t in elems:
        assert isinstance(t, ScalarType)
        buf = b.create(M.AllocOp, shape=[chunks], dtype=t).result
        buf.name_hint = "partial"
        partials.append(buf)
    idents = []
    for kind, t, init in zip(kinds, elems, inits):
        assert isinstance(t, ScalarType)
        if kind in ARG_KINDS:  # a chunk that nothing in beats the init returns the init: combining is exact
            idents.append(init)
            continue
        neutral = identity(kind, t)
        owner = getattr(init, "op", None)
        same = isinstance(owner, S.ConstantOp) and repr(owner.attributes["value"]) == repr(neutral)
        idents.append(init if same else b.create(S.ConstantOp, value=neutral).result)

    par = b.insert(L.ParallelOp.create([p]))
    assert isinstance(par, L.ParallelOp)
    (c,) = par.body.args
    c.name_hint = "chunk_id"
    pb = Builder.at_end(par.body, loop.loc)
    lo = pb.create(S.MulOp, c, size).result
    rest = pb.create(S.MaximumOp, pb.create(S.SubOp, n, lo).result, zero).result
    # min(size, ...): the renderer counts a chunk as `size` iterations of work (its OpenMP threshold)
    length = pb.create(S.MinimumOp, size, rest).result
    lo.name_hint, length.name_hint = "lo", "len"
    part = pb.insert(L.ForOp([length, *idents], None, dict(loop.attributes), [_shifted_body(loop, lo)]))
    for buf, r in zip(partials, part.results):
        pb.create(M.StoreOp, r, buf, c)
    pb.create(L.YieldOp)

    combine = b.insert(L.ForOp.create(p, inits))
    assert isinstance(combine, L.ForOp)
    cb = Builder.at_end(combine.body, loop.loc)
    combine.body.args[0].name_hint = "chunk_id"
    loaded = [cb.create(M.LoadOp, buf, combine.body.args[0]).result for buf in partials]
    if kinds[0] in ARG_KINDS:
        _clone_arg_step(loop, loaded, combine)
    else:
        new = [cb.create(S.COMBINER_OF_KIND[kind], acc, v).result
               for kind, v, acc in zip(kinds, loaded, combine.body.args[1:])]
        cb.create(L.YieldOp, *new)
    for old, r in zip(loop.results, combine.results):
        r.name_hint = old.name_hint
        old.replace_all_uses_with(r)
    block = loop.parent
    assert block is not None
    loop.erase()
    # free the partials after the last op of this block that uses the combined results
    last: Operation = combine
    for op in block.ops[block.index(combine):]:
        if any(v in combine.results for inner in op.walk() for v in inner.operands):
            last = op
    after = Builder.after(last)
    for buf in partials:
        after.create(M.DeallocOp, buf)


def _clone_arg_step(loop: L.ForOp, loaded: list[Value], combine: L.ForOp) -> None:
    """The combining loop of a split argmax/argmin: the original step (comparison and selects, then the
    yield) with the chunk's (index, value) from `loaded` in place of the element's position and value."""
    body = loop.body
    at_sel, val_sel = (v.op for v in body.ops[-1].operands)  # type: ignore[attr-defined]
    at, x = at_sel.operands[1], val_sel.operands[1]
    mapping: dict[Value, Value] = {at: loaded[0], x: loaded[1]}
    mapping.update(zip(body.args[1:], combine.body.args[1:]))
    element = {id(o) for v in (at, x) for o in L.ops_defining(body, v)}
    b = Builder.at_end(combine.body, loop.loc)
    for op in body.ops:
        if id(op) not in element:
            b.insert(op.clone(mapping))


def _shifted_body(loop: L.ForOp, lo: Value) -> Region:
    """A copy of loop's body region whose induction variable is `%ii + lo`."""
    old = loop.body
    block = Block([a.type for a in old.args], ["ii", *(a.name_hint for a in old.args[1:])])
    b = Builder.at_end(block, loop.loc)
    i = b.create(S.AddOp, block.args[0], lo).result
    i.name_hint = old.args[0].name_hint
    mapping: dict[Value, Value] = {old.args[0]: i}
    mapping.update(zip(old.args[1:], block.args[1:]))
    for op in old.ops:
        b.insert(op.clone(mapping))
    return Region([block])


def _top_level_loops(module: Operation) -> list[L.ForOp]:
    out = []
    for fn in module.walk():
        if isinstance(fn, FuncOp) and not isinstance(fn, KernelFuncOp):
            out.extend(op for block in L.host_blocks(fn.body) for op in block.ops if isinstance(op, L.ForOp))
    return out


@dataclass
class ParallelizePass(Pass):
    name: ClassVar[str] = "parallelize"
    summary: ClassVar[str] = "split top-level reductions into parallel chunks; mark simd reductions"

    chunks: int = 64
    min_trip_count: int = 4096

    def run(self, module: Operation) -> bool:
        changed = False
        for loop in _top_level_loops(module):
            arg = arg_reduction_kind(loop)
            kinds = [arg, arg] if arg else _reduction_kinds(loop)
            trip = _static_trip_count(loop.operands[0])
            if kinds is None or not writes_nothing(loop) or self.chunks < 2:
                continue
            if trip is not None and (trip < self.min_trip_count or trip <= self.chunks):
                continue
            split_reduction(loop, kinds, self.chunks)
            changed = True
        for op in list(module.walk()):
            if not isinstance(op, L.ForOp) or "simd_reduction" in op.attributes:
                continue
            if any(isinstance(inner, (L.ForOp, L.ParallelOp)) for inner in op.walk() if inner is not op):
                continue
            kind = loop_kind(op) or arg_reduction_kind(op)
            if kind is not None and writes_nothing(op):
                op.attributes["simd_reduction"] = kind
                changed = True
        return changed


__all__ = ["ParallelizePass", "arg_reduction_kind", "identity", "loop_kind", "reduction_kind", "split_reduction"]
