"""Theano's `scan` and `until`: a loop whose step is a traced Python function (one `tensor.scan` op).

    import tensorir
    from tensorir import tensor as T

    A, k = T.dvector("A"), T.iscalar("k")
    powers, updates = tensorir.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                                    non_sequences=A, n_steps=k)
    f = tensorir.function([A, k], powers[-1])        # A ** k by repeated multiplication

The step function is called once, on placeholders, with Theano's argument order: the row of each
sequence (one per tap), the state values at the taps of each `outputs_info` entry that has one, then the
non-sequences. It returns its outputs (one per `outputs_info` entry, in order), optionally followed by
`tensorir.until(cond)`; the graph it builds becomes the op's body (dialects/tensor_scan.py). What the step
reads from outside without depending on the step's arguments (a shared variable, `W.T`, `2 * b`) is
computed once before the loop and passed in as a non-sequence; constants are rebuilt inside the body.

The outputs are stacked over the steps (`[n_steps, ...]`), without the initial values, as Theano's; the
updates dictionary is empty (random draws inside the step are not supported yet).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.core import Block, Location, NotSupportedError, TirError, Value, caller_location
from ..ir.types import TensorType, scalar
from .symbolic import Variable, apply, as_variable, input_variable, lower

__all__ = ["scan", "until"]


@dataclass(frozen=True)
class Until:
    """What `tensorir.until(cond)` returns: the step's stop condition (the loop ends after the step where
    it holds)."""

    condition: Variable


def until(condition: Any) -> Until:
    """Theano's `scan_module.until`: return it from a scan step, after the outputs, to stop the loop."""
    loc = caller_location()
    c = as_variable(condition, loc=loc)
    if c.type.rank != 0:
        raise TirError(f"until condition must be a scalar (0-d), got {c.type}", loc)
    return Until(c)


def scan(fn: Callable[..., Any], sequences: Any = None, outputs_info: Any = None, non_sequences: Any = None,
         n_steps: Any = None, truncate_gradient: int = -1, go_backwards: bool = False, mode: Any = None,
         name: str | None = None, strict: bool = False, return_list: bool = False) -> tuple[Any, OrderedDict]:
    """Theano's `scan(fn, sequences, outputs_info, non_sequences, n_steps)`: returns (outputs, updates); see
    the module docstring."""
    del mode, name, strict  # accepted for Theano's signature; one scan op serves every mode
    loc = caller_location()
    if truncate_gradient != -1:
        raise NotSupportedError("scan: truncate_gradient is not supported (the gradient runs over every step)", loc)
    seq_rows, n_default = _sequences(_as_list(sequences), go_backwards, loc)
    states, plain_at = _outputs_info(_as_list(outputs_info), loc)
    nonseqs = [as_variable(v, loc=loc) for v in _as_list(non_sequences)]
    if n_steps is None and n_default is None:
        raise TirError("scan needs sequences or n_steps to know how many steps to run", loc)
    n = _steps(n_steps, n_default, loc)

    # placeholders in Theano's argument order
    seq_ph = [input_variable(s.type.dtype, s.type.shape[1:], loc=loc) for s in seq_rows]
    tap_ph = [[input_variable(init.type.dtype, row_shape, loc=loc) for _ in taps] for init, taps, row_shape in states]
    nonseq_ph = [input_variable(v.type.dtype, v.type.shape, loc=loc) for v in nonseqs]
    result = fn(*seq_ph, *(p for ps in tap_ph for p in ps), *nonseq_ph)
    outs, stop = _step_outputs(result, None if outputs_info is None else len(states) + len(plain_at), loc)
    if outputs_info is None:  # every output is without state
        plain_at = set(range(len(outs)))
    state_outs = [o for k, o in enumerate(outs) if k not in plain_at]
    plain_outs = [outs[k] for k in sorted(plain_at)]
    for (init, taps, row_shape), o in zip(states, state_outs):
        if o.type.dtype != init.type.dtype or o.type.rank != len(row_shape):
            row = TensorType(tuple(row_shape), init.type.element)
            raise TirError(f"scan: the step returns {o.type.dtype} {o.type} for a state of {init.type.dtype} {row} "
                           f"(outputs_info {init.type} with taps {list(taps)}): make them agree", loc)
    yielded = [*state_outs, *plain_outs, *([stop.condition] if stop else [])]

    placeholders = [*seq_ph, *(p for ps in tap_ph for p in ps), *nonseq_ph]
    captured = _captured(yielded, set(placeholders))
    inner_args = [*placeholders, *captured]

    def step(block: Block) -> list[Value]:
        return lower(block, dict(zip(inner_args, block.args)), yielded)

    attrs = {"sequences": len(seq_rows), "taps": tuple(taps for _, taps, _ in states), "step": step}
    if stop is not None:
        attrs["until"] = True
    results = apply("tensor.scan", [n, *seq_rows, *(init for init, _, _ in states), *nonseqs, *captured],
                    attrs, loc=loc, nout=len(yielded) - (stop is not None))
    # back to the order of outputs_info
    state_it, plain_it = iter(results[:len(states)]), iter(results[len(states):])
    ordered = [next(plain_it) if k in plain_at else next(state_it) for k in range(len(outs))]
    return (ordered if return_list or len(ordered) != 1 else ordered[0]), OrderedDict()


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _sequences(items: list[Any], go_backwards: bool, loc: Location) -> tuple[list[Variable], Variable | None]:
    """One sliced sequence per tap (`dict(input=x, taps=[-1, 0])`: x[t-1] and x[t]) and the number of steps
    they allow (the shortest), None without sequences."""
    rows: list[Variable] = []
    lengths: list[Variable] = []
    for item in items:
        if isinstance(item, dict):
            x, taps = as_variable(item["input"], loc=loc), list(item.get("taps", [0]))
        else:
            x, taps = as_variable(item, loc=loc), [0]
        if x.type.rank == 0:
            raise TirError(f"scan: a sequence must have a leading dim to iterate over, got {x.type}", loc)
        if go_backwards:
            x = x[::-1]
        lo, hi = min(taps), max(taps)
        length = x.shape[0] - (hi - lo)
        lengths.append(length)
        for tap in taps:
            start = tap - lo
            rows.append(x[start:] if start else x)
    if not lengths:
        return rows, None
    n = lengths[0]
    for m in lengths[1:]:
        n = apply("tensor.minimum", [n, m], loc=loc)
    return rows, n


