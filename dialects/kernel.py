"""The `kernel` dialect: target-neutral device code and the host plan that runs it.

    kernel.func @k(%x: memref<?xf32, #device>, %y: memref<?xf32, #device>, %n: index) {
      loop.parallel %n ({
        ^bb0(%i: index):
          ...
          loop.yield
      }) : index
      kernel.return
    }

    func.func @host(%x: memref<?xf32>, %y: memref<?xf32>, %n: index) {
      %dx = kernel.to_device %x : memref<?xf32>
      %dy = kernel.to_device %y : memref<?xf32>
      kernel.launch %dx, %dy, %n {kernel = @k} : memref<?xf32, #device>, memref<?xf32, #device>, index
      kernel.to_host %dy, %y : memref<?xf32, #device>, memref<?xf32>
      func.return
    }

A `kernel.func` is a loop nest outlined with its buffer and scalar arguments (isolated
from the code around it, no results: it writes into its buffers); its `loop.parallel`
dims become OpenMP threads, a CUDA grid or an OpenCL NDRange. The backends render it;
the reference interpreter runs its body. For a device target (`outline-kernels{device=true}`) its
buffers are in the `#device` memory space, the launch passes `kernel.to_device` copies of host
buffers and `kernel.to_host` copies back those the kernel writes, and `grid = N` says that the
first N dims of its top-level `loop.parallel` are the launch's grid (N = 0: one work-item runs it).
The interpreter runs transfers through its `to_device`/`to_host` methods (numpy copies; a device
runtime's interpreter makes them real transfers: runtime/opencl.py).
"""

from __future__ import annotations

from typing import Any

from ..ir.attributes import SymbolRef
from ..ir.core import TERMINATOR, AttrDef, Operation, Value
from ..ir.dialect import Dialect
from ..ir.types import MemRefType, ScalarType, Type
from .builtin import enclosing_module
from .func import FuncOp
from .lib import GemmOp
from .mem import AllocOp as AllocBase
from .mem import CopyOp, StoreOp, check_writable, memref_fits, memref_type, root_of
from .tensor_common import fmt_shape, runtime_error

__all__ = ["KernelFuncOp", "ReturnOp", "LaunchOp", "AllocOp", "ToDeviceOp", "ToHostOp", "TiledGemmOp"]


class KernelFuncOp(FuncOp):
    """Device code: `kernel.func @k(%a: memref<?xf32>, %n: index) { ... kernel.return }`.

    A function-like op sharing func.func's construction (`KernelFuncOp.create(name, inputs, [])`),
    printed form and checks; its arguments are buffers and scalars, and it has no results.
    """

    name = "kernel.func"
    return_op = "kernel.return"

    def verify_(self) -> None:
        super().verify_()
        if self.function_type.results:
            raise self.error(f"@{self.sym_name} must have no results (a kernel writes into its buffers), got "
                             + ", ".join(map(str, self.function_type.results)))
        for k, t in enumerate(self.function_type.inputs):
            if not isinstance(t, (MemRefType, ScalarType)):
                raise self.error(f"argument #{k} of @{self.sym_name} must be a memref or a scalar, got {t}")
        tree = self.attributes.get("tree")
        if tree is not None:  # passes/tree_reductions.py: work-items per row
            if not isinstance(tree, int) or isinstance(tree, bool) or tree < 2 or tree & (tree - 1) \
                    or tree > MAX_WORK_GROUP:
                raise self.error(f"@{self.sym_name}: tree must be a power of two from 2 to {MAX_WORK_GROUP}, "
                                 f"got {tree}")
            if not self.attributes.get("grid"):
                raise self.error(f"@{self.sym_name}: tree reductions need a grid (grid >= 1)")

    def written_args(self) -> list[bool]:
        """Which memref arguments the kernel writes (by mem.store, mem.copy or BLAS, through views too)."""
        from .lib import BlasOp

        written: set[Value] = set()
        for o in self.walk():
            if isinstance(o, (StoreOp, CopyOp)):
                written.add(root_of(o.operands[1]))
            elif isinstance(o, BlasOp):
                written.add(root_of(o.output))
        return [a in written for a in self.body.args]


