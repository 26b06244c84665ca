"""Host control flow over tensors: `tensor.if` (Theano's lazy `ifelse`) and its terminator `tensor.yield`.

    %r = tensor.if %c ({
      %a = tensor.exp %x : tensor<?xf32>
      tensor.yield %a : tensor<?xf32>
    }, {
      tensor.yield %y : tensor<?xf32>
    }) : tensor<?xf32>

The condition is a 0-d `i1` tensor; only the region it picks runs (values defined outside are visible
inside, as in any region that is not isolated). Both regions yield values of the result types' dtypes
and ranks; a static dim of a yielded value must equal the result's, or the result's is `?` (the branches
may differ there at run time). `bufferize` converts each region with the function's own machinery
(passes/bufferize_rules.py `if_`): the op becomes a `loop.if` yielding one fresh allocation per result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.builder import Builder
from ..ir.core import TERMINATOR, Block, Location, Operation, Region, Value
from ..ir.types import TensorType, Type, i1
from .tensor_common import tensor_type
from .tensor_grad import Grads, accumulate, backprop, floating, forward_tape, inputs_of, zeros_like

__all__ = ["IfOp", "YieldOp", "join_types"]


def join_types(op: Operation, a: Type, b: Type, what: str = "branches yield") -> TensorType:
    """The type of a result that is `a` or `b` (the branches of an if, a scan state's initial value and
    step): `?` where their static dims differ."""
    if not isinstance(a, TensorType) or not isinstance(b, TensorType) or a.element != b.element or a.rank != b.rank:
        raise op.error(f"{what} {a} and {b}: they must agree in dtype and rank")
    return TensorType(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.element)


class IfOp(Operation):
    """Runs one of two regions on a 0-d `i1` tensor; each ends with `tensor.yield` of the results:

        %r = tensor.if %c ({ ... tensor.yield %a : tensor<?xf32> }, { ... tensor.yield %b : tensor<?xf32> })
             : tensor<?xf32>
    """

    name = "tensor.if"
    operands_def = ("cond",)
    num_results = None
    num_regions = 2

    @classmethod
    def from_operands(cls, operands: Sequence[Value], loc: Location | None = None,
                      attrs: dict[str, Any] | None = None) -> IfOp:
        """The op the Python API's graph node holds (`tensorir.ifelse`): operands are the condition, then the
        values the then branch yields, then as many the else branch yields (each region is just its yield
        until `sink_operands` moves into it what only it needs)."""
        n = (len(operands) - 1) // 2
        regions = [Region([Block()]) for _ in range(2)]
        for region, values in zip(regions, (operands[1:1 + n], operands[1 + n:])):
            region.block.append(YieldOp.build(*values, loc=loc))
        return cls([operands[0]], None, {}, regions, loc)

    def sink_operands(self) -> None:
        """Moves into a branch every op before this one (in its block) whose results only that branch uses, so
        that it runs only when the branch is taken (what makes ifelse lazy); values needed after the if or by
        both branches stay before it. A `tensor.grad` stays where it is (autodiff expands it there)."""
        from .tensor import GradOp  # tensor.py imports this module before it declares GradOp

        block = self.parent
        assert block is not None
        for op in reversed(block.ops[:block.index(self)]):
            if op.has_trait(TERMINATOR) or isinstance(op, GradOp) or not op.results:
                continue
            users = {_branch_of(u.op, self) for r in op.results for u in r.uses}
            if len(users) == 1 and (region := users.pop()) is not None:
                block.remove(op)
                region.block.insert(0, op)

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        """An if whose branches are the branches' vjps: each recomputes its branch (the forward values inside
        the branch are not visible outside it), then runs reverse mode from its yields to the floating values
        it reads from outside (`inputs_of`), yielding their cotangents (zeros where it does not read one)."""
        inputs = inputs_of(self)
        wrt = [v for v in inputs[1:] if floating(v)]
        blocks = []
        for region in self.regions:
            block = Block()
            bb = Builder.at_end(block, self.loc)
            mapping: dict[Value, Value] = {}
            for op in region.block.ops[:-1]:
                bb.insert(op.clone(mapping))
            live = set(wrt)
            tape = forward_tape(block.ops, live)
            adjoints: dict[Value, Value] = {}
            for y, g in zip(region.block.terminator.operands, out_grads):  # type: ignore[union-attr]
                if mapping.get(y, y) in live:
                    accumulate(bb, adjoints, mapping.get(y, y), g)
            backprop(bb, tape[::-1], adjoints, live)
            bb.create(YieldOp, *[adjoints[v] if v in adjoints else zeros_like(bb, v) for v in wrt])
            blocks.append(block)
        grads = b.insert(IfOp([self.operands[0]], None, {}, [Region([blk]) for blk in blocks], self.loc)).results
        it = iter(grads)
        return [None, *(next(it) if floating(v) else None for v in inputs[1:])]

    def yields(self) -> list[Operation]:
        """The terminators of the then and else regions."""
        out = []
        for region, what in zip(self.regions, ("then", "else")):
            if len(region.blocks) != 1 or region.block.args:
                raise self.error(f"{what} region must be one block without arguments")
            term = region.block.terminator
            if term is None or not isinstance(term, YieldOp):
                raise self.error(f"{what} region must end with tensor.yield")
            out.append(term)
        return out

    def infer_types(self) -> list[Type]:
        then, other = self.yields()
        if len(then.operands) != len(other.operands):
            raise self.error(f"then region yields {len(then.operands)} values, else region {len(other.operands)}")
        return [join_types(self, a.type, b.type) for a, b in zip(then.operands, other.operands)]

    def verify_(self) -> None:
        t = tensor_type(self, self.operands[0])
        if t.element != i1 or t.rank != 0:
            raise self.error(f"condition must be a 0-d i1 tensor, got {t}")
        for y, what in zip(self.yields(), ("then", "else")):
            if len(y.operands) != len(self.results):
                raise self.error(f"{what} region yields {len(y.operands)} values for {len(self.results)} results")
            for k, (v, r) in enumerate(zip(y.operands, self.results)):
                joined = join_types(self, v.type, r.type)
                if any(d is not None and e != d for d, e in zip(r.type.shape, joined.shape)):
                    raise self.error(f"{what} region yields {v.type} as result #{k} of type {r.type}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return interp.run_region(self.regions[0 if bool(np.asarray(args[0])) else 1], [])


def _branch_of(user: Operation, op: IfOp) -> Region | None:
    """The region of `op` that `user` is nested in, else None."""
    while user is not None and user.parent is not None:
        region = user.parent.parent
        if region is not None and region.parent is op:
            return region
        user = user.parent_op  # type: ignore[assignment]
    return None


class YieldOp(Operation):
    """Ends a region of tensor.if (the branch's results) or tensor.scan (a step's):
    `tensor.yield %a, %b : tensor<?xf32>, tensor<f32>`."""

    name = "tensor.yield"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})
    differentiable = False  # the gradient is its tensor.if's

    def verify_(self) -> None:
        from .tensor_scan import ScanOp  # it imports this module

        parent = self.parent_op
        if parent is not None and not isinstance(parent, (IfOp, ScanOp)):
            raise self.error(f"must be inside tensor.if or tensor.scan, not '{parent.name}'")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []
