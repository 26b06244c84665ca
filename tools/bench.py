"""`tir-bench`: tensorir against numpy, hand-written C, PyTensor and JAX, in one process.

    tir-bench                          # everything (a few minutes)
    tir-bench --quick                  # small sizes, few repeats (a smoke test)
    tir-bench --workloads W1,W3 --threads 2 --json results.json

Workloads (float32):

    W1  fused elementwise exp(-x*x/2)*sin(x) + log1p(abs(x)), 10M and 1,000 elements
        (plus cold compile and warm start of that function for tensorir, JAX and PyTensor)
    W2  copy of 10M elements: the memory-bandwidth floor
    W3  matrix product 1024 and 2048 (GFLOP/s)
    W4  row softmax and row logsumexp of 4096x4096, against the memory-traffic floor
    W5  reductions over every axis and layout (sums over axis 0 of 4096x4096, 100000x64 and 256x512,
        max/mean over axis 0 and max over axis 1 of 4096x4096, sum(x.T, axis=1), full sums of a 10M vector
        and of 4096x4096, argmax over axis 1 and over all elements, var and softmax over axis 0), against
        reading the input once
    W6  the layout sweep: ops whose loops must follow the operands' strides rather than their logical order
        (reductions of Fortran-order, reversed, sliced and 3-d inputs; transposes, dimshuffles and elementwise
        math on transposed inputs; `x**2`, `x**0.5`, `x**-1`, `x**3`; fused reductions of expressions; layernorm;
        batched matmul; BLAS products after numpy's own), 4096x4096 unless stated, against reading the inputs
        and writing the output once
    W7  one SGD step of logistic regression (4000x784) and of an MLP (batch 256, 784-512-512-10, tanh, softmax
        cross-entropy): tensorir.grad + shared variables + updates, against a hand-written numpy step, PyTensor
        (pytensor.grad) and JAX (jax.grad + jit); the parameters after one step are checked; tensorir's kernels
        and library calls per step beside PyTensor's nodes; plus the cold and warm compile of both graphs
    W8  compile time as the graph grows: chains of 10, 100 and 400 elementwise ops (sin and tanh in turn, a
        float32 vector), 50 outputs of sum(exp(a*k)*b, axis=1) + max(a-b, axis=0).sum() (k = 1..50), W1's
        expression and W7's two training steps, each cold (fresh cache dir) and warm (cache populated), each in a
        fresh process from building the function until its first result is returned (checked against numpy
        float64): tensorir (with its C compiler's share), jax.jit (its persistent compilation cache for warm)
        and PyTensor's C linker (a fresh compiledir); the growth 400/100 ops of each. Each run may take
        --compile-limit seconds (120; shown as '>120 s'); a tool over the limit on a chain is not run on the
        longer one; --skip-slow-peers leaves out PyTensor's wide graph and MLP step; --quick: the 10-op chain only
    W9  a recurrent network over 100 steps, h_t = tanh(h_(t-1) W + x_t U) (batch 32, hidden 256, input 256):
        tensorir.scan, forward (every h_t) and forward with the gradient of sum(h) w.r.t. W and U, against a
        numpy loop (hand-written backpropagation through time), PyTensor's scan and jax.lax.scan

`tir-bench --dask` (`--quick`) runs tools/bench_dask.py instead: tensorir on a Dask cluster of 1 and 2 workers.
`tir-bench --target opencl|cuda` (`--quick`) runs tools/bench_device.py: the GPU workloads against CuPy and torch.

Every implementation's output is checked against numpy in float64 (norm-wise relative error; integer
outputs such as argmax's must be equal) before it is timed. A sample is a batch of calls lasting >= ~20 ms
(a few ms with --quick); the table shows the median per-call time over >= 7 samples (3 with --quick) after
warm-up, its ratio to numpy's row of the same case and, for W1 (10M), W2, W4, W5 and W6, to the floor: the bytes
the workload must read and write divided by the best copy rate measured in this run (W2's rows).

The C references are compiled at run time with tensorir's C compiler and flags (`config.cc`,
`config.cflags` and the vector width generated code gets, + `-fno-math-errno -fPIC -shared -fopenmp`,
never -ffast-math) and loaded with ctypes: plain loops calling libm, single-threaded and with OpenMP; for
W1 also the same loop on tir_math.h's vectorizable `tir_*` functions (labelled). tensorir uses `target="c"`
when that target is registered in `tensorir.frontend.function.TARGETS`, else `target="interp"` (labelled,
with a note).

Thread hygiene (see docs: peer-performance): tensorir's own libgomp setting (a short spin, then sleep:
runtime/c_module.py THREAD_ENV) is set before anything loads libgomp, so an idle OpenMP pool does not spin
next to a BLAS pool and the process's one libgomp behaves as it does under tensorir alone; `--threads N` limits
every pool (OpenMP, BLAS through threadpoolctl, tensorir's `config.threads`, XLA when N is 1).
The thread pools loaded by the end of the run are listed (threadpoolctl, when installed).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import cli

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "backends" / "c_runtime"
# Never allowed in the reference builds: tir_math.h and honest libm loops both need IEEE semantics.
FORBIDDEN_FLAGS = ("-ffast-math", "-Ofast", "-fassociative-math", "-ffinite-math-only",
                   "-funsafe-math-optimizations", "-fno-signed-zeros", "-freciprocal-math")
REQUIRED_FLAGS = ("-fno-math-errno", "-fPIC", "-shared", "-fopenmp")
RTOL = 1e-5  # norm-wise relative error accepted against numpy float64
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9")


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One implementation of one case: its timing and its correctness check."""

    workload: str
    case: str
    impl: str
    group: str  # numpy | c-ref | tensorir | jax | pytensor
    status: str = "ok"  # ok | wrong (output check failed, not timed) | error | skipped
    median_s: float | None = None
    min_s: float | None = None
    samples_s: list[float] = field(default_factory=list)
    calls_per_sample: int = 0
    rel_err: float | None = None
    correct: bool = False
    vs_numpy: float | None = None
    vs_floor: float | None = None
    extra: str = ""
    note: str = ""


@dataclass
class CompileRow:
    """Cold compile (fresh cache) and warm start (cache populated) of one graph, each in a fresh process."""

    impl: str
    status: str = "ok"  # ok | wrong | over limit | error | skipped
    case: str = ""  # W8_GRAPHS[graph]
    graph: str = ""  # a key of W8_GRAPHS
    import_s: float | None = None
    cold_build_s: float | None = None
    cold_first_call_s: float | None = None
    cold_s: float | None = None
    warm_build_s: float | None = None
    warm_first_call_s: float | None = None
    warm_s: float | None = None
    cold_cc_s: float | None = None  # tensorir: the C compiler's seconds (in the background with tiered execution)
    cold_compiled_s: float | None = None  # tensorir: from building the function until its compiled code is ready
    rel_err: float | None = None  # of the cold run's first result against numpy float64
    limit_s: float | None = None  # each run's time limit
    over_limit: str = ""  # the run (cold, warm) stopped at the limit
    note: str = ""


@dataclass
class Impl:
    """A ready implementation: `run()` computes the output (blocking) and returns it; `check()`, when
    given, returns what the output check compares instead (a training step's parameters after a step).
    `extra` is the note beside the row, or a function making it (called only when the row is reported: the
    compile-time children must not count its work, e.g. a kernel count that runs the pipeline again)."""

    run: Callable[[], Any]
    extra: str | Callable[[], str] = ""
    check: Callable[[], Any] | None = None


@dataclass
class Case:
    workload: str
    name: str
    title: str
    reference: Callable[[], np.ndarray]  # numpy float64 result
    impls: list[tuple[str, str, Callable[[], Impl]]]  # (label, group, factory)
    floor_bytes: int | None = None  # bytes read + written at least
    flops: float | None = None
    exact: bool = False  # the output must equal the reference exactly (copies)


@dataclass
class Settings:
    quick: bool
    threads: int
    threads_given: bool
    min_sample_s: float
    samples: int
    target: str  # tensorir target actually used
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- environment


def thread_hygiene(threads: int | None) -> None:
    """Set the thread environment before any OpenMP runtime (or XLA) is loaded."""
    from ..runtime.c_module import thread_env_defaults

    os.environ.update(thread_env_defaults())
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if threads == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    simd = [s for s in ("avx2", "fma", "avx512f") if s in flags]
    return {"cpu": model, "logical_cpus": os.cpu_count(), "available_cores": available_cores(),
            "simd": simd, "platform": platform.platform()}


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not found"


def module_version(name: str) -> str | None:
    try:
        mod = __import__(name)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return str(getattr(mod, "__version__", "?"))


def thread_pools() -> list[dict[str, Any]]:
    try:
        import threadpoolctl
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
    return [{k: p.get(k) for k in keys if k in p} for p in threadpoolctl.threadpool_info()]


# ---------------------------------------------------------------- timing


def calls_per_sample(run: Callable[[], Any], min_sample_s: float) -> int:
    """Warm up, then the number of calls that makes one sample last >= min_sample_s."""
    run()  # warm-up (the correctness check already ran once)
    t0 = time.perf_counter()
    run()
    one = max(time.perf_counter() - t0, 1e-9)
    return max(1, math.ceil(min_sample_s / one))


def sample(run: Callable[[], Any], n: int) -> float:
    """Seconds per call over one batch of n calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - t0) / n


def rel_error(got: Any, want: np.ndarray) -> float:
    g = np.asarray(got)
    if g.shape != want.shape:
        raise ValueError(f"output shape {g.shape}, expected {want.shape}")
    if want.dtype.kind in "iu":  # indices (argmax): equal or wrong, in any integer type (JAX's int32)
        if g.dtype.kind not in "iu":
            raise ValueError(f"output dtype {g.dtype}, expected an integer type")
        return 0.0 if np.array_equal(g, want) else math.inf
    if g.dtype != np.float32:
        raise ValueError(f"output dtype {g.dtype}, expected float32")
    if not np.all(np.isfinite(g)):
        return math.inf
    denom = float(np.linalg.norm(want))
    diff = float(np.linalg.norm(g.astype(np.float64) - want))
    return diff / denom if denom else diff


def run_case(case: Case, st: Settings) -> list[Row]:
    """Check every implementation against numpy float64, then time the correct ones.

    Samples are taken in rounds, one batch of each implementation per round, so a change in machine load
    during the case hits all rows alike and the ratios between rows stay meaningful.
    """
    want = case.reference()
    rows: list[Row] = []
    timed: list[tuple[Row, Impl]] = []
    for label, group, factory in case.impls:
        row = Row(case.workload, case.name, label, group)
        try:
            impl = factory()
            row.extra = impl.extra() if callable(impl.extra) else impl.extra
            row.rel_err = rel_error((impl.check or impl.run)(), want)
            row.correct = row.rel_err == 0.0 if case.exact else row.rel_err <= RTOL
            if not row.correct:
                row.status = "wrong"
                row.note = f"output differs from numpy float64 (rel.err {row.rel_err:.1e}); not timed"
            else:
                row.calls_per_sample = calls_per_sample(impl.run, st.min_sample_s)
                timed.append((row, impl))
        except Skip as e:
            row.status, row.note = "skipped", str(e)
        except Exception as e:  # noqa: BLE001 - a failing implementation is a row, not the end of the run
            row.status = "error"
            row.note = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            if os.environ.get("TIR_BENCH_TRACEBACK"):
                traceback.print_exc()
        rows.append(row)
    for _ in range(st.samples):
        for row, impl in timed:
            row.samples_s.append(sample(impl.run, row.calls_per_sample))
    for row, _ in timed:
        row.median_s = statistics.median(row.samples_s)
        row.min_s = min(row.samples_s)
    return rows


class Skip(Exception):
    """An implementation that cannot run here (library not installed, target missing)."""


# ---------------------------------------------------------------- the C references

C_SOURCE = r"""
#include <math.h>
#include <string.h>
#include <omp.h>
#include "tir_math.h"

