"""Library functions inside compiled functions: tensorir.as_op (tensor.py_call) and tensorir.extern_c.

The oracles are the wrapped functions themselves: numpy called directly, and the C functions built by
gcc here and called through ctypes (independent of the generated module and of the interpreter's own
ctypes path); gradients against finite differences.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.core import NotSupportedError, TirError
from tensorir.ir.printer import print_module
from tensorir.ir.verifier import verify
from tensorir.passes.pass_manager import run_pipeline

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------- as_op


def _eigvecs(a: np.ndarray) -> np.ndarray:
    return np.linalg.eigh(a)[1]


eigvecs = tensorir.as_op(itypes=[T.dmatrix], otypes=[T.dmatrix], infer_shape=lambda node, shapes: [shapes[0]],
                         name="test_extern.eigvecs")(_eigvecs)


def _eigvalsh_grad(inputs: list[tensorir.Variable], grads: list[tensorir.Variable]) -> list[tensorir.Variable]:
    # d(sum_i g_i w_i)/dA = V diag(g) V^T for a symmetric A = V diag(w) V^T
    v = eigvecs(inputs[0])
    return [T.dot(v * grads[0], v.T)]


@tensorir.as_op(itypes=[T.dmatrix], otypes=[T.dvector], infer_shape=lambda node, shapes: [shapes[0][:1]],
                grad=_eigvalsh_grad, name="test_extern.eigvalsh")
def eigvalsh(a: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(a)


@tensorir.as_op(itypes=[T.dvector, T.dscalar], otypes=[T.dvector], name="test_extern.top")
def top(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The int(k) largest values, largest first: an output whose size only the call knows."""
    return np.sort(x)[::-1][:int(k)]


