"""What the device runtimes share (OpenCL: runtime/opencl.py, CUDA: runtime/cuda.py).

A `DeviceModule` runs a module of a device pipeline (`opencl`, `cuda`): its kernels, rendered by the
target's grid renderer (backends/gpu.py) for this device and built once, run on the device; its host function
runs as Python generated from it (runtime/host_plan.py; one with regions: op by op in the reference
interpreter) on the interpreter's device hooks, which this class implements:
- `kernel.to_device` copies a host array into a device buffer from the target's pool (a device array passes
  through), `kernel.alloc` takes one, `mem.view` of a device array is a device view (a `DeviceArray`: buffer,
  offset, shape, strides), `kernel.to_host` copies a whole device buffer back;
- `kernel.launch` runs the kernel over its grid (the sizes of its `grid` dims, read off the launch's arguments:
  an argument or a constant per dim; one work-item for grid 0; a `kernel.tiled_gemm` kernel: one work-group of
  its `local` size per tile of C), passing each array's buffer, start offset and dynamic sizes and strides.
Everything else (allocation, batched BLAS calls, sorts, LAPACK, host control flow) runs on the host on numpy
arrays; which data moves when is decided by passes/device_residency.py. Launches and result copies are
asynchronous: the host waits for the device only where it reads device data (a copy back) and at the end of the
call.

Device arrays in and out: an argument that only goes to the device (`_on_device`) is put there when the call
starts (a numpy array copied, a pyopencl/pycuda array taken as it is), so views of it are device views; the
results the caller keeps on the device (`call(..., keep)`: the updates of shared variables, and every output with
`device_outputs=True`) are returned as the target's device arrays instead of being copied back. Device buffers
go back to the pool when the outermost call returns, except those returned.

Run-time checks inside kernels set a device error flag (the first failure wins); it is read where the host
waits anyway (before a copy back is used, at the end of the call), and a failed check raises its message (the
C target's text) as a ValueError.

A target's subclass says how to build, allocate, copy and launch (the hooks at the end of the class).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..dialects import kernel as K
from ..dialects import loop as LP
from ..dialects import mem as M
from ..dialects.func import FuncOp
from ..ir.core import CONSTANT_LIKE, Operation, TirValueError, Value
from ..ir.types import MemRefType
from .host_plan import HostPlan, compile_host
from .interpreter import Interpreter

__all__ = ["DeviceArray", "DeviceModule", "GROUP", "host_array", "is_device_array"]

GROUP = 256  # work-items of a work-group / threads of a block, along the fastest grid dim (PoCL: W1 2x faster than 64)


def is_device_array(value: Any) -> bool:
    """Whether `value` is a device target's array (pyopencl.array.Array, pycuda GPUArray), without importing
    either library."""
    return type(value).__module__.split(".")[0] in ("pyopencl", "pycuda") and hasattr(value, "get")


def host_array(value: Any) -> Any:
    """`value`, a device array copied to a numpy array."""
    return value.get() if is_device_array(value) else value


@dataclass(eq=False)
class DeviceArray:
    """An array in device memory (the runtime value of a `#device` memref), with numpy's layout attributes:
    `shape`, `strides` (bytes), `dtype`, `itemsize`, starting `offset` elements into `buffer` (of `nbytes`).
    A view (`mem.view` of a device array) shares its source's buffer."""

    buffer: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int  # of the buffer
    offset: int = 0  # elements
    strides: tuple[int, ...] = ()  # bytes; () for contiguous
    on_device: ClassVar[bool] = True  # (what the interpreter's layout checks look for)

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)
        if not self.strides:
            self.strides = tuple(s * self.dtype.itemsize for s in M.contiguous_strides(self.shape))

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def span(self) -> tuple[int, int, int]:
        """The bytes of its buffer it reaches, from `low` to `high` (exclusive), and where its first element is:
        numpy's `byte_bounds` and data pointer, counted from the start of the buffer."""
        start = self.offset * self.itemsize
        if not self.size:
            return start, start, start
        low = start + sum(min(0, (n - 1) * s) for n, s in zip(self.shape, self.strides))
        high = start + sum(max(0, (n - 1) * s) for n, s in zip(self.shape, self.strides)) + self.itemsize
        return low, high, start

    @property
    def contiguous(self) -> bool:
        return self.strides == tuple(s * self.itemsize for s in M.contiguous_strides(self.shape)) or self.size <= 1


