"""`tir-bench --target opencl|cuda` (issue 12): tensorir's device targets against CuPy and PyTorch eager on the same
GPU (each when installed and a CUDA GPU is present) and against tensorir's C target on this machine's CPU.

    Wg1  W1's expression exp(-x*x/2)*sin(x) + log1p(abs(x)) over 100,000,000 float32: tensorir, CuPy's hand-fused
         ElementwiseKernel, torch eager (one kernel per op), the C target on the host
    Wg2  the bandwidth floor: the device's own buffer-to-buffer copy (pyopencl / pycuda, CuPy, torch) of
         100,000,000 float32, and tensorir's kernel of x * s (s a run-time scalar: the same bytes as a copy)
    Wg3  GEMM of 4096x4096 float32: tensorir's generated kernel, cupy.matmul and torch.mm (cuBLAS, TF32 off)
    Wg4  row softmax and row logsumexp of 4096x4096 and 16384x16384 float32: tensorir, torch; the floor is the
         bytes they must move (softmax: read + write n^2; logsumexp: read n^2, write n) at Wg2's best copy rate
    Wg5  W7's MLP SGD step (batch 256, 784-512-512-10) with its weights on the device (shared variables) against
         the same step on the C target on the host

tensorir runs with its inputs on the device and `device_outputs=True`, so a timed call moves no data between host
and device, as CuPy's and torch's do not; each timed call ends in a device synchronisation. Each result is checked
against numpy (float64) before it is timed; times are medians of 7 runs after a warm-up. --quick: small sizes
(W1/copy 1,000,000, GEMM 256, softmax 512, the MLP at W7's quick size), for a CPU OpenCL device such as PoCL.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import bench


@dataclass
class Result:
    workload: str
    impl: str
    seconds: float | None  # None: not run (why in `note`)
    rate: str = ""
    note: str = ""


class Device:
    """The target's device: moving arrays there and back, waiting for it, and its peers on the same GPU."""

    def __init__(self, target: str) -> None:
        self.target = target
        if target == "opencl":
            import pyopencl.array as cla
            from tensorir.runtime.opencl import device

            dev = device()
            self.name = f"OpenCL: {dev.device.name.strip()} ({dev.device.platform.name.strip()})"
            self.upload: Callable[[np.ndarray], Any] = lambda a: cla.to_device(dev.queue, a)
            self.sync: Callable[[], None] = dev.queue.finish
            self.device_copy: Callable[[Any, Any], None] = lambda dst, src: _cl_copy(dev.queue, dst, src)
        else:
            import pycuda.driver as drv
            from pycuda import gpuarray
            from tensorir.runtime.cuda import _gpu

            gpu = _gpu()
            self.name = f"CUDA: {gpu.name}"
            self.upload = gpuarray.to_gpu
            self.sync = gpu.context.synchronize
            self.device_copy = lambda dst, src: drv.memcpy_dtod(dst.gpudata, src.gpudata, src.nbytes)
        self.cupy = _optional("cupy")
        self.torch = _optional("torch")
        if self.torch is not None and not self.torch.cuda.is_available():
            self.torch = None
        if self.cupy is not None:
            try:
                self.cupy.cuda.runtime.getDeviceCount()
            except Exception:  # no CUDA driver: CuPy imports but cannot run
                self.cupy = None

    def time(self, run: Callable[[], Any], repeats: int, sync: Callable[[], None] | None = None) -> float:
        wait = sync or self.sync
        run()
        wait()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            wait()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def _cl_copy(queue: Any, dst: Any, src: Any) -> None:
    import pyopencl as cl

    cl.enqueue_copy(queue, dst.base_data, src.base_data, byte_count=src.nbytes)


