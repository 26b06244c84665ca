"""The CUDA runtime (pycuda, imported on first use): runs a module of the `cuda` pipeline on GPU 0.

The kernels (backends/cuda.py) are compiled to one cubin by nvcc through pycuda where nvcc is on PATH, else to
PTX by NVRTC (runtime/nvrtc.py), kept on disk under `<cachedir>/cuda/<key>.cubin`, the key a hash of the source,
the GPU's name and compute capability and the CUDA driver version, so a second process compiles nothing. The
host plan runs as Python generated from it (runtime/host_plan.py), the kernels on the GPU (runtime/device.py,
shared with the OpenCL runtime) by prepared launches: blocks of GROUP threads along the fastest grid dim, up
to 65535 blocks along the others (their loops stride by the grid). pycuda works in the GPU's primary context,
the one CuPy and torch use. Device buffers come from a pool of allocations by size; pycuda GPUArrays are the
device arrays in and out.

Not yet run on a GPU: no CUDA GPU could be reached while this was written (issue 12's note); the CUDA
execution tests skip without one, and .ci/gpu-check runs them where there is one.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.cuda import CUDARenderer
from ..ir.core import TirError
from . import cache
from .device import GROUP, DeviceArray, DeviceModule

__all__ = ["CUDAModule", "unavailable_reason"]


def _driver() -> Any:
    try:
        import pycuda.driver as driver
    except ImportError:
        raise TirError("target 'cuda' needs pycuda and a CUDA GPU: pip install pycuda") from None
    return driver


def _compile(source: str, arch: str) -> bytes:
    """A cubin of `source` from nvcc (pycuda's compiler) where it is on PATH, else PTX from NVRTC (runtime/nvrtc.py),
    which the driver compiles when it loads it."""
    if shutil.which("nvcc"):
        from pycuda.compiler import compile as nvcc

        return bytes(nvcc(source, no_extern_c=True, arch=arch.replace("compute", "sm")))
    from .nvrtc import compile_ptx

    return compile_ptx(source, arch) + b"\0"


@dataclass(eq=False)
class _GPU:
    """GPU 0 with its context, allocation pool and loaded modules."""

    context: Any
    name: str
    arch: str  # compute_XY of the GPU
    pool: dict[int, list[Any]] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def _gpu() -> _GPU:
    drv = _driver()
    drv.init()
    if drv.Device.count() == 0:
        raise TirError("no CUDA GPU on this machine")
    dev = drv.Device(0)
    major, minor = dev.compute_capability()
    context = dev.retain_primary_context()  # the context CuPy and torch use: their arrays and ours interoperate
    context.push()
    return _GPU(context, f"{dev.name()} sm_{major}{minor} driver {drv.get_driver_version()}", f"compute_{major}{minor}")


def unavailable_reason() -> str | None:
    """Why the CUDA target cannot run here (no pycuda, no GPU), or None when it can."""
    try:
        _gpu()
    except Exception as e:  # pycuda raises its own errors without a driver
        return str(e)
    return None


class CUDAModule(DeviceModule):
    """A module of the `cuda` pipeline on GPU 0."""

    renderer_class = CUDARenderer
    source_attr = "cuda.source"

    def __init__(self, module: Any) -> None:
        self.gpu = _gpu()
        drv = _driver()
        self.err, self.errv = drv.mem_alloc(4), drv.mem_alloc(8 * 4)
        super().__init__(module)

    def build(self, source: str) -> Any:
        key = hashlib.sha256("\0".join([source, self.gpu.name]).encode()).hexdigest()
        if key not in self.gpu.modules:
            path = cache.target_root("cuda") / f"{key}.cubin"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                cache._write_atomic(path, _compile(source, self.gpu.arch))
            self.gpu.modules[key] = _driver().module_from_buffer(path.read_bytes())
        return self.gpu.modules[key]

    def kernel(self, program: Any, name: str, dtypes: list[np.dtype | None]) -> Any:
        fn = program.get_function(name)
        # the error buffers, then the values: a buffer packs as its address, a float16 as its bits
        types = ["P", "P", *("P" if d is None else "H" if d == np.float16 else d for d in dtypes)]
        fn.prepare(types)  # prepared launches: the argument buffer packed by one format (pycuda's fastest call)
        fn.pointers = [k for k, t in enumerate(types) if t == "P"]
        fn.halves = [k for k, t in enumerate(types) if t == "H"]
        return fn

    def alloc(self, nbytes: int) -> Any:
        free = self.gpu.pool.get(nbytes)
        return free.pop() if free else _driver().mem_alloc(max(nbytes, 1))

    def free(self, a: DeviceArray) -> None:
        self.gpu.pool.setdefault(a.nbytes, []).append(a.buffer)

    def copy_in(self, buffer: Any, host: np.ndarray) -> None:
        _driver().memcpy_htod(buffer, host)

    def copy_out(self, host: np.ndarray, buffer: Any) -> None:
        _driver().memcpy_dtoh(host, buffer)  # synchronous: waits for the launches before it

    def finish(self) -> None:
        self.gpu.context.synchronize()

    def wrap(self, value: Any) -> Any:
        from pycuda import gpuarray

        if not isinstance(value, gpuarray.GPUArray):
            return value
        if not value.flags.c_contiguous:
            return value.get()  # a view: through the host (a kernel's direct argument is a whole contiguous buffer)
        return DeviceArray(value.gpudata, tuple(value.shape), value.dtype, value.nbytes, 0, tuple(value.strides))

    def unwrap(self, a: DeviceArray) -> Any:
        from pycuda import gpuarray

        assert a.offset == 0, "device results are whole buffers"
        return gpuarray.GPUArray(a.shape, a.dtype, gpudata=a.buffer, strides=a.strides)

    def run(self, fn: Any, ids: list[int], values: list[Any], local: list[int] | None = None) -> None:
        args = [self.err, self.errv, *values]
        for k in fn.pointers:
            args[k] = int(args[k])
        for k in fn.halves:
            args[k] = int(np.float16(args[k]).view(np.uint16))
        if not ids:
            fn.prepared_async_call((1, 1, 1), (1, 1, 1), None, *args)
            return
        if local is None:
            local = [GROUP] + [1] * (len(ids) - 1)
            ids = [-(-ids[0] // GROUP) * GROUP, *ids[1:]]
        blocks = [ids[0] // local[0], *(min(n // g, 65535) for n, g in zip(ids[1:], local[1:]))]  # y, z: <= 65535
        fn.prepared_async_call(tuple(blocks + [1] * (3 - len(blocks))), tuple(local + [1] * (3 - len(local))), None,
                               *args)

    def clear_error(self) -> None:
        _driver().memset_d32(self.err, 0, 1)

    def read_error(self) -> tuple[int, np.ndarray]:
        code, values = np.zeros(1, np.int32), np.zeros(4, np.int64)
        _driver().memcpy_dtoh(code, self.err)
        if code[0]:
            _driver().memcpy_dtoh(values, self.errv)
        return int(code[0]), values
