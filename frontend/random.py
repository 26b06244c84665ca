"""Random streams (Theano's `RandomStreams`): draws whose generator state is a shared variable.

    srng = tensorir.RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = tensorir.function([], rv_u)
    f(), f()            # two different draws: each call advances the stream
    srng.seed(234)      # the same numbers again, in every function built from this RandomStreams

Each draw (each call of a method below) gets a stream of its own: a shared variable holding the Philox
state `[key, stream, pos] = [seed, k, 0]` (uint64; k counts the draws of this RandomStreams), whose
`default_update` advances `pos` past the blocks the draw uses. `tensorir.function` adds that update to
every function whose graph reads the state (unless `updates=` gives the variable another one), as Theano
does, so a function called twice draws new numbers, and two functions that read the same draw share its
stream. `seed(s)` resets every stream to `[s, k, 0]`. The bits, their mapping to floats and why the state
is a tensor are in dialects/random.py; they are the same on the interpreter and on the C target (normal
draws to a few ulps).

The methods follow numpy's Generator and Theano: a `size` is a shape (ints or symbolic 0-d integers);
the parameters (`low`, `high`, `avg`, `std`, `p`) are numbers or tensors that broadcast with it, applied
with ordinary tensor ops (`low + (high - low) * u`), so gradients with respect to them flow.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dialects.random import STATE_SIZE, NormalOp, StandardDraw, UniformOp, blocks_used
from ..ir.core import NotSupportedError, TirError, TirValueError, caller_location
from ..ir.types import f32, f64
from . import tensor_api as T
from .shared import SharedVariable, shared
from .symbolic import Variable, apply, as_variable, dyn_operands


class RandomStreams:
    """A source of random streams, seeded once (Theano's `tensor.shared_randomstreams.RandomStreams`)."""

    def __init__(self, seed: int | None = None) -> None:
        self.default_instance_seed = secrets.randbits(64) if seed is None else int(seed)
        self.state_updates: list[tuple[SharedVariable, Variable]] = []  # (state, its default update), Theano's

    def seed(self, seed: int | None = None) -> None:
        """Restart every stream of this RandomStreams from `seed` (the instance's seed when None)."""
        seed = self.default_instance_seed if seed is None else int(seed)
        for k, (state, _) in enumerate(self.state_updates):
            state.set_value(_initial_state(seed, k))

    def updates(self) -> list[tuple[SharedVariable, Variable]]:
        """Every stream's (state, default update) pair, Theano's `RandomStreams.updates()`."""
        return list(self.state_updates)

    # ---- distributions
    def uniform(self, size: Any = (), low: Any = 0.0, high: Any = 1.0, dtype: Any = None) -> Variable:
        """Uniform numbers in [low, high) of shape `size` (broadcast with low and high), `dtype` floatX."""
        u = self._draw(UniformOp, size, dtype)
        return u if _is(low, 0.0) and _is(high, 1.0) else _as(low + (high - low) * u, u.dtype)

    def normal(self, size: Any = (), avg: Any = 0.0, std: Any = 1.0, dtype: Any = None) -> Variable:
        """Normal numbers of mean `avg` and standard deviation `std`."""
        z = self._draw(NormalOp, size, dtype)
        return z if _is(avg, 0.0) and _is(std, 1.0) else _as(avg + std * z, z.dtype)

    def binomial(self, size: Any = (), n: int = 1, p: Any = 0.5, dtype: Any = "int64") -> Variable:
        """Binomial counts of `n` trials (a static int) of probability p: the sum of n draws `u < p`."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise TirError(f"binomial: n must be a positive int, got {n!r}", caller_location())
        shape = _sizes(size)
        if n == 1:
            return T.lt(self._draw(UniformOp, shape, "float64"), p).astype(dtype)
        u = self._draw(UniformOp, [*shape, int(n)], "float64")
        return T.lt(u, T.shape_padright(p) if isinstance(p, Variable) and p.ndim else p).sum(axis=-1).astype(dtype)

    def bernoulli(self, size: Any = (), p: Any = 0.5, dtype: Any = "int64") -> Variable:
        """1 with probability p, else 0 (binomial with n = 1)."""
        return self.binomial(size, 1, p, dtype)

    def integers(self, low: Any, high: Any = None, size: Any = (), dtype: Any = "int64") -> Variable:
        """Integers in [low, high) ([0, low) when high is None), numpy's Generator.integers:
        `low + floor(u * (high - low))` with a float64 u (a bias below (high - low) / 2^53)."""
        if high is None:
            low, high = 0, low
        if isinstance(low, (int, np.integer)) and isinstance(high, (int, np.integer)) and low >= high:
            raise TirValueError(f"integers: low >= high ({low} >= {high}): the range [low, high) is empty",
                                caller_location())
        span = high - low
        u = self._draw(UniformOp, size, "float64")
        k = T.minimum(T.floor(u * span).astype("int64"), span - 1)  # u * span may round up to span
        return _as(low + k, dtype)

    def random_integers(self, size: Any = (), low: int = 0, high: int = 1, dtype: Any = "int64") -> Variable:
        """Integers in [low, high], both included (Theano's name and argument order)."""
        return self.integers(low, high + 1, size, dtype)

    def choice(self, a: Any, size: Any = (), replace: bool = True, p: Any = None) -> Variable:
        """Elements of the 1-d `a` (or of arange(a) for an int), uniformly or with probabilities `p`; without
        replacement the first prod(size) of a permutation (with `p`: not supported yet)."""
        loc = caller_location()
        pool = None if isinstance(a, (int, np.integer)) else as_variable(a, loc=loc)
        if pool is not None and pool.ndim != 1:
            raise TirError(f"choice: a must be an int or a 1-d tensor, got {pool.ndim} dims", loc)
        n = int(a) if pool is None else pool.shape[0]
        shape = _sizes(size)
        if not replace:
            if p is not None:
                raise NotSupportedError("RandomStreams.choice with replace=False and p (weighted sampling without "
                                        "replacement) is not supported yet", loc)
            idx = self.permutation(n)[:_count(shape)].reshape(shape)
        elif p is None:
            idx = self.integers(0, n, shape)
        else:
            cdf = T.cumsum(as_variable(p, loc=loc))
            u = self._draw(UniformOp, shape, "float64") * cdf[-1]
            # the index of the first cdf entry above u: how many entries are <= u
            idx = T.minimum(T.ge(T.shape_padright(u), cdf).sum(axis=-1).astype("int64"), n - 1)
        return idx if pool is None else T.take(pool, idx, axis=0)

    def permutation(self, x: Any) -> Variable:
        """A random permutation of arange(x) for an int x (int64), else of the 1-d tensor x: the stable
        argsort of float64 uniform numbers (ties have probability ~ n^2 / 2^54)."""
        if isinstance(x, (int, np.integer, Variable)) and (not isinstance(x, Variable) or x.ndim == 0):
            return T.argsort(self._draw(UniformOp, [x], "float64"))
        xv = as_variable(x, loc=caller_location())
        return T.take(xv, T.argsort(self._draw(UniformOp, [xv.shape[0]], "float64")), axis=0)

    # ---- the streams
    def _draw(self, op: type[StandardDraw], size: Any, dtype: Any) -> Variable:
        """A standard draw (`random.uniform` / `random.normal`) of `size` from a new stream, whose state's
        default update advances it by the blocks the draw uses."""
        loc = caller_location()
        el = T._dtype_or_floatx(dtype, loc)
        if not el.is_float:
            raise TirError(f"RandomStreams draws floats: dtype must be a float type, got {el}", loc)
        draw_el = f32 if el == f32 else f64  # float16 draws float32, cast below
        k = len(self.state_updates)
        state = shared(_initial_state(self.default_instance_seed, k), name=f"random_state_{k}")
        shape = _sizes(size)
        attr, dyn = dyn_operands(shape, loc, f"{op.name} size")
        x = apply(op.name, [state, *dyn], {"shape": attr, "dtype": draw_el}, loc=loc)
        used = blocks_used(_count([e if isinstance(e, int) else T.cast(e, "int64") for e in shape]), draw_el,
                           op.paired)
        state.default_update = T.inc_subtensor(state[STATE_SIZE - 1], T.cast(used, "uint64"))
        self.state_updates.append((state, state.default_update))
        return x if draw_el == el else T.cast(x, el)


def _initial_state(seed: int, k: int) -> np.ndarray:
    return np.array([seed % 2 ** 64, k, 0], dtype=np.uint64)


def _sizes(size: Any) -> list[Any]:
    return [] if size is None else T._size_list(size, caller_location(), "RandomStreams size")


def _count(shape: Sequence[Any]) -> Any:
    n: Any = 1
    for e in shape:
        n = n * e
    return n


def _is(value: Any, number: float) -> bool:
    return not isinstance(value, Variable) and np.ndim(value) == 0 and value == number


def _as(x: Variable, dtype: Any) -> Variable:
    return x if x.dtype == np.dtype(dtype) else T.cast(x, dtype)


__all__ = ["RandomStreams"]
