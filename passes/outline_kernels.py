"""`outline-kernels`: each top-level loop nest becomes a `kernel.func` + `kernel.launch` (docs/lowering.md, section 6).

Legal on entry: loop-level IR (after `lower-to-loops` / `parallelize`): `func.func` bodies whose
top-level ops are host ops and `loop.parallel` / `loop.for` nests. A top-level `loop.for` with
results must have them used only by the ops right after it (the stores of a full reduction:
`%r = loop.for ...` then `mem.store %r, %out`); such a nest is outlined together with those ops.

A `loop.if` of the function body is host control flow: the nests in its branches (at any depth of
ifs) are outlined as the top-level ones are, and its other ops stay on the host.

Legal on exit: every top-level loop nest of a `func.func` (or of its loop.if branches) is a `kernel.launch` of a new
`kernel.func @<fn>_k<N>` (N counts the nests of that function from 0), inserted before the
function, except a small nest (`stays_on_host`: at most HOST_TRIPS iterations, all counted at
compile time). The function body is the host plan: `mem.alloc/dealloc/dim/stride/view/check`,
`lib.*`, `mem.copy`, scalar index arithmetic, small nests, `kernel.launch`, `func.return`. A nest
whose results escape elsewhere stays on the host (lower-to-loops and parallelize never make one).

    func.func @f(%x: memref<?xf32>) -> memref<?xf32> {        kernel.func @f_k0(%o: memref<?xf32>, %x: memref<?xf32>,
      %n = mem.dim %x {axis = 0}                                               %n: index) {
      %o = mem.alloc %n {...}                                   %c0 = scalar.constant {value = 0.0 : f32}
      %c0 = scalar.constant {value = 0.0 : f32}       ==>       loop.parallel %n ({ ... mem.store ... })
      loop.parallel %n ({ ... %c0 ... %x ... %o ... })         kernel.return
      func.return %o                                          }
    }                                                         func.func @f(%x: memref<?xf32>) -> memref<?xf32> {
                                                                %n = mem.dim %x {axis = 0}
                                                                %o = mem.alloc %n {...}
                                                                kernel.launch %o, %x, %n {kernel = @f_k0}
                                                                func.return %o
                                                              }

The kernel's arguments are the nest's free values (buffers, `index` scalars, other scalars) in
the order of their first use; constants are cloned into the kernel instead of passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dialects import kernel as K
from ..dialects import loop as L
from ..dialects.builtin import ModuleOp
from ..dialects.func import FuncOp
from ..dialects.tensor_common import static_value
from ..ir.attributes import SymbolRef
from ..ir.builder import Builder
from ..ir.core import CONSTANT_LIKE, Block, Operation, OpResult, Value
from ..ir.types import MemRefType, ScalarType
from .pass_manager import Pass


def nest_groups(fn: FuncOp) -> list[list[Operation]]:
    """The top-level loop nests of fn, and those of its host control flow (`loop.if` branches: L.host_blocks),
    each with the ops right after it that use its results."""
    return [g for block in L.host_blocks(fn.body) for g in _block_nest_groups(block)]


def _block_nest_groups(block: Block) -> list[list[Operation]]:
    groups: list[list[Operation]] = []
    ops = list(block.ops)
    i = 0
    while i < len(ops):
        op = ops[i]
        i += 1
        if not isinstance(op, (L.ParallelOp, L.ForOp)):
            continue
        group = [op]
        produced: set[Value] = set(op.results)
        while i < len(ops) and produced and any(v in produced for inner in ops[i].walk() for v in inner.operands):
            group.append(ops[i])
            produced.update(ops[i].results)
            i += 1
        inside = {o for g in group for o in g.walk()}  # walk() includes every nested op
        if all(u.op in inside for v in produced for u in v.uses) and not stays_on_host(group):
            groups.append(group)
    return groups


HOST_TRIPS = 64  # parallelize's default number of chunks: the combine of a split reduction stays on the host


def stays_on_host(group: list[Operation]) -> bool:
    """Whether a nest runs at most HOST_TRIPS iterations, all counted at compile time: scalar work of the
    host plan (a 0-d result's arithmetic or cast, the combine of a split reduction's partial results),
    cheaper inline than as a kernel."""
    trips = 1
    for op in (o for top in group for o in top.walk()):
        if isinstance(op, (L.ParallelOp, L.ForOp)):
            bounds = op.operands if isinstance(op, L.ParallelOp) else op.operands[:1]  # a for's: its upper bound
            for bound in bounds:
                n = static_value(bound)
                if not isinstance(n, int):
                    return False
                trips *= n
    return trips <= HOST_TRIPS


def free_values(group: list[Operation]) -> list[Value]:
    """Values the group uses but does not define, in the order of their first use."""
    defined: set[Value] = set()
    for top in group:
        for op in top.walk():
            defined.update(op.results)
            for region in op.regions:
                for block in region.blocks:
                    defined.update(block.args)
    seen: dict[Value, None] = {}
    for top in group:
        for op in top.walk():
            for v in op.operands:
                if v not in defined and v not in seen:
                    seen[v] = None
    return list(seen)


def _is_constant(v: Value) -> bool:
    owner = getattr(v, "op", None)
    return owner is not None and owner.has_trait(CONSTANT_LIKE) and not owner.operands and not owner.regions


def _fresh_name(module: ModuleOp, base: str, start: int) -> tuple[str, int]:
    n = start
    while module.lookup(f"{base}_k{n}") is not None:
        n += 1
    return f"{base}_k{n}", n


def outline(module: ModuleOp, fn: FuncOp, group: list[Operation], name: str) -> bool:
    """Move `group` into a new kernel.func `name` and launch it in its place."""
    free = free_values(group)
    consts = [v for v in free if _is_constant(v)]
    args = [v for v in free if not _is_constant(v)]
    if not all(isinstance(v.type, (MemRefType, ScalarType)) for v in args):
        return False
    kfn = K.KernelFuncOp.create(name, [v.type for v in args], [], [v.name_hint for v in args], group[0].loc)
    mapping: dict[Value, Value] = dict(zip(args, kfn.body.args))
    kb = Builder.at_end(kfn.body, group[0].loc)
    for c in consts:
        assert isinstance(c, OpResult)
        mapping[c] = kb.insert(c.op.clone({})).results[c.index]
    for op in group:
        kb.insert(op.clone(mapping))
    kb.create(K.ReturnOp)
    module.body.insert(module.body.index(fn), kfn)
    Builder.before(group[0]).create(K.LaunchOp, *args, kernel=SymbolRef(name))
    for op in reversed(group):
        op.erase()
    for c in consts:  # host constants only the nest used
        assert isinstance(c, OpResult)
        if c.op.parent is not None and not any(r.uses for r in c.op.results):
            c.op.erase()
    return True


@dataclass
class OutlineKernelsPass(Pass):
    name: ClassVar[str] = "outline-kernels"
    summary: ClassVar[str] = "top-level loop nests -> kernel.func + kernel.launch (the host plan remains)"

    def run(self, module: Operation) -> bool:
        assert isinstance(module, ModuleOp)
        changed = False
        for fn in [op for op in module.body.ops if type(op) is FuncOp]:
            n = 0
            for group in nest_groups(fn):
                name, n = _fresh_name(module, fn.sym_name, n)
                if outline(module, fn, group, name):
                    changed = True
                    n += 1
        return changed


__all__ = ["OutlineKernelsPass", "free_values", "nest_groups", "outline"]
