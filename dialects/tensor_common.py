"""Helpers shared by the tensor dialect's modules (tensor.py, tensor_shape.py) and the scalar dialect.

Type inference follows numpy: `broadcast_shapes` is numpy broadcasting with
None for dynamic dims, `result_dtype` asks numpy which dtype an op's numpy
function returns, and `normalize_axes` checks axis attributes.

Mixed static/dynamic sizes follow MLIR: an attribute array entry `?` (DYN)
takes the value of the op's next dynamic operand, in order. `bind_dynamic`
replaces them by compile-time values where an operand is a `tensor.constant`
(else they stay DYN) or by run-time values in the interpreter.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir.attributes import DYN, Dense, Typed
from ..ir.core import Operation, OpResult, TirValueError, Value
from ..ir.types import Dim, ScalarType, TensorType, index, scalar

DynamicMarker = type(DYN)


def tensor_type(op: Operation, v: Value, what: str = "operand") -> TensorType:
    if not isinstance(v.type, TensorType):
        raise op.error(f"{what} must be a tensor, got {v.type}")
    return v.type


def fmt_shape(shape: Sequence[Dim]) -> str:
    """`(3, 4)`, `(?, 4)`, `()` as in error messages."""
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(op: Operation, shapes: Sequence[Sequence[Dim]]) -> tuple[Dim, ...]:
    """numpy broadcasting where None is an unknown dim (it may be 1 at run time)."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise op.error("operand shapes " + " and ".join(fmt_shape(s) for s in shapes) + " do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def dim_at(shape: Sequence[Any], k: int, rank: int) -> Any:
    """Dim k of a `rank`-d broadcast of `shape` (numpy's right alignment), None where shape has no such dim."""
    j = len(shape) - rank + k
    return shape[j] if j >= 0 else None


def _may_differ(a: Any, b: Any) -> bool:
    """Whether sizes a and b (ints, or run-time values that are not ints) may fail to broadcast."""
    if a is None or b is None or (isinstance(a, int) and a == 1) or (isinstance(b, int) and b == 1):
        return False
    return not (isinstance(a, int) and isinstance(b, int) and a == b) and a is not b


def broadcast_pairs(shapes: Sequence[Sequence[Any]]) -> list[tuple[int, int, int]]:
    """The size pairs numpy's broadcasting of `shapes` needs equal (or one of them 1) that may not be, in
    the order every target checks them: (dim k of the result, operand i, operand j), dims first, i < j.
    Entries are ints or run-time sizes: with ints only (the interpreter) the list holds exactly the
    failing pairs; with run-time sizes (bufferize) each pair becomes one `mem.check`, so both targets
    report the same first failure."""
    rank = max((len(s) for s in shapes), default=0)
    return [(k, i, j) for k in range(rank) for i in range(len(shapes)) for j in range(i + 1, len(shapes))
            if _may_differ(dim_at(shapes[i], k, rank), dim_at(shapes[j], k, rank))]


def _entry(d: Any, values: list[Any]) -> str:
    """A size as message text: an int itself, a run-time size a `{n}` placeholder appended to `values`."""
    if isinstance(d, int):
        return str(d)
    values.append(d)
    return f"{{{len(values) - 1}}}"


def _shape_text(shape: Sequence[Any], values: list[Any]) -> str:
    return fmt_shape([_entry(d, values) for d in shape])  # type: ignore[misc]


def broadcast_failure(op_name: str, shapes: Sequence[Sequence[Any]], k: int, i: int, j: int) -> tuple[str, list[Any]]:
    """The message of pair (k, i, j) of `broadcast_pairs` failing, as a `mem.check` template and the run-time
    sizes its `{n}` stand for (none in the interpreter, whose sizes are ints); `shapes` may have `core` dims
    more than the pairs' (right alignment keeps k the same dim):
    `'tensor.add' op operand shapes (3, 4) and (2, 4) do not broadcast: dimension 0 has sizes 3 and 2`."""
    values: list[Any] = []
    texts = [_shape_text(s, values) for s in shapes]
    rank = max(len(s) for s in shapes)
    a, b = (_entry(dim_at(shapes[x], k, rank), values) for x in (i, j))
    listed = ", ".join(texts[:-1]) + " and " + texts[-1]
    return f"'{op_name}' op operand shapes {listed} do not broadcast: dimension {k} has sizes {a} and {b}", values


