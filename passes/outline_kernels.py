"""`outline-kernels`: each top-level loop nest becomes a `kernel.func` + `kernel.launch` (docs/lowering.md, section 6).

Legal on entry: loop-level IR (after `lower-to-loops` / `parallelize`): `func.func` bodies whose
top-level ops are host ops and `loop.parallel` / `loop.for` nests. A top-level `loop.for` with
results must have them used only by the ops right after it (the stores of a full reduction:
`%r = loop.for ...` then `mem.store %r, %out`); such a nest is outlined together with those ops.

A `loop.if` of the function body is host control flow: the nests in its branches (at any depth of
ifs) are outlined as the top-level ones are, and its other ops stay on the host.

Legal on exit: every top-level loop nest of a `func.func` (or of its loop.if branches) is a `kernel.launch` of a new
`kernel.func @<fn>_k<N>` (N counts the nests of that function from 0), inserted before the
function, except a small nest (`stays_on_host`: at most HOST_TRIPS iterations, all counted at
compile time) of the C target. A device target outlines every nest: its host plan runs in Python (the
interpreter), where a launch costs less than a loop. The function body is the host plan:
`mem.alloc/dealloc/dim/stride/view/check`,
`lib.*`, `mem.copy`, scalar index arithmetic, small nests, `kernel.launch`, `func.return`. A nest
whose results escape elsewhere stays on the host (lower-to-loops and parallelize never make one).

    func.func @f(%x: memref<?xf32>) -> memref<?xf32> {        kernel.func @f_k0(%o: memref<?xf32>, %x: memref<?xf32>,
      %n = mem.dim %x {axis = 0}                                               %n: index) {
      %o = mem.alloc %n {...}                                   %c0 = scalar.constant {value = 0.0 : f32}
      %c0 = scalar.constant {value = 0.0 : f32}       ==>       loop.parallel %n ({ ... mem.store ... })
      loop.parallel %n ({ ... %c0 ... %x ... %o ... })         kernel.return
      func.return %o                                          }
    }                                                         func.func @f(%x: memref<?xf32>) -> memref<?xf32> {
                                                                %n = mem.dim %x {axis = 0}
                                                                %o = mem.alloc %n {...}
                                                                kernel.launch %o, %x, %n {kernel = @f_k0}
                                                                func.return %o
                                                              }

The kernel's arguments are the nest's free values (buffers, `index` scalars, other scalars) in
the order of their first use; constants are cloned into the kernel instead of passed.

For a device target (`outline-kernels{device=true}`: the opencl and cuda pipelines) the pass also
makes the launch configuration and the transfers. The kernel gets `grid = N`: the first N (at most
MAX_GRID) dims of its top-level `loop.parallel` are the launch's grid, one work-item or thread per
iteration, when the rest of its body is loop-free and writes nothing (constants, index arithmetic)
and those dims' bounds are arguments or constants (the runtime reads them off the launch); otherwise
N = 0 and one work-item runs the whole body (a full reduction's loop, which parallelize split into
chunks where it could). A `kernel.tiled_gemm` (device-gemm) is outlined alone, into a kernel of `grid = 2`
and `local = [lx, ly]`, its work-group size (the runtime launches one work-group per tile of C). Its buffer
arguments are `#device` memrefs: before the launch each host buffer it takes is copied by
`kernel.to_device` (once per buffer), after it each buffer it writes is copied back by `kernel.to_host`.
The host plan itself (allocation, small nests) stays on the host, so every launch moves its buffers both
ways: correct, not yet fast (device-residency removes the copies the data does not need).

    kernel.func @f_k0(%o: memref<?xf32, #device>, %x: memref<?xf32, #device>, %n: index)
        attributes {grid = 1} { ... }
    ...
    %d0 = kernel.to_device %o : memref<?xf32, #device>
    %d1 = kernel.to_device %x : memref<?xf32, #device>
    kernel.launch %d0, %d1, %n {kernel = @f_k0} : memref<?xf32, #device>, memref<?xf32, #device>, index
    kernel.to_host %d0, %o : memref<?xf32, #device>, memref<?xf32>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dialects import kernel as K
from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects.builtin import ModuleOp
from ..dialects.func import FuncOp
from ..dialects.tensor_common import static_value
from ..ir.attributes import SymbolRef
from ..ir.builder import Builder
from ..ir.core import CONSTANT_LIKE, Block, Operation, OpResult, Value
from ..ir.types import MemRefType, ScalarType
from .pass_manager import Pass


def nest_groups(fn: FuncOp, device: bool = False) -> list[list[Operation]]:
    """The top-level loop nests of fn, and those of its host control flow (`loop.if` branches: L.host_blocks),
    each with the ops right after it that use its results (`device`: small nests too, see the module doc)."""
    return [g for block in L.host_blocks(fn.body) for g in _block_nest_groups(block, device)]


def _block_nest_groups(block: Block, device: bool) -> list[list[Operation]]:
    groups: list[list[Operation]] = []
    ops = list(block.ops)
    i = 0
    while i < len(ops):
        op = ops[i]
        i += 1
        if isinstance(op, K.TiledGemmOp):  # device-gemm's product: a kernel of its own
            groups.append([op])
            continue
        if not isinstance(op, (L.ParallelOp, L.ForOp)):
            continue
        group = [op]
        produced: set[Value] = set(op.results)
        while i < len(ops) and produced and any(v in produced for inner in ops[i].walk() for v in inner.operands):
            group.append(ops[i])
            produced.update(ops[i].results)
            i += 1
        inside = {o for g in group for o in g.walk()}  # walk() includes every nested op
        if all(u.op in inside for v in produced for u in v.uses) and (device or not stays_on_host(group)):
            groups.append(group)
    return groups


HOST_TRIPS = 64  # parallelize's default number of chunks: the combine of a split reduction stays on the host


def stays_on_host(group: list[Operation]) -> bool:
    """Whether a nest runs at most HOST_TRIPS iterations, all counted at compile time: scalar work of the
    host plan (a 0-d result's arithmetic or cast, the combine of a split reduction's partial results),
    cheaper inline than as a kernel."""
    trips = 1
    for op in (o for top in group for o in top.walk()):
        if isinstance(op, (L.ParallelOp, L.ForOp)):
            bounds = op.operands if isinstance(op, L.ParallelOp) else op.operands[:1]  # a for's: its upper bound
            for bound in bounds:
                n = static_value(bound)
                if not isinstance(n, int):
                    return False
                trips *= n
    return trips <= HOST_TRIPS


def free_values(group: list[Operation]) -> list[Value]:
    """Values the group uses but does not define, in the order of their first use."""
    defined: set[Value] = set()
    for top in group:
        for op in top.walk():
            defined.update(op.results)
            for region in op.regions:
                for block in region.blocks:
                    defined.update(block.args)
    seen: dict[Value, None] = {}
    for top in group:
        for op in top.walk():
            for v in op.operands:
                if v not in defined and v not in seen:
                    seen[v] = None
    return list(seen)


def _is_constant(v: Value) -> bool:
    owner = getattr(v, "op", None)
    return owner is not None and owner.has_trait(CONSTANT_LIKE) and not owner.operands and not owner.regions


def _fresh_name(module: ModuleOp, base: str, start: int) -> tuple[str, int]:
    n = start
    while module.lookup(f"{base}_k{n}") is not None:
        n += 1
    return f"{base}_k{n}", n


MAX_GRID = 3  # the most dims of a grid (an OpenCL NDRange, a CUDA grid of blocks)


def grid_dims(kfn: K.KernelFuncOp) -> int:
    """How many leading dims of the kernel's top-level loop.parallel can be its launch grid (see the module doc);
    a tiled gemm's grid is 2-d: its work-groups over the tiles of C."""
    ops = kfn.body.ops[:-1]
    if len(ops) == 1 and isinstance(ops[0], K.TiledGemmOp):
        return 2
    loops = [o for o in ops if isinstance(o, L.ParallelOp)]
    if len(loops) != 1 or any(o is not loops[0] and (o.regions or isinstance(o, (M.StoreOp, M.CopyOp, M.CheckOp)))
                              for o in ops):
        return 0
    n = 0
    for bound in loops[0].operands[:MAX_GRID]:
        if not (bound in kfn.body.args or _is_constant(bound)):
            break
        n += 1
    return n