class ReturnOp(Operation):
    """Ends a kernel body: `kernel.return`."""

    name = "kernel.return"
    num_results = 0
    traits = frozenset({TERMINATOR})

    def verify_(self) -> None:
        parent = self.parent_op
        if parent is not None and not isinstance(parent, KernelFuncOp):
            raise self.error(f"must end a kernel.func, not be inside '{parent.name}'")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []


class LaunchOp(Operation):
    """Host side: runs a kernel.func of the same module on buffers and scalars:
    `kernel.launch %a, %n {kernel = @k} : memref<?xf32>, index`."""

    name = "kernel.launch"
    operands_def = ("args*",)
    num_results = 0
    attrs = {"kernel": AttrDef(SymbolRef, required=True)}

    def kernel_op(self) -> KernelFuncOp:
        sym = self.attributes["kernel"].name
        module = enclosing_module(self)
        fn = module.lookup(sym) if module is not None else None
        if fn is None:
            raise self.error(f"launches unknown kernel @{sym}")
        if not isinstance(fn, KernelFuncOp):
            raise self.error(f"launches @{sym}, which is a '{fn.name}', not a kernel.func")
        return fn

    def verify_(self) -> None:
        cur = self.parent_op
        while cur is not None:
            if isinstance(cur, KernelFuncOp):
                raise self.error(f"cannot launch from inside kernel @{cur.sym_name}")
            cur = cur.parent_op
        fn = self.kernel_op()
        want = fn.function_type.inputs
        got = [v.type for v in self.operands]
        if len(want) != len(got) or not all(_fits(w, g) for w, g in zip(want, got)):
            raise self.error(f"passes ({', '.join(map(str, got))}) but @{fn.sym_name} takes "
                             f"({', '.join(map(str, want))})")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return interp.call(self.attributes["kernel"].name, args)


def _fits(param: Type, arg: Type) -> bool:
    if isinstance(param, MemRefType) and isinstance(arg, MemRefType):
        return memref_fits(param, arg)
    return param == arg


class ToDeviceOp(Operation):
    """A contiguous device copy of a host buffer (device targets): `%d = kernel.to_device %m : memref<?xf32>`
    (the result is a `memref<?xf32, #device>`)."""

    name = "kernel.to_device"
    operands_def = ("ref",)

    def infer_types(self) -> list[Type]:
        t = memref_type(self, self.operands[0])
        return [MemRefType(t.shape, t.element, space="device")]

    def verify_(self) -> None:
        if memref_type(self, self.operands[0]).space != "host":
            raise self.error(f"copies a buffer that is not on the host ({self.operands[0].type})")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [interp.to_device(args[0])]


class AllocOp(AllocBase):
    """A new contiguous device buffer, uninitialized (device targets: device-residency allocates a buffer that
    only kernels touch on the device alone):
    `%d = kernel.alloc sizes %n {shape = [?], dtype = f32} : memref<?xf32, #device>`."""

    name = "kernel.alloc"

    def infer_types(self) -> list[Type]:
        t = super().infer_types()[0]
        assert isinstance(t, MemRefType)
        return [MemRefType(t.shape, t.element, space="device")]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [interp.alloc_device(self.runtime_shape(args), self.attributes["dtype"].dtype)]


class ToHostOp(Operation):
    """Copies a device buffer back into a host buffer: `kernel.to_host %d, %m : memref<?xf32>, memref<?xf32>`.
    `result` (device-residency): the copy of a function result, which a device runtime makes at the end of
    the call, or not at all when the caller keeps that result on the device."""

    name = "kernel.to_host"
    operands_def = ("source", "target")
    num_results = 0
    attrs = {"result": AttrDef(bool)}

    def verify_(self) -> None:
        s = memref_type(self, self.operands[0], "source")
        d = memref_type(self, self.operands[1], "target")
        if s.space != "device" or d.space != "host":
            raise self.error(f"copies from a #{s.space} buffer into a #{d.space} one (device into host only)")
        if s.element != d.element or s.rank != d.rank or any(
                a is not None and b is not None and a != b for a, b in zip(s.shape, d.shape)):
            raise self.error(f"copies a {fmt_shape(s.shape)} {s.element} buffer into a "
                             f"{fmt_shape(d.shape)} {d.element} one")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        src, dst = args
        if tuple(src.shape) != dst.shape:
            raise runtime_error(self, f"source shape {tuple(src.shape)} does not match target shape {dst.shape}")
        check_writable(self, dst)
        interp.to_host(src, dst, bool(self.attributes.get("result", False)))
        return []


