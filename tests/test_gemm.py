"""The gemm pass and tensor.gemm: products with their scalings and sums become one BLAS call.

The compiled code (the cpu pipeline, where `gemm` runs) equals the reference interpreter (no gemm pass) and
numpy on random inputs, in float32 and float64, with C-ordered, Fortran-ordered and strided inputs; the
pass did fire (the IR after it holds one tensor.gemm per product); gradients through the rewritten graph
and of tensor.gemm itself match finite differences. tests/ir/gemm.tir shows each rewrite as text.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.gradient import verify_grad
from tensorir.ir.core import TirError
from tensorir.runtime.interpreter import run
from test_c_reductions import layouts  # C order, Fortran order, sliced, reversed (negative strides)

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

RNG = np.random.default_rng(11)


def gemms(f: tensorir.function) -> int:  # type: ignore[valid-type]
    return f.ir("gemm").count("= tensor.gemm ")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forms_equal_interpreter_and_numpy(dtype: str) -> None:
    a, b, c, e, g, h, w = (T.tensor(dtype, shape=(None, None), name=n) for n in "abceghw")
    v, q, bias = (T.tensor(dtype, shape=(None,), name=n) for n in ("v", "q", "bias"))
    lr = T.tensor(dtype, shape=(), name="lr")
    ins = [a, b, c, e, g, h, w, v, q, bias, lr]
    # one product per form (cse would merge equal products, which the pass then leaves alone)
    outs = [T.dot(a.T, b.T) * 2.0 / 4.0,              # transposes and scalings: alpha
            T.dot(a.T, w) + bias,                     # a layer: the bias row is c
            c - T.dot(a.T, e) * 0.5,                  # C - alpha dot
            c - lr * T.dot(a.T, g),                   # the SGD update with a run-time learning rate
            3.0 * c + T.dot(a.T, h),                  # beta * C
            -T.dot(v, w),                             # vector x matrix: gemv of w transposed
            q - 0.1 * (0.02 * q + T.dot(a.T, v))]     # logistic regression's update: one gemv
    f_c = tensorir.function(ins, outs, target="c")
    f_i = tensorir.function(ins, outs, target="interp")
    assert gemms(f_c) == len(outs)
    assert "tensor.dot" not in f_c.ir("gemm")

    def arr(*shape: int) -> np.ndarray:
        return RNG.standard_normal(shape).astype(dtype)

    an, bn, cn, en, gn, hn, wn = arr(4, 3), arr(5, 4), arr(3, 5), arr(4, 5), arr(4, 5), arr(4, 5), arr(4, 5)
    vn, qn, biasn = arr(4), arr(3), arr(5)
    lrn = np.asarray(0.3, dtype)
    want = [an.T @ bn.T * 0.5, an.T @ wn + biasn, cn - 0.5 * (an.T @ en), cn - lrn * (an.T @ gn),
            3 * cn + an.T @ hn, -(vn @ wn), qn - 0.1 * (0.02 * qn + an.T @ vn)]
    ref = f_i(an, bn, cn, en, gn, hn, wn, vn, qn, biasn, lrn)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for layout in range(4):
        got = f_c(*(layouts(x)[layout] for x in (an, bn, cn, en, gn, hn, wn, vn, qn, biasn)), lrn)
        for k, (gk, rk, wk) in enumerate(zip(got, ref, want)):
            assert gk.dtype == np.dtype(dtype) and gk.shape == wk.shape, k
            np.testing.assert_allclose(gk, rk, rtol=tol, atol=tol, err_msg=f"output {k}, layout {layout}")
            np.testing.assert_allclose(gk, wk, rtol=tol, atol=tol, err_msg=f"output {k}, layout {layout}")
    # the same array as two operands (x.T @ x and an update of x by its own product)
    x = T.tensor(dtype, shape=(None, None), name="x")
    f = tensorir.function([x, lr], [T.dot(x.T, x) + x, x - lr * T.dot(x, x)], target="c")
    sq = arr(4, 4)
    got = f(sq, lrn)
    np.testing.assert_allclose(got[0], sq.T @ sq + sq, rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1], sq - lrn * (sq @ sq), rtol=tol, atol=tol)


def test_c_that_does_not_broadcast_is_a_run_time_error() -> None:
    """c broadcast into the product is checked at run time, with the interpreter's message."""
    text = """
func.func @f(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %c: tensor<?xf32>) -> tensor<?x?xf32> {
  %r = tensor.gemm %a, %b, %c {alpha = 1.0, beta = 1.0} : tensor<?x?xf32>
  func.return %r : tensor<?x?xf32>
}"""
    from tensorir.tools.tirc import _run_c

    a, b, c = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), np.ones(5, np.float32)
    with pytest.raises(TirError, match=r"'tensor.gemm' op c shape \(5,\) does not broadcast to \(2, 4\)") as e:
        _run_c(parse(text), "f", [a, b, c])
    with pytest.raises(ValueError) as want:
        run(parse(text), "f", a, b, c)
    assert str(want.value).split(": ", 1)[1] in str(e.value)


