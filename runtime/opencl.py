"""The OpenCL runtime (pyopencl, imported on first use): runs a module of the `opencl` pipeline.

The kernels (every `kernel.func`) are one OpenCL program (backends/opencl.py), built once per device
and kept on disk as a program binary under `<cachedir>/opencl/<key>.bin`, the key a hash of the
source, the device, its driver and the build options, so a second process builds nothing.

The host plan runs as Python generated from it (runtime/host_plan.py), the kernels on the device
(runtime/device.py, shared with the CUDA runtime); device buffers come from a pool of buffers by size,
reused by later calls, and a grid's work-groups have GROUP work-items along its fastest dim (the NDRange
rounded up to them: the kernel's guard drops the extra work-items; left to itself PoCL makes work-groups
of one). Kernels are launched with their argument types set once (typed launches).

The device is the first one of the first platform that has one, unless `TENSORIR_FLAGS=device=...`
names a substring of the wanted device's name. float64 kernels need a device with cl_khr_fp64, float16
ones cl_khr_fp16 (PoCL on a CPU has the first, not the second). On a CPU device with float64 the kernels'
math is the C target's tir_math.h (backends/opencl.py `vector_math`): PoCL's own library does not vectorize.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.opencl import OpenCLRenderer
from ..config import config
from ..ir.core import TirError
from . import cache
from .device import GROUP, DeviceArray, DeviceModule

__all__ = ["OpenCLModule", "Device", "device", "unavailable_reason"]


def _cl() -> Any:
    try:
        import pyopencl
        import pyopencl.array  # noqa: F401 (device arrays in and out)
    except ImportError:
        raise TirError("target 'opencl' needs pyopencl and an OpenCL driver: pip install pyopencl "
                       "pocl-binary-distribution (PoCL runs OpenCL on the CPU)") from None
    return pyopencl


@dataclass(eq=False)
class Device:
    """An OpenCL device with its context, in-order queue, buffer pool and built programs."""

    context: Any
    queue: Any
    device: Any
    pool: dict[int, list[Any]] = field(default_factory=dict)  # bytes -> free buffers of that size
    programs: dict[str, Any] = field(default_factory=dict)

    @property
    def has_f64(self) -> bool:
        return bool(self.device.double_fp_config)

    @property
    def is_cpu(self) -> bool:
        return bool(self.device.type & _cl().device_type.CPU)

    @property
    def has_f16(self) -> bool:
        return "cl_khr_fp16" in self.device.extensions.split()

    def lacks(self) -> dict[str, str]:
        """The element types this device cannot compute in ("f64", "f16") -> the extension it would need."""
        return {name: ext for name, ext, has in (("f64", "cl_khr_fp64", self.has_f64),
                                                 ("f16", "cl_khr_fp16", self.has_f16)) if not has}

    def lacks_message(self, name: str) -> str:
        dtype = {"f64": "float64", "f16": "float16"}[name]
        return (f"the OpenCL device '{self.device.name.strip()}' does not support {dtype} (no {self.lacks()[name]}): "
                "use float32, or a device that has it (TENSORIR_FLAGS=device=...)")

    def acquire(self, nbytes: int) -> Any:
        free = self.pool.get(nbytes)
        if free:
            return free.pop()
        cl = _cl()
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(nbytes, 1))  # OpenCL has no empty buffers

    def release(self, a: DeviceArray) -> None:
        self.pool.setdefault(a.nbytes, []).append(a.buffer)

    def program(self, source: str, options: tuple[str, ...] = ()) -> Any:
        """The built program of `source` (from memory, the disk cache, or the OpenCL compiler)."""
        cl, dev = _cl(), self.device
        key = hashlib.sha256("\0".join([source, dev.name, dev.vendor, dev.version, dev.driver_version,
                                        dev.platform.version, " ".join(options)]).encode()).hexdigest()
        if key in self.programs:
            return self.programs[key]
        for name, ext in self.lacks().items():  # (the renderer refuses the user's op first: renderer_options)
            if f"#pragma OPENCL EXTENSION {ext}" in source:
                raise TirError(self.lacks_message(name))
        path = cache.target_root("opencl") / f"{key}.bin"
        prg = None
        if path.exists():
            try:
                prg = cl.Program(self.context, [dev], [path.read_bytes()]).build(options=list(options))
            except cl.Error:
                prg = None  # a damaged or foreign binary: build from source
        if prg is None:
            try:
                prg = cl.Program(self.context, source).build(options=list(options))
            except cl.Error as e:
                raise TirError(f"the OpenCL compiler rejected the generated program:\n{e}") from None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                cache._write_atomic(path, prg.get_info(cl.program_info.BINARIES)[0])
            except OSError:
                pass  # a cache that cannot be written only costs time
        self.programs[key] = prg
        return prg


@functools.lru_cache(maxsize=1)
def device() -> Device:
    """The OpenCL device of this process (see the module doc)."""
    cl = _cl()
    wanted = config.device
    found = [d for p in cl.get_platforms() for d in p.get_devices() if wanted.lower() in d.name.lower()]
    if not found:
        raise TirError("no OpenCL device" + (f" whose name contains '{wanted}'" if wanted else "") +
                       " (pip install pocl-binary-distribution for one on the CPU)")
    context = cl.Context([found[0]])
    return Device(context, cl.CommandQueue(context), found[0])


def unavailable_reason() -> str | None:
    """Why the OpenCL target cannot run here (no pyopencl, no device), or None when it can."""
    try:
        device()
    except Exception as e:  # pyopencl raises its own errors when no platform is installed
        return str(e)
    return None


class OpenCLModule(DeviceModule):
    """A module of the `opencl` pipeline on this process's OpenCL device."""

    renderer_class = OpenCLRenderer
    source_attr = "opencl.source"

    def __init__(self, module: Any) -> None:
        self.device = device()
        cl = _cl()
        self.err = cl.Buffer(self.device.context, cl.mem_flags.READ_WRITE, 4)
        self.errv = cl.Buffer(self.device.context, cl.mem_flags.READ_WRITE, 8 * 4)
        super().__init__(module)

    def renderer_options(self) -> dict[str, Any]:
        return {**super().renderer_options(), "vector_math": self.device.is_cpu and self.device.has_f64,
                "missing": {name: self.device.lacks_message(name) for name in self.device.lacks()}}

    def build(self, source: str) -> Any:
        return self.device.program(source)

    def kernel(self, program: Any, name: str, dtypes: list[np.dtype | None]) -> Any:
        fn = _cl().Kernel(program, name)  # (a program is shared by modules: getattr would warn on the second)
        fn.set_scalar_arg_dtypes([None, None, *dtypes])  # typed launches: 8 us on PoCL, 110 us untyped
        return fn

    def alloc(self, nbytes: int) -> Any:
        return self.device.acquire(nbytes)

    def free(self, a: DeviceArray) -> None:
        self.device.release(a)

    def copy_in(self, buffer: Any, host: np.ndarray) -> None:
        _cl().enqueue_copy(self.device.queue, buffer, host)

    def copy_out(self, host: np.ndarray, buffer: Any) -> None:
        _cl().enqueue_copy(self.device.queue, host, buffer, is_blocking=False)

    def finish(self) -> None:
        self.device.queue.finish()

    def wrap(self, value: Any) -> Any:
        cl_array = _cl().array
        if not isinstance(value, cl_array.Array):
            return value
        if value.context != self.device.context:
            raise TirError("a pyopencl array of another context: make it with tensorir's queue "
                           "(tensorir.runtime.opencl.device().queue)")
        itemsize = value.dtype.itemsize
        if value.offset % itemsize:
            raise TirError(f"a pyopencl array whose offset ({value.offset} bytes) is not a multiple of its itemsize")
        if not (value.flags.c_contiguous and value.offset == 0):
            return value.get()  # a view: through the host (a kernel's direct argument is a whole contiguous buffer)
        return DeviceArray(value.base_data, tuple(value.shape), value.dtype, value.base_data.size,
                           value.offset // itemsize, tuple(value.strides))

    def unwrap(self, a: DeviceArray) -> Any:
        return _cl().array.Array(self.device.queue, a.shape, a.dtype, strides=a.strides, data=a.buffer,
                                 offset=a.offset * a.itemsize)

    def run(self, fn: Any, ids: list[int], values: list[Any], local: list[int] | None = None) -> None:
        queue = self.device.queue
        if not ids:
            fn(queue, (1,), None, self.err, self.errv, *values)
            return
        if local is None:
            ids[0] = -(-ids[0] // GROUP) * GROUP
            local = [GROUP] + [1] * (len(ids) - 1)
        fn(queue, tuple(ids), tuple(local), self.err, self.errv, *values)

    def clear_error(self) -> None:
        _cl().enqueue_fill_buffer(self.device.queue, self.err, np.int32(0), 0, 4)

    def read_error(self) -> tuple[int, np.ndarray]:
        code, values = np.zeros(1, np.int32), np.zeros(4, np.int64)
        _cl().enqueue_copy(self.device.queue, code, self.err)  # blocking: waits for the launch
        if code[0]:
            _cl().enqueue_copy(self.device.queue, values, self.errv)
        return int(code[0]), values