void w1_libm(const float *restrict x, float *restrict y, long n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; ++i) { float v = x[i]; y[i] = expf(-v * v / 2.0f) * sinf(v) + log1pf(fabsf(v)); }
}

void w1_tir(const float *restrict x, float *restrict y, long n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; ++i) {
        float v = x[i]; y[i] = tir_expf(-v * v / 2.0f) * tir_sinf(v) + tir_log1pf(fabsf(v));
    }
}

void w2_memcpy(const float *restrict x, float *restrict y, long n, int nt) {
    #pragma omp parallel num_threads(nt)
    {
        long k = omp_get_num_threads(), t = omp_get_thread_num();
        long chunk = (n + k - 1) / k, lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) memcpy(y + lo, x + lo, (size_t)(hi - lo) * sizeof(float));
    }
}

void w2_loop(const float *restrict x, float *restrict y, long n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < n; ++i) y[i] = x[i];
}

/* C = A B, n x n row-major: i-k-j loops blocked for the caches (64 rows x 256 k x 256 j). */
void w3_gemm(const float *restrict a, const float *restrict b, float *restrict c, long n, int nt) {
    enum { IB = 64, KB = 256, JB = 256 };
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long i0 = 0; i0 < n; i0 += IB) {
        long i1 = i0 + IB < n ? i0 + IB : n;
        memset(c + i0 * n, 0, (size_t)(i1 - i0) * n * sizeof(float));
        for (long k0 = 0; k0 < n; k0 += KB) {
            long k1 = k0 + KB < n ? k0 + KB : n;
            for (long j0 = 0; j0 < n; j0 += JB) {
                long j1 = j0 + JB < n ? j0 + JB : n;
                for (long i = i0; i < i1; ++i) {
                    float *restrict ci = c + i * n;
                    for (long k = k0; k < k1; ++k) {
                        float aik = a[i * n + k];
                        const float *restrict bk = b + k * n;
                        for (long j = j0; j < j1; ++j) ci[j] += aik * bk[j];
                    }
                }
            }
        }
    }
}

/* Row softmax, max subtracted: three passes over each row. */
void w4_softmax(const float *restrict x, float *restrict y, long rows, long cols, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const float *xr = x + r * cols; float *yr = y + r * cols;
        float m = -INFINITY;
        for (long j = 0; j < cols; ++j) m = xr[j] > m ? xr[j] : m;
        float s = 0.0f;
        for (long j = 0; j < cols; ++j) { float e = expf(xr[j] - m); yr[j] = e; s += e; }
        float inv = 1.0f / s;
        for (long j = 0; j < cols; ++j) yr[j] *= inv;
    }
}

