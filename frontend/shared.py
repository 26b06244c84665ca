"""Shared variables: symbolic values whose storage persists between calls (Theano's `theano.shared`).

    w = tensorir.shared(np.zeros(3), name="w")
    f = tensorir.function([x], cost, updates=[(w, w - 0.1 * g)])
    f(a); w.get_value()

A shared variable is a graph input that the caller never passes: `tensorir.function` makes each one
its graph reads (after `givens`) an extra argument of the function it builds, after the explicit
inputs, and each update an extra result; a call passes the current values and, once every output is
computed, stores the update results (all computed from the old values: `[(a, b), (b, a)]` swaps). The
stored value is the array the call returned, not a copy of it.

In place: each update result is tied to its variable's argument (`tir.tied`, passes/tied.py), so
compiled code writes the new value into the stored array itself where the graph allows it (every read
of the old value first, or at the element written: an SGD step) and the array does (exact dtype and
shape, C-contiguous, aligned, writeable, no memory shared with another argument); the variable then
keeps the same array from call to call. Elsewhere, and on the interpreter, it gets a fresh array; the
values are the same. As in Theano, `get_value(borrow=True)` is that storage, which a later call may
overwrite, and `shared(a, borrow=True)` makes `a` the storage the updates write.

Its type has the value's dtype and rank and dynamic dims, so `set_value` may change the shape.

`default_update` (Theano's): a new value that `tensorir.function` stores after every call of a function
whose graph reads the variable, unless `updates=` gives it another (`add_default_updates`); random
streams use it to advance their generator state (frontend/random.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..ir.core import Location, TirError, TirTypeError, caller_location
from ..ir.types import TensorType, scalar
from ..runtime.device import host_array, is_device_array
from .symbolic import Variable


class SharedVariable(Variable):
    """A variable with a value that persists between calls; `get_value` / `set_value` read and write it."""

    def __init__(self, value: np.ndarray, name: str | None, loc: Location) -> None:
        super().__init__(TensorType((None,) * value.ndim, scalar(value.dtype)), None, 0, name, loc)
        self._value = value
        self.default_update: Variable | None = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value: a copy, or with `borrow=True` the stored array itself (a later call may
        write its update into it, in place; `set_value` replaces it). A value a device target's update left on
        the device comes back as a numpy copy, or as that device array with `return_internal_type=True`."""
        if return_internal_type or (borrow and isinstance(self._value, np.ndarray)):
            return self._value
        return host_array(self._value) if is_device_array(self._value) else self._value.copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Store a new value of the variable's dtype and rank (numbers and lossless upcasts are converted,
        as call arguments are); copied unless `borrow=True` and it already is an array of that dtype."""
        from .function import check_argument

        arr = check_argument(value, self.type, self._label(), loc=caller_location())
        if borrow and arr is value:
            self._value = arr
        else:
            self._value = arr.copy() if is_device_array(arr) else np.array(arr, copy=True)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its value, name and place; a `default_update` graph stays behind."""
        return SharedVariable, (host_array(self._value), self.name, self.loc)

    def _label(self) -> str:
        return f"shared variable '{self.name}'" if self.name else "a shared variable"

    def __repr__(self) -> str:
        return f"<SharedVariable {self.name or ''}: {self.type}>"


def shared(value: Any, name: str | None = None, strict: bool = False, allow_downcast: bool | None = None,
           borrow: bool = False) -> SharedVariable:
    """A shared variable holding `value` (an array or a number; its numpy dtype and rank are the
    variable's type). The value is copied unless `borrow=True` (then the caller's array is the storage)."""
    loc = caller_location()
    if isinstance(value, Variable):
        raise TirError("tensorir.shared takes a value (a numpy array or a number), not a symbolic variable", loc)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TirTypeError(f"tensorir.shared takes numbers or a numeric array, got {type(value).__name__} "
                           f"of dtype {arr.dtype}", loc)
    return SharedVariable(arr if borrow and arr is value else np.array(arr, copy=True), name, loc)


def shared_inputs(roots: Iterable[Variable], givens: dict[Variable, Variable]) -> list[SharedVariable]:
    """The shared variables the graphs of `roots` read, after substituting `givens`, in first-seen order."""
    found: dict[SharedVariable, None] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        while v in givens:
            v = givens[v]
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, SharedVariable):
            found[v] = None
        elif v.owner is not None:
            stack.extend(reversed(v.owner.inputs))
    return list(found)


def parse_updates(updates: Any, loc: Location) -> list[tuple[SharedVariable, Variable]]:
    """`updates` as (shared variable, new value) pairs: a list of pairs or a dict; each value of the
    variable's dtype and rank (a Python number becomes a constant of that dtype)."""
    from .symbolic import as_variable, dtype_name

    if updates is None:
        return []
    pairs = list(updates.items() if isinstance(updates, dict) else updates)
    out: list[tuple[SharedVariable, Variable]] = []
    for k, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TirError(f"updates[{k}] is {type(pair).__name__}; updates are (shared variable, new value) pairs",
                           loc)
        var, new = pair
        if not isinstance(var, SharedVariable):
            raise TirError(f"updates[{k}] updates {var!r}, which is not a shared variable (tensorir.shared); "
                           "only shared variables keep values between calls", loc)
        if any(var is v for v, _ in out):
            raise TirError(f"updates give {var._label()} two new values", loc)
        value = as_variable(new, var.type.dtype, loc)
        if value.type.dtype != var.type.dtype or value.type.rank != var.type.rank:
            raise TirTypeError(
                f"the update of {var._label()} ({dtype_name(var.type)} {var.type}) has type "
                f"{dtype_name(value.type)} {value.type}; an update must keep the variable's dtype and rank"
                + (f": cast it with .astype('{var.type.dtype}')" if value.type.rank == var.type.rank else ""), loc)
        out.append((var, value))
    return out


def add_default_updates(updates: list[tuple[SharedVariable, Variable]], outputs: Sequence[Variable],
                        givens: dict[Variable, Variable]) -> list[tuple[SharedVariable, Variable]]:
    """`updates` plus the `default_update` of each shared variable that the outputs or the updates read and
    that `updates` does not update (Theano's default updates), until no new one is read."""
    out = list(updates)
    while True:
        done = {id(v) for v, _ in out}
        new = [(v, v.default_update) for v in shared_inputs([*outputs, *(u for _, u in out)], givens)
               if v.default_update is not None and id(v) not in done]
        if not new:
            return out
        out += new
