"""Every tensor op runs on the C target and equals the reference interpreter.

Ops are grouped into a few multi-output functions (one C compile per group,
compiles are the slow part); each group runs on several input sets through the
SAME compiled function: ordinary shapes, dims that are 1 at run time
(broadcasting), empty dims, and non-contiguous inputs (transposed, strided,
reversed). A coverage test checks that every tensor op of the dialect appears
in some group's IR.
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.ir.core import OP_REGISTRY, TirError

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

RNG = np.random.default_rng(3)
SEEN_OPS: set[str] = set()


def strided(a: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous layout (every other element of a bigger array)."""
    big = np.zeros(tuple(2 * s for s in a.shape) or (), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def transposed(a: np.ndarray) -> np.ndarray:
    """The same values stored transposed (Fortran order)."""
    return np.asfortranarray(a)


def check_group(inputs: list[Any], outputs: list[Any], cases: list[list[np.ndarray]]) -> None:
    f_c = tensorir.function(inputs, outputs, target="c")
    f_i = tensorir.function(inputs, outputs, target="interp")
    SEEN_OPS.update(op.name for op in f_i.module.walk())
    SEEN_OPS.update(line.split("= ", 1)[1].split(" ", 1)[0] for line in f_c.ir("tensor").splitlines()
                    if "= tensor." in line)
    for case in cases:
        want = f_i(*case)
        for layout in (lambda a: a, strided, transposed):
            args = [layout(a) if isinstance(a, np.ndarray) and a.ndim else a for a in case]
            got = f_c(*args)
            for k, (w, g) in enumerate(zip(want, got)):
                where = f"output #{k} ({outputs[k]}) for shapes {[np.shape(a) for a in case]}"
                assert g.dtype == w.dtype and g.shape == w.shape, f"{where}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
                if w.dtype.kind == "f":
                    tol = 2e-3 if w.dtype == np.float16 else 1e-5 if w.dtype == np.float32 else 1e-12
                    np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=where)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=where)


def f32(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def test_float_elementwise() -> None:
    x, y, p = T.fmatrix("x"), T.fvector("y"), T.fmatrix("p")  # p in (0.1, 0.9): inside every domain
    outs = [-x, abs(x), T.sgn(x), T.exp(x), T.exp2(x), T.expm1(x), T.log(p), T.log2(p), T.log10(p), T.log1p(p),
            T.sqrt(p), T.rsqrt(p), T.sqr(x), T.sin(x), T.cos(x), T.tan(x), T.tanh(x), T.sinh(x), T.cosh(x),
            T.arcsin(p), T.arccos(p), T.arctan(x), T.nnet.sigmoid(x), T.nnet.softplus(x), T.erf(x), T.erfc(x),
            T.floor(x), T.ceil(x), T.round(x), T.nnet.relu(x),
            x + y, x - y, x * y, x / y, x // y, x % y, p ** y, T.arctan2(x, y), T.maximum(x, y), T.minimum(x, y),
            T.eq(x, y), T.neq(x, y), T.lt(x, y), T.le(x, y), T.gt(x, y), T.ge(x, y),
            T.clip(x, -0.5, y), T.switch(T.gt(x, y), x, y), T.cast(x, "float64"), T.cast(x * 3, "int32"),
            T.nnet.binary_crossentropy(p, T.gt(x, 0).astype("float32"))]
    cases = [[f32(3, 4), f32(4), f32(3, 4, lo=0.1, hi=0.9)],
             [f32(1, 5), f32(5), f32(1, 5, lo=0.1, hi=0.9)],
             [f32(3, 1), f32(1), f32(3, 1, lo=0.1, hi=0.9)],
             [f32(0, 4), f32(4), f32(0, 4, lo=0.1, hi=0.9)]]
    check_group([x, y, p], outs, cases)


def test_special_values_and_f64() -> None:
    x = T.dvector("x")
    outs = [T.exp(x), T.log(x), T.log1p(x), T.sqrt(x), T.tanh(x), T.nnet.sigmoid(x), T.sin(x), x / 0.0,
            T.maximum(x, 0.0), T.floor(x), T.expm1(x), T.erf(x)]
    vals = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-310, 700.0, -750.0, 1e300, 3.5])
    check_group([x], outs, [[vals]])


