"""The `builtin` dialect: the module that holds functions.

    module { func.func @f(...) { ... } }

In text the module is implicit: a .tir file is a list of functions.
"""

from __future__ import annotations

from ..ir.core import ISOLATED, Block, Operation, Region
from ..ir.dialect import Dialect
from ..ir.types import Type


class ModuleOp(Operation):
    """The top-level container; its single block holds `func.func` ops."""

    name = "builtin.module"
    num_results = 0
    num_regions = 1
    traits = frozenset({ISOLATED})

    @classmethod
    def empty(cls) -> ModuleOp:
        return cls([], [], {}, [Region([Block()])])  # type: ignore[return-value]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def lookup(self, symbol: str) -> Operation | None:
        for op in self.body.ops:
            if op.attributes.get("sym_name") == symbol:
                return op
        return None

    @property
    def functions(self) -> list[Operation]:
        return [op for op in self.body.ops if op.name == "func.func"]

    def infer_types(self) -> list[Type]:
        return []


def enclosing_module(op: Operation) -> ModuleOp | None:
    cur: Operation | None = op
    while cur is not None and not isinstance(cur, ModuleOp):
        cur = cur.parent_op
    return cur


DIALECT = Dialect("builtin", "the module that holds functions")
