"""Reductions on the C target in every loop structure it picks at run time (docs/lowering.md, emit-c):
the column form (over blocks of output columns, or rows split over threads) when the reduced dim is not
the unit-stride one, the row form otherwise, split full reductions, and blocked compensated float sums.
Each function is checked against the reference interpreter on C-order, Fortran-order, transposed,
sliced and reversed inputs (accuracy against math.fsum: tests/test_reductions.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorir
from tensorir import config
from tensorir import tensor as T

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

RNG = np.random.default_rng(7)


def layouts(a: np.ndarray) -> list[np.ndarray]:
    """`a` in C order, Fortran order, as a sliced view (every other element) and reversed along axis 0."""
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    sliced = big[tuple(slice(None, None, 2) for _ in a.shape)]
    sliced[...] = a
    reversed_ = np.ascontiguousarray(a[::-1])[::-1]
    return [a, np.asfortranarray(a), sliced, reversed_]


def check(inputs: list[T.Variable], outputs: list[T.Variable], shapes: list[tuple[int, ...]],
          make: object = None) -> None:
    f_c = tensorir.function(inputs, outputs, target="c")
    f_i = tensorir.function(inputs, outputs, target="interp")
    for shape in shapes:
        x = make(shape) if callable(make) else RNG.uniform(-2, 2, shape).astype(np.float32)
        want = f_i(x)
        for arg in layouts(x):
            for w, g in zip(want, f_c(arg)):
                where = f"{shape} strides {arg.strides}"
                assert g.dtype == w.dtype and g.shape == w.shape, where
                if w.dtype.kind == "f":
                    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=where)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=where)


# column blocks: more than one block of 256 columns, a partial last block; few columns and many rows
# (the row split when there are fewer blocks than threads); empty dims.
SHAPES_2D = [(37, 600), (3000, 5), (300, 257), (1, 9), (0, 40), (40, 0)]


def test_float_reductions_over_each_axis_in_every_layout() -> None:
    x = T.fmatrix("x")
    outs = [x.sum(axis=0), x.sum(axis=1), x.sum(), x.prod(axis=0), x.max(axis=0), x.min(axis=1),
            x.mean(axis=0), x.var(axis=0), x.sum(axis=0, keepdims=True), T.sum(x.T, axis=1)]
    with config.change_flags(threads=4):
        check([x], outs, SHAPES_2D[:4])
        check([x], [x.sum(axis=0), x.sum(axis=1, keepdims=True), x.sum()], SHAPES_2D[4:])


def test_argmax_and_nan_propagation_in_the_column_form() -> None:
    x = T.fmatrix("x")

    def with_nans(shape: tuple[int, ...]) -> np.ndarray:
        a = RNG.uniform(-2, 2, shape).astype(np.float32)
        a[RNG.random(shape) < 0.01] = np.nan
        return a
    with config.change_flags(threads=4):
        check([x], [T.argmax(x, axis=0), T.argmin(x, axis=1), x.max(axis=0), x.min(axis=0)],
              [(37, 600), (3000, 5)], with_nans)


def test_integer_and_bool_reductions() -> None:
    i, c = T.lmatrix("i"), T.tensor("bool", (None, None), name="c")
    with config.change_flags(threads=4):
        check([i], [i.sum(axis=0), i.max(axis=0), i.prod(axis=1), T.argmax(i, axis=0)], [(37, 600), (3000, 5)],
              lambda s: RNG.integers(-3, 4, s).astype(np.int64))
        check([c], [c.all(axis=0), c.any(axis=0), c.any(axis=1)], [(37, 600), (3000, 5)],
              lambda s: RNG.random(s) < 0.9)


def test_three_d_middle_and_leading_axes() -> None:
    x = T.ftensor3("x")
    outs = [x.sum(axis=1), x.sum(axis=0), x.sum(axis=(0, 1)), x.max(axis=(0, 2)), x.mean(axis=1, keepdims=True)]
    with config.change_flags(threads=4):
        check([x], outs, [(4, 70, 300), (2, 3, 5)])


def test_three_d_trailing_axis_of_fortran_order_inputs() -> None:
    """Reductions over the last axis whose first output dim is the inputs' unit-stride one (a
    Fortran-order input): the column form over the first output dim, argmax and NaNs included."""
    x = T.ftensor3("x")
    outs = [x.sum(axis=2), x.max(axis=2), x.argmax(axis=2), x.mean(axis=2, keepdims=True), x.min(axis=(1, 2))]

    def with_nans(shape: tuple[int, ...]) -> np.ndarray:
        a = RNG.uniform(-2, 2, shape).astype(np.float32)
        a[RNG.random(shape) < 0.01] = np.nan
        return np.asfortranarray(a)
    with config.change_flags(threads=4):
        check([x], outs, [(300, 7, 40), (70, 3, 5), (1, 1, 1)], make=with_nans)


def ties_and_specials(shape: tuple[int, ...]) -> np.ndarray:
    """Small integers as float32 (many ties) with NaNs; rows of -inf only, +inf only, all NaN and one NaN last."""
    a = RNG.integers(-3, 4, shape).astype(np.float32)
    a[RNG.random(shape) < 0.002] = np.nan
    for row, fill in zip(range(shape[0] if shape[1] else 0), (-np.inf, np.inf, np.nan)):
        a[row] = fill
    if shape[0] > 3 and shape[1]:
        a[3] = np.where(np.isnan(a[3]), 0, a[3])
        a[3, -1] = np.nan
    return a


def test_argmax_argmin_over_the_unit_stride_axis_and_all_elements() -> None:
    """The chunked two-pass form of an innermost argmax/argmin loop (best value, then its first index per
    block): first occurrence on ties, the first NaN, -inf-only rows, rows longer than a search block and
    than a chunk, every layout."""
    x, v = T.fmatrix("x"), T.fvector("v")
    outs = [T.argmax(x, axis=1), T.argmin(x, axis=1), T.argmax(x), T.argmin(x, axis=0, keepdims=True)]
    with config.change_flags(threads=4):
        check([x], outs, [(7, 600), (6, 1), (300, 257), (5, 4500)], ties_and_specials)
        check([v], [T.argmax(v), T.argmin(v)], [(5000,), (1,)],
              lambda s: ties_and_specials((1, *s))[0] if RNG.random() < 0.5 else ties_and_specials((4, *s))[3])
        check([x], [T.argmax(x, axis=1)], [(0, 5)], ties_and_specials)


def test_argmax_argmin_of_integers_and_bools() -> None:
    i, c = T.imatrix("i"), T.tensor("bool", (None, None), name="c")
    with config.change_flags(threads=4):
        check([i], [T.argmax(i, axis=1), T.argmin(i, axis=1), T.argmax(i)], [(9, 700), (4, 3)],
              lambda s: RNG.integers(-2**31, 2**31, s).astype(np.int32) // 2**28)
        check([c], [T.argmax(c, axis=1), T.argmin(c, axis=1), T.argmin(c)], [(9, 700), (4, 3)],
              lambda s: RNG.random(s) < 0.995)


def test_a_copied_argument_that_is_only_read_is_the_argument_when_laid_out_so() -> None:
    """A full argmax of a matrix reduces a reshape of it, a copy of the argument: the C host uses the
    argument itself when its strides are already the copy's (C order), else copies; a copy that a kernel
    then writes (set_subtensor before a sum) is always made, and the caller's array stays as it was."""
    x = T.fmatrix("x")
    f = tensorir.function([x], [T.argmax(x)], target="c")
    assert "buf = (float*)x;" in f.source()
    with config.change_flags(threads=4):
        check([x], [T.argmax(x), T.argmin(x)], [(37, 600), (1, 9)], ties_and_specials)
        g = tensorir.function([x], [T.sum(T.set_subtensor(x[0], 5.0))], target="c")
        assert "(float*)x;" not in g.source()
        a = RNG.uniform(-2, 2, (6, 7)).astype(np.float32)
        before = a.copy()
        np.testing.assert_allclose(g(a), np.concatenate([np.full(7, 5.0), a[1:].ravel()]).sum(), rtol=1e-5)
        np.testing.assert_array_equal(a, before)