/* Row logsumexp, max subtracted: two passes over each row. */
void w4_logsumexp(const float *restrict x, float *restrict y, long rows, long cols, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const float *xr = x + r * cols;
        float m = -INFINITY;
        for (long j = 0; j < cols; ++j) m = xr[j] > m ? xr[j] : m;
        float s = 0.0f;
        for (long j = 0; j < cols; ++j) s += expf(xr[j] - m);
        y[r] = m + logf(s);
    }
}
"""


class CReference:
    """The reference loops, compiled once into a temp dir and loaded with ctypes."""

    def __init__(self, workdir: Path) -> None:
        from ..config import config
        from ..runtime import vector_width

        flags = shlex.split(config.cflags)
        bad = [f for f in flags if f in FORBIDDEN_FLAGS]
        if bad:
            raise RuntimeError(f"config.cflags contains {' '.join(bad)}: the references are never built with it")
        flags += vector_width.flags(flags)  # the width generated code gets (runtime/vector_width.py)
        src = workdir / "tir_bench_ref.c"
        so = workdir / "tir_bench_ref.so"
        src.write_text(C_SOURCE)
        self.command = [config.cc, *flags, *REQUIRED_FLAGS, "-I", str(RUNTIME_DIR), str(src), "-o", str(so), "-lm"]
        proc = subprocess.run(self.command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"C reference build failed: {' '.join(self.command)}\n{proc.stderr[-2000:]}")
        self.lib = ctypes.CDLL(str(so))
        vp, lg, it = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
        for name in ("w1_libm", "w1_tir", "w2_memcpy", "w2_loop"):
            getattr(self.lib, name).argtypes = [vp, vp, lg, it]
        self.lib.w3_gemm.argtypes = [vp, vp, vp, lg, it]
        for name in ("w4_softmax", "w4_logsumexp"):
            getattr(self.lib, name).argtypes = [vp, vp, lg, lg, it]
        for name in ("w1_libm", "w1_tir", "w2_memcpy", "w2_loop", "w3_gemm", "w4_softmax", "w4_logsumexp"):
            getattr(self.lib, name).restype = None

    def unary(self, name: str, x: np.ndarray, nt: int) -> Impl:
        fn = getattr(self.lib, name)
        y = np.empty_like(x)
        px, py, n = x.ctypes.data, y.ctypes.data, x.size

        def run() -> np.ndarray:
            fn(px, py, n, nt)
            return y
        return Impl(run)

    def gemm(self, a: np.ndarray, b: np.ndarray, nt: int) -> Impl:
        c = np.empty_like(a)
        fn, pa, pb, pc, n = self.lib.w3_gemm, a.ctypes.data, b.ctypes.data, c.ctypes.data, a.shape[0]

        def run() -> np.ndarray:
            fn(pa, pb, pc, n, nt)
            return c
        return Impl(run)

    def rows(self, name: str, x: np.ndarray, out_shape: tuple[int, ...], nt: int) -> Impl:
        fn = getattr(self.lib, name)
        y = np.empty(out_shape, np.float32)
        px, py, r, c = x.ctypes.data, y.ctypes.data, x.shape[0], x.shape[1]

        def run() -> np.ndarray:
            fn(px, py, r, c, nt)
            return y
        return Impl(run)


# ---------------------------------------------------------------- peers


class Peers:
    """tensorir, JAX and PyTensor builders; each raises Skip when its library or target is missing."""

    def __init__(self, st: Settings) -> None:
        self.st = st
        self._jax: Any = None
        self._pytensor: Any = None
        self.jax_error: str | None = None
        self.pytensor_error: str | None = None

    # ---- tensorir
    def tensorir(self, build: Callable[[Any], tuple[list[Any], Any]], args: Sequence[np.ndarray]) -> Impl:
        import tensorir
        from tensorir import tensor as T

        inputs, output = build(T)
        f = tensorir.function(inputs, output, target=self.st.target)
        arrays = list(args)
        return Impl(lambda: f(*arrays), extra=f"target={self.st.target}")

    # ---- JAX
    def jax(self) -> Any:
        if self._jax is None and self.jax_error is None:
            try:
                import jax
                import jax.numpy as jnp

                self._jax = (jax, jnp)
            except Exception as e:  # noqa: BLE001
                self.jax_error = f"jax not importable ({type(e).__name__}: {e}); pip install 'jax[cpu]'"
        if self._jax is None:
            raise Skip(self.jax_error)
        return self._jax

    def jax_impl(self, fn: Callable[..., Any], args: Sequence[np.ndarray]) -> Impl:
        jax, jnp = self.jax()
        jf = jax.jit(fn)
        jargs = [jax.device_put(jnp.asarray(a)) for a in args]
        return Impl(lambda: jax.block_until_ready(jf(*jargs)), extra=f"device={jax.devices()[0].platform}")

    # ---- PyTensor
    def pytensor(self) -> Any:
        if self._pytensor is None and self.pytensor_error is None:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    import pytensor
                    import pytensor.tensor as pt
                self._pytensor = (pytensor, pt)
                for w in caught:
                    text = str(w.message).splitlines()[0][:200]
                    self.st.notes.append(f"pytensor import warning: {text}")
            except Exception as e:  # noqa: BLE001
                self.pytensor_error = f"pytensor not importable ({type(e).__name__}: {e}); pip install pytensor"
        if self._pytensor is None:
            raise Skip(self.pytensor_error)
        return self._pytensor

    def pytensor_impl(self, mode: str, build: Callable[[Any], tuple[list[Any], Any]],
                      args: Sequence[np.ndarray]) -> Impl:
        pytensor, pt = self.pytensor()
        if mode == "NUMBA" and module_version("numba") is None:
            raise Skip("numba not installed (pytensor's default NUMBA mode)")
        inputs, output = build(pt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = pytensor.function(inputs, output, mode=mode)
        arrays = list(args)
        nodes = len(f.maker.fgraph.apply_nodes)
        return Impl(lambda: f(*arrays), extra=f"{nodes} node{'s' if nodes != 1 else ''}")


# ---------------------------------------------------------------- workloads


def w1_numpy_out(x: np.ndarray) -> Impl:
    t1, t2, y = np.empty_like(x), np.empty_like(x), np.empty_like(x)

    def run() -> np.ndarray:
        np.multiply(x, x, out=t1)
        np.multiply(t1, np.float32(-0.5), out=t1)
        np.exp(t1, out=t1)
        np.sin(x, out=t2)
        np.multiply(t1, t2, out=y)
        np.abs(x, out=t2)
        np.log1p(t2, out=t2)
        np.add(y, t2, out=y)
        return y
    return Impl(run)


def w1_expr(mod: Any, x: Any) -> Any:
    """W1's expression over numpy, jax.numpy, tensorir's T or PyTensor."""
    return mod.exp(-x * x / 2) * mod.sin(x) + mod.log1p(mod.abs(x))


def w1_cases(st: Settings, cref: CReference | None, peers: Peers, sizes: Sequence[int]) -> list[Case]:
    cases = []
    rng = np.random.default_rng(0)
    nt = st.threads
    for n in sizes:
        x = (rng.standard_normal(n) * 3).astype(np.float32)

        def ref(x: np.ndarray = x) -> np.ndarray:
            return w1_expr(np, x.astype(np.float64))

        def tir_graph(T: Any) -> tuple[list[Any], Any]:
            v = T.fvector("x")
            return [v], w1_expr(T, v)

        def jax_fn(v: Any) -> Any:
            return w1_expr(peers.jax()[1], v)

        impls = w_common_impls(
            numpy=[("numpy eager", lambda x=x: Impl(lambda: w1_expr(np, x))),
                   ("numpy out= (no temporaries)", lambda x=x: w1_numpy_out(x))],
            cref=cref and [(f"C loop libm {threads_label(k)}", lambda k=k, x=x: cref.unary("w1_libm", x, k))
                           for k in thread_counts(nt)]
            + [(f"C loop tir_math.h {threads_label(k)} (info)", lambda k=k, x=x: cref.unary("w1_tir", x, k))
               for k in thread_counts(nt)],
            peers=peers, st=st, tir_graph=tir_graph, jax_fn=jax_fn, args=[x])
        big = n >= 100_000
        cases.append(Case("W1", f"W1 n={n}", f"W1 fused elementwise exp(-x*x/2)*sin(x) + log1p(abs(x)), {n:,} float32"
                          + ("" if big else " (per-call overhead)"), ref, impls,
                          floor_bytes=8 * n if big else None))
    return cases


def thread_counts(nt: int) -> list[int]:
    return [1] if nt <= 1 else [1, nt]


def threads_label(k: int) -> str:
    return f"{k} thread{'s (OpenMP)' if k > 1 else ''}"


def w_common_impls(numpy: list[tuple[str, Callable[[], Impl]]], cref: Any, peers: Peers, st: Settings,
                   tir_graph: Callable[[Any], tuple[list[Any], Any]], jax_fn: Callable[..., Any],
                   args: list[np.ndarray], pytensor_graph: Callable[[Any], tuple[list[Any], Any]] | None = None,
                   ) -> list[tuple[str, str, Callable[[], Impl]]]:
    out: list[tuple[str, str, Callable[[], Impl]]] = [(label, "numpy", f) for label, f in numpy]
    if cref is None:
        out.append(("C reference", "c-ref", no_cref))
    else:
        out.extend((label, "c-ref", f) for label, f in cref)
    tir_label = "tensorir C" if st.target == "c" else f"tensorir {st.target} (C target not available)"
    out.append((tir_label, "tensorir", lambda: peers.tensorir(tir_graph, args)))
    out.append(("jax.jit", "jax", lambda: peers.jax_impl(jax_fn, args)))
    pg = pytensor_graph or tir_graph  # the Theano names are mostly shared
    out.append(("pytensor C (CVM)", "pytensor", lambda: peers.pytensor_impl("CVM", pg, args)))
    out.append(("pytensor NUMBA (default mode)", "pytensor", lambda: peers.pytensor_impl("NUMBA", pg, args)))
    return out


def no_cref() -> Impl:
    raise Skip("the C reference did not build (see notes)")


def w2_cases(st: Settings, cref: CReference | None, peers: Peers, n: int) -> list[Case]:
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    y = np.empty_like(x)

    def copyto() -> Impl:
        def run() -> np.ndarray:
            np.copyto(y, x)
            return y
        return Impl(run)

    def tir_graph(T: Any) -> tuple[list[Any], Any]:
        v = T.fvector("x")
        return [v], v  # no copy op in the API: returning the input makes a fresh result

    def pt_graph(pt: Any) -> tuple[list[Any], Any]:
        v = pt.fvector("x")
        return [v], v.copy()

    def jax_fn(v: Any) -> Any:
        _, jnp = peers.jax()
        return jnp.copy(v)

    nt = st.threads
    impls = w_common_impls(
        numpy=[("numpy copyto (preallocated)", copyto), ("numpy np.copy", lambda: Impl(lambda: np.copy(x)))],
        cref=cref and [(f"C memcpy {threads_label(k)}", lambda k=k: cref.unary("w2_memcpy", x, k))
                       for k in thread_counts(nt)]
        + [(f"C loop {threads_label(k)}", lambda k=k: cref.unary("w2_loop", x, k)) for k in thread_counts(nt)],
        peers=peers, st=st, tir_graph=tir_graph, jax_fn=jax_fn, args=[x], pytensor_graph=pt_graph)
    for i, (label, group, f) in enumerate(impls):
        if group == "tensorir":
            impls[i] = (label + " (returns its input)", group, f)
    return [Case("W2", f"W2 n={n}", f"W2 copy of {n:,} float32 ({8 * n / 1e6:.0f} MB read + written)",
                 lambda: x.astype(np.float64), impls, floor_bytes=8 * n, exact=True)]


def w3_cases(st: Settings, cref: CReference | None, peers: Peers, sizes: Sequence[int]) -> list[Case]:
    cases = []
    for n in sizes:
        rng = np.random.default_rng(n)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)

        def ref(a: np.ndarray = a, b: np.ndarray = b) -> np.ndarray:
            return a.astype(np.float64) @ b.astype(np.float64)

        def tir_graph(T: Any) -> tuple[list[Any], Any]:
            p, q = T.fmatrix("a"), T.fmatrix("b")
            return [p, q], T.dot(p, q)

        def jax_fn(p: Any, q: Any) -> Any:
            _, jnp = peers.jax()
            return jnp.dot(p, q)

        impls = w_common_impls(
            numpy=[("numpy matmul (BLAS)", lambda a=a, b=b: Impl(lambda: a @ b))],
            cref=cref and [(f"C loop blocked i-k-j {threads_label(st.threads)}",
                            lambda a=a, b=b: cref.gemm(a, b, st.threads))],
            peers=peers, st=st, tir_graph=tir_graph, jax_fn=jax_fn, args=[a, b])
        cases.append(Case("W3", f"W3 n={n}", f"W3 matrix product {n}x{n} @ {n}x{n} float32", ref, impls,
                          flops=2.0 * n ** 3))
    return cases


def w4_cases(st: Settings, cref: CReference | None, peers: Peers, n: int) -> list[Case]:
    x = np.random.default_rng(4).uniform(-150, 150, (n, n)).astype(np.float32)
    x64 = x.astype(np.float64)
    nt = st.threads

    def softmax_ref() -> np.ndarray:
        e = np.exp(x64 - x64.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def lse_ref() -> np.ndarray:
        m = x64.max(axis=1)
        return m + np.log(np.exp(x64 - m[:, None]).sum(axis=1))

    def np_softmax() -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def np_lse() -> np.ndarray:
        m = x.max(axis=1)
        return m + np.log(np.exp(x - m[:, None]).sum(axis=1))

    def tir_softmax(T: Any) -> tuple[list[Any], Any]:
        v = T.fmatrix("x")
        return [v], T.softmax(v, axis=-1)

    def tir_lse(T: Any) -> tuple[list[Any], Any]:
        v = T.fmatrix("x")
        return [v], T.logsumexp(v, axis=-1)

    def pt_softmax(pt: Any) -> tuple[list[Any], Any]:
        v = pt.fmatrix("x")
        return [v], pt.special.softmax(v, axis=-1)

    def pt_lse(pt: Any) -> tuple[list[Any], Any]:
        v = pt.fmatrix("x")
        return [v], pt.logsumexp(v, axis=-1)

    def jax_softmax(v: Any) -> Any:
        jax, _ = peers.jax()
        return jax.nn.softmax(v, axis=-1)

    def jax_lse(v: Any) -> Any:
        jax, _ = peers.jax()
        return jax.nn.logsumexp(v, axis=-1)

    sm = w_common_impls(
        numpy=[("numpy eager", lambda: Impl(np_softmax))],
        cref=cref and [(f"C 3-pass row loop {threads_label(k)}", lambda k=k: cref.rows("w4_softmax", x, x.shape, k))
                       for k in thread_counts(nt)],
        peers=peers, st=st, tir_graph=tir_softmax, jax_fn=jax_softmax, args=[x], pytensor_graph=pt_softmax)
    lse = w_common_impls(
        numpy=[("numpy eager", lambda: Impl(np_lse))],
        cref=cref and [(f"C 2-pass row loop {threads_label(k)}", lambda k=k: cref.rows("w4_logsumexp", x, (n,), k))
                       for k in thread_counts(nt)],
        peers=peers, st=st, tir_graph=tir_lse, jax_fn=jax_lse, args=[x], pytensor_graph=pt_lse)
    return [Case("W4", f"W4 softmax {n}x{n}", f"W4 row softmax of {n}x{n} float32 (|x| <= 150)", softmax_ref, sm,
                 floor_bytes=8 * n * n),
            Case("W4", f"W4 logsumexp {n}x{n}", f"W4 row logsumexp of {n}x{n} float32 (|x| <= 150)", lse_ref, lse,
                 floor_bytes=4 * n * n + 4 * n)]


# (name, shape, transposed input, reduction, axis) of W5; `None` axis: the full reduction
W5_REDUCTIONS: list[tuple[str, tuple[int, ...], bool, str, int | None]] = [
    ("sum axis 0 of {}", (4096, 4096), False, "sum", 0),
    ("max axis 0 of {}", (4096, 4096), False, "max", 0),
    ("mean axis 0 of {}", (4096, 4096), False, "mean", 0),
    ("sum axis 0 of {}", (100_000, 64), False, "sum", 0),
    ("sum axis 0 of {} (bias gradient)", (256, 512), False, "sum", 0),
    ("max axis 1 of {}", (4096, 4096), False, "max", 1),
    ("sum(x.T, axis=1) of {}", (4096, 4096), True, "sum", 1),
    ("full sum of {}", (10_000_000,), False, "sum", None),
    ("full sum of {}", (4096, 4096), False, "sum", None),
    ("argmax axis 1 of {}", (4096, 4096), False, "argmax", 1),
    ("full argmax of {}", (4096, 4096), False, "argmax", None),
    ("var axis 0 of {}", (4096, 4096), False, "var", 0),
    ("softmax axis 0 of {}", (4096, 4096), False, "softmax", 0),
]


def _softmax(mod: Any, v: Any, axis: int | None) -> Any:
    """softmax for the modules that have none (numpy, jax.numpy: jax.nn.softmax computes the same)."""
    e = mod.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def w5_cases(st: Settings, peers: Peers) -> list[Case]:
    """Reductions over each axis and layout: numpy, tensorir and JAX; the floor reads the input once."""
    cases = []
    for name, shape, transposed, op, axis in W5_REDUCTIONS:
        if st.quick:
            shape = tuple(max(1, d // 16) for d in shape)
        x = np.random.default_rng(5).uniform(-1, 1, shape).astype(np.float32)
        arg = x.T if transposed else x
        dims = "x".join(str(d) for d in shape)

        def reduce(mod: Any, v: Any, op: str = op, axis: int | None = axis) -> Any:
            fn = getattr(mod, op, None)  # tensorir's softmax; numpy and jax.numpy have none
            return fn(v, axis=axis) if fn is not None else _softmax(mod, v, axis)

        def tir_graph(T: Any, ndim: int = len(shape), reduce: Callable[..., Any] = reduce) -> tuple[list[Any], Any]:
            v = T.fmatrix("x") if ndim == 2 else T.fvector("x")
            return [v], reduce(T, v)

        def jax_fn(v: Any, reduce: Callable[..., Any] = reduce) -> Any:
            _, jnp = peers.jax()
            return reduce(jnp, v)

        impls: list[tuple[str, str, Callable[[], Impl]]] = [
            ("numpy eager", "numpy", lambda a=arg, reduce=reduce: Impl(lambda: reduce(np, a))),
            ("tensorir C" if st.target == "c" else f"tensorir {st.target} (C target not available)", "tensorir",
             lambda a=arg, g=tir_graph: peers.tensorir(g, [a])),
            ("jax.jit", "jax", lambda a=arg, f=jax_fn: peers.jax_impl(f, [a]))]
        out_size = x.size if op == "softmax" else 1 if axis is None else x.size // shape[axis]
        out_bytes = 8 if op == "argmax" else 4
        cases.append(Case("W5", f"W5 {name.format(dims)}", f"W5 {name.format(dims)} float32",
                          lambda a=arg, reduce=reduce: np.asarray(reduce(np, a.astype(np.float64))), impls,
                          floor_bytes=4 * x.size + out_bytes * out_size))
    return cases


# ---------------------------------------------------------------- W6: the layout sweep

class Api:
    """The calls whose spelling differs between numpy, jax.numpy and tensorir's `T` (all else is shared)."""

    def __init__(self, kind: str, mod: Any) -> None:
        self.kind, self.mod = kind, mod

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mod, name)

    def permute(self, v: Any, axes: tuple[int, ...]) -> Any:
        return v.dimshuffle(*axes) if self.kind == "tensorir" else self.mod.transpose(v, axes)

    def logsumexp(self, v: Any, axis: int) -> Any:
        if self.kind == "tensorir":
            return self.mod.logsumexp(v, axis=axis)
        m = v.max(axis=axis, keepdims=True)
        return (m + self.mod.log(self.mod.exp(v - m).sum(axis=axis, keepdims=True))).squeeze(axis)

    def softmax(self, v: Any, axis: int) -> Any:
        return self.mod.softmax(v, axis=axis) if self.kind == "tensorir" else _softmax(self.mod, v, axis)

    def log_softmax(self, v: Any, axis: int) -> Any:
        if self.kind == "tensorir":
            return self.mod.log_softmax(v, axis=axis)
        return v - self.logsumexp(v, axis)[(slice(None),) * (axis % v.ndim) + (None,)]

    def layernorm(self, v: Any) -> Any:
        m = v.mean(axis=1, keepdims=True)
        return (v - m) / self.mod.sqrt(((v - m) ** 2).mean(axis=1, keepdims=True) + 1e-5)

    def relu(self, v: Any) -> Any:
        return self.mod.maximum(v, 0)


