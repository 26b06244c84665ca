"""`dce`: dead code elimination.

Removes pure ops (trait `pure`) none of whose results is used, walking each block backwards
so a whole dead chain goes in one sweep, and sweeping until nothing changes (a use inside a
region can keep an outer op alive until the region's op goes).

Legal on entry: any verified IR, any dialect. On exit: the same IR minus dead pure ops;
ops with side effects, terminators and functions are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.core import Block, Operation
from ..ir.rewriter import is_trivially_dead
from .pass_manager import Pass


def _sweep_block(block: Block) -> bool:
    changed = False
    for op in reversed(list(block.ops)):
        if is_trivially_dead(op):
            op.erase()
            changed = True
            continue
        for region in op.regions:
            for inner in region.blocks:
                changed |= _sweep_block(inner)
    return changed


def eliminate_dead_code(root: Operation, max_sweeps: int = 100) -> bool:
    changed = False
    for _ in range(max_sweeps):
        swept = False
        for region in root.regions:
            for block in region.blocks:
                swept |= _sweep_block(block)
        if not swept:
            break
        changed = True
    return changed


@dataclass
class DCEPass(Pass):
    name: ClassVar[str] = "dce"
    summary: ClassVar[str] = "remove pure ops whose results are unused"
    handles_encodings: ClassVar[bool] = True  # it drops ops by their uses alone

    def run(self, module: Operation) -> bool:
        return eliminate_dead_code(module)
