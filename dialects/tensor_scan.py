"""`tensor.scan`: Theano's scan, a loop over steps whose body is a region (dialects/tensor_control.py has
tensor.if and the `tensor.yield` both end with).

    %h = tensor.scan %n, %x, %h0, %w ({
      ^bb0(%x_t: tensor<32x16xf64>, %h_prev: tensor<32x256xf64>, %w_: tensor<16x256xf64>):
        %u = tensor.dot %x_t, %w_ : tensor<32x256xf64>
        %s = tensor.add %u, %h_prev : tensor<32x256xf64>
        %h_t = tensor.tanh %s : tensor<32x256xf64>
        tensor.yield %h_t : tensor<32x256xf64>
    }) {sequences = 1, taps = [[-1]]} : tensor<?x32x256xf64>

Operands: the number of steps `n` (a 0-d integer tensor), then `sequences` tensors read one row per step
(`x[t]`), then one initial value per carried state (`taps`), then the non-sequences (passed whole to every
step). The body is isolated: it sees only its arguments, which are, in order, the rows of the sequences,
for each state its values at the steps its taps name (`taps = [[-2, -1]]`: the state at t-2, then at t-1)
and the non-sequences. A state with taps `[-1]` starts from its initial value; one reaching back d > 1
steps starts from an initial tensor of d rows (row 0 is the state at step -d).

The body yields the new value of each state, then the per-step outputs without state (`outputs_info=None`
in Theano), then, with `until`, a 0-d i1 that stops the loop after the step that yields true. The results
are each state's and each output's values stacked over the steps run (`[n, ...]`, fewer with until).

Two forms only the gradient builds: `last = [true, ...]` gives a state's final value instead of its stack
(the carries of backpropagation through time), and `reverse` runs t = n-1 down to 0 (its outputs are still
stored at row t; its states must be `last` with taps [-1]). `vjp` builds the reverse scan (BPTT):
its body is the step's own vjp, the forward body recomputed where its values are not in the results.
`bufferize` turns the op into a `loop.host_for` whose body is the step converted by the function's own
machinery (passes/bufferize_rules.py `scan`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import ISOLATED, PURE, AttrDef, Block, Location, NotSupportedError, Operation, Region, TirError, Value
from ..ir.types import TensorType, Type, i1
from .tensor_common import runtime_error, tensor_type
from .tensor_control import YieldOp, join_types
from .tensor_grad import Grads, accumulate, backprop, constant, dim, emit, floating, forward_tape, zeros_like

__all__ = ["ScanOp", "StepBuilder"]


@dataclass(frozen=True)
class Layout:
    """Where each kind of operand, block argument and yield of a scan sits."""

    sequences: int
    taps: tuple[tuple[int, ...], ...]
    nonseqs: int

    @property
    def states(self) -> int:
        return len(self.taps)

    def depth(self, k: int) -> int:
        return -min(self.taps[k])

    @property
    def tap_args(self) -> int:
        return sum(len(t) for t in self.taps)


StepBuilder = Callable[[Block], list[Value]]
"""What the Python API gives `ScanOp.from_operands`: appends the step's ops to a block whose arguments are
the body's, returns the values it yields (Theano's step function, traced)."""


class ScanOp(Operation):
    """Theano's scan: see the module docstring."""

    name = "tensor.scan"
    operands_def = ("inputs*",)
    traits = frozenset({ISOLATED, PURE})
    num_results = None
    num_regions = 1
    attrs = {"sequences": AttrDef(int, default=0), "taps": AttrDef(tuple, required=True),
             "until": AttrDef(bool), "reverse": AttrDef(bool),
             "last": AttrDef(tuple)}

    @classmethod
    def from_operands(cls, operands: Sequence[Value], loc: Location | None = None,
                      attrs: dict[str, Any] | None = None) -> ScanOp:
        """The op the Python API's graph node holds (`tensorir.scan`): attrs carry `step`, a StepBuilder."""
        attrs = dict(attrs or {})
        step: StepBuilder = attrs.pop("step")
        layout = op_layout(attrs, len(operands))
        body = Block(_arg_types(layout, operands, lambda m: TirError(f"'{cls.name}' op {m}", loc)))
        body.append(YieldOp.build(*step(body), loc=loc))
        return cls(list(operands), None, attrs, [Region([body])], loc)

    # ---- structure
    @property
    def step_block(self) -> Block:
        return self.regions[0].block

    def layout(self) -> Layout:
        lay = op_layout(self.attributes, len(self.operands))
        for k, taps in enumerate(lay.taps):
            if not taps or any(not isinstance(t, int) or t >= 0 for t in taps) or list(taps) != sorted(set(taps)):
                raise self.error(f"taps of state #{k} must be increasing negative integers, got {list(taps)}")
        return lay

    def sequences_(self) -> list[Value]:
        return self.operands[1:1 + self.layout().sequences]

    def inits(self) -> list[Value]:
        lay = self.layout()
        return self.operands[1 + lay.sequences:1 + lay.sequences + lay.states]

    def nonseqs(self) -> list[Value]:
        lay = self.layout()
        return self.operands[1 + lay.sequences + lay.states:]

    def last(self) -> tuple[bool, ...]:
        return tuple(self.attributes.get("last", ())) or (False,) * self.layout().states

    def yields(self) -> YieldOp:
        if len(self.regions[0].blocks) != 1:
            raise self.error("body must be one block")
        term = self.step_block.terminator
        if not isinstance(term, YieldOp):
            raise self.error("body must end with tensor.yield")
        return term

    def state_types(self) -> list[TensorType]:
        """The type of each state's value at one step (its initial value's, less the rows of its taps)."""
        lay = self.layout()
        out = []
        for k, v in enumerate(self.inits()):
            t = tensor_type(self, v)
            out.append(t if lay.depth(k) == 1 else TensorType(t.shape[1:], t.element))
        return out

    # ---- types
    def infer_types(self) -> list[Type]:
        lay = self.layout()
        ys = self.yields().operands
        n_plain = len(ys) - lay.states - int(self.attributes.get("until", False))
        if n_plain < 0:
            raise self.error(f"body yields {len(ys)} values for {lay.states} states"
                             + (" and the until condition" if self.attributes.get("until", False) else ""))
        out: list[Type] = []
        for k, (st, y, last) in enumerate(zip(self.state_types(), ys, self.last())):
            t = join_types(self, st, y.type, f"state #{k}: initial value and step")
            out.append(t if last else TensorType((None, *t.shape), t.element))
        for y in ys[lay.states:lay.states + n_plain]:
            t = tensor_type(self, y)
            out.append(TensorType((None, *t.shape), t.element))
        return out

    def verify_(self) -> None:
        if not self.operands:
            raise self.error("expects the number of steps as its first operand")
        lay = self.layout()
        n = tensor_type(self, self.operands[0])
        if n.rank != 0 or n.dtype.kind not in "iu":
            raise self.error(f"the number of steps must be a 0-d integer tensor, got {n}")
        for k, v in enumerate(self.sequences_()):
            if tensor_type(self, v).rank == 0:
                raise self.error(f"sequence #{k} must have a leading dim to iterate over, got {v.type}")
        for k, v in enumerate(self.inits()):
            t = tensor_type(self, v)
            d = lay.depth(k)
            if d > 1 and (t.rank == 0 or t.shape[0] not in (None, d)):
                raise self.error(f"state #{k} reaches back {d} steps: its initial value needs {d} rows, got {t}")
        want = _arg_types(lay, self.operands, self.error)
        got = [a.type for a in self.step_block.args]
        if got != want:
            raise self.error(f"body arguments ({', '.join(map(str, got))}) must be "
                             f"({', '.join(map(str, want))}): sequence rows, state taps, non-sequences")
        last, reverse = self.last(), self.attributes.get("reverse", False)
        if len(last) != lay.states:
            raise self.error(f"last has {len(last)} entries for {lay.states} states")
        if reverse and (self.attributes.get("until", False)
                        or not all(last) or any(t != (-1,) for t in lay.taps)):
            raise self.error("a reverse scan has no until and only states that are last with taps [-1]")
        for k, (last_k, taps) in enumerate(zip(last, lay.taps)):
            if last_k and taps != (-1,):
                raise self.error(f"state #{k} is last: its taps must be [-1], got {list(taps)}")
        ys = self.yields().operands
        if self.attributes.get("until", False):
            t = tensor_type(self, ys[-1]) if ys else None
            if t is None or t.rank != 0 or t.element != i1:
                raise self.error(f"with until the body's last yield must be a 0-d i1 tensor, got "
                                 f"{t if t is not None else 'nothing'}")

    # ---- the reference interpreter
    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        lay = self.layout()
        n = int(args[0])
        seqs = [np.asarray(a) for a in args[1:1 + lay.sequences]]
        inits = args[1 + lay.sequences:1 + lay.sequences + lay.states]
        nonseqs = args[1 + lay.sequences + lay.states:]
        if n < 0:
            raise runtime_error(self, f"number of steps must be non-negative, got {n}")
        for k, s in enumerate(seqs):
            if s.shape[0] < n:
                raise runtime_error(self, f"sequence #{k} has {s.shape[0]} rows for {n} steps")
        until, reverse, last = self.attributes.get("until", False), self.attributes.get("reverse", False), self.last()
        hist = [[np.asarray(v)] if lay.depth(k) == 1 else list(np.asarray(v)) for k, v in enumerate(inits)]
        for k, h in enumerate(hist):
            if len(h) != lay.depth(k):
                raise runtime_error(self, f"state #{k} reaches back {lay.depth(k)} steps but its initial value has "
                                          f"{len(h)} rows")
        n_out = len(self.results)
        stacks: list[list[Any]] = [[] for _ in range(n_out)]
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            taps = [hist[k][len(hist[k]) + tap] for k in range(lay.states) for tap in lay.taps[k]]
            outs = interp.run_region(self.regions[0], [*(s[t] for s in seqs), *taps, *nonseqs])
            for k in range(lay.states):
                v = np.asarray(outs[k])
                for d, (want, got) in enumerate(zip(hist[k][-1].shape, v.shape)):
                    if want != got:  # the compiled targets' check and wording
                        raise runtime_error(self, f"state #{k} has size {want} in dimension {d} but the step yields "
                                                  f"size {got}")
                hist[k] = [*hist[k][1:], v]
            for j in range(n_out):
                stacks[j].append(np.array(outs[j]))
            if until and bool(outs[-1]):
                break
        results = []
        for j, r in enumerate(self.results):
            if j < lay.states and last[j]:
                results.append(hist[j][-1])
                continue
            rows = stacks[j][::-1] if reverse else stacks[j]
            shape = r.type.shape[1:] if not rows else rows[0].shape
            if not rows and None in shape:  # no step ran: a state's row shape is its initial value's
                shape = hist[j][-1].shape if j < lay.states else tuple(0 if d is None else d for d in shape)
            results.append(np.stack(rows) if rows else np.zeros((0, *shape), r.type.dtype))
        return results

    # ---- backpropagation through time
    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        """The reverse scan over the same steps (module docstring). Its sequences: the forward's, each state's
        values at its taps and its own value (sliced from the initial rows followed by the stacked results),
        and the result gradients; its `last` states: for each forward state the pending adjoints of its
        values 1..d steps back, and one sum per floating non-sequence; its outputs: the gradient of each
        floating sequence's row. The step's forward values that are results (the states' new values) are
        taken from them, so the body recomputes only what the step's vjp needs besides."""
        lay = self.layout()
        if self.attributes.get("reverse", False) or any(self.last()):
            raise NotSupportedError("the gradient of a reverse scan or of one with last states (the gradient of a "
                                    "gradient through scan) is not built", self.loc)
        seqs, inits, nonseqs = self.sequences_(), self.inits(), self.nonseqs()
        states = self.results[:lay.states]
        n_plain = len(self.results) - lay.states
        until = self.attributes.get("until", False)
        steps = dim(b, self.results[0], 0) if until and self.results else self.operands[0]
        if not isinstance(steps, Value):
            steps = constant(b, steps, np.int64)
        steps = emit(b, "cast", steps, dtype=tensor_type(self, self.operands[0]).element) \
            if steps.type != self.operands[0].type else steps
        # sequences of the reverse scan
        r_seqs: list[Value] = list(seqs)
        tap_seq: dict[tuple[int, int], int] = {}
        for k in range(lay.states):
            d = lay.depth(k)
            init = inits[k] if d > 1 else emit(b, "expand_dims", inits[k], axes=(0,))
            full = emit(b, "concatenate", init, states[k], axis=0)
            for tap in (*lay.taps[k], 0):
                start = d + tap
                end = emit(b, "add", steps, constant(b, start, tensor_type(self, steps).dtype))
                tap_seq[(k, tap)] = len(r_seqs)
                r_seqs.append(emit(b, "subtensor", full, end, begin=(start,), end=(DYN,), step=(None,)))
        grad_seq: dict[int, int] = {}
        for j, g in enumerate(out_grads):
            if g is not None:
                grad_seq[j] = len(r_seqs)
                r_seqs.append(g)
        # carries: pending adjoints of each state's earlier values, sums of the non-sequences' adjoints
        carry_of: dict[tuple[int, int], int] = {}
        r_inits: list[Value] = []
        for k in range(lay.states):
            for j in range(lay.depth(k)):
                carry_of[(k, j)] = len(r_inits)
                r_inits.append(_row_zero(b, inits[k], lay.depth(k)))
        acc_of: dict[int, int] = {}
        for m, v in enumerate(nonseqs):
            if floating(v):
                acc_of[m] = len(r_inits)
                r_inits.append(zeros_like(b, v))
        r_layout = Layout(len(r_seqs), ((-1,),) * len(r_inits), len(nonseqs))
        operands = [steps, *r_seqs, *r_inits, *nonseqs]
        body = Block(_arg_types(r_layout, operands, self.error))
        args = body.args
        seq_args = args[:len(r_seqs)]
        carry_args = args[len(r_seqs):len(r_seqs) + len(r_inits)]
        nonseq_args = args[len(r_seqs) + len(r_inits):]
        bb = Builder.at_end(body, self.loc)
        # the forward step, its arguments mapped to the reverse body's
        fwd = self.step_block
        mapping: dict[Value, Value] = {}
        for a, v in zip(fwd.args[:lay.sequences], seq_args[:lay.sequences]):
            mapping[a] = v
        it = iter(fwd.args[lay.sequences:lay.sequences + lay.tap_args])
        for k in range(lay.states):
            for tap in lay.taps[k]:
                mapping[next(it)] = seq_args[tap_seq[(k, tap)]]
        for a, v in zip(fwd.args[lay.sequences + lay.tap_args:], nonseq_args):
            mapping[a] = v
        for op in fwd.ops[:-1]:
            bb.insert(op.clone(mapping))
        ys = [mapping.get(y, y) for y in fwd.terminator.operands]  # type: ignore[union-attr]
        wrt = {mapping[a] for a in fwd.args if floating(a)}
        live = set(wrt)
        tape = forward_tape(body.ops, live)
        adjoints: dict[Value, Value] = {}
        for k in range(lay.states):
            if ys[k] in live:
                accumulate(bb, adjoints, ys[k], carry_args[carry_of[(k, 0)]])
        for j in range(lay.states + n_plain):
            if j in grad_seq and ys[j] in live:
                accumulate(bb, adjoints, ys[j], seq_args[grad_seq[j]])
        backprop(bb, tape[::-1], adjoints, live)
        new_carries: list[Value] = []
        for k in range(lay.states):
            d = lay.depth(k)
            for j in range(d):
                # the pending adjoint of the state j+1 steps before this one
                parts = [carry_args[carry_of[(k, j + 1)]]] if j + 1 < d else []
                tap_arg = mapping_arg(fwd, lay, k, -1 - j, mapping)
                if tap_arg is not None and tap_arg in adjoints:
                    parts.append(adjoints[tap_arg])
                new_carries.append(_sum(bb, parts) if parts else zeros_like(bb, carry_args[carry_of[(k, j)]]))
        for m in acc_of:
            a = nonseq_args[m]
            new_carries.append(emit(bb, "add", carry_args[acc_of[m]], adjoints[a]) if a in adjoints
                               else carry_args[acc_of[m]])
        seq_grads = [adjoints[seq_args[i]] if seq_args[i] in adjoints else zeros_like(bb, seq_args[i])
                     for i in range(lay.sequences) if floating(seqs[i])]
        bb.create(YieldOp, *new_carries, *seq_grads)
        # the step's new state values are the forward results' rows: its recomputation goes dead
        for k in range(lay.states):
            if ys[k] is not mapping.get(ys[k]) and ys[k] in {r for o in body.ops for r in o.results}:
                ys[k].replace_all_uses_with(seq_args[tap_seq[(k, 0)]])
        rev = ScanOp(operands, None, {"sequences": len(r_seqs), "taps": r_layout.taps, "reverse": True,
                                      "last": (True,) * len(r_inits)}, [Region([body])], self.loc)
        outs = b.insert(rev).results
        carries_out, seq_out = outs[:len(r_inits)], iter(outs[len(r_inits):])
        grads: Grads = [None]
        for s in seqs:
            grads.append(_pad_rows(b, next(seq_out), s) if floating(s) else None)
        for k in range(lay.states):
            d = lay.depth(k)
            if not floating(inits[k]):
                grads.append(None)
            elif d == 1:
                grads.append(carries_out[carry_of[(k, 0)]])
            else:  # row i of the initial value is the state at step i - d: the carry of j = d - 1 - i
                rows = [emit(b, "expand_dims", carries_out[carry_of[(k, d - 1 - i)]], axes=(0,)) for i in range(d)]
                grads.append(emit(b, "concatenate", *rows, axis=0))
        for m in range(len(nonseqs)):
            grads.append(carries_out[acc_of[m]] if m in acc_of else None)
        return grads


