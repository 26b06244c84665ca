"""Tied results: a function result that may be written into the storage of one of its arguments.

    func.func @step(%x: tensor<?x?xf32>, %w: tensor<?xf32>) -> (tensor<f32>, tensor<?xf32>)
        attributes {tir.tied = [-1, 1]} { ... }

`tir.tied` on a `func.func` has one entry per result: the index of the argument whose storage the
result may reuse, or -1 (MLIR/IREE's tied results, JAX's `donate_argnums`). `tensorir.function`
ties each shared variable's update to the variable's argument; a `.tir` author may write it too. The
verifier (dialects/func.py) checks that each tied pair has the same element type and rank and that
no argument is tied twice.

At the tensor level the attribute is a request. `bufferize` calls `decide_tied`, which keeps an entry
only where writing the result into the argument cannot change a value still to be read (the rule
below), and drops the others (the attribute goes when no entry is left), so the IR after `bufferize`
says what the compiled code may do. emit-c then asks the runtime for the argument's array as that
result (`tir_result_tied`, backends/c_runtime/tir_runtime.h), which hands it over only when it is
C-contiguous, aligned, writeable, of the exact dtype and shape, and overlaps no other argument;
otherwise the result is a fresh array, as an untied one.

The rule, on the bufferized body (result r returns alloc R, tied to argument a):
- R is returned once, and its first user (the writer) writes it whole: a `mem.generic` whose iterators
  are all parallel and that writes R (itself, not a view) through the identity map, or a `mem.copy` into R;
- every later use of R (or of a view of it) only reads it, or is a BLAS call whose output is R itself
  (`lib.gemm`/`lib.gemv`: C = alpha * A @ B + beta * C reads C only at the element it writes);
- every read of a (or of a view of it) comes before the writer in program order, or is the writer's read
  of the element it writes: an input of the generic that is a itself read through R's map (`w - lr * gw`,
  an SGD step), or the copy's source when it is a itself or a broadcast view of a that is a itself when
  the shapes agree (offset 0, a's stride along each dim, or a's stride where a's size is the view's:
  bufferize_rules.py `_broadcast_view`). Sizes and strides (`mem.dim`, `mem.stride`) may be read anywhere.
So the gemm pass's SGD update of a matrix, `tensor.gemm %h, %g, %w {alpha = -0.1, beta = 1.0, trans_a =
true}` (a copy of %w into R, then lib.gemm with beta = 1 into R), keeps its tie when its factors are not
views of %w. Anything else keeps the fresh buffer: a reduction accumulating into R over several passes,
R written piece by piece, a transposed read of a, a read of a after the update (the old value returned as
an output, a factor of the product that is a view of a), a swap's second copy.

When the tie holds at run time, R is a's storage and has a's shape, so a kept writer that copies a into R
copies each element onto itself: emit-c skips it (`if (R != a) tir_copy(...)`, backends/c.py).

Later passes keep the decision true: `fuse-loops` does not fuse a nest that uses R with one that uses
a (tied_buffers), and emit-c drops `restrict` where a kernel gets both, never lets a temporary alias a
(its copy-elision of arguments) and so never reruns such a kernel (the fast sin/cos twins).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..dialects import func as F
from ..dialects import lib as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..ir.attributes import DYN
from ..ir.core import Block, Operation, OpResult, Use, Value

TIED = "tir.tied"

Index = int | Value  # an entry of a view: static, or the index value that gives it (ints compare by value)


def tied_of(fn: F.FuncOp) -> list[int]:
    """Per result of `fn`, the index of the argument it is tied to, or -1."""
    tied = fn.attributes.get(TIED)
    return list(tied) if tied is not None else [-1] * len(fn.function_type.results)


def set_tied(fn: F.FuncOp, tied: Sequence[int]) -> None:
    """Set `fn`'s ties (none left: no attribute)."""
    if any(a >= 0 for a in tied):
        fn.attributes[TIED] = tuple(tied)
    else:
        fn.attributes.pop(TIED, None)


def tied_buffers(fn: F.FuncOp) -> dict[Value, Value]:
    """After bufferize: the returned alloc of each tied result -> the argument whose storage it may be."""
    term = fn.body.terminator
    if term is None or TIED not in fn.attributes:
        return {}
    return {term.operands[r]: fn.body.args[a] for r, a in enumerate(tied_of(fn)) if a >= 0}


def decide_tied(fn: F.FuncOp) -> None:
    """Keep each tie of bufferized `fn` only where the rule of this module's docstring holds."""
    term = fn.body.terminator
    if term is None or TIED not in fn.attributes:
        return
    returned = list(term.operands)
    set_tied(fn, [a if a >= 0 and _may_tie(fn.body, returned, returned[r], fn.body.args[a]) else -1
                  for r, a in enumerate(tied_of(fn))])


def _may_tie(body: Block, returned: list[Value], result: Value, arg: Value) -> bool:
    if not (isinstance(result, OpResult) and isinstance(result.op, M.AllocOp) and result.op.parent is body) \
            or returned.count(result) != 1:
        return False
    uses = [u for u in _uses_through_views(result) if not isinstance(u.op, (M.DimOp, M.StrideOp))]
    if not uses:
        return False
    writer = min((u.op for u in uses), key=lambda o: top_index(o, body))
    at = body.index(writer) if writer.parent is body else -1
    # the writer touches R once (no view of R among its inputs), as the buffer it writes whole
    if at < 0 or sum(u.op is writer for u in uses) != 1 or not _writes_whole(writer, result):
        return False
    if any(u.op is not writer and (top_index(u.op, body) <= at or not (_only_reads(u) or _blas_into(u, result)))
           for u in uses):
        return False
    for u in _uses_through_views(arg):
        if isinstance(u.op, (M.DimOp, M.StrideOp)) or top_index(u.op, body) < at:
            continue
        if not (u.op is writer and _reads_written_element(writer, u.index, result, arg)):
            return False
    return True


