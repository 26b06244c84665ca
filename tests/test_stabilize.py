"""The `stabilize` pass (passes/stabilize.py) through `tensorir.function`: its golden text is
tests/ir/stabilize.tir; here, the rewritten functions compute what the unrewritten ones compute (the
reference interpreter running the IR as built is the oracle), and the stable forms stay finite, with
finite gradients, where the unstable ones overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.runtime.interpreter import run

TARGETS = ["c", "interp"]
DTYPES = ["float32", "float64"]
# Ops none of which may survive stabilize in the functions below (all of them are in unstable forms).
UNSTABLE = ("tensor.log ", "tensor.sqrt", "tensor.sigmoid", "tensor.exp ", "tensor.softmax", "tensor.sum",
            "tensor.binary_crossentropy")


def _unstable_forms(x: Any, z: Any, t: Any, m: Any) -> list[Any]:
    """Every rewrite of the pass, each as a user writes it."""
    sig = T.nnet.sigmoid(x)
    return [
        T.log(1 + x), T.log(x + 1), T.exp(x) - 1, T.log(sig), T.log(1 - sig), T.log(1 + T.exp(x)),
        T.sqrt(x ** 2), T.sqrt(x * x), T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t),
        T.log(T.nnet.softmax(m)), T.log(T.nnet.softmax(m, axis=0)), T.log(T.sum(T.exp(m), axis=1)),
        T.log(T.exp(m).sum(axis=0, keepdims=True)),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_rewritten_functions_equal_the_unrewritten_ones(dtype: str) -> None:
    """On moderate inputs, the C target and the interpreter (both after stabilize) agree with the
    interpreter running the function as built (before any pass), output by output."""
    x, z, t = T.vector("x", dtype=dtype), T.vector("z", dtype=dtype), T.vector("t", dtype=dtype)
    m = T.matrix("m", dtype=dtype)
    outs = _unstable_forms(x, z, t, m)
    rng = np.random.default_rng(1)
    args = [rng.uniform(-0.9, 3.0, 7), rng.uniform(-4.0, 4.0, 5), rng.uniform(0.0, 1.0, 5),
            rng.uniform(-3.0, 3.0, (3, 4))]
    args = [a.astype(dtype) for a in args]
    tol = {"float32": 3e-6, "float64": 1e-13}[dtype]
    for target in TARGETS:
        f = tensorir.function([x, z, t, m], outs, target=target)
        stable = f.ir("stabilize")
        assert not [op for op in UNSTABLE if op in stable], stable  # every rewrite fired
        want = run(parse(f.ir("tensor")), "main", *args)
        got = f(*args)
        for k, (w, g) in enumerate(zip(want, got)):
            assert g.dtype == w.dtype and g.shape == w.shape, (target, k)
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{target}: output {k}")


# (cost of a vector v, value of v, the cost there, its gradient there): each cost overflows as written.
EXTREMES: list[tuple[Callable[[Any], Any], list[float], float, list[float]]] = [
    # log(sigmoid(-1000)) = -1000; d/dx = 1 - sigmoid(x) = 1.
    (lambda v: T.sum(T.log(T.nnet.sigmoid(v))), [-1000.0], -1000.0, [1.0]),
    # log(1 - sigmoid(1000)) = -1000; d/dx = -sigmoid(x) = -1.
    (lambda v: T.sum(T.log(1 - T.nnet.sigmoid(v))), [1000.0], -1000.0, [-1.0]),
    # log(1 + exp(1000)) = 1000; d/dx = sigmoid(x) = 1.
    (lambda v: T.sum(T.log(1 + T.exp(v))), [1000.0], 1000.0, [1.0]),
    # log(sum(exp([1e4, 1e4]))) = 1e4 + log 2; d/dx = softmax(x) = [1/2, 1/2].
    (lambda v: T.log(T.sum(T.exp(v))), [1e4, 1e4], 1e4 + math.log(2.0), [0.5, 0.5]),
    # log(softmax([1000, 0]))[1] = -1000; d/dx = onehot(1) - softmax(x) = [-1, 1].
    (lambda v: T.log(T.nnet.softmax(v))[1], [1000.0, 0.0], -1000.0, [-1.0, 1.0]),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_stable_at_extreme_inputs(target: str, dtype: str) -> None:
    """The default pipeline keeps what overflows in the written form finite, gradients included."""
    vs = [T.vector(f"v{k}", dtype=dtype) for k in range(len(EXTREMES))]
    costs = [cost(v) for v, (cost, *_) in zip(vs, EXTREMES)]
    f = tensorir.function(vs, costs + [tensorir.grad(c, v) for c, v in zip(costs, vs)], target=target)
    results = f(*[np.array(value, dtype=dtype) for _, value, _, _ in EXTREMES])
    for k, (_, _, want, want_grad) in enumerate(EXTREMES):
        out, grad = results[k], results[len(EXTREMES) + k]
        np.testing.assert_allclose(out, want, rtol={"float32": 1e-6, "float64": 1e-12}[dtype], err_msg=str(k))
        assert np.all(np.isfinite(grad)), (k, grad)
        # A gradient such as exp(x - logsumexp(x)) takes the rounding of the result (1e4's ulp in float32, 1e-3)
        # into an exponent: relative error up to that ulp.
        np.testing.assert_allclose(grad, want_grad, rtol={"float32": 1e-3, "float64": 1e-9}[dtype], atol=1e-30,
                                   err_msg=str(k))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_large_logits(target: str, dtype: str) -> None:
    m = T.matrix("m", dtype=dtype)
    f = tensorir.function([m], T.nnet.softmax(m), target=target)
    np.testing.assert_array_equal(f(np.array([[1000.0, 0.0]], dtype=dtype)), [[1.0, 0.0]])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_crossentropy_of_a_saturated_sigmoid(target: str, dtype: str) -> None:
    """bce(sigmoid(z), t) at z = +-100 is finite (|z| where the prediction is wrong, ~0 where right), and
    its gradient wrt z is the analytic sigmoid(z) - t."""
    z, t = T.vector("z", dtype=dtype), T.vector("t", dtype=dtype)
    zs = np.array([100.0, -100.0, 100.0, -100.0], dtype=dtype)
    ts = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    losses = T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t)
    cost = T.sum(losses)
    f = tensorir.function([z, t], [losses, cost, tensorir.grad(cost, z)], target=target)
    elementwise, total, grad = f(zs, ts)
    np.testing.assert_allclose(elementwise, [100.0, 100.0, 0.0, 0.0], atol=1e-30)
    assert np.isfinite(total) and total == pytest.approx(200.0)
    sigmoid = 1.0 / (1.0 + np.exp(-zs.astype(np.float64)))
    np.testing.assert_allclose(grad, sigmoid - ts, rtol=1e-6, atol=1e-30)


def test_a_grad_wrt_a_bypassed_value_keeps_the_written_form() -> None:
    """A grad whose wrt is the sigmoid inside log(sigmoid(x)): the rewrite would leave the cost independent of
    it, so it does not fire, and the gradient is d log(s)/ds = 1/s."""
    x = T.dvector("x")
    s = T.nnet.sigmoid(x)
    cost = T.sum(T.log(s))
    f = tensorir.function([x], tensorir.grad(cost, s), target="interp")
    assert "tensor.log " in f.ir("stabilize")
    xs = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(f(xs), 1.0 + np.exp(-xs), rtol=1e-12)
