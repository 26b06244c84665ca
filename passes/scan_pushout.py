"""`scan-pushout`: work moves out of `tensor.scan` loops into whole-sequence ops (Theano's scan_opt).

Three rewrites of each scan, the innermost first:

- **Unused inputs and outputs go** (Theano's remove_constants_and_unused_inputs_scan and scan's dead output
  removal): a per-step output nobody reads, a sequence or non-sequence the step does not read. The gradient
  of a scan computes every input's adjoint; those not asked for go here, with what only they needed.
- **Sums over the steps leave the loop** (scan_pushout_add). A `last` state that only accumulates,
  `acc' = acc + v` with v not reading acc (BPTT's sums of a weight's adjoint), becomes a per-step output of v
  and, after the loop, `init + sum(V, axis=0)`. When v is a product `dot(transpose(a), c)` of two matrices,
  the loop yields a and c instead (a sequence row needs no output: the sequence itself is used) and the sum
  is one product of the stacked rows, `dot(transpose(A2), C2)` with A2, C2 the stacks as matrices: one
  large BLAS call instead of one small one per step.
- **Products of sequence rows leave the loop** (scan_pushout_seqs_ops): `dot(x_t, W)` with x_t a sequence's
  matrix row and W read whole each step becomes one product of the sequence as a matrix, reshaped back to
  one row per step and read as a new sequence (an RNN's input projection: one large BLAS call).

Legal on entry: the tensor dialect after `autodiff` (a scan whose gradient is still to be taken is left
alone). On exit: the same ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..dialects import tensor as T
from ..dialects.tensor_grad import dim, emit, sized
from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import Block, Operation, Region, Value
from ..ir.types import TensorType
from .dce import eliminate_dead_code
from .pass_manager import Pass


@dataclass
class Parts:
    """A scan taken apart: what a rewrite changes before `rebuild` makes the new op."""

    op: T.ScanOp
    seqs: list[tuple[Value, Value]]  # (operand, block argument)
    states: list[tuple[Value, Value, tuple[int, ...], bool, Value, Value | None]]  # (init, arg(s) start, taps,
    # last, yielded, old result)
    nonseqs: list[tuple[Value, Value]]
    plain: list[tuple[Value, Value | None]]  # (yielded, old result)

    @classmethod
    def of(cls, op: T.ScanOp) -> Parts:
        lay = op.layout()
        body = op.step_block
        args = list(body.args)
        ys = list(body.terminator.operands)  # type: ignore[union-attr]
        seqs = list(zip(op.sequences_(), args[:lay.sequences]))
        states = []
        pos = lay.sequences
        for k, (init, last) in enumerate(zip(op.inits(), op.last())):
            states.append((init, args[pos], lay.taps[k], last, ys[k], op.results[k]))
            pos += len(lay.taps[k])
        nonseqs = list(zip(op.nonseqs(), args[pos:]))
        n_plain = len(op.results) - lay.states
        plain = [(ys[lay.states + j], op.results[lay.states + j]) for j in range(n_plain)]
        return cls(op, seqs, states, nonseqs, plain)  # type: ignore[arg-type]

    def set_yield(self) -> None:
        """The step's terminator yields these parts' states and outputs (then its until condition)."""
        y = self.op.step_block.terminator
        assert y is not None
        until = [y.operands[-1]] if self.op.attributes.get("until", False) else []
        Builder.before(y).create(T.YieldOp, *[s[4] for s in self.states], *[p[0] for p in self.plain], *until)
        y.erase()

    def rebuild(self) -> T.ScanOp:
        """The scan of these parts in place of the old one (its results replaced where kept), after dropping
        what nobody uses and the body's dead ops."""
        op = self.op
        body = op.step_block
        while True:
            self.set_yield()
            eliminate_dead_code_in(body)
            if not _drop_unused(self):
                break
        tap_args: list[Value] = []
        old_args = list(body.args)
        for s in self.states:  # each state's tap arguments follow its first one in the old block
            i = old_args.index(s[1])
            tap_args += old_args[i:i + len(s[2])]
        keep = [a for _, a in self.seqs] + tap_args + [a for _, a in self.nonseqs]
        assert all(not a.uses for a in old_args if a not in keep), "a dropped argument is still used"
        body.args = keep
        for k, a in enumerate(keep):
            a.index = k
        body.parent.blocks.remove(body)  # type: ignore[union-attr]
        attrs = {**op.attributes, "sequences": len(self.seqs), "taps": tuple(s[2] for s in self.states)}
        if any(s[3] for s in self.states):
            attrs["last"] = tuple(s[3] for s in self.states)
        else:
            attrs.pop("last", None)
        operands = [op.operands[0], *[v for v, _ in self.seqs], *[s[0] for s in self.states],
                    *[v for v, _ in self.nonseqs]]
        new = Builder.before(op).insert(T.ScanOp(operands, None, attrs, [Region([body])], op.loc))
        assert isinstance(new, T.ScanOp)
        olds = [s[5] for s in self.states] + [p[1] for p in self.plain]
        for old, r in zip(olds, new.results):
            if old is not None:
                old.replace_all_uses_with(r)
        return new


def _drop_unused(parts: Parts) -> bool:
    """Drops the outputs nobody reads and the sequences and non-sequences the step does not read."""
    before = (len(parts.seqs), len(parts.nonseqs), len(parts.plain))
    parts.plain = [p for p in parts.plain if p[1] is None or p[1].uses]
    parts.seqs = [s for s in parts.seqs if s[1].uses]
    parts.nonseqs = [s for s in parts.nonseqs if s[1].uses]
    return (len(parts.seqs), len(parts.nonseqs), len(parts.plain)) != before


