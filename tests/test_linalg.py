"""tensorir.linalg (dialects/linalg.py, lib's LAPACK ops, backends/c_runtime/tir_linalg.h) against numpy.linalg.

Each target compiles one function of every op (so the C target compiles once per dtype); eigenvectors,
singular vectors and Q are compared up to the sign of each column (LAPACK builds may pick either), through
products that do not depend on it. Gradients are checked by finite differences (verify_grad); the lib ops'
interpreter rules run on bufferized IR; run-time failures (singular, not positive definite, not square)
give the same error on every target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import linalg as LA
from tensorir import tensor as T
from tensorir.frontend import parser
from tensorir.gradient import verify_grad
from tensorir.passes import run_pipeline
from tensorir.runtime.interpreter import run

TARGETS = ("interp", "c")
TOL = {"float32": 2e-4, "float64": 1e-10}


def _inputs(dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Well-conditioned inputs: a (4 x 4, diagonally dominated), b, rhs (4 x 2), spd (symmetric positive
    definite, its upper triangle garbage: only the lower one may be read), tall (5 x 3)."""
    a = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    m = rng.standard_normal((4, 4))
    spd = np.tril(m @ m.T + 4 * np.eye(4)) + np.triu(rng.standard_normal((4, 4)), 1)
    values = {"a": a, "b": rng.standard_normal(4), "rhs": rng.standard_normal((4, 2)), "spd": spd,
              "tall": rng.standard_normal((5, 3))}
    return {k: v.astype(dtype) for k, v in values.items()}


def _symmetric(x: np.ndarray) -> np.ndarray:
    return np.tril(x) + np.tril(x, -1).T


def _signs(x: np.ndarray) -> np.ndarray:
    """x with each column's sign chosen so that its largest entry is positive."""
    idx = np.argmax(np.abs(x), axis=0)
    return x * np.sign(x[idx, np.arange(x.shape[1])])


