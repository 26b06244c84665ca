"""`fuse-elementwise`: elementwise ops and reductions become `tensor.generic` ops with scalar bodies.

docs/lowering.md section 2. The pass works block by block in two phases:

1. Grouping, walking each block backwards (consumers before producers). A reduction
   (sum prod max min all any argmax argmin) always roots a group. An elementwise op (a class of
   `SCALAR_OF_TENSOR`) joins the group of its users when every use is in that one group of the
   same block; otherwise (used by two groups, by another op, returned, unused) it roots a group
   of its own, so a value used twice is computed once; except a cheap op of one array (a cast, a
   negation, an add or multiply by a constant: `recomputable`), which is first copied for each of
   its uses (`recompute_cheap`). An elementwise op consuming a reduction's
   result therefore starts a new group, and a reduction absorbs its elementwise producers.
2. Building one `tensor.generic` per group at its root: the inputs are the group's operands from
   outside (0-d `tensor.constant`s are inlined as `scalar.constant`); every value of rank r lines
   up with the last r iteration dims (numpy's right alignment); an input dim maps to its iteration
   dim, or to -1 when it is a static 1 against an iteration dim that is not (static broadcasting).
   Each member becomes its scalar twin (tensor.where -> scalar.select, tensor.cast -> scalar.cast
   with the same `dtype`). The result has exactly the root's type.

Reductions: iteration dims are the operand's dims, the reduced ones "reduction"; the output map
lists the kept dims (-1 for keepdims). The body, inits and accumulator types are the op's own
(`tensor.ReductionOp`: `body`, `inits`, `accumulator_types`): the combiner's scalar twin folds each
element, cast to the accumulator type, into the accumulator, which starts at `initial` or the
combiner's identity (sum 0, prod 1, max -inf / dtype min / false, min +inf, all true, any false).
Sums and products of float16/float32 accumulate in float64: the generic yields the wider type and
a cast to the result type follows, fused into the group of the result's users when they are all in one
(`cast_into`), else a generic of its own. Max/min use scalar.maximum/minimum (NaN
propagates). argmax/argmin carry (index, value) as two outputs, the value output unused. argmax
over all dims of a tensor of rank != 1 reduces a `tensor.reshape` of it to one dim. A reduction
over no dims applies its body once to each element (from the init).

Empty reductions: sum/prod/all/any, and max/min with `initial`, give their init. max/min without
`initial` and argmax/argmin get `nonempty = true`: reducing an axis that is empty at run time is
an error, as numpy's (the tensor op's verifier refuses static empty axes).

Legal on entry: verified IR of any dialect. On exit: no elementwise tensor op (ElementwiseOp with a
scalar twin) and no sum/prod/max/min/all/any/argmax/argmin outside generic bodies; everything
else is unchanged (composite ops such as tensor.mean are expected to be gone: run `decompose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..dialects import scalar as S
from ..dialects import tensor as T
from ..dialects.generic_base import GenericBase
from ..ir.attributes import Typed
from ..ir.builder import Builder
from ..ir.core import Block, Operation, Region, Value
from ..ir.rewriter import constant_array, typed_scalar
from ..ir.types import Dim, ScalarType, TensorType, Type, i64, index
from .pass_manager import Pass

REDUCTIONS = T.LOOP_REDUCTIONS  # those that declare a combiner (dialects/tensor.py)


def is_elementwise(op: Operation) -> bool:
    return type(op) in S.SCALAR_OF_TENSOR


def is_reduction(op: Operation) -> bool:
    return type(op) in REDUCTIONS


def _tt(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type


def _inline_constant(v: Value) -> np.ndarray | None:
    """The value of a 0-d `tensor.constant` (inlined into bodies), else None."""
    arr = constant_array(v)
    return arr if arr is not None and arr.ndim == 0 else None


# ---------------------------------------------------------------- groups


@dataclass(eq=False)
class Group:
    """Ops that become one tensor.generic: `root` (last in the block) and its fused producers."""

    root: Operation
    members: list[Operation] = field(default_factory=list)
    accepts_producers: bool = True
    cast_into: Group | None = None  # a widening reduction's: the group its result's cast joins (`users_group`)

    @property
    def results(self) -> set[Value]:
        return {r for m in self.members for r in m.results}


def _argmax_flattens(op: Operation) -> bool:
    """argmax/argmin without axes over a tensor of rank != 1 reduces a reshape of it to one dim."""
    return isinstance(op, T.ArgmaxOp) and op.axis() is None and _tt(op.operands[0]).rank != 1


def _widens(op: Operation) -> bool:
    """Whether a reduction accumulates in a wider type than its result's (its generic's result is then cast)."""
    return isinstance(op, T.ReductionOp) and op.accumulator_types()[0] != _tt(op.results[0]).element


def group_block(block: Block) -> list[Group]:
    """Phase 1: the fusion groups of one block (in block order of their roots)."""
    group_of: dict[int, Group] = {}
    groups: list[Group] = []
    def users_group(op: Operation) -> Group | None:
        """The one group of the block that every user of op's result is in, if it takes producers."""
        users = op.results[0].users
        first = group_of.get(id(users[0])) if users else None
        if (first is not None and first.accepts_producers and {id(group_of.get(id(u))) for u in users} == {id(first)}
                and all(u.parent is block for u in users)):
            return first
        return None

    for op in reversed(block.ops):
        if is_reduction(op):
            g = Group(op, [op], accepts_producers=not _argmax_flattens(op))
            if _widens(op):
                g.cast_into = users_group(op)
        elif is_elementwise(op):
            first = users_group(op)
            if first is not None:
                first.members.append(op)
                group_of[id(op)] = first
                continue
            g = Group(op, [op])
        else:
            continue
        group_of[id(op)] = g
        groups.append(g)
    for g in groups:
        g.members.reverse()  # block order
    groups.reverse()
    return groups


