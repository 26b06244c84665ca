"""The numpy functions of issue 11 item 6 against numpy itself: isnan/isinf/isfinite, nan_to_num, cumsum/cumprod,
repeat/tile/pad, sort/argsort and einsum, on the reference interpreter and the C target (one compile per group),
with `?` dims, several dtypes, non-contiguous inputs and nan/inf; gradients against finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.symbolic import Variable
from tensorir.gradient import verify_grad

RNG = np.random.default_rng(11)


def specials(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Random values with ties, nan, +inf and -inf mixed in."""
    a = RNG.integers(-3, 4, shape).astype(dtype)
    if np.dtype(dtype).kind == "f" and a.size:
        flat = a.reshape(-1)
        picks = RNG.choice(flat.size, size=min(flat.size, 6), replace=False)
        flat[picks] = [np.nan, np.inf, -np.inf, np.nan, 0.5, -0.0][:len(picks)]
    return a


def check(inputs: list[Variable], outputs: list[Variable], refs: Callable[..., Sequence[Any]],
          cases: list[list[np.ndarray]]) -> None:
    """Each output on both targets equals numpy's `refs(*case)` (dtype, shape, values; nan where numpy's is),
    also with the inputs in a transposed layout."""
    fns = {target: tensorir.function(inputs, outputs, target=target) for target in ("interp", "c")}
    for case in cases:
        want = refs(*case)
        for target, f in fns.items():
            for args in (case, [np.asfortranarray(a) for a in case]):
                for k, (got, ref) in enumerate(zip(f(*args), want)):
                    ref = np.asarray(ref)
                    where = f"{target}: output #{k} for shapes {[a.shape for a in case]}"
                    assert got.dtype == ref.dtype and got.shape == ref.shape, \
                        f"{where}: {got.dtype}{got.shape} vs {ref.dtype}{ref.shape}"
                    if ref.dtype.kind == "f":
                        tol = 1e-5 if ref.dtype == np.float32 else 1e-12
                        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, equal_nan=True, err_msg=where)
                    else:
                        np.testing.assert_array_equal(got, ref, err_msg=where)


def test_predicates_and_nan_to_num() -> None:
    x, y, i = T.fmatrix("x"), T.dmatrix("y"), T.imatrix("i")
    outs = [T.isnan(x), T.isinf(x), T.isfinite(x), T.isnan(y), T.isinf(y), T.isfinite(y), T.isnan(i),
            T.isfinite(i), T.nan_to_num(x), T.nan_to_num(y, nan=-1.0, posinf=1e300, neginf=-2.5), T.nan_to_num(i),
            T.switch(T.isnan(x), 0.0, x * 2)]  # fused with arithmetic into one kernel

    def refs(x: np.ndarray, y: np.ndarray, i: np.ndarray) -> list[Any]:
        return [np.isnan(x), np.isinf(x), np.isfinite(x), np.isnan(y), np.isinf(y), np.isfinite(y), np.isnan(i),
                np.isfinite(i), np.nan_to_num(x), np.nan_to_num(y, nan=-1.0, posinf=1e300, neginf=-2.5),
                np.nan_to_num(i), np.where(np.isnan(x), np.float32(0), x * 2)]
    check([x, y, i], outs, refs, [[specials((3, 5), np.float32), specials((4, 2), np.float64),
                                   specials((2, 2), np.int32)],
                                  [specials((0, 3), np.float32), specials((1, 7), np.float64),
                                   specials((3, 1), np.int32)]])


def test_cumsum_cumprod() -> None:
    x, y, i, b = T.fmatrix("x"), T.dtensor3("y"), T.ivector("i"), T.bmatrix("b")
    outs = [T.cumsum(x), T.cumsum(x, axis=0), T.cumprod(x, axis=1), T.cumsum(y, axis=1), T.cumprod(y, axis=-1),
            T.cumsum(y, axis=0), T.cumsum(i), T.cumprod(i, axis=0), T.cumsum(b, axis=1), T.cumsum(x, dtype="float64")]

    def refs(x: np.ndarray, y: np.ndarray, i: np.ndarray, b: np.ndarray) -> list[Any]:
        return [np.cumsum(x), np.cumsum(x, 0), np.cumprod(x, 1), np.cumsum(y, 1), np.cumprod(y, -1),
                np.cumsum(y, 0), np.cumsum(i), np.cumprod(i, 0), np.cumsum(b, 1), np.cumsum(x, dtype=np.float64)]
    small = lambda *s: RNG.uniform(0.5, 1.5, s)  # noqa: E731 (products stay in range)
    check([x, y, i, b], outs, refs,
          [[small(3, 4).astype(np.float32), small(2, 3, 5), RNG.integers(-3, 4, 6).astype(np.int32),
            RNG.integers(-2, 3, (3, 4)).astype(np.int8)],
           [small(0, 2).astype(np.float32), small(1, 0, 3), np.zeros(0, np.int32), np.zeros((2, 0), np.int8)],
           [specials((2, 3), np.float32), specials((2, 2, 2), np.float64), RNG.integers(-3, 4, 1).astype(np.int32),
            RNG.integers(-2, 3, (1, 5)).astype(np.int8)]])