def _copied(v: Value) -> Value:
    """The host buffer whose device copy a kernel gets for `v`: the buffer v views when that is contiguous (the
    device copy has its layout, so v's view applies to it as it is), else v itself (copied contiguous)."""
    root = M.root_of(v)
    t = root.type
    return root if isinstance(t, MemRefType) and t.strides is None else v


def _device_type(v: Value) -> MemRefType:
    """The type of v's device counterpart: a view of the device copy of the buffer it views (v's layout), or a
    copy of v, contiguous, unless v is a view of a strided buffer: then v may be a view of an argument's device
    array (runtime/device.py), so its strides are read at run time (but for a unit innermost stride, which both
    have)."""
    t = v.type
    assert isinstance(t, MemRefType)
    if _copied(v) is not v or t.strides is None:
        return MemRefType(t.shape, t.element, t.strides, "device")
    if M.root_of(v) is v:  # an argument: its copy, or its device array (runtime/device.py), is contiguous
        return MemRefType(t.shape, t.element, None, "device")
    unit = tuple(1 if d == t.rank - 1 and s == 1 else None for d, s in enumerate(t.strides))  # holds for both
    return MemRefType(t.shape, t.element, unit, "device")


def _to_device(host: Builder, v: Value, copies: dict[Value, Value]) -> Value:
    """v's device counterpart, built at `host`: `kernel.to_device` of `_copied(v)` (once per buffer) and the
    chain of views from it to v, cloned onto the device copy."""
    h = _copied(v)
    if h not in copies:
        copies[h] = host.create(K.ToDeviceOp, h).result
    if v is h:
        return copies[h]
    assert isinstance(v, OpResult)
    view = host.insert(v.op.clone({v.op.operands[0]: _to_device(host, v.op.operands[0], copies)}))
    view.results[0].type = view.infer_types()[0]  # in the device space
    return view.results[0]


