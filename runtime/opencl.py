"""The OpenCL runtime (pyopencl, imported on first use): runs a module of the `opencl` pipeline.

The kernels (every `kernel.func`) are one OpenCL program (backends/opencl.py), built once per device
and kept on disk as a program binary under `<cachedir>/opencl/<key>.bin`, the key a hash of the
source, the device, its driver and the build options, so a second process builds nothing.

The host plan (the `func.func`) runs op by op in the reference interpreter, whose device hooks this
module implements: `kernel.to_device` copies a host array into a device buffer from a pool (buffers
by size, reused by later calls), `kernel.launch` enqueues the kernel over its grid (the sizes of its
`grid` dims, read off the launch's arguments, in work-groups of GROUP; one work-item for grid 0),
`kernel.to_host` copies a device buffer back into a host array. Everything else (allocation, BLAS
calls, sorts, host control flow and small nests) runs on the host on numpy arrays, so data moves only
through the transfers that outline-kernels put around each launch: every buffer a kernel takes goes to the device before
it, every buffer it writes comes back after it. Device buffers go back to the pool when the call
returns. A kernel with run-time checks is followed by a read of its error flag (backends/opencl.py).

The device is the first one of the first platform that has one, unless `TENSORIR_FLAGS=device=...`
names a substring of the wanted device's name. float64 kernels need a device with cl_khr_fp64, float16
ones cl_khr_fp16 (PoCL on a CPU has the first, not the second).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import config
from ..dialects import kernel as K
from ..dialects import loop as LP
from ..dialects import mem as M
from ..ir.core import CONSTANT_LIKE, Operation, TirError, TirValueError
from ..ir.types import MemRefType, ScalarType
from . import cache
from .interpreter import Interpreter

__all__ = ["OpenCLModule", "Device", "device", "unavailable_reason"]

GROUP = 64  # work-items of a work-group (along the fastest grid dim); PoCL's own choice for an unknown size is 1


def _cl() -> Any:
    try:
        import pyopencl
    except ImportError:
        raise TirError("target 'opencl' needs pyopencl and an OpenCL driver: pip install pyopencl "
                       "pocl-binary-distribution (PoCL runs OpenCL on the CPU)") from None
    return pyopencl


@dataclass(eq=False)
class DeviceArray:
    """A C-contiguous array in a device buffer (the runtime value of a `#device` memref)."""

    buffer: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


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
    def has_f16(self) -> bool:
        return "cl_khr_fp16" in self.device.extensions.split()

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
        for ext, dtype, has in (("cl_khr_fp64", "float64", self.has_f64), ("cl_khr_fp16", "float16", self.has_f16)):
            if f"#pragma OPENCL EXTENSION {ext}" in source and not has:
                raise TirError(f"the OpenCL device '{dev.name.strip()}' does not support {dtype} (no {ext}): "
                               "use float32, or a device that has it (TENSORIR_FLAGS=device=...)")
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


@dataclass
class _Kernel:
    """A built kernel and what its launch needs: parameter types, the grid's bounds (per dim: an argument
    index, or a constant) and whether it reports run-time errors."""

    fn: Any
    params: list[Any]
    grid: list[tuple[str, int]]
    checks: bool


def _grid(fn: K.KernelFuncOp) -> list[tuple[str, int]]:
    n = int(fn.attributes.get("grid", 0))
    if not n:
        return []
    loop = next(o for o in fn.body.ops if isinstance(o, LP.ParallelOp))
    out = []
    for bound in loop.operands[:n]:
        if bound in fn.body.args:
            out.append(("arg", fn.body.args.index(bound)))
        else:
            owner: Operation = bound.op  # type: ignore[attr-defined]
            assert owner.has_trait(CONSTANT_LIKE)
            out.append(("const", int(owner.attributes["value"].value)))
    return out


class OpenCLModule(Interpreter):
    """A module of the `opencl` pipeline: `call(name, args)` runs host function @name, its kernels on the device."""

    def __init__(self, module: Operation) -> None:
        from ..backends.opencl import OpenCLRenderer

        super().__init__(module)
        self.device = device()
        renderer = OpenCLRenderer()
        source = renderer.render_program(module)
        self.messages = renderer.messages
        program = self.device.program(source)
        self.kernels = {
            fn.sym_name: _Kernel(getattr(program, fn.sym_name), list(fn.function_type.inputs), _grid(fn),
                                 renderer.kernel_checks[fn.sym_name])
            for fn in module.regions[0].block.ops if isinstance(fn, K.KernelFuncOp)}
        cl = _cl()
        self.err = cl.Buffer(self.device.context, cl.mem_flags.READ_WRITE, 4)
        self.errv = cl.Buffer(self.device.context, cl.mem_flags.READ_WRITE, 8 * 4)
        self.live: list[DeviceArray] = []
        self.depth = 0

    def call(self, name: str, args: Any) -> list[Any]:
        if name in self.kernels:
            self.launch(self.kernels[name], list(args))
            return []
        self.depth += 1
        try:
            return super().call(name, args)
        finally:
            self.depth -= 1
            if not self.depth:  # the outermost call is done: its device buffers go back to the pool
                for a in self.live:
                    self.device.release(a)
                self.live = []

    # ---- the interpreter's device hooks
    def to_device(self, host: np.ndarray) -> DeviceArray:
        arr = np.ascontiguousarray(host)
        a = DeviceArray(self.device.acquire(arr.nbytes), arr.shape, arr.dtype, arr.nbytes)
        self.live.append(a)
        if arr.size:
            _cl().enqueue_copy(self.device.queue, a.buffer, arr)
        return a

    def to_host(self, device: DeviceArray, host: np.ndarray) -> None:
        out = np.empty(device.shape, device.dtype)
        if out.size:
            _cl().enqueue_copy(self.device.queue, out, device.buffer)
        host[...] = out

    # ---- launches
    def launch(self, k: _Kernel, args: list[Any]) -> None:
        cl_args: list[Any] = [self.err, self.errv]
        for v, t in zip(args, k.params):
            if isinstance(t, MemRefType):
                strides = M.contiguous_strides(v.shape)
                cl_args.append(v.buffer)
                cl_args += [np.int64(v.shape[d]) for d, size in enumerate(t.shape) if size is None]
                cl_args += [np.int64(strides[d]) for d, st in enumerate(M.layout_of(t)) if st is None]
            else:
                assert isinstance(t, ScalarType)
                cl_args.append(np.uint8(v) if t.is_bool else t.dtype.type(v))
        sizes = [int(args[i]) if kind == "arg" else i for kind, i in k.grid]
        if any(s <= 0 for s in sizes):
            return  # an empty grid: nothing to run (OpenCL refuses a zero-size NDRange)
        cl, queue = _cl(), self.device.queue
        if k.checks:
            cl.enqueue_fill_buffer(queue, self.err, np.int32(0), 0, 4)
        if sizes:  # work-groups of GROUP work-items along dim 0, the NDRange rounded up (the kernel's guard)
            ids = list(reversed(sizes))
            ids[0] = -(-ids[0] // GROUP) * GROUP
            k.fn(queue, tuple(ids), (GROUP,) + (1,) * (len(ids) - 1), *cl_args)
        else:
            k.fn(queue, (1,), None, *cl_args)
        if k.checks:
            code, values = np.zeros(1, np.int32), np.zeros(4, np.int64)
            cl.enqueue_copy(queue, code, self.err)
            if code[0]:
                cl.enqueue_copy(queue, values, self.errv)
                message = self.messages[code[0] - 1]
                raise TirValueError(re.sub(r"\{(\d+)\}", lambda m: str(values[int(m.group(1))]), message))
