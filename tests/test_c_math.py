"""Accuracy / special-value / vectorization tests for backends/c_runtime/tir_math.h.

Builds a small shared library from a generated C file (one loop per function),
loads it with ctypes and compares against float64 numpy/scipy references
rounded to float32: once with the functions inlined, once calling the vector
variants of the out-of-line math libraries (runtime/mathlib.py).  Skipped when
gcc is unavailable.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from tensorir.runtime import cache, ccompiler, mathlib

RUNTIME_DIR = Path(__file__).resolve().parents[1] / "backends" / "c_runtime"
# Must match the "REQUIRED COMPILER FLAGS" comment in tir_math.h.
CFLAGS = ["-O3", "-march=native", "-fno-math-errno"]

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc not found")

F32_UNARY = [
    "expf", "exp2f", "expm1f", "logf", "log2f", "log10f", "log1pf", "sinf", "cosf", "tanf",
    "tanhf", "sinhf", "coshf", "asinf", "acosf", "atanf", "sigmoidf", "softplusf", "erff",
    "erfcf", "sqrtf",
]
F32_BINARY = ["atan2f", "powf"]
F64_UNARY = ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "softplus", "erf"]


def _c_source(library: bool) -> str:
    """One loop per function; with `library`, the loops call the out-of-line functions of runtime/mathlib.py
    (their vector variants, as generated code does) wherever the library has them."""
    def fn(name: str) -> str:
        return mathlib.symbol(f"tir_{name}") if library and f"tir_{name}" in mathlib.FUNCTIONS else f"tir_{name}"

    lines = ['#include "tir_math.h"']
    if library:
        lines += [mathlib.declaration(f"tir_{f}") for f in F32_UNARY + F32_BINARY + F64_UNARY
                  if f"tir_{f}" in mathlib.FUNCTIONS]
    for f in F32_UNARY:
        lines.append(
            f"void tir_test_{f}(const float* x, float* y, long n)"
            f"{{ for (long i = 0; i < n; ++i) y[i] = {fn(f)}(x[i]); }}"
        )
    for f in F32_BINARY:
        lines.append(
            f"void tir_test_{f}(const float* a, const float* b, float* y, long n)"
            f"{{ for (long i = 0; i < n; ++i) y[i] = {fn(f)}(a[i], b[i]); }}"
        )
    for f in F64_UNARY:
        lines.append(
            f"void tir_test_{f}(const double* x, double* y, long n)"
            f"{{ for (long i = 0; i < n; ++i) y[i] = {fn(f)}(x[i]); }}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["inline", "library"])
def lib(request, tmp_path_factory):
    """The functions inlined into the test loops, or called from the math libraries the c target links
    (built with config.cflags, as for generated code; the loops compiled with -fopenmp-simd)."""
    library = request.param == "library"
    d = tmp_path_factory.mktemp("tirmath")
    src = d / "t.c"
    src.write_text(_c_source(library))
    so = d / "libt.so"
    link = []
    if library:
        used = sorted(f"tir_{f}" for f in F32_UNARY + F32_BINARY + F64_UNARY if f"tir_{f}" in mathlib.FUNCTIONS)
        link = ["-fopenmp-simd", *ccompiler.library_link_flags(cache.math_libraries(used))]
    subprocess.run(
        [GCC, *CFLAGS, "-shared", "-fPIC", f"-I{RUNTIME_DIR}", str(src), "-o", str(so), *link],
        check=True, capture_output=True, text=True,
    )
    return ctypes.CDLL(str(so))


def _call(lib, name, *args):
    dtype = args[0].dtype
    args = [np.ascontiguousarray(a, dtype=dtype) for a in args]
    out = np.empty_like(args[0])
    fn = getattr(lib, f"tir_test_{name}")
    fn(*[a.ctypes.data_as(ctypes.c_void_p) for a in args], out.ctypes.data_as(ctypes.c_void_p),
       ctypes.c_long(out.size))
    return out


# ---------------------------------------------------------------------------
# references (float64, evaluated on the float32 inputs)
# ---------------------------------------------------------------------------
def _ref(name):
    import scipy.special as sp

    return {
        "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
        "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
        "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "asin": np.arcsin, "acos": np.arccos,
        "atan": np.arctan, "sigmoid": sp.expit, "softplus": lambda x: np.logaddexp(0.0, x),
        "erf": sp.erf, "erfc": sp.erfc, "sqrt": np.sqrt, "atan2": np.arctan2, "pow": np.power,
    }[name]


def _ulp_err_f32(y32, ref64):
    """Error of float32 results in ulps of the float32-rounded reference."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref32 = ref64.astype(np.float32)
        fin = np.isfinite(ref64)
        # float32-overflowing references: measure against 2^128 / spacing(FLT_MAX)
        big = np.float64(2.0**128)
        yy = y32.astype(np.float64)
        yy = np.where(np.isinf(yy) & fin, np.sign(yy) * big, yy)
        r32 = np.where(np.isinf(ref32) & fin, np.float32(3.4028235e38), ref32)
        sp = np.spacing(np.abs(r32)).astype(np.float64)
        err = np.abs(yy - ref64) / sp
        # non-finite references must match exactly (nan == nan)
        exact = ~fin
        same = (y32.astype(np.float64) == ref64) | (np.isnan(y32) & np.isnan(ref64))
        err = np.where(exact, np.where(same, 0.0, np.inf), err)
        err = np.where(np.isnan(err), np.inf, err)
    return err