@dataclass
class _Kernel:
    """A built kernel and what its launch needs: parameter types, the grid's bounds (per dim, slowest first: an
    argument index, a constant, or for a tiled gemm the number of tiles along a dim of an argument), whether it
    reports run-time errors, and the work-group size of a kernel that sets it (`local`, fastest dim first: then
    each grid bound counts work-groups), else None (GROUP work-items along the fastest dim)."""

    fn: Any
    params: list[Any]
    grid: list[tuple[Any, ...]]
    checks: bool
    local: list[int] | None = None
    twin: Any = None  # the kernel's fast twin (backends/gpu.py trig_twin), if it has one
    written: list[bool] | None = None  # which parameters it writes (a twin's launch checks they alias nothing)

    def __post_init__(self) -> None:
        self.layout = [_param_layout(t) for t in self.params]


def _param_layout(t: Any) -> tuple[list[int], list[int], Any]:
    """What a launch passes for a kernel parameter of type `t`: a memref's dynamic size dims and stride dims
    (after its buffer and offset), or a scalar's numpy type (bool: uint8)."""
    if isinstance(t, MemRefType):
        return ([d for d, n in enumerate(t.shape) if n is None],
                [d for d, st in enumerate(M.layout_of(t)) if st is None], None)
    return [], [], np.uint8 if t.is_bool else t.dtype.type


def arg_dtypes(params: list[Any]) -> list[np.dtype | None]:
    """The types of the values a launch passes for kernel parameters `params` (DeviceModule.launch), for the
    targets' typed launches: per memref its buffer (None), its offset, dynamic sizes and strides (int64), per
    scalar its type."""
    out: list[np.dtype | None] = []
    for sizes, strides, scalar in map(_param_layout, params):
        if scalar is not None:
            out.append(np.dtype(scalar))
        else:
            out += [None] + [np.dtype(np.int64)] * (1 + len(sizes) + len(strides))
    return out


def _grid(fn: K.KernelFuncOp) -> list[tuple[Any, ...]]:
    n = int(fn.attributes.get("grid", 0))
    if not n:
        return []
    gemm = fn.body.ops[0]
    if isinstance(gemm, K.TiledGemmOp):  # one work-group per tile of C (rows, then columns)
        c = fn.body.args.index(gemm.operands[2])
        tm, tn = gemm.tiles()[:2]
        return [("tiles", c, 0, tm), ("tiles", c, 1, tn)]
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


def _local(fn: K.KernelFuncOp) -> list[int] | None:
    """The kernel's work-group size: its `local` (a tiled gemm), or `tree` work-items along the fastest grid dim
    (tree reductions: one work-group per row), else None."""
    if "tree" in fn.attributes:
        return [int(fn.attributes["tree"])] + [1] * (int(fn.attributes["grid"]) - 1)
    local = fn.attributes.get("local")
    return None if local is None else [int(n) for n in local]


def _on_device(v: Value) -> bool:
    """Whether a host function's argument may be a device array: it goes to the device (`kernel.to_device`, then
    the array itself), directly or through views (made on the device), and the host only reads its layout or
    copies into it (an update in place)."""
    uses = [(u.op, u.index) for u in v.uses]
    return any(isinstance(op, (K.ToDeviceOp, M.ViewOp)) for op, _ in uses) and all(
        isinstance(op, (K.ToDeviceOp, M.DimOp, M.StrideOp)) or isinstance(op, K.ToHostOp) and index == 1
        or isinstance(op, M.ViewOp) and index == 0 and _on_device(op.results[0]) for op, index in uses)