def _matrix(v: Value) -> bool:
    return isinstance(v.type, TensorType) and v.type.rank == 2


Finish = Callable[[Builder, list[Value]], Value]


def _pushout_sums(parts: Parts) -> list[tuple[list[Value], Finish, Value, Value]]:
    """The sums over the steps (module docstring): each state that goes, as (the values the step now yields
    as per-step outputs for it, what makes the sum of their stacks after the loop, the initial value, the
    old result)."""
    seq_of = {id(a): v for v, a in parts.seqs}
    n = parts.op.operands[0]
    out: list[tuple[list[Value], Finish, Value, Value]] = []
    for s in list(parts.states):
        init, arg, taps, last, y, old = s
        add = getattr(y, "op", None)
        if not last or taps != (-1,) or old is None or not isinstance(add, T.AddOp) or len(arg.uses) != 1 \
                or arg.uses[0].op is not add or len(y.uses) != 1 or add.parent is not arg.block:
            continue
        v = add.operands[1] if add.operands[0] is arg else add.operands[0]
        if not isinstance(v.type, TensorType) or v.type.element != init.type.element or v.type.rank != arg.type.rank:
            continue
        parts.states.remove(s)
        product = getattr(v, "op", None)
        lhs = getattr(product.operands[0], "op", None) if isinstance(product, T.DotOp) else None
        positions: list[Value] = []
        if isinstance(lhs, T.TransposeOp) and _matrix(lhs.operands[0]) and _matrix(product.operands[1]) \
                and tuple(lhs.attributes.get("perm") or (1, 0)) == (1, 0):
            wholes: list[Value | int] = []
            for x in (lhs.operands[0], product.operands[1]):
                whole = seq_of.get(id(x))
                if whole is not None:
                    wholes.append(whole)
                else:
                    wholes.append(len(positions))
                    positions.append(x)
                    parts.plain.append((x, None))

            def finish(b: Builder, stacked: list[Value], wholes: list[Value | int] = wholes) -> Value:
                it = iter(stacked)  # a sequence's first n rows, else the stack of what the step yields
                a, c = (emit(b, "subtensor", w, n, begin=(None,), end=(DYN,), step=(None,)) if isinstance(w, Value)
                        else next(it) for w in wholes)
                a2, c2 = (sized(b, "reshape", m, [-1, dim(b, m, 2)]) for m in (a, c))
                return emit(b, "dot", emit(b, "transpose", a2), c2)
        else:
            positions.append(v)
            parts.plain.append((v, None))

            def finish(b: Builder, stacked: list[Value]) -> Value:
                return emit(b, "sum", stacked[0], axes=(0,), keepdims=False)
        add.results[0].replace_all_uses_with(arg)  # the yield's operand; the state goes with its add
        add.erase()
        out.append((positions, finish, init, old))
    return out


def _pushout_products(parts: Parts, b_before: Builder) -> bool:
    """`dot(x_t, W)` of a sequence's matrix row and a non-sequence matrix -> a new sequence (module docstring);
    b_before builds before the loop."""
    seq_of = {id(a): v for v, a in parts.seqs}
    outer_of = {id(a): v for v, a in parts.nonseqs}
    body = parts.op.step_block
    changed = False
    for op in list(body.ops):
        if not isinstance(op, T.DotOp):
            continue
        x, w = op.operands
        whole, wv = seq_of.get(id(x)), outer_of.get(id(w))
        if whole is None or wv is None or not _matrix(x) or not _matrix(w):
            continue
        flat = sized(b_before, "reshape", whole, [-1, dim(b_before, whole, 2)])
        prod = emit(b_before, "dot", flat, wv)
        rows = sized(b_before, "reshape", prod, [dim(b_before, whole, 0), dim(b_before, whole, 1),
                                                 dim(b_before, wv, 1)])
        arg = body.add_arg(op.results[0].type)
        op.results[0].replace_all_uses_with(arg)
        op.erase()
        parts.seqs.append((rows, arg))
        changed = True
    return changed


@dataclass
class ScanPushoutPass(Pass):
    name: ClassVar[str] = "scan-pushout"
    summary: ClassVar[str] = "move unused inputs and outputs, sums over the steps and products of sequences out of " \
                             "scans"

    def run(self, module: Operation) -> bool:
        scans = [op for op in module.walk() if isinstance(op, T.ScanOp)]
        changed = False
        for op in reversed(scans):  # the innermost first
            if any(isinstance(o, T.GradOp) for o in op.walk()):
                continue
            changed |= _rewrite(op)
        if changed:
            eliminate_dead_code(module)
        return changed


def _rewrite(op: T.ScanOp) -> bool:
    parts = Parts.of(op)
    sums = _pushout_sums(parts)
    changed = _pushout_products(parts, Builder.before(op)) or bool(sums)
    if not changed and all(r.uses for _, r in parts.plain if r is not None) \
            and all(a.uses for _, a in [*parts.seqs, *parts.nonseqs]):
        return False
    new = parts.rebuild()
    after = Builder.after(op)
    stacked = dict(zip((id(y) for y, _ in parts.plain), new.results[len(parts.states):]))
    for yielded, finish, init, old in sums:
        old.replace_all_uses_with(emit(after, "add", init, finish(after, [stacked[id(y)] for y in yielded])))
    op.erase()
    return True


def eliminate_dead_code_in(block: Block) -> None:
    from .dce import _sweep_block

    while _sweep_block(block):
        pass


__all__: Sequence[str] = ["ScanPushoutPass"]