def test_a_copied_argument_added_into_is_not_the_argument() -> None:
    """tanh(c - lr * a.T @ g).sum(): the product is added into a temporary copy of the argument c (lib.gemm with a
    run-time scale after its output). emit-c makes a copy that is afterwards only read the argument itself; the
    gemm writes it, so it stays a copy: the caller's c is not written."""
    a, g, c = (T.dmatrix(n) for n in "agc")
    lr = T.dscalar("lr")
    f = tensorir.function([a, g, c, lr], T.tanh(c - lr * T.dot(a.T, g)).sum(), target="c")
    assert re.search(r"lib.gemm %a, %g, %\d+ scale", f.ir("bufferize"))
    an, gn, cn = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2)), RNG.standard_normal((3, 2))
    original = cn.copy()
    got = f(an, gn, cn, 0.5)
    np.testing.assert_array_equal(cn, original)
    np.testing.assert_allclose(got, np.tanh(original - 0.5 * an.T @ gn).sum(), rtol=1e-12)


def test_text_round_trip_and_interpreter() -> None:
    """tensor.gemm prints and parses back; the interpreter computes alpha * s * op(a) @ op(b) + beta * c."""
    text = """func.func @f(%a: tensor<3x4xf64>, %b: tensor<5x3xf64>, %c: tensor<5xf64>, %s: tensor<f64>)
    -> tensor<4x5xf64> {
  %r = tensor.gemm %a, %b, %c, %s {alpha = -2.0, beta = 0.5, trans_a = true, trans_b = true} : tensor<4x5xf64>
  func.return %r : tensor<4x5xf64>
}"""
    m = parse(text)
    assert str(parse(str(m))) == str(m) and "tensor.gemm %a, %b, %c, %s" in str(m)
    a, b, c = RNG.standard_normal((3, 4)), RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    got = run(m, "f", a, b, c, np.float64(0.3))
    np.testing.assert_allclose(got[0], -0.6 * a.T @ b.T + 0.5 * c, rtol=1e-12)


def test_mlp_layer_gradients_match_finite_differences() -> None:
    """The gradient of a tanh layer and a linear one, compiled with gemm (forward with the bias row in
    the gemm, backward products with trans flags), against finite differences."""
    def layer(x: T.Variable, w: T.Variable, b: T.Variable, w2: T.Variable) -> T.Variable:
        return T.dot(T.tanh(T.dot(x, w) + b), w2.T) * 0.5

    values = [RNG.standard_normal(s) for s in ((5, 4), (4, 3), (3,), (2, 3))]
    verify_grad(layer, values, target="c")


