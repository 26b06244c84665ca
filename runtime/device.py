"""What the device runtimes share (OpenCL: runtime/opencl.py, CUDA: runtime/cuda.py).

A `DeviceModule` runs a module of a device pipeline (`opencl`, `cuda`): its kernels, rendered by the
target's grid renderer (backends/gpu.py) and built once, run on the device; its host function runs op by
op in the reference interpreter, whose device hooks it implements: `kernel.to_device` copies a host array
into a device buffer from the target's pool, `kernel.launch` runs the kernel over its grid (the sizes of
its `grid` dims, read off the launch's arguments: an argument or a constant per dim; one work-item for
grid 0), `kernel.to_host` copies a device buffer back into a host array. Everything else (allocation,
BLAS calls, sorts, host control flow and small nests) runs on the host on numpy arrays, so data moves only
through the transfers that outline-kernels put around each launch. Device buffers go back to the pool
when the outermost call returns. A kernel with run-time checks is followed by a read of its error flag;
a failed check raises its message (the C target's text) as a ValueError.

A target's subclass says how to build, allocate, copy and launch (the hooks at the end of the class).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..dialects import kernel as K
from ..dialects import loop as LP
from ..dialects import mem as M
from ..ir.core import CONSTANT_LIKE, Operation, TirValueError
from ..ir.types import MemRefType, ScalarType
from .interpreter import Interpreter

__all__ = ["DeviceArray", "DeviceModule", "GROUP"]

GROUP = 256  # work-items of a work-group / threads of a block, along the fastest grid dim (PoCL: W1 2x faster than 64)


@dataclass(eq=False)
class DeviceArray:
    """A C-contiguous array in a device buffer (the runtime value of a `#device` memref)."""

    buffer: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


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


class DeviceModule(Interpreter):
    """A module of a device pipeline: `call(name, args)` runs host function @name, its kernels on the device."""

    renderer_class: ClassVar[Any]  # the target's GridRenderer subclass

    def __init__(self, module: Operation) -> None:
        super().__init__(module)
        renderer = self.renderer_class(**self.renderer_options())
        source = renderer.render_program(module)
        self.messages: list[str] = renderer.messages
        program = self.build(source)
        self.kernels = {
            fn.sym_name: _Kernel(self.kernel(program, fn.sym_name), list(fn.function_type.inputs), _grid(fn),
                                 renderer.kernel_checks[fn.sym_name])
            for fn in module.regions[0].block.ops if isinstance(fn, K.KernelFuncOp)}
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
                    self.free(a)
                self.live = []

    # ---- the interpreter's device hooks
    def to_device(self, host: np.ndarray) -> DeviceArray:
        arr = np.ascontiguousarray(host)
        a = DeviceArray(self.alloc(arr.nbytes), arr.shape, arr.dtype, arr.nbytes)
        self.live.append(a)
        if arr.size:
            self.copy_in(a.buffer, arr)
        return a

    def to_host(self, device: DeviceArray, host: np.ndarray) -> None:
        out = np.empty(device.shape, device.dtype)
        if out.size:
            self.copy_out(out, device.buffer)
        host[...] = out

    # ---- launches
    def launch(self, k: _Kernel, args: list[Any]) -> None:
        """Run kernel `k` on the launch's arguments: a buffer and its dynamic sizes and (contiguous) strides
        per memref parameter, a scalar of the parameter's type per scalar one."""
        values: list[Any] = []
        for v, t in zip(args, k.params):
            if isinstance(t, MemRefType):
                strides = M.contiguous_strides(v.shape)
                values.append(v.buffer)
                values += [np.int64(v.shape[d]) for d, size in enumerate(t.shape) if size is None]
                values += [np.int64(strides[d]) for d, st in enumerate(M.layout_of(t)) if st is None]
            else:
                assert isinstance(t, ScalarType)
                values.append(np.uint8(v) if t.is_bool else t.dtype.type(v))
        sizes = [int(args[i]) if kind == "arg" else i for kind, i in k.grid]
        if any(s <= 0 for s in sizes):
            return  # an empty grid: nothing to run (neither API takes a zero-size one)
        if k.checks:
            self.clear_error()
        self.run(k.fn, list(reversed(sizes)), values)
        if k.checks:
            code, found = self.read_error()
            if code:
                message = self.messages[code - 1]
                raise TirValueError(re.sub(r"\{(\d+)\}", lambda m: str(found[int(m.group(1))]), message))

    # ---- the target's hooks
    def renderer_options(self) -> dict[str, Any]:
        """Keyword arguments of the renderer for this device."""
        return {}

    def build(self, source: str) -> Any:
        """The built program (module) of `source`, through the target's disk cache."""
        raise NotImplementedError

    def kernel(self, program: Any, name: str) -> Any:
        raise NotImplementedError

    def alloc(self, nbytes: int) -> Any:
        raise NotImplementedError

    def free(self, a: DeviceArray) -> None:
        raise NotImplementedError

    def copy_in(self, buffer: Any, host: np.ndarray) -> None:
        raise NotImplementedError

    def copy_out(self, host: np.ndarray, buffer: Any) -> None:
        raise NotImplementedError

    def run(self, fn: Any, ids: list[int], values: list[Any]) -> None:
        """Launch `fn` over `ids` work-items per dim (fastest first; [] for one work-item) with the
        error buffers and `values` as its arguments."""
        raise NotImplementedError

    def clear_error(self) -> None:
        raise NotImplementedError

    def read_error(self) -> tuple[int, np.ndarray]:
        """The failed check's number (0: none) and its values."""
        raise NotImplementedError