@pytest.fixture(scope="module", params=["float64", "float32"])
def results(request: Any) -> tuple[str, dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
    """Every op of tensorir.linalg on every target, one compiled function per target."""
    dtype = request.param
    a, s, tall = T.matrix("a", dtype=dtype), T.matrix("spd", dtype=dtype), T.matrix("tall", dtype=dtype)
    b, rhs = T.vector("b", dtype=dtype), T.matrix("rhs", dtype=dtype)
    sign, logdet = LA.slogdet(a)
    w, v = LA.eigh(s)
    q, r = LA.qr(tall)
    u, sv, vt = LA.svd(tall, full_matrices=False)
    outs = [LA.solve(a, b), LA.solve(a, rhs), LA.inv(a), LA.det(a), sign, logdet, LA.cholesky(s), w, v, q, r,
            u, sv, vt, LA.svd(a, compute_uv=False), LA.trace(tall), LA.diag(tall, -1), LA.diag(b), LA.norm(a),
            LA.norm(a, 2), LA.norm(a, 1), LA.norm(b, np.inf), LA.lstsq(tall, tall[:, :2] + 1), LA.pinv(tall),
            LA.eigvalsh(s)]
    values = _inputs(dtype, np.random.default_rng(7))
    got = {}
    for target in TARGETS:
        f = tensorir.function([a, b, rhs, s, tall], outs, target=target)
        got[target] = [np.asarray(x) for x in f(values["a"], values["b"], values["rhs"], values["spd"], values["tall"])]
    return dtype, values, got


def test_ops_equal_numpy(results: Any) -> None:
    dtype, x, got = results
    a, b, rhs, spd, tall = (x[k].astype(np.float64) for k in ("a", "b", "rhs", "spd", "tall"))
    sym = _symmetric(spd)
    sign, logdet = np.linalg.slogdet(a)
    expected = [np.linalg.solve(a, b), np.linalg.solve(a, rhs), np.linalg.inv(a), np.linalg.det(a), sign, logdet,
                np.linalg.cholesky(sym), np.linalg.eigvalsh(sym), None, None, None, None,
                np.linalg.svd(tall, compute_uv=False), None, np.linalg.svd(a, compute_uv=False), np.trace(tall),
                np.diag(tall, -1), np.diag(b), np.linalg.norm(a), np.linalg.norm(a, 2), np.linalg.norm(a, 1),
                np.linalg.norm(b, np.inf), np.linalg.lstsq(tall, tall[:, :2] + 1, rcond=None)[0],
                np.linalg.pinv(tall), np.linalg.eigvalsh(sym)]
    tol = TOL[dtype]
    for target, res in got.items():
        assert all(r.dtype == np.dtype(dtype) for r in res), target
        for k, (r, e) in enumerate(zip(res, expected)):
            if e is not None:
                np.testing.assert_allclose(r, e, rtol=tol * 10, atol=tol * 10, err_msg=f"{target} output #{k}")
        w, v, q, r, u, sv, vt = res[7], res[8], res[9], res[10], res[11], res[12], res[13]
        np.testing.assert_allclose(v @ np.diag(w) @ v.T, sym, rtol=tol * 10, atol=tol * 100, err_msg=target)
        np.testing.assert_allclose(_signs(v), _signs(np.linalg.eigh(sym)[1]), atol=tol * 100, err_msg=target)
        np.testing.assert_allclose(q @ r, tall, atol=tol * 100, err_msg=target)
        np.testing.assert_allclose(q.T @ q, np.eye(3), atol=tol * 100, err_msg=target)
        assert np.allclose(np.tril(r, -1), 0), target
        np.testing.assert_allclose(u @ np.diag(sv) @ vt, tall, atol=tol * 100, err_msg=target)
        np.testing.assert_allclose(_signs(u), _signs(np.linalg.svd(tall, full_matrices=False)[0]), atol=tol * 100)


def test_targets_agree(results: Any) -> None:
    dtype, _, got = results
    for k, (i, c) in enumerate(zip(got["interp"], got["c"])):
        if k in (8, 9, 10, 11, 13):  # vectors: up to their signs (above)
            continue
        np.testing.assert_allclose(c, i, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10, err_msg=f"output #{k}")


def test_empty_and_strided_operands() -> None:
    a, b = T.dmatrix("a"), T.dvector("b")
    sign, logdet = LA.slogdet(a)
    outs = [LA.solve(a, b), LA.inv(a), LA.det(a), sign, logdet, LA.cholesky(a), LA.eigh(a)[0]]
    m = np.random.default_rng(3).standard_normal((6, 6))
    big = m @ m.T + 6 * np.eye(6)
    for target in TARGETS:
        f = tensorir.function([a, b], outs, target=target)
        empty = f(np.zeros((0, 0)), np.zeros(0))
        assert [x.shape for x in empty] == [(0,), (0, 0), (), (), (), (0, 0), (0,)]
        assert (float(empty[2]), float(empty[3]), float(empty[4])) == (1.0, 1.0, 0.0)
        # views: every other row and column, reversed (negative strides), transposed (Fortran order)
        for view in (big[::2, ::2], big[::-2, ::-2], np.asfortranarray(big[:3, :3]).T):
            rhs = np.arange(6.0)[::-2]
            res = f(view, rhs)
            dense = np.ascontiguousarray(view)
            for r, e in zip(res, [np.linalg.solve(dense, rhs), np.linalg.inv(dense), np.linalg.det(dense),
                                  *np.linalg.slogdet(dense), np.linalg.cholesky(dense), np.linalg.eigvalsh(dense)]):
                np.testing.assert_allclose(r, e, rtol=1e-10, err_msg=target)


@pytest.mark.parametrize("target", TARGETS)
def test_run_time_errors(target: str) -> None:
    a, b = T.dmatrix("a"), T.dvector("b")
    f = tensorir.function([a, b], [LA.solve(a, b)], target=target)
    g = tensorir.function([a], [LA.inv(a)], target=target)
    h = tensorir.function([a], [LA.cholesky(a)], target=target)
    with pytest.raises(ValueError, match=r"test_linalg.py:\d+: 'tensor.solve' op singular matrix"):
        f(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="'tensor.inv' op singular matrix"):
        g(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ValueError, match="'tensor.cholesky' op matrix is not positive definite"):
        h(np.diag([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="'tensor.inv' op expects a square matrix, got 2 x 3"):
        g(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"'tensor.solve' op rows of a \(3\) and b \(4\) differ"):
        f(np.eye(3), np.ones(4))
    assert float(tensorir.function([a], LA.det(a), target=target)(np.ones((3, 3)))) == 0.0
    sign, logdet = tensorir.function([a], list(LA.slogdet(a)), target=target)(np.ones((2, 2)))
    assert (float(sign), float(logdet)) == (0.0, -np.inf)


GRADS: dict[str, tuple[Any, list[str]]] = {
    "solve_vector": (lambda a, b: LA.solve(a, b), ["a", "b"]),
    "solve_matrix": (lambda a, b: LA.solve(a, b), ["a", "rhs"]),
    "inv_det_slogdet": (lambda a: LA.inv(a) * LA.det(a) + LA.slogdet(a)[1], ["a"]),
    "cholesky": (lambda s: LA.cholesky(s), ["spd"]),
    # eigenvectors up to their sign: v * v does not depend on it
    "eigh": (lambda s: LA.eigh(s)[1] * LA.eigh(s)[1] + LA.eigh(s)[0], ["spd"]),
    "eigvalsh": (lambda s: LA.eigvalsh(s), ["spd"]),
    "qr": (lambda x: T.concatenate([T.flatten(y) for y in LA.qr(x)]), ["tall"]),
    "svd_trace_norm": (lambda x: T.concatenate([LA.svd(x, compute_uv=False), T.stack([LA.trace(x), LA.norm(x)])]),
                       ["tall"]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients(name: str) -> None:
    fn, keys = GRADS[name]
    x = _inputs("float64", np.random.default_rng(11))
    x["spd"] = _symmetric(x["spd"])  # finite differences move the upper triangle too: it must not matter
    verify_grad(fn, [x[k] for k in keys], n_tests=1, target="c")


def test_gradient_reads_only_the_lower_triangle() -> None:
    # eigh and cholesky read a's lower triangle: the gradient of the upper one is 0
    s = T.dmatrix("s")
    gs = tensorir.function([s], [tensorir.grad(T.sum(LA.cholesky(s)) + T.sum(LA.eigh(s)[0] ** 2), s)])(
        _inputs("float64", np.random.default_rng(5))["spd"])
    assert np.all(np.triu(gs[0], 1) == 0) and np.any(np.tril(gs[0]) != 0)


def test_svd_gradient_through_vectors_is_refused() -> None:
    x = T.dmatrix("x")
    u, _, _ = LA.svd(x, full_matrices=False)
    with pytest.raises(tensorir.NotSupportedError, match="gradient through u and v"):
        tensorir.function([x], tensorir.grad(T.sum(u), x))


def test_inv_dot_becomes_solve() -> None:
    a, b = T.dmatrix("a"), T.dvector("b")
    f = tensorir.function([a, b], T.dot(LA.inv(a), b), target="c")
    text = f.ir("canonicalize")
    assert "tensor.solve" in text and "tensor.inv" not in text
    x = _inputs("float64", np.random.default_rng(2))
    np.testing.assert_allclose(f(x["a"], x["b"]), np.linalg.solve(x["a"], x["b"]), rtol=1e-12)


def test_api_checks_and_aliases() -> None:
    assert T.nlinalg is LA and T.slinalg is LA and tensorir.linalg is LA
    assert LA.matrix_inverse is LA.inv
    i = T.imatrix("i")
    assert LA.det(i).dtype == "float64"  # integers become float64, as in numpy.linalg
    assert LA.solve(T.fmatrix("a"), T.dvector("b")).dtype == "float64"
    with pytest.raises(tensorir.TirError, match=r"'tensor.inv' op operand #0 must be 2-d, got shape \(\?,\)"):
        LA.inv(T.dvector("v"))
    with pytest.raises(tensorir.TirError, match=r"'tensor.solve' op batch dim 0 of a \(2\) and operand #1 \(3\)"):
        LA.solve(T.tensor("float64", shape=(2, 4, 4)), T.tensor("float64", shape=(3, 4, 1)))
    with pytest.raises(tensorir.NotSupportedError, match="full_matrices=True"):
        LA.svd(T.dmatrix("m"))


def test_stacks_of_matrices() -> None:
    # leading batch dims, as numpy: every op on each matrix of a stack (strided too), and a gradient
    shape4 = (None,) * 4
    a, b, m = T.tensor("float64", shape=shape4, name="a"), T.tensor("float64", shape=shape4, name="b"), \
        T.tensor("float64", shape=(None,) * 3, name="m")
    sign, logdet = LA.slogdet(a)
    q, r = LA.qr(m)
    u, s, vt = LA.svd(m, full_matrices=False)
    outs = [LA.solve(a, b), LA.inv(a), LA.det(a), sign, logdet, LA.cholesky(a), LA.eigh(a)[0], T.matmul(q, r),
            T.matmul(u * T.expand_dims(s, 1), vt), LA.svd(m, compute_uv=False)]
    rng = np.random.default_rng(6)
    av = rng.standard_normal((2, 3, 4, 4))
    av = av @ av.transpose(0, 1, 3, 2) + 4 * np.eye(4)
    bv, mv = rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((3, 5, 3))[:, ::-1]
    want = [np.linalg.solve(av, bv), np.linalg.inv(av), np.linalg.det(av), *np.linalg.slogdet(av),
            np.linalg.cholesky(av), np.linalg.eigvalsh(av), mv, mv, np.linalg.svd(mv, compute_uv=False)]
    for target in TARGETS:
        got = tensorir.function([a, b, m], outs, target=target)(av, bv, mv)
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10, err_msg=f"{target} output #{k}")
    verify_grad(lambda x, y: LA.solve(x, y) + LA.inv(x)[..., :1] * T.shape_padright(LA.slogdet(x)[1], 2),
                [av[0], bv[0, :, :, :1]], n_tests=1, target="c")


LIB_IR = """
func.func @f(%a: tensor<?x?xf64>, %b: tensor<?xf64>, %m: tensor<?x?xf64>) -> (tensor<?xf64>, tensor<?x?xf64>,
    tensor<f64>, tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?xf64>, tensor<?x?xf64>, tensor<?x?xf64>,
    tensor<?x?xf64>, tensor<?xf64>, tensor<?xf64>) {
  %x = tensor.solve %a, %b
  %y = tensor.inv %a
  %d = tensor.det %a
  %s, %l = tensor.slogdet %a
  %c = tensor.cholesky %a
  %w, %v = tensor.eigh %a
  %q, %r = tensor.qr %m
  %sv = tensor.svd %m
  %u, %s2, %vt = tensor.svd %m {compute_uv = true}
  func.return %x, %y, %d, %s, %l, %c, %w, %v, %q, %r, %sv, %s2 : tensor<?xf64>, tensor<?x?xf64>, tensor<f64>,
    tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?xf64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<?x?xf64>,
    tensor<?xf64>, tensor<?xf64>
}
"""


def test_lib_ops_interpreted_on_buffers() -> None:
    # lib.solve ... lib.svd (bufferized IR) through the reference interpreter, against the tensor level's
    x = _inputs("float64", np.random.default_rng(4))
    a, tall = _symmetric(x["spd"]), x["tall"]
    before = parser.parse(LIB_IR, "lib.tir")
    tensor_level = run(before, "f", a, x["b"], tall)
    after = parser.parse(LIB_IR, "lib.tir")
    run_pipeline(after, "bufferize")
    text = str(after)
    assert all(f"lib.{r} " in text for r in ("solve", "inv", "det", "slogdet", "cholesky", "eigh", "qr", "svd"))
    buffers = run(after, "f", a, x["b"], tall)
    for k, (t, bf) in enumerate(zip(tensor_level, buffers)):
        np.testing.assert_array_equal(bf, t, err_msg=f"result #{k}")
    with pytest.raises(ValueError, match="'tensor.cholesky' op matrix is not positive definite"):
        run(after, "f", -np.eye(3), np.ones(3), tall)
