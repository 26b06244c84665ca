"""The `loop` dialect: normalized loops (lower bound 0, step 1) over `index` upper bounds.

    %s = loop.for %n iter %zero ({
      ^bb0(%i: index, %acc: f32):
        %x = mem.load %v indices %i : f32
        %next = scalar.add %acc, %x : f32
        loop.yield %next : f32
    }) : f32
    loop.parallel %n0, %n1 ({
      ^bb0(%i: index, %j: index):
        ...
        loop.yield
    }) : index, index
    %r = loop.if %c ({ loop.yield %a : f32 }, { loop.yield %b : f32 }) : f32
    %count = loop.host_for %n ({ ^bb0(%t: index): ... loop.yield }) : index

`loop.for` runs its iterations in order and threads values through them (iter args);
`loop.parallel`'s iterations are independent (OpenMP threads, a CUDA grid, an OpenCL
NDRange) and it has no results: it communicates through buffers only. `loop.if` picks
one of two regions (tails of tiled loops, bound guards of GPU threads); in a function body
it is host control flow (bufferize's `tensor.if`: its branches yield the allocations that are
its memref results, and the loop nests in them become kernels, see `host_blocks`).

Non-normalized loops are written with index arithmetic on the induction variable
(`%k = scalar.add %i, %lo : index`), so every backend sees one loop shape.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..ir.core import TERMINATOR, AttrDef, Block, Operation, Region, Value
from ..ir.dialect import Dialect
from ..ir.types import Type, i1, index
from .mem import check_index_operands

__all__ = ["ForOp", "HostForOp", "ParallelOp", "IfOp", "YieldOp", "host_blocks", "ops_defining"]


def ops_defining(block: Block, v: Value) -> list[Operation]:
    """The ops of `block` that `v` depends on (through their operands), in block order."""
    need, out = {v}, []
    for o in reversed(block.ops):
        if any(r in need for r in o.results):
            out.append(o)
            need.update(o.operands)
    return out[::-1]


def host_blocks(block: Block) -> list[Block]:
    """`block` (a function body) and the blocks of the host control flow in it (`loop.if` regions and
    `loop.host_for` bodies, at any depth, not inside other loops): the blocks whose loop nests are kernels
    and whose other ops the host runs (fuse-loops, parallelize and outline-kernels work on each)."""
    out = [block]
    for op in block.ops:
        if isinstance(op, (IfOp, HostForOp)):
            for region in op.regions:
                for inner in region.blocks:
                    out += host_blocks(inner)
    return out


def _types(values: list[Value] | list[Any]) -> str:
    return "(" + ", ".join(str(v.type) for v in values) + ")"


def _single_block(op: Operation, region: Region, what: str) -> Block:
    if len(region.blocks) != 1:
        raise op.error(f"{what} must have exactly one block, got {len(region.blocks)}")
    return region.block


def _yield_of(op: Operation, block: Block, what: str) -> Operation:
    term = block.terminator
    if term is None or term.name != YieldOp.name:
        raise op.error(f"{what} must end with loop.yield")
    return term


class ForOp(Operation):
    """A sequential loop `for i in range(n)` carrying values from one iteration to the next:
    operands are the upper bound then the initial iter values; the body's block arguments are
    the induction variable then one per iter value; the results are the last yielded values.

        %r = loop.for %n iter %init ({ ^bb0(%i: index, %acc: f32): ... loop.yield %next : f32 }) : f32
    """

    name = "loop.for"
    operands_def = ("upper", "iter*")
    num_results = None
    num_regions = 1

    @classmethod
    def create(cls, upper: Value, inits: list[Value] | tuple[Value, ...] = ()) -> ForOp:
        """A loop with an empty body (arguments %i and one per init): fill it, end it with loop.yield."""
        body = Block([index, *(v.type for v in inits)], ["i", *("acc" for _ in inits)])
        return cls([upper, *inits], None, {}, [Region([body])])  # type: ignore[return-value]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def infer_types(self) -> list[Type]:
        return [v.type for v in self.operands[1:]]

    def verify_(self) -> None:
        check_index_operands(self, self.operands[:1], "upper bound")
        inits = self.operands[1:]
        body = _single_block(self, self.regions[0], "body")
        want = [index, *(v.type for v in inits)]
        if [a.type for a in body.args] != want:
            raise self.error(f"body arguments {_types(body.args)} must be (index) followed by the iter types "
                             f"{_types(inits)}")
        y = _yield_of(self, body, "body")
        if [v.type for v in y.operands] != [v.type for v in inits]:
            raise self.error(f"yields {_types(y.operands)} but its iter args are {_types(inits)}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        values = list(args[1:])
        for i in range(int(args[0])):
            values = interp.run_region(self.regions[0], [np.int64(i), *values])
        return values


class HostForOp(Operation):
    """A loop the host runs (bufferize's `tensor.scan`): its body is a host block, whose loop nests become
    kernels launched once per iteration. Its block argument is the step t (n-1 down to 0 with `reverse`);
    the body may yield an i1 that ends the loop when false (after that iteration). The result is the
    number of iterations run.

        %count = loop.host_for %n ({ ^bb0(%t: index): ... loop.yield %go : i1 }) : index
    """

    name = "loop.host_for"
    operands_def = ("upper",)
    num_results = 1
    num_regions = 1
    attrs = {"reverse": AttrDef(bool)}

    @classmethod
    def create(cls, upper: Value, reverse: bool = False) -> HostForOp:
        """A loop with an empty body (argument %t): fill it, end it with loop.yield."""
        attrs = {"reverse": True} if reverse else {}
        return cls([upper], None, attrs, [Region([Block([index], ["t"])])])  # type: ignore[return-value]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def infer_types(self) -> list[Type]:
        return [index]

    def verify_(self) -> None:
        check_index_operands(self, self.operands, "upper bound")
        body = _single_block(self, self.regions[0], "body")
        if [a.type for a in body.args] != [index]:
            raise self.error(f"body takes one index argument, got {_types(body.args)}")
        y = _yield_of(self, body, "body")
        if [v.type for v in y.operands] not in ([], [i1]):
            raise self.error(f"body yields {_types(y.operands)}: nothing, or an i1 that goes on when true")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        n = int(args[0])
        for i in range(n):
            t = n - 1 - i if self.attributes.get("reverse", False) else i
            go = interp.run_region(self.regions[0], [np.int64(t)])
            if go and not bool(go[0]):
                return [np.int64(i + 1)]
        return [np.int64(n)]


class ParallelOp(Operation):
    """A nest of independent iterations, one `index` block argument per bound, no results:

        loop.parallel %n0, %n1 ({ ^bb0(%i: index, %j: index): ... loop.yield }) : index, index

    The reference interpreter runs the iterations in row-major order; code that depends on
    that order is wrong (it races once compiled)."""

    name = "loop.parallel"
    operands_def = ("bounds*",)
    num_results = 0
    num_regions = 1

    @classmethod
    def create(cls, bounds: list[Value] | tuple[Value, ...]) -> ParallelOp:
        """A nest with an empty body (one `index` argument per bound): fill it, end it with loop.yield."""
        names = ["i", "j", "k", "l"][:len(bounds)] if len(bounds) <= 4 else None
        body = Block([index] * len(bounds), names)
        return cls(list(bounds), [], {}, [Region([body])])  # type: ignore[return-value]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    def verify_(self) -> None:
        if not self.operands:
            raise self.error("expects at least one bound")
        check_index_operands(self, self.operands, "bound")
        body = _single_block(self, self.regions[0], "body")
        if len(body.args) != len(self.operands) or any(a.type != index for a in body.args):
            raise self.error(f"has {len(self.operands)} bounds, so its body takes {len(self.operands)} index "
                             f"arguments, got {_types(body.args)}")
        y = _yield_of(self, body, "body")
        if y.operands:
            raise self.error(f"body yields {_types(y.operands)}; a parallel loop has no results")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        for ivs in itertools.product(*(range(int(n)) for n in args)):
            interp.run_region(self.regions[0], [np.int64(i) for i in ivs])
        return []


class IfOp(Operation):
    """Runs one of two regions on an `i1` condition; both end with loop.yield of the result types:

        %r = loop.if %c ({ loop.yield %a : f32 }, { loop.yield %b : f32 }) : f32
    """

    name = "loop.if"
    operands_def = ("cond",)
    num_results = None
    num_regions = 2

    def infer_types(self) -> list[Type]:
        if self.results:
            return [r.type for r in self.results]
        # Written without result types: those the `then` region yields.
        if self.regions and self.regions[0].blocks and (t := self.regions[0].blocks[0].terminator) is not None:
            return [v.type for v in t.operands]
        return []

    def verify_(self) -> None:
        if self.operands[0].type != i1:
            raise self.error(f"condition must be i1, got {self.operands[0].type}")
        for region, what in zip(self.regions, ("then", "else")):
            block = _single_block(self, region, f"{what} region")
            if block.args:
                raise self.error(f"{what} region takes no arguments, got {_types(block.args)}")
            y = _yield_of(self, block, f"{what} region")
            if [v.type for v in y.operands] != [r.type for r in self.results]:
                raise self.error(f"{what} region yields {_types(y.operands)} but the results are "
                                 f"{_types(self.results)}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return interp.run_region(self.regions[0 if bool(args[0]) else 1], [])


class YieldOp(Operation):
    """Ends the body of loop.for (the next iter values), loop.parallel (nothing) or loop.if
    (its results): `loop.yield %next : f32`."""

    name = "loop.yield"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})

    def verify_(self) -> None:
        parent = self.parent_op
        if parent is not None and not isinstance(parent, (ForOp, HostForOp, ParallelOp, IfOp)):
            raise self.error(f"must be inside loop.for, loop.host_for, loop.parallel or loop.if, not '{parent.name}'")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []


DIALECT = Dialect("loop", "normalized loops over index upper bounds")