def op_layout(attrs: dict[str, Any], n_operands: int) -> Layout:
    s = int(attrs.get("sequences", 0))
    taps = tuple(tuple(t) for t in attrs.get("taps", ()))
    return Layout(s, taps, n_operands - 1 - s - len(taps))


def _arg_types(lay: Layout, operands: Sequence[Value], error: Callable[[str], Exception]) -> list[Type]:
    """The body's argument types: sequence rows, each state's type once per tap, the non-sequences."""
    if lay.nonseqs < 0:
        raise error(f"has {len(operands)} operands: fewer than the steps, {lay.sequences} sequences and "
                    f"{lay.states} initial states")
    for v in operands:
        if not isinstance(v.type, TensorType):
            raise error(f"operands must be tensors, got {v.type}")
    out: list[Type] = []
    for v in operands[1:1 + lay.sequences]:
        t = tensor_type_of(v)
        if t.rank == 0:
            raise error(f"sequence {t} has no leading dim to iterate over")
        out.append(TensorType(t.shape[1:], t.element))
    for k, v in enumerate(operands[1 + lay.sequences:1 + lay.sequences + lay.states]):
        t = tensor_type_of(v)
        if lay.depth(k) > 1:
            if t.rank == 0:
                raise error(f"state #{k} reaches back {lay.depth(k)} steps: its initial value needs rows")
            t = TensorType(t.shape[1:], t.element)
        out += [t] * len(lay.taps[k])
    out += [v.type for v in operands[1 + lay.sequences + lay.states:]]
    return out