@pytest.mark.parametrize("target", ["interp", "c"])
def test_as_op_between_compiled_ops(target: str) -> None:
    a, w = T.dmatrix("a"), T.dvector("w")
    s = (a + a.T) * 0.5
    vals = eigvalsh(T.exp(s))  # outputs preallocated: infer_shape gives their size
    k = T.cast(T.shape(w)[0] - 1, "float64")
    best = top(vals * w, k)  # outputs allocated by the callback
    f = tensorir.function([a, w], [T.tanh(vals) * 2, best.sum() + 1], target=target)
    x, wv = RNG.standard_normal((5, 5)), RNG.standard_normal(5)
    ev = np.linalg.eigvalsh(np.exp((x + x.T) * 0.5))
    got_vals, got_sum = f(x, wv)
    np.testing.assert_allclose(got_vals, np.tanh(ev) * 2, rtol=1e-12)
    np.testing.assert_allclose(got_sum, np.sort(ev * wv)[::-1][:4].sum() + 1, rtol=1e-12)
    if target == "c":
        final = f.ir("final")
        assert 'lib.py_call %' in final and 'fn = "test_extern.eigvalsh"' in final
        assert f.source().count("tir_py_call(ctx,") == 2
        # a call large enough that the host plan runs without the GIL (the callback takes it back)
        big = RNG.standard_normal(70_000)
        g = tensorir.function([w], top(T.sqrt(T.abs(w)), T.cast(T.shape(w)[0] // 2, "float64")) * 3, target="c")
        np.testing.assert_allclose(g(big), np.sort(np.sqrt(np.abs(big)))[::-1][:35_000] * 3)


@pytest.mark.parametrize("target", ["interp", "c"])
def test_as_op_grad_against_finite_differences(target: str) -> None:
    a, w = T.dmatrix("a"), T.dvector("w")
    cost = T.sum(eigvalsh((a + a.T) * 0.5) * w)
    f = tensorir.function([a, w], [cost, tensorir.grad(cost, a)], target=target)
    x, wv = RNG.standard_normal((4, 4)), RNG.standard_normal(4)
    c, g = f(x, wv)

    def ref(m: np.ndarray) -> float:
        return float(np.linalg.eigvalsh((m + m.T) * 0.5) @ wv)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        num[idx] = (ref(x + d) - ref(x - d)) / (2 * eps)
    np.testing.assert_allclose(c, ref(x), rtol=1e-12)
    np.testing.assert_allclose(g, num, atol=1e-7)


def test_as_op_without_grad_refuses_differentiation() -> None:
    x = T.dvector("x")
    cost = top(x, 2.0).sum()
    with pytest.raises(NotSupportedError, match=r'"test_extern.top" has no gradient \(pass grad= to tensorir.as_op\)'):
        tensorir.function([x], tensorir.grad(cost, x), target="interp")


_MISBEHAVE: dict[str, str] = {"mode": ""}


@tensorir.as_op(itypes=[T.dvector], otypes=[T.dvector], infer_shape=lambda node, shapes: [shapes[0]],
                name="test_extern.misbehave")
def misbehave(x: np.ndarray) -> np.ndarray:
    mode = _MISBEHAVE["mode"]
    if mode == "dtype":
        return x.astype(np.float32)
    if mode == "shape":
        return x[1:]
    if mode == "raise":
        raise KeyError("no such key")
    return x * 1.0


@pytest.mark.parametrize("target", ["interp", "c"])
def test_wrong_results_are_located_errors(target: str) -> None:
    x = T.dvector("x")
    f = tensorir.function([x], misbehave(x + 1) * 2, target=target)
    np.testing.assert_array_equal(f(np.ones(3)), np.full(3, 4.0))
    where = r"test_extern.py:\d+: '(tensor|lib).py_call' op"
    try:
        _MISBEHAVE["mode"] = "dtype"
        with pytest.raises(ValueError, match=where + r' "test_extern.misbehave" returned float32 as output #0, '
                           r"declared float64"):
            f(np.ones(3))
        _MISBEHAVE["mode"] = "shape"
        with pytest.raises(ValueError, match=where + r' "test_extern.misbehave" returned shape \(2,\) as output #0, '
                           r"expected \(3,\)"):
            f(np.ones(3))
        _MISBEHAVE["mode"] = "raise"
        with pytest.raises(KeyError if target == "interp" else ValueError, match="no such key"):
            f(np.ones(3))
    finally:
        _MISBEHAVE["mode"] = ""


def test_py_call_text_round_trip_and_bufferize() -> None:
    text = """func.func @f(%x: tensor<?x?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %0 = tensor.shape %x : tensor<2xi64>
  %1 = tensor.subtensor %0 {begin = [0], end = [none], step = [none], index_dims = [0]} : tensor<i64>
  %2 = tensor.py_call %x, %1 {fn = "test_extern.eigvalsh", shapes = [[?]]} : tensor<?xf64>
  %3 = tensor.constant {value = 3.0 : f64} : tensor<f64>
  %4 = tensor.py_call %2, %3 {fn = "test_extern.top"} : tensor<?xf64>
  func.return %2, %4 : tensor<?xf64>, tensor<?xf64>
}
"""
    m = parse(text, "t.tir")
    assert print_module(m) == text
    assert print_module(parse(print_module(m, generic=True))) == text
    run_pipeline(m, "bufferize")
    lowered = print_module(m)
    assert print_module(parse(lowered)) == lowered
    lines = [ln.strip() for ln in lowered.splitlines()]
    # infer_shape's size: the output is allocated, then the call writes it; otherwise the call allocates
    assert any(ln.startswith("lib.py_call %x, %") and ln.endswith(": memref<?x?xf64, strides=[?,?]>, memref<?xf64>")
               for ln in lines), lines
    assert any(ln.startswith("%") and 'lib.py_call %' in ln and '{fn = "test_extern.top"} : memref<?xf64>' in ln
               for ln in lines), lines
    with pytest.raises(TirError, match=r't.tir:2:3: \'tensor.py_call\' op calls "nowhere.g", which is not registered'):
        parse('func.func @g(%x: tensor<3xf64>) -> tensor<3xf64> {\n  %r = tensor.py_call %x {fn = "nowhere.g"} '
              ': tensor<3xf64>\n  func.return %r : tensor<3xf64>\n}\n', "t.tir")


def test_py_call_verifier_checks_declared_types() -> None:
    with pytest.raises(TirError, match=r'input #0 is tensor<3xf32>, but "test_extern.top" declares tensor<\?xf64>'):
        verify(parse('func.func @g(%x: tensor<3xf32>, %k: tensor<f64>) -> tensor<?xf64> {\n  %r = tensor.py_call '
                     '%x, %k {fn = "test_extern.top"} : tensor<?xf64>\n  func.return %r : tensor<?xf64>\n}'))
    with pytest.raises(TirError, match=r'"test_extern.top" takes 2 inputs, got 1'):
        verify(parse('func.func @g(%x: tensor<3xf64>) -> tensor<?xf64> {\n  %r = tensor.py_call %x '
                     '{fn = "test_extern.top"} : tensor<?xf64>\n  func.return %r : tensor<?xf64>\n}'))


# ---------------------------------------------------------------- extern_c

C_SOURCE = """#include <math.h>
#include <stdint.h>
void tir_test_hyp(const double* a, const double* b, double* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = sqrt(a[i] * a[i] + b[i] * b[i]) - 0.5 * a[i];
}
void tir_test_cube(const float* a, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] * a[i] * a[i] + 1.0f;
}
"""


@pytest.fixture(scope="module")
def c_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    folder = tmp_path_factory.mktemp("extern")
    (folder / "funcs.c").write_text(C_SOURCE)
    lib = folder / "libtirtest.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", str(folder / "funcs.c"), "-o", str(lib), "-lm"], check=True)
    return lib


def _direct(lib: Path, name: str, ctype: type, *arrays: np.ndarray) -> np.ndarray:
    """The function called through ctypes on contiguous copies: the oracle."""
    fn = getattr(ctypes.CDLL(str(lib)), name)
    fn.restype = None
    ins = [np.ascontiguousarray(a) for a in arrays]
    out = np.empty_like(ins[0])
    fn(*(a.ctypes.data_as(ctypes.POINTER(ctype)) for a in ins), out.ctypes.data_as(ctypes.POINTER(ctype)),
       ctypes.c_int64(out.size))
    return out


@pytest.mark.parametrize("target", ["interp", "c"])
def test_extern_c_source_and_library(target: str, c_library: Path) -> None:
    hyp = tensorir.extern_c("tir_test_hyp", "f64(f64, f64)", source=C_SOURCE.split("void tir_test_cube")[0])
    cube = tensorir.extern_c("tir_test_cube", "float(float)", library=str(c_library))
    x, y = T.dmatrices("x", "y")
    v = T.fvector("v")
    f = tensorir.function([x, y, v], [hyp(T.exp(x), y.T) * 2, cube(v[::-1] * 2) - 1], target=target)
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 3))
    c = RNG.standard_normal(6).astype(np.float32)
    got_h, got_c = f(a, b, c)
    # `source=` is compiled with tensorir's cflags (-march=native: gcc contracts a*a + b*b into an FMA where the
    # CPU has one), the oracle library without: the two may differ by an ulp or two (1 of 12 values did, 4e-16)
    np.testing.assert_array_max_ulp(got_h, _direct(c_library, "tir_test_hyp", ctypes.c_double, np.exp(a), b.T) * 2,
                                    maxulp=4)
    np.testing.assert_array_equal(got_c, _direct(c_library, "tir_test_cube", ctypes.c_float, c[::-1] * 2) - 1)
    if target == "c":
        src = f.source()
        assert "void tir_test_hyp(const double* a" in src and "tir_extern_symbol(ctx" in src
        assert "tir_py_call" not in src  # no Python in between
        with pytest.raises(ValueError, match=r"'tensor.extern_c' op input #1 has size 2 in dimension 0, input #0 3"):
            f(a, RNG.standard_normal((4, 2)), c)


def test_extern_c_declaration_errors() -> None:
    with pytest.raises(TirError, match="give exactly one of source= and library="):
        tensorir.extern_c("f", "f64(f64)")
    with pytest.raises(TirError, match="element type i8 is not one of f32, f64, i32, i64"):
        tensorir.extern_c("f", "i8(i8)", source="")