def test_repeat_tile_pad() -> None:
    x, v, i = T.fmatrix("x"), T.dvector("v"), T.itensor3("i")
    outs = [T.repeat(x, 3, axis=1), T.repeat(x, 2), T.repeat(i, 2, axis=-2), T.repeat(v, 0), T.tile(x, (2, 3)),
            T.tile(v, (2, 1, 2)), T.tile(i, 2), T.pad(x, 1), T.pad(v, (2, 0), constant_values=-1.5),
            T.pad(i, ((0, 1), (2, 0), (1, 1)), constant_values=7)]

    def refs(x: np.ndarray, v: np.ndarray, i: np.ndarray) -> list[Any]:
        return [np.repeat(x, 3, axis=1), np.repeat(x, 2), np.repeat(i, 2, axis=-2), np.repeat(v, 0), np.tile(x, (2, 3)),
                np.tile(v, (2, 1, 2)), np.tile(i, 2), np.pad(x, 1), np.pad(v, (2, 0), constant_values=-1.5),
                np.pad(i, ((0, 1), (2, 0), (1, 1)), constant_values=7)]
    check([x, v, i], outs, refs, [[RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal(5),
                                   RNG.integers(-9, 9, (2, 3, 2)).astype(np.int32)],
                                  [np.zeros((0, 2), np.float32), np.zeros(0), np.zeros((1, 0, 2), np.int32)]])


def test_sort_argsort() -> None:
    x, y, i = T.fmatrix("x"), T.dtensor3("y"), T.lvector("i")
    outs = [T.sort(x), T.sort(x, axis=0), T.argsort(x), T.argsort(x, axis=0), T.sort(x, axis=None), T.sort(y, axis=1),
            T.argsort(y, axis=-1), T.sort(i), T.argsort(i, kind="stable")]

    def refs(x: np.ndarray, y: np.ndarray, i: np.ndarray) -> list[Any]:
        return [np.sort(x), np.sort(x, axis=0), np.argsort(x, kind="stable"), np.argsort(x, axis=0, kind="stable"),
                np.sort(x, axis=None), np.sort(y, axis=1), np.argsort(y, axis=-1, kind="stable"), np.sort(i),
                np.argsort(i, kind="stable")]
    check([x, y, i], outs, refs, [[specials((5, 9), np.float32), specials((2, 7, 3), np.float64),
                                   specials((33,), np.int64)],
                                  [specials((1, 1), np.float32), specials((2, 0, 3), np.float64),
                                   np.zeros(0, np.int64)],
                                  [RNG.standard_normal((40, 3)).astype(np.float32), specials((1, 3, 64), np.float64),
                                   RNG.integers(-2**40, 2**40, 100)],
                                  # rows split over threads (TIR_PARALLEL_MIN elements), many ties
                                  [specials((300, 500), np.float32), specials((2, 2, 2), np.float64),
                                   RNG.integers(-3, 4, 5000)]])


def test_einsum() -> None:
    a, b, v, x, y = T.dmatrix("a"), T.dmatrix("b"), T.dvector("v"), T.dtensor3("x"), T.dtensor3("y")
    specs: list[tuple[str, list[Variable]]] = [
        ("ij,jk->ik", [a, b]), ("ij,jk", [a, b]), ("ij->ji", [a]), ("ij->", [a]), ("ij->j", [a]), ("i,i->", [v, v]),
        ("i,j->ij", [v, v]), ("bij,bjk->bik", [x, y]), ("ij,j->i", [a, v]), ("bij,bkj->bik", [x, y]),
        ("ij,ij->ij", [a, b]), ("ij,jk,k->i", [a, b, v]), ("bij,bjk->ik", [x, y]), ("ik,jk->ij", [a, b]),
        ("bij,jk->bik", [x, b])]
    names = "abvxy"

    def refs(*values: np.ndarray) -> list[Any]:
        by_name = dict(zip(names, values))
        return [np.einsum(s, *[by_name[o.name] for o in ops]) for s, ops in specs]
    check([a, b, v, x, y], [T.einsum(s, *ops) for s, ops in specs], refs,
          [[RNG.standard_normal(s) for s in [(4, 4), (4, 4), (4,), (2, 4, 4), (2, 4, 4)]],
           [RNG.standard_normal(s) for s in [(3, 3), (3, 3), (3,), (1, 3, 3), (1, 3, 3)]]])