class DeviceModule(Interpreter):
    """A module of a device pipeline: `call(name, args)` runs host function @name, its kernels on the device."""

    renderer_class: ClassVar[Any]  # the target's GridRenderer subclass
    source_attr: ClassVar[str]  # the module attribute of the target's source (its emit pass sets it first)

    def __init__(self, module: Operation) -> None:
        super().__init__(module)
        renderer = self.renderer_class(**self.renderer_options())
        source = renderer.render_program(module)
        module.attributes[self.source_attr] = source  # what runs (emit-<target> renders for no device in particular)
        self.messages: list[str] = renderer.messages
        program = self.build(source)
        self.kernels: dict[str, _Kernel] = {}
        for fn in module.regions[0].block.ops:
            if not isinstance(fn, K.KernelFuncOp):
                continue
            name, params = fn.sym_name, list(fn.function_type.inputs)
            dtypes = arg_dtypes(params)
            twin = (self.kernel(program, f"{name}_fast", [None, np.dtype(np.uint32), *dtypes]), fn.written_args()) \
                if name in renderer.trig_twins else ()
            self.kernels[name] = _Kernel(self.kernel(program, name, dtypes), params, _grid(fn),
                                         renderer.kernel_checks[name], _local(fn), *twin)
        self.range_flag: Any = None  # the twins' flag (a 4-byte device buffer, made at the first twin's launch)
        self.launches = 0  # the number a twin's launch stores in that flag
        self.device_args = {fn.sym_name: [_on_device(a) for a in fn.body.args]
                            for fn in module.regions[0].block.ops if type(fn) is FuncOp}
        self.live: list[DeviceArray] = []  # the buffers this call allocated
        self.results: list[tuple[np.ndarray, DeviceArray]] = []  # the deferred copies of results
        self.checking = False  # whether kernels with run-time checks ran since the error flag was last read
        self.depth = 0
        # the host functions as Python (runtime/host_plan.py; None: one with regions, interpreted)
        self.plans: dict[str, HostPlan | None] = {fn.sym_name: compile_host(fn, self)
                                                  for fn in module.regions[0].block.ops if type(fn) is FuncOp}

    def call(self, name: str, args: Any, keep: Collection[int] = ()) -> list[Any]:
        """Run @name on `args` (numpy arrays, scalars, DeviceArrays or the target's device arrays); results
        #k in `keep` stay on the device (the target's device array), the others are numpy arrays."""
        if name in self.kernels:
            self.launch(self.kernels[name], list(args))
            return []
        self.depth += 1
        try:
            on_device = self.device_args.get(name) or [False] * len(args)
            outs = super().call(name, [self._argument(a, ok) for a, ok in zip(args, on_device)])
            if self.depth == 1:
                self.raise_failed_check()
                outs = self._deliver(outs, keep)
            return outs
        finally:
            self.depth -= 1
            if not self.depth:  # the outermost call is done: its device buffers go back to the pool
                self.checking = False
                for a in self.live:
                    self.free(a)
                self.live, self.results = [], []

    def run_function(self, fn: Operation, args: list[Any]) -> list[Any]:
        """Run host function `fn` as Python (runtime/host_plan.py), or in the interpreter where it has regions."""
        plan = self.plans.get(fn.attributes["sym_name"])
        return plan(args) if plan is not None else super().run_function(fn, args)

    def _argument(self, value: Any, on_device: bool) -> Any:
        """An argument as the host plan takes it: on the device where it only goes there (`_on_device`: a numpy
        array is copied there now, so that the views of it the host plan makes are device views), else on the
        host (a device array is copied back)."""
        if not on_device:
            return host_array(value)
        value = self.wrap(value)
        return self.to_device(value) if isinstance(value, np.ndarray) else value

    def _deliver(self, outs: list[Any], keep: Collection[int]) -> list[Any]:
        """The results: those in `keep` as device arrays (the buffer a deferred copy would copy from, which
        leaves the pool; a result computed on the host is copied to the device), the other deferred copies
        done (asynchronously, then one wait)."""
        for k, out in enumerate(outs):  # an argument that was on the device, returned (an update in place)
            if isinstance(out, DeviceArray) and k in keep:
                outs[k] = self.unwrap(out)
                self.live = [a for a in self.live if a.buffer is not out.buffer]
            elif isinstance(out, DeviceArray):
                outs[k] = self.download(out)
        pending = {id(host): dev for host, dev in self.results}
        kept: set[int] = set()
        for k in keep:
            dev = pending.get(id(outs[k]))
            if dev is not None:
                kept.add(id(outs[k]))
                outs[k] = self.unwrap(dev)
                self.live = [a for a in self.live if a.buffer is not dev.buffer]
        needed = {id(o) for o in outs}
        for host, dev in self.results:
            if host.size and (id(host) not in kept or id(host) in needed):
                self.copy_out(host, dev.buffer)
        self.finish()
        for k in keep:  # a result the host plan computed (a 0-d one's arithmetic): to the device, as asked
            if isinstance(outs[k], np.ndarray):
                dev = self.to_device(outs[k])
                self.live.remove(dev)
                outs[k] = self.unwrap(dev)
        return outs

    # ---- the interpreter's device hooks
    def to_device(self, host: Any) -> DeviceArray:
        if isinstance(host, DeviceArray):  # already on the device (an argument that was)
            return host
        arr = np.asarray(host, order="C")  # (ascontiguousarray makes a 0-d array 1-d)
        a = self.alloc_device(arr.shape, arr.dtype)
        if arr.size:
            self.copy_in(a.buffer, arr)
        return a

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype)  # (not filled: a result kept on the device never touches it)

    def alloc_device(self, shape: tuple[int, ...], dtype: np.dtype) -> DeviceArray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        a = DeviceArray(self.alloc(nbytes), tuple(shape), dtype, nbytes)
        self.live.append(a)
        return a

    def device_view(self, src: DeviceArray, offset: int, shape: tuple[int, ...],
                    strides: tuple[int, ...]) -> DeviceArray:
        return DeviceArray(src.buffer, shape, src.dtype, src.nbytes, src.offset + offset,
                           tuple(s * src.itemsize for s in strides))

    def to_host(self, device: DeviceArray, host: np.ndarray, deferred: bool = False) -> None:
        """Copy `device` into `host`; `deferred` (the copy of a result: device-residency's `result` mark): at the
        end of the call, unless the caller keeps that result on the device."""
        if host is device:  # an argument that was on the device
            return
        assert device.contiguous and device.offset == 0, "to_host copies whole device buffers"
        if deferred and self.depth == 1:
            self.results.append((host, device))
        elif host.size:
            out = host if host.flags.c_contiguous else np.empty(device.shape, device.dtype)
            self.copy_out(out, device.buffer)
            self.finish()
            self.raise_failed_check()  # before the host reads what a failed kernel wrote
            if out is not host:
                host[...] = out

    def download(self, device: DeviceArray) -> np.ndarray:
        """A numpy copy of a (contiguous) device array."""
        out = np.empty(device.shape, device.dtype)
        self.to_host(device, out)
        return out

    # ---- launches
    def launch(self, k: _Kernel, args: list[Any]) -> None:
        """Run kernel `k` on the launch's arguments: per memref parameter its buffer, its offset and its
        dynamic sizes and strides (elements), per scalar parameter a scalar of its type."""
        values: list[Any] = []
        for v, (sizes, strides, scalar) in zip(args, k.layout):
            if scalar is not None:
                values.append(scalar(v))
                continue
            values += [v.buffer, v.offset]
            if sizes:
                shape = v.shape
                values += [shape[d] for d in sizes]
            if strides:
                item = v.itemsize
                values += [v.strides[d] // item for d in strides]
        sizes = [int(args[g[1]]) if g[0] == "arg" else -(-args[g[1]].shape[g[2]] // g[3]) if g[0] == "tiles"
                 else g[1] for g in k.grid]
        if any(s <= 0 for s in sizes):
            return  # an empty grid: nothing to run (neither API takes a zero-size one)
        if k.checks and not self.checking:
            self.clear_error()
            self.checking = True
        ids = list(reversed(sizes))
        if k.twin is not None and self._fast_twin(k, args, ids, values):
            return  # the twin's results stand: no argument was beyond its range
        if k.local is None:
            self.run(k.fn, ids, values)
        else:  # work-groups of `local` work-items
            self.run(k.fn, [g * n for g, n in zip(ids, k.local)], values, list(k.local))

    def _fast_twin(self, k: _Kernel, args: list[Any], ids: list[int], values: list[Any]) -> bool:
        """Launch kernel k's fast twin (backends/gpu.py trig_twin; CPU devices only) and say whether its results
        stand: no argument was beyond its range (the flag it stores, read back: a wait, cheap on a CPU device).
        Not where one buffer is two arguments, one of them written: k's rerun would read what the twin wrote."""
        buffers = [(a.buffer, w) for a, t, w in zip(args, k.params, k.written or []) if isinstance(t, MemRefType)]
        shared = [any(b is c or b == c for c, _ in buffers[:i] + buffers[i + 1:]) for i, (b, _) in enumerate(buffers)]
        if any(w and s for (_, w), s in zip(buffers, shared)):
            return False
        if self.range_flag is None:
            self.range_flag = self.alloc(4)
        self.launches = (self.launches + 1) % 2**32
        self.run(k.twin, list(ids), [self.range_flag, self.launches, *values])
        flag = np.zeros(1, np.uint32)
        self.copy_out(flag, self.range_flag)
        self.finish()
        return int(flag[0]) != self.launches

    def raise_failed_check(self) -> None:
        """Raise the message of the first run-time check that failed in a kernel since the last look (the error
        flag is read where the host waits for the device anyway: a copy back, the end of the call)."""
        if not self.checking:
            return
        self.checking = False
        code, found = self.read_error()
        if code:
            message = self.messages[code - 1]
            raise TirValueError(re.sub(r"\{(\d+)\}", lambda m: str(found[int(m.group(1))]), message))

    # ---- the target's hooks
    def renderer_options(self) -> dict[str, Any]:
        """Keyword arguments of the renderer for this device."""
        from ..config import config

        return {"fast_intrinsics": bool(config.fast_intrinsics)}

    def build(self, source: str) -> Any:
        """The built program (module) of `source`, through the target's disk cache."""
        raise NotImplementedError

    def kernel(self, program: Any, name: str, dtypes: list[np.dtype | None]) -> Any:
        """Kernel `name` of `program`, ready for launches (`run`) whose values after the error buffers have
        `dtypes` (arg_dtypes; None: a buffer)."""
        raise NotImplementedError

    def alloc(self, nbytes: int) -> Any:
        raise NotImplementedError

    def free(self, a: DeviceArray) -> None:
        raise NotImplementedError

    def copy_in(self, buffer: Any, host: np.ndarray) -> None:
        raise NotImplementedError

    def copy_out(self, host: np.ndarray, buffer: Any) -> None:
        """Start copying `buffer` into the C-contiguous `host` (done by the next `finish`)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Wait for the device's queued work (launches, copies)."""
        raise NotImplementedError

    def wrap(self, value: Any) -> Any:
        """An argument as the interpreter takes it: the target's device array as a DeviceArray."""
        return value

    def unwrap(self, a: DeviceArray) -> Any:
        """A DeviceArray as the target's device array (pyopencl.array.Array, pycuda GPUArray)."""
        raise NotImplementedError

    def run(self, fn: Any, ids: list[int], values: list[Any], local: list[int] | None = None) -> None:
        """Launch `fn` over `ids` work-items per dim (fastest first; [] for one work-item) with the
        error buffers and `values` as its arguments; `local`: in work-groups of that size (ids are multiples of
        it), else the target's own (GROUP along the fastest dim)."""
        raise NotImplementedError

    def clear_error(self) -> None:
        raise NotImplementedError

    def read_error(self) -> tuple[int, np.ndarray]:
        """The failed check's number (0: none) and its values."""
        raise NotImplementedError