def outline(module: ModuleOp, fn: FuncOp, group: list[Operation], name: str, device: bool = False) -> bool:
    """Move `group` into a new kernel.func `name` and launch it in its place (`device`: with the grid and
    the transfers of a device target)."""
    free = free_values(group)
    consts = [v for v in free if _is_constant(v)]
    args = [v for v in free if not _is_constant(v)]
    if not all(isinstance(v.type, (MemRefType, ScalarType)) for v in args):
        return False
    types = [_device_type(v) if device and isinstance(v.type, MemRefType) else v.type for v in args]
    kfn = K.KernelFuncOp.create(name, types, [], [v.name_hint for v in args], group[0].loc)
    mapping: dict[Value, Value] = dict(zip(args, kfn.body.args))
    kb = Builder.at_end(kfn.body, group[0].loc)
    for c in consts:
        assert isinstance(c, OpResult)
        mapping[c] = kb.insert(c.op.clone({})).results[c.index]
    for op in group:
        kb.insert(op.clone(mapping))
    kb.create(K.ReturnOp)
    module.body.insert(module.body.index(fn), kfn)
    host = Builder.before(group[0])
    if device:
        kfn.attributes["grid"] = grid_dims(kfn)
        gemm = kfn.body.ops[0]
        if isinstance(gemm, K.TiledGemmOp):
            kfn.attributes["local"] = tuple(gemm.local_size())
        copies: dict[Value, Value] = {}  # host buffer -> its device copy
        on_device = {v: _to_device(host, v, copies) for v in args if isinstance(v.type, MemRefType)}
        host.create(K.LaunchOp, *(on_device.get(v, v) for v in args), kernel=SymbolRef(name))
        written = kfn.written_args()
        for h in dict.fromkeys(_copied(v) for k, v in enumerate(args) if written[k]):
            host.create(K.ToHostOp, copies[h], h)
    else:
        host.create(K.LaunchOp, *args, kernel=SymbolRef(name))
    for op in reversed(group):
        op.erase()
    for c in consts:  # host constants only the nest used
        assert isinstance(c, OpResult)
        if c.op.parent is not None and not any(r.uses for r in c.op.results):
            c.op.erase()
    return True


@dataclass
class OutlineKernelsPass(Pass):
    name: ClassVar[str] = "outline-kernels"
    summary: ClassVar[str] = "top-level loop nests -> kernel.func + kernel.launch (the host plan remains)"

    device: bool = False  # a device target's kernels: #device buffers, transfers, the grid

    def run(self, module: Operation) -> bool:
        assert isinstance(module, ModuleOp)
        changed = False
        for fn in [op for op in module.body.ops if type(op) is FuncOp]:
            n = 0
            for group in nest_groups(fn, self.device):
                name, n = _fresh_name(module, fn.sym_name, n)
                if outline(module, fn, group, name, self.device):
                    changed = True
                    n += 1
        return changed


__all__ = ["MAX_GRID", "OutlineKernelsPass", "free_values", "grid_dims", "nest_groups", "outline"]