def test_integer_and_bool_ops() -> None:
    a, b = T.imatrix("a"), T.ivector("b")
    m, n = T.bmatrix("m"), T.bvector("n")
    c, d = T.tensor("bool", (None, None), name="c"), T.tensor("bool", (None,), name="d")
    outs = [a + b, a - b, a * b, a // b, a % b, -a, abs(a), T.sgn(a), a & b, a | b, a ^ b, ~a,
            T.lt(a, b), T.eq(a, b), T.maximum(a, b), a ** 2, m + n, m * n, T.cast(a, "int8"), T.cast(a, "float32"),
            c & d, c | d, c ^ d, ~c, T.switch(c, a, b)]
    ints = lambda *s: RNG.integers(-9, 10, s).astype(np.int32)  # noqa: E731
    nz = lambda *s: RNG.choice(np.array([-3, -2, -1, 1, 2, 5], np.int32), s)  # noqa: E731
    i8 = lambda *s: RNG.integers(-100, 100, s).astype(np.int8)  # noqa: E731
    bools = lambda *s: RNG.random(s) < 0.5  # noqa: E731
    cases = [[ints(3, 4), nz(4), i8(3, 4), i8(4), bools(3, 4), bools(4)],
             [ints(1, 3), nz(3), i8(1, 3), i8(3), bools(1, 3), bools(3)],
             [ints(0, 2), nz(2), i8(0, 2), i8(2), bools(0, 2), bools(2)]]
    check_group([a, b, m, n, c, d], outs, cases)


def test_reductions() -> None:
    x, i, c = T.fmatrix("x"), T.lmatrix("i"), T.tensor("bool", (None, None), name="c")
    outs = [x.sum(), x.sum(axis=0), x.sum(axis=1, keepdims=True), x.prod(axis=1), x.max(axis=0), x.min(axis=1),
            x.mean(), x.mean(axis=0), x.var(axis=1), x.std(), T.argmax(x, axis=1), T.argmin(x, axis=0),
            T.argmax(x), i.sum(axis=0), i.max(), i.prod(axis=1), c.all(axis=1), c.any(axis=0), c.all(),
            T.nnet.softmax(x), T.nnet.log_softmax(x), T.logsumexp(x, axis=1), T.logsumexp(x, axis=0, keepdims=True)]
    ints = lambda *s: RNG.integers(-3, 4, s).astype(np.int64)  # noqa: E731
    cases = [[f32(3, 5), ints(3, 5), RNG.random((3, 5)) < 0.6],
             [f32(1, 4), ints(1, 4), RNG.random((1, 4)) < 0.6],
             [f32(6, 1), ints(6, 1), RNG.random((6, 1)) < 0.6]]
    check_group([x, i, c], outs, cases)


def test_empty_reductions() -> None:
    x = T.fmatrix("x")
    check_group([x], [x.sum(axis=0), x.sum(axis=1), x.prod(axis=0), x.any(axis=1)], [[f32(0, 3)], [f32(3, 0)]])


def test_crossentropy() -> None:
    p, t, idx = T.fmatrix("p"), T.fmatrix("t"), T.lvector("idx")
    outs = [T.nnet.categorical_crossentropy(p, t), T.nnet.categorical_crossentropy(p, idx)]
    probs = lambda r, k: (lambda e: (e / e.sum(1, keepdims=True)).astype(np.float32))(RNG.random((r, k)) + .1)  # noqa: E731
    cases = [[probs(4, 3), np.eye(3, dtype=np.float32)[[0, 2, 1, 1]], np.array([0, 2, 1, 1])],
             [probs(1, 5), np.eye(5, dtype=np.float32)[[4]], np.array([3])]]
    check_group([p, t, idx], outs, cases)