def test_gemm_gradient_matches_finite_differences() -> None:
    """tensor.gemm's own gradient rule (a .tir function differentiated through it) against finite differences
    of the interpreter."""
    text = """func.func @f(%a: tensor<3x4xf64>, %b: tensor<5x3xf64>, %c: tensor<5xf64>, %s: tensor<f64>,
                 %p: tensor<4x5xf64>) -> (tensor<f64>, tensor<3x4xf64>, tensor<5x3xf64>, tensor<5xf64>, tensor<f64>) {
  %r = tensor.gemm %a, %b, %c, %s {alpha = -2.0, beta = 0.5, trans_a = true, trans_b = true} : tensor<4x5xf64>
  %m = tensor.mul %r, %p : tensor<4x5xf64>
  %cost = tensor.sum %m : tensor<f64>
  %ga, %gb, %gc, %gs = tensor.grad %cost wrt %a, %b, %c, %s
      : tensor<3x4xf64>, tensor<5x3xf64>, tensor<5xf64>, tensor<f64>
  func.return %cost, %ga, %gb, %gc, %gs : tensor<f64>, tensor<3x4xf64>, tensor<5x3xf64>, tensor<5xf64>, tensor<f64>
}"""
    from tensorir.passes import run_pipeline

    m = parse(text)
    run_pipeline(m, "interp")
    args = [RNG.standard_normal((3, 4)), RNG.standard_normal((5, 3)), RNG.standard_normal(5), np.float64(0.3),
            RNG.standard_normal((4, 5))]
    cost, *grads = run(m, "f", *args)
    eps = 1e-6
    for k, gk in enumerate(grads):
        x = np.array(args[k], dtype=np.float64)
        fd = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            hi, lo = x.copy(), x.copy()
            hi[i] += eps
            lo[i] -= eps
            costs = [run(m, "f", *args[:k], y, *args[k + 1:])[0] for y in (hi, lo)]
            fd[i] = (costs[0] - costs[1]) / (2 * eps)
        np.testing.assert_allclose(gk, fd, rtol=1e-6, atol=1e-7, err_msg=f"gradient {k}")


def test_vector_update_is_as_accurate_as_the_unfused_one() -> None:
    """w - lr * X^T g as one gemv (beta = 1) errs no more than numpy's product and update in float32
    (OpenBLAS's gemv adds each row block's partial sum into y: rounded at w's magnitude, several times)."""
    x = T.tensor("float32", shape=(None, None), name="x")
    g, w = (T.tensor("float32", shape=(None,), name=n) for n in "gw")
    f = tensorir.function([x, g, w], w - 0.1 * T.dot(x.T, g), target="c")
    assert gemms(f) == 1
    xn = RNG.standard_normal((4000, 64)).astype(np.float32)
    gn = (RNG.standard_normal(4000) * 1e-3).astype(np.float32)
    wn = (RNG.standard_normal(64) * 0.03).astype(np.float32)
    exact = wn.astype(np.float64) - 0.1 * (xn.T.astype(np.float64) @ gn.astype(np.float64))
    unfused = np.abs((wn - np.float32(0.1) * (xn.T @ gn)) - exact).max()
    assert np.abs(f(xn, gn, wn) - exact).max() <= 2 * unfused + np.spacing(np.float32(0.03))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outer_product_updates(dtype: str) -> None:
    """C + outer(x, y) and C - lr * x[:, None] * y[None, :] are one gemm each (an inner dim of 1: BLAS ger's
    rank-1 update); an outer product that only feeds elementwise math stays elementwise (fused)."""
    a = T.tensor(dtype, shape=(None, None), name="a")
    x, y, z = (T.tensor(dtype, shape=(None,), name=n) for n in "xyz")
    lr = T.tensor(dtype, shape=(), name="lr")
    outs = [a + T.outer(x, y), a - lr * (z[:, None] * y[None, :]), T.exp(T.outer(y, z))]
    f = tensorir.function([a, x, y, z, lr], outs, target="c")
    assert gemms(f) == 2
    an, xn, yn, zn = (RNG.standard_normal(s).astype(dtype) for s in ((4, 5), 4, 5, 4))
    want = [an + np.outer(xn, yn), an - 0.3 * np.outer(zn, yn), np.exp(np.outer(yn, zn))]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for layout in range(4):
        got = f(layouts(an)[layout], layouts(xn)[layout], layouts(yn)[layout], layouts(zn)[layout],
                np.asarray(0.3, dtype))
        for k, (gk, wk) in enumerate(zip(got, want)):
            np.testing.assert_allclose(gk, wk, rtol=tol, atol=tol, err_msg=f"output {k}, layout {layout}")
