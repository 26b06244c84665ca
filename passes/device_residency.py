"""`device-residency`: data stays on the device between kernels (device targets, after `outline-kernels{device=true}`).

outline-kernels copies the buffers of each launch to the device before it and those it writes back after it:
correct, but every launch moves its data both ways. This pass moves data only where the host needs it. Per host
block (the function body, `loop.if` branches, `loop.host_for` bodies: `loop.host_blocks`), in program order:

1. A `mem.alloc` that only kernels use (its uses: `kernel.to_device`, `kernel.to_host` into it, `mem.dim`,
   `mem.dealloc`; not returned) becomes a `kernel.alloc`: the buffer lives on the device alone, and its transfers
   go.
2. A `kernel.to_device %h` whose device copy of `h` is up to date (made earlier in the block, no host op has
   touched `h`'s memory since) is that copy. One of a `mem.alloc` that no host op has touched yet is a
   `kernel.alloc`: nothing to copy (the host's fill is never read).
3. A `kernel.to_host %d, %h` waits until a host op touches `h`'s memory, and is placed right before it. At the
   end of the function body: a copy into a returned buffer is marked `result` (the runtime makes it at the end
   of the call, or never when the caller keeps that result on the device: runtime/device.py), one into an
   argument (the caller's memory, e.g. a shared variable updated in place) stays, one into a buffer nobody can
   see any more is dropped. At the end of another block every waiting copy is placed before its terminator.

A host op touches the memory of every buffer whose views it takes, except those that read only a layout
(`mem.dim`, `mem.stride`, `mem.view`) and `mem.dealloc`; a touch may write, so it also makes the device copy
stale. An op whose regions are host blocks (`loop.if`, `loop.host_for`) touches everything: waiting copies go
before it and device copies are forgotten after it (its own blocks are handled on their own); a nest left on the
host touches the buffers its ops take.

    %o = mem.alloc sizes %n {...}                          %o = mem.alloc sizes %n {...}
    %dx = kernel.to_device %x                              %dx = kernel.to_device %x
    %do = kernel.to_device %o                              %do = kernel.alloc sizes %n {...}
    kernel.launch %n, %dx, %do {kernel = @f_k0}    ==>     kernel.launch %n, %dx, %do {kernel = @f_k0}
    kernel.to_host %do, %o                                 %t = kernel.alloc sizes %n {...}
    %t = mem.alloc sizes %n {...}                          kernel.launch %n, %do, %t {kernel = @f_k1}
    %do2 = kernel.to_device %o                             kernel.to_host %do, %o {result = true}
    %dt = kernel.to_device %t                              func.return %o
    kernel.launch %n, %do2, %dt {kernel = @f_k1}
    kernel.to_host %dt, %t
    func.return %o

Legal on entry and exit: the host plan of outline-kernels{device=true} (kernel-level IR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..dialects import func as F
from ..dialects import kernel as K
from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects.builtin import ModuleOp
from ..ir.builder import Builder
from ..ir.core import PURE, TERMINATOR, Block, Operation, Value
from ..ir.types import MemRefType
from .pass_manager import Pass

_LAYOUT_ONLY = (M.DimOp, M.StrideOp, M.ViewOp, M.DeallocOp)


def _device_alloc(alloc: M.AllocOp, at: Builder) -> Value:
    return at.create(K.AllocOp, *alloc.operands, shape=alloc.attributes["shape"],
                     dtype=alloc.attributes["dtype"]).result


def _only_kernels_use(alloc: Operation, returned: set[Value]) -> bool:
    value = alloc.results[0]
    return value not in returned and all(
        isinstance(u.op, (K.ToDeviceOp, M.DimOp, M.DeallocOp)) or isinstance(u.op, K.ToHostOp) and u.index == 1
        for u in value.uses)


def _device_only(block: Block, returned: set[Value]) -> bool:
    """Rule 1: allocs of `block` that only kernels use become kernel.allocs."""
    changed = False
    for op in list(block.ops):
        if type(op) is M.ViewOp and op.has_trait(PURE) and not op.results[0].uses:
            op.erase()  # a host view outline-kernels left unused (the launch takes its device twin)
    for alloc in [op for op in block.ops if type(op) is M.AllocOp]:
        if not _only_kernels_use(alloc, returned):
            continue
        device = _device_alloc(alloc, Builder.before(alloc))  # type: ignore[arg-type]
        for use in list(alloc.results[0].uses):
            if isinstance(use.op, K.ToDeviceOp):
                use.op.results[0].replace_all_uses_with(device)
                use.op.erase()
            elif isinstance(use.op, (K.ToHostOp, M.DeallocOp)):
                use.op.erase()
        alloc.results[0].replace_all_uses_with(device)  # its dims
        alloc.erase()
        changed = True
    return changed


@dataclass
class _State:
    """What the walk of one block knows: each copied host buffer's up-to-date device copy, the copies back that
    wait for a host touch, and the allocs no host op has touched yet."""

    device: dict[Value, Value] = field(default_factory=dict)
    waiting: dict[Value, Operation] = field(default_factory=dict)  # host buffer -> its detached kernel.to_host
    untouched: set[Value] = field(default_factory=set)

    def place(self, keys: list[Value], before: Operation, result: bool = False) -> None:
        for h in keys:
            op = self.waiting.pop(h)
            if result:
                op.attributes["result"] = True
            Builder.before(before).insert(op)


def _touched(op: Operation) -> set[Value]:
    """The buffers (roots of views) whose memory host op `op` touches."""
    if isinstance(op, _LAYOUT_ONLY):
        return set()
    if isinstance(op, K.ToHostOp):
        return {M.root_of(op.operands[1])}
    return {M.root_of(v) for o in op.walk() for v in o.operands if isinstance(v.type, MemRefType)}


def _walk(block: Block, function_body: bool, args: set[Value]) -> bool:
    """Rules 2 and 3 over one block."""
    state = _State()
    changed = False
    for op in list(block.ops):
        if type(op) is M.AllocOp:
            state.untouched.add(op.results[0])
        elif isinstance(op, K.ToDeviceOp):
            h = op.operands[0]
            root = M.root_of(h)
            state.place([k for k in state.waiting if k is not h and M.root_of(k) is root], op)  # overlapping copies
            copy = state.device.get(h)
            if copy is None and h in state.untouched:
                owner = h.op  # type: ignore[attr-defined]
                copy = _device_alloc(owner, Builder.before(op))
            if copy is not None:
                op.results[0].replace_all_uses_with(copy)
                op.erase()
                changed = True
            else:
                copy = op.results[0]
            state.device[h] = copy
            state.untouched.discard(h)
        elif isinstance(op, K.ToHostOp) and state.device.get(op.operands[1]) is op.operands[0]:
            h = op.operands[1]
            state.waiting[h] = op
            block.remove(op)
            changed = True
            for k in [k for k in state.device if k is not h and M.root_of(k) is M.root_of(h)]:
                del state.device[k]  # other device copies of the same memory are stale now
        elif op.has_trait(TERMINATOR) and not function_body:
            state.place(list(state.waiting), op)
        elif op.has_trait(TERMINATOR):
            returned = {M.root_of(v) for v in op.operands}
            for h in list(state.waiting):
                if M.root_of(h) in returned:
                    state.place([h], op, result=True)
                elif M.root_of(h) in args:
                    state.place([h], op)
                else:
                    state.waiting.pop(h).erase()
                    changed = True
        elif isinstance(op, M.DeallocOp) and op.operands[0] in state.waiting:
            state.waiting.pop(op.operands[0]).erase()
        elif isinstance(op, K.LaunchOp):
            continue  # on device values only
        else:
            touched = _touched(op)
            everything = any(isinstance(o, (K.ToDeviceOp, K.LaunchOp)) for o in op.walk())  # it holds host blocks
            keys = [h for h in state.waiting if everything or M.root_of(h) in touched]
            state.place(keys, op)
            for h in [h for h in state.device if everything or M.root_of(h) in touched]:
                del state.device[h]
            state.untouched -= touched if not everything else state.untouched
    return changed


@dataclass
class DeviceResidencyPass(Pass):
    name: ClassVar[str] = "device-residency"
    summary: ClassVar[str] = "device targets: data stays on the device between kernels, copied where the host reads it"

    def run(self, module: Operation) -> bool:
        assert isinstance(module, ModuleOp)
        changed = False
        for fn in [op for op in module.body.ops if type(op) is F.FuncOp]:
            ret = fn.body.ops[-1]
            returned = set(ret.operands)
            args = set(fn.body.args)
            for block in L.host_blocks(fn.body):
                changed |= _device_only(block, returned)
                changed |= _walk(block, block is fn.body, args)
        return changed


__all__ = ["DeviceResidencyPass"]
