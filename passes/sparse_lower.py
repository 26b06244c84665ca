"""`sparse-lower`: csr/csc matrices -> their dense parts (dialects/sparse.py); docs/lowering.md section 0b.

Legal on entry: functions whose tensors may carry the `#csr`/`#csc` encoding, used by `sparse.*` ops, by
`tensor.grad` (as values differentiated for) and by `func.return`. Legal on exit: no encoded tensor; each
matrix is its parts (data, i64 indices, i64 indptr, 0-d i64 rows and cols) and each sparse op dense tensor
ops plus the kernels `sparse.csr_mm`, `sparse.row_ids`, `sparse.csr_transpose`, `sparse.dense_pattern`.

- An encoded argument becomes five arguments (`%s` -> `%s_data, %s_indices, %s_indptr, %s_rows, %s_cols`),
  an encoded result five results, in that order (frontend/function.py splits and rebuilds scipy.sparse
  matrices at the boundary).
- A csc matrix is the csr storage of its transpose: `transpose` only swaps the format and the shape;
  `convert` permutes the data by the pattern of the transpose (`csr_transpose`); a product with a csc
  operand is computed with its csr form.
- sum, to_dense and sample are dense ops on the parts (a segment sum and a scatter are `inc_take`s, a
  gather a `take` at each value's row-major position); from_dense counts the nonzeros, finds their
  pattern (`dense_pattern`) and gathers them, so its gradient w.r.t. the dense matrix flows.
- `tensor.grad` w.r.t. a sparse matrix is taken w.r.t. its data: the gradient has the matrix's pattern
  (structured, as Theano's), so autodiff, which runs after this pass, only sees dense tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..dialects import func as F
from ..dialects import sparse as SP
from ..dialects import tensor as T
from ..dialects.tensor_grad import constant, dim, emit
from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import Operation, TirError, Value
from ..ir.types import FunctionType, TensorType, i64
from .pass_manager import Pass
from .tied import set_tied, tied_of

PART_NAMES = ("data", "indices", "indptr", "rows", "cols")


@dataclass(frozen=True)
class Parts:
    """A csr/csc matrix as values: csr stores rows (`major` = rows), csc columns (the csr of the transpose)."""

    format: str
    data: Value
    indices: Value
    indptr: Value
    rows: Value
    cols: Value

    def values(self) -> list[Value]:
        return [self.data, self.indices, self.indptr, self.rows, self.cols]

    @property
    def minor(self) -> Value:
        return self.cols if self.format == "csr" else self.rows


def part_types(t: TensorType) -> list[TensorType]:
    return [TensorType((None,), t.element), SP.INDEX, SP.INDEX, SP.COUNT, SP.COUNT]


def _count(b: Builder, x: Value, k: int) -> Value:
    """Dim k of dense x as a 0-d i64 tensor."""
    d = dim(b, x, k)
    return constant(b, d, np.int64) if isinstance(d, int) else d


def _as_i64(b: Builder, v: Value) -> Value:
    return v if v.type.element == i64 else emit(b, "cast", v, dtype=i64)


def transposed(p: Parts) -> Parts:
    return Parts("csc" if p.format == "csr" else "csr", p.data, p.indices, p.indptr, p.cols, p.rows)


def converted(b: Builder, p: Parts, fmt: str) -> Parts:
    """p stored as `fmt`: its data permuted by the pattern of the transpose of its storage."""
    if p.format == fmt:
        return p
    perm, indices, indptr = b.create(SP.CsrTransposeOp, p.indices, p.indptr, p.minor).results
    return Parts(fmt, emit(b, "take", p.data, perm), indices, indptr, p.rows, p.cols)


def positions(b: Builder, p: Parts) -> Value:
    """The row-major position of each stored value in the dense (rows, cols) matrix."""
    major = b.create(SP.RowIdsOp, p.indices, p.indptr).result
    r, c = (major, p.indices) if p.format == "csr" else (p.indices, major)
    return emit(b, "add", emit(b, "mul", r, p.cols), c)


def csr_product(b: Builder, p: Parts, d: Value) -> Value:
    """csr/csc matrix p times dense matrix or vector d."""
    q = converted(b, p, "csr")
    vector = d.type.rank == 1
    d2 = emit(b, "expand_dims", d, axes=(1,)) if vector else d
    y = b.create(SP.CsrMmOp, q.data, q.indices, q.indptr, d2, q.cols).result
    return emit(b, "squeeze", y, axes=(1,)) if vector else y


def segment_sum(b: Builder, values: Value, ids: Value, n: Value) -> Value:
    """out[k] = the sum of values[i] where ids[i] == k, for k < n."""
    zeros = emit(b, "zeros", n, shape=(DYN,), dtype=values.type.element)
    return emit(b, "inc_take", zeros, ids, values, axis=0)


# ---------------------------------------------------------------- one rule per sparse op


def _assemble(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    data, *rest = op.operands
    return [Parts(op.attributes["format"], data, *(_as_i64(b, v) for v in rest))]


def _parts(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    return parts[0].values()


def _transpose(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    return [transposed(parts[0])]


def _convert(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    return [converted(b, parts[0], op.attributes["format"])]


def _dot(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    assert isinstance(op, SP.DotOp)
    if op.sparse_first():
        return [csr_product(b, parts[0], op.operands[1])]
    d = op.operands[0]  # d @ s = (s.T @ d.T).T
    vector = d.type.rank == 1
    y = csr_product(b, transposed(parts[0]), d if vector else emit(b, "transpose", d, perm=(1, 0)))
    return [y if vector else emit(b, "transpose", y, perm=(1, 0))]


def _sample(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    return [emit(b, "take", op.operands[1], positions(b, parts[0]))]


def _sum(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    p = parts[0]
    axis = op.attributes.get("axis")
    if axis is None:
        return [emit(b, "sum", p.data, axes=(0,))]
    along_major = (axis == 1) == (p.format == "csr")  # csr's row sums, csc's column sums
    if along_major:
        ids, n = b.create(SP.RowIdsOp, p.indices, p.indptr).result, p.rows if axis == 1 else p.cols
    else:
        ids, n = p.indices, p.minor
    return [segment_sum(b, p.data, ids, n)]


def _to_dense(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    p = parts[0]
    flat = segment_sum(b, p.data, positions(b, p), emit(b, "mul", p.rows, p.cols))
    return [emit(b, "reshape", flat, p.rows, p.cols, shape=(DYN, DYN))]


def _from_dense(b: Builder, op: Operation, parts: list[Parts]) -> list[Any]:
    d = op.operands[0]
    fmt = op.attributes["format"]
    m = d if fmt == "csr" else emit(b, "transpose", d, perm=(1, 0))  # csc: the csr pattern of d.T
    zero = constant(b, 0, d.type.dtype)
    nnz = emit(b, "sum", emit(b, "cast", emit(b, "ne", m, zero), dtype=i64), axes=(0, 1))
    indices, indptr = b.create(SP.DensePatternOp, m, nnz).results
    major = b.create(SP.RowIdsOp, indices, indptr).result
    data = emit(b, "take", m, emit(b, "add", emit(b, "mul", major, _count(b, m, 1)), indices))
    return [Parts(fmt, data, indices, indptr, _count(b, d, 0), _count(b, d, 1))]


RULES = {SP.AssembleOp: _assemble, SP.PartsOp: _parts, SP.TransposeOp: _transpose, SP.ConvertOp: _convert,
         SP.DotOp: _dot, SP.SampleOp: _sample, SP.SumOp: _sum, SP.ToDenseOp: _to_dense, SP.FromDenseOp: _from_dense}
"""How each op on encoded tensors is written on parts: a list per result, of Parts (encoded) or Values."""


# ---------------------------------------------------------------- the pass


def _encoded(v: Value) -> bool:
    return isinstance(v.type, TensorType) and v.type.encoding is not None


class FunctionLowering:
    def __init__(self, fn: F.FuncOp) -> None:
        self.fn = fn
        self.parts: dict[Value, Parts] = {}

    def get(self, v: Value, user: Operation) -> Parts:
        p = self.parts.get(v)
        if p is None:
            raise TirError(f"sparse-lower: '{user.name}' op uses a sparse matrix this pass cannot split", user.loc)
        return p

    def run(self) -> bool:
        if not any(_encoded(v) for op in self.fn.walk() for v in [*op.operands, *op.results]) and \
                not any(_encoded(a) for a in self.fn.args):
            return False
        self.split_arguments()
        lowered: list[Operation] = []
        for op in list(self.fn.walk())[1:]:
            rule = RULES.get(type(op))
            if rule is not None:
                self.lower(op, rule)
                lowered.append(op)
            elif isinstance(op, T.GradOp):
                self.lower_grad(op)
            elif isinstance(op, F.ReturnOp) and op.parent is self.fn.body:
                self.split_results(op)
            elif any(v in self.parts for v in op.operands) or any(_encoded(v) for v in op.results):
                raise TirError(f"sparse-lower: '{op.name}' op does not take sparse matrices (use tensorir.sparse's "
                               "operations, or todense)", op.loc)
        for op in reversed(lowered):
            op.erase()
        ret = self.fn.body.terminator
        self.fn.attributes["function_type"] = FunctionType(tuple(a.type for a in self.fn.body.args),
                                                           tuple(v.type for v in ret.operands) if ret else ())
        return True

    def split_arguments(self) -> None:
        block = self.fn.body
        args = []
        for a in list(block.args):
            if not _encoded(a):
                args.append(a)
                continue
            name = a.name_hint or f"arg{a.index}"
            new = [block.add_arg(t, f"{name}_{n}") for t, n in zip(part_types(a.type), PART_NAMES)]
            self.parts[a] = Parts(a.type.encoding, *new)
            args += new
        block.args = args
        for k, a in enumerate(args):
            a.index = k

    def lower(self, op: Operation, rule: Any) -> None:
        b = Builder.before(op)
        parts = [self.get(v, op) for v in op.operands if _encoded(v)]
        for r, out in zip(op.results, rule(b, op, parts)):
            if isinstance(out, Parts):
                self.parts[r] = out
            else:
                r.replace_all_uses_with(out)

    def lower_grad(self, op: T.GradOp) -> None:
        """The gradient w.r.t. a sparse matrix is that w.r.t. its data, with its pattern."""
        inputs = op.inputs()
        if any(_encoded(v) for v in op.operands[1 + len(inputs):]):
            raise TirError("sparse-lower: a sparse matrix cannot be a constant or have a known gradient in "
                           "'tensor.grad'", op.loc)
        for k, (v, r) in enumerate(zip(inputs, op.results)):
            if _encoded(v):
                p = self.get(v, op)
                op.set_operand(1 + k, p.data)
                r.type = p.data.type
                self.parts[r] = replace(p, data=r)

    def split_results(self, ret: Operation) -> None:
        values, tied = [], []
        for v, t in zip(ret.operands, tied_of(self.fn)):
            if v in self.parts:
                values += self.get(v, ret).values()
                tied += [-1] * len(PART_NAMES)
            else:
                values.append(v)
                tied.append(t)
        ret.drop_operands()
        for v in values:
            ret._add_operand(v)
        set_tied(self.fn, tied)


@dataclass
class SparseLowerPass(Pass):
    name: ClassVar[str] = "sparse-lower"
    summary: ClassVar[str] = "csr/csc matrices -> their dense parts, sparse ops -> dense ops and csr kernels"
    handles_encodings: ClassVar[bool] = True

    def run(self, module: Operation) -> bool:
        changed = False
        for op in list(module.regions[0].block.ops):
            if isinstance(op, F.FuncOp) and op.name == "func.func":
                changed |= FunctionLowering(op).run()
        return changed