def mapping_arg(fwd: Block, lay: Layout, k: int, tap: int, mapping: dict[Value, Value]) -> Value | None:
    """The reverse body's value of state k's tap argument `tap` of the forward step, None if it has none."""
    if tap not in lay.taps[k]:
        return None
    pos = lay.sequences + sum(len(t) for t in lay.taps[:k]) + lay.taps[k].index(tap)
    return mapping[fwd.args[pos]]


def _row_zero(b: Builder, init: Value, depth: int) -> Value:
    """Zeros of a state's value at one step: its initial value's shape, less the rows of a deeper state."""
    row = init if depth == 1 else emit(b, "subtensor", init, begin=(0,), end=(None,), step=(None,), index_dims=(0,))
    return zeros_like(b, row)


def _sum(b: Builder, parts: list[Value]) -> Value:
    out = parts[0]
    for p in parts[1:]:
        out = emit(b, "add", out, p)
    return out


def _pad_rows(b: Builder, g: Value, seq: Value) -> Value:
    """The gradient of a sequence from that of the rows the steps read: zeros for the rows after them."""
    gt, st = tensor_type_of(g), tensor_type_of(seq)
    if st.shape[0] is not None and gt.shape[0] == st.shape[0]:
        return g
    n = dim(b, g, 0)
    bounds = [n] if isinstance(n, Value) else []
    return emit(b, "set_subtensor", zeros_like(b, seq), g, *bounds, begin=(None,),
                end=(DYN if isinstance(n, Value) else n,), step=(None,))


def tensor_type_of(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type
