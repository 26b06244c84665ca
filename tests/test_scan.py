"""`tensorir.scan` / `tensor.scan` (Theano's scan): the tutorial programs, taps, until and the gradient through
the loop (backpropagation through time) on the reference interpreter and the C target, against numpy loops
and finite differences; errors at the user's line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.core import NotSupportedError, TirError
from tensorir.runtime.interpreter import run

TARGETS = ["interp", "c"]


def numeric_grad(f: Callable[..., Any], values: list[np.ndarray], k: int, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(values[k])
    for idx in np.ndindex(values[k].shape):
        args = [v.copy() for v in values]
        args[k][idx] += eps
        hi = f(*args)
        args[k][idx] -= 2 * eps
        out[idx] = (hi - f(*args)) / (2 * eps)
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_tutorial_programs(target: str) -> None:
    """Theano's scan tutorial: A**k by repeated multiplication, a polynomial from its coefficients (a free
    variable and a sequence longer than the other), and a tanh loop over the rows of a matrix."""
    k, A = T.iscalar("k"), T.dvector("A")
    result, updates = tensorir.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A,
                                    n_steps=k)
    assert updates == {}
    power = tensorir.function([A, k], result[-1], target=target)
    np.testing.assert_allclose(power(np.arange(10.0), 2), np.arange(10.0) ** 2)
    np.testing.assert_allclose(power(np.array([1.5, -2.0]), 5), np.array([1.5, -2.0]) ** 5)

    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    components, _ = tensorir.scan(lambda c, power, free: c * (free ** power), outputs_info=None,
                                  sequences=[coefficients, T.arange(10000)], non_sequences=x)
    poly = tensorir.function([coefficients, x], components.sum(), target=target)
    assert poly(np.array([1.0, 0.0, 2.0]), 3.0) == pytest.approx(19.0)

    X, W, b = T.dmatrix("X"), T.dmatrix("W"), T.dvector("b")
    rows, _ = tensorir.scan(lambda v: T.tanh(T.dot(v, W) + b), sequences=X)
    f = tensorir.function([X, W, b], rows, target=target)
    rng = np.random.default_rng(0)
    xv, wv, bv = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    np.testing.assert_allclose(f(xv, wv, bv), np.tanh(xv @ wv + bv), rtol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_rnn_gradient_matches_finite_differences(target: str) -> None:
    """h_t = tanh(W h_(t-1) + U x_t): the loop against numpy, the gradient w.r.t. the sequence, both weights
    and the initial state (through the reverse scan) against central differences of the interpreter."""
    X, W, U, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("h0")
    hs, _ = tensorir.scan(lambda x, h: T.tanh(T.dot(W, h) + T.dot(U, x)), sequences=X, outputs_info=h0)
    cost = (hs ** 2).sum() + hs[-1].sum()
    f = tensorir.function([X, W, U, h0], [hs, cost, *tensorir.grad(cost, [X, W, U, h0])], target=target)
    rng = np.random.default_rng(1)
    vals = [rng.standard_normal((5, 3)), rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((4, 3)),
            rng.standard_normal(4)]
    out = f(*vals)
    h, ref = vals[3], []
    for t in range(5):
        h = np.tanh(vals[1] @ h + vals[2] @ vals[0][t])
        ref.append(h)
    np.testing.assert_allclose(out[0], np.array(ref), rtol=1e-12)
    cost_fn = tensorir.function([X, W, U, h0], cost, target="interp")
    for k in range(4):
        np.testing.assert_allclose(out[2 + k], numeric_grad(cost_fn, vals, k), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", TARGETS)
def test_taps_and_until(target: str) -> None:
    """A state reaching back two steps (dict(initial=, taps=[-2, -1])) with its gradient; a loop that stops
    when its condition holds (tensorir.until): the result has as many rows as steps ran."""
    a0, c = T.dvector("a0"), T.dscalar("c")
    seq, _ = tensorir.scan(lambda a2, a1, c: a1 + a2 * c, outputs_info=dict(initial=a0, taps=[-2, -1]),
                           non_sequences=c, n_steps=6)
    cost = (seq ** 2).sum()
    f = tensorir.function([a0, c], [seq, *tensorir.grad(cost, [a0, c])], target=target)
    v0, cv = np.array([1.0, 0.5]), np.array(0.9)
    ref = [1.0, 0.5]
    for _ in range(6):
        ref.append(ref[-1] + ref[-2] * 0.9)
    out = f(v0, cv)
    np.testing.assert_allclose(out[0], ref[2:], rtol=1e-12)
    cost_fn = tensorir.function([a0, c], cost, target="interp")
    for k in range(2):
        np.testing.assert_allclose(out[1 + k], numeric_grad(cost_fn, [v0, cv], k), rtol=1e-6)

    x, limit = T.dscalar("x"), T.dscalar("limit")
    doubled, _ = tensorir.scan(lambda p, limit: (p * 2, tensorir.until(p * 2 > limit)), outputs_info=x,
                               non_sequences=limit, n_steps=100)
    g = tensorir.function([x, limit], doubled, target=target)
    np.testing.assert_allclose(g(1.0, 40.0), [2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    np.testing.assert_allclose(g(100.0, 40.0), [200.0])


def test_reverse_and_multiple_outputs_on_c() -> None:
    """go_backwards, two outputs (a state and a per-step output without state) and a step that reads a
    matrix built outside the loop (computed once, passed in): C equals the interpreter equals numpy."""
    X, W = T.dmatrix("X"), T.dmatrix("W")
    Wt = W.T * 2.0
    (acc, dots), _ = tensorir.scan(lambda x, a: [a + x, T.dot(Wt, x)], sequences=X,
                                   outputs_info=[T.zeros_like(X[0]), None], go_backwards=True)
    rng = np.random.default_rng(2)
    xv, wv = rng.standard_normal((4, 3)), rng.standard_normal((3, 3))
    want_acc = np.cumsum(xv[::-1], axis=0)
    want_dots = xv[::-1] @ (2 * wv)
    for target in TARGETS:
        out = tensorir.function([X, W], [acc, dots], target=target)(xv, wv)
        np.testing.assert_allclose(out[0], want_acc, rtol=1e-12)
        np.testing.assert_allclose(out[1], want_dots, rtol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_too_few_rows_is_a_located_error(target: str) -> None:
    x, n = T.dvector("x"), T.iscalar("n")
    ys, _ = tensorir.scan(lambda v, p: p + v, sequences=x, outputs_info=T.constant(0.0), n_steps=n)
    f = tensorir.function([x, n], ys, target=target)
    np.testing.assert_allclose(f(np.arange(4.0), 3), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError, match=r"test_scan\.py:\d+: 'tensor.scan' op sequence #0 has 4 rows for 5 steps"):
        f(np.arange(4.0), 5)


def test_user_errors_name_the_line() -> None:
    x = T.dvector("x")
    with pytest.raises(TirError, match=r"test_scan\.py:\d+: scan: the step returns float32 .* for a state of "
                                       r"float64"):
        tensorir.scan(lambda p: T.cast(p, "float32"), outputs_info=x, n_steps=3)
    with pytest.raises(TirError, match=r"test_scan\.py:\d+: scan: the step returns 2 outputs but outputs_info "
                                       r"has 1 entries"):
        tensorir.scan(lambda p: [p, p], outputs_info=[x], n_steps=3)
    with pytest.raises(TirError, match=r"test_scan\.py:\d+: scan needs sequences or n_steps"):
        tensorir.scan(lambda p: p, outputs_info=x)
    with pytest.raises(NotSupportedError, match="truncate_gradient"):
        tensorir.scan(lambda p: p, outputs_info=x, n_steps=2, truncate_gradient=3)


TIR = """
func.func @f(%n: tensor<i64>, %x: tensor<?x3xf64>, %h0: tensor<2x3xf64>) -> (tensor<?x3xf64>, tensor<?x3xf64>) {
  %h, %y = tensor.scan %n, %x, %h0 {sequences = 1, taps = [[-2, -1]]} ({
    ^bb0(%xt: tensor<3xf64>, %a: tensor<3xf64>, %b: tensor<3xf64>):
      %s = tensor.add %a, %b : tensor<3xf64>
      %t = tensor.mul %s, %xt : tensor<3xf64>
      %e = tensor.exp %a : tensor<3xf64>
      tensor.yield %t, %e : tensor<3xf64>, tensor<3xf64>
  }) : tensor<?x3xf64>, tensor<?x3xf64>
  func.return %h, %y : tensor<?x3xf64>, tensor<?x3xf64>
}
"""


def test_tir_scan_on_every_stage_of_the_cpu_pipeline() -> None:
    """The op written in .tir text: the interpreter equals a numpy loop, and so does the IR after each pass of
    the cpu pipeline that the interpreter runs (the loop-level host_for included)."""
    from tensorir.passes import PIPELINES, run_pipeline

    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    hist, ys = [h0[0], h0[1]], []
    for t in range(4):
        ys.append(np.exp(hist[-2]))
        hist.append((hist[-2] + hist[-1]) * x[t])
    module = parse(TIR)
    for name in ["tensor", *(p for p in PIPELINES["cpu"] if p != "emit-c")]:
        if name != "tensor":
            run_pipeline(module, name)
        h, y = run(module, "f", np.int64(4), x, h0)
        np.testing.assert_allclose(h, hist[2:], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(y, ys, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("target", TARGETS)
def test_ifelse_inside_the_step_and_its_gradient(target: str) -> None:
    """A lazy ifelse in the step (its branches read the state from outside the if): the values and the
    gradient through both (which branch ran at each step) against numpy and central differences; a step that
    returns its state unchanged."""
    x, c = T.dvector("x"), T.dscalar("c")
    hs, _ = tensorir.scan(lambda h, c: tensorir.ifelse(h.sum() > c, h * 0.5, h * 3.0), outputs_info=x,
                          non_sequences=c, n_steps=5)
    same, _ = tensorir.scan(lambda h: h, outputs_info=x, n_steps=3)
    cost = (hs ** 2).sum()
    f = tensorir.function([x, c], [hs, same, tensorir.grad(cost, x)], target=target)
    xv = np.array([1.0, 2.0])
    h, want = xv, []
    for _ in range(5):
        h = h * 0.5 if h.sum() > 10.0 else h * 3.0
        want.append(h)
    out = f(xv, 10.0)
    np.testing.assert_allclose(out[0], want)
    np.testing.assert_allclose(out[1], [xv] * 3)
    cost_fn = tensorir.function([x, c], cost, target="interp")
    np.testing.assert_allclose(out[2], numeric_grad(lambda a, b: cost_fn(a, b), [xv, np.array(10.0)], 0),
                               rtol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_gradient_through_until_and_a_longer_sequence(target: str) -> None:
    """The gradient of a loop that stops early (until) and reads 4 of a sequence's 6 rows: the rows no step
    read get zeros; against central differences, for a loop that stops after 1 step and one that runs all 4."""
    x, lim, seq = T.dvector("x"), T.dscalar("lim"), T.dmatrix("seq")
    hs, _ = tensorir.scan(lambda s, h, lim: (T.tanh(h + s), tensorir.until(T.tanh(h + s).sum() > lim)),
                          sequences=seq, outputs_info=x, non_sequences=lim, n_steps=4)
    cost = (hs ** 2).sum()
    f = tensorir.function([x, seq, lim], [hs, *tensorir.grad(cost, [x, seq])], target=target)
    cost_fn = tensorir.function([x, seq, lim], cost, target="interp")
    xv, sv = np.array([0.1, 0.2]), np.random.default_rng(4).standard_normal((6, 2)) * 0.3
    for limit, steps in ((0.0, 1), (100.0, 4)):
        out = f(xv, sv, limit)
        assert out[0].shape == (steps, 2)
        for k in range(2):
            want = numeric_grad(lambda a, b, limit=limit: cost_fn(a, b, limit), [xv, sv], k)
            np.testing.assert_allclose(out[1 + k], want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("target", TARGETS)
def test_a_step_that_changes_the_state_shape_is_an_error(target: str) -> None:
    x = T.dvector("x")
    grown, _ = tensorir.scan(lambda p: T.concatenate([p, p]), outputs_info=x, n_steps=2)
    f = tensorir.function([x], grown, target=target)
    with pytest.raises(ValueError, match=r"test_scan\.py:\d+: 'tensor.scan' op state #0 has size 2 in dimension 0 "
                                         r"but the step yields size 4"):
        f(np.ones(2))


@pytest.mark.parametrize("target", TARGETS)
def test_sequence_taps(target: str) -> None:
    """Theano's `dict(input=x, taps=[-1, 0])`: the step reads x[t-1] and x[t], one step fewer than rows."""
    x = T.dvector("x")
    diffs, _ = tensorir.scan(lambda prev, cur: cur - prev, sequences=dict(input=x, taps=[-1, 0]))
    xv = np.array([1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(tensorir.function([x], diffs, target=target)(xv), np.diff(xv))
