"""The C target's runtime: tir_runtime.h's ABI, the compiler driver, the on-disk cache, module loading.

The C sources below are hand-written in the form the emit-c pass produces, so they double as the
ABI's reference examples. Every test uses a temporary cache directory, never the user's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorir.config import config
from tensorir.ir.core import TirError
from tensorir.runtime import c_module, cache, ccompiler, mathlib

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler (cc/gcc) on this machine")

# y = x * a + b (x: f32 rank 2, a: f32 rank 0, b: f32 rank 1 broadcast along rows), total = sum(y) as f64.
# Exercises: element strides, a 0-d argument, two results (one 0-d), a tir_alloc temporary released early
# with tir_free, an OpenMP parallel loop, and a run-time shape error through tir_fail.
AXPB_SRC = r"""
#include "tir_runtime.h"

static const tir_param tir_args[] = {{"x", NPY_FLOAT32, 2}, {"a", NPY_FLOAT32, 0}, {"b", NPY_FLOAT32, 1}};
static const tir_param tir_results[] = {{"y", NPY_FLOAT32, 2}, {"total", NPY_FLOAT64, 0}};

static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {
    const tir_buf* x = &args[0];
    const tir_buf* b = &args[2];
    const float a = *(const float*)args[1].data;
    int64_t n0 = x->shape[0], n1 = x->shape[1];
    if (b->shape[0] != n1 && b->shape[0] != 1)
        return tir_fail(ctx, "model.py:12: 'tensor.add' op operand shapes (%lld,%lld) and (%lld,) "
                        "do not broadcast at run time", (long long)n0, (long long)n1, (long long)b->shape[0]);
    int64_t bs = b->shape[0] == 1 ? 0 : b->strides[0];
    int64_t shape[2] = {n0, n1};
    if (!tir_result(ctx, 0, 2, shape)) return -1;
    if (!tir_result(ctx, 1, 0, NULL)) return -1;
    /* a temporary holding the broadcast row of b, contiguous */
    float* row = (float*)tir_alloc(ctx, (size_t)n1 * sizeof(float));
    if (!row) return -1;
    for (int64_t j = 0; j < n1; ++j) row[j] = ((const float*)b->data)[j * bs];
    const float* xp = (const float*)x->data;
    float* yp = (float*)results[0].data;
    int64_t xs0 = x->strides[0], xs1 = x->strides[1];
    double total = 0.0;
    #pragma omp parallel for num_threads(ctx->nthreads) if(n0 * n1 >= TIR_PARALLEL_MIN) reduction(+:total)
    for (int64_t i = 0; i < n0; ++i) {
        for (int64_t j = 0; j < n1; ++j) {
            float v = xp[i * xs0 + j * xs1] * a + row[j];
            yp[i * n1 + j] = v;
            total += v;
        }
    }
    tir_free(ctx, row);
    *(double*)results[1].data = total;
    return 0;
}
TIR_MODULE(tir_main, tir_args, tir_results)
"""

# c = a @ b through OpenBLAS's sgemm; operands that BLAS cannot take as they are get a contiguous copy.
MATMUL_SRC = r"""
#define TIR_USE_BLAS 1
#include "tir_runtime.h"

static const tir_param tir_args[] = {{"a", NPY_FLOAT32, 2}, {"b", NPY_FLOAT32, 2}};
static const tir_param tir_results[] = {{"c", NPY_FLOAT32, 2}};

