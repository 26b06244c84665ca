"""The `sparse` dialect: csr/csc matrices (issue 11 item 4; `tensorir.sparse` is its Python API).

A sparse matrix is a tensor type with an encoding, `tensor<?x?xf32, #csr>` or `#csc` (ir/types.py). Its
storage is scipy.sparse's: `data` (the stored values, f32 or f64), `indices` (the column of each value for
csr, the row for csc), `indptr` (where each row's, for csc each column's, values start) and the shape. A
csc matrix is stored as the csr matrix of its transpose, so `sparse.transpose` moves no data.

Three levels of ops:

- on encoded tensors (the reference interpreter holds a scipy.sparse matrix for such a value):

      %s = sparse.assemble %data, %indices, %indptr, %rows, %cols {format = "csr"} : tensor<?x?xf32, #csr>
      %data, %indices, %indptr, %rows, %cols = sparse.parts %s
          : tensor<?xf32>, tensor<?xi64>, tensor<?xi64>, tensor<i64>, tensor<i64>
      %t = sparse.transpose %s : tensor<?x?xf32, #csc>            (free: csr <-> csc, the same arrays)
      %c = sparse.convert %s {format = "csc"} : tensor<?x?xf32, #csc>   (the same matrix, other storage)
      %y = sparse.dot %s, %d : tensor<?x?xf32>                    (sparse x dense or dense x sparse)
      %v = sparse.sample %s, %d : tensor<?xf32>                   (d at s's stored positions, in s's order)
      %r = sparse.sum %s {axis = 1} : tensor<?xf32>               (no axis: every value, a 0-d tensor)
      %d = sparse.to_dense %s : tensor<?x?xf32>
      %s = sparse.from_dense %d {format = "csr"} : tensor<?x?xf32, #csr>

  Elementwise math on the stored values needs no op of its own: it is any dense tensor math on `parts`'s
  data, reassembled with the same pattern (the Python API's `sparse.map`), so gradients w.r.t. the stored
  values are structured by construction.

- the kernels that `sparse-lower` (passes/sparse_lower.py) writes them with, on dense tensors (the parts):

      %y = sparse.csr_mm %data, %indices, %indptr, %b : tensor<?x?xf32>      (csr x dense, with a gradient)
      %r = sparse.row_ids %indices, %indptr : tensor<?xi64>                  (the row of each stored value)
      %perm, %ti, %tp = sparse.csr_transpose %indices, %indptr, %ncols       (the pattern of the transpose)
      %i, %p = sparse.dense_pattern %d, %nnz                                 (the csr pattern of d's nonzeros)

- their buffer forms, which `bufferize` makes and the C target calls in backends/c_runtime/tir_sparse.h
  (`lib.csr_mm %data, %indices, %indptr, %b, %out : memref<?xf32>, ...`, the outputs last).

Index arrays are i64 (scipy's own int32 arrays are widened at the function boundary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.core import PURE, AttrDef, Operation
from ..ir.dialect import Dialect
from ..ir.types import Dim, TensorType, Type, f32, f64, i64, index
from .mem import check_writable, memref_type
from .tensor_common import fmt_shape, runtime_error, tensor_type

FORMATS = ("csr", "csc")
_PURE = frozenset({PURE})
INDEX = TensorType((None,), i64)  # indices, indptr, positions
COUNT = TensorType((), i64)  # rows, cols, nnz


def sparse_type(op: Operation, v: Any, what: str = "operand") -> TensorType:
    """The type of a csr/csc matrix operand (f32 or f64), or a verifier error."""
    t = tensor_type(op, v, what)
    if t.encoding not in FORMATS or t.rank != 2 or t.element not in (f32, f64):
        raise op.error(f"{what} must be a csr or csc matrix of f32 or f64, got {t}")
    return t


def dense_type(op: Operation, v: Any, what: str, ranks: Sequence[int] = (1, 2)) -> TensorType:
    t = tensor_type(op, v, what)
    if t.encoding is not None or t.rank not in ranks:
        raise op.error(f"{what} must be a dense tensor of rank {' or '.join(map(str, ranks))}, got {t}")
    return t


def _integer(op: Operation, v: Any, what: str, rank: int) -> None:
    t = tensor_type(op, v, what)
    if t.encoding is not None or t.rank != rank or not t.element.is_int:
        raise op.error(f"{what} must be a {rank}-d integer tensor, got {t}")


def _format(op: Operation) -> str:
    fmt = op.attributes["format"]
    if fmt not in FORMATS:
        raise op.error(f"format must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
    return fmt


def _same(a: Dim, b: Dim) -> bool:
    return a is None or b is None or a == b


def _matrix(fmt: str, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> Any:
    import scipy.sparse as sp

    cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    return cls((data, indices, indptr), shape=shape)


# ---------------------------------------------------------------- ops on csr/csc matrices


class AssembleOp(Operation):
    """A csr/csc matrix from its parts (Theano's CSM): `%s = sparse.assemble %data, %indices, %indptr, %rows,
    %cols {format = "csr"} : tensor<?x?xf32, #csr>`; rows and cols are 0-d integer tensors."""

    name = "sparse.assemble"
    operands_def = ("data", "indices", "indptr", "rows", "cols")
    attrs = {"format": AttrDef(str, required=True)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        fmt = _format(self)
        data = dense_type(self, self.operands[0], "data", (1,))
        if data.element not in (f32, f64):
            raise self.error(f"data must be f32 or f64, got {data}")
        for v, what in zip(self.operands[1:3], ("indices", "indptr")):
            _integer(self, v, what, 1)
        for v, what in zip(self.operands[3:], ("rows", "cols")):
            _integer(self, v, what, 0)
        return [TensorType((None, None), data.element, fmt)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        data, indices, indptr, rows, cols = args
        shape = (int(rows), int(cols))
        major, minor = shape if self.attributes["format"] == "csr" else shape[::-1]
        check_pattern(self, len(data), indices, indptr, major, minor)
        return [_matrix(self.attributes["format"], data, indices, indptr, shape)]


class PartsOp(Operation):
    """The storage of a csr/csc matrix (Theano's csm_properties): `%data, %indices, %indptr, %rows, %cols =
    sparse.parts %s : tensor<?xf32>, tensor<?xi64>, tensor<?xi64>, tensor<i64>, tensor<i64>`."""

    name = "sparse.parts"
    operands_def = ("x",)
    num_results = 5
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = sparse_type(self, self.operands[0])
        return [TensorType((None,), t.element), INDEX, INDEX, COUNT, COUNT]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        m = args[0]
        return [m.data, m.indices.astype(np.int64), m.indptr.astype(np.int64), *map(np.int64, m.shape)]


class TransposeOp(Operation):
    """The transpose, csr <-> csc on the same arrays: `%t = sparse.transpose %s : tensor<?x?xf32, #csc>`."""

    name = "sparse.transpose"
    operands_def = ("x",)
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = sparse_type(self, self.operands[0])
        return [TensorType(t.shape[::-1], t.element, "csc" if t.encoding == "csr" else "csr")]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0].transpose()]


class ConvertOp(Operation):
    """The same matrix stored in `format`: `%c = sparse.convert %s {format = "csc"} : tensor<?x?xf32, #csc>`."""

    name = "sparse.convert"
    operands_def = ("x",)
    attrs = {"format": AttrDef(str, required=True)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = sparse_type(self, self.operands[0])
        return [TensorType(t.shape, t.element, _format(self))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0].asformat(self.attributes["format"])]


class DotOp(Operation):
    """A product of a csr/csc matrix and a dense matrix or vector, in either order (Theano's structured_dot:
    the gradient w.r.t. the sparse operand has its pattern): `%y = sparse.dot %s, %d : tensor<?x?xf32>`."""

    name = "sparse.dot"
    operands_def = ("a", "b")
    traits = _PURE

    def sparse_first(self) -> bool:
        return tensor_type(self, self.operands[0], "lhs").encoding is not None

    def infer_types(self) -> list[Type]:
        if self.sparse_first():
            s, d = sparse_type(self, self.operands[0], "lhs"), dense_type(self, self.operands[1], "rhs")
            inner, shape = (s.shape[1], d.shape[0]), (s.shape[0],) + d.shape[1:]
        else:
            d, s = dense_type(self, self.operands[0], "lhs"), sparse_type(self, self.operands[1], "rhs")
            inner, shape = (d.shape[-1], s.shape[0]), d.shape[:-1] + (s.shape[1],)
        if d.element != s.element:
            raise self.error(f"operands must have one element type, got {s.element} and {d.element}")
        if not _same(*inner):
            raise self.error(f"contraction dims {inner[0]} and {inner[1]} do not match")
        return [TensorType(shape, s.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        a, b = args
        inner = (a.shape[-1], b.shape[0])
        if inner[0] != inner[1]:
            raise runtime_error(self, f"contraction dims {inner[0]} and {inner[1]} do not match")
        return [np.asarray(a @ b)]


class SampleOp(Operation):
    """The values of dense d at the stored positions of s, in s's storage order (the stored values of
    s * d, the elementwise product): `%v = sparse.sample %s, %d : tensor<?xf32>`."""

    name = "sparse.sample"
    operands_def = ("x", "dense")
    traits = _PURE

    def infer_types(self) -> list[Type]:
        s, d = sparse_type(self, self.operands[0]), dense_type(self, self.operands[1], "dense operand", (2,))
        if d.element != s.element or not all(map(_same, s.shape, d.shape)):
            raise self.error(f"dense operand {d} does not fit the sparse matrix {s}")
        return [TensorType((None,), s.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        s, d = args
        if s.shape != d.shape:
            raise runtime_error(self, f"dense operand of shape {fmt_shape(d.shape)} for a matrix of "
                                      f"{fmt_shape(s.shape)}")
        coo = s.tocoo()  # keeps the storage order of csr/csc
        return [np.asarray(d[coo.row, coo.col])]


class SumOp(Operation):
    """The sum of the stored values: of all (`axis` absent, a 0-d tensor), down each column (`axis = 0`)
    or along each row (`axis = 1`), a 1-d tensor as in Theano: `%r = sparse.sum %s {axis = 1} : tensor<?xf32>`."""

    name = "sparse.sum"
    operands_def = ("x",)
    attrs = {"axis": AttrDef(int)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = sparse_type(self, self.operands[0])
        axis = self.attributes.get("axis")
        if axis is None:
            return [TensorType((), t.element)]
        if axis not in (0, 1):
            raise self.error(f"axis must be 0 or 1, got {axis}")
        return [TensorType((t.shape[1 - axis],), t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        axis = self.attributes.get("axis")
        total = args[0].sum(axis=axis, dtype=args[0].dtype)
        return [np.asarray(total, args[0].dtype).reshape(() if axis is None else (-1,))]


class ToDenseOp(Operation):
    """The dense matrix (Theano's dense_from_sparse): `%d = sparse.to_dense %s : tensor<?x?xf32>`."""

    name = "sparse.to_dense"
    operands_def = ("x",)
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = sparse_type(self, self.operands[0])
        return [TensorType(t.shape, t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0].toarray()]


class FromDenseOp(Operation):
    """The nonzeros of a dense matrix as a csr/csc matrix (Theano's csr_from_dense), in row-major (csr) or
    column-major (csc) order: `%s = sparse.from_dense %d {format = "csr"} : tensor<?x?xf32, #csr>`."""

    name = "sparse.from_dense"
    operands_def = ("x",)
    attrs = {"format": AttrDef(str, required=True)}
    traits = _PURE

    def infer_types(self) -> list[Type]:
        t = dense_type(self, self.operands[0], "operand", (2,))
        if t.element not in (f32, f64):
            raise self.error(f"operand must be f32 or f64, got {t}")
        return [TensorType(t.shape, t.element, _format(self))]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        import scipy.sparse as sp

        cls = sp.csr_matrix if self.attributes["format"] == "csr" else sp.csc_matrix
        return [cls(args[0])]


# ---------------------------------------------------------------- kernels on the parts (dense tensors)


def check_pattern(op: Operation, nnz: int, indices: np.ndarray, indptr: np.ndarray, major: int | None,
                  minor: int) -> None:
    """The checks the C kernels make too: indptr starts at 0, never decreases and ends at nnz (the length of
    indices, and of data), every index is in [0, minor); `major` rows when known."""
    if major is not None and len(indptr) != major + 1:
        raise runtime_error(op, f"indptr has {len(indptr)} entries for {major} rows")
    if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != nnz or len(indices) != nnz or np.any(np.diff(indptr) < 0):
        raise runtime_error(op, f"indptr does not describe {nnz} stored values (it must start at 0, never "
                                "decrease and end at the number of indices and values)")
    if len(indices) and (indices.min() < 0 or indices.max() >= minor):
        raise runtime_error(op, f"an index is out of range [0, {minor})")


def _row_ids(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def csr_mm(op: Operation, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, b: np.ndarray,
           ncols: Any) -> list[Any]:
    if b.shape[0] != int(ncols):
        raise runtime_error(op, f"contraction dims {int(ncols)} and {b.shape[0]} do not match")
    check_pattern(op, len(data), indices, indptr, None, b.shape[0])
    out = np.zeros((len(indptr) - 1, b.shape[1]), np.result_type(data, b))
    np.add.at(out, _row_ids(indptr), data[:, None] * b[indices])
    return [out]


def row_ids(op: Operation, indices: np.ndarray, indptr: np.ndarray) -> list[Any]:
    check_pattern(op, len(indices), indices, indptr, None, np.iinfo(np.int64).max)
    return [_row_ids(indptr)]


def csr_transpose(op: Operation, indices: np.ndarray, indptr: np.ndarray, ncols: Any) -> list[Any]:
    n = int(ncols)
    check_pattern(op, len(indices), indices, indptr, None, n)
    perm = np.argsort(indices, kind="stable").astype(np.int64)
    indptr_t = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n))]).astype(np.int64)
    return [perm, _row_ids(indptr)[perm], indptr_t]


def dense_pattern(op: Operation, d: np.ndarray, nnz: Any) -> list[Any]:
    rows, cols = np.nonzero(d)
    if len(rows) != int(nnz):
        raise runtime_error(op, f"the matrix has {len(rows)} nonzeros, not {int(nnz)}")
    counts = np.bincount(rows, minlength=d.shape[0])
    return [cols.astype(np.int64), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)]


class KernelOp(Operation):
    """A kernel on the parts of csr matrices, at tensor level: `compute` is its semantics (numpy), shared
    with its buffer form `lib_op` (a LibKernelOp), which bufferize makes of it."""

    traits = _PURE
    compute: ClassVar[Callable[..., list[Any]]]
    lib_op: ClassVar[type[LibKernelOp]]
    size_operands: ClassVar[tuple[int, ...]] = ()  # 0-d integer operands: `index` scalars in the lib form

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return type(self).compute(self, *args)

    def check_parts(self, indices: int = 0) -> None:
        for k, what in ((indices, "indices"), (indices + 1, "indptr")):
            _integer(self, self.operands[k], what, 1)


class CsrMmOp(KernelOp):
    """csr matrix (data, indices, indptr) of `ncols` columns times dense matrix b (of ncols rows), one row per
    indptr entry but the last: `%y = sparse.csr_mm %data, %indices, %indptr, %b, %ncols : tensor<?x?xf32>`.
    C: a parallel loop over the rows, an inner loop over each row's stored values. The gradient w.r.t. data
    is b's row of each value's column dotted with g's row of its row; w.r.t. b, the transpose's product
    with g."""

    name = "sparse.csr_mm"
    operands_def = ("data", "indices", "indptr", "b", "ncols")
    size_operands = (4,)
    compute = csr_mm

    def infer_types(self) -> list[Type]:
        data = dense_type(self, self.operands[0], "data", (1,))
        self.check_parts(1)
        b = dense_type(self, self.operands[3], "dense operand", (2,))
        _integer(self, self.operands[4], "ncols", 0)
        if data.element != b.element or data.element not in (f32, f64):
            raise self.error(f"data and the dense operand must have one element type, f32 or f64, got "
                             f"{data.element} and {b.element}")
        return [TensorType((None, b.shape[1]), b.element)]

    def vjp(self, b: Any, out_grads: list[Any]) -> list[Any]:
        from .tensor_grad import constant, dim, emit

        data, indices, indptr, dense, ncols = self.operands
        g = out_grads[0]
        rows = b.create(RowIdsOp, indices, indptr).result
        picked = emit(b, "mul", emit(b, "take", g, rows, axis=0), emit(b, "take", dense, indices, axis=0))
        d_data = emit(b, "sum", picked, axes=(1,))
        perm, indices_t, indptr_t = b.create(CsrTransposeOp, indices, indptr, ncols).results
        nrows = dim(b, g, 0)
        nrows = constant(b, nrows, np.int64) if isinstance(nrows, int) else nrows
        d_dense = b.create(CsrMmOp, emit(b, "take", data, perm), indices_t, indptr_t, g, nrows).result
        return [d_data, None, None, d_dense, None]


class RowIdsOp(KernelOp):
    """The row of each stored value of a csr pattern: `%r = sparse.row_ids %indices, %indptr : tensor<?xi64>`."""

    name = "sparse.row_ids"
    operands_def = ("indices", "indptr")
    differentiable = False
    compute = row_ids

    def infer_types(self) -> list[Type]:
        self.check_parts()
        return [INDEX]


class CsrTransposeOp(KernelOp):
    """The csr pattern of the transpose of a csr pattern with `ncols` columns (a counting sort): `perm` (the
    position of each of its values in the original data), its indices and indptr:
    `%perm, %ti, %tp = sparse.csr_transpose %indices, %indptr, %ncols : tensor<?xi64>, tensor<?xi64>,
    tensor<?xi64>`."""

    name = "sparse.csr_transpose"
    operands_def = ("indices", "indptr", "ncols")
    size_operands = (2,)
    num_results = 3
    differentiable = False
    compute = csr_transpose

    def infer_types(self) -> list[Type]:
        self.check_parts()
        _integer(self, self.operands[2], "ncols", 0)
        return [INDEX, INDEX, INDEX]


class DensePatternOp(KernelOp):
    """The csr pattern (indices, indptr) of the `nnz` nonzeros of dense matrix d, row by row:
    `%i, %p = sparse.dense_pattern %d, %nnz : tensor<?xi64>, tensor<?xi64>`."""

    name = "sparse.dense_pattern"
    operands_def = ("x", "nnz")
    size_operands = (1,)
    num_results = 2
    differentiable = False
    compute = dense_pattern

    def infer_types(self) -> list[Type]:
        t = dense_type(self, self.operands[0], "operand", (2,))
        if t.element not in (f32, f64):
            raise self.error(f"operand must be f32 or f64, got {t}")
        _integer(self, self.operands[1], "nnz", 0)
        return [INDEX, INDEX]


# ---------------------------------------------------------------- buffer forms (lib dialect)


class LibKernelOp(Operation):
    """The buffer form of a KernelOp: its operands (buffers; a 0-d size operand as an `index` scalar), then
    one output buffer per result, written whole (they must not overlap the inputs). The C target calls
    `tir_<helper>[_<type>]` of tir_sparse.h on tir_bufs (any strides); the interpreter runs the kernel's
    `compute`."""

    num_results = 0
    kernel: ClassVar[type[KernelOp]]
    helper: ClassVar[str]
    typed_by: ClassVar[int | None] = None  # the operand whose element type names the helper's variant
    float_out: ClassVar[bool] = False  # the output holds that element type (else i64)

    @property
    def n_inputs(self) -> int:
        return len(self.kernel.operands_def)

    def verify_(self) -> None:
        for k, v in enumerate(self.operands):
            if k in self.kernel.size_operands:
                if v.type != index:
                    raise self.error(f"operand #{k} ({self.operands_def[k]}) must be an index, got {v.type}")
            else:
                memref_type(self, v, f"operand #{k}")
        want = self.operands[self.typed_by].type.element if self.float_out and self.typed_by is not None else i64
        for k, v in enumerate(self.operands[self.n_inputs:]):
            if v.type.element != want:
                raise self.error(f"output #{k} must hold {want}, got {v.type}")

    @property
    def c_helper(self) -> str:
        suffix = "" if self.typed_by is None else f"_{self.operands[self.typed_by].type.element.name}"
        return f"tir_{self.helper}{suffix}"

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        ins, outs = args[:self.n_inputs], args[self.n_inputs:]
        for out, value in zip(outs, self.kernel.compute(self, *ins)):
            check_writable(self, out)
            if out.shape != np.shape(value):
                raise runtime_error(self, f"output of shape {fmt_shape(out.shape)} for a result of "
                                          f"{fmt_shape(np.shape(value))}")
            out[...] = value
        return []


class LibCsrMmOp(LibKernelOp):
    """`lib.csr_mm %data, %indices, %indptr, %b, %ncols, %out : memref<?xf32>, memref<?xi64>, memref<?xi64>,
    memref<?x?xf32>, index, memref<?x?xf32>` (sparse.csr_mm into out)."""

    name = "lib.csr_mm"
    operands_def = ("data", "indices", "indptr", "b", "ncols", "out")
    kernel = CsrMmOp
    helper = "csr_mm"
    typed_by = 0
    float_out = True


class LibRowIdsOp(LibKernelOp):
    """`lib.csr_row_ids %indices, %indptr, %out : memref<?xi64>, memref<?xi64>, memref<?xi64>`."""

    name = "lib.csr_row_ids"
    operands_def = ("indices", "indptr", "out")
    kernel = RowIdsOp
    helper = "csr_row_ids"


class LibCsrTransposeOp(LibKernelOp):
    """`lib.csr_transpose %indices, %indptr, %ncols, %perm, %ti, %tp : memref<?xi64>, memref<?xi64>, index,
    memref<?xi64>, memref<?xi64>, memref<?xi64>`."""

    name = "lib.csr_transpose"
    operands_def = ("indices", "indptr", "ncols", "perm", "indices_t", "indptr_t")
    kernel = CsrTransposeOp
    helper = "csr_transpose"


class LibDensePatternOp(LibKernelOp):
    """`lib.csr_dense_pattern %d, %nnz, %indices, %indptr : memref<?x?xf32>, index, memref<?xi64>,
    memref<?xi64>`."""

    name = "lib.csr_dense_pattern"
    operands_def = ("x", "nnz", "indices", "indptr")
    kernel = DensePatternOp
    helper = "csr_dense_pattern"
    typed_by = 0


for _lib in LibKernelOp.__subclasses__():  # each kernel knows its buffer form (bufferize reads it)
    _lib.kernel.lib_op = _lib


DIALECT = Dialect("sparse", "csr/csc matrices (tensor<?x?xf32, #csr>) and the kernels on their parts")
