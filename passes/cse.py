"""`cse`: common subexpression elimination.

Two pure ops with the same name, operands (in any order for commutative ops), attributes and
result types compute the same values; the later one is replaced by the earlier one. Scopes
follow dominance: a block sees the ops before it in its own block and in the blocks of
enclosing regions (up to an `isolated` op such as `func.func`), never those of sibling
regions. Ops with regions are not merged (their bodies would need structural comparison).

Legal on entry: any verified IR. On exit: the same IR with duplicate pure ops removed.
"""

from __future__ import annotations

import struct
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, ClassVar

from ..ir.attributes import Typed, freeze
from ..ir.core import COMMUTATIVE, ISOLATED, PURE, Block, Operation
from .pass_manager import Pass


def _attr_key(value: Any) -> Any:
    """freeze(), but telling -0.0 from 0.0 (they compare equal, yet x/-0.0 != x/0.0)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, Typed):
        return ("Typed", _attr_key(value.value), value.type)
    if isinstance(value, tuple):
        return ("tuple",) + tuple(_attr_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, _attr_key(v)) for k, v in value.items()))
    return freeze(value)


def op_key(op: Operation) -> tuple | None:
    """A hashable key equal for ops that compute the same values (None: never merged)."""
    if not op.has_trait(PURE) or op.regions or not op.results:
        return None
    # Values hash by identity; commutative operands are put in a fixed (id) order.
    operands = tuple(sorted(op.operands, key=id) if op.has_trait(COMMUTATIVE) else op.operands)
    attrs = tuple(sorted((k, _attr_key(v)) for k, v in op.attributes.items()))
    return (op.name, operands, attrs, tuple(r.type for r in op.results))


def _cse_block(block: Block, scope: ChainMap) -> bool:
    changed = False
    for op in list(block.ops):
        key = op_key(op)
        if key is not None:
            existing = scope.get(key)
            if existing is not None:
                op.replace_with(existing.results)
                changed = True
                continue
            scope[key] = op
        for region in op.regions:
            for inner in region.blocks:
                changed |= _cse_block(inner, ChainMap() if op.has_trait(ISOLATED) else scope.new_child())
    return changed


def eliminate_common_subexpressions(root: Operation) -> bool:
    changed = False
    for region in root.regions:
        for block in region.blocks:
            changed |= _cse_block(block, ChainMap())
    return changed


@dataclass
class CSEPass(Pass):
    name: ClassVar[str] = "cse"
    summary: ClassVar[str] = "merge identical pure ops"

    def run(self, module: Operation) -> bool:
        return eliminate_common_subexpressions(module)
