"""The derivative API beyond `grad`: known_grads, stop_gradient, disconnected_inputs="warn", Lop, Rop,
jacobian and hessian, checked against closed forms and central finite differences (numpy, float64)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import tensorir
from tensorir import DisconnectedInputError, TirError
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.printer import print_module
from tensorir.passes import run_pipeline

R = np.random.default_rng(11)
TARGETS = ["interp", "c"]


def numeric_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, of shape f(x).shape + x.shape."""
    x = x.astype(np.float64)
    cols = []
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        cols.append((np.asarray(f(up)) - np.asarray(f(down))) / (2 * eps))
    out = np.stack(cols, axis=-1)
    return out.reshape(out.shape[:-1] + x.shape)


def _softmax_layer(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    z = np.tanh(w @ v)
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_and_hessian_closed_forms(target: str) -> None:
    x = T.tensor("float64", shape=(4,), name="x")
    xs = np.array([1.0, 2.0, -3.0, 0.5])
    j, h, h3 = tensorir.function([x], [T.jacobian(x ** 2, x), T.hessian(T.sum(x ** 2), x),
                                       tensorir.gradient.hessian(T.sum(x ** 3), [x])[0]], target=target)(xs)
    np.testing.assert_allclose(j, np.diag(2 * xs))  # the Jacobian of x**2 is diag(2x)
    np.testing.assert_allclose(h, 2 * np.eye(4))  # the Hessian of sum(x**2) is 2I
    np.testing.assert_allclose(h3, np.diag(6 * xs))


@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_a_layer_matches_finite_differences_for_each_wrt(target: str) -> None:
    w, v = T.tensor("float64", shape=(3, 2), name="w"), T.tensor("float64", shape=(2,), name="v")
    out = T.nnet.softmax(T.tanh(T.dot(w, v)))
    jw, jv = T.jacobian(out, [w, v])
    wv, vv = R.standard_normal((3, 2)), R.standard_normal(2)
    got_w, got_v = tensorir.function([w, v], [jw, jv], target=target)(wv, vv)
    assert got_w.shape == (3, 3, 2) and got_v.shape == (3, 2)
    np.testing.assert_allclose(got_w, numeric_jacobian(lambda a: _softmax_layer(a, vv), wv), atol=1e-8)
    np.testing.assert_allclose(got_v, numeric_jacobian(lambda a: _softmax_layer(wv, a), vv), atol=1e-8)


def test_hessian_matches_finite_differences_of_the_gradient() -> None:
    x = T.tensor("float64", shape=(3,), name="x")
    cost = T.sum(T.exp(x) * T.sin(x[::-1])) + T.prod(x)
    g, h = tensorir.function([x], [T.grad(cost, x), T.hessian(cost, x)], target="interp")(np.array([0.3, -0.7, 1.1]))
    grad_fn = tensorir.function([x], T.grad(cost, x), target="interp")
    np.testing.assert_allclose(h, numeric_jacobian(grad_fn, np.array([0.3, -0.7, 1.1])), atol=1e-7)
    np.testing.assert_allclose(h, h.T, atol=1e-12)


def test_jacobian_of_a_0d_expression_is_its_gradient_and_dynamic_shapes_are_refused() -> None:
    x = T.dvector("x")
    f = tensorir.function([x], T.jacobian(T.sum(T.sin(x)), x), target="interp")
    np.testing.assert_allclose(f(np.array([0.1, 0.2])), np.cos([0.1, 0.2]))
    with pytest.raises(TirError, match=r"jacobian: the expression is float64 tensor<\?xf64>; .* static shapes") as e:
        T.jacobian(x ** 2, x)
    assert e.value.loc is not None and e.value.loc.file.endswith("test_grad_api.py")


@pytest.mark.parametrize("target", TARGETS)
def test_rop_and_lop_are_the_jacobian_products(target: str) -> None:
    w, y, vw, u = T.dmatrix("W"), T.dvector("y"), T.dmatrix("V"), T.dvector("u")
    out = T.tanh(T.dot(w, y))
    rop, lop = T.Rop(out, w, vw), T.Lop(out, w, u)
    rop2 = tensorir.gradient.Rop([out, out * 2.0], [w, y], [vw, y])  # lists: one product per output
    f = tensorir.function([w, y, vw, u], [rop, lop, *rop2], target=target)
    wv, yv, vv, uv = R.standard_normal((3, 4)), R.standard_normal(4), R.standard_normal((3, 4)), R.standard_normal(3)
    got_r, got_l, got_r0, got_r1 = f(wv, yv, vv, uv)
    jw = numeric_jacobian(lambda a: np.tanh(a @ yv), wv)  # (3, 3, 4)
    jy = numeric_jacobian(lambda a: np.tanh(wv @ a), yv)  # (3, 4)
    np.testing.assert_allclose(got_r, np.einsum("oij,ij->o", jw, vv), atol=1e-8)
    np.testing.assert_allclose(got_l, np.einsum("o,oij->ij", uv, jw), atol=1e-8)
    np.testing.assert_allclose(got_r0, np.einsum("oij,ij->o", jw, vv) + jy @ yv, atol=1e-8)
    np.testing.assert_allclose(got_r1, 2 * got_r0, atol=1e-8)


@pytest.mark.parametrize("target", TARGETS)
def test_known_grads_seed_intermediate_values(target: str) -> None:
    x, seed = T.dvector("x"), T.dvector("seed")
    h = T.exp(x)
    alone = T.grad(None, x, known_grads={h: seed})  # d/dx of seed . exp(x)
    both = T.grad(T.sum(h), x, known_grads={h: seed})  # added to the cost's gradient
    xs, ss = np.array([0.2, -1.0, 0.5]), np.array([1.0, 2.0, -3.0])
    a, b = tensorir.function([x, seed], [alone, both], target=target)(xs, ss)
    np.testing.assert_allclose(a, ss * np.exp(xs))
    np.testing.assert_allclose(b, (ss + 1) * np.exp(xs))
    with pytest.raises(TirError, match="known gradient #0 has type tensor<2x3xf64>, its value tensor<\\?xf64>"):
        T.grad(None, x, known_grads={h: T.dmatrix("m").reshape((2, 3))})
    with pytest.raises(TirError, match="grad needs a cost, or known_grads when cost is None"):
        T.grad(None, x)


@pytest.mark.parametrize("target", TARGETS)
def test_stop_gradient_blocks_the_gradient_and_is_the_identity_when_run(target: str) -> None:
    x = T.dvector("x")
    held = T.stop_gradient(T.exp(x))
    f = tensorir.function([x], [held, T.grad(T.sum(held * x), x)], target=target)
    xs = np.array([0.1, -0.4, 2.0])
    value, g = f(xs)
    np.testing.assert_allclose(value, np.exp(xs))
    np.testing.assert_allclose(g, np.exp(xs))  # exp(x) held constant: d/dx = exp(x), not exp(x)(1 + x)
    assert "stop_gradient" in f.ir("tensor") and "stop_gradient" not in f.ir("autodiff")
    with pytest.raises(DisconnectedInputError, match="does not depend on input %x"):
        tensorir.function([x], T.grad(T.sum(T.stop_gradient(x) ** 2), x), target=target)


def test_disconnected_inputs_warn_gives_zeros_with_a_warning() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.warns(UserWarning, match=r"the cost does not depend on input %y .*; its gradient is zero"):
        f = tensorir.function([x, y], T.grad(T.sum(x * x), [x, y], disconnected_inputs="warn"), target="interp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gx, gy = f(np.array([1.0, 2.0]), np.array([5.0]))
    np.testing.assert_allclose(gx, [2.0, 4.0])
    np.testing.assert_array_equal(gy, [0.0])
    with pytest.raises(TirError, match=r"disconnected_inputs must be one of \['raise', 'warn', 'ignore'\]"):
        T.grad(T.sum(x), x, disconnected_inputs="loud")


KNOWN_TIR = """
func.func @f(%x: tensor<3xf64>, %s: tensor<3xf64>) -> tensor<3xf64> {
  %e = tensor.exp %x : tensor<3xf64>
  %h = tensor.stop_gradient %e : tensor<3xf64>
  %m = tensor.mul %h, %x : tensor<3xf64>
  %c = tensor.sum %m : tensor<f64>
  %g = tensor.grad %c wrt %x, %e, %s {known_grads = 1} : tensor<3xf64>
  func.return %g : tensor<3xf64>
}
"""


def test_known_grads_and_stop_gradient_in_tir_text() -> None:
    module = parse(KNOWN_TIR)
    assert print_module(parse(print_module(module))) == print_module(module)
    run_pipeline(module, "autodiff")
    assert "tensor.grad" not in print_module(module) and "stop_gradient" not in print_module(module)
    from tensorir.runtime.interpreter import run

    xs, ss = np.array([0.5, -1.0, 2.0]), np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(run(module, "f", xs, ss)[0], np.exp(xs) + ss * np.exp(xs))