def broadcast_to_failure(op_name: str, what: str, src: Sequence[Any], dst: Sequence[Any],
                         d: int) -> tuple[str, list[Any]]:
    """The message of dim d of `src` not broadcasting to `dst` (numpy's broadcast_to) at run time, as
    `broadcast_failure` gives it: `'tensor.set_subtensor' op value shape (3,) does not broadcast to (2, 4):
    dimension 1 has sizes 3 and 4` (dimensions of `dst`)."""
    values: list[Any] = []
    texts = [_shape_text(s, values) for s in (src, dst)]
    k = len(dst) - len(src) + d
    a, b = _entry(src[d], values), _entry(dst[k], values)
    return (f"'{op_name}' op {what} shape {texts[0]} does not broadcast to {texts[1]}: dimension {k} has sizes "
            f"{a} and {b}"), values


def broadcast_to_dims(src: Sequence[Any], dst: Sequence[Any]) -> list[int]:
    """The dims of `src` whose broadcast to `dst` may fail, in check order (ints only: exactly the failing ones)."""
    return [d for d in range(len(src)) if _may_differ(src[d], dst[len(dst) - len(src) + d])]


def check_broadcast_to(op: Operation, src: Sequence[Dim], dst: Sequence[Dim], what: str) -> tuple[Dim, ...]:
    """Check that shape `src` broadcasts to `dst` (numpy's broadcast_to); returns `dst` refined by `src`."""
    if len(src) > len(dst):
        raise op.error(f"{what} shape {fmt_shape(src)} does not broadcast to {fmt_shape(dst)}")
    out = list(dst)
    for k, d in enumerate(src):
        j = len(dst) - len(src) + k
        t = dst[j]
        if d is None or d == 1:
            continue
        if t is None:
            out[j] = d  # the only size d broadcasts to
        elif t != d:
            raise op.error(f"{what} shape {fmt_shape(src)} does not broadcast to {fmt_shape(dst)}")
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _probe_dtype(fn: Callable[..., Any], dtypes: tuple[np.dtype, ...], kwargs: tuple = ()) -> np.dtype:
    if hasattr(fn, "result_type"):  # a function that knows its result type without being called
        return fn.result_type(dtypes)
    args = [np.ones((1,), dt) for dt in dtypes]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args, **dict(kwargs))).dtype


def result_dtype(op: Operation, fn: Callable[..., Any], dtypes: Sequence[np.dtype], **kwargs: Any) -> ScalarType:
    """The element type numpy gives `fn` applied to arrays of these dtypes."""
    try:
        dt = _probe_dtype(fn, tuple(dtypes), tuple(sorted(kwargs.items())))
    except (TypeError, ValueError) as e:
        names = ", ".join(str(scalar(d)) for d in dtypes)
        raise op.error(f"is not defined for element types ({names}): {e}") from None
    return scalar(dt)


def normalize_axis(op: Operation, a: Any, rank: int) -> int:
    """One axis in [0, rank)."""
    if not isinstance(a, int) or isinstance(a, bool) or not -rank <= a < rank:
        raise op.error(f"axis {a} is out of range for a tensor of rank {rank}")
    return a % rank