def _row(init: Variable, taps: tuple[int, ...]) -> tuple[int | None, ...]:
    return init.type.shape if -min(taps) == 1 else init.type.shape[1:]


def _outputs_info(items: list[Any], loc: Location) -> tuple[list[tuple[Variable, tuple[int, ...], Any]], set[int]]:
    """(initial value, taps, row shape) per state and the positions of the outputs without state (None)."""
    states: list[tuple[Variable, tuple[int, ...], Any]] = []
    plain: set[int] = set()
    for k, item in enumerate(items):
        if item is None:
            plain.add(k)
            continue
        if isinstance(item, dict):
            if item.get("initial") is None:
                plain.add(k)
                continue
            init, taps = as_variable(item["initial"], loc=loc), tuple(sorted(item.get("taps", [-1])))
        else:
            init, taps = as_variable(item, loc=loc), (-1,)
        if not taps or any(t >= 0 for t in taps):
            raise TirError(f"scan: taps of outputs_info #{k} must be negative, got {list(taps)}", loc)
        depth = -min(taps)
        if depth > 1:
            if init.type.rank == 0:
                raise TirError(f"scan: outputs_info #{k} reaches back {depth} steps, so its initial value needs "
                               f"rows, got {init.type}", loc)
            init = init[-depth:]
        states.append((init, taps, _row(init, taps)))
    return states, plain


def _steps(n_steps: Any, n_default: Variable | None, loc: Location) -> Variable:
    n = as_variable(n_steps, loc=loc) if n_steps is not None else n_default
    assert n is not None
    if n.type.rank != 0 or n.type.dtype.kind not in "iu":
        raise TirError(f"scan: n_steps must be a 0-d integer, got {n.type.dtype} {n.type}", loc)
    if n.type.dtype != np.int64:
        n = apply("tensor.cast", [n], {"dtype": scalar(np.int64)}, loc=loc)
    return n


def _step_outputs(result: Any, expected: int | None, loc: Location) -> tuple[list[Variable], Until | None]:
    """The step's outputs and its until, from what it returned (a value, a list, (outputs, until))."""
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    stop = None
    if items and isinstance(items[-1], Until):
        stop = items.pop()
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    if any(isinstance(i, dict) for i in items):
        raise NotSupportedError("scan: a step that returns updates (random draws inside the loop) is not "
                                "supported", loc)
    if expected is not None and len(items) != expected:
        raise TirError(f"scan: the step returns {len(items)} outputs but outputs_info has {expected} entries", loc)
    return [as_variable(i, loc=loc) for i in items], stop


def _captured(outputs: Sequence[Variable], placeholders: set[Variable]) -> list[Variable]:
    """The variables the step reads from outside: inputs of the nodes that depend on a placeholder, and
    outputs, that do not depend on one themselves (each computed once before the loop); constants are
    rebuilt inside the body."""
    depends: dict[int, bool] = {}
    order: list[Variable] = []
    stack: list[tuple[Variable, bool]] = [(o, False) for o in outputs]
    while stack:
        v, done = stack.pop()
        if id(v) in depends:
            continue
        if v in placeholders:
            depends[id(v)] = True
            continue
        node = v.owner
        if node is None or not node.inputs:
            depends[id(v)] = False
            order.append(v)
            continue
        if not done:
            stack.append((v, True))
            stack.extend((i, False) for i in node.inputs if id(i) not in depends)
            continue
        depends[id(v)] = any(depends[id(i)] for i in node.inputs)
        order.append(v)
    out: list[Variable] = []
    seen: set[int] = set()

    def take(v: Variable) -> None:
        constant = v.owner is not None and not v.owner.inputs
        if not depends[id(v)] and not constant and id(v) not in seen:
            seen.add(id(v))
            out.append(v)

    for v in order:
        if depends[id(v)] and v.owner is not None:
            for i in v.owner.inputs:
                take(i)
    for o in outputs:
        take(o)
    return out
