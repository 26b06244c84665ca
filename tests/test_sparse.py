"""tensorir.sparse: csr/csc matrices against scipy.sparse, on the interpreter and the C target (issue 11 item 4).

The compiled functions are few and shared by the tests (each compile costs a C compiler run)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import tensorir
from tensorir import sparse
from tensorir import tensor as T
from tensorir.dialects import sparse as SP
from tensorir.frontend import parser
from tensorir.gradient import verify_grad
from tensorir.ir.core import TirError
from tensorir.ir.dialect import DIALECTS
from tensorir.passes import run_pipeline
from tensorir.runtime.interpreter import Interpreter

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def random_csr(m: int, n: int, dtype: Any, seed: int, density: float = 0.1) -> sp.csr_matrix:
    """A random csr matrix (values in [-2, 2], none zero) whose rows 0 and m // 2 are empty."""
    a = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=np.float64)
    a.data = (a.data * 4 - 2) + np.sign(a.data - 0.5) * 0.1
    a = a.tolil()
    a[0, :] = 0
    a[m // 2, :] = 0
    return sp.csr_matrix(a, dtype=dtype)


def dense(v: Any) -> np.ndarray:
    return v.toarray() if sp.issparse(v) else np.asarray(v)


def close(got: Any, want: Any, dtype: Any) -> None:
    assert sp.issparse(got) == sp.issparse(want), (type(got), type(want))
    if sp.issparse(want):
        assert got.format == want.format and got.shape == want.shape and got.dtype == want.dtype
    g, w = dense(got), dense(want)
    assert g.shape == w.shape and g.dtype == np.dtype(dtype)
    np.testing.assert_allclose(g, w, rtol=TOL[dtype], atol=TOL[dtype])


# ---------------------------------------------------------------- forward ops against scipy


def program(dtype: Any) -> tuple[list[Any], list[Any]]:
    """Inputs (a csr x and a csc y of one shape (m, n), dense w (n, k), u (k, m) and v (n,)) and the outputs
    of every sparse operation."""
    name = np.dtype(dtype).name
    x, y = sparse.csr_matrix("x", name), sparse.csc_matrix("y", name)
    w, u, v = T.matrix("w", dtype=name), T.matrix("u", dtype=name), T.vector("v", dtype=name)
    uw = T.dot(u.T, w.T)  # dense (m, n)
    outputs = [
        sparse.dot(x, w), sparse.structured_dot(x, v), sparse.dot(y, w), x @ w, sparse.dot(u, y), u @ x,
        sparse.sum(x), sparse.sum(x, axis=0), sparse.sum(x, axis=1), sparse.sum(y, 0), sparse.sum(y, -1),
        sparse.dense_from_sparse(x), y.toarray(), x.T, y.T, sparse.asformat(x, "csc"), sparse.asformat(y, "csr"),
        sparse.sqrt(abs(x)), -x, sparse.sin(y), x * 2.5, 3.0 * y, x / 4.0, sparse.map(lambda d: T.exp(d) - 1.0, x),
        x * sparse.dense_from_sparse(x.T.T), y * uw,  # sparse * dense keeps the sparse pattern
        sparse.csr_from_dense(sparse.dense_from_sparse(x)), sparse.csc_from_dense(uw * (u.T[:, :1] > 0)),
    ]
    return [x, y, w, u, v], outputs


def expected(a: sp.csr_matrix, w: np.ndarray, u: np.ndarray, v: np.ndarray) -> list[Any]:
    c = a.tocsc()
    uw = u.T @ w.T
    return [a @ w, a @ v, c @ w, a @ w, u @ c, u @ a,
            np.asarray(a.sum(), a.dtype), np.asarray(a.sum(0)).ravel(), np.asarray(a.sum(1)).ravel(),
            np.asarray(c.sum(0)).ravel(), np.asarray(c.sum(1)).ravel(),
            a.toarray(), c.toarray(), a.T.tocsc(), c.T.tocsr(), a.tocsc(), c.tocsr(),
            np.sqrt(abs(a)), -a, c.sin(), a * 2.5, c * 3.0, (a / 4.0).astype(a.dtype), a.expm1(),
            a.multiply(a.toarray()).tocsr(), c.multiply(uw).tocsc(), a.copy(), sp.csc_matrix(uw * (u.T[:, :1] > 0))]


@cache
def compiled(dtype: Any, target: str) -> tensorir.Function:
    inputs, outputs = program(dtype)
    return tensorir.function(inputs, outputs, target=target).wait()


def cases(dtype: Any) -> list[tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]]:
    """Random matrices of density 0.1 with empty rows, one with a single column, one with no stored value."""
    rng = np.random.default_rng(7)
    out = []
    matrices = (random_csr(40, 30, dtype, 1), random_csr(9, 1, dtype, 2, density=0.5),
                sp.csr_matrix((6, 4), dtype=dtype))
    for a in matrices:
        (m, n), k = a.shape, 3
        out.append((a, *(rng.standard_normal(s).astype(dtype) for s in ((n, k), (k, m), (n,)))))
    return out