# ---------------------------------------------------------------------------
# input samplers
# ---------------------------------------------------------------------------
RNG = np.random.default_rng(1234)


def _all_f32(n):
    """Random bit patterns: uniform over all exponents, both signs, subnormals (no nan)."""
    b = RNG.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    x = b.view(np.float32)
    return x[~np.isnan(x)]


def _uniform(lo, hi, n):
    return RNG.uniform(lo, hi, n).astype(np.float32)


def _neighbors(v, k=8):
    v = np.asarray(v, dtype=np.float32)
    out = [v]
    a, b = v.copy(), v.copy()
    for _ in range(k):
        a = np.nextafter(a, np.float32(np.inf))
        b = np.nextafter(b, np.float32(-np.inf))
        out += [a, b]
    return np.concatenate(out)


def _samples(name):
    n = 400_000
    parts = [_all_f32(n), _uniform(-4, 4, n // 2), _neighbors([0.0, 1.0, -1.0, 0.5, -0.5, 2.0])]
    parts.append(_uniform(-1e-3, 1e-3, 50_000))
    if name in ("exp", "expm1", "sinh", "cosh", "exp2", "sigmoid", "softplus", "tanh"):
        parts += [_uniform(-110, 110, n), _uniform(-160, 160, 100_000),
                  _neighbors([88.72284, -87.33655, -103.97208, 89.41599, -89.41599, 128.0,
                              -126.0, -149.0, -150.0, 9.01, 0.34657, -104.0, 89.0, 10.0, -40.0], 64)]
        parts += _tiny_result_samples()
    if name in ("log", "log2", "log10", "log1p", "sqrt"):
        parts += [_uniform(0, 4, n), _uniform(0.5, 1.5, n // 2), _uniform(-1, 1, n // 2),
                  np.abs(_all_f32(n))]
        # float kernels: m in [sqrt(1/2), sqrt(2)) split points, log1p's 1+x
        # rounding compensation (x in (sqrt(2)-1, 2^25)), subnormal inputs
        parts += [_neighbors([0.70710677, 1.4142135, 0.41421357, -0.29289323, 2.0**24,
                              2.0**25, -0.99999994, 1.1754944e-38], 64),
                  _uniform(0.4, 3.0, n // 4), (2.0**RNG.uniform(-149, -126, n // 8)).astype(np.float32),
                  (2.0**RNG.uniform(20, 30, n // 8)).astype(np.float32)]
    if name in ("sin", "cos", "tan"):
        k = np.concatenate([np.arange(-2000, 2000), RNG.integers(-10**7, 10**7, 100_000)])
        mult = (k * (np.pi / 2)).astype(np.float32)
        parts += [_uniform(-1e5, 1e5, n), _neighbors(mult, 4),
                  np.abs(_all_f32(n)) * np.float32(1.0)]
        # exponents >= 2^20: big arguments (all the Payne-Hanek bands)
        e = RNG.uniform(20, 127.9, n)
        parts.append((2.0**e * RNG.choice([-1, 1], n)).astype(np.float32))
        # boundary of the float32 fast reduction (|x| < 2^17) and the float64
        # Payne-Hanek path; multiples of pi/2 just below/above it
        kb = np.arange(83000, 84000)
        parts += [_neighbors([2.0**17, -2.0**17, 2.0**16, 2.0**18], 256),
                  _neighbors((kb * (np.pi / 2)).astype(np.float32), 2),
                  _uniform(2.0**16, 2.0**18, n // 4)]
    if name in ("asin", "acos"):
        parts += [_uniform(-1, 1, n), _neighbors([1.0, -1.0, 0.5, -0.5], 200)]
    if name in ("atan",):
        parts += [_uniform(-10, 10, n), _neighbors([0.41421357, 2.4142137], 64)]
    if name in ("erf", "erfc"):
        parts += [_uniform(-11, 11, n), _neighbors([0.5, -0.5, 10.0, 10.05], 64)]
    x = np.concatenate(parts).astype(np.float32)
    return x[~np.isnan(x)]


# ln(2^k) / k for the float32 underflow edges: 2^-126 (normal/subnormal),
# 2^-149 (smallest subnormal), 2^-150 (rounds to 0 below), the n = -126 / -127
# reduction steps, 2^-125.5 (the n = -125 / -126 split), and the |x| = 28
# switch of sigmoid/softplus.
_LN2 = np.log(2.0)
_TINY_EDGES = np.concatenate([
    np.array([-126, -149, -150, -126.5, -127.5, -125.5, -148.5, -149.5, -151]) * _LN2,
    np.array([-126, -149, -150, -126.5, -127, -149.5, -151, -125.5]),
    [28.0, -28.0, 87.33654, 103.97208, 2.0**-26, -(2.0**-26)],
])


def _tiny_result_samples():
    """Inputs whose exp/exp2 is subnormal, rounds to 0, or is next to 2^-126."""
    return [_neighbors(_TINY_EDGES.astype(np.float32), 300), _uniform(-105, -86, 200_000),
            _uniform(-152, -124, 100_000), _uniform(86, 105, 50_000),
            (2.0**RNG.uniform(-149, -20, 50_000) * RNG.choice([-1, 1], 50_000)).astype(np.float32)]


SPECIALS = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.4e-45, -1.4e-45, 1.1754944e-38, 3.4028235e38,
     -3.4028235e38, 1.0, -1.0, 0.5, -0.5, 2.0, 1e30, -1e30, 100.0, -100.0, 1e-30],
    dtype=np.float32,
)


def _check_specials(y, ref64):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref32 = ref64.astype(np.float32)
    for xi, yi, ri in zip(SPECIALS, y, ref32):
        if np.isnan(ri):
            assert np.isnan(yi), (xi, yi, ri)
        elif np.isinf(ri) or ri == 0.0:
            assert yi == ri and np.signbit(yi) == np.signbit(ri), (xi, yi, ri)


@pytest.mark.parametrize("f", F32_UNARY)
def test_f32_unary(lib, f):
    name = f[:-1]
    ref = _ref(name)
    x = _samples(name)
    y = _call(lib, f, x)
    with np.errstate(all="ignore"):
        r = ref(x.astype(np.float64))
    err = _ulp_err_f32(y, r)
    i = int(np.argmax(err))
    assert err[i] <= 4.0, f"{f}: {err[i]:.3g} ulp at x={x[i]!r} got {y[i]!r} want {r[i]!r}"
    with np.errstate(all="ignore"):
        rs = ref(SPECIALS.astype(np.float64))
    _check_specials(_call(lib, f, SPECIALS), rs)


def test_f32_exp_underflow(lib):
    """Subnormal / zero results are rounded from the float32 significand
    (integer path): <= 1.5 ulp over every float32 input of the underflow range,
    exact for exact powers of two (2^-150 is a tie: +0), +0 below."""
    import scipy.special as sp

    def all_between(lo, hi):  # every float32 in [lo, hi], lo < hi <= 0
        a = np.float32(hi).view(np.uint32)
        b = np.float32(lo).view(np.uint32)
        return np.arange(a, b + 1, dtype=np.uint64).astype(np.uint32).view(np.float32)

    cases = [("expf", np.exp, all_between(-105, -86)), ("exp2f", np.exp2, all_between(-152, -125)),
             ("sigmoidf", sp.expit, all_between(-105, -86)),
             ("softplusf", lambda v: np.logaddexp(0.0, v), all_between(-105, -86)[::4])]
    for f, ref, x in cases:
        y = _call(lib, f, x)
        r = ref(x.astype(np.float64))
        err = _ulp_err_f32(y, r)
        i = int(np.argmax(err))
        assert err[i] <= 1.5, f"{f}: {err[i]:.3g} ulp at x={x[i]!r} got {y[i]!r} want {r[i]!r}"
        assert not np.signbit(y).any()
        zero = r < 2.0**-150  # rounds to +0 (ties at 2^-150 too)
        assert (y[zero] == 0).all(), f
    k = np.arange(-160, 128).astype(np.float32)
    y = _call(lib, "exp2f", k)
    with np.errstate(under="ignore"):
        want = np.exp2(k.astype(np.float64)).astype(np.float32)
    assert np.array_equal(y.view(np.uint32), want.view(np.uint32))
    # tiny / subnormal inputs: exactly 1 (they are flushed to 0 before the reduction)
    t = np.concatenate([_neighbors([1.4e-45, 1.1754944e-38, 2.0**-27], 16),
                        (2.0**RNG.uniform(-149, -27, 10_000)).astype(np.float32)])
    t = np.concatenate([t, -t])
    for f in ("expf", "exp2f"):
        assert (_call(lib, f, t) == 1.0).all(), f


def _pairs(name, n=300_000):
    a = np.concatenate([_all_f32(n)[:n // 2], _uniform(-5, 5, n // 2), _uniform(0, 3, n // 2)])
    b = np.concatenate([_all_f32(n)[:n // 2], _uniform(-5, 5, n // 2), _uniform(-60, 60, n // 2)])
    m = min(a.size, b.size)
    a, b = a[:m], b[:m]
    if name == "pow":
        # values whose result is in/near the float32 range, incl. integer exponents
        xs = np.abs(_uniform(0, 4, n))
        ys = _uniform(-100, 100, n)
        xi = _uniform(-3, 3, n)
        yi = np.round(_uniform(-40, 40, n))
        a = np.concatenate([a, xs, xi])
        b = np.concatenate([b, ys, yi])
    sp = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0, -3.0],
                  dtype=np.float32)
    ga, gb = np.meshgrid(sp, sp)
    return np.concatenate([a, ga.ravel()]), np.concatenate([b, gb.ravel()]), ga.size


@pytest.mark.parametrize("f", F32_BINARY)
def test_f32_binary(lib, f):
    name = f[:-1]
    a, b, nsp = _pairs(name)
    y = _call(lib, f, a, b)
    with np.errstate(all="ignore"):
        r = _ref(name)(a.astype(np.float64), b.astype(np.float64))
    err = _ulp_err_f32(y, r)
    i = int(np.argmax(err))
    assert err[i] <= 4.0, f"{f}: {err[i]:.3g} ulp at {a[i]!r},{b[i]!r} got {y[i]!r} want {r[i]!r}"
    ys, rs = y[-nsp:], r[-nsp:].astype(np.float32)
    zero = rs == 0
    assert np.array_equal(np.signbit(ys[zero]), np.signbit(rs[zero]))


F64_TOL = 4.0  # ulps vs numpy/scipy (which are themselves ~0.5-1 ulp)


@pytest.mark.parametrize("f", F64_UNARY)
def test_f64(lib, f):
    n = 200_000
    b = RNG.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    x = np.concatenate([b.view(np.float64), RNG.uniform(-5, 5, n), RNG.uniform(-1e-3, 1e-3, n // 4),
                        RNG.uniform(-750, 750, n // 4)])
    if f in ("sin", "cos"):  # documented range: |x| < 2^50
        x = np.concatenate([RNG.uniform(-1e5, 1e5, n),
                            2.0 ** RNG.uniform(-1074, 49.9, n) * RNG.choice([-1, 1], n), x])
        x = x[np.abs(x) < 2.0**50]
    if f in ("log", "log1p"):
        x = np.abs(x)
        x = np.concatenate([x, RNG.uniform(-1, 1, n), RNG.uniform(0.5, 1.5, n)])
    x = x[~np.isnan(x)]
    y = _call(lib, f, x)
    with np.errstate(all="ignore"):
        r = _ref(f)(x)
    fin = np.isfinite(r)
    with np.errstate(all="ignore"):
        err = np.where(fin, np.abs(y - r) / np.spacing(np.abs(r)), 0.0)
    ok_nonfin = (y[~fin] == r[~fin]) | (np.isnan(y[~fin]) & np.isnan(r[~fin]))
    assert ok_nonfin.all(), (x[~fin][~ok_nonfin][:5], y[~fin][~ok_nonfin][:5])
    i = int(np.argmax(err))
    assert err[i] <= F64_TOL, f"{f}: {err[i]:.3g} ulp at x={x[i]!r} got {y[i]!r} want {r[i]!r}"
    sx = SPECIALS.astype(np.float64)
    with np.errstate(all="ignore"):
        _check_specials(_call(lib, f, sx).astype(np.float32), _ref(f)(sx))


W1_SRC = r"""
#include "tir_math.h"
void w1(const float* restrict x, float* restrict y, long n) {
    for (long i = 0; i < n; ++i) {
        float v = x[i];
        y[i] = tir_expf(-v * v / 2.0f) * tir_sinf(v) + tir_log1pf(fabsf(v));
    }
}
"""


def _native_has_fma() -> bool:
    res = subprocess.run([GCC, "-march=native", "-dM", "-E", "-x", "c", os.devnull], check=False,
                         capture_output=True, text=True)
    return "#define __FMA__ 1" in res.stdout


@pytest.mark.parametrize("march", ["native", "x86-64-v3", "haswell", "znver1", "znver3", "skylake-avx512"])
def test_w1_loop_vectorizes(tmp_path, march):
    # native is what runs here; the others (compile only) stand for the machines the tests may meet:
    # AVX2-only CI machines, where integer `c ? a : b` selects (fine with AVX-512 masks) would block
    # vectorization, and AMD EPYC (znver1), whose tuning prefers 16-byte vectors. The vector width is
    # the compiler's tuning choice; what tir_math.h promises is that its functions don't stop the loop
    # from vectorizing. It vectorizes through hardware fma (x86-64-v3 and later): without it (plain
    # x86-64, x86-64-v2) each fmaf is a library call, and the loop stays scalar.
    if march == "native" and not _native_has_fma():
        pytest.skip("-march=native has no hardware fma here (tir_math.h's loops vectorize with fma)")
    src = tmp_path / "w1.c"
    src.write_text(W1_SRC)
    flags = [f if not f.startswith("-march=") else f"-march={march}" for f in CFLAGS]
    res = subprocess.run(
        [GCC, *flags, "-fopt-info-vec-optimized", f"-I{RUNTIME_DIR}", "-c", str(src),
         "-o", str(tmp_path / "w1.o")],
        check=False, capture_output=True, text=True,
    )
    if res.returncode != 0 and march != "native":
        pytest.skip(f"gcc does not know -march={march}")
    assert res.returncode == 0, res.stderr
    msgs = res.stdout + res.stderr
    # the `for` loop is on line 4 of W1_SRC
    assert re.search(r"w1\.c:4:\d+: optimized: loop vectorized using (16|32|64) byte vectors", msgs), msgs


@pytest.mark.parametrize("march", ["native", "x86-64", "x86-64-v3", "znver1", "skylake-avx512"])
def test_library_calls_vectorize(tmp_path, march):
    # A loop calling the out-of-line functions (runtime/mathlib.py's declarations, as generated code has them)
    # vectorizes with calls of their vector-ABI variants (_ZGV<isa>N<lanes>v_...), whichever ISA the flags
    # pick; the library defines every variant (test_math_library_is_built_once, tests/test_c_target.py).
    src = tmp_path / "lib.c"
    src.write_text("\n".join([
        mathlib.declaration("tir_sinf"), mathlib.declaration("tir_powf"),
        "void f(const float* restrict x, float* restrict y, long n) {",
        "    for (long i = 0; i < n; ++i) y[i] = tir_lib_powf(tir_lib_sinf(x[i]), x[i]);",
        "}", ""]))
    flags = [f if not f.startswith("-march=") else f"-march={march}" for f in CFLAGS]
    res = subprocess.run([GCC, *flags, "-fopenmp-simd", "-fopt-info-vec-optimized", "-S", str(src), "-o", "-"],
                         check=False, capture_output=True, text=True)
    if res.returncode != 0 and march != "native":
        pytest.skip(f"gcc does not know -march={march}")
    assert res.returncode == 0, res.stderr
    assert re.search(r"lib\.c:6:\d+: optimized: loop vectorized using (16|32|64) byte vectors", res.stderr), res.stderr
    assert re.search(r"call\s+_ZGV[bcde]N\d+v_tir_lib_sinf", res.stdout)
    assert re.search(r"call\s+_ZGV[bcde]N\d+vv_tir_lib_powf", res.stdout)
