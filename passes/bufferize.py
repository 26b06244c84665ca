"""`bufferize`: tensor values -> buffers (the `mem` and `lib` dialects); docs/lowering.md section 3.

Legal on entry: functions over core tensor ops (docs/lowering.md section 1's list, usually with
elementwise ops and reductions already fused into `tensor.generic`; bare elementwise ops and
reductions are accepted too and become one-op `mem.generic`s), `scalar` ops and `func.return`.

Legal on exit: no tensor value remains except the results of `tensor.constant`, each read only
through `mem.buffer_of` (read-only data). Functions take memrefs with dynamic strides (the
caller's arrays in any layout, never written) and return fresh contiguous `mem.alloc`s of
their own. The body is a flat list of `mem.alloc/dealloc/dim/stride/view/check/copy/load/store`,
`mem.generic`, `lib.gemm/gemv`, `loop.for` (ordered scatters) and `index` arithmetic in `scalar`;
every op carries the location of the tensor op it comes from, so run-time checks name the
user's line.

How (per function, one sweep in program order):
- each tensor op has a rule in `RULES` (bufferize_rules.py), keyed by op class, that emits
  the buffer code before the op and returns the buffers of its results;
- every dynamic size is `mem.dim` (cached per buffer and axis) plus folded `index` arithmetic;
- a buffer's root (the alloc, argument or constant it views) is tracked, so an output can reuse
  an input's alloc when no tensor aliasing that alloc is used later (in place), and each
  intermediate alloc gets a `mem.dealloc` after the last use of any view of it;
- small integer and boolean tensors of static shape computed from sizes (shape vectors, the dims and
  `n == 1` tests of gradients' unbroadcasting and means) stay on the host as lists of scalars
  (`host_elements`): no buffer and no kernel is made for them; an op reading one as a size gets the
  scalar, a generic reading a 0-d one gets it as a captured scalar, any other op a stored buffer;
- a result tied to an argument (`tir.tied`, passes/tied.py) gets a fresh alloc of its own rather
  than an operand's (the argument's storage may become that alloc), and once the body is converted
  `decide_tied` keeps the ties that are safe and drops the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..dialects import extern as X
from ..dialects import func as F
from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects import tensor as T
from ..dialects.tensor_common import broadcast_failure, broadcast_pairs, dim_at
from ..ir.attributes import DYN, Typed
from ..ir.builder import Builder
from ..ir.core import OP_REGISTRY, Block, Location, Operation, Region, TirError, Value
from ..ir.types import FunctionType, MemRefType, ScalarType, TensorType, Type, i1, i64, index
from .dce import eliminate_dead_code
from .pass_manager import Pass
from .tied import decide_tied, tied_of

Ix = int | Value  # an index known at compile time (int) or computed at run time (an `index` value)
Cond = bool | Value  # an i1 known at compile time or computed
BodyFn = Callable[[Builder, list[Value]], Sequence[Value]]

ALLOC, ARG, CONST = "alloc", "arg", "const"
TERMINATORS = (F.ReturnOp.name, T.YieldOp.name)  # the terminators whose tensors become buffers the block owns
HOST_ELEMENTS = 8  # the most elements of an integer tensor kept on the host as scalars (a shape vector's)
Elem = int | bool | Value  # an element of such a tensor: known at compile time, or a scalar of its dtype


def sop(name: str) -> type[Operation]:
    """The class of a scalar op by its name (`scalar.add`)."""
    return OP_REGISTRY[name]


def memref_of(t: TensorType, *, argument: bool = False) -> MemRefType:
    """The buffer type of a tensor type: contiguous, or (arguments) with dynamic strides."""
    strides = (None,) * t.rank if argument and t.rank else None
    return MemRefType(t.shape, t.element, strides)


class FunctionBufferizer:
    """Bufferizes one function. Rules call the helpers below; they insert before the current op."""

    def __init__(self, fn: F.FuncOp) -> None:
        self.fn = fn
        self.block: Block = fn.body
        self.buf: dict[Value, Value] = {}  # tensor -> its buffer
        self.root: dict[Value, Value] = {}  # buffer -> the alloc / argument / constant buffer it views
        self.kind: dict[Value, str] = {}  # root -> ALLOC | ARG | CONST
        self.group: dict[Value, list[Value]] = {}  # root -> tensors whose buffers view it
        self.last_use: dict[Value, int] = {}  # tensor -> position of its last user in the original body
        self.dims: dict[tuple[Value, int], Value] = {}
        self.strides: dict[tuple[Value, int], Value] = {}
        self.consts: dict[tuple[Any, ScalarType], Value] = {}
        self.arith: dict[tuple[Any, ...], Value] = {}
        self.known_contiguous: set[Value] = set()  # views with dynamic strides that are row-major
        self.elements: dict[Value, list[Elem]] = {}  # small integer tensors kept on the host (row-major)
        self.on_yield: Callable[[Operation], None] | None = None  # the region's terminator hook (convert_region)
        term = fn.body.terminator
        # Tensors returned as tied results: never written into an operand's buffer (passes/tied.py).
        self.tied: set[Value] = {term.operands[r] for r, a in enumerate(tied_of(fn)) if a >= 0} \
            if term is not None else set()
        self.b = Builder(self.block, 0)
        self.op: Operation | None = None
        self.pos = 0

    # ---------------------------------------------------------------- driver
    def run(self) -> None:
        # Tensor arguments keep their types while the rules run (ops read their operands' tensor
        # types); their buffers are new block arguments that replace them at the end.
        n_args = len(self.block.args)
        for a in list(self.block.args):
            if isinstance(a.type, TensorType):
                new = self.block.add_arg(memref_of(a.type, argument=True), a.name_hint)
                self.buf[a] = new
                self._set_root(new, new, ARG)
        self.convert_block(self.block)
        eliminate_dead_code(self.fn)  # index arithmetic no rule ended up using
        self._place_deallocs(self.block)
        args = []
        for a in self.block.args[:n_args]:
            if isinstance(a.type, TensorType):
                if a.uses:
                    raise TirError(f"bufferize: argument %{a.name_hint} is still used as a tensor", self.fn.loc)
                args.append(self.buf[a])
            else:
                args.append(a)
        self.block.args = args
        for k, a in enumerate(args):
            a.index = k
        inputs = tuple(a.type for a in self.fn.args)
        term = self.block.terminator
        results = tuple(v.type for v in term.operands) if term is not None else ()
        self.fn.attributes["function_type"] = FunctionType(inputs, results)
        decide_tied(self.fn)

    def convert_block(self, block: Block) -> None:
        """Converts the ops of `block` in program order with the rules (RULES), then erases the tensor ops.
        Liveness is per block: an op's position is its own or that of the op of `block` it is nested in, so
        a value used inside a region lives until after the op that holds the region."""
        from .bufferize_rules import RULES

        self.block, self.last_use = block, {}
        ops = list(block.ops)
        for k, op in enumerate(ops):
            for inner in op.walk():
                for v in inner.operands:
                    if isinstance(v.type, TensorType):
                        self.last_use[v] = max(self.last_use.get(v, -1), k)
        converted: list[Operation] = []
        for k, op in enumerate(ops):
            self.op, self.pos = op, k
            self.b = Builder.before(op)
            if op is block.terminator and op.name in TERMINATORS and self.on_yield is not None:
                self.on_yield(op)
                continue
            if op is block.terminator and op.name in TERMINATORS:
                # a yield's types: the results of the op that now holds its region (a loop.if's buffer types)
                self._own_results(op, [None] * len(op.operands) if block is self.fn.body else
                                  [r.type for r in op.parent_op.results])
                continue
            if not any(isinstance(v.type, TensorType) for v in [*op.operands, *op.results]):
                continue
            if self._keep_on_host(op):
                converted.append(op)
                continue
            rule = RULES.get(type(op))
            if rule is None:
                raise TirError(f"bufferize: no rule for '{op.name}'", op.loc)
            outs = rule(self, op)
            converted.append(op)
            for r, o in zip(op.results, outs):
                self.bind(r, o)
        for op in reversed(converted):
            if isinstance(op, T.ConstantOp) and any(r.uses for r in op.results):
                continue  # its memory is read through mem.buffer_of
            op.erase()

    def convert_region(self, block: Block, prologue: Callable[[], None] | None = None,
                       on_yield: Callable[[Operation], None] | None = None) -> None:
        """Converts the block of a region of the op being converted (the hook of ops with regions): its own
        liveness and deallocs; its terminator (`tensor.yield`) yields buffers allocated in the block, or is
        handed to `on_yield` (a scan stores the step's values and ends it). `prologue` runs first, building at
        the top of the block (a scan binds its block arguments to views there). What the block caches
        (sizes, index arithmetic, buffers of outer values made inside it) stays inside."""
        saved = (self.block, self.last_use, self.op, self.pos, self.b.loc, dict(self.buf), dict(self.dims),
                 dict(self.strides), dict(self.arith), dict(self.elements), self.on_yield)
        self.on_yield = on_yield
        if prologue is not None:
            self.b = Builder(block, 0, self.b.loc)
            prologue()
        self.convert_block(block)
        self._place_deallocs(block)
        (self.block, self.last_use, self.op, self.pos, loc, self.buf, self.dims, self.strides, self.arith,
         self.elements, self.on_yield) = saved
        assert self.op is not None
        self.b = Builder.before(self.op)  # the region's constants went to the top of the body
        self.b.loc = loc

    def bind(self, tensor: Value, buffer: Value) -> None:
        self.buf[tensor] = buffer
        r = self.root.get(buffer)
        if r is None:  # a buffer a rule made without helpers: its own root
            r = buffer
            self._set_root(buffer, buffer, ALLOC)
        self.group.setdefault(r, []).append(tensor)

    def _set_root(self, buffer: Value, root: Value, kind: str | None = None) -> None:
        self.root[buffer] = root
        if kind is not None:
            self.kind[root] = kind

    def _own_results(self, op: Operation, types: Sequence[MemRefType | None]) -> None:
        """The terminator `op` (func.return, tensor.yield) returns buffers of this block's own: fresh contiguous
        allocations, of `types` where given (a yield's): a copy of a value that is an
        argument, a view, a constant, an alloc of another block, of another type or returned twice. A
        tensor.yield becomes a loop.yield of them."""
        seen: set[Value] = set()
        for k, v in enumerate(list(op.operands)):
            if not isinstance(v.type, TensorType):
                continue
            b = self.get(v)
            r = self.root[b]
            want = types[k] or b.type
            if not self._owns(r) or b is not r or r in seen or b.type != want:
                shape = [self.ix(s) if want.shape[d] is None else s for d, s in enumerate(self.shape(b))]
                fresh = self.alloc(shape, b.type.element)
                self.b.create(M.CopyOp, b, fresh)
                b = fresh
            seen.add(self.root[b])
            op.set_operand(k, b)
        if op.name != F.ReturnOp.name:
            self.b.create(L.YieldOp, *op.operands)
            op.erase()

    def _owns(self, root: Value) -> bool:
        """Whether `root` is an allocation made in the block being converted (by mem.alloc or as a result of
        an op with regions there)."""
        owner = getattr(root, "op", None)
        return self.kind.get(root) == ALLOC and owner is not None and owner.parent is self.block

    def _place_deallocs(self, block: Block) -> None:
        """A mem.dealloc after the last use (nested uses count at their op of `block`) of each allocation
        `block` makes and does not return or yield."""
        ops = list(block.ops)
        term = block.terminator
        returned = {self.root.get(v, v) for v in (term.operands if term is not None else [])}
        last: dict[Value, int] = {}
        allocs: list[tuple[int, Value]] = []
        for k, op in enumerate(ops):
            if isinstance(op, M.AllocOp):
                allocs.append((k, op.result))
            elif op.regions or isinstance(op, X.LibPyCallOp):  # a py_call may allocate its results
                allocs += [(k, r) for r in op.results if isinstance(r.type, MemRefType) and self.is_root_alloc(r)]
            for inner in op.walk():
                for v in inner.operands:
                    r = self.root.get(v)
                    if r is not None:
                        last[r] = k
        inserts: list[tuple[int, Value]] = []
        for k, a in allocs:
            if a in returned:
                continue
            inserts.append((max(last.get(a, k), k), a))
        for k, a in sorted(inserts, key=lambda e: -e[0]):
            after = ops[k]
            d = M.DeallocOp.build(a, loc=a.op.loc)  # type: ignore[attr-defined]  # the op that made the buffer
            block.insert(block.index(after) + 1, d)

    # ---------------------------------------------------------------- buffers of tensors
    def get(self, tensor: Value) -> Value:
        """The buffer of a tensor operand (a `tensor.constant` gets its read-only memory; a tensor kept on
        the host, a buffer its elements are stored into here)."""
        b = self.buf.get(tensor)
        if b is None and tensor in self.elements:
            return self._store_elements(tensor)
        if b is None:
            owner = getattr(tensor, "op", None)
            if isinstance(owner, T.ConstantOp):
                at = Builder.after(owner) if owner is self.op else self.b
                b = at.create(M.BufferOfOp, tensor).result
                self.buf[tensor] = b
                self._set_root(b, b, CONST)
                self.group.setdefault(b, []).append(tensor)
                return b
            raise TirError(f"bufferize: operand of '{self.op.name if self.op else '?'}' has no buffer",
                           self.op.loc if self.op else None)
        return b

    def is_root_alloc(self, buffer: Value) -> bool:
        return self.root.get(buffer) is buffer and self.kind.get(buffer) == ALLOC

    def dies_here(self, tensor: Value) -> bool:
        """Whether no tensor sharing this tensor's alloc is used after the current op."""
        b = self.get(tensor)
        r = self.root[b]
        if not self._owns(r):
            return False
        return all(self.last_use.get(t, -1) <= self.pos for t in self.group.get(r, []))

    def reusable(self, tensor: Value, want: MemRefType, others: Sequence[Value] = ()) -> Value | None:
        """`tensor`'s buffer when the current op may overwrite it: an intermediate alloc of type `want`
        that dies here and that none of the op's `others` (buffers) aliases; never for a tied result."""
        b = self.get(tensor)
        if self.op is not None and self.tied.intersection(self.op.results):
            return None
        if b.type != want or not self.is_root_alloc(b) or not self.dies_here(tensor):
            return None
        if any(self.root.get(o) is b for o in others):
            return None
        return b

    def contiguous(self, buffer: Value) -> bool:
        return buffer.type.strides is None or buffer in self.known_contiguous

    # ---------------------------------------------------------------- index arithmetic (folded)
    def const(self, value: Any, t: ScalarType = index) -> Value:
        """A scalar constant, made once per function at the top of the body."""
        key = (type(value).__name__, repr(value), t)
        c = self.consts.get(key)
        if c is None:
            op = sop("scalar.constant").build(value=Typed(value, t), loc=self.op.loc if self.op else None)
            self.fn.body.insert(len(self.consts), op)
            if self.b.block is self.fn.body and self.b.index is not None and self.b.index >= len(self.consts):
                self.b.index += 1
            c = op.result
            self.consts[key] = c
        return c

    def ix(self, v: Ix | Cond) -> Value:
        if isinstance(v, bool):
            return self.const(v, i1)
        if isinstance(v, int):
            return self.const(v)
        return v

    def _bin(self, name: str, a: Any, b: Any) -> Value:
        # Index arithmetic lives at the top level of the body in program order, so a value made
        # once dominates every later use: reuse it (a small CSE).
        x, y = self.ix(a), self.ix(b)
        key = (name, x, y)
        v = self.arith.get(key)
        if v is None:
            v = self.b.create(sop(name), x, y).result
            self.arith[key] = v
        return v

    def add(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if b == 0 and isinstance(b, int):
            return a
        if a == 0 and isinstance(a, int):
            return b
        return self._bin("scalar.add", a, b)

    def sub(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a - b
        if isinstance(b, int) and b == 0:
            return a
        if a is b:
            return 0
        return self._bin("scalar.sub", a, b)

    def mul(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        for x, y in ((a, b), (b, a)):
            if isinstance(x, int) and x == 1:
                return y
            if isinstance(x, int) and x == 0:
                return 0
        return self._bin("scalar.mul", a, b)

    def floordiv(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a // b
        if isinstance(b, int) and b == 1:
            return a
        return self._bin("scalar.int_div", a, b)

    def neg(self, a: Ix) -> Ix:
        return -a if isinstance(a, int) else self.sub(0, a)

    def minimum(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        return a if a is b else self._bin("scalar.minimum", a, b)

    def maximum(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return a if a is b else self._bin("scalar.maximum", a, b)

    def cmp(self, name: str, a: Ix, b: Ix) -> Cond:
        """name: eq ne lt le gt ge."""
        if isinstance(a, int) and isinstance(b, int):
            return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[name]
        if a is b and name in ("eq", "le", "ge", "ne"):
            return name != "ne"
        return self._bin(f"scalar.{name}", a, b)

    def and_(self, a: Cond, b: Cond) -> Cond:
        if isinstance(a, bool):
            return b if a else False
        if isinstance(b, bool):
            return a if b else False
        return self._bin("scalar.and", a, b)

    def or_(self, a: Cond, b: Cond) -> Cond:
        if isinstance(a, bool):
            return True if a else b
        if isinstance(b, bool):
            return True if b else a
        return self._bin("scalar.or", a, b)

    def select(self, c: Cond, a: Ix, b: Ix) -> Ix:
        if isinstance(c, bool):
            return a if c else b
        if a is b or (isinstance(a, int) and isinstance(b, int) and a == b):
            return a
        key = ("scalar.select", c, self.ix(a), self.ix(b))
        v = self.arith.get(key)
        if v is None:
            v = self.b.create(sop("scalar.select"), c, self.ix(a), self.ix(b)).result
            self.arith[key] = v
        return v

    def check(self, cond: Cond, message: str, *values: Ix, loc: Location | None = None) -> None:
        """A run-time check at the current op's location, or `loc` (nothing when it holds statically);
        `values` fill the message's `{0}`, `{1}`, ... so the error shows the sizes or indices involved."""
        if cond is True:
            return
        self.b.create(M.CheckOp, self.ix(cond), *[self.ix(v) for v in values], message=message,
                      loc=loc or self.b.loc)

    def broadcast(self, op_name: str, loc: Location | None, shapes: Sequence[Sequence[Ix]], core: int = 0) -> list[Ix]:
        """The shape numpy broadcasting gives `shapes` (the operands of op `op_name` at `loc`) but their `core`
        last dims (matmul's 2), with the run-time checks of every pair of sizes that may not broadcast, in
        the interpreter's order and wording (dialects/tensor_common.py broadcast_pairs, broadcast_failure)."""
        full, shapes = shapes, [s[:len(s) - core] for s in shapes]
        rank = max((len(s) for s in shapes), default=0)
        for k, i, j in broadcast_pairs(shapes):
            a, b = dim_at(shapes[i], k, rank), dim_at(shapes[j], k, rank)
            ok = self.or_(self.cmp("eq", a, b), self.or_(self.cmp("eq", a, 1), self.cmp("eq", b, 1)))
            message, values = broadcast_failure(op_name, full, k, i, j)
            self.check(ok, message, *values, loc=loc)
        out: list[Ix] = []
        for k in range(rank):
            size: Ix = 1
            for d in (dim_at(s, k, rank) for s in shapes):
                if d is not None and not (isinstance(d, int) and d == 1):
                    size = self.select(self.cmp("eq", size, 1), d, size)
            out.append(size)
        return out

    def prod(self, values: Sequence[Ix]) -> Ix:
        out: Ix = 1
        for v in values:
            out = self.mul(out, v)
        return out

    # ---------------------------------------------------------------- buffer helpers
    def dim(self, buffer: Value, axis: int) -> Ix:
        d = buffer.type.shape[axis]
        if d is not None:
            return d
        key = (buffer, axis)
        v = self.dims.get(key)
        if v is None:
            v = self.b.create(M.DimOp, buffer, axis=axis).result
            self.dims[key] = v
        return v

    def shape(self, buffer: Value) -> list[Ix]:
        return [self.dim(buffer, d) for d in range(buffer.type.rank)]

    def stride(self, buffer: Value, axis: int) -> Ix:
        s = M.layout_of(buffer.type)[axis]
        if s is not None:
            return s
        if buffer.type.strides is None:  # contiguous with dynamic later dims: a product of sizes
            return self.prod(self.shape(buffer)[axis + 1:])
        key = (buffer, axis)
        v = self.strides.get(key)
        if v is None:
            v = self.b.create(M.StrideOp, buffer, axis=axis).result
            self.strides[key] = v
        return v

    def alloc(self, shape: Sequence[Ix], element: ScalarType) -> Value:
        dyn = [self.ix(s) for s in shape if not isinstance(s, int)]
        attr = tuple(s if isinstance(s, int) else DYN for s in shape)
        v = self.b.create(M.AllocOp, *dyn, shape=attr, dtype=element).result
        self._set_root(v, v, ALLOC)
        self._know_dims(v, shape)
        return v

    def _know_dims(self, buffer: Value, shape: Sequence[Ix]) -> None:
        """The sizes a buffer was made with stand for its mem.dim (so equal sizes are seen equal)."""
        for d, s in enumerate(shape):
            if not isinstance(s, int):
                self.dims[(buffer, d)] = s

    def view(self, source: Value, offset: Ix, shape: Sequence[Ix], strides: Sequence[Ix]) -> Value:
        entries = [offset, *shape, *strides]
        dyn = [self.ix(e) for e in entries if not isinstance(e, int)]
        attr = [e if isinstance(e, int) else DYN for e in entries]
        n = len(shape)
        v = self.b.create(M.ViewOp, source, *dyn, offset=attr[0], shape=tuple(attr[1:1 + n]),
                          strides=tuple(attr[1 + n:])).result
        self._set_root(v, self.root.get(source, source))
        self._know_dims(v, shape)
        return v

    def contiguous_strides(self, shape: Sequence[Ix]) -> list[Ix]:
        out: list[Ix] = []
        acc: Ix = 1
        for d in reversed(shape):
            out.append(acc)
            acc = self.mul(acc, d)
        return list(reversed(out))

    def copy_of(self, buffer: Value) -> Value:
        fresh = self.alloc(self.shape(buffer), buffer.type.element)
        self.b.create(M.CopyOp, buffer, fresh)
        return fresh

    def contiguous_buffer(self, buffer: Value) -> Value:
        """`buffer` itself when known contiguous, else a contiguous copy."""
        return buffer if self.contiguous(buffer) else self.copy_of(buffer)

    def load_scalar(self, tensor: Value) -> Value:
        """The element of a 0-d tensor operand."""
        elems = self.elements.get(tensor)
        if elems is not None:
            return self.scalar(elems[0], tensor.type.element)
        return self.b.create(M.LoadOp, self.get(tensor)).result

    def index_operand(self, tensor: Value) -> Ix:
        """A size operand (an index or a 0-d integer tensor) as an index (static when it is a constant)."""
        from ..dialects.tensor_common import static_int

        s = static_int(tensor)
        if s is not None:
            return s
        if tensor.type == index:
            return tensor
        elems = self.elements.get(tensor)
        if elems is not None and not isinstance(elems[0], Value):
            return int(elems[0])
        v = self.load_scalar(tensor)
        owner = getattr(v, "op", None)
        if isinstance(owner, S.CastOp) and owner.operands[0].type == index:  # a size read back from mem.dim
            return owner.operands[0]
        return v if v.type == index else self.b.create(sop("scalar.cast"), v, dtype=index).result

    # ---------------------------------------------------------------- small integer tensors on the host
    def host_elements(self, v: Value) -> list[Elem] | None:
        """The elements of a tensor kept on the host (a small integer `tensor.constant` included), else None."""
        elems = self.elements.get(v)
        if elems is None and _small_integer(v.type) and isinstance(getattr(v, "op", None), T.ConstantOp):
            elems = [e.item() for e in np.ravel(v.op.attributes["value"].array)]
        return elems

    def scalar(self, e: Elem, t: ScalarType) -> Value:
        """Element e as a scalar of type t (a constant when known)."""
        if not isinstance(e, Value):
            return self.const(t.dtype.type(e).item(), t)
        if e.type == t:
            return e
        key = ("scalar.cast", e, t)
        v = self.arith.get(key)
        if v is None:
            v = self.arith[key] = S.cast_to(self.b, e, t)
        return v

    def _keep_on_host(self, op: Operation) -> bool:
        """Whether op's result is a small integer tensor computed from sizes and other such tensors; if so its
        elements are computed here, as scalar ops on the host (bound in `elements`)."""
        if len(op.results) != 1 or not _small_integer(op.results[0].type):
            return False
        t = op.results[0].type
        if isinstance(op, T.ShapeOp):
            x = op.operands[0]
            shape = x.type.shape
            elems: list[Elem] | None = [shape[d] if shape[d] is not None else self.scalar(self.dim(self.get(x), d), i64)
                                        for d in range(len(shape))]
        else:
            operands = [self.host_elements(v) for v in op.operands]
            if any(e is None for e in operands):
                return False
            elems = _host_compute(self, op, operands)  # type: ignore[arg-type]
        if elems is None:
            return False
        assert len(elems) == math.prod(t.shape)
        self.elements[op.results[0]] = elems
        return True

    def capture_host_scalars(self, body: Block, inputs: Sequence[Value]) -> tuple[list[int], list[Value]]:
        """A generic's inputs that are single-element tensors kept on the host become captured scalars: the
        scalar replaces the body's argument, which is removed. Returns the positions of the inputs left and
        the captured scalars."""
        keep: list[int] = []
        captured: list[Value] = []
        for k, v in enumerate(inputs):
            elems = self.elements.get(v)
            if elems is not None and len(elems) == 1:
                captured.append(self.scalar(elems[0], body.args[k].type))
                body.args[k].replace_all_uses_with(captured[-1])
            else:
                keep.append(k)
        body.args = [body.args[k] for k in keep] + body.args[len(inputs):]
        for k, a in enumerate(body.args):
            a.index = k
        return keep, captured

    def _store_elements(self, tensor: Value) -> Value:
        """A buffer holding the elements of a tensor kept on the host, for an op that reads it as data."""
        t = tensor.type
        out = self.alloc(list(t.shape), t.element)
        for k, e in zip(np.ndindex(*t.shape), self.elements[tensor]):
            self.b.create(M.StoreOp, self.scalar(e, t.element), out, *[self.ix(i) for i in k])
        self.bind(tensor, out)
        return out

    # ---------------------------------------------------------------- generics
    def generic(self, inputs: Sequence[Value], outputs: Sequence[Value], maps: Sequence[Sequence[int]],
                iterators: Sequence[str], inits: Sequence[Any] | None, body: BodyFn | Region) -> Operation:
        """A mem.generic over `inputs` writing `outputs`; `body` builds the scalar body (from the
        element arguments) or is a region to move in."""
        if isinstance(body, Region):
            region = body
        else:
            types = [v.type.element for v in [*inputs, *outputs]]
            block = Block(types)
            bb = Builder.at_end(block, self.op.loc if self.op else None)
            ys = body(bb, list(block.args))
            bb.create(sop("scalar.yield"), *ys)
            region = Region([block])
        attrs: dict[str, Any] = {"maps": tuple(tuple(m) for m in maps), "iterators": tuple(iterators),
                                 "outputs": len(outputs)}
        if inits is not None and any(v is not None for v in inits):
            attrs["inits"] = tuple(inits)
        op = M.GenericOp([*inputs, *outputs], [], attrs, [region], self.op.loc if self.op else None)
        return self.b.insert(op)

    def iteration_sizes(self, inputs: Sequence[Value], maps: Sequence[Sequence[int]], n: int,
                        static: Sequence[int | None], needed: set[int] | None = None) -> list[Ix]:
        """The size of each iteration dim from the input dims that follow it: the non-1 one, checked
        at run time to broadcast (numpy's rule) where more than one run-time size meets."""
        out: list[Ix] = []
        for k in range(n):
            if needed is not None and k not in needed:
                out.append(1)  # a reduction dim: the generic takes its size from the inputs
                continue
            sources: list[Ix] = []
            for b, m in zip(inputs, maps):
                for d, kk in enumerate(m):
                    if kk == k:
                        s = self.dim(b, d)
                        if not any(s is t or (isinstance(s, int) and s == t) for t in sources):
                            sources.append(s)
            fixed = [s for s in sources if isinstance(s, int) and s != 1]
            dyn = [s for s in sources if not isinstance(s, int)]
            size: Ix
            if static[k] is not None:
                size = static[k]  # type: ignore[assignment]
            elif fixed:
                size = fixed[0]
            elif dyn:
                size = dyn[0]
                for x in dyn[1:]:
                    size = self.select(self.cmp("eq", size, 1), x, size)
            else:
                size = 1
            chosen_first = not fixed and static[k] is None  # then dyn[0] is the size or 1, by construction
            for x in dyn:
                if x is not size and not (chosen_first and x is dyn[0]):
                    self.check(self.or_(self.cmp("eq", x, size), self.cmp("eq", x, 1)),
                               "operand shapes do not broadcast: size {0} against {1}", x, size)
            out.append(size)
        return out


def broadcast_maps(operand_shapes: Sequence[Sequence[int | None]],
                   result_shape: Sequence[int | None]) -> list[list[int]]:
    """numpy broadcasting as generic maps: operands right-aligned to the result; a static 1 against
    a result dim that is not static 1 maps to -1."""
    r = len(result_shape)
    maps = []
    for shape in operand_shapes:
        m = []
        for j, d in enumerate(shape):
            k = r - len(shape) + j
            m.append(-1 if d == 1 and result_shape[k] != 1 else k)
        maps.append(m)
    return maps


@dataclass
class BufferizePass(Pass):
    name: ClassVar[str] = "bufferize"
    summary: ClassVar[str] = "tensor values -> buffers (mem.alloc/view/generic, lib.gemm/gemv), in place if possible"

    def run(self, module: Operation) -> bool:
        changed = False
        for op in list(module.regions[0].block.ops):
            if isinstance(op, F.FuncOp) and op.name == "func.func" and _has_tensors(op):
                FunctionBufferizer(op).run()
                changed = True
            elif isinstance(op, F.FuncOp) and op.name == "func.func":
                decide_tied(op)  # a function written on buffers: its ties are checked all the same
        return changed


def _has_tensors(fn: F.FuncOp) -> bool:
    types: list[Type] = [*fn.function_type.inputs, *fn.function_type.results]
    if any(isinstance(t, TensorType) for t in types):
        return True
    return any(isinstance(r.type, TensorType) for op in fn.walk() for r in op.results)


def _small_integer(t: Type) -> bool:
    """A tensor type that `bufferize` keeps on the host when it is computed from sizes."""
    return isinstance(t, TensorType) and t.is_static and (t.element.is_int or t.element.is_bool) \
        and math.prod(t.shape) <= HOST_ELEMENTS


def _host_compute(cx: FunctionBufferizer, op: Operation, operands: list[list[Elem]]) -> list[Elem] | None:
    """The elements of op's result from its operands' (all kept on the host): moving ops (slices,
    reshapes, concatenation...) pick elements, read from the op's interpreter rule run on the elements'
    positions; elementwise ops and parallel generics build their scalar ops once per element."""
    shapes = [v.type.shape for v in op.operands]
    out = op.results[0].type
    if isinstance(op, HOST_MOVES):
        if any(DYN in v for v in op.attributes.values() if isinstance(v, tuple)):
            return None  # bounds or sizes read at run time
        starts = np.cumsum([0] + [len(e) for e in operands])
        positions = [np.arange(a, a + len(e), dtype=np.int64).reshape(s)
                     for a, e, s in zip(starts, operands, shapes)]
        flat = [e for es in operands for e in es]
        return [flat[k] for k in np.ravel(op.interpret(None, positions)[0])]
    if isinstance(op, T.ElementwiseOp):
        maps = broadcast_maps(shapes, out.shape)
        body = Block([v.type.element for v in op.operands])
        bb = Builder.at_end(body, op.loc)
        y = bb.create(S.SCALAR_OF_TENSOR[type(op)], *body.args, **dict(op.attributes)).result
        bb.create(sop("scalar.yield"), S.cast_to(bb, y, out.element))
    elif isinstance(op, T.GenericOp) and all(i == "parallel" for i in op.iterators) \
            and list(op.maps[-1]) == list(range(len(op.iterators))) \
            and all(o.name.startswith("scalar.") and not o.regions for o in op.regions[0].block.ops) \
            and not op.regions[0].block.args[-1].uses:
        maps, body = [list(m) for m in op.maps[:-1]], op.regions[0].block
    else:
        return None
    elems = []
    for k in np.ndindex(*out.shape):
        mapping: dict[Value, Value] = {}
        for arg, es, shape, m in zip(body.args, operands, shapes, maps):
            at = tuple(0 if j < 0 or shape[d] == 1 else k[j] for d, j in enumerate(m))
            mapping[arg] = cx.scalar(es[int(np.ravel_multi_index(at, shape)) if shape else 0], arg.type)
        for o in body.ops:
            if isinstance(o, S.YieldOp):
                elems.append(mapping.get(o.operands[0], o.operands[0]))
            elif isinstance(o, S.ConstantOp):
                mapping[o.result] = cx.const(o.attributes["value"].value, o.result.type)
            else:
                cx.b.insert(o.clone(mapping))
    return elems


HOST_MOVES: tuple[type[Operation], ...] = (T.SubtensorOp, T.ConcatenateOp, T.ReshapeOp, T.ExpandDimsOp,
                                           T.SqueezeOp, T.TransposeOp, T.DimshuffleOp, T.FlattenOp, T.StackOp)
"""The ops that only move elements: kept on the host when their operands are (no run-time bounds)."""
