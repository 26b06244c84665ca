"""Shared variables, updates and givens behave as in Theano's tutorial, on every target (frontend/shared.py)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import tensorir
from tensorir import TirError, TirTypeError
from tensorir import tensor as T

TARGETS = ["interp", pytest.param("c", marks=pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler for the C target"))]


@pytest.mark.parametrize("target", TARGETS)
def test_theano_tutorial_accumulator(target: str) -> None:
    state = tensorir.shared(0, name="state")
    inc = T.iscalar("inc")
    accumulator = tensorir.function([inc], state, updates=[(state, state + inc)], target=target)
    assert accumulator(1) == 0 and state.get_value() == 1
    assert accumulator(300) == 1 and state.get_value() == 301
    state.set_value(-1)
    assert accumulator(3) == -1 and state.get_value() == 2
    decrementor = tensorir.function([inc], state, updates=[(state, state - inc)], target=target)
    assert decrementor(2) == 2 and state.get_value() == 0
    # givens replace the shared variable: the function does not read or change it
    foo = T.scalar(dtype=state.dtype)
    skip_shared = tensorir.function([inc, foo], state * 2 + inc, givens=[(state, foo)], target=target)
    assert skip_shared(1, 3) == 7 and state.get_value() == 0


@pytest.mark.parametrize("target", TARGETS)
def test_updates_see_old_values_and_run_after_the_outputs(target: str) -> None:
    a = tensorir.shared(np.array([1.0, 2.0]), name="a")
    b = tensorir.shared(np.array([3.0, 4.0]), name="b")
    swap = tensorir.function([], a + b, updates={a: b, b: a}, target=target)
    np.testing.assert_array_equal(swap(), [4.0, 6.0])
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    none = tensorir.function([], [], updates=[(a, a * 2)], target=target)
    assert none() == [] and a.get_value().tolist() == [6.0, 8.0]


@pytest.mark.parametrize("target", TARGETS)
def test_sgd_on_shared_weights_matches_numpy(target: str) -> None:
    """Logistic regression by SGD with the gradient written out: the shared weights follow numpy's steps."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((50, 4))
    ys = (xs @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(np.float64)
    w = tensorir.shared(np.zeros(4), name="w")
    b = tensorir.shared(0.0, name="b")
    x, y = T.dmatrix("x"), T.dvector("y")
    p = 1 / (1 + T.exp(-(T.dot(x, w) + b)))
    err = p - y
    train = tensorir.function([x, y], T.mean(err ** 2), target=target,
                              updates=[(w, w - 0.5 * T.dot(x.T, err) / 50), (b, b - 0.5 * err.mean())])
    wn, bn = np.zeros(4), 0.0
    for _ in range(20):
        train(xs, ys)
        pn = 1 / (1 + np.exp(-(xs @ wn + bn)))
        wn, bn = wn - 0.5 * xs.T @ (pn - ys) / 50, bn - 0.5 * (pn - ys).mean()
    np.testing.assert_allclose(w.get_value(), wn, rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), bn, rtol=1e-12)


def test_get_and_set_value_copy_unless_borrowed() -> None:
    data = np.arange(3.0)
    s = tensorir.shared(data, name="s")
    data[0] = 100.0
    assert s.get_value()[0] == 0.0  # copied at creation
    s.get_value()[1] = 100.0
    assert s.get_value()[1] == 1.0  # get_value returns a copy
    assert s.get_value(borrow=True) is s.get_value(borrow=True)
    aliased = tensorir.shared(data, borrow=True)
    assert aliased.get_value(borrow=True) is data
    s.set_value([7, 8, 9, 10])  # numbers that fit; the shape may change, the rank may not
    assert s.get_value().tolist() == [7.0, 8.0, 9.0, 10.0] and s.get_value().dtype == np.float64
    with pytest.raises(TirTypeError, match="shared variable 's' expects a 1-d float64"):
        s.set_value(np.zeros((2, 2)))
    i = tensorir.shared(np.int32(1), name="i")
    with pytest.raises(TirTypeError, match="shared variable 'i' expects int32.*got float64"):
        i.set_value(np.float64(1.5))