def test_linear_algebra() -> None:
    a, b, v, w = T.fmatrix("a"), T.fmatrix("b"), T.fvector("v"), T.fvector("w")
    d, e = T.dmatrix("d"), T.dmatrix("e")
    i, j = T.imatrix("i"), T.ivector("j")
    t3, u3 = T.ftensor3("t3"), T.ftensor3("u3")
    outs = [T.dot(a, b), T.dot(a, v), T.dot(w, a), T.dot(v, v), T.dot(d, e), T.dot(i, j), T.matmul(t3, u3),
            T.matmul(a, b), T.outer(v, w), a.T.dot(a)]
    cases = [[f32(3, 4), f32(4, 2), f32(4), f32(3), RNG.standard_normal((2, 3)), RNG.standard_normal((3, 5)),
              RNG.integers(-4, 5, (3, 2)).astype(np.int32), RNG.integers(-4, 5, 2).astype(np.int32),
              f32(2, 3, 4), f32(2, 4, 5)],
             [f32(1, 1), f32(1, 1), f32(1), f32(1), RNG.standard_normal((1, 1)), RNG.standard_normal((1, 2)),
              RNG.integers(-4, 5, (1, 1)).astype(np.int32), RNG.integers(-4, 5, 1).astype(np.int32),
              f32(1, 2, 3), f32(1, 3, 1)]]
    check_group([a, b, v, w, d, e, i, j, t3, u3], outs, cases)


def test_shape_and_indexing() -> None:
    x, y, z = T.fmatrix("x"), T.fvector("y"), T.ftensor3("z")
    k, idx = T.lscalar("k"), T.lvector("idx")
    outs = [x.reshape((-1,)), x.reshape((x.shape[1], x.shape[0])), x.dimshuffle(1, "x", 0), x.T,
            T.expand_dims(y, 0), T.squeeze(x[:1]), T.broadcast_to(y, (x.shape[0], y.shape[0])),
            T.flatten(z, 2), T.concatenate([x, x * 2], axis=0), T.concatenate([x, x], axis=1), T.stack([y, y * 3]),
            x.shape, z.shape[2], x[1:], x[::-1, ::2], x[:, 0], x[k], x[:k, k:], z[:, 1], x[idx], T.take(y, idx),
            x[:, idx], T.set_subtensor(x[1:, :2], 5.0), T.inc_subtensor(x[:, ::2], y[::2]),
            T.set_subtensor(y[idx], 7.0), T.inc_subtensor(y[idx], 1.0), T.swapaxes(z, 0, 2)]
    cases = [[f32(3, 4), f32(4), f32(2, 3, 4), 1, np.array([0, 2, 2, 1])],
             [f32(2, 4), f32(4), f32(1, 2, 4), 0, np.array([1, -1])]]
    check_group([x, y, z, k, idx], outs, cases)


def test_creation() -> None:
    n, m, v = T.lscalar("n"), T.lscalar("m"), T.fscalar("v")
    x = T.fmatrix("x")
    outs = [T.zeros((n, 3)), T.ones((2, n), dtype="int32"), T.alloc(v, n, m), T.full((n,), 2.5),
            T.arange(n), T.arange(1, n, 2, dtype="float32"), T.eye(n), T.eye(n, m, k=1), T.identity_like(x),
            T.zeros_like(x), T.ones_like(x), T.constant(np.arange(6.0).reshape(2, 3)) * v, x + T.constant([1.0, 2.0])]
    cases = [[4, 3, np.float32(1.5), f32(2, 2)], [0, 1, np.float32(-1.0), f32(3, 2)],
             [1, 0, np.float32(0.0), f32(0, 2)]]
    check_group([n, m, v, x], outs, cases)