# ---------------------------------------------------------------- building the generic


class _BodyBuilder:
    """Builds a generic's body: block arguments for inputs and accumulators, scalar ops in order."""

    def __init__(self, group: Group, n_iter: int, x_value: Value | None) -> None:
        self.group = group
        self.n = n_iter
        self.inputs: list[Value] = []
        self.values: dict[Value, Value] = {}  # tensor value (member result or input) -> body value
        self.consts: list[tuple[Value, np.ndarray]] = []
        inner = group.results
        if x_value is not None:  # a reduction: its operand (perhaps a reshape of it) comes first
            self._note_operand(x_value, inner)
        for m in group.members:
            if x_value is None or m is not group.root:
                for v in m.operands:
                    self._note_operand(v, inner)

    def _note_operand(self, v: Value, inner: set[Value]) -> None:
        if v in inner or v in self.values or any(c is v for c, _ in self.consts) or v in self.inputs:
            return
        arr = _inline_constant(v)
        if arr is not None:
            self.consts.append((v, arr))
        else:
            self.inputs.append(v)

    def maps_and_sizes(self) -> tuple[list[tuple[int, ...]], list[Dim]]:
        """Input maps (right-aligned; static 1 against a non-1 iteration dim -> -1) and the static
        iteration sizes (the same rule as tensor.generic's type inference)."""
        n = self.n
        sizes: list[Dim] = [1] * n
        dyn = [False] * n
        for v in self.inputs:
            shape = _tt(v).shape
            for d, s in enumerate(shape):
                k = n - len(shape) + d
                if s is None:
                    dyn[k] = True
                elif s != 1:
                    sizes[k] = s
        for k in range(n):
            if sizes[k] == 1 and dyn[k]:
                sizes[k] = None
        maps = []
        for v in self.inputs:
            shape = _tt(v).shape
            off = n - len(shape)
            maps.append(tuple(-1 if s == 1 and sizes[off + d] != 1 else off + d for d, s in enumerate(shape)))
        return maps, sizes

    def start(self, out_elems: list[ScalarType]) -> tuple[Block, list[Value]]:
        block = Block([_tt(v).element for v in self.inputs] + out_elems)
        for v, arg in zip(self.inputs, block.args):
            self.values[v] = arg
        for arg in block.args[len(self.inputs):]:
            arg.name_hint = "acc" if is_reduction(self.group.root) else "out"
        self.block = block
        for v, arr in self.consts:
            self.values[v] = self.add(S.ConstantOp, value=typed_scalar(arr))
        return block, block.args[len(self.inputs):]

    def add(self, cls: type[Operation], *operands: Value, result: Type | None = None,
            loc: Any = None, **attrs: Any) -> Value:
        op = cls.build(*operands, result_types=None if result is None else [result],
                       loc=loc if loc is not None else self.group.root.loc, **attrs)
        self.block.append(op)
        return op.results[0]

    def member(self, op: Operation) -> Value:
        cls = S.SCALAR_OF_TENSOR[type(op)]
        v = self.add(cls, *[self.values[o] for o in op.operands], result=_tt(op.result).element, loc=op.loc,
                     **dict(op.attributes))
        if op is not self.group.root:
            v.name_hint = op.result.name_hint
        self.values[op.result] = v
        return v