@pytest.mark.parametrize("target", ["interp", "c"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_equals_scipy(dtype: Any, target: str) -> None:
    f = compiled(dtype, target)
    assert f.compiled == (target == "c")
    for a, w, u, v in cases(dtype):
        for k, (got, want) in enumerate(zip(f(a, a.tocsc(), w, u, v), expected(a, w, u, v), strict=True)):
            try:
                close(got, want, dtype)
            except AssertionError as e:
                raise AssertionError(f"output #{k} for a {a.shape} matrix with {a.nnz} values: {e}") from None


def test_round_trips() -> None:
    a = random_csr(12, 7, np.float64, 3)
    x = sparse.csr_matrix("x", "float64")
    d = T.dmatrix("d")
    outputs = [sparse.csr_from_dense(sparse.todense(x)), x.T.T, sparse.asformat(sparse.asformat(x, "csc"), "csr"),
               sparse.dense_from_sparse(sparse.csc_from_dense(d)), sparse.csm_properties(x)[3]]
    f = tensorir.function([x, d], outputs, target="interp")
    back, tt, conv, dd, shape = f(a, a.toarray())
    for m in (back, tt, conv):  # the same arrays, not only the same matrix
        assert m.format == "csr" and np.array_equal(m.indptr, a.indptr) and np.array_equal(m.indices, a.indices)
        assert np.array_equal(m.data, a.data)
    assert np.array_equal(dd, a.toarray()) and list(shape) == [12, 7]


# ---------------------------------------------------------------- gradients


def test_gradient_wrt_a_sparse_input_has_its_pattern() -> None:
    a = random_csr(15, 8, np.float64, 4)
    w = np.random.default_rng(0).standard_normal((8, 3))
    x, d = sparse.csr_matrix("x", "float64"), T.dmatrix("d")
    cost = T.sum(T.tanh(sparse.dot(x, d))) + sparse.sum(sparse.sqr(x))
    gx, gd = tensorir.function([x, d], tensorir.grad(cost, [x, d]), target="c").wait()(a, w)
    g = 1 - np.tanh(a @ w) ** 2
    assert isinstance(gx, sp.csr_matrix)
    assert np.array_equal(gx.indptr, a.indptr) and np.array_equal(gx.indices, a.indices)
    np.testing.assert_allclose(gx.toarray(), (g @ w.T) * (a.toarray() != 0) + 2 * a.toarray(), rtol=1e-12)
    np.testing.assert_allclose(gd, a.T @ g, rtol=1e-12)


@pytest.mark.parametrize("target", ["interp", "c"])
def test_verify_grad_wrt_the_dense_operand_and_the_stored_values(target: str) -> None:
    a = random_csr(10, 6, np.float64, 5, density=0.3)
    c = a.tocsc()
    rng = np.random.default_rng(1)
    w, u = rng.standard_normal((6, 2)), rng.standard_normal((2, 10))

    def fn(data: Any, cdata: Any, wv: Any, uv: Any) -> Any:
        x = sparse.CSR(data, a.indices, a.indptr, a.shape)  # the stored values are the differentiated input
        y = sparse.CSC(cdata, c.indices, c.indptr, c.shape)
        left = sparse.dot(uv, sparse.sin(y) * 2.0)  # dense x csc, through a map
        right = sparse.dot(x * sparse.dense_from_sparse(y), wv)  # sparse * dense, csr x dense
        return T.dot(left, wv) + T.dot(uv, right) + T.sum(sparse.sum(sparse.asformat(x, "csc"), axis=0) ** 2)

    verify_grad(fn, [a.data, c.data, w, u], n_tests=1, target=target)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("target", ["interp", "c"])
def test_bad_patterns_and_shapes_are_run_time_errors(target: str) -> None:
    f = compiled(np.float64, target)
    a = random_csr(8, 5, np.float64, 6, density=0.4)
    rng = np.random.default_rng(2)
    w, u, v = rng.standard_normal((5, 3)), rng.standard_normal((3, 8)), rng.standard_normal(5)
    bad = a.copy()
    bad.indices[3] = 5  # scipy's constructor does not check the indices' range
    with pytest.raises(TirError, match=r"'(sparse|lib)\.csr_\w+' op .*an index is out of range \[0, 5\)"):
        f(bad, a.tocsc(), w, u, v)
    with pytest.raises(TirError, match="contraction dims 5 and 4 do not match"):
        f(a, a.tocsc(), w[:4], u, v[:4])


def test_sparse_arguments_are_checked() -> None:
    f = compiled(np.float32, "interp")
    a = random_csr(8, 5, np.float32, 6)
    rng = np.random.default_rng(2)
    w, u, v = (rng.standard_normal(s).astype(np.float32) for s in ((5, 3), (3, 8), (5,)))
    with pytest.raises(TypeError, match=r"expects a scipy.sparse csr matrix of float32, got ndarray"):
        f(a.toarray(), a.tocsc(), w, u, v)
    with pytest.raises(TypeError, match=r"expects a sparse matrix of float32, got float64"):
        f(a.astype(np.float64), a.tocsc(), w, u, v)
    results = f(sp.coo_matrix(a), sp.lil_matrix(a), w, u, v)  # any format converts to the declared one
    close(results[0], a @ w, np.float32)


def test_dense_ops_refuse_sparse_matrices() -> None:
    x = sparse.csr_matrix("x", "float64")
    with pytest.raises(TirError, match=r"'tensor.exp' op does not take sparse matrices"):
        tensorir.function([x], T.exp(x), target="interp")
    with pytest.raises(TirError, match="the sum of a sparse matrix and another value is not supported"):
        x + 1.0
    with pytest.raises(TirError, match="sparse.dot takes one sparse and one dense operand"):
        sparse.dot(x, x)


# ---------------------------------------------------------------- the dialect's levels


TEXT = """
func.func @f(%s: tensor<?x?xf64, #csr>, %c: tensor<?x?xf64, #csc>, %d: tensor<?x?xf64>) -> (tensor<?x?xf64>,
    tensor<?x?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<f64>, tensor<?x?xf64, #csc>, tensor<?x?xf64, #csr>,
    tensor<?x?xf64, #csc>, tensor<?x?xf64, #csr>) {
  %y = sparse.dot %s, %d : tensor<?x?xf64>
  %z = sparse.dot %d, %c : tensor<?x?xf64>
  %dt = tensor.transpose %d : tensor<?x?xf64>
  %v = sparse.sample %s, %dt : tensor<?xf64>
  %r = sparse.sum %c {axis = 1} : tensor<?xf64>
  %t = sparse.sum %s : tensor<f64>
  %tr = sparse.transpose %s : tensor<?x?xf64, #csc>
  %cv = sparse.convert %c {format = "csr"} : tensor<?x?xf64, #csr>
  %dd = sparse.to_dense %cv : tensor<?x?xf64>
  %fd = sparse.from_dense %dd {format = "csc"} : tensor<?x?xf64, #csc>
  %data, %i, %p, %m, %n = sparse.parts %s : tensor<?xf64>, tensor<?xi64>, tensor<?xi64>, tensor<i64>, tensor<i64>
  %e = tensor.exp %data : tensor<?xf64>
  %a = sparse.assemble %e, %i, %p, %m, %n {format = "csr"} : tensor<?x?xf64, #csr>
  func.return %y, %z, %v, %r, %t, %tr, %cv, %fd, %a : tensor<?x?xf64>, tensor<?x?xf64>, tensor<?xf64>,
      tensor<?xf64>, tensor<f64>, tensor<?x?xf64, #csc>, tensor<?x?xf64, #csr>, tensor<?x?xf64, #csc>,
      tensor<?x?xf64, #csr>
}
"""


def test_each_level_runs_on_the_interpreter() -> None:
    """The ops on encoded tensors (scipy.sparse values), their lowering (the kernels' numpy rules) and the
    bufferized form (the lib.csr_* calls) give scipy's results."""
    from tensorir.frontend.sparse_args import join, split

    a = random_csr(7, 5, np.float64, 8, density=0.4)
    c = random_csr(7, 5, np.float64, 9, density=0.4).tocsc()
    d = np.random.default_rng(3).standard_normal((5, 7))
    want = [a @ d, d @ c, d.T[a.nonzero()],  # sample: d.T at a's stored positions, in a's order
            np.asarray(c.sum(1)).ravel(), np.asarray(a.sum()), a.T.tocsc(), c.tocsr(), c.copy(),
            sp.csr_matrix((np.exp(a.data), a.indices, a.indptr), a.shape)]
    module = parser.parse(TEXT)
    types = list(module.functions[0].function_type.results)
    direct = Interpreter(module).call("f", [a, c, d])
    args = [*split(a, types[6], "s", None), *split(c, types[5], "c", None), d]
    for spec in ("sparse-lower", "canonicalize,cse,decompose,bufferize"):
        run_pipeline(module, spec)
        lowered = join(Interpreter(module).call("f", args), types)
        for x, y, w in zip(direct, lowered, want, strict=True):
            close(x, w, np.float64)
            close(y, w, np.float64)
    assert any(op.name == "lib.csr_mm" for op in module.walk())


def test_every_sparse_op_is_tested() -> None:
    """Each op of the dialect (and its lib forms) runs in a test above and has a verifier error in
    tests/ir/invalid.tir (the lib forms in tests/test_lower_dialects.py)."""
    ops = {cls.name for cls in DIALECTS["sparse"].ops}
    assert {op.name for op in parser.parse(TEXT).walk()} | {c.name for c in SP.KernelOp.__subclasses__()} >= ops
    invalid = (Path(__file__).parent / "ir" / "invalid.tir").read_text()
    assert ops - set(re.findall(r"'(sparse\.\w+)' op", invalid)) == set()
    for cls in [*DIALECTS["sparse"].ops, *SP.LibKernelOp.__subclasses__()]:
        assert cls.__doc__ and cls.name in cls.__doc__, f"{cls.name}: the docstring shows the printed op"