def test_numpy_functions() -> None:
    # isnan/isinf/isfinite, cumsum/cumprod, sort/argsort and take_along_axis (sort's gradient);
    # tests/test_numpy_coverage.py checks them and the API compositions against numpy itself
    x, y = T.fmatrix("x"), T.dvector("y")
    outs = [T.isnan(x), T.isinf(x), T.isfinite(x) & (x > 0), T.cumsum(x, axis=0), T.cumprod(x, axis=1), T.sort(x),
            T.argsort(x, axis=0), T.cumsum(y), T.sort(y), tensorir.grad((T.sort(y) * T.arange(y.shape[0])).sum(), y)]
    big = f32(4, 5)
    big[1, 2], big[3, 0], big[0, 4] = np.nan, np.inf, -np.inf
    check_group([x, y], outs, [[big, RNG.permutation(7).astype(np.float64)], [f32(0, 3), np.zeros(0)],
                               [f32(1, 1), RNG.standard_normal(40)]])


def test_zero_d() -> None:
    a, b = T.dscalar("a"), T.dscalar("b")
    i = T.iscalar("i")
    outs = [a + b, a * b, T.exp(a), T.maximum(a, b), a > b, T.cast(a, "int64") + i, T.switch(a > b, a, b), a ** 2]
    check_group([a, b, i], outs, [[1.5, 2.5, 3], [-1.0, 0.0, -7]])


# Ops that only exist inside the pipeline (no user-level spelling) or have their own test files.
_INTERNAL = {"tensor.generic", "tensor.index", "tensor.gemm",  # tensor.gemm: tests/test_gemm.py
             "tensor.if", "tensor.yield", "tensor.scan",  # tests/test_ifelse.py, tests/test_scan.py
             "tensor.py_call", "tensor.extern_c"}  # library functions: tests/test_extern.py
_EXPANDED = {"tensor.grad", "tensor.stop_gradient"}  # autodiff removes both before anything compiles (test_grad*.py)
_LINALG = {"tensor.solve", "tensor.inv", "tensor.det", "tensor.slogdet", "tensor.cholesky", "tensor.eigh", "tensor.qr",
           "tensor.svd"}  # compiled for the C target in tests/test_linalg.py


def test_every_tensor_op_runs_on_the_c_target() -> None:
    if not SEEN_OPS:
        pytest.skip("run together with the group tests above")
    tensor_ops = {n for n in OP_REGISTRY if n.startswith("tensor.")} - _INTERNAL - _EXPANDED - _LINALG
    missing = tensor_ops - SEEN_OPS
    assert not missing, f"tensor ops never compiled for the C target: {sorted(missing)}"


def test_several_shapes_one_compile() -> None:
    from tensorir.runtime import cache

    x = T.fmatrix("x")
    f = tensorir.function([x], T.exp(x).sum(axis=1), target="c")
    before = cache.stats()["compiles"]
    for shape in [(2, 3), (7, 1), (0, 4), (100, 33)]:
        a = f32(*shape)
        np.testing.assert_allclose(f(a), np.exp(a).sum(axis=1), rtol=1e-5)
    assert cache.stats()["compiles"] == before



def test_float32_trig_is_exact_for_huge_arguments() -> None:
    """sin/cos run a fast kernel first (exact below 2^17) and rerun exactly when an argument is larger."""
    x = T.fvector("x")
    f = tensorir.function([x], [T.sin(x) * 2 + T.cos(x), T.sin(x)], target="c")
    assert "_fast(" in f.source()
    big = np.array([0.5, 1e5, 131071.9, 131072.0, 2e5, 1e30, -3e38, np.inf, -np.inf, np.nan, -0.0], np.float32)
    small = RNG.uniform(-100, 100, 1000).astype(np.float32)
    for a in (small, big, np.concatenate([small, big])):
        with np.errstate(invalid="ignore"):
            want = [np.sin(a) * np.float32(2) + np.cos(a), np.sin(a)]
        for w, g in zip(want, f(a)):
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6, equal_nan=True)
            assert np.array_equal(np.signbit(g[a == 0]), np.signbit(w[a == 0]))