static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {
    tir_buf a = args[0], b = args[1];
    int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
    if (b.shape[0] != k)
        return tir_fail(ctx, "mm.py:7: 'tensor.matmul' op inner dimensions %lld and %lld differ",
                        (long long)k, (long long)b.shape[0]);
    if (m > TIR_BLASINT_MAX || n > TIR_BLASINT_MAX || k > TIR_BLASINT_MAX)
        return tir_fail(ctx, "mm.py:7: 'tensor.matmul' op is too large for 32-bit BLAS");
    int64_t shape[2] = {m, n};
    if (!tir_result(ctx, 0, 2, shape)) return -1;
    float* cp = (float*)results[0].data;
    if (m == 0 || n == 0) return 0;
    if (k == 0) {
        memset(cp, 0, (size_t)(m * n) * sizeof(float));
        return 0;
    }
    int ta, tb;
    int64_t lda, ldb;
    if (!tir_blas_layout(&a, &ta, &lda)) {
        if (tir_contiguous(ctx, &args[0], sizeof(float), &a)) return -1;
        tir_blas_layout(&a, &ta, &lda);
    }
    if (!tir_blas_layout(&b, &tb, &ldb)) {
        if (tir_contiguous(ctx, &args[1], sizeof(float), &b)) return -1;
        tir_blas_layout(&b, &tb, &ldb);
    }
    tir_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (blasint)m, (blasint)n, (blasint)k, 1.0f, (const float*)a.data, (blasint)lda,
              (const float*)b.data, (blasint)ldb, 0.0f, cp, (blasint)n);
    return 0;
}
TIR_MODULE(tir_main, tir_args, tir_results)
"""

# y = x + C (x: f32 rank 1); C varies so that cache tests get sources nobody compiled before.
ADD_SRC = r"""
#include "tir_runtime.h"

static const tir_param tir_args[] = {{"x", NPY_FLOAT32, 1}};
static const tir_param tir_results[] = {{"y", NPY_FLOAT32, 1}};

