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

from typing import Any

import numpy as np

from ..ir.core import TERMINATOR, Operation
from ..ir.types import TensorType, Type, i1
from .tensor_common import tensor_type

__all__ = ["IfOp", "YieldOp"]


def _join(op: Operation, a: Type, b: Type) -> TensorType:
    """The type of a result whose branches yield `a` and `b`: `?` where their static dims differ."""
    if not isinstance(a, TensorType) or not isinstance(b, TensorType) or a.element != b.element or a.rank != b.rank:
        raise op.error(f"branches yield {a} and {b}: they must agree in dtype and rank")
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
        return [_join(self, a.type, b.type) for a, b in zip(then.operands, other.operands)]

    def verify_(self) -> None:
        t = tensor_type(self, self.operands[0])
        if t.element != i1 or t.rank != 0:
            raise self.error(f"condition must be a 0-d i1 tensor, got {t}")
        for y, what in zip(self.yields(), ("then", "else")):
            if len(y.operands) != len(self.results):
                raise self.error(f"{what} region yields {len(y.operands)} values for {len(self.results)} results")
            for k, (v, r) in enumerate(zip(y.operands, self.results)):
                joined = _join(self, v.type, r.type)
                if any(d is not None and e != d for d, e in zip(r.type.shape, joined.shape)):
                    raise self.error(f"{what} region yields {v.type} as result #{k} of type {r.type}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return interp.run_region(self.regions[0 if bool(np.asarray(args[0])) else 1], [])


class YieldOp(Operation):
    """Ends a region of tensor.if with the branch's results: `tensor.yield %a, %b : tensor<?xf32>, tensor<f32>`."""

    name = "tensor.yield"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})

    def verify_(self) -> None:
        parent = self.parent_op
        if parent is not None and not isinstance(parent, IfOp):
            raise self.error(f"must be inside tensor.if, not '{parent.name}'")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []
