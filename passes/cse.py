"""`cse`: common subexpression elimination.

Two pure ops with the same name, operands (in any order for commutative ops), attributes and
result types compute the same values; the later one is replaced by the earlier one. Scopes
follow dominance: a block sees the ops before it in its own block and in the blocks of
enclosing regions (up to an `isolated` op such as `func.func`), never those of sibling
regions. Ops with regions (`tensor.generic` bodies, future scan/if bodies) are merged when their
regions are structurally equal: the same ops in the same order, with block arguments and values
defined inside matched by position and values from outside by identity, and every op inside pure
or a terminator. Regions are simplified first, so bodies that differ only by a duplicate compare
equal after it is merged.

Legal on entry: any verified IR. On exit: the same IR with duplicate pure ops removed.
"""

from __future__ import annotations

import struct
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, ClassVar

from ..ir.attributes import Typed, freeze
from ..ir.core import COMMUTATIVE, ISOLATED, PURE, TERMINATOR, Block, Operation, Region, Value
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


def _attrs_key(op: Operation) -> tuple:
    return tuple(sorted((k, _attr_key(v)) for k, v in op.attributes.items()))


def regions_key(regions: list[Region]) -> tuple | None:
    """The structure of regions as a hashable key (None: something inside has effects). Values defined
    inside are numbered in walk order, values from outside stay themselves (hashed by identity)."""
    local: dict[int, int] = {}

    def ref(v: Value) -> Any:
        return ("local", local[id(v)]) if id(v) in local else v

    def define(values: list[Value]) -> None:
        for v in values:
            local[id(v)] = len(local)

    def region(r: Region) -> tuple | None:
        blocks = []
        for block in r.blocks:
            define(list(block.args))
            ops = []
            for op in block.ops:
                if not (op.has_trait(PURE) or op.has_trait(TERMINATOR)):
                    return None
                inner = tuple(region(sub) for sub in op.regions)
                if None in inner:
                    return None
                ops.append((op.name, tuple(ref(v) for v in op.operands), _attrs_key(op),
                            tuple(v.type for v in op.results), inner))
                define(list(op.results))
            blocks.append((tuple(a.type for a in block.args), tuple(ops)))
        return tuple(blocks)

    keys = tuple(region(r) for r in regions)
    return None if None in keys else keys


def op_key(op: Operation) -> tuple | None:
    """A hashable key equal for ops that compute the same values (None: never merged)."""
    if not op.has_trait(PURE) or not op.results:
        return None
    body = regions_key(op.regions) if op.regions else ()
    if body is None:
        return None
    # Values hash by identity; commutative operands are put in a fixed (id) order.
    operands = tuple(sorted(op.operands, key=id) if op.has_trait(COMMUTATIVE) else op.operands)
    return (op.name, operands, _attrs_key(op), tuple(r.type for r in op.results), body)


def _cse_block(block: Block, scope: ChainMap) -> bool:
    changed = False
    for op in list(block.ops):
        # the regions first: their bodies are compared in simplified form
        for region in op.regions:
            for inner in region.blocks:
                changed |= _cse_block(inner, ChainMap() if op.has_trait(ISOLATED) else scope.new_child())
        key = op_key(op)
        if key is not None:
            existing = scope.get(key)
            if existing is not None:
                op.replace_with(existing.results)
                changed = True
                continue
            scope[key] = op
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
    handles_encodings: ClassVar[bool] = True  # it merges ops by name, operands and attributes alone

    def run(self, module: Operation) -> bool:
        return eliminate_common_subexpressions(module)