static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {
    const tir_buf* x = &args[0];
    int64_t n = x->shape[0], s = x->strides[0];
    if (!tir_result(ctx, 0, 1, &n)) return -1;
    const float* xp = (const float*)x->data;
    float* yp = (float*)results[0].data;
    for (int64_t i = 0; i < n; ++i) yp[i] = xp[i * s] + CONSTANT;
    return 0;
}
TIR_MODULE(tir_main, tir_args, tir_results)
"""


def add_source(constant: float) -> str:
    return ADD_SRC.replace("CONSTANT", f"{constant!r}f")


@pytest.fixture(scope="module", autouse=True)
def cachedir(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("tircache")
    with config.change_flags(cachedir=str(d)):
        yield d


@pytest.fixture(scope="module")
def axpb(cachedir: Path) -> c_module.CModule:
    return c_module.load(AXPB_SRC, "axpb")


@pytest.fixture(scope="module")
def matmul(cachedir: Path) -> c_module.CModule:
    return c_module.load(MATMUL_SRC, "matmul")


@pytest.fixture(scope="module")
def add1(cachedir: Path) -> c_module.CModule:
    return c_module.load(add_source(1.0), "add1")


def ref_axpb(x: np.ndarray, a: float, b: np.ndarray) -> tuple[np.ndarray, float]:
    y = (x * np.float32(a) + b).astype(np.float32)
    return y, float(y.astype(np.float64).sum())


def check_axpb(mod: c_module.CModule, x: np.ndarray, a: float, b: np.ndarray) -> None:
    y, total = mod.run(x, np.array(a, np.float32), b)
    ry, rtotal = ref_axpb(x, a, b)
    assert y.dtype == np.float32 and y.shape == ry.shape and y.flags.c_contiguous and y.flags.writeable
    np.testing.assert_allclose(y, ry, rtol=1e-6, atol=1e-6)  # gcc contracts x*a+b into an fma
    assert total.shape == () and total.dtype == np.float64
    assert total == pytest.approx(rtotal, rel=1e-6, abs=1e-6)


# ---------------------------------------------------------------- the ABI


def test_layouts_match_numpy(axpb: c_module.CModule) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    check_axpb(axpb, x, 2.0, b)                                         # contiguous
    check_axpb(axpb, np.asfortranarray(x), 2.0, b)                      # Fortran order
    check_axpb(axpb, x.T.copy().T, -1.5, b)                             # transposed storage
    check_axpb(axpb, x.T, 2.0, b[:6])                                   # transposed view
    check_axpb(axpb, x[::2, ::-1], 3.0, b[::-1])                        # sliced, negative strides
    check_axpb(axpb, x[1:, 2:7], 0.5, np.repeat(b, 2)[1::2][:5])         # offset, strided b
    check_axpb(axpb, x, 2.0, b[:1])                                     # b broadcast from (1,)
    check_axpb(axpb, np.broadcast_to(b, (5, 8)), 2.0, b)                # zero stride
    check_axpb(axpb, np.zeros((0, 8), np.float32), 2.0, b)              # empty rows
    check_axpb(axpb, np.zeros((3, 0), np.float32), 2.0, b[:0])          # empty columns
    big = rng.standard_normal((700, 300)).astype(np.float32)            # parallel loop, GIL released
    check_axpb(axpb, big, 2.0, rng.standard_normal(300).astype(np.float32))
    check_axpb(axpb, big[::3, ::-2], 2.0, rng.standard_normal(150).astype(np.float32))


def test_odd_arrays_are_copied_not_rejected(axpb: c_module.CModule) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    check_axpb(axpb, x.astype(">f4"), 2.0, b.astype(">f4"))             # byte-swapped
    raw = np.zeros(4 * 20 + 1, np.uint8)
    mis = np.frombuffer(raw.data, dtype=np.float32, count=20, offset=1).reshape(4, 5)
    mis[...] = x                                                        # misaligned (writes through the view)
    assert not mis.flags.aligned
    check_axpb(axpb, mis, 2.0, b)
    rec = np.zeros((4, 5), dtype=[("p", np.uint8), ("v", np.float32)])
    rec["v"] = x
    check_axpb(axpb, rec["v"], 2.0, b)                                  # stride 5 bytes: not whole elements


def test_several_shapes_one_compile(axpb: c_module.CModule) -> None:
    before = cache.stats()["compiles"]
    rng = np.random.default_rng(2)
    for shape in [(1, 1), (2, 3), (17, 5), (64, 1), (1, 100)]:
        x = rng.standard_normal(shape).astype(np.float32)
        check_axpb(axpb, x, 1.25, rng.standard_normal(shape[1]).astype(np.float32))
    assert c_module.load(AXPB_SRC, "again") is axpb
    assert cache.stats()["compiles"] == before


def test_signature_and_conversion(axpb: c_module.CModule) -> None:
    args, results = axpb.module.signature
    assert args == (("x", np.dtype("float32"), 2), ("a", np.dtype("float32"), 0), ("b", np.dtype("float32"), 1))
    assert results == (("y", np.dtype("float32"), 2), ("total", np.dtype("float64"), 0))
    assert axpb.module.abi_version == 1
    x = np.arange(6.0).reshape(2, 3)                                    # float64, Python float, list
    y, total = axpb(x, 2, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(y, np.arange(6.0).reshape(2, 3) * 2 + [1, 2, 3])
    with pytest.raises(TypeError, match="rank 2"):
        axpb([1.0], 2.0, [1.0])


def test_wrong_arguments_raise_type_error(axpb: c_module.CModule) -> None:
    x = np.ones((2, 3), np.float32)
    a = np.array(2.0, np.float32)
    b = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"argument 0 \('x'\) must be a numpy.ndarray of dtype float32 and rank 2, "
                                        r"got dtype float64 and rank 2"):
        axpb.run(x.astype(np.float64), a, b)
    with pytest.raises(TypeError, match=r"argument 2 \('b'\).*got dtype float32 and rank 2"):
        axpb.run(x, a, x)
    with pytest.raises(TypeError, match=r"argument 1 \('a'\).*got numpy.float64"):
        axpb.run(x, np.float64(2.0), b)  # a Python float is converted (tir__scalar_arg), a float64 scalar is not
    with pytest.raises(TypeError, match=r"argument 0 \('x'\).*got list"):
        axpb.run([["1.0"]], a, b)  # a list of Python numbers is converted (tir__sequence_arg), of strings not
    with pytest.raises(TypeError, match="takes 3 arguments, got 2"):
        axpb.run(x, a)


def test_runtime_error_is_value_error(axpb: c_module.CModule) -> None:
    with pytest.raises(ValueError, match=r"^model.py:12: 'tensor.add' op operand shapes \(2,3\) and \(4,\) "
                                         r"do not broadcast at run time$"):
        axpb.run(np.ones((2, 3), np.float32), np.array(1, np.float32), np.ones(4, np.float32))


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")
def test_no_leak_on_error_and_success_paths(axpb: c_module.CModule) -> None:
    x = np.ones((30, 40), np.float32)
    a = np.array(2.0, np.float32)
    good, bad = np.ones(40, np.float32), np.ones(7, np.float32)

    def loop(b: np.ndarray, n: int) -> None:
        for _ in range(n):
            try:
                axpb.run(x, a, b)
            except ValueError:
                pass

    for b in (bad, good):
        loop(b, 1000)  # warm up allocator caches
        before = _rss_kib()
        loop(b, 10_000)
        grown = _rss_kib() - before
        assert grown < 1024, f"RSS grew by {grown} KiB over 10k calls"


def test_blas_matches_numpy(matmul: c_module.CModule) -> None:
    rng = np.random.default_rng(3)
    for m, k, n in [(3, 4, 5), (1, 4, 5), (4, 1, 5), (4, 5, 1), (1, 1, 1), (0, 3, 2), (3, 0, 2), (70, 90, 60)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        for aa in (a, np.asfortranarray(a), a[::-1], a[:, ::-1]):
            for bb in (b, np.asfortranarray(b), b[::-1, ::-1]):
                np.testing.assert_allclose(matmul.run(aa, bb), aa.astype(np.float64) @ bb, rtol=1e-4, atol=1e-4)
    a = rng.standard_normal((300, 200)).astype(np.float32)              # threaded sgemm on the OpenMP team
    np.testing.assert_allclose(matmul.run(a, a.T), a.astype(np.float64) @ a.T, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(matmul.run(a[::2, ::3], a.T[::3, ::2]), (a[::2, ::3] @ a.T[::3, ::2]), rtol=1e-3,
                               atol=1e-3)
    with pytest.raises(ValueError, match="inner dimensions 200 and 300 differ"):
        matmul.run(a, a)


def test_thread_count(axpb: c_module.CModule, matmul: c_module.CModule) -> None:
    assert axpb.module.get_num_threads() == c_module.default_threads()
    rng = np.random.default_rng(4)
    big = rng.standard_normal((500, 400)).astype(np.float32)
    try:
        c_module.set_num_threads(1)
        assert axpb.module.get_num_threads() == 1 and matmul.module.get_num_threads() == 1
        check_axpb(axpb, big, 2.0, big[0])
        np.testing.assert_allclose(matmul.run(big, big.T), big.astype(np.float64) @ big.T, rtol=1e-3, atol=1e-2)
    finally:
        c_module.set_num_threads(0)
    assert axpb.module.get_num_threads() == c_module.default_threads()
    with pytest.raises(ValueError):
        axpb.module.set_num_threads(0)


def _median_us(f, n: int = 1000) -> float:
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e6)


def test_measure_call_overhead(add1: c_module.CModule) -> None:
    x = np.random.default_rng(5).standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(add1.run(x), x + np.float32(1.0))
    for _ in range(200):
        add1.run(x)
    us = _median_us(lambda: add1.run(x))
    np_us = _median_us(lambda: x + np.float32(1.0))
    print(f"\nper-call time, 1k-element f32 `x + 1`: tensorir C run() {us:.2f} us (median of 1000), "
          f"numpy {np_us:.2f} us")


def _thread_ticks() -> dict[str, int]:
    """CPU time (clock ticks) of each thread of this process but the calling one."""
    me = str(threading.get_native_id())
    out = {}
    for t in os.listdir("/proc/self/task"):
        if t == me:
            continue
        with contextlib.suppress(OSError), open(f"/proc/self/task/{t}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            out[t] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc (Linux)")
def test_idle_workers_sleep(axpb: c_module.CModule, matmul: c_module.CModule) -> None:
    """One pool, a short spin: right after tensorir's parallel loops and threaded BLAS, no worker spins.

    Also measures (prints, does not assert: the machine is shared) a numpy matmul right after each."""
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((200, 200)), rng.standard_normal((200, 200))
    a32 = rng.standard_normal((256, 256)).astype(np.float32)
    x = rng.standard_normal((400, 500)).astype(np.float32)
    a, b = np.array(2.0, np.float32), x[0]
    time.sleep(0.3)  # let numpy's own OpenBLAS workers (they spin ~0.1 s after a numpy matmul) fall asleep
    for _ in range(20):
        axpb.run(x, a, b)
        matmul.run(a32, a32)
    before = _thread_ticks()
    time.sleep(0.5)
    after = _thread_ticks()
    busy = {t: after[t] - before[t] for t in after if t in before and after[t] - before[t] > 5}
    assert not busy, f"threads burning CPU while idle after tensorir calls (ticks in 0.5 s): {busy}"

    # Interleaved, so that load from other processes on the machine hits every case alike.
    def single_thread_mm() -> None:
        matmul.module.set_num_threads(1)
        matmul.run(a32, a32)
        matmul.module.set_num_threads(c_module.default_threads())

    pres = [lambda: np.dot(A, B), lambda: axpb.run(x, a, b), lambda: matmul.run(a32, a32), single_thread_mm]
    times: list[list[float]] = [[] for _ in pres]
    for i in range(100 * len(pres)):
        pres[i % len(pres)]()
        t = time.perf_counter()
        np.dot(A, B)
        times[i % len(pres)].append(time.perf_counter() - t)
    base, par, mm, mm1 = (float(np.median(ts) * 1e6) for ts in times)
    print(f"\nnumpy 200x200 matmul (median) right after: numpy matmul {base:.0f} us, tensorir parallel loop "
          f"{par:.0f} us, tensorir sgemm {mm:.0f} us, tensorir 1-thread sgemm {mm1:.0f} us "
          f"(threads={c_module.default_threads()}, load average {os.getloadavg()[0]:.1f})")


# ---------------------------------------------------------------- one pool with numpy's OpenBLAS

_SHARED_POOL = textwrap.dedent("""
    import ctypes, json, os, sys, threading, time
    import numpy as np
    numpy_threads = set(os.listdir("/proc/self/task")) - {str(threading.get_native_id())}  # its OpenBLAS's
    from tensorir.config import config
    from tensorir.runtime import c_module
    config.cachedir = sys.argv[1]
    numpy_ext = c_module.numpy_extension()
    if sys.argv[3] == "not-openblas":  # numpy as if on another BLAS: its extension links no OpenBLAS
        import _ctypes
        c_module.numpy_extension = lambda: _ctypes.__file__
    config.share_blas = sys.argv[3] != "off"

    def ticks(tids):
        total = 0
        for t in tids:
            with open(f"/proc/self/task/{t}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total

    def callback():  # the threads callback numpy's OpenBLAS holds (NULL: its own pthreads)
        lib = ctypes.CDLL(numpy_ext, mode=os.RTLD_NOLOAD)
        try:
            return ctypes.c_void_p.in_dll(lib, "openblas_threads_callback_").value
        except ValueError:
            return "not exported"

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 300)), rng.standard_normal((300, 200))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    before = a @ b
    mod = c_module.load(open(sys.argv[2]).read(), "mm")
    time.sleep(0.3)  # numpy's workers, busy with `before`, fall asleep
    t0 = ticks(numpy_threads)
    same = all(np.array_equal(a @ b, before) for _ in range(100))
    numpy_ticks = ticks(numpy_threads) - t0
    tir = mod.run(a32, b32)
    blas = c_module.numpy_openblas()
    counts = []
    for n in (1, 0):
        c_module.set_num_threads(n)
        counts.append(blas.get_num_threads() if blas else None)
    print(json.dumps({"found": blas is not None, "callback": callback(), "module": mod.module.blas_threads_callback,
                      "same": same, "numpy_ticks": numpy_ticks, "tir_err": float(np.abs(tir - before).max()),
                      "numpy_thread_counts": counts, "cores": c_module.default_threads()}))
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc (Linux)")
def test_numpy_openblas_jobs_run_on_the_shared_pool(cachedir: Path, matmul: c_module.CModule, tmp_path: Path) -> None:
    """Where numpy's BLAS is an OpenBLAS with the threads callback, loading a module installs the module's
    callback there: numpy's products stay bit-identical, its own pthreads do no work any more, and
    set_num_threads sets its thread count too."""
    if c_module.numpy_openblas() is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS with the threads callback (0.3.27+)")
    r = _shared_pool_run(cachedir, tmp_path, "share")
    assert r["found"] and r["same"] and r["tir_err"] < 1e-3
    assert r["callback"] in (r["module"], "not exported")
    assert r["numpy_ticks"] <= 1, f"numpy's own OpenBLAS threads ran {r['numpy_ticks']} ticks of 100 products"
    assert r["numpy_thread_counts"] == [1, r["cores"]]