def _optional(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


def _check(got: Any, want: np.ndarray, what: str) -> None:
    got = got.get() if hasattr(got, "get") else np.asarray(got.cpu() if hasattr(got, "cpu") else got)
    err = bench.rel_error(np.asarray(got, np.float32), want)
    if not err <= bench.RTOL * 10:
        raise AssertionError(f"{what}: relative error {err:.2e} against numpy")


def w1(dev: Device, n: int, repeats: int) -> list[Result]:
    import tensorir
    from tensorir import tensor as T

    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    x64 = x.astype(np.float64)
    want = np.exp(-x64 ** 2 / 2) * np.sin(x64) + np.log1p(np.abs(x64))
    v = T.fvector("x")
    expr = T.exp(-v * v / 2) * T.sin(v) + T.log1p(abs(v))
    wl, gb = f"Wg1 W1 n={n:,}", 8 * n / 1e9
    out = []
    f = tensorir.function([v], expr, target=dev.target, device_outputs=True)
    xd = dev.upload(x)
    _check(f(xd), want, "tensorir")
    t = dev.time(lambda: f(xd), repeats)
    out.append(Result(wl, f"tensorir {dev.target}", t, f"{gb / t:.3g} GB/s"))
    fc = tensorir.function([v], expr, target="c")
    _check(fc(x), want, "tensorir c")
    t = dev.time(lambda: fc(x), repeats, sync=lambda: None)
    out.append(Result(wl, "tensorir c (host CPU)", t, f"{gb / t:.3g} GB/s"))
    if dev.cupy is not None:
        cp = dev.cupy
        kernel = cp.ElementwiseKernel("float32 x", "float32 y", "y = expf(-x*x/2)*sinf(x) + log1pf(fabsf(x))", "w1")
        xc = cp.asarray(x)
        _check(kernel(xc), want, "cupy")
        t = dev.time(lambda: kernel(xc), repeats, sync=cp.cuda.Device().synchronize)
        out.append(Result(wl, "CuPy ElementwiseKernel (hand-fused)", t, f"{gb / t:.3g} GB/s"))
    if dev.torch is not None:
        th = dev.torch
        xt = th.from_numpy(x).cuda()

        def eager() -> Any:
            return th.exp(-xt * xt / 2) * th.sin(xt) + th.log1p(th.abs(xt))
        _check(eager(), want, "torch")
        t = dev.time(eager, repeats, sync=th.cuda.synchronize)
        out.append(Result(wl, "torch eager", t, f"{gb / t:.3g} GB/s"))
    return out


def w2(dev: Device, n: int, repeats: int) -> tuple[list[Result], float]:
    """The copy rows and the best copy rate (bytes/s)."""
    import tensorir
    from tensorir import tensor as T

    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    wl, nbytes = f"Wg2 copy n={n:,}", 8 * n
    xd, yd = dev.upload(x), dev.upload(np.empty_like(x))
    out = []
    dev.device_copy(yd, xd)
    _check(yd, x.astype(np.float64), "device copy")
    rates = []
    t = dev.time(lambda: dev.device_copy(yd, xd), repeats)
    rates.append(nbytes / t)
    out.append(Result(wl, f"{dev.target} buffer copy", t, f"{nbytes / t / 1e9:.3g} GB/s"))
    v, s = T.fvector("x"), T.fscalar("s")
    f = tensorir.function([v, s], v * s, target=dev.target, device_outputs=True)
    _check(f(xd, np.float32(1)), x.astype(np.float64), "tensorir")
    t = dev.time(lambda: f(xd, np.float32(1)), repeats)
    out.append(Result(wl, f"tensorir {dev.target} x * s", t, f"{nbytes / t / 1e9:.3g} GB/s"))
    if dev.cupy is not None:
        cp = dev.cupy
        xc, yc = cp.asarray(x), cp.empty(n, cp.float32)
        t = dev.time(lambda: cp.copyto(yc, xc), repeats, sync=cp.cuda.Device().synchronize)
        rates.append(nbytes / t)
        out.append(Result(wl, "CuPy copyto", t, f"{nbytes / t / 1e9:.3g} GB/s"))
    if dev.torch is not None:
        th = dev.torch
        xt, yt = th.from_numpy(x).cuda(), th.empty(n, device="cuda")
        t = dev.time(lambda: yt.copy_(xt), repeats, sync=th.cuda.synchronize)
        rates.append(nbytes / t)
        out.append(Result(wl, "torch copy_", t, f"{nbytes / t / 1e9:.3g} GB/s"))
    return out, max(rates)


def w3(dev: Device, n: int, repeats: int) -> list[Result]:
    import tensorir
    from tensorir import tensor as T

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    wl, flop = f"Wg3 GEMM {n}", 2.0 * n ** 3
    p, q = T.fmatrix("a"), T.fmatrix("b")
    f = tensorir.function([p, q], T.dot(p, q), target=dev.target, device_outputs=True)
    ad, bd = dev.upload(a), dev.upload(b)
    _check(f(ad, bd), want, "tensorir")
    t = dev.time(lambda: f(ad, bd), repeats)
    out = [Result(wl, f"tensorir {dev.target} (generated kernel)", t, f"{flop / t / 1e12:.3g} TFLOP/s")]
    if dev.cupy is not None:
        cp = dev.cupy
        ac, bc = cp.asarray(a), cp.asarray(b)
        t = dev.time(lambda: cp.matmul(ac, bc), repeats, sync=cp.cuda.Device().synchronize)
        out.append(Result(wl, "cupy.matmul (cuBLAS)", t, f"{flop / t / 1e12:.3g} TFLOP/s"))
    if dev.torch is not None:
        th = dev.torch
        th.backends.cuda.matmul.allow_tf32 = False
        at, bt = th.from_numpy(a).cuda(), th.from_numpy(b).cuda()
        t = dev.time(lambda: th.mm(at, bt), repeats, sync=th.cuda.synchronize)
        out.append(Result(wl, "torch.mm (cuBLAS, TF32 off)", t, f"{flop / t / 1e12:.3g} TFLOP/s"))
    return out


def w4(dev: Device, n: int, repeats: int, copy_rate: float) -> list[Result]:
    import tensorir
    from tensorir import tensor as T

    x = np.random.default_rng(4).standard_normal((n, n)).astype(np.float32)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(1, keepdims=True))
    m = T.fmatrix("x")
    mx = m.max(axis=1, keepdims=True)
    em = T.exp(m - mx)
    graphs = {"softmax": (em / em.sum(axis=1, keepdims=True), e / e.sum(1, keepdims=True), 8 * n * n),
              "logsumexp": ((mx + T.log(em.sum(axis=1, keepdims=True))).flatten(), np.log(e.sum(1)) + x64.max(1),
                            4 * n * n + 4 * n)}
    xd = dev.upload(x)
    out = []
    for name, (expr, want, nbytes) in graphs.items():
        wl = f"Wg4 {name} {n}x{n}"
        floor = f"floor {nbytes / copy_rate * 1e3:.3f} ms"
        f = tensorir.function([m], expr, target=dev.target, device_outputs=True)
        _check(f(xd), want, "tensorir")
        t = dev.time(lambda f=f: f(xd), repeats)
        out.append(Result(wl, f"tensorir {dev.target}", t, f"{nbytes / t / 1e9:.3g} GB/s", floor))
        if dev.torch is not None:
            th = dev.torch
            xt = th.from_numpy(x).cuda()
            op = th.softmax if name == "softmax" else th.logsumexp

            def run(op: Any = op, xt: Any = xt) -> Any:
                return op(xt, 1)
            _check(run(), want, "torch")
            t = dev.time(run, repeats, sync=th.cuda.synchronize)
            out.append(Result(wl, f"torch {name}", t, f"{nbytes / t / 1e9:.3g} GB/s", floor))
    return out


