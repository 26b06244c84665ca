"""Builder: creates ops at an insertion point, as MLIR's OpBuilder does."""

from __future__ import annotations

from typing import Any

from .core import Block, Location, Operation, Value


class Builder:
    """Inserts new ops into `block` before position `index` (the end when None)."""

    def __init__(self, block: Block | None = None, index: int | None = None,
                 loc: Location | None = None) -> None:
        self.block = block
        self.index = index
        self.loc = loc

    @classmethod
    def at_end(cls, block: Block, loc: Location | None = None) -> Builder:
        return cls(block, None, loc)

    @classmethod
    def before(cls, op: Operation) -> Builder:
        assert op.parent is not None
        return cls(op.parent, op.parent.index(op), op.loc)

    @classmethod
    def after(cls, op: Operation) -> Builder:
        assert op.parent is not None
        return cls(op.parent, op.parent.index(op) + 1, op.loc)

    def insert(self, op: Operation) -> Operation:
        if self.block is None:
            raise ValueError("builder has no insertion point")
        if op.loc is None or str(op.loc) == "<unknown>:0":
            op.loc = self.loc or op.loc
        if self.index is None:
            self.block.append(op)
        else:
            self.block.insert(self.index, op)
            self.index += 1
        return op

    def create(self, cls: type[Operation], *operands: Value, **attrs: Any) -> Operation:
        """Build `cls` from operands and attributes (types inferred) and insert it."""
        attrs.setdefault("loc", self.loc)
        return self.insert(cls.build(*operands, **attrs))