def _shared_pool_run(cachedir: Path, tmp_path: Path, mode: str) -> dict[str, Any]:
    """_SHARED_POOL in a fresh process (mode: share, not-openblas, off); its JSON report."""
    src = tmp_path / "mm.c"
    src.write_text(MATMUL_SRC)
    p = subprocess.run([sys.executable, "-c", _SHARED_POOL, str(cachedir), str(src), mode], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])

def test_numpy_on_another_blas_keeps_its_pool(cachedir: Path, matmul: c_module.CModule, tmp_path: Path) -> None:
    """numpy on MKL, Accelerate or an OpenBLAS without the callback (simulated: numpy's extension resolves to
    one that links no OpenBLAS): nothing is installed, everything works as before."""
    import _ctypes

    if not getattr(_ctypes, "__file__", None):
        pytest.skip("_ctypes is built into this Python: no extension file to stand for numpy's")
    assert c_module.find_openblas(_ctypes.__file__) is None
    assert c_module.find_openblas(str(tmp_path / "not-loaded.so")) is None
    r = _shared_pool_run(cachedir, tmp_path, "not-openblas")
    assert not r["found"] and r["same"] and r["tir_err"] < 1e-3 and r["callback"] in (None, "not exported")


def test_share_blas_off_keeps_numpys_pool(cachedir: Path, matmul: c_module.CModule, tmp_path: Path) -> None:
    r = _shared_pool_run(cachedir, tmp_path, "off")
    assert r["same"] and r["tir_err"] < 1e-3 and r["callback"] in (None, "not exported")