def test_no_fast_twin_for_a_kernel_that_reads_what_it_writes() -> None:
    from tensorir.backends.cstyle import reads_what_it_writes
    from tensorir.frontend.parser import parse

    module = parse("""
kernel.func @k(%b: memref<?xf32>, %n: index) {
  loop.parallel %n ({
  ^bb0(%i: index):
    %v = mem.load %b indices %i : f32
    %s = scalar.sin %v : f32
    mem.store %s, %b indices %i : f32, memref<?xf32>, index
    loop.yield
  }) : index
  kernel.return
}""")
    (k,) = module.body.ops
    assert reads_what_it_writes(k)


def test_large_results_from_the_pool_are_fresh_and_independent() -> None:
    """Results of 1 MiB and more reuse pooled memory: each live result must still be its own array."""
    x = T.fvector("x")
    f = tensorir.function([x], [T.exp(x), x * 2], target="c")
    a = f32(600_000)
    live = [f(a) for _ in range(4)]
    for i, (e, d) in enumerate(live):
        assert e.flags.writeable and not np.shares_memory(e, d)
        assert all(not np.shares_memory(e, other) for other, _ in live[i + 1:])
    live[0][0][:] = 7.0  # writing one result changes no other
    del live[1:]
    again = f(a)  # reuses freed blocks
    np.testing.assert_allclose(again[0], np.exp(a), rtol=1e-6)
    np.testing.assert_array_equal(live[0][0], np.full_like(a, 7.0))


def test_integer_power_with_a_negative_exponent_is_refused_like_numpy() -> None:
    a, b = T.ivector("a"), T.ivector("b")
    base, good, bad = np.array([2, 3], np.int32), np.array([3, 2], np.int32), np.array([3, -2], np.int32)
    for target in ("c", "interp"):
        f = tensorir.function([a, b], a ** b, target=target)
        np.testing.assert_array_equal(f(base, good), base ** good)
        with pytest.raises(TirError, match=r"test_c_target.py:\d+: .*negative integer powers are not allowed"):
            f(base, bad)


def test_run_time_errors_show_the_values_and_the_users_line() -> None:
    x, y, m = T.dmatrix("x"), T.dvector("y"), T.dmatrix("m")
    f = tensorir.function([x, y], x + y, target="c")
    with pytest.raises(TirError, match=r"test_c_target.py:\d+: 'tensor.add' op operand shapes \(2, 3\) and \(4,\) do "
                                       r"not broadcast: dimension 1 has sizes 3 and 4"):
        f(np.ones((2, 3)), np.ones(4))
    g = tensorir.function([m, y], T.dot(m, y), target="c")
    with pytest.raises(TirError, match=r"test_c_target.py:\d+: contraction dims 3 and 4 do not match"):
        g(np.ones((2, 3)), np.ones(4))
    k = T.lscalar("k")
    h = tensorir.function([y, k], y[k], target="c")
    with pytest.raises(TirError, match=r"test_c_target.py:\d+: 'tensor.subtensor' op index 7 is out of bounds for "
                                       "axis 0 of size 3"):
        h(np.ones(3), 7)


def test_max_and_argmax_over_an_empty_axis_raise_like_numpy() -> None:
    x = T.fmatrix("x")
    for target in ("c", "interp"):
        f = tensorir.function([x], [x.max(axis=0), T.argmax(x, axis=1), x.sum(axis=0)], target=target)
        assert [r.shape for r in f(f32(2, 3))] == [(3,), (2,), (3,)]
        for shape in [(0, 3), (3, 0)]:
            with pytest.raises(TirError, match=r"test_c_target.py:\d+: .*(no identity|zero-size array)"):
                f(f32(*shape))


# ---------------------------------------------------------------- batched matmul through BLAS