def test_sibling_reductions_in_one_nest_take_the_column_form() -> None:
    """Several reduction nests in one parallel loop (fused siblings), with elementwise steps between and after
    them and a nest that uses an earlier one's result: one column-form pass per group of independent nests."""
    x = T.fmatrix("x")
    siblings = [x.sum(axis=0), x.mean(axis=0), x.max(axis=0), T.argmin(x, axis=0), x.min(axis=0) * 2 + x.sum(axis=0)]
    dependent = [T.sum(T.exp(x - x.max(axis=0)), axis=0), x.prod(axis=0, keepdims=True)]
    for outs in (siblings, dependent):
        assert "acc_1[" in tensorir.function([x], outs, target="c").source()  # two accumulator rows
    with config.change_flags(threads=4):
        check([x], siblings, SHAPES_2D[:4])
        check([x], dependent, SHAPES_2D[:4])
        check([x], [x.sum(axis=0), x.mean(axis=0)], SHAPES_2D[4:])


def test_softmax_family_over_axis_0() -> None:
    """Softmax, log_softmax and logsumexp over the strided axis, with infinite columns (the max is replaced
    by 0 where it is infinite: a float select, rendered as tir_math.h's bitwise select so the exp loop
    vectorizes), in every layout."""
    x = T.fmatrix("x")
    outs = [T.softmax(x, axis=0), T.log_softmax(x, axis=0), T.logsumexp(x, axis=0)]
    assert "tir__self(" in tensorir.function([x], outs[:1], target="c").source()

    def with_infinities(shape: tuple[int, ...]) -> np.ndarray:
        a = RNG.uniform(-3, 3, shape).astype(np.float32)
        if shape[1] > 2:
            a[:, 0], a[0, 1], a[-1, 2] = -np.inf, np.inf, -np.inf
        return a
    with config.change_flags(threads=4):
        check([x], outs, [(37, 600), (3000, 5), (1, 9)], with_infinities)