# ---------------------------------------------------------------- the cache


def test_memory_cache_hit(add1: c_module.CModule) -> None:
    before = cache.stats()
    assert c_module.load(add_source(1.0), "other_name") is add1
    after = cache.stats()
    assert after["compiles"] == before["compiles"] and after["memory_hits"] == before["memory_hits"] + 1


_SUBPROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tensorir.config import config
    from tensorir.runtime import c_module, cache
    config.cachedir = sys.argv[1]
    mod = c_module.load(open(sys.argv[2]).read(), "sub")
    y = mod.run(np.arange(4, dtype=np.float32))
    print(json.dumps({"stats": cache.stats(), "y": y.tolist()}))
""")


def _spawn(cachedir: Path, source_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _SUBPROCESS, str(cachedir), str(source_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(p: subprocess.Popen[str]) -> dict:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_second_process_compiles_nothing(cachedir: Path, add1: c_module.CModule, tmp_path: Path) -> None:
    src = tmp_path / "add1.c"
    src.write_text(add_source(1.0))
    r = _result(_spawn(cachedir, src))
    assert r["stats"]["compiles"] == 0 and r["stats"]["disk_hits"] == 1
    assert r["y"] == [1.0, 2.0, 3.0, 4.0]


def test_concurrent_processes_compile_once(cachedir: Path, tmp_path: Path) -> None:
    src = tmp_path / "add2.c"
    src.write_text(add_source(2.0))
    procs = [_spawn(cachedir, src) for _ in range(2)]
    results = [_result(p) for p in procs]
    assert all(r["y"] == [2.0, 3.0, 4.0, 5.0] for r in results)
    assert sum(r["stats"]["compiles"] for r in results) == 1
    key = cache.cache_key(src.read_text())
    assert cache.is_valid(cache.cache_root() / key)


def test_truncated_entry_is_rebuilt(cachedir: Path) -> None:
    source = add_source(3.0)
    c0 = cache.stats()["compiles"]
    key, so = cache.get(source)
    assert cache.stats()["compiles"] == c0 + 1
    with open(so, "r+b") as f:           # a crash mid-write, a full disk ...
        f.truncate(so.stat().st_size // 2)
    key2, so2 = cache.get(source)
    assert (key2, so2) == (key, so) and cache.stats()["compiles"] == c0 + 2 and cache.is_valid(so.parent)
    # garbage whose checksum matches (an edited entry): the import fails, the loader rebuilds
    so.write_bytes(b"not an ELF file")
    (so.parent / "module.sha256").write_text(cache._sha256_file(so))
    mod = c_module.load(source, "add3")
    assert cache.stats()["compiles"] == c0 + 3
    np.testing.assert_array_equal(mod.run(np.zeros(3, np.float32)), [3.0, 3.0, 3.0])


def _stats_delta(before: dict[str, int]) -> dict[str, int]:
    return {k: v - before[k] for k, v in cache.stats().items()}


def test_math_library_is_built_once_and_declared(tmp_path: Path) -> None:
    """float32 sin's exact path is called out of line (runtime/mathlib.py): its library is compiled with the
    first function that needs it and linked, not compiled, by the next; generated code only declares it."""
    import tensorir
    from tensorir import tensor as T

    x = T.fvector("x")
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-10, 10, 999), rng.uniform(-1e6, 1e6, 999)]).astype(np.float32)
    with config.change_flags(cachedir=str(tmp_path)):
        before = cache.stats()
        f = tensorir.function([x], T.sin(x) * 2)
        assert {k: _stats_delta(before)[k] for k in ("compiles", "library_compiles")} == \
            {"compiles": 1, "library_compiles": 1}
        before = cache.stats()
        g = tensorir.function([x], T.sin(x + 1))
        delta = _stats_delta(before)
        assert (delta["compiles"], delta["library_compiles"], delta["library_hits"]) == (1, 0, 1)
        for fn, want in ((f, np.sin(v.astype(np.float64)) * 2), (g, np.sin(v.astype(np.float64) + 1))):
            np.testing.assert_allclose(fn(v[::2]), want[::2], rtol=1e-6, atol=1e-6)  # strided: the exact kernel
        src = g.source()
        assert mathlib.declaration("tir_sinf") in src and not re.search(r"tir_lib_sinf\([^;]*\)\s*\{", src)
        libs = list(tmp_path.glob("c/*/libtir_sinf-*.so"))
        assert len(libs) == 1
        module = next(m for m in tmp_path.glob("c/*/module.so") if (m.parent / "source.c").read_text() == src)
        if shutil.which("nm"):
            nm = subprocess.run(["nm", "-D", str(module)], capture_output=True, text=True, check=True).stdout
            defined = [ln for ln in nm.splitlines() if "tir_lib_" in ln and not ln.split()[-2] == "U"]
            assert not defined and re.search(r" U _ZGV[bcde]N\d+v_tir_lib_sinf", nm), nm
        # another process loads the module and its library without compiling or even looking them up; with
        # the library removed from under the module, the load fails and both are rebuilt
        src_file = tmp_path / "g.c"
        src_file.write_text(src)
        r = _result(_spawn(tmp_path, src_file))
        assert (r["stats"]["compiles"], r["stats"]["library_compiles"], r["stats"]["library_hits"]) == (0, 0, 0)
        shutil.rmtree(libs[0].parent)
        r = _result(_spawn(tmp_path, src_file))
        assert (r["stats"]["compiles"], r["stats"]["library_compiles"], r["stats"]["rebuilds"]) == (1, 1, 1)
        np.testing.assert_allclose(r["y"], np.sin(np.arange(4) + 1.0), rtol=1e-6)


def test_large_kernels_call_every_math_function(tmp_path: Path) -> None:
    """A kernel with more than mathlib.INLINE_MAX math calls calls all of them out of line, a small one
    inlines all but the exact sin/cos; both compute what the reference interpreter does."""
    import tensorir
    from tensorir import tensor as T

    x = T.fvector("x")
    chain = x
    for k in range(mathlib.INLINE_MAX + 1):
        chain = T.tanh(chain) if k % 2 else T.exp(-chain * chain)
    small = T.exp(-x * x / 2) * T.sin(x) + T.log1p(abs(x))
    v = np.random.default_rng(1).uniform(-3, 3, 1001).astype(np.float32)
    with config.change_flags(cachedir=str(tmp_path)):
        for expr, called, inlined in ((chain, ["tir_lib_expf", "tir_lib_tanhf"], []),
                                      (small, ["tir_lib_sinf"], ["tir_expf", "tir_log1pf", "tir_sinf_fast"])):
            f = tensorir.function([x], expr)
            src = f.source()
            assert all(f"{name}(" in src for name in called + inlined), src
            assert sorted(set(re.findall(r"tir_lib_\w+(?=\()", src))) == called
            want = tensorir.function([x], expr, target="interp")(v)
            np.testing.assert_allclose(f(v), want, rtol=1e-5, atol=1e-6)


def test_missing_compiler_is_a_clear_error() -> None:
    with config.change_flags(cc="/nonexistent/cc"):
        with pytest.raises(TirError, match=r"no C compiler found.*apt-get install gcc.*TENSORIR_FLAGS=cc=.*interp"):
            c_module.load(add_source(4.0), "add4")


def test_compiler_error_shows_errors_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    bad = add_source(5.0).replace("yp[i] = xp[i * s]", "yp[i] = undefined_name[i * s]")
    with config.change_flags(debug=5):
        with pytest.raises(TirError) as info:
            c_module.load(bad, "bad")
    text = str(info.value)
    assert "C compiler failed" in text and "undefined_name" in text
    kept = Path(text.split("source kept at ")[1].split()[0])
    assert kept.read_text() == bad
    assert "-DTIR_MODNAME=" in capsys.readouterr().err  # DEBUG>=5 prints the command line


def test_fast_math_is_refused() -> None:
    with config.change_flags(cflags="-O3 -ffast-math"):
        with pytest.raises(TirError, match="-ffast-math"):
            ccompiler.compile_flags()


def test_measure_load_times(cachedir: Path, tmp_path: Path) -> None:
    source = add_source(6.0)
    t = time.perf_counter()
    c_module.load(source, "cold")
    cold = time.perf_counter() - t
    c_module.clear_memory()
    t = time.perf_counter()
    c_module.load(source, "warm")
    warm = time.perf_counter() - t
    t = time.perf_counter()
    c_module.load(source, "hot")
    hot = time.perf_counter() - t
    print(f"\nload times: cold (compile) {cold * 1e3:.0f} ms, warm (disk cache) {warm * 1e3:.2f} ms, "
          f"in-memory {hot * 1e6:.1f} us")


_FORKED_CHILDREN = textwrap.dedent("""
    import multiprocessing as mp, sys
    import numpy as np
    import tensorir
    from tensorir import tensor as T
    x = T.fmatrix("x")
    f = tensorir.function([x], [T.exp(x) * 2, T.dot(x, x)])  # a parallel loop (above the threshold) and BLAS
    a = np.random.default_rng(0).standard_normal((600, 600)).astype(np.float32)
    want = [float(r.sum()) for r in f(a)] + [float((a @ a).sum())]

    def child(_):
        return [float(r.sum()) for r in f(a)] + [float((a @ a).sum())]

    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(child, range(2))
        # one thread in the children: BLAS may sum in another order than the parent's two threads
        print(all(np.allclose(g, want, rtol=1e-5) for g in got))
""")


def test_forked_children_run_compiled_code_and_numpy(tmp_path: Path) -> None:
    """libgomp is not fork-safe: a child forked after the parent's team ran (multiprocessing's default start
    method on Linux) used to hang in its first parallel region, tensorir's or (with the pool shared) numpy's
    product. Children run compiled code on one thread and give numpy's OpenBLAS its own pool back."""
    script = tmp_path / "forked.py"
    script.write_text(_FORKED_CHILDREN)
    # tiered=0: compiled before the fork (a child forked during a background compile: tests/test_tiers.py)
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={tmp_path / 'cache'},tiered=0")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "True"