@pytest.mark.parametrize("target", TARGETS)
def test_shape_changes_between_calls(target: str) -> None:
    s = tensorir.shared(np.ones(2), name="s")
    f = tensorir.function([], s.sum(), updates=[(s, T.concatenate([s, s]))], target=target)
    assert f() == 2.0 and f() == 4.0 and s.get_value().shape == (8,)


def test_bad_updates_and_inputs_are_clear_errors() -> None:
    s = tensorir.shared(np.zeros(3, np.float32), name="s")
    x = T.fvector("x")
    with pytest.raises(TirTypeError, match=r"update of shared variable 's' \(float32 .*\) has type float64"):
        tensorir.function([x], x, updates=[(s, s + T.dvector("d"))], on_unused_input="ignore")
    with pytest.raises(TirTypeError, match="must keep the variable's dtype and rank"):
        tensorir.function([x], x, updates=[(s, T.fmatrix("m"))], on_unused_input="ignore")
    with pytest.raises(TirError, match="two new values"):
        tensorir.function([x], x, updates=[(s, s + 1), (s, s * 2)])
    with pytest.raises(TirError, match="input #0 is a shared variable"):
        tensorir.function([s], s + 1)
    with pytest.raises(TirError, match="not a symbolic variable"):
        tensorir.shared(x)
    with pytest.raises(TirError, match=r"\(shared variable, new value\) pairs"):
        tensorir.function([x], x, updates=[s])


# ---------------------------------------------------------------- in-place updates (passes/tied.py)

C_ONLY = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                            reason="no C compiler for the C target")


def _numpy_sgd(xs: np.ndarray, ys: np.ndarray, w: np.ndarray, b: float, steps: int) -> tuple[np.ndarray, float]:
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        w, b = w - 0.5 * xs.T @ (p - ys) / len(ys) - 0.01 * w, b - 0.5 * (p - ys).mean()
    return w, b


def _sgd_step(w: tensorir.SharedVariable, b: tensorir.SharedVariable) -> tensorir.Function:
    x, y = T.dmatrix("x"), T.dvector("y")
    p = 1 / (1 + T.exp(-(T.dot(x, w) + b)))
    err = p - y
    return tensorir.function([x, y], T.mean(err ** 2), target="c",
                             updates=[(w, w - 0.5 * T.dot(x.T, err) / y.shape[0] - 0.01 * w),
                                      (b, b - 0.5 * err.mean())])


@C_ONLY
def test_sgd_step_updates_the_shared_storage_in_place() -> None:
    rng = np.random.default_rng(1)
    xs, ys = rng.standard_normal((40, 5)), (rng.random(40) < 0.5).astype(np.float64)
    w, b = tensorir.shared(np.zeros(5), name="w"), tensorir.shared(0.0, name="b")
    train = _sgd_step(w, b)
    assert "tir.tied = [-1, 3, 2]" in train.ir("bufferize").splitlines()[0]  # (cost, w, b) <- args (x, y, b, w)
    w0, b0 = w.get_value(borrow=True), b.get_value(borrow=True)
    address = w0.__array_interface__["data"][0]
    for _ in range(6):
        train(xs, ys)
    assert w.get_value(borrow=True) is w0 and b.get_value(borrow=True) is b0
    assert w0.__array_interface__["data"][0] == address
    wn, bn = _numpy_sgd(xs, ys, np.zeros(5), 0.0, 6)
    np.testing.assert_allclose(w0, wn, rtol=1e-12)
    np.testing.assert_allclose(b0, bn, rtol=1e-12)


def _mlp_step(w: tensorir.SharedVariable, b: tensorir.SharedVariable, x: T.TensorVariable,
              update: T.TensorVariable | None = None) -> tensorir.Function:
    """One SGD step of a tanh layer on squared error; W's update is `update` (default W - 0.1 * gW)."""
    y = T.dmatrix("y")
    h = T.tanh(T.dot(x, w) + b)
    gw, gb = tensorir.grad(((h - y) ** 2).mean(), [w, b])
    return tensorir.function([x, y], ((h - y) ** 2).mean(), target="c",
                             updates=[(w, w - 0.1 * gw if update is None else update), (b, b - 0.1 * gb)])


