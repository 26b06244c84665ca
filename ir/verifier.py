"""The verifier: each op's own rules plus structure (dominance, terminators)."""

from __future__ import annotations

from collections.abc import Collection

from .core import ISOLATED, TERMINATOR, Operation, Value, VerifyError


def verify(op: Operation, checked: Collection[Operation] = ()) -> None:
    """Raise VerifyError (with the op's location) at the first broken rule. The ops in `checked` just passed
    their own rules (`Operation.verify`): only the structure around them is checked."""
    _verify(op, set(), checked)


def _verify(op: Operation, visible: set[Value], checked: Collection[Operation]) -> None:
    for i, v in enumerate(op.operands):
        if v not in visible:
            raise VerifyError(op, f"operand #{i} is used before it is defined (or outside its scope)")
    if op not in checked:
        op.verify()
    for region in op.regions:
        outer = set() if op.has_trait(ISOLATED) else visible
        for block in region.blocks:
            scope = set(outer)
            scope.update(block.args)
            for k, inner in enumerate(block.ops):
                if inner.has_trait(TERMINATOR) and k != len(block.ops) - 1:
                    raise VerifyError(inner, "must be the last op of its block")
                _verify(inner, scope, checked)
                scope.update(inner.results)