def _reduction_layout(op: Operation) -> tuple[list[int], tuple[int, ...]]:
    """(reduced iteration dims, output map) of a reduction over its (possibly flattened) operand."""
    keep = bool(op.attr("keepdims", False))
    rank = _tt(op.operands[0]).rank
    if isinstance(op, T.ArgmaxOp):
        axis = op.axis()
        if axis is None:  # over the flattened operand: one iteration dim (rank 0: none)
            red = [0] if rank else []
            return red, (-1,) * (rank if keep else 0)
        red = [axis]
    else:
        red = list(op.reduced_axes())  # type: ignore[attr-defined]
    out = tuple(-1 if k in red else k for k in range(rank) if keep or k not in red)
    return red, out


def build_generic(group: Group) -> None:
    """Phase 2: replace the group's ops by one tensor.generic inserted at the root."""
    root = group.root
    block = root.parent
    assert block is not None
    reduction = is_reduction(root)
    x: Value | None = None
    if reduction:
        x = root.operands[0]
        if _argmax_flattens(root) and _tt(x).rank > 0:
            flat = T.ReshapeOp.build(x, shape=[-1], loc=root.loc)
            block.insert(block.index(root), flat)
            x = flat.result
        n = _tt(x).rank
        red, out_map = _reduction_layout(root)
        if _tt(root.operands[0]).rank == 0:
            red = []
    else:
        n = _tt(root.result).rank
        red, out_map = [], tuple(range(n))

    body = _BodyBuilder(group, n, x)
    in_maps, _ = body.maps_and_sizes()
    want = _tt(root.results[0])
    out_types: list[TensorType] = [want]
    if reduction:  # the accumulators, in the types the op declares
        assert isinstance(root, T.ReductionOp)
        out_types = [TensorType(want.shape, t) for t in root.accumulator_types()]
    gblock, accs = body.start([t.element for t in out_types])
    for m in group.members:
        if m is not root:
            body.member(m)
    inits: list[Any] | None = None
    if not reduction:
        yielded = [body.member(root)]
    else:
        assert x is not None and isinstance(root, T.ReductionOp)
        b = Builder.at_end(gblock, root.loc)

        def position() -> Value:  # argmax's index: the one reduced dim (the operand is flattened)
            if not red:
                return b.create(S.ConstantOp, value=Typed(0, i64)).result
            return S.cast_to(b, b.create(T.IndexOp, dim=red[0], result_types=[index]).result, i64)
        yielded = root.body(b, body.values[x], accs, position)
        inits = root.inits()
    gblock.append(S.YieldOp.build(*yielded, loc=root.loc))

    iterators = ["reduction" if k in red else "parallel" for k in range(n)]
    attrs: dict[str, Any] = {"maps": [list(m) for m in in_maps] + [list(out_map)] * len(out_types),
                             "iterators": iterators}
    if inits is not None:
        attrs["inits"] = inits
    if red and isinstance(root, T.ReductionOp) and root.empty_is_error():
        attrs["nonempty"] = True  # max/min/argmax/argmin: an empty reduction is an error, as in numpy
    generic = T.GenericOp.build(*body.inputs, result_types=out_types, regions=[Region([gblock])], loc=root.loc,
                                **attrs)
    block.insert(block.index(root), generic)
    value = generic.results[0]
    cast: Operation | None = None
    if value.type != want:  # a wider accumulator: the result is cast, by a generic of its own
        cast = T.CastOp.build(value, dtype=want.element, loc=root.loc)
        block.insert(block.index(root), cast)
        value.name_hint = f"{root.results[0].name_hint or 'r'}_acc"
        value = cast.result
    value.name_hint = root.results[0].name_hint
    root.results[0].replace_all_uses_with(value)
    for m in reversed(group.members):
        m.erase()
    for v, _ in body.consts:  # inlined 0-d constants that nothing else uses
        owner = getattr(v, "op", None)
        if owner is not None and owner.parent is not None and not v.uses:
            owner.erase()
    if cast is not None and group.cast_into is not None:
        group.cast_into.members.insert(0, cast)  # its users' group, built later, fuses it
    elif cast is not None:
        build_generic(Group(cast, [cast]))