def normalize_axes(op: Operation, axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Axes in [0, rank), sorted, checked; None means every axis. A 0-d tensor accepts axis 0/-1
    (as Theano does) and has no axes to reduce."""
    if axes is None:
        return tuple(range(rank))
    out = []
    for a in axes:
        if rank == 0 and a in (0, -1) and not isinstance(a, bool):
            continue
        out.append(normalize_axis(op, a, rank))
    if len(set(out)) != len(out):
        raise op.error(f"repeated axis in {list(axes)}")
    return tuple(sorted(out))


def size_check_failed(op: Operation, message: str, *sizes: int) -> TirValueError:
    """A run-time size check of `op` that failed in the interpreter. `message` is the template (`{0}`,
    `{1}`... for the sizes) that bufferize gives the op's `mem.check`, so every target says the same."""
    return TirValueError(message.format(*(int(s) for s in sizes)), op.loc)


def check_broadcast(op: Operation, shapes: Sequence[Sequence[int]], core: int = 0, name: str | None = None) -> None:
    """The interpreter's check of numpy broadcasting, with bufferize's message (`broadcast_failure`) for op
    `name` (default op's own); `core` last dims of each shape do not broadcast (matmul's 2)."""
    failing = broadcast_pairs([s[:len(s) - core] for s in shapes])
    if failing:
        raise TirValueError(broadcast_failure(name or op.name, shapes, *failing[0])[0], op.loc)


def check_broadcast_to_run_time(op: Operation, what: str, src: Sequence[int], dst: Sequence[int]) -> None:
    """The interpreter's check of numpy's broadcast_to, with bufferize's message (`broadcast_to_failure`)."""
    failing = broadcast_to_dims(src, dst)
    if failing:
        raise TirValueError(broadcast_to_failure(op.name, what, src, dst, failing[0])[0], op.loc)


EMPTY_REDUCTION = "reduction over an empty axis has no identity"  # max/min/argmax at run time, every target


def negative_size(op_name: str) -> str:
    """The run-time message of a negative size given to a creation op (`{0}` the size), on every target."""
    return f"'{op_name}' op size {{0}} is negative"


def check_sizes_run_time(op: Operation, sizes: Sequence[int]) -> None:
    """The interpreter's check of run-time sizes, in bufferize's order and wording (`negative_size`)."""
    for s in sizes:
        if s < 0:
            raise size_check_failed(op, negative_size(op.name), s)


def runtime_error(op: Operation, message: str) -> TirValueError:
    """An error found while interpreting `op` (e.g. an index out of range), at its location: a ValueError,
    as the compiled code's run-time checks raise."""
    return TirValueError(f"'{op.name}' op {message}", op.loc)


# ---------------------------------------------------------------- static values of operands


def static_value(v: Value) -> int | float | bool | None:
    """The value of a 0-d operand produced by `tensor.constant` (or `scalar.constant`), else None."""
    if not isinstance(v, OpResult) or v.op.name not in ("tensor.constant", "scalar.constant"):
        return None
    attr = v.op.attributes.get("value")
    if isinstance(attr, Typed):
        return attr.value
    if isinstance(attr, Dense) and attr.array.ndim == 0:
        return attr.array[()].item()
    return None


def static_int(v: Value) -> int | None:
    """The integer a size operand holds when it is a constant (so a dim can stay static)."""
    x = static_value(v)
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def check_size_operands(op: Operation, operands: Sequence[Value], n_dyn: int, *, integer: bool = True) -> None:
    """The dynamic operands filling `?` entries: as many as entries, each a 0-d (integer) tensor, or
    (sizes, `integer`) an `index`."""
    if len(operands) != n_dyn:
        raise op.error(f"has {n_dyn} '?' entr{'y' if n_dyn == 1 else 'ies'} but {len(operands)} "
                       f"dynamic operand{'' if len(operands) == 1 else 's'}")
    for k, v in enumerate(operands):
        t = v.type
        ok = isinstance(t, TensorType) and t.rank == 0 and (t.element.is_int or not integer and t.element.is_float)
        if not ok and not (integer and t == index):
            kind = "an index or a 0-d integer tensor" if integer else "a 0-d numeric tensor"
            raise op.error(f"dynamic operand #{k} must be {kind}, got {t}")


def count_dynamic(lists: Sequence[Sequence[Any] | None]) -> int:
    return sum(1 for entries in lists if entries is not None for e in entries if e is DYN)


def bind_dynamic(lists: Sequence[Sequence[Any] | None], values: Sequence[Any]) -> list[list[Any] | None]:
    """Replace the `?` entries of `lists` (in order: list after list) by `values`.

    `values` are operands (compile time: an entry becomes the constant's int, or stays DYN)
    or run-time arrays (an entry becomes a Python int/float).
    """
    it = iter(values)
    out: list[list[Any] | None] = []
    for entries in lists:
        if entries is None:
            out.append(None)
            continue
        row = []
        for e in entries:
            if e is DYN:
                v = next(it)
                if isinstance(v, Value):
                    s = static_value(v)
                    row.append(DYN if s is None or isinstance(s, bool) else s)
                else:
                    row.append(np.asarray(v)[()].item())
            else:
                row.append(e)
        out.append(row)
    return out
