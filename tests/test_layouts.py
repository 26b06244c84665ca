"""Issue 7: every op gives numpy's results whatever its operands' layouts, and cheap powers are exact.

The cases are tir-bench's layout sweep (tools/bench.py W6_CASES) at small, non-square sizes: each is
compiled once and called with its inputs in C order, Fortran order, as a transposed view, reversed along
every axis and as a sliced view (every other column); the oracle is numpy in float64 on the same values.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.tools.bench import W6_CASES, Api, layout, rel_error

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

# Small stand-ins for the sweep's sizes, by case; distinct dims so a swapped axis cannot pass unnoticed.
SMALL = {4096: 67, 2048: 23, 256: 9, 64: 3, 128: 11, 784: 13, 512: 17, 10: 5}
SHAPES = {
    "batched matmul 64x128x128": [(3, 5, 7), (3, 7, 4)],
    "256x784 @ 784x512": [(9, 13), (13, 6)],
    "MLP forward 256x784 -> 512 -> 10": [(9, 13), (13, 6), (6,), (6, 5)],
    "x + b of an F-order input": [(67, 45), (45,)],
}
LAYOUTS = ("C", "F", "T", "rev", "slice")


def _small(name: str, specs: list[tuple[tuple[int, ...], str]]) -> list[tuple[int, ...]]:
    if name in SHAPES:
        return SHAPES[name]
    out = []
    for shape, _ in specs:
        # the sweep's square 4096x4096 becomes 67x45, its 256^3 9x10x11
        out.append(tuple(SMALL[d] + (k if d in (256,) else -22 * k if d == 4096 else 0) for k, d in enumerate(shape)))
    return out


@pytest.mark.parametrize("case", W6_CASES, ids=[c[0] for c in W6_CASES])
def test_sweep_case_on_every_layout(case):
    name, specs, fn, *_ = case
    shapes = _small(name, specs)
    inputs = [T.tensor("float32", shape=(None,) * len(s), name=f"x{i}") for i, s in enumerate(shapes)]
    f = tensorir.function(inputs, fn(Api("tensorir", T), *inputs), target="c")
    rng = np.random.default_rng(7)
    for kind in LAYOUTS:
        args = [layout(rng, s, kind if len(s) > 1 else "C") for s in shapes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = np.asarray(fn(Api("numpy", np), *(a.astype(np.float64) for a in args)))
        got = f(*args)
        if want.dtype.kind == "f":
            want = want.astype(np.float64)
        err = rel_error(got, want)
        assert err <= 1e-5, f"{name}, {kind} inputs {[a.strides for a in args]}: relative error {err:.1e}"


# ---------------------------------------------------------------- x ** c: numpy's cheap forms

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3e38, 1e-20, 7.25]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("power", [2, 0.5, -1, 3, 4, -2, 2.5])
def test_power_by_constant_matches_numpy(dtype, power):
    """x**2, x**0.5 and x**-1 give numpy's bits (square, sqrt, reciprocal), special values included;
    x**3, x**4 and x**-2 are within 2 ulp of pow where it is finite, and the same where it is not."""
    x = T.tensor(np.dtype(dtype).name, shape=(None, None), name="x")
    f = tensorir.function([x], x ** power, target="c")
    rng = np.random.default_rng(1)
    a = np.concatenate([np.array(SPECIAL, dtype), rng.uniform(-30, 30, 241).astype(dtype)]).reshape(16, 16)
    for arg in (a, np.asfortranarray(a), a[::-1, ::-1]):
        with np.errstate(all="ignore"):
            want = np.power(arg, dtype(power))
        got = f(arg)
        assert got.dtype == want.dtype
        if power in (2, 0.5, -1, 2.5):
            np.testing.assert_array_equal(got, want)  # NaNs in the same places; signed zeros compared below
            number = ~np.isnan(want)
            assert np.array_equal(np.signbit(got[number]), np.signbit(want[number]))
        else:
            finite = np.isfinite(want)
            np.testing.assert_array_equal(got[~finite], want[~finite])
            np.testing.assert_array_max_ulp(got[finite], want[finite], maxulp=2)


@pytest.mark.parametrize("power", [2, 3, 4])
def test_integer_power_by_constant_wraps_as_numpy(power):
    x = T.tensor("int32", shape=(None,), name="x")
    f = tensorir.function([x], x ** power, target="c")
    a = np.array([0, 1, -1, 7, -13, 46340, 46341, 2**31 - 1, -2**31, 1291, 215], np.int32)
    np.testing.assert_array_equal(f(a), np.power(a, np.int32(power)))


def test_integer_base_to_minus_one_still_raises():
    x = T.tensor("int32", shape=(None,), name="x")
    f = tensorir.function([x], x ** -1, target="c")
    with pytest.raises(tensorir.TirError, match="integers to negative integer powers"):
        f(np.arange(1, 4, dtype=np.int32))