@C_ONLY
def test_the_gemm_update_of_a_weight_matrix_writes_it_in_place() -> None:
    """The gemm pass makes W - 0.1 * dot(x.T, g) a copy of W into the result, then lib.gemm adding into it
    (beta = 1): the tie holds, the step writes W's own array (the copy onto itself skipped), as numpy's SGD."""
    rng = np.random.default_rng(4)
    xs, ys, w_start = rng.standard_normal((20, 5)), rng.standard_normal((20, 3)), rng.standard_normal((5, 3))
    w, b = tensorir.shared(w_start.copy(), name="W"), tensorir.shared(np.zeros(3), name="b")
    train = _mlp_step(w, b, T.dmatrix("x"))
    ir = train.ir("bufferize")
    assert "tir.tied = [-1, 3, 2]" in ir.splitlines()[0]  # (cost, W, b) <- args (x, y, b, W)
    assert "alpha = -0.1, beta = 1.0, trans_a = true" in ir  # the update is the gemm
    w0 = w.get_value(borrow=True)
    address = w0.__array_interface__["data"][0]
    wn, bn = w_start, np.zeros(3)
    for _ in range(5):
        train(xs, ys)
        h = np.tanh(xs @ wn + bn)
        gz = 2 * (h - ys) / ys.size * (1 - h ** 2)
        wn, bn = wn - 0.1 * xs.T @ gz, bn - 0.1 * gz.sum(axis=0)
    assert w.get_value(borrow=True) is w0 and w0.__array_interface__["data"][0] == address
    np.testing.assert_allclose(w0, wn, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.get_value(), bn, rtol=1e-12, atol=1e-12)


@C_ONLY
def test_a_gemm_update_that_reads_its_matrix_again_is_not_in_place() -> None:
    """W - 0.1 * dot(W.T, g): the product reads W after the copy that would write W's storage; no tie, fresh
    arrays, the interpreter's values."""
    rng = np.random.default_rng(6)
    xs, ys, w_start = rng.standard_normal((20, 4)), rng.standard_normal((20, 4)), rng.standard_normal((4, 4))
    results = {}
    for target in ("interp", "c"):
        w, b = tensorir.shared(w_start.copy(), name="W"), tensorir.shared(np.zeros(4), name="b")
        x = T.dmatrix("x")
        step = _mlp_step(w, b, x, update=w - 0.1 * T.dot(w.T, T.dot(x.T, x)))
        if target == "c":
            assert "tir.tied = [-1, -1, 2]" in step.ir("bufferize").splitlines()[0]
            assert re.search(r"tensor.gemm %W, %\d+, %W \{alpha = -0.1, beta = 1.0, trans_a = true", step.ir("gemm"))
        w0 = w.get_value(borrow=True)
        costs = [step(xs, ys) for _ in range(3)]
        assert w.get_value(borrow=True) is not w0
        results[target] = (costs, w.get_value(), b.get_value())
    for got, want in zip(results["c"], results["interp"]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)


@C_ONLY
def test_in_place_updates_keep_swaps_and_cross_reads() -> None:
    a = tensorir.shared(np.array([1.0, 2.0]), name="a")
    b = tensorir.shared(np.array([3.0, 4.0]), name="b")
    swap = tensorir.function([], a + b, updates=[(a, b), (b, a)], target="c")
    an, bn = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for _ in range(3):
        np.testing.assert_array_equal(swap(), an + bn)
        an, bn = bn, an
        np.testing.assert_array_equal(a.get_value(), an)
        np.testing.assert_array_equal(b.get_value(), bn)
    # each update reads the other variable's old value, one after the other's update is computed
    cross = tensorir.function([], [], updates=[(a, a + b), (b, a * 2 - b)], target="c")
    for _ in range(3):
        cross()
        an, bn = an + bn, an * 2 - bn
        np.testing.assert_array_equal(a.get_value(), an)
        np.testing.assert_array_equal(b.get_value(), bn)