def _writes_whole(op: Operation, result: Value) -> bool:
    """Whether `op`, which uses `result` once, writes every element of it once, in one pass."""
    if isinstance(op, M.CopyOp):
        return op.operands[1] is result
    if not isinstance(op, M.GenericOp) or result not in op.outputs:
        return False
    k = op.operands.index(result)
    rank = result.type.rank  # type: ignore[attr-defined]
    return all(it == "parallel" for it in op.iterators) and op.maps[k] == tuple(range(rank)) \
        and len(op.iterators) == rank


def _reads_written_element(op: Operation, k: int, result: Value, arg: Value) -> bool:
    """Whether operand k of writer `op` reads `arg` at the element of `result` it writes, when the two have one
    shape (as they have when the tie holds at run time)."""
    if isinstance(op, M.CopyOp):
        return k == 0 and _same_index_view(op.operands[0], arg)
    return isinstance(op, M.GenericOp) and k < len(op.inputs) and op.operands[k] is arg \
        and op.maps[k] == op.maps[op.operands.index(result)]


def _same_index_view(v: Value, arg: Value) -> bool:
    """Whether `v` is `arg` itself wherever it has arg's shape: arg, or a view of it at offset 0 that takes arg's
    stride along each dim, or takes it where arg's size is the view's (a broadcast view, bufferize_rules.py
    `_broadcast_view`: `select(dim(arg, d) == size_d, stride(arg, d), 0)`)."""
    if v is arg:
        return True
    view = v.op if isinstance(v, OpResult) else None
    if not isinstance(view, M.ViewOp) or view.operands[0] is not arg or v.type.rank != arg.type.rank:  # type: ignore[attr-defined]
        return False
    offset, sizes, strides = _view_entries(view)
    return _index(offset) == 0 and all(_takes_stride(s, arg, d, n) for d, (n, s) in enumerate(zip(sizes, strides)))


def _takes_stride(s: Index, arg: Value, d: int, n: Index) -> bool:
    """Whether the stride `s` of a view of size `n` along dim d is arg's stride there wherever arg's size is `n`."""
    if _is_stride(s, arg, d):
        return True
    pick = s.op if isinstance(s, OpResult) else None
    return isinstance(pick, S.SelectOp) and _is_stride(pick.operands[1], arg, d) \
        and _is_size_test(pick.operands[0], arg, d, n)


def _view_entries(view: M.ViewOp) -> tuple[Index, list[Index], list[Index]]:
    """A view's offset, sizes and strides: the static entries, and the operands for the dynamic ones."""
    offset, shape, strides = view.entries()
    dyn = iter(view.operands[1:])
    off, *rest = [next(dyn) if e is DYN else e for e in (offset, *shape, *strides)]
    return off, rest[:len(shape)], rest[len(shape):]


def _index(v: Index) -> Index:
    """An index entry as an int where it is one (a `scalar.constant`), else the value."""
    return v.op.attributes["value"].value if isinstance(v, OpResult) and isinstance(v.op, S.ConstantOp) else v


def _is_stride(s: Index, arg: Value, d: int) -> bool:
    """Whether `s` is arg's stride along dim d."""
    static = M.layout_of(arg.type)[d]  # type: ignore[arg-type]
    if static is not None:
        return _index(s) == static
    return isinstance(s, OpResult) and isinstance(s.op, M.StrideOp) and s.op.operands[0] is arg \
        and s.op.attributes["axis"] == d


def _is_size_test(c: Value, arg: Value, d: int, n: Index) -> bool:
    """Whether `c` is `scalar.eq` of arg's size along dim d and `n` (either way round)."""
    if not (isinstance(c, OpResult) and isinstance(c.op, S.EqOp)):
        return False
    x, y = (_index(o) for o in c.op.operands)
    return (_is_size(x, arg, d) and y == _index(n)) or (_is_size(y, arg, d) and x == _index(n))


def _is_size(v: Index, arg: Value, d: int) -> bool:
    """Whether `v` is arg's size along dim d."""
    static = arg.type.shape[d]  # type: ignore[attr-defined]
    if static is not None:
        return v == static
    return isinstance(v, OpResult) and isinstance(v.op, M.DimOp) and v.op.operands[0] is arg \
        and v.op.attributes["axis"] == d


def _blas_into(use: Use, result: Value) -> bool:
    """Whether `use` is the output of a BLAS call that writes `result` itself (reading each element it writes)."""
    return isinstance(use.op, L.BlasOp) and use.index == use.op.output_index and use.op.output is result


def _only_reads(use: Use) -> bool:
    o, k = use.op, use.index
    if isinstance(o, M.GenericOp):
        return k < len(o.inputs)
    if isinstance(o, M.CopyOp):
        return k == 0
    if isinstance(o, L.BlasOp):
        return k != o.output_index
    return isinstance(o, (M.LoadOp, M.DeallocOp, F.ReturnOp))


def _uses_through_views(v: Value) -> list[Use]:
    """The uses of `v` and of every view of it, views themselves left out."""
    out: list[Use] = []
    for u in v.uses:
        if isinstance(u.op, M.ViewOp):
            out += _uses_through_views(u.op.results[0])
        else:
            out.append(u)
    return out


def top_index(op: Operation, block: Block) -> int:
    """The position in `block` of the op of `block` that holds `op`."""
    while op.parent is not block:
        op = op.parent_op  # type: ignore[assignment]
    return block.index(op)
