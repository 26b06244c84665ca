"""Theano's first tutorial programs ("Baby steps", "More examples"), run through tensorir."""

from __future__ import annotations

import numpy as np
import pytest
import tensorir
from tensorir import In, function
from tensorir import tensor as T


@pytest.fixture(autouse=True, params=["c", "interp"])
def target(request):
    """Every tutorial program runs on the default C target and on the reference interpreter."""
    with tensorir.config.change_flags(target=request.param):
        yield request.param


def test_adding_two_scalars() -> None:
    x = T.dscalar("x")
    y = T.dscalar("y")
    z = x + y
    f = function([x, y], z)
    assert f(2, 3) == 5.0
    assert np.allclose(f(16.3, 12.1), 28.4)
    assert f(1.5, 2.5) == 4.0
    out = f(1.5, 2.5)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64
    assert x.type == T.dscalar().type
    assert "tensor.add" in f.ir("tensor")


def test_adding_two_scalars_unnamed() -> None:
    a = T.dscalar()
    b = T.dscalar()
    f = tensorir.function([a, b], a + b)
    assert f(1.5, 2.5) == 4.0


def test_adding_two_matrices() -> None:
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    z = x + y
    f = function([x, y], z)
    out = f([[1, 2], [3, 4]], [[10, 20], [30, 40]])
    np.testing.assert_array_equal(out, np.array([[11.0, 22.0], [33.0, 44.0]]))
    a = np.array([[1, 2], [3, 4]], dtype=np.float64)
    b = np.array([[10, 20], [30, 40]], dtype=np.float64)
    np.testing.assert_array_equal(f(a, b), a + b)


def test_logistic_function() -> None:
    x = T.dmatrix("x")
    s = 1 / (1 + T.exp(-x))
    logistic = function([x], s)
    data = [[0, 1], [-1, -2]]
    expected = np.array([[0.5, 0.73105858], [0.26894142, 0.11920292]])
    np.testing.assert_allclose(logistic(data), expected, rtol=1e-7)

    s2 = (1 + T.tanh(x / 2)) / 2
    logistic2 = function([x], s2)
    np.testing.assert_allclose(logistic2(data), logistic(data), rtol=1e-12)

    rng = np.random.default_rng(0)
    m = rng.standard_normal((5, 7))
    np.testing.assert_allclose(logistic(m), 1 / (1 + np.exp(-m)), rtol=1e-12)
    np.testing.assert_allclose(function([x], T.nnet.sigmoid(x))(m), logistic(m), rtol=1e-12)


def test_computing_several_outputs() -> None:
    a, b = T.dmatrices("a", "b")
    diff = a - b
    abs_diff = abs(diff)
    diff_squared = diff**2
    f = function([a, b], [diff, abs_diff, diff_squared])
    outs = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    assert isinstance(outs, list) and len(outs) == 3
    np.testing.assert_array_equal(outs[0], [[1.0, 0.0], [-1.0, -2.0]])
    np.testing.assert_array_equal(outs[1], [[1.0, 0.0], [1.0, 2.0]])
    np.testing.assert_array_equal(outs[2], [[1.0, 0.0], [1.0, 4.0]])


def test_default_value_for_an_argument() -> None:
    x, y = T.dscalars("x", "y")
    z = x + y
    f = function([x, In(y, value=1)], z)
    assert f(33) == 34.0
    assert f(33, 2) == 35.0


def test_named_inputs_with_defaults() -> None:
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = function([x, In(y, value=1), In(w, value=2, name="w_by_name")], z)
    assert f(33) == 68.0
    assert f(33, 2) == 70.0
    assert f(33, 0, 1) == 33.0
    assert f(33, w_by_name=1) == 34.0
    assert f(33, w_by_name=1, y=0) == 33.0


def test_logistic_regression_shapes_float32() -> None:
    # A small float32 model: stays float32 end to end (Python floats are weak).
    x = T.fmatrix("x")
    w = T.fvector("w")
    b = T.fscalar("b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    pred = p > 0.5
    f = function([x, w, b], [p, pred])
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    wv = rng.standard_normal(3).astype(np.float32)
    pv, predv = f(xv, wv, 0.5)
    assert pv.dtype == np.float32 and predv.dtype == np.bool_
    np.testing.assert_allclose(pv, 1 / (1 + np.exp(-(xv @ wv + 0.5))), rtol=1e-5)
    np.testing.assert_array_equal(predv, pv > 0.5)