MAX_WORK_GROUP = 1024  # work-items of a work-group (CUDA's most threads per block; OpenCL GPUs: 256 to 1024)
MAX_LOCAL_BYTES = 48 * 1024  # local (shared) memory of a work-group (CUDA's static shared memory per block)


class TiledGemmOp(GemmOp):
    """lib.gemm as a matrix-product kernel the compiler generates (device targets: `device-gemm` makes it from a
    `lib.gemm`, `outline-kernels` outlines it alone into a kernel of `grid = 2` with its work-group size `local`,
    the grid renderer renders it, backends/gpu.py):
    `kernel.tiled_gemm %a, %b, %c {alpha = 1.0, beta = 0.0, trans_a = false, trans_b = false, tile_m = 64,
    tile_n = 64, tile_k = 16, reg_m = 4, reg_n = 4} : memref<?x?xf32>, memref<?x?xf32>, memref<?x?xf32>`.

    lib.gemm's operands, attributes and meaning (C = alpha * s * op(A) @ op(B) + beta * C), plus the tiling: a
    work-group of (tile_n / reg_n) x (tile_m / reg_m) work-items computes a tile_m x tile_n tile of C, each
    work-item reg_m x reg_n elements of it in registers (rows ty + i * tile_m / reg_m, columns tx + j * tile_n /
    reg_n), while the tiles of op(A) (tile_m x tile_k) and op(B) (tile_k x tile_n) go through local memory,
    tile_k of the inner dim at a time. Edge tiles are guarded (zeros past the ends of M, N and K)."""

    name = "kernel.tiled_gemm"
    attrs = {**GemmOp.attrs, "tile_m": AttrDef(int, default=64), "tile_n": AttrDef(int, default=64),
             "tile_k": AttrDef(int, default=16), "reg_m": AttrDef(int, default=4), "reg_n": AttrDef(int, default=4)}

    def tiles(self) -> tuple[int, int, int, int, int]:
        """tile_m, tile_n, tile_k, reg_m, reg_n."""
        a = self.attributes
        return a["tile_m"], a["tile_n"], a["tile_k"], a["reg_m"], a["reg_n"]

    def local_size(self) -> tuple[int, int]:
        """The work-group: work-items along C's columns (the fastest dim), then along its rows."""
        tm, tn, _, rm, rn = self.tiles()
        return tn // rn, tm // rm

    def verify_(self) -> None:
        super().verify_()
        tm, tn, tk, rm, rn = self.tiles()
        names = ("tile_m", "tile_n", "tile_k", "reg_m", "reg_n")
        for n, v in zip(names, (tm, tn, tk, rm, rn)):
            if v < 1:
                raise self.error(f"{n} must be positive, got {v}")
        if tm % rm or tn % rn:
            raise self.error(f"reg_m ({rm}) must divide tile_m ({tm}) and reg_n ({rn}) tile_n ({tn})")
        lx, ly = self.local_size()
        if lx * ly > MAX_WORK_GROUP:
            raise self.error(f"a work-group of {lx} x {ly} work-items is more than {MAX_WORK_GROUP}")
        nbytes = (tm + tn) * tk * self.typed()[0].element.dtype.itemsize
        if nbytes > MAX_LOCAL_BYTES:
            raise self.error(f"its tiles take {nbytes} bytes of local memory, more than {MAX_LOCAL_BYTES}")


DIALECT = Dialect("kernel", "target-neutral device code and the host plan that runs it")