def w5(dev: Device, quick: bool, repeats: int) -> list[Result]:
    import tensorir
    from tensorir import tensor as T

    name, cost_fn, grads, params, x, t = bench.w7_models(quick)[1]
    lr = np.float32(0.01)
    g = grads(params, x, t)
    want = {k: v - lr * g[k] for k, v in params.items()}
    out = []
    for target in (dev.target, "c"):
        shared = {k: tensorir.shared(v.copy(), name=k) for k, v in params.items()}
        xs, ts = T.fmatrix("x"), T.fmatrix("t")
        cost = cost_fn(T, shared, xs, ts)
        gs = tensorir.grad(cost, list(shared.values()))
        step = tensorir.function([xs, ts], cost, updates=[(s, s - lr * g) for s, g in zip(shared.values(), gs)],
                                 target=target)
        args = (dev.upload(x), dev.upload(t)) if target != "c" else (x, t)
        step(*args)
        for k, s in shared.items():
            _check(s.get_value(), want[k], f"{target} step {k}")
        secs = dev.time(lambda step=step, args=args: step(*args), repeats,
                        sync=dev.sync if target != "c" else lambda: None)
        label = f"tensorir {target}, weights on the device" if target != "c" else "tensorir c (host CPU)"
        out.append(Result(f"Wg5 {name}", label, secs))
    return out


def run(target: str, quick: bool) -> int:
    from tensorir.config import config

    config.tiered = False
    repeats = 7  # (3 was too few on PoCL: W1 13.7 ms against 7.3 ms over 15 runs)
    dev = Device(target)
    n = 1_000_000 if quick else 100_000_000
    results: list[Result] = []
    copies, rate = w2(dev, n, repeats)
    results += w1(dev, n, repeats) + copies
    results += w3(dev, 256 if quick else 4096, repeats)
    for size in ([512] if quick else [4096, 16384]):
        results += w4(dev, size, repeats, rate)
    results += w5(dev, quick, repeats)
    print(f"tir-bench --target {target}{' --quick' if quick else ''}: {dev.name}")
    print(f"peers: CuPy {'yes' if dev.cupy is not None else 'not available'}, "
          f"torch {'yes' if dev.torch is not None else 'not available'}")
    width = max(len(r.impl) for r in results)
    last = ""
    for r in results:
        if r.workload != last:
            print(f"\n{r.workload}")
            last = r.workload
        secs = "-" if r.seconds is None else f"{r.seconds * 1e3:10.3f} ms"
        print(f"  {r.impl:<{width}}  {secs}  {r.rate:>16}  {r.note}")
    return 0
