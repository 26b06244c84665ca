"""`tree-reductions`: a grid kernel's long row reductions run on a work-group each (device targets, after
`outline-kernels{device=true}`).

outline-kernels gives a kernel whose top-level `loop.parallel` holds a reduction (`loop.for` with iter args, a
row sum, max, softmax's or logsumexp's two passes over a row, a chunk of a split full reduction) one work-item
per row: each work-item walks its whole row alone. This pass marks such a kernel `tree = R` (option
`work-items`, 128, a power of two): the grid's fastest dim is then one work-group of R work-items per index,
and the grid renderer (backends/gpu.py) renders each reduction of the row as a work-group tree reduction:
work-item t folds elements t, t + R, t + 2R ... from the kind's identity, the R partial results are combined
in local memory in log2(R) halving steps, and every work-item takes `init (op) total`. The rest of the row is
shared out the same way: an inner `loop.parallel` strides by R over its first dim, a store of the row's own
is made by work-item 0, and a barrier follows every write, so what the row writes is there for what it reads
next. Scalar work between them is done by every work-item (the same values).

A kernel is marked when (a) its grid covers every dim of its one top-level loop.parallel and the grid does not
have a work-group size already (`local`: a tiled gemm), (b) the row's top-level ops are pure scalar ops,
`mem.load`, `mem.store`, inner `loop.parallel`s and reduction `loop.for`s (every iter arg a reduction chain of
one kind of add/mul/max/min/and/or, as parallelize's `reduction_kind` finds them, on f32/f64/integers; the body
writes nothing) and nothing that leaves a work-item early (`mem.check`), and (c) one of its reductions is long:
its trip count is not known at compile time or is at least `min-length` (128).

    kernel.func @f_k0(%n: index, %m: index, %x: memref<?x?xf32, #device>,     ... attributes {grid = 1, tree = 128}
        %o: memref<?xf32, #device>) attributes {grid = 1} {
      loop.parallel %n ({ ^bb0(%i: index):                          (unchanged: the renderer reads `tree`)
        %s = loop.for %m iter %zero {simd_reduction = "add"} (...)
        mem.store %s, %o indices %i ...

Legal on entry and exit: the kernels and host plan of outline-kernels{device=true}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dialects import kernel as K
from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects.builtin import ModuleOp
from ..dialects.tensor_common import static_value
from ..ir.core import PURE, Operation
from ..ir.types import ScalarType
from .parallelize import reduction_kind, writes_nothing
from .pass_manager import Pass

TREE_KINDS = ("add", "mul", "max", "min", "and", "or")  # kinds whose partial results combine in any order


def tree_reduction_kinds(loop: L.ForOp) -> list[str] | None:
    """The kind of each iter arg of `loop` when a work-group may compute it as a tree (see the module doc)."""
    n = len(loop.results)
    kinds = [reduction_kind(loop, j) for j in range(n)]
    if not n or any(k not in TREE_KINDS for k in kinds) or not writes_nothing(loop):
        return None
    if not all(isinstance(r.type, ScalarType) and r.type.name != "f16" for r in loop.results):
        return None
    return kinds  # type: ignore[return-value]


def _row_ok(op: Operation) -> bool:
    if isinstance(op, L.ForOp):
        return tree_reduction_kinds(op) is not None
    if isinstance(op, L.ParallelOp):
        return not any(isinstance(o, M.CheckOp) for o in op.walk())
    return not op.regions and (op.has_trait(PURE) or isinstance(op, (M.LoadOp, M.StoreOp, L.YieldOp)))


def tree_row(kfn: K.KernelFuncOp) -> L.ParallelOp | None:
    """The kernel's top-level loop.parallel when its rows may be work-groups (conditions (a) and (b))."""
    grid = int(kfn.attributes.get("grid", 0))
    if not grid or "local" in kfn.attributes:
        return None
    loops = [o for o in kfn.body.ops if isinstance(o, L.ParallelOp)]
    if len(loops) != 1 or len(loops[0].operands) != grid:
        return None
    return loops[0] if all(_row_ok(o) for o in loops[0].body.ops) else None


@dataclass
class TreeReductionsPass(Pass):
    name: ClassVar[str] = "tree-reductions"
    summary: ClassVar[str] = "device targets: a grid kernel's long row reductions -> work-group tree reductions"

    work_items: int = 128  # per row: a power of two
    min_length: int = 128  # a reduction of a static trip count below this stays one work-item's loop

    def run(self, module: Operation) -> bool:
        assert isinstance(module, ModuleOp)
        changed = False
        for kfn in [op for op in module.body.ops if isinstance(op, K.KernelFuncOp)]:
            row = tree_row(kfn)
            if row is None or "tree" in kfn.attributes:
                continue
            trips = [static_value(o.operands[0]) for o in row.body.ops if isinstance(o, L.ForOp)]
            if any(not isinstance(n, int) or n >= self.min_length for n in trips):
                kfn.attributes["tree"] = self.work_items
                changed = True
        return changed


__all__ = ["TREE_KINDS", "TreeReductionsPass", "tree_reduction_kinds", "tree_row"]