@C_ONLY
def test_borrowed_values_that_cannot_be_written_fall_back_to_fresh_arrays() -> None:
    w, b = tensorir.shared(np.zeros(5), name="w"), tensorir.shared(0.0, name="b")
    train = _sgd_step(w, b)
    rng = np.random.default_rng(2)
    xs, ys = rng.standard_normal((30, 5)), (rng.random(30) < 0.5).astype(np.float64)
    start = rng.standard_normal(5)
    wn, bn = _numpy_sgd(xs, ys, start, 0.0, 1)
    strided = np.repeat(start, 2)
    readonly = start.copy()
    readonly.setflags(write=False)
    for value, untouched in ((strided[::2], strided.copy()), (readonly, readonly.copy())):
        w.set_value(value, borrow=True)
        b.set_value(0.0)
        train(xs, ys)
        assert w.get_value(borrow=True) is not value
        np.testing.assert_allclose(w.get_value(), wn, rtol=1e-12)
        np.testing.assert_array_equal(strided if value.base is strided else value, untouched)
    # a writeable contiguous array given with borrow=True is the storage: the step writes into it (as Theano)
    mine = start.copy()
    w.set_value(mine, borrow=True)
    b.set_value(0.0)
    train(xs, ys)
    assert w.get_value(borrow=True) is mine
    np.testing.assert_allclose(mine, wn, rtol=1e-12)


@C_ONLY
def test_a_shared_value_also_passed_as_an_input_is_not_overwritten_while_read() -> None:
    s = tensorir.shared(np.arange(6.0), name="s")
    x = T.dvector("x")
    f = tensorir.function([x], [], updates=[(s, s * 2 + x[::-1])], target="c")
    for _ in range(3):
        current = s.get_value(borrow=True)
        expected = current * 2 + current[::-1]
        f(current)  # the same memory as the variable: writing it in place would change x[::-1] while read
        np.testing.assert_array_equal(s.get_value(), expected)


@C_ONLY
def test_refused_ties_stay_correct() -> None:
    """Updates that read their variable transposed or reversed, and an output that reads the old value after
    the update: no tie after bufferize, fresh arrays, the same values as the interpreter."""
    m0 = np.arange(9.0).reshape(3, 3)
    results = {}
    for target in ("interp", "c"):
        m = tensorir.shared(m0, name="m")
        v = tensorir.shared(np.arange(3.0), name="v")
        f = tensorir.function([], v, updates=[(m, m + m.T * 0.5), (v, v + v[::-1] * 0.5)], target=target)
        outs = [f() for _ in range(3)]
        results[target] = (outs, m.get_value(), v.get_value())
        if target == "c":
            assert "tir.tied" not in f.ir("bufferize").splitlines()[0]
    for got, want in zip(results["c"], results["interp"]):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@C_ONLY
def test_an_output_reading_another_row_is_not_fused_with_the_in_place_update() -> None:
    """`w - w[0]` reads row 0 in every row of its loop nest; fused with the update's nest (the same dims), row 0
    would already hold the new value (fuse-loops keeps a tied result's nest apart from its argument's readers)."""
    start = np.arange(12.0).reshape(3, 4)
    w = tensorir.shared(start, name="w")
    f = tensorir.function([], w - w[0], updates=[(w, w * 2.0)], target="c")
    assert "tir.tied = [-1, 0]" in f.ir("bufferize").splitlines()[0]
    np.testing.assert_array_equal(f(), start - start[0])
    np.testing.assert_array_equal(f(), 2 * (start - start[0]))
    np.testing.assert_array_equal(w.get_value(), 4 * start)


@C_ONLY
def test_the_same_array_passed_twice_is_read_not_written() -> None:
    """Intermediates written in place (bufferize reuses a dying buffer) never write an argument: the same array
    given as two inputs, or overlapping views of it, keeps its values and every output equals the interpreter's."""
    x, y = T.dmatrix("x"), T.dmatrix("y")
    outs = [T.exp(x * 2 + y) - y, (x - y.T * 3) * x, (x * y).sum(axis=0), x + 1]
    fs = {target: tensorir.function([x, y], outs, target=target) for target in ("interp", "c")}
    a = np.random.default_rng(5).standard_normal((4, 4))
    original = a.copy()
    for args in ((a, a), (a, a[::-1]), (a.T, a)):
        want = fs["interp"](*args)
        got = fs["c"](*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-14)
        np.testing.assert_array_equal(a, original)
        assert not any(np.shares_memory(g, a) for g in got)
