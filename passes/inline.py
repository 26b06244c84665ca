"""`inline`: replaces every `func.call` by a copy of the callee's body.

The native pipeline compiles one function into one C entry point, so calls between
functions of a module are inlined first (tensor ops are pure: inlining never changes
a result). A call cycle (recursion) is an error naming the call.

Legal on entry: verified IR whose `func.call`s name functions of the same module.
On exit: the same IR without `func.call`; the callees stay (they may be entry points too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dialects.func import CallOp
from ..ir.core import Operation, TirError, Value
from .pass_manager import Pass


def inline_call(call: CallOp) -> None:
    """Insert the callee's ops before `call`, then replace the call by the callee's returned values."""
    callee = call.callee_op()
    if callee is None:
        raise TirError(f"'func.call' op calls unknown function @{call.attributes['callee'].name}", call.loc)
    block = call.parent
    assert block is not None
    mapping: dict[Value, Value] = dict(zip(callee.body.args, call.operands))
    at = block.index(call)
    returned: list[Value] = []
    for op in callee.body.ops:
        if op.name == "func.return":
            returned = [mapping.get(v, v) for v in op.operands]
            break
        block.insert(at, op.clone(mapping))
        at += 1
    call.replace_with(returned)


def _find_cycle(module: Operation) -> CallOp | None:
    """A call that (directly or not) reaches its own function again, if any."""
    funcs = {op.attributes["sym_name"]: op for op in module.regions[0].block.ops if op.name == "func.func"}
    calls = {name: [o for o in fn.walk() if isinstance(o, CallOp)] for name, fn in funcs.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str) -> CallOp | None:
        state[name] = 1
        for call in calls.get(name, []):
            callee = call.attributes["callee"].name
            if state.get(callee) == 1:
                return call
            if state.get(callee) is None and callee in funcs:
                found = visit(callee)
                if found is not None:
                    return found
        state[name] = 2
        return None

    for name in funcs:
        if name not in state:
            found = visit(name)
            if found is not None:
                return found
    return None


@dataclass
class InlinePass(Pass):
    name: ClassVar[str] = "inline"
    summary: ClassVar[str] = "inline every func.call"

    def run(self, module: Operation) -> bool:
        cycle = _find_cycle(module)
        if cycle is not None:
            raise TirError(f"'func.call' op calls @{cycle.attributes['callee'].name} recursively; the native "
                           "pipeline inlines calls and cannot compile recursion (target=\"interp\" runs it)",
                           cycle.loc)
        changed = False
        while True:  # no cycle: every round removes a level of calls
            calls = [op for op in module.walk() if isinstance(op, CallOp)]
            if not calls:
                return changed
            for call in calls:
                inline_call(call)
            changed = True


__all__ = ["InlinePass", "inline_call"]
