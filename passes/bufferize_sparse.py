"""The `bufferize` rules of the csr kernels (dialects/sparse.py): each becomes its `lib.csr_*` call into
fresh buffers, sized from its operands (registered in bufferize_rules.RULES when that module loads)."""

from __future__ import annotations

from collections.abc import Callable

from ..dialects import sparse as SP
from ..ir.core import Operation, Value
from .bufferize import FunctionBufferizer, Ix
from .bufferize_rules import rule

# The sizes of a kernel's outputs from its operands' buffers (sizes: their 0-d operands as indices).
SIZES: dict[type[SP.KernelOp], Callable[[FunctionBufferizer, list[Value], list[Ix]], list[list[Ix]]]] = {
    SP.CsrMmOp: lambda cx, bufs, n: [[cx.sub(cx.dim(bufs[2], 0), 1), cx.dim(bufs[3], 1)]],
    SP.RowIdsOp: lambda cx, bufs, n: [[cx.dim(bufs[0], 0)]],
    SP.CsrTransposeOp: lambda cx, bufs, n: [[cx.dim(bufs[0], 0)]] * 2 + [[cx.add(n[0], 1)]],
    SP.DensePatternOp: lambda cx, bufs, n: [[n[0]], [cx.add(cx.dim(bufs[0], 0), 1)]],
}


@rule(*SIZES)
def _kernel(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    """One call of the kernel's buffer form (`lib.csr_mm` ...) into fresh buffers."""
    assert isinstance(op, SP.KernelOp)
    bufs: list[Value] = []
    sizes: list[Ix] = []
    for k, v in enumerate(op.operands):
        if k in op.size_operands:  # an index in the lib form
            sizes.append(cx.index_operand(v))
            bufs.append(cx.ix(sizes[-1]))
        else:
            bufs.append(cx.get(v))
    outs = [cx.alloc(shape, r.type.element)
            for shape, r in zip(SIZES[type(op)](cx, bufs, sizes), op.results)]
    cx.b.create(op.lib_op, *bufs, *outs)
    return outs
