"""The `lib` dialect: calls of tuned libraries (BLAS, LAPACK) and runtime helpers on buffers.

    lib.gemm %a, %b, %c {alpha = 1.0, beta = 0.0, trans_a = false, trans_b = false}
        : memref<?x?xf32>, memref<?x?xf32>, memref<?x?xf32>
    lib.gemv %a, %x, %y {alpha = 1.0, beta = 0.0, trans = false} : memref<?x?xf32>, memref<?xf32>, memref<?xf32>
    lib.gemm %a, %b, %c scale %lr {alpha = -1.0, beta = 1.0, trans_a = true, trans_b = false}
        : memref<?x?xf32>, memref<?x?xf32>, memref<?x?xf32>, f32
    lib.gemm_batch %a, %b, %c {alpha = 1.0, beta = 0.0}
        : memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?x?x?xf32>

gemm and gemv may take a run-time scalar after their buffers (`scale`, of their element type, e.g. a
learning rate loaded from a 0-d buffer): BLAS's alpha is then `alpha * scale`.

The ops have no results: they write into their output operand (the last buffer), with BLAS semantics
(`beta = 0` ignores the output's old contents, NaN included; the output must not
share memory with an input). Elements are f32 or f64, as in BLAS. The reference
interpreter computes them with numpy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..ir.core import AttrDef, Operation, Value
from ..ir.dialect import Dialect
from ..ir.types import Dim, MemRefType, f32, f64, i64
from .linalg import LINALG_OPS, LinalgOp
from .mem import check_writable, memref_type
from .tensor_common import fmt_shape, runtime_error

__all__ = ["LAPACK_OF", "BlasOp", "GemmBatchOp", "GemmOp", "GemvOp", "LapackOp", "SortOp"]

_NUM = (int, float)


class BlasOp(Operation):
    """Shared checks of the BLAS calls: memref operands of given ranks, one float element type; the last
    buffer is the output, an optional scalar after it (the `scale` segment) multiplies alpha."""

    num_results = 0
    ranks: ClassVar[tuple[int, ...]] = ()
    operand_names: ClassVar[tuple[str, ...]] = ()

    def typed(self) -> list[MemRefType]:
        types = [memref_type(self, v, f"operand {n}") for v, n in zip(self.operands, self.operand_names)]
        for t, r, n in zip(types, self.ranks, self.operand_names):
            if t.rank != r:
                raise self.error(f"operand {n} must be a {r}-d memref, got {t}")
        elements = {t.element for t in types}
        if len(elements) != 1 or not elements <= {f32, f64}:
            raise self.error("operands must have one element type, f32 or f64, got "
                             + ", ".join(str(t.element) for t in types))
        scales = self.operands[len(self.operand_names):]
        if len(scales) > 1:
            raise self.error(f"takes at most one scale, got {len(scales)}")
        for v in scales:
            if v.type != types[-1].element:
                raise self.error(f"scale must be a {types[-1].element} scalar, got {v.type}")
        return types

    @property
    def output_index(self) -> int:
        """The index of the operand the call writes (the last buffer; a scale may follow it)."""
        return len(self.operand_names) - 1

    @property
    def output(self) -> Value:
        """The buffer the call writes."""
        return self.operands[self.output_index]

    def alpha_beta(self, args: list[Any]) -> tuple[float, float]:
        """alpha (times the scale operand's run-time value, if any) and beta."""
        alpha = float(self.attributes["alpha"])
        for s in args[len(self.operand_names):]:
            alpha *= float(s)
        return alpha, float(self.attributes["beta"])

    def write(self, out: np.ndarray, inputs: list[np.ndarray], value: np.ndarray) -> list[Any]:
        check_writable(self, out)
        for x in inputs:
            try:
                overlap = np.shares_memory(out, x, max_work=100_000)
            except np.exceptions.TooHardError:
                overlap = False
            if overlap:
                raise runtime_error(self, "output shares memory with an input (BLAS forbids it)")
        out[...] = value
        return []


def _match(a: Dim, b: Dim) -> bool:
    return a is None or b is None or a == b


class GemmOp(BlasOp):
    """C = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T:
    `lib.gemm %a, %b, %c {alpha = 1.0, beta = 0.0, trans_a = false, trans_b = false}
    : memref<?x?xf32>, memref<?x?xf32>, memref<?x?xf32>`."""

    name = "lib.gemm"
    operands_def = ("a", "b", "c", "scale*")
    attrs = {"alpha": AttrDef(_NUM, default=1.0), "beta": AttrDef(_NUM, default=0.0),
             "trans_a": AttrDef(bool, default=False), "trans_b": AttrDef(bool, default=False)}
    ranks = (2, 2, 2)
    operand_names = ("A", "B", "C")

    def dims(self) -> tuple[tuple[Dim, Dim], tuple[Dim, Dim], tuple[Dim, Dim]]:
        a, b, c = (t.shape for t in self.typed())
        opa = (a[1], a[0]) if self.attributes["trans_a"] else (a[0], a[1])
        opb = (b[1], b[0]) if self.attributes["trans_b"] else (b[0], b[1])
        return opa, opb, (c[0], c[1])

    def verify_(self) -> None:
        opa, opb, c = self.dims()
        if not _match(opa[1], opb[0]):
            raise self.error(f"op(A) is {fmt_shape(opa)} and op(B) is {fmt_shape(opb)}: "
                             "inner dimensions differ")
        if not (_match(opa[0], c[0]) and _match(opb[1], c[1])):
            raise self.error(f"C is {fmt_shape(c)} but op(A) @ op(B) is {fmt_shape((opa[0], opb[1]))}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        a, b, c = args[:3]
        opa = a.T if self.attributes["trans_a"] else a
        opb = b.T if self.attributes["trans_b"] else b
        if opa.shape[1] != opb.shape[0] or c.shape != (opa.shape[0], opb.shape[1]):
            raise runtime_error(self, f"op(A) {opa.shape} @ op(B) {opb.shape} does not fit C {c.shape}")
        alpha, beta = self.alpha_beta(args)
        value = alpha * (opa @ opb)
        if beta != 0:
            value = value + beta * c
        return self.write(c, [a, b], value)


class GemvOp(BlasOp):
    """y = alpha * op(A) @ x + beta * y:
    `lib.gemv %a, %x, %y {alpha = 1.0, beta = 0.0, trans = false} : memref<?x?xf32>, memref<?xf32>, memref<?xf32>`."""

    name = "lib.gemv"
    operands_def = ("a", "x", "y", "scale*")
    attrs = {"alpha": AttrDef(_NUM, default=1.0), "beta": AttrDef(_NUM, default=0.0),
             "trans": AttrDef(bool, default=False)}
    ranks = (2, 1, 1)
    operand_names = ("A", "x", "y")

    def verify_(self) -> None:
        a, x, y = (t.shape for t in self.typed())
        opa = (a[1], a[0]) if self.attributes["trans"] else (a[0], a[1])
        if not _match(opa[1], x[0]):
            raise self.error(f"op(A) is {fmt_shape(opa)} but x is {fmt_shape(x)}")
        if not _match(opa[0], y[0]):
            raise self.error(f"op(A) is {fmt_shape(opa)} but y is {fmt_shape(y)}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        a, x, y = args[:3]
        opa = a.T if self.attributes["trans"] else a
        if opa.shape[1] != x.shape[0] or opa.shape[0] != y.shape[0]:
            raise runtime_error(self, f"op(A) {opa.shape} @ x {x.shape} does not fit y {y.shape}")
        alpha, beta = self.alpha_beta(args)
        value = alpha * (opa @ x)
        if beta != 0:
            value = value + beta * y
        return self.write(y, [a, x], value)


class GemmBatchOp(BlasOp):
    """C[i] = alpha * A[i] @ B[i] + beta * C[i] for every index i of the leading (batch) dims:
    `lib.gemm_batch %a, %b, %c {alpha = 1.0, beta = 0.0} : memref<?x?x?xf32, strides=[0,?,?]>, memref<?x?x?xf32>,
    memref<?x?x?xf32>`. The operands have one rank (3 or more) and the same batch sizes; an operand broadcast
    along a batch dim is a view with stride 0 there (BLAS then reads the same matrix for each i)."""

    name = "lib.gemm_batch"
    operands_def = ("a", "b", "c")
    attrs = {"alpha": AttrDef(_NUM, default=1.0), "beta": AttrDef(_NUM, default=0.0)}
    operand_names = ("A", "B", "C")

    def verify_(self) -> None:
        a, b, c = (t.shape for t in self.typed())
        if not len(a) == len(b) == len(c) >= 3:
            raise self.error(f"operands must have one rank, at least 3, got {len(a)}, {len(b)} and {len(c)}")
        if not all(_match(x, y) and _match(y, z) for x, y, z in zip(a[:-2], b[:-2], c[:-2])):
            raise self.error(f"batch dims differ: A {fmt_shape(a)}, B {fmt_shape(b)}, C {fmt_shape(c)}")
        if not _match(a[-1], b[-2]):
            raise self.error(f"A is {fmt_shape(a)} and B is {fmt_shape(b)}: inner dimensions differ")
        if not (_match(a[-2], c[-2]) and _match(b[-1], c[-1])):
            raise self.error(f"C is {fmt_shape(c)} but A @ B is {fmt_shape((*c[:-2], a[-2], b[-1]))}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        a, b, c = args
        if not (a.shape[:-2] == b.shape[:-2] == c.shape[:-2] and a.shape[-1] == b.shape[-2]
                and c.shape[-2:] == (a.shape[-2], b.shape[-1])):
            raise runtime_error(self, f"A {a.shape} @ B {b.shape} does not fit C {c.shape}")
        alpha, beta = self.alpha_beta(args)
        value = alpha * np.matmul(a, b)
        if beta != 0:
            value = value + beta * c
        return self.write(c, [a, b], value)


class SortOp(Operation):
    """A stable sort of every row along `axis` (numpy's order: nan last) into `out`: its values, or with
    `indices = true` the i64 positions that sort it (np.argsort(kind="stable")). The C target calls
    tir_ops.h's merge sort `tir_sort_<type>`; `out` must not share memory with `x`.

        lib.sort %x, %out {axis = 1, indices = false} : memref<?x?xf32>, memref<?x?xf32>
    """

    name = "lib.sort"
    operands_def = ("x", "out")
    num_results = 0
    attrs = {"axis": AttrDef(int, required=True), "indices": AttrDef(bool, default=False)}

    @property
    def output(self) -> Value:
        return self.operands[1]

    def verify_(self) -> None:
        x, out = (memref_type(self, v, f"operand {n}") for v, n in zip(self.operands, self.operands_def))
        if not 0 <= self.attributes["axis"] < x.rank:
            raise self.error(f"axis {self.attributes['axis']} is out of range for a memref of rank {x.rank}")
        want = i64 if self.attributes.get("indices", False) else x.element
        if out.rank != x.rank or out.element != want or not all(map(_match, x.shape, out.shape)):
            raise self.error(f"output {out} does not fit input {x} (element type {want})")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        x, out = args
        check_writable(self, out)
        axis = self.attributes["axis"]
        order = np.argsort(x, axis=axis, kind="stable")
        value = order if self.attributes.get("indices", False) else np.take_along_axis(x, order, axis)
        if value.shape != out.shape:
            raise runtime_error(self, f"output of shape {fmt_shape(out.shape)} for a sort of {fmt_shape(x.shape)}")
        out[...] = value
        return []


# ---------------------------------------------------------------- LAPACK


class LapackOp(Operation):
    """Base of the LAPACK calls, one per linear algebra op of the tensor dialect (dialects/linalg.py), which
    its class also derives from: `lib.<routine>` takes that op's operands, then one output buffer per result
    of it, and writes them (fresh buffers: an output overlaps no input). Sizes, size checks and the numpy rule
    are the tensor op's; the C target calls tir_linalg.h's `tir_<c_helper>_<f32|f64>` for each matrix.

        lib.solve %a, %b, %x : memref<?x?xf64>, memref<?xf64>, memref<?xf64>
    """

    operands_def = ("buffers*",)
    num_results = 0
    traits = frozenset()

    def infer_types(self) -> list[Any]:
        return []

    def verify_(self) -> None:
        op: Any = self
        types = [memref_type(self, v, f"operand #{k}") for k, v in enumerate(self.operands)]
        if len(types) <= op.n_inputs or len(types) != op.n_inputs + len(op.result_dims()):
            raise self.error(f"expects {op.n_inputs} input(s), then one output per result, got {len(types)} "
                             "operands")
        ins, outs = types[:op.n_inputs], types[op.n_inputs:]
        op.check_operands([t.shape for t in ins], [t.element for t in types])
        for k, (t, shape) in enumerate(zip(outs, op.static_result_shapes([t.shape for t in ins]))):
            if t.rank != len(shape) or not all(map(_match, t.shape, shape)):
                raise self.error(f"output #{k} of shape {fmt_shape(t.shape)} does not fit the result, of shape "
                                 f"{fmt_shape(shape)}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        op: Any = self
        n = op.n_inputs
        values = op.evaluate(args[:n])
        for out, value in zip(args[n:], values):
            check_writable(self, out)
            if out.shape != value.shape:
                raise runtime_error(self, f"output of shape {fmt_shape(out.shape)} for a result of shape "
                                          f"{fmt_shape(value.shape)}")
            out[...] = value
        return []


LAPACK_OF: dict[type[LinalgOp], type[LapackOp]] = {
    cls: type(f"Lapack{cls.__name__}", (LapackOp, cls), {  # type: ignore[misc]
        "name": f"lib.{cls.routine}", "__module__": __name__,
        "__doc__": f"`lib.{cls.routine}`: LAPACK's `tensor.{cls.routine}` on buffers (see LapackOp)."})
    for cls in LINALG_OPS}


DIALECT = Dialect("lib", "calls of tuned libraries (BLAS, LAPACK, sort) on buffers")