def layout(rng: np.random.Generator, shape: tuple[int, ...], kind: str, lo: float = -1.0) -> np.ndarray:
    """A float32 input of logical `shape` in memory layout `kind`: C, F (Fortran order), T (a transposed
    view of a C array), rev (every axis reversed), slice (every other column of a wider array)."""
    def draw(s: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(lo, 1.0, s).astype(np.float32)
    if kind == "C":
        return draw(shape)
    if kind == "F":
        return np.asfortranarray(draw(shape))
    if kind == "T":
        return draw(shape[::-1]).T
    if kind == "rev":
        return draw(shape)[(slice(None, None, -1),) * len(shape)]
    if kind == "slice":
        return draw(shape[:-1] + (2 * shape[-1],))[..., ::2]
    raise ValueError(kind)


# (name, [(shape, layout)], function of (Api, *inputs)[, flop count of the inputs]). 4096x4096 unless stated;
# without a flop count the floor reads every input once and writes the output once.
N6 = 4096
W6_CASES: list[tuple[Any, ...]] = [
    ("min axis 0", [((N6, N6), "C")], lambda a, x: a.min(x, axis=0)),
    ("sum axis 1 of an F-order input", [((N6, N6), "F")], lambda a, x: a.sum(x, axis=1)),
    ("sum axis 0 of a reversed input", [((N6, N6), "rev")], lambda a, x: a.sum(x, axis=0)),
    ("sum axis 0 of a sliced input x[:, ::2]", [((N6, N6 // 2), "slice")], lambda a, x: a.sum(x, axis=0)),
    ("sum axis 0 of 256^3", [((256, 256, 256), "C")], lambda a, x: a.sum(x, axis=0)),
    ("sum axis 1 of 256^3", [((256, 256, 256), "C")], lambda a, x: a.sum(x, axis=1)),
    ("sum axis 2 of an F-order 256^3", [((256, 256, 256), "F")], lambda a, x: a.sum(x, axis=2)),
    ("argmax axis 0", [((N6, N6), "C")], lambda a, x: a.argmax(x, axis=0)),
    ("max over all", [((N6, N6), "C")], lambda a, x: a.max(x)),
    ("log_softmax axis 0", [((N6, N6), "C")], lambda a, x: a.log_softmax(x, 0)),
    ("logsumexp axis 0", [((N6, N6), "C")], lambda a, x: a.logsumexp(x, 0)),
    ("x.T + 0", [((N6, N6), "C")], lambda a, x: x.T + 0),
    ("dimshuffle(2, 0, 1) + 0 of 256^3", [((256, 256, 256), "C")], lambda a, x: a.permute(x, (2, 0, 1)) + 0),
    ("x * 2 of an F-order input", [((N6, N6), "F")], lambda a, x: x * 2),
    ("exp(x.T)", [((N6, N6), "C")], lambda a, x: a.exp(x.T)),
    ("x * 2 of a reversed input", [((N6, N6), "rev")], lambda a, x: x * 2),
    ("x * 2 of a sliced input x[:, ::2]", [((N6, N6 // 2), "slice")], lambda a, x: x * 2),
    ("x + b of an F-order input", [((N6, N6), "F"), ((N6,), "C")], lambda a, x, b: x + b),
    ("x + y of a C- and an F-order input", [((N6, N6), "C"), ((N6, N6), "F")], lambda a, x, y: x + y),
    ("x ** 2", [((N6, N6), "C")], lambda a, x: x ** 2),
    ("abs(x) ** 0.5", [((N6, N6), "C")], lambda a, x: a.abs(x) ** 0.5),
    ("x ** -1", [((N6, N6), "C")], lambda a, x: x ** -1),
    ("x ** 3", [((N6, N6), "C")], lambda a, x: x ** 3),
    ("mean((x - y) ** 2)", [((N6, N6), "C"), ((N6, N6), "C")], lambda a, x, y: a.mean((x - y) ** 2)),
    ("layernorm over axis 1", [((N6, N6), "C")], lambda a, x: a.layernorm(x)),
    ("batched matmul 64x128x128", [((64, 128, 128), "C"), ((64, 128, 128), "C")], lambda a, x, y: a.matmul(x, y),
     lambda x, y: 2.0 * x.size * y.shape[-1]),
    ("256x784 @ 784x512", [((256, 784), "C"), ((784, 512), "C")], lambda a, x, w: a.dot(x, w),
     lambda x, w: 2.0 * x.size * w.shape[1]),
    ("MLP forward 256x784 -> 512 -> 10", [((256, 784), "C"), ((784, 512), "C"), ((512,), "C"), ((512, 10), "C")],
     lambda a, x, w1, b1, w2: a.softmax(a.dot(a.relu(a.dot(x, w1) + b1), w2), 1),
     lambda x, w1, b1, w2: 2.0 * x.shape[0] * w1.shape[1] * (x.shape[1] + w2.shape[1])),
]


def w6_cases(st: Settings, peers: Peers) -> list[Case]:
    """Ops whose loops must follow the operands' strides, not their logical order: numpy, tensorir, JAX."""
    cases = []
    for name, specs, fn, *count in W6_CASES:
        rng = np.random.default_rng(6)
        if st.quick:
            specs = [(tuple(max(1, d // 8) for d in shape), kind) for shape, kind in specs]
        args = [layout(rng, shape, kind) for shape, kind in specs]
        flops = count[0](*args) if count else None

        def tir_graph(T: Any, specs: Any = specs, fn: Callable[..., Any] = fn) -> tuple[list[Any], Any]:
            vs = [T.tensor("float32", shape=(None,) * len(shape), name=f"x{i}") for i, (shape, _) in enumerate(specs)]
            return vs, fn(Api("tensorir", T), *vs)

        def jax_fn(*vs: Any, fn: Callable[..., Any] = fn) -> Any:
            _, jnp = peers.jax()
            return fn(Api("jax", jnp), *vs)

        def ref(args: list[np.ndarray] = args, fn: Callable[..., Any] = fn) -> np.ndarray:
            return np.asarray(fn(Api("numpy", np), *(a.astype(np.float64) for a in args)))

        out = np.asarray(fn(Api("numpy", np), *args))
        impls: list[tuple[str, str, Callable[[], Impl]]] = [
            ("numpy eager", "numpy", lambda args=args, fn=fn: Impl(lambda: fn(Api("numpy", np), *args))),
            ("tensorir C" if st.target == "c" else f"tensorir {st.target} (C target not available)", "tensorir",
             lambda args=args, g=tir_graph: peers.tensorir(g, args)),
            ("jax.jit", "jax", lambda args=args, f=jax_fn: peers.jax_impl(f, args))]
        dims = ", ".join(f"{'x'.join(map(str, a.shape))}{'' if k == 'C' else ' ' + k}"
                         for a, (_, k) in zip(args, specs))
        cases.append(Case("W6", f"W6 {name}", f"W6 {name} ({dims}) float32", ref, impls,
                          floor_bytes=None if flops else sum(a.nbytes for a in args) + out.nbytes, flops=flops))
    return cases


# ---------------------------------------------------------------- W7: training steps (autodiff + updates)

LEARNING_RATE = 0.1


def _log_softmax(mod: Any, z: Any) -> Any:
    """log_softmax over axis 1 in the calls numpy, jax.numpy, tensorir's T and PyTensor share."""
    m = z.max(axis=1, keepdims=True)
    return z - m - mod.log(mod.exp(z - m).sum(axis=1, keepdims=True))


def logreg_cost(mod: Any, p: dict[str, Any], x: Any, y: Any) -> Any:
    """Theano's tutorial logistic regression: mean cross-entropy + 0.01 * |w|^2."""
    p1 = 1 / (1 + mod.exp(-(mod.dot(x, p["w"]) + p["b"])))
    return (-y * mod.log(p1) - (1 - y) * mod.log(1 - p1)).mean() + 0.01 * (p["w"] ** 2).sum()


def mlp_cost(mod: Any, p: dict[str, Any], x: Any, t: Any) -> Any:
    """Two tanh hidden layers and a softmax cross-entropy against one-hot targets."""
    h1 = mod.tanh(mod.dot(x, p["W1"]) + p["b1"])
    h2 = mod.tanh(mod.dot(h1, p["W2"]) + p["b2"])
    return -(t * _log_softmax(mod, mod.dot(h2, p["W3"]) + p["b3"])).sum(axis=1).mean()


def logreg_grads(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The hand-written gradient of logreg_cost (numpy, any float dtype)."""
    p1 = 1 / (1 + np.exp(-(x @ p["w"] + p["b"])))
    gz = (p1 - y) / x.shape[0]
    return {"w": x.T @ gz + 0.02 * p["w"], "b": gz.sum()}


def mlp_grads(p: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """The hand-written gradient of mlp_cost (numpy, any float dtype)."""
    h1 = np.tanh(x @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    z = h2 @ p["W3"] + p["b3"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = (e / e.sum(axis=1, keepdims=True) - t) / x.shape[0]
    da2 = (dz @ p["W3"].T) * (1 - h2 * h2)
    da1 = (da2 @ p["W2"].T) * (1 - h1 * h1)
    return {"W1": x.T @ da1, "b1": da1.sum(0), "W2": h1.T @ da2, "b2": da2.sum(0), "W3": h2.T @ dz, "b3": dz.sum(0)}


def w7_models(quick: bool) -> list[tuple[str, Callable[..., Any], Callable[..., Any], dict[str, np.ndarray],
                                         np.ndarray, np.ndarray]]:
    """(name, cost, numpy gradient, initial float32 parameters, x, target) of each model."""
    rng = np.random.default_rng(7)
    n, d = (500, 98) if quick else (4000, 784)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    logreg = {"w": (rng.standard_normal(d) * 0.01).astype(np.float32), "b": np.float32(0.0)}
    batch, sizes = (32, (98, 64, 64, 10)) if quick else (256, (784, 512, 512, 10))
    xm = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    tm = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]
    mlp: dict[str, np.ndarray] = {}
    for k, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
        mlp[f"W{k}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        mlp[f"b{k}"] = np.zeros(b, np.float32)
    dims = "x".join(map(str, x.shape))
    return [(f"logistic regression SGD step ({dims})", logreg_cost, logreg_grads, logreg, x, y),
            (f"MLP SGD step (batch {batch}, {'-'.join(map(str, sizes))}, tanh, softmax cross-entropy)", mlp_cost,
             mlp_grads, mlp, xm, tm)]


def _flat(values: Sequence[Any]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v)) for v in values])


def compiled_calls(f: Any) -> str:
    """What one call of tensorir function `f` runs, to set beside PyTensor's node count: its kernel launches
    and library (BLAS) calls, counted in the IR after `outline-kernels` (targets without that stage: '')."""
    from tensorir.dialects.kernel import LaunchOp
    from tensorir.dialects.lib import BlasOp
    from tensorir.frontend.parser import parse

    if not any(s.split("{", 1)[0] == "outline-kernels" for s in f.stages):
        return ""
    ops = list(parse(f.ir("outline-kernels")).walk())
    kernels, calls = sum(isinstance(o, LaunchOp) for o in ops), sum(isinstance(o, BlasOp) for o in ops)
    return f"{kernels} kernel{'s' * (kernels != 1)} + {calls} library call{'s' * (calls != 1)}"


def w7_cases(st: Settings, peers: Peers) -> list[Case]:
    """One SGD step (gradient and update of every parameter) per call: hand-written numpy, tensorir
    (tensorir.grad, shared variables, updates), PyTensor (pytensor.grad, shared, updates) and JAX
    (jax.grad + jit, parameters donated). Checked: the parameters after one step from the same start,
    against the hand-written step in float64."""
    cases = []
    for name, cost, grads, init, x, t in w7_models(st.quick):
        names = list(init)

        def reference(init: dict[str, np.ndarray] = init, grads: Callable[..., Any] = grads, x: np.ndarray = x,
                      t: np.ndarray = t) -> np.ndarray:
            p = {k: np.asarray(v, np.float64) for k, v in init.items()}
            g = grads(p, x.astype(np.float64), t.astype(np.float64))
            return _flat([p[k] - LEARNING_RATE * g[k] for k in p])

        def numpy_impl(init: dict[str, np.ndarray] = init, grads: Callable[..., Any] = grads, x: np.ndarray = x,
                       t: np.ndarray = t) -> Impl:
            p = {k: np.array(v) for k, v in init.items()}

            def step() -> dict[str, np.ndarray]:
                g = grads(p, x, t)
                for k in p:
                    p[k] -= np.float32(LEARNING_RATE) * g[k]
                return p
            return Impl(step, check=lambda: _flat(list(step().values())))

        def tir_impl(init: dict[str, np.ndarray] = init, cost: Callable[..., Any] = cost, x: np.ndarray = x,
                     t: np.ndarray = t, names: list[str] = names) -> Impl:
            import tensorir
            from tensorir import tensor as T

            shared = {k: tensorir.shared(v, name=k) for k, v in init.items()}
            xv = T.tensor("float32", shape=(None,) * x.ndim, name="x")
            tv = T.tensor("float32", shape=(None,) * t.ndim, name="t")
            c = cost(T, shared, xv, tv)
            gs = tensorir.grad(c, [shared[k] for k in names])
            f = tensorir.function([xv, tv], c, target=st.target,
                                  updates=[(shared[k], shared[k] - np.float32(LEARNING_RATE) * g)
                                           for k, g in zip(names, gs)])

            def check() -> np.ndarray:
                f(x, t)
                return _flat([shared[k].get_value(borrow=True) for k in names])
            return Impl(lambda: f(x, t), extra=lambda: f"target={st.target}, {compiled_calls(f)}", check=check)

        def pytensor_impl(init: dict[str, np.ndarray] = init, cost: Callable[..., Any] = cost, x: np.ndarray = x,
                          t: np.ndarray = t, names: list[str] = names) -> Impl:
            pytensor, pt = peers.pytensor()
            shared = {k: pytensor.shared(v, name=k) for k, v in init.items()}
            xv = pt.tensor("x", dtype="float32", shape=(None,) * x.ndim)
            tv = pt.tensor("t", dtype="float32", shape=(None,) * t.ndim)
            c = cost(pt, shared, xv, tv)
            gs = pytensor.grad(c, [shared[k] for k in names])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = pytensor.function([xv, tv], c, mode="CVM", updates=[
                    (shared[k], shared[k] - np.float32(LEARNING_RATE) * g) for k, g in zip(names, gs)])

            def check() -> np.ndarray:
                f(x, t)
                return _flat([shared[k].get_value(borrow=True) for k in names])
            nodes = len(f.maker.fgraph.apply_nodes)
            return Impl(lambda: f(x, t), extra=f"{nodes} nodes", check=check)

        def jax_impl(init: dict[str, np.ndarray] = init, cost: Callable[..., Any] = cost, x: np.ndarray = x,
                     t: np.ndarray = t, names: list[str] = names) -> Impl:
            jax, jnp = peers.jax()

            def step(p: dict[str, Any], xb: Any, tb: Any) -> tuple[dict[str, Any], Any]:
                c, g = jax.value_and_grad(lambda q: cost(jnp, q, xb, tb))(p)
                return {k: p[k] - LEARNING_RATE * g[k] for k in p}, c
            jstep = jax.jit(step, donate_argnums=0)
            state = {"p": {k: jax.device_put(jnp.asarray(v)) for k, v in init.items()}}
            jx, jt = jax.device_put(jnp.asarray(x)), jax.device_put(jnp.asarray(t))

            def run() -> Any:
                state["p"], c = jstep(state["p"], jx, jt)
                return c.block_until_ready()

            def check() -> np.ndarray:
                run()
                return _flat([np.asarray(state["p"][k]) for k in names])
            return Impl(run, extra=f"device={jax.devices()[0].platform}", check=check)

        impls: list[tuple[str, str, Callable[[], Impl]]] = [
            ("numpy, hand-written gradient", "numpy", numpy_impl),
            ("tensorir C" if st.target == "c" else f"tensorir {st.target} (C target not available)", "tensorir",
             tir_impl),
            ("jax.jit(jax.grad)", "jax", jax_impl),
            ("pytensor C (CVM)", "pytensor", pytensor_impl)]
        cases.append(Case("W7", f"W7 {name.split(' (')[0]}", f"W7 {name}, float32", reference, impls))
    return cases


# ---------------------------------------------------------------- W9: a recurrent loop (scan)


def w9_data(quick: bool) -> dict[str, np.ndarray]:
    """x (steps, batch, input), W (hidden, hidden), U (input, hidden), h0 (batch, hidden), float32."""
    steps, batch, hidden, inputs = (10, 8, 32, 32) if quick else (100, 32, 256, 256)
    rng = np.random.default_rng(9)
    return {"x": rng.standard_normal((steps, batch, inputs)).astype(np.float32),
            "W": (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32),
            "U": (rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32),
            "h0": np.zeros((batch, hidden), np.float32)}


def rnn_forward(x: np.ndarray, W: np.ndarray, U: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """Every h_t of h_t = tanh(h_(t-1) W + x_t U), stacked (numpy, any float dtype)."""
    hs = np.empty((x.shape[0], *h0.shape), h0.dtype)
    h = h0
    for t in range(x.shape[0]):
        h = np.tanh(h @ W + x[t] @ U)
        hs[t] = h
    return hs


def rnn_gradient(x: np.ndarray, W: np.ndarray, U: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """sum(h), d/dW and d/dU of it by hand-written backpropagation through time, flattened."""
    hs = rnn_forward(x, W, U, h0)
    dW, dU, dh = np.zeros_like(W), np.zeros_like(U), np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        dz = (1 + dh) * (1 - hs[t] * hs[t])
        dW += (hs[t - 1] if t else h0).T @ dz
        dU += x[t].T @ dz
        dh = dz @ W.T
    return _flat([hs.sum(), dW, dU])


def w9_cases(st: Settings, peers: Peers) -> list[Case]:
    """The RNN forward, and forward with gradient: numpy loops, tensorir.scan (+ tensorir.grad),
    PyTensor's scan (+ pytensor.grad, CVM) and jax.lax.scan (+ jax.value_and_grad, jit)."""
    data = w9_data(st.quick)
    args = [data[k] for k in ("x", "W", "U", "h0")]
    steps, batch, inputs = data["x"].shape
    dims = f"{steps} steps, batch {batch}, hidden {data['W'].shape[0]}, input {inputs}"

    def tir(grad: bool) -> Impl:
        import tensorir
        from tensorir import tensor as T

        x, W, U, h0 = (T.tensor("float32", shape=(None,) * n, name=k) for k, n in (("x", 3), ("W", 2), ("U", 2),
                                                                                   ("h0", 2)))
        hs, _ = tensorir.scan(lambda xt, h, W, U: T.tanh(h.dot(W) + xt.dot(U)), sequences=x, outputs_info=h0,
                              non_sequences=[W, U])
        cost = hs.sum()
        f = tensorir.function([x, W, U, h0], [cost, *tensorir.grad(cost, [W, U])] if grad else hs,
                              target=st.target)
        run = (lambda: f(*args)) if not grad else (lambda: _flat(f(*args)))
        return Impl(run, extra=lambda: f"target={st.target}, {compiled_calls(f)}")

    def pyt(grad: bool) -> Impl:
        pytensor, pt = peers.pytensor()
        x, W, U, h0 = (pt.tensor(k, dtype="float32", shape=(None,) * n) for k, n in (("x", 3), ("W", 2), ("U", 2),
                                                                                    ("h0", 2)))
        hs, _ = pytensor.scan(lambda xt, h, W, U: pt.tanh(h.dot(W) + xt.dot(U)), sequences=x, outputs_info=h0,
                              non_sequences=[W, U])
        cost = hs.sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = pytensor.function([x, W, U, h0], [cost, *pytensor.grad(cost, [W, U])] if grad else hs, mode="CVM")
        nodes = len(f.maker.fgraph.apply_nodes)
        run = (lambda: f(*args)) if not grad else (lambda: _flat(f(*args)))
        return Impl(run, extra=f"{nodes} nodes")

    def jx(grad: bool) -> Impl:
        jax, jnp = peers.jax()

        def forward(x: Any, W: Any, U: Any, h0: Any) -> Any:
            def step(h: Any, xt: Any) -> tuple[Any, Any]:
                h = jnp.tanh(h @ W + xt @ U)
                return h, h
            return jax.lax.scan(step, h0, x)[1]

        def with_grad(x: Any, W: Any, U: Any, h0: Any) -> Any:
            cost, (gW, gU) = jax.value_and_grad(lambda W, U: forward(x, W, U, h0).sum(), argnums=(0, 1))(W, U)
            return cost, gW, gU
        jf = jax.jit(with_grad if grad else forward)
        jargs = [jax.device_put(jnp.asarray(a)) for a in args]
        run = (lambda: jax.block_until_ready(jf(*jargs))) if not grad else (
            lambda: _flat([np.asarray(v) for v in jax.block_until_ready(jf(*jargs))]))
        return Impl(run, extra=f"device={jax.devices()[0].platform}")

    cases = []
    for grad in (False, True):
        label = "forward and gradient" if grad else "forward"
        impls: list[tuple[str, str, Callable[[], Impl]]] = [
            ("numpy loop" + (", hand-written BPTT" if grad else ""), "numpy",
             lambda grad=grad: Impl(lambda: (rnn_gradient if grad else rnn_forward)(*args))),
            ("tensorir C scan" if st.target == "c" else f"tensorir {st.target} scan (C target not available)",
             "tensorir", lambda grad=grad: tir(grad)),
            ("jax.lax.scan + jit" + (" + grad" if grad else ""), "jax", lambda grad=grad: jx(grad)),
            ("pytensor C (CVM) scan" + (" + grad" if grad else ""), "pytensor", lambda grad=grad: pyt(grad))]
        def reference(grad: bool = grad) -> np.ndarray:
            return (rnn_gradient if grad else rnn_forward)(*(a.astype(np.float64) for a in args))
        flops = 2.0 * steps * batch * data["W"].shape[0] * (data["W"].shape[0] + inputs) * (3 if grad else 1)
        cases.append(Case("W9", f"W9 RNN {label}", f"W9 RNN {label} ({dims}), float32", reference, impls,
                          flops=flops))
    return cases


# ---------------------------------------------------------------- W8: compile time as the graph grows

W8_CHAINS = (10, 100, 400)
W8_WIDE_OUTPUTS = 50


def sin_tanh_chain(mod: Any, x: Any, n: int) -> Any:
    """n elementwise ops on x, sin and tanh in turn."""
    for k in range(n):
        x = mod.sin(x) if k % 2 == 0 else mod.tanh(x)
    return x


def wide_graph(mod: Any, a: Any, b: Any) -> list[Any]:
    """W8_WIDE_OUTPUTS outputs sum(exp(a*k)*b, axis=1) + max(a-b, axis=0).sum(), k = 1, 2, ..."""
    return [(mod.exp(a * k) * b).sum(axis=1) + (a - b).max(axis=0).sum() for k in range(1, W8_WIDE_OUTPUTS + 1)]


# graph id -> the case name of its rows; the W7 graphs' names are W7's case names.
W8_GRAPHS = {**{f"chain{n}": f"chain of {n} ops (sin, tanh)" for n in W8_CHAINS},
             "wide": f"wide: {W8_WIDE_OUTPUTS} outputs of sum(exp(a*k)*b, axis=1) + max(a-b, axis=0).sum()",
             "W1": "W1 exp(-x*x/2)*sin(x) + log1p(abs(x))",
             "logreg": "W7 logistic regression SGD step", "mlp": "W7 MLP SGD step"}
W7_GRAPHS = ("logreg", "mlp")  # in w7_models' order
# --skip-slow-peers: the (group, graph) pairs that took a minute or more on the project's 2-core machine.
W8_SLOW = {("pytensor", "wide"), ("pytensor", "mlp")}


def w8_expression(graph: str) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """The expression (over numpy, jax.numpy, tensorir's T or PyTensor, applied to the inputs) and the float32
    inputs of an expression graph of W8."""
    rng = np.random.default_rng(8)
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    if graph.startswith("chain"):
        n = int(graph.removeprefix("chain"))
        return (lambda mod, v: sin_tanh_chain(mod, v, n)), [x]
    if graph == "wide":  # small entries: exp(a*50) stays finite
        return wide_graph, [rng.random((64, 32), np.float32) * 0.1, rng.random((64, 32), np.float32)]
    if graph == "W1":
        return w1_expr, [x]
    raise ValueError(f"unknown W8 expression graph {graph!r}")


def _flat_outputs(out: Any) -> np.ndarray:
    return _flat(out if isinstance(out, (list, tuple)) else [out])


def w8_child(graph: str, group: str, target: str, quick: bool, cachedir: str, wait_s: float) -> dict[str, Any]:
    """Run in a fresh process (`_W8_CHILD`): build `graph` with `group` (tensorir, jax or pytensor) and call
    it once; returns the seconds of the library's import, of building the function and of its first call,
    the result's error against numpy float64 and, for tensorir, the C compiler's share. JAX keeps its
    compiled code in `cachedir` (its persistent compilation cache: the second process is warm)."""
    st = Settings(quick=quick, threads=0, threads_given=False, min_sample_s=0.0, samples=0, target=target)
    peers = Peers(st)
    # The graph's data and builder, made before the clock starts; `first(impl)` returns the first result.
    if graph in W7_GRAPHS:
        case = w7_cases(st, peers)[W7_GRAPHS.index(graph)]
        factory = next(f for _, g, f in case.impls if g == group)
        reference = case.reference

        def first(impl: Impl) -> Any:
            return impl.check()  # type: ignore[misc]  # one step, then the parameters
    else:
        expr, args = w8_expression(graph)

        def build(mod: Any) -> tuple[list[Any], Any]:
            inputs = [mod.fvector(f"x{k}") if a.ndim == 1 else mod.fmatrix(f"x{k}") for k, a in enumerate(args)]
            return inputs, expr(mod, *inputs)
        factory = {"tensorir": lambda: peers.tensorir(build, args),
                   "pytensor": lambda: peers.pytensor_impl("CVM", build, args),
                   "jax": lambda: peers.jax_impl(lambda *v: expr(peers.jax()[1], *v), args)}[group]

        def first(impl: Impl) -> Any:
            return _flat_outputs(impl.run())

        def reference() -> np.ndarray:
            return _flat_outputs(expr(np, *(a.astype(np.float64) for a in args)))
    t0 = time.perf_counter()
    if group == "jax":
        jax, _ = peers.jax()
        jax.config.update("jax_compilation_cache_dir", cachedir)
        for key, value in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                           ("jax_persistent_cache_min_entry_size_bytes", 0)):
            with contextlib.suppress(AttributeError, KeyError):  # options of some JAX versions only
                jax.config.update(key, value)
        jax.devices()  # the backend's start, as tensorir's and PyTensor's imports are not counted either
    elif group == "pytensor":
        peers.pytensor()
    from ..runtime import cache
    from ..runtime.background import wait_all

    t1 = time.perf_counter()
    impl = factory()
    t2 = time.perf_counter()
    got = first(impl)
    t3 = time.perf_counter()
    # tiered execution: the compiled code is ready when its background compile ends (waited for at most wait_s;
    # past it, the script kills its process group, the compiler with it: the cache stays cold)
    ready = wait_all(max(0.0, wait_s - (time.perf_counter() - t0)))
    t4 = time.perf_counter()
    tir = group == "tensorir"
    return {"import_s": t1 - t0, "build_s": t2 - t1, "first_call_s": t3 - t2, "rel_err": rel_error(got, reference()),
            "cc_s": cache.stats()["compile_s"] if tir and ready else None,
            "compiled_s": t4 - t1 if tir and ready else None, "compile_unfinished": not ready}


# ---------------------------------------------------------------- compile times (W1, W7, W8)

_W8_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
from tensorir.tools import bench
graph, group, target, quick, cachedir, wait_s = sys.argv[1:]
result = bench.w8_child(graph, group, target, quick == "1", cachedir, float(wait_s))
print(json.dumps(result), flush=True)
if result["compile_unfinished"]:
    import os, signal
    os.killpg(os.getpgrp(), signal.SIGKILL)  # its own session (run_child): the compiler still running too
"""


class OverLimit(Exception):
    """A child process ran past its time limit (and was killed with the processes it started)."""


def run_child(code: str, args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run `code` in a fresh Python; its last stdout line is JSON. Past `timeout` seconds the child and
    everything it started (the C compiler) are killed: OverLimit."""
    with subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the child's process group
            proc.communicate()
            raise OverLimit(f"over the {timeout:g} s limit") from None
    lines = out.strip().splitlines()
    if proc.returncode == -signal.SIGKILL and lines and '"compile_unfinished": true' in lines[-1]:
        return dict(json.loads(lines[-1]))  # its first result, then it killed itself and its compiler
    if proc.returncode != 0:
        tail = (err.strip().splitlines() or ["(no stderr)"])[-1]
        raise RuntimeError(f"child process failed (rc {proc.returncode}): {tail[:300]}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _cache_env(st: Settings) -> dict[str, Callable[[str], dict[str, str]]]:
    """Environment of a child process whose compiled code goes to a fresh directory, by implementation group."""
    from ..runtime import vector_width

    # the vector width this process chose: a child's fresh cache would make it probe again, in its timed compile
    width = vector_width.setting()

    def tir_env(d: str) -> dict[str, str]:
        env = dict(os.environ)
        env["TENSORIR_FLAGS"] = ",".join(filter(None, [env.get("TENSORIR_FLAGS", ""), f"cachedir={d}",
                                                       f"vector_width={width}"]))
        return env

    def pt_env(d: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS", ""), f"compiledir={d}"]))
        return env
    return {"tensorir": tir_env, "pytensor": pt_env, "jax": lambda d: dict(os.environ)}


def _cold_and_warm(row: CompileRow, code: str, argv: list[str], make_env: Callable[[str], dict[str, str]],
                   limit: float) -> None:
    """Run `code` twice in fresh processes sharing one fresh cache dir ("{dir}" in argv): the first is cold,
    the second warm; each may take `limit` seconds."""
    d = tempfile.mkdtemp(prefix="tir-bench-cache-")
    argv = [a.replace("{dir}", d) for a in argv]
    row.limit_s = limit
    phase = "cold"
    try:
        cold = run_child(code, argv, make_env(d), timeout=limit)
        row.cold_build_s, row.cold_first_call_s = cold["build_s"], cold["first_call_s"]
        row.cold_s = cold["build_s"] + cold["first_call_s"]
        row.cold_cc_s, row.cold_compiled_s, row.rel_err = cold.get("cc_s"), cold.get("compiled_s"), cold.get("rel_err")
        if row.rel_err is not None and not row.rel_err <= RTOL:
            row.status, row.note = "wrong", f"first result differs from numpy float64 (rel.err {row.rel_err:.1e})"
        if cold.get("compile_unfinished"):
            row.note = f"its compiled code was not ready within the {limit:g} s limit: no warm run (cache cold)"
            return
        phase = "warm"
        warm = run_child(code, argv, make_env(d), timeout=limit)
        row.import_s = warm["import_s"]
        row.warm_build_s, row.warm_first_call_s = warm["build_s"], warm["first_call_s"]
        row.warm_s = warm["build_s"] + warm["first_call_s"]
    except OverLimit as e:
        row.status, row.over_limit, row.note = "over limit", phase, f"{phase} run {e}"
    except Exception as e:  # noqa: BLE001
        row.status, row.note = "error", f"{phase} run: {type(e).__name__}: {e}"[:300]
    finally:
        shutil.rmtree(d, ignore_errors=True)


COMPILE_GROUPS = (("tensorir", "tensorir {target}"), ("jax", "jax.jit (persistent compilation cache for warm)"),
                  ("pytensor", "pytensor C (CVM), fresh compiledir"))


def compile_times(st: Settings, graphs: Sequence[str], peers_for: Callable[[str], bool], limit: float,
                  skip_slow: bool) -> list[CompileRow]:
    """Cold compile (fresh cache dir, fresh process) and warm start (the same cache dir, another fresh process)
    of each graph of `graphs` (W8_GRAPHS' ids), by tensorir and, where `peers_for(graph)`, JAX and PyTensor:
    each from building the function until its first result is returned, each run at most `limit` seconds.
    A tool that ran over the limit on a chain is not run on the longer chains; `skip_slow`: nor on W8_SLOW."""
    rows: list[CompileRow] = []
    envs = _cache_env(st)
    over: set[str] = set()  # groups over the limit on a chain
    for graph in graphs:
        for group, label in COMPILE_GROUPS if peers_for(graph) else COMPILE_GROUPS[:1]:
            row = CompileRow(label.format(target=st.target), case=W8_GRAPHS[graph], graph=graph)
            if group != "tensorir" and module_version(group) is None:
                row.status, row.note = "skipped", f"{group} not installed"
            elif graph.startswith("chain") and group in over:
                row.status, row.limit_s, row.over_limit = "over limit", limit, "cold"
                row.note = "not run: a shorter chain ran over the limit"
            elif skip_slow and (group, graph) in W8_SLOW:
                row.status, row.note = "skipped", "--skip-slow-peers"
            else:
                _cold_and_warm(row, _W8_CHILD, [graph, group, st.target, "1" if st.quick else "0", "{dir}",
                                                str(0.8 * limit)],
                               envs[group], limit)
                if row.over_limit and graph.startswith("chain"):
                    over.add(group)
            rows.append(row)
    return rows


def compile_graphs(workloads: Sequence[str], quick: bool) -> list[str]:
    """The graphs whose compile times the selected workloads show: W1's, W7's two, W8's (the 10-op chain only
    with --quick)."""
    graphs = ["W1"] if "W1" in workloads else []
    if "W8" in workloads:
        graphs += ["chain10"] if quick else [g for g in W8_GRAPHS if g not in graphs]
    if "W7" in workloads:
        graphs += [g for g in W7_GRAPHS if g not in graphs]
    return graphs


# ---------------------------------------------------------------- floors and report


def copy_rate(rows: list[Row]) -> float | None:
    """Best bytes/s of the W2 rows (read + written)."""
    best = None
    for r in rows:
        if r.workload == "W2" and r.status == "ok" and r.median_s:
            n = int(r.case.split("=")[1])
            rate = 8 * n / r.median_s
            best = rate if best is None or rate > best else best
    return best


def finish_ratios(cases: list[Case], rows: list[Row], rate: float | None) -> None:
    by_case = {c.name: c for c in cases}
    for case_name in dict.fromkeys(r.case for r in rows):
        case = by_case[case_name]
        group = [r for r in rows if r.case == case_name]
        base = next((r for r in group if r.group == "numpy" and r.median_s), None)
        for r in group:
            if not r.median_s:
                continue
            if base is not None and base.median_s:
                r.vs_numpy = r.median_s / base.median_s
            if case.floor_bytes and rate:
                r.vs_floor = r.median_s / (case.floor_bytes / rate)
            parts = [r.extra] if r.extra else []
            if case.flops:
                parts.insert(0, f"{case.flops / r.median_s / 1e9:.1f} GFLOP/s")
            if case.workload == "W2":
                parts.insert(0, f"{(case.floor_bytes or 0) / r.median_s / 1e9:.1f} GB/s")
            r.extra = "; ".join(parts)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def print_table(title: str, header: list[str], body: list[list[str]]) -> None:
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths)) + " |")


def report(cases: list[Case], rows: list[Row], rate: float | None) -> None:
    for case in cases:
        group = [r for r in rows if r.case == case.name]
        if not group:
            continue
        title = case.title
        if case.floor_bytes and rate:
            title += (f" -- floor {fmt_time(case.floor_bytes / rate)} ({case.floor_bytes / 1e6:.0f} MB at "
                      f"{rate / 1e9:.1f} GB/s)")
        body = []
        for r in group:
            status = "ok" if r.status == "ok" else r.status.upper()
            err = "-" if r.rel_err is None else f"{r.rel_err:.1e}"
            batch = f"{r.calls_per_sample}x{len(r.samples_s)}" if r.samples_s else "-"
            text = "; ".join(filter(None, [r.extra, r.note]))
            body.append([r.impl, fmt_time(r.median_s), fmt_ratio(r.vs_numpy),
                         fmt_ratio(r.vs_floor) if case.floor_bytes else "-", err, status, batch, text])
        print_table(title, ["implementation", "median", "vs numpy", "vs floor", "rel.err", "check",
                            "calls x samples", "extra / note"], body)


def compile_cell(row: CompileRow, phase: str) -> str:
    """cold_s or warm_s of the row, or `>LIMIT s` where that run was stopped."""
    return f">{row.limit_s:g} s" if row.over_limit == phase else fmt_time(getattr(row, f"{phase}_s"))


def report_compile(rows: list[CompileRow]) -> None:
    for case in dict.fromkeys(r.case for r in rows):
        body = [[r.impl, fmt_time(r.import_s), compile_cell(r, "cold"), fmt_time(r.cold_build_s),
                 fmt_time(r.cold_first_call_s), compile_cell(r, "warm"), r.status, r.note]
                for r in rows if r.case == case]
        what = "first training step" if case in (W8_GRAPHS[g] for g in W7_GRAPHS) else "first call"
        print_table(f"{case} compile: cold (fresh cache dir, fresh process) and warm start (cache populated, fresh "
                    f"process); build = function construction, first = {what}; import not included",
                    ["implementation", "import", "cold build+first", "cold build", "cold first call",
                     "warm build+first", "status", "note"], body)


def growth(rows: list[CompileRow], impl: str, small: str, large: str) -> str:
    """Cold compile time of graph `large` over that of `small` for one implementation: `4.1x`, `>2.3x` when
    the large one ran over the limit, `-` when either is missing."""
    cold = {r.graph: r for r in rows if r.impl == impl}
    a, b = cold.get(small), cold.get(large)
    if a is None or b is None or not a.cold_s:
        return "-"
    if b.over_limit == "cold" and b.limit_s:
        return f">{b.limit_s / a.cold_s:.1f}x"
    return "-" if b.cold_s is None else f"{b.cold_s / a.cold_s:.1f}x"


def report_scaling(rows: list[CompileRow]) -> None:
    """W8's table: one row per graph, the cold and warm times of each implementation; then the growth of the
    cold compile from the 100- to the 400-op chain."""
    impls = list(dict.fromkeys(r.impl for r in rows))
    by = {(r.case, r.impl): r for r in rows}
    header = ["graph"]
    for impl in impls:
        header += [f"{impl.split(' (')[0]} cold", "warm"] + (["C ready (cc)"] if impl.startswith("tensorir") else [])
    body = []
    for case in dict.fromkeys(r.case for r in rows):
        line = [case]
        for impl in impls:
            r = by.get((case, impl))
            cells = ["-", "-"] if r is None else [compile_cell(r, "cold") if r.status != "skipped" else "skipped",
                                                  compile_cell(r, "warm")]
            if impl.startswith("tensorir"):
                ready = (f">{r.limit_s:g} s" if r.cold_compiled_s is None and r.limit_s and r.cold_s is not None
                         else f"{fmt_time(r.cold_compiled_s)} ({fmt_time(r.cold_cc_s)})") if r is not None else "-"
                cells.append(ready)
            line += cells
        body.append(line)
    print_table("W8 compile time as the graph grows: cold = fresh cache dir, warm = cache populated, each a fresh "
                "process, from building the function until its first result (import not included; tensorir's "
                "first calls run on the interpreter while its C compiles: tiered execution); C ready = until "
                "tensorir's compiled code runs, cc = its C compiler's share", header, body)
    small, large = (f"chain{n}" for n in W8_CHAINS[-2:])
    if any(r.graph == large for r in rows):
        print(f"\ngrowth of the cold compile, {W8_CHAINS[-1]}-op chain / {W8_CHAINS[-2]}-op chain (linear: "
              f"{W8_CHAINS[-1] / W8_CHAINS[-2]:.1f}x): "
              + ", ".join(f"{impl.split(' (')[0]} {growth(rows, impl, small, large)}" for impl in impls))
    for r in rows:
        if r.status != "ok" or r.note:
            print(f"  {r.case}, {r.impl}: {r.status}: {r.note}")


# ---------------------------------------------------------------- main


def tensorir_target(requested: str) -> tuple[str, str | None]:
    from ..frontend import function as fmod

    targets = getattr(fmod, "TARGETS", {})
    if requested != "auto":
        if requested not in targets:
            raise SystemExit(f"tir-bench: target {requested!r} is not available (available: {', '.join(targets)})")
        return requested, None
    if "c" in targets:
        return "c", None
    return "interp", ("the tensorir C target is not available (no 'c' in tensorir.frontend.function.TARGETS): "
                      "the tensorir rows use target='interp', the numpy-based reference interpreter")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tir-bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=textwrap.dedent(__doc__.split("\n\n", 1)[1]))
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                   help="comma-separated subset of " + ",".join(ALL_WORKLOADS))
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every pool (OpenMP, BLAS, tensorir); default: all available cores, pools "
                        "left at their defaults")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p.add_argument("--target", default="auto",
                   help="tensorir target: auto (c when available, else interp), c, interp; opencl or cuda: the device "
                        "workloads instead (tools/bench_device.py: against CuPy and torch on the same GPU)")
    p.add_argument("--no-peers", action="store_true", help="skip JAX and PyTensor")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the compile-time measurements (those of W1 and W7; W8 has nothing else)")
    p.add_argument("--compile-limit", type=float, default=120.0, metavar="SECONDS",
                   help="time limit of each compile-time run (cold or warm), shown as '>SECONDS s' (default 120)")
    p.add_argument("--dask", action="store_true",
                   help="instead of the workloads: tensorir on a Dask LocalCluster of 1 and 2 workers "
                        "(tools/bench_dask.py; needs tensorir[dask])")
    p.add_argument("--skip-slow-peers", action="store_true",
                   help="W8: do not run PyTensor on the wide graph and the MLP step (a minute or more each)")
    args = p.parse_args(argv)
    wl = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in wl if w not in ALL_WORKLOADS]
    if bad or not wl:
        p.error(f"unknown workload(s) {', '.join(bad) or '(none)'}; choose from {', '.join(ALL_WORKLOADS)}")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    args.workloads = wl
    return args


@cli
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dask:
        from . import bench_dask

        return bench_dask.run(args.quick)
    if args.target in ("opencl", "cuda"):
        from . import bench_device

        return bench_device.run(args.target, args.quick)
    thread_hygiene(args.threads)

    from ..config import FLAGS, config

    if "tiered" in FLAGS:  # the timed calls run compiled code (W8's child processes keep tiered execution on)
        config.tiered = False
    threads = args.threads or available_cores()
    target, target_note = tensorir_target(args.target)
    st = Settings(quick=args.quick, threads=threads, threads_given=args.threads is not None,
                  min_sample_s=0.002 if args.quick else 0.02, samples=3 if args.quick else 7, target=target)
    if target_note:
        st.notes.append(target_note)
    limiter: Any = None
    if args.threads is not None:
        if "threads" in FLAGS:
            config.threads = args.threads
        try:
            import threadpoolctl

            limiter = threadpoolctl.threadpool_limits(limits=args.threads)
        except ImportError:
            st.notes.append("threadpoolctl not installed: BLAS pools not limited (pip install threadpoolctl)")

    machine = machine_info()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "tensorir": module_version("tensorir"),
                "jax": None if args.no_peers else module_version("jax"),
                "jaxlib": None if args.no_peers else module_version("jaxlib"),
                "pytensor": None if args.no_peers else module_version("pytensor"),
                "numba": None if args.no_peers else module_version("numba"),
                "threadpoolctl": module_version("threadpoolctl"), "cc": f"{config.cc}: {compiler_version(config.cc)}"}
    print(f"tir-bench{' --quick' if args.quick else ''}: workloads {','.join(args.workloads)}")
    print(f"machine: {machine['cpu']}; {machine['available_cores']} cores available "
          f"({machine['logical_cpus']} logical CPUs); SIMD {', '.join(machine['simd']) or 'none detected'}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None))
    print(f"threads: {threads}{' (--threads)' if args.threads else ' (all available cores)'}; "
          + ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS",
                                                       "OPENBLAS_NUM_THREADS", "XLA_FLAGS") if k in os.environ))
    from ..runtime import vector_width

    print(f"tensorir target: {target}; vector width: {vector_width.describe()}")
    load_start = load_average()
    if load_start is not None:
        busy = load_start[0] > 0.5
        print(f"load average at start: {load_start[0]:.2f} (1 min)"
              + (" -- other processes are running: expect noise, worst for multi-threaded BLAS rows" if busy else ""))
        if busy:
            st.notes.append(f"machine busy at start (load {load_start[0]:.2f}): multi-threaded rows (BLAS, OpenMP) "
                            "can lose whole scheduler ticks; compare rows of the same run only")

    workdir = Path(tempfile.mkdtemp(prefix="tir-bench-"))
    cref: CReference | None = None
    try:
        cref = CReference(workdir)
        print("C reference: " + " ".join(shlex.quote(c) for c in cref.command))
    except Exception as e:  # noqa: BLE001
        st.notes.append(f"C reference not built: {e}")

    peers = Peers(st)
    if args.no_peers:
        peers.jax_error = "skipped (--no-peers)"
        peers.pytensor_error = "skipped (--no-peers)"

    q = args.quick
    cases: list[Case] = []
    if "W2" in args.workloads:  # first: its copy rate is the floor of W1, W4 and W5
        cases += w2_cases(st, cref, peers, 1_000_000 if q else 10_000_000)
    if "W1" in args.workloads:
        cases += w1_cases(st, cref, peers, [100_000, 1000] if q else [10_000_000, 1000])
    if "W3" in args.workloads:
        cases += w3_cases(st, cref, peers, [256, 512] if q else [1024, 2048])
    if "W4" in args.workloads:
        cases += w4_cases(st, cref, peers, 512 if q else 4096)
    if "W5" in args.workloads:
        cases += w5_cases(st, peers)
    if "W6" in args.workloads:
        cases += w6_cases(st, peers)
    if "W7" in args.workloads:
        cases += w7_cases(st, peers)
    if "W9" in args.workloads:
        cases += w9_cases(st, peers)

    rows: list[Row] = []
    if "W2" not in args.workloads and ({"W1", "W4", "W5", "W6"} & set(args.workloads)):
        # A floor probe: W2's numpy and C copy rows, measured but not printed.
        probe = w2_cases(st, cref, peers, 1_000_000 if q else 10_000_000)[0]
        probe.impls = [i for i in probe.impls if i[1] in ("numpy", "c-ref")]
        rows_probe = run_case(probe, st)
        rate = copy_rate(rows_probe)
        st.notes.append("floors use the best copy rate of W2's numpy and C rows, measured first (W2 not selected)")
    else:
        rate = None
    for case in cases:
        print(f"... {case.name}", file=sys.stderr, flush=True)
        rows += run_case(case, st)
        if case.workload == "W2":
            rate = copy_rate(rows)
    finish_ratios(cases, rows, rate)

    compile_rows: list[CompileRow] = []
    graphs = [] if args.no_compile else compile_graphs(args.workloads, q)
    if graphs:
        print(f"... compile times of {', '.join(graphs)}", file=sys.stderr, flush=True)
        # --quick: W1's compile without the peers (as the smoke test of W1 wants it short)
        compile_rows = compile_times(st, graphs, lambda g: not args.no_peers and not (q and g == "W1"),
                                     args.compile_limit, args.skip_slow_peers)
        if q and not args.no_peers and "W1" in graphs:
            st.notes.append("--quick: JAX and PyTensor compile times of W1 not measured")

    report(cases, rows, rate)
    if compile_rows:
        report_compile(compile_rows)
    if "W8" in args.workloads and compile_rows:
        report_scaling([r for r in compile_rows if r.graph in compile_graphs(["W8"], q)])
    load_end = load_average()
    if load_end is not None:
        print(f"\nload average at end: {load_end[0]:.2f} (1 min)")
    pools = thread_pools()
    if pools:
        print("\nthread pools loaded in this process (threadpoolctl):")
        for p in pools:
            print("  " + ", ".join(f"{k}={v}" for k, v in p.items()))
    if st.notes:
        print("\nnotes:")
        for n in dict.fromkeys(st.notes):
            print(f"  - {n}")

    if args.json:
        doc = {"argv": sys.argv[1:] if argv is None else list(argv), "quick": q, "workloads": args.workloads,
               "machine": machine, "versions": versions, "threads": threads, "tensorir_target": target,
               "environment": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS",
                                                              "OPENBLAS_NUM_THREADS", "XLA_FLAGS")},
               "load_average": {"start": load_start, "end": load_end},
               "c_reference_command": cref.command if cref else None, "rtol": RTOL,
               "copy_rate_bytes_per_s": rate, "rows": [asdict(r) for r in rows],
               "compile": [asdict(r) for r in compile_rows], "thread_pools": pools,
               "notes": list(dict.fromkeys(st.notes))}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if limiter is not None:
        limiter.restore_original_limits()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