RECOMPUTED: tuple[type[Operation], ...] = (T.CastOp, T.NegOp, T.AddOp, T.SubOp, T.MulOp)
"""The elementwise ops cheap enough to redo in every group that uses them (`recompute_cheap`)."""


def recomputable(op: Operation) -> bool:
    """A cheap op (RECOMPUTED) of one tensor besides 0-d constants: redoing it reads what reading its result
    would (one array), and costs an add or a multiply."""
    return type(op) in RECOMPUTED and sum(_inline_constant(v) is None for v in op.operands) <= 1


def recompute_cheap(block: Block) -> None:
    """A cheap op (`recomputable`) used by several fusible ops (elementwise ops and reductions) becomes one copy
    per such use, each fused into its user's group: redoing it costs less than storing its result and reading
    it back. A value used by the forward and the backward graph (the `-y` and `1 - y` of a cross-entropy) so
    costs no generic of its own; var's float64 copy of a float32 input, read by the mean's sum and by the
    deviations, is not stored (three times the input's bytes). Other users (dot, return, views) share the
    original. Walking backwards, a copy's own cheap producers are copied in turn."""
    for op in reversed(list(block.ops)):
        if not recomputable(op):
            continue
        fusible = [u for u in op.result.uses if is_elementwise(u.op) or is_reduction(u.op)]
        shared = len(fusible) < len(op.result.uses)  # the original stays for the other users
        for use in fusible[0 if shared else 1:]:
            twin = block.insert(block.index(op) + 1, op.clone())
            use.op.set_operand(use.index, twin.results[0])


def fuse_block(block: Block) -> bool:
    recompute_cheap(block)
    groups = group_block(block)
    for g in groups:
        build_generic(g)
    return bool(groups)


def _blocks(op: Operation) -> list[Block]:
    """Every block nested in op, except the bodies of generic ops."""
    out: list[Block] = []
    for region in op.regions:
        for b in region.blocks:
            out.append(b)
            for inner in b.ops:
                if not isinstance(inner, GenericBase):
                    out.extend(_blocks(inner))
    return out


@dataclass
class FuseElementwisePass(Pass):
    name: ClassVar[str] = "fuse-elementwise"
    summary: ClassVar[str] = "elementwise ops and reductions -> tensor.generic (fused, scalar bodies)"

    def run(self, module: Operation) -> bool:
        changed = False
        for b in _blocks(module):
            changed |= fuse_block(b)
        return changed


__all__ = ["REDUCTIONS", "FuseElementwisePass", "Group", "build_generic", "group_block",
           "is_elementwise", "is_reduction"]