BATCHED = """
func.func @f(%a: tensor<?x?x?xf32>, %b: tensor<?x?x?xf32>, %m: tensor<?x?xf32>, %v: tensor<?xf32>,
             %d: tensor<?x1x?x?xf64>, %e: tensor<?x?x?xf64>)
    -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>,
        tensor<?x?x?x?xf64>, tensor<?x?x?xf32>) {
  %ab = tensor.matmul %a, %b : tensor<?x?x?xf32>
  %dot = tensor.dot %a, %m : tensor<?x?x?xf32>
  %am = tensor.matmul %a, %m : tensor<?x?x?xf32>
  %ma = tensor.matmul %m, %a : tensor<?x?x?xf32>
  %av = tensor.matmul %a, %v : tensor<?x?xf32>
  %va = tensor.matmul %v, %a : tensor<?x?xf32>
  %de = tensor.matmul %d, %e : tensor<?x?x?x?xf64>
  func.return %ab, %am, %ma, %av, %va, %de, %dot : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>,
      tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?x?xf64>, tensor<?x?x?xf32>
}
"""


def _batched_inputs() -> list[list[np.ndarray]]:
    """(batch of a, of b, of d, of e, n): b's batch 1 broadcasts at run time, a batch of one, empty batches and
    an empty inner dim (the products are then zeros)."""
    out = []
    for ba, bb, bd, be, n in [(3, 3, 2, 3, 4), (3, 1, 1, 4, 4), (1, 1, 1, 1, 5), (0, 1, 2, 0, 4), (2, 2, 1, 2, 0)]:
        out.append([f32(ba, n, n), f32(bb, n, 3), f32(n, n), f32(n), RNG.standard_normal((bd, 1, 3, n)),
                    RNG.standard_normal((be, n, 2))])
    return out


def test_batched_matmul_is_blas_on_every_layout_and_thread_count() -> None:
    """One lib.gemm_batch per product (np.dot of a 3-d by a matrix too): one gemm of all rows (a shared B), a
    single cblas gemm_batch call (as many products as threads) or a loop of threaded gemms (fewer), on
    contiguous, strided (copied for BLAS) and Fortran-order (transposed) inputs."""
    from tensorir.frontend.parser import parse
    from tensorir.passes import run_pipeline
    from tensorir.runtime import c_module
    from tensorir.runtime.interpreter import Interpreter

    module = parse(BATCHED)
    run_pipeline(module, "cpu")
    source = module.attributes["c.source"]
    assert source.count("if (tir_gemm_batch_f32(") == 6 and source.count("if (tir_gemm_batch_f64(") == 1
    f = c_module.load(source, "f")
    try:
        for threads in (1, 3):  # 1: every batch of 2 or more in one call; 3: batches of 1 and 2 loop
            c_module.set_num_threads(threads)
            for case in _batched_inputs():
                want = Interpreter(parse(BATCHED)).call("f", case)
                for layout in (lambda a: a, strided, transposed):
                    got = f.run(*[layout(a) for a in case])
                    for k, (g, w) in enumerate(zip(got, want)):
                        where = f"result #{k}, threads {threads}, shapes {[a.shape for a in case]}"
                        assert (g.dtype, g.shape) == (w.dtype, w.shape), where
                        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=where)
    finally:
        c_module.set_num_threads(0)


def _batched_prefixes() -> list[str]:
    from test_reductions import _legal_pipelines
    return _legal_pipelines()


@pytest.mark.parametrize("spec", _batched_prefixes())
def test_batched_matmul_through_every_legal_pipeline_prefix(spec: str) -> None:
    from tensorir.frontend.parser import parse
    from tensorir.passes import run_pipeline
    from tensorir.runtime.interpreter import Interpreter

    module = parse(BATCHED)
    run_pipeline(module, spec)
    for case in _batched_inputs():
        want = Interpreter(parse(BATCHED)).call("f", case)
        got = Interpreter(module).call("f", [np.copy(a) for a in case])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"-p {spec}")