@pytest.mark.parametrize("bad", ["ii->i", "i...,i", "ij,jk->iz", "ijk,jk->ik"])
def test_einsum_refuses(bad: str) -> None:
    with pytest.raises(tensorir.TirError, match="T.einsum"):
        T.einsum(bad, T.dmatrix(), T.dmatrix())


def test_pad_and_repeat_refuse() -> None:
    with pytest.raises(tensorir.TirError, match="mode='constant' only"):
        T.pad(T.dmatrix(), 1, mode="edge")
    with pytest.raises(tensorir.TirError, match=r"pad_width .* does not fit a tensor of rank 2"):
        T.pad(T.dmatrix(), ((1, 2), (3, 4), (5, 6)))
    with pytest.raises(tensorir.TirError, match="repeats must be non-negative integers"):
        T.repeat(T.dmatrix(), -1)


@pytest.mark.parametrize("name,fn,shapes", [
    ("cumsum", lambda x: T.cumsum(x, axis=1), [(3, 4)]),
    ("cumsum-flat", lambda x: T.cumsum(x), [(2, 3)]),
    ("cumprod", lambda x: T.cumprod(x, axis=0) + T.cumprod(x, axis=-1), [(3, 4)]),
    ("sort", lambda x: T.sort(x, axis=0) * T.sort(x), [(4, 3)]),
    ("repeat-tile-pad", lambda x: T.repeat(x, 2, axis=0).sum() + (T.tile(x, (2, 1, 2)) ** 2).sum()
     + T.pad(x, ((1, 0), (2, 1))).sum(axis=0), [(2, 3)]),
    ("einsum", lambda a, b: T.einsum("ij,jk->ik", a, b) + T.einsum("ij,kj->ik", a, b.T), [(2, 3), (3, 2)]),
])
def test_gradients(name: str, fn: Callable[..., Variable], shapes: list[tuple[int, ...]]) -> None:
    # values away from 0 (cumprod's gradient divides by x) and distinct (sort's is undefined at ties)
    values = [RNG.permutation(np.prod(s)).reshape(s) * 0.25 + 0.5 for s in shapes]
    verify_grad(fn, values, target="interp", rng=np.random.default_rng(0))


def test_gradients_on_the_c_target() -> None:
    """One compiled gradient through every new differentiable op, against central differences of numpy."""
    x = T.dmatrix("x")
    cost = ((T.cumsum(x, axis=1) ** 2).sum() + (T.cumprod(x, axis=0) * T.arange(3)).sum()
            + (T.sort(x, axis=0) * T.arange(4).dimshuffle(0, "x")).sum() + (T.tile(x, (1, 2)) * T.arange(6)).sum()
            + (T.repeat(x, 2, axis=0) ** 3).sum() + T.pad(x, 1, constant_values=3.0).prod()
            + T.einsum("ij,ik->jk", x, x).sum())

    def numpy_cost(a: np.ndarray) -> float:
        return ((np.cumsum(a, 1) ** 2).sum() + (np.cumprod(a, 0) * np.arange(3)).sum()
                + (np.sort(a, 0) * np.arange(4)[:, None]).sum() + (np.tile(a, (1, 2)) * np.arange(6)).sum()
                + (np.repeat(a, 2, 0) ** 3).sum() + np.pad(a, 1, constant_values=3.0).prod()
                + np.einsum("ij,ik->jk", a, a).sum())
    a = RNG.permutation(12).reshape(4, 3) * 0.05 + 0.6
    numeric = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        step = np.zeros_like(a)
        step[idx] = 1e-6
        numeric[idx] = (numpy_cost(a + step) - numpy_cost(a - step)) / 2e-6
    f = tensorir.function([x], tensorir.grad(cost, x), target="c")
    np.testing.assert_allclose(f(a), numeric, rtol=1e-5)
