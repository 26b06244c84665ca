"""The C target: one C translation unit per compiled function, in the ABI of backends/c_runtime/tir_runtime.h.

    #define TIR_USE_BLAS 1                       (when the function calls lib.gemm / gemv / gemm_batch)
    #define TIR_USE_COPY 1                       (when it copies on the host or tiles a kernel: tir_copy)
    #include "tir_runtime.h"                     (Python, numpy, tir_math.h)
    #include "tir_ops.h"                         (numpy-exact integer division etc., BLAS wrappers)
    #include "tir_linalg.h"                      (when it calls LAPACK: lib.solve, lib.inv ...)
    TIR_KERNEL void k0(tir_ctx* ctx, const float* restrict x, int64_t x_n0, ...);   (each kernel's prototype)
    /* tir:kernel */
    TIR_KERNEL void k0(tir_ctx* ctx, const float* restrict x, int64_t x_n0, ...) { ...loops... }
    /* tir:host */
    static const tir_param tir_args[] = {{"x", NPY_FLOAT32, 1}};
    static const tir_param tir_results[] = {{"r0", NPY_FLOAT32, 1}};
    static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) { ...host plan... }
    TIR_MODULE(tir_main, tir_args, tir_results)

Kernels are rendered by the shared C-style renderer (backends/cstyle.py); this file adds what only the
C target has: OpenMP pragmas, the host function as `tir_main` (arguments from `args[k]`, the function's
returned allocations as `tir_result` arrays, other allocations as `tir_alloc` temporaries, BLAS through
tir_ops.h) and the module tables. A result tied to an argument (`tir.tied`, passes/tied.py) is
`tir_result_tied`: the argument's own array when the runtime finds it fit, written in place; the kernels
that get both then lose `restrict`, no temporary stands for a copy of that argument, and a copy of the
argument into the result (a self-copy when the tie holds) is skipped when the result is its array.

The `/* tir:kernel */` and `/* tir:host */` lines split the source into translation units that the compiler
driver may build in parallel (runtime/ccompiler.py `translation_units`): the text before the first marker is
the prelude every unit starts with, which is why it declares every kernel. `TIR_KERNEL` is `static` in one
unit and empty (hidden visibility) when the kernels are compiled apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..dialects import extern as X
from ..dialects import func as F
from ..dialects import kernel as K
from ..dialects import lib as L
from ..dialects import loop as LP
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects import sparse as SP
from ..ir.attributes import DYN
from ..ir.core import Block, BlockArgument, Location, Operation, OpResult, TirError, Value
from ..ir.types import MemRefType, ScalarType, scalar
from ..passes.tied import tied_buffers, top_index
from ..runtime import mathlib
from ..runtime.ccompiler import HOST_MARK, KERNEL_MARK
from .c_extern import ExternCalls
from .cstyle import (
    MATH_FUNCS,
    STMT,
    CStyleRenderer,
    MemRef,
    _is_int_literal,
    _Loop,
    _mul,
    _paren,
    _simd_reductions,
    c_string,
    contiguous_strides,
    reads_what_it_writes,
    uses_f32_trig,
)

__all__ = ["CRenderer", "HOST_STMT", "render_c"]

# numpy type numbers of the module tables (tir_param.typenum)
NPY_TYPES: dict[str, str] = {
    "i1": "NPY_BOOL", "i8": "NPY_INT8", "i16": "NPY_INT16", "i32": "NPY_INT32", "i64": "NPY_INT64",
    "ui8": "NPY_UINT8", "ui16": "NPY_UINT16", "ui32": "NPY_UINT32", "ui64": "NPY_UINT64",
    "f16": "NPY_FLOAT16", "f32": "NPY_FLOAT32", "f64": "NPY_FLOAT64", "index": "NPY_INT64",
}
MAX_COPY_RANK = 32  # the most dims tir_ops.h's tir_copy takes (TIR__COPY_MAX_DIMS - 2), numpy's own limit


@dataclass
class _ColumnPlan:
    """A column form of a parallel nest: its reduction nests, the parallel dim of the columns, the strides
    it assumes 1, its run-time condition and that of its strided twin (none: no strided twin)."""

    nests: list[list[LP.ForOp]]
    col: int
    unit: list[str]
    cond: list[str]
    strided: list[str]


# The C target's host plan (runtime/c_module.py runs it): ops beyond the shared STMT table.
HOST_STMT: dict[type[Operation], str] = {
    LP.HostForOp: "render_host_for",
    M.AllocOp: "render_alloc",
    M.DeallocOp: "render_dealloc",
    L.GemmOp: "render_gemm",
    L.GemvOp: "render_gemv",
    L.GemmBatchOp: "render_gemm_batch",
    L.SortOp: "render_sort",
    X.LibPyCallOp: "render_py_call",
    X.LibExternCOp: "render_extern_c",
    **{cls: "render_csr_kernel" for cls in SP.LibKernelOp.__subclasses__()},
    **{cls: "render_lapack" for cls in L.LAPACK_OF.values()},
    K.LaunchOp: "render_launch",
}


class CRenderer(ExternCalls, CStyleRenderer):
    """The C target's knobs: OpenMP threads over the outermost parallel loop, `omp simd` inner loops."""

    type_names: ClassVar[dict[str, str]] = {**CStyleRenderer.type_names, "f16": "_Float16"}
    kernel_prefix: ClassVar[str] = "TIR_KERNEL void"
    kernel_ctx_param: ClassVar[str] = "tir_ctx* ctx"
    constant_qualifier: ClassVar[str] = "static const"
    stmt_table: ClassVar[dict[type[Operation], str]] = {**STMT, **HOST_STMT}

    def __init__(self) -> None:
        super().__init__()
        self.result_of: dict[Value, int] = {}
        self.kernel_checks: dict[str, bool] = {}
        self.kernel_written: dict[str, list[bool]] = {}
        self.uses_blas = False
        self.uses_lapack = False  # tir_linalg.h (lib's LAPACK ops)
        self.uses_copy = False  # tir_copy / tir_transpose (TIR_USE_COPY)
        self.uses_sparse = False  # the csr kernels of tir_sparse.h
        self.user_reductions: set[str] = set()
        # Host allocations whose only write is a copy of an argument (see _aliasable_copies): the C pointer
        # aliases the argument when its layout already is the copy's, else it is allocated and copied.
        self.aliasable: set[Value] = set()
        self.tied: dict[Value, Value] = {}  # a tied result's alloc -> the argument it may be (passes/tied.py)
        self.aliased: dict[Value, str] = {}
        # Kernels rendered with a fast twin (render_kernel_versions; cstyle's range_flag)
        self.fast_twins: set[str] = set()
        # tir_math.h functions called out of line (runtime/mathlib.py): those of mathlib.ALWAYS, and every
        # one of mathlib.FUNCTIONS while a kernel with more than mathlib.INLINE_MAX of their calls is rendered.
        self.library_calls: set[str] = set()
        self.large_kernel = False
        self.extern_defs: dict[str, str] = {}  # extern_c functions' C text, by name (backends/c_extern.py)
        self.uses_extern = False  # lib.py_call or a library's extern_c: tir_extern.h

    def int64_literal(self, v: int, unsigned: bool) -> str:
        if unsigned:
            return f"UINT64_C({v})"
        return f"(-INT64_C({-(v + 1)}) - 1)" if v < 0 else f"INT64_C({v})"

    def fail(self, message: str, values: list[str]) -> str:
        """tir_runtime.h's `tir_fail(ctx, format, ...)`: `{k}` placeholders become printf conversions."""
        order = [int(k) for k in re.findall(r"\{(\d+)\}", message)]
        fmt = re.sub(r"\{\d+\}", "%lld", message.replace("%", "%%"))
        return f"tir_fail(ctx, {c_string(fmt)}{''.join(f', (long long){_paren(values[k])}' for k in order)})"

    def fail_and_leave(self, fail: str) -> str:
        # the host function returns tir_fail's -1
        return super().fail_and_leave(fail) if self.in_kernel else f"return {fail};"

    def _flag_clause(self) -> str:
        return f" reduction(|:{self.range_flag})" if self.range_flag else ""

    def parallel_pragma(self, work: str) -> str | None:
        return self._parallel_pragma(work) + self._flag_clause()

    def _parallel_pragma(self, work: str) -> str:
        # `if(parallel: ...)`, not `if(...)`: in OpenMP 5 a bare `if` on a combined `parallel for simd`
        # also applies to `simd`, so below the threshold gcc would run the loop unvectorized (7x slower).
        return f"#pragma omp parallel for num_threads(ctx->nthreads) if(parallel: {work} >= TIR_PARALLEL_MIN)"

    def select(self, cond: str, a: str, b: str, t: ScalarType) -> str:
        # A float `?:` can keep gcc from vectorizing ("control flow in loop": softmax over axis 0 selects
        # each column's max, or 0 where it is infinite, next to an exp); tir_math.h's bitwise select does not.
        if t.name in ("f32", "f64"):
            return f"tir__sel{'f' if t.name == 'f32' else 'd'}({cond}, {a}, {b})"
        return super().select(cond, a, b, t)

    def simd_pragma(self, reductions: list[tuple[str, str, ScalarType]]) -> str | None:
        clauses = []
        for kind, var, t in reductions:
            if kind in ("max", "min") and t.is_float and t.name != "f16":
                # OpenMP's own max/min drop NaN when they combine lanes: a reduction that propagates it.
                name = f"tir_{kind}_{t.name}"
                self.user_reductions.add(f"{kind}:{t.name}")
                clauses.append(f"reduction({name}:{var})")
            elif kind in ("max", "min") and (t.is_int or t.is_bool):
                clauses.append(f"reduction({kind}:{var})")
            elif kind in S.COMBINER_OF_KIND and t.name != "f16" and not (t.is_bool and kind in ("add", "mul")):
                clauses.append(f"reduction({S.COMBINER_OF_KIND[kind].omp_reduction}:{var})")
            else:
                return None
        if self.range_flag:
            clauses.append(f"reduction(|:{self.range_flag})")
        return "#pragma omp simd" + "".join(" " + c for c in clauses)

    # ---- reductions over a dim that is not the unit-stride one: the column form
    COLUMN_BLOCK: ClassVar[int] = 2048  # the most output columns of an accumulator row (a thread's task)

    def render_parallel(self, op: Operation) -> None:
        """A kernel's outermost `loop.parallel` over reductions' outputs whose last output dim is the
        inputs' unit-stride one while the reduced dims are not (sum over axis 0 of a C-order matrix) also
        gets the column form, chosen at run time on the strides (docs/lowering.md, emit-c); so does one
        whose first output dim is (sum over the last axis of a Fortran-order 3-d input)."""
        last = len(op.operands) - 1
        plans = [] if self.parallel_depth or self.range_flag else \
            [p for p in (self._column_plan(op, col) for col in dict.fromkeys((last, 0))) if p is not None]
        if not plans:
            self._render_rows_or_tiles(op)
            return
        # (run-time condition, column dim, strides assumed 1) of each column form, in order
        forms = [(p.cond, p.col, p.unit) for p in plans] + [(p.strided, p.col, []) for p in plans if p.strided]
        for k, (cond, col, unit) in enumerate(forms):
            if not cond:  # literal unit strides: the column form always applies
                if k:
                    self.emit("} else {")
                    self.depth += 1
                self._render_columns(op, plans[0].nests, unit, col)
                if k:
                    self.depth -= 1
                    self.emit("}")
                return
            self.emit(f"{'} else if' if k else 'if'} ({' && '.join(cond)}) {{")
            self.depth += 1
            self._render_columns(op, plans[0].nests, unit, col)
            self.depth -= 1
        self._else_rows(op)

    def _else_rows(self, op: Operation) -> None:
        """Close a run-time choice of forms with the plain row form of `op` as its `else`."""
        self.emit("} else {")
        self.depth += 1
        super().render_parallel(op)
        self.depth -= 1
        self.emit("}")

    def _column_plan(self, op: Operation, col: int) -> _ColumnPlan | None:
        """The column form of `op` over columns of parallel dim `col` (the plan's fields) when `op` is
        `loop.parallel { perfect loop.for nests (writing nothing), and between and after them loop-free
        ops (elementwise steps, stores of the results) }` whose induction variable `col` walks unit stride
        and the innermost reduction ones do not; else None. The strided column form (no stride assumed 1)
        serves inputs whose column strides are smaller than their reduction strides without being 1:
        reversed (-1) or sliced (x[:, ::2]). Scalars that one step passes to a later one become a value per
        column."""
        ops = op.body.ops[:-1]
        nests = []
        for o in ops:
            if isinstance(o, LP.ForOp):
                nest = self._perfect_nest(o)
                if nest is None or any(isinstance(f.operands[0], OpResult) and f.operands[0].op.is_within(op)
                                       for f in nest):  # the same rows for every column
                    return None
                nests.append(nest)
            elif o.regions:
                return None
        if not nests or any(not isinstance(v.type, ScalarType) for v in _column_values(op, nests)):
            return None
        stored = {M.root_of(o.operands[1]) for o in ops if isinstance(o, M.StoreOp)}
        last = col == len(op.operands) - 1
        if last:
            unit, col_literal = self._walked_strides(op, op.body.args[col])
        else:  # the inputs' strides only: the stores of the results walk the output's dim `col` as they are
            walked = [self._walked_strides(nest[0], op.body.args[col]) for nest in nests]
            unit = list(dict.fromkeys(s for w in walked for s in w[0]))
            col_literal = [s for w in walked for s in w[1]]
        if any(s != "1" for s in col_literal):
            return None
        cond = [f"{s} == 1" for s in unit]
        reduced: list[str] = []
        for nest in nests:
            inner = nest[-1]
            if any(isinstance(o, (M.StoreOp, M.CopyOp)) or isinstance(o, M.LoadOp) and M.root_of(o.operands[0])
                   in stored for o in inner.walk()):
                return None
            red, red_literal = self._walked_strides(inner, inner.body.args[0])
            reduced += red
            if not any(s != "1" for s in red_literal):
                if not red:
                    return None
                cond.append("!(" + " && ".join(f"{s} == 1" for s in red) + ")")
        if not last and not unit:
            return None  # a first-dim column form only where the strides can tell it apart at run time
        strided = [f"llabs({c}) < llabs({r})" for c in unit for r in dict.fromkeys(reduced) if r not in unit]
        return _ColumnPlan(nests, col, unit, list(dict.fromkeys(cond)), strided if last else [])

    def _perfect_nest(self, loop: LP.ForOp) -> list[LP.ForOp] | None:
        """`loop` and the loops it nests, when each but the innermost holds only the next one (reducing the
        same iter args); else None."""
        nest = [loop]
        while not self._innermost(nest[-1]):
            outer = nest[-1].body.ops
            if len(outer) != 2 or not isinstance(outer[0], LP.ForOp):
                return None
            inner = outer[0]
            if inner.operands[1:] != nest[-1].body.args[1:] or outer[1].operands != inner.results:
                return None
            nest.append(inner)
        return nest

    def _render_columns(self, op: Operation, nests: list[list[LP.ForOp]], unit: list[str], col: int) -> None:
        """The column form: each task owns a block of output columns (parallel dim `col`; about one block
        per thread, 64 to COLUMN_BLOCK columns) and runs the parallel body's steps in order over the whole
        block: a reduction nest initialises an accumulator row per iter arg and adds every input row into it
        with a unit-stride `omp simd` loop; other ops run once per column. Tasks run on threads; with fewer
        tasks than threads (tall and skinny inputs) the rows of a single simple reduction are split over
        threads instead, their partial rows combined by an OpenMP array reduction."""
        assert isinstance(op, LP.ParallelOp)
        saved = self.loop
        self.loop = _Loop(set(unit) | saved.unit_strides)
        self.parallel_depth += 1
        self.loop_depth += 1
        bounds = [self.value(b) for b in op.operands]
        for k, a in enumerate(op.body.args):
            if k != col:
                self.names[a] = self.fresh(a.name_hint, "i")
        names = tuple(self.fresh(n) for n in ("blk", "nblk", "width", "col_lo", "cols", "j"))
        _, nblk, width, _, w, _ = names
        accs = [[self.fresh(a.name_hint, "acc") for a in nest[-1].body.args[1:]] for nest in nests]
        work = self.work_estimate(op, bounds)
        # a block per thread over all tasks (long contiguous runs of each row), at most the row and
        # COLUMN_BLOCK columns, at least 64
        n, most = bounds[col], self.COLUMN_BLOCK
        total = " * ".join(_paren(b) for b in [*bounds[:col], *bounds[col + 1:], n])
        self.emit(f"{self.index_type} {width} = ({total} + ctx->nthreads - 1) / ctx->nthreads;")
        self.emit(f"if ({width} > {n}) {width} = {n};")
        self.emit(f"{width} = ({width} + 63) / 64 * 64;")
        self.emit(f"if ({width} > {most}) {width} = {most};")
        self.emit(f"if ({width} < 64) {width} = 64;  /* no columns: no block, and no division by 0 */")
        self.emit(f"const {self.index_type} {nblk} = ({n} + {width} - 1) / {width};")
        kinds = _simd_reductions(nests[0][-1], len(accs[0])) if len(nests) == 1 else None
        rows = None if kinds is None else self.simd_pragma(
            [(k, f"{a}[:{w}]", r.type) for k, a, r in zip(kinds, accs[0], nests[0][0].results)])  # type: ignore[misc]
        tasks = " * ".join(_paren(b) for b in [*bounds[:col], *bounds[col + 1:], nblk])
        if rows is not None:
            self.emit(f"if ({tasks} >= ctx->nthreads) {{")
            self.depth += 1
        pragma = self._parallel_pragma(work)
        if len(bounds) > 1:
            pragma = pragma.replace("parallel for", f"parallel for collapse({len(bounds)})", 1)
        self.emit(pragma)
        self._column_tasks(op, nests, accs, names, None, col)
        if rows is not None:
            self.depth -= 1
            self.emit("} else {")
            self.depth += 1
            row_pragma = self._parallel_pragma(work) + rows[len("#pragma omp simd"):]
            self._column_tasks(op, nests, accs, names, row_pragma, col)
            self.depth -= 1
            self.emit("}")
        self.loop = saved
        self.parallel_depth -= 1
        self.loop_depth -= 1

    def _column_tasks(self, op: LP.ParallelOp, nests: list[list[LP.ForOp]], accs: list[list[str]],
                      names: tuple[str, ...], row_pragma: str | None, col: int) -> None:
        """The loops over tasks (the other output dims x column blocks of dim `col`) and, inside, one task;
        `row_pragma` (the row-split variant of a single nest) goes on the outermost reduction loop."""
        blk, nblk, width, lo, w, j = names
        bounds = [self.value(b) for b in op.operands]
        args = op.body.args
        opened = 0
        for a, b in [(a, b) for k, (a, b) in enumerate(zip(args, bounds)) if k != col]:
            self.emit(f"{self._loop_header(self.names[a], b)} {{")
            self.depth += 1
            opened += 1
        passed = _column_values(op, nests)
        with self.block(self._loop_header(blk, nblk)):
            self.emit(f"const {self.index_type} {lo} = {blk} * {width};")
            self.emit(f"const {self.index_type} {w} = {bounds[col]} - {lo} < {width} ? {bounds[col]} - {lo} : {width};")
            for nest, nest_accs in zip(nests, accs):
                for a, r in zip(nest_accs, nest[0].results):
                    self.emit(f"{self.type_name(r.type)} {a}[{self.COLUMN_BLOCK}];")  # type: ignore[arg-type]
            arrays = {v: self.fresh(f"{v.name_hint or 'v'}_col") for v in passed}
            for v, arr in arrays.items():
                self.emit(f"{self.type_name(v.type)} {arr}[{self.COLUMN_BLOCK}];")  # type: ignore[arg-type]
            for group, steps in _column_segments(op, nests):
                if group:
                    self._column_nests([nests[k] for k in group], [accs[k] for k in group], args[col], lo, w, j,
                                       row_pragma)
                self._column_steps(steps, args[col], arrays, lo, w, j)
        self.close_pending(opened)

    def _column_nests(self, nests: list[list[LP.ForOp]], accs: list[list[str]], col: Value, lo: str, w: str,
                      j: str, row_pragma: str | None) -> None:
        """Reduction nests over the same rows, over the task's block of columns in one pass: accumulator rows
        from the inits, then every input row added into them by a unit-stride `omp simd` loop; the nests'
        results are the rows' columns."""
        with self.block(self._loop_header(j, w)):
            for nest, nest_accs in zip(nests, accs):
                for a, init in zip(nest_accs, nest[0].operands[1:]):
                    self.emit(f"{a}[{j}] = {self.value(init)};")
        if row_pragma:
            self.emit(row_pragma)
        for level, f in enumerate(nests[0]):
            iv = self.fresh(f.body.args[0].name_hint, "i")
            for nest in nests:
                self.names[nest[level].body.args[0]] = iv
            self.emit(f"{self._loop_header(iv, self.value(f.operands[0]))} {{")
            self.depth += 1
        self.emit("#pragma omp simd")
        with self.block(self._loop_header(j, w)):
            self._bind_column(col, lo, j)
            for nest, nest_accs in zip(nests, accs):
                inner = nest[-1].body
                for a, acc in zip(inner.args[1:], nest_accs):
                    self.names[a] = f"{acc}[{j}]"
                self.render_block(inner)
                y = inner.terminator
                assert y is not None
                nexts = [self.value(v) for v in y.operands]
                if len(nest_accs) > 1:  # all next values are read before any is assigned
                    tmps = [self.fresh(f"{acc}_next") for acc in nest_accs]
                    for tmp, n, r in zip(tmps, nexts, nest[0].results):
                        self.emit(f"{self.type_name(r.type)} {tmp} = {n};")  # type: ignore[arg-type]
                    nexts = tmps
                for acc, n in zip(nest_accs, nexts):
                    self.emit(f"{acc}[{j}] = {n};")
                self.close_pending(self._pending_close)
        self.close_pending(len(nests[0]))
        for nest, nest_accs in zip(nests, accs):
            for r, acc in zip(nest[0].results, nest_accs):
                self.names[r] = f"{acc}[{j}]"

    def _column_steps(self, steps: list[Operation], col: Value, arrays: dict[Value, str], lo: str, w: str,
                      j: str) -> None:
        """Loop-free ops of the parallel body, once per column of the task; the scalars a later step uses
        are kept per column in `arrays`."""
        if not steps:
            return
        with self.block(self._loop_header(j, w)):
            self._bind_column(col, lo, j)
            for o in steps:
                self.render_op(o)
            for o in steps:
                for r in o.results:
                    if r in arrays:
                        self.emit(f"{arrays[r]}[{j}] = {self.value(r)};")
        for o in steps:
            for r in o.results:
                if r in arrays:
                    self.names[r] = f"{arrays[r]}[{j}]"

    def _bind_column(self, col: Value, lo: str, j: str) -> None:
        name = self.fresh(col.name_hint, "i")
        self.emit(f"const {self.index_type} {name} = {lo} + {j};")
        self.names[col] = name

    # ---- elementwise nests over transposed operands: the tiled form
    TILE_ROWS: ClassVar[int] = 128  # iterations of a tile along the dim a transposed operand walks with unit stride
    TILE_COLS: ClassVar[int] = 16  # iterations of a tile along the last dim (the output's rows)

    def _render_rows_or_tiles(self, op: Operation) -> None:
        """A kernel's outermost loop-free `loop.parallel` (loads, scalar ops, stores) of rank >= 2 in which an
        operand may walk the last dim with a stride other than 1 and another dim with stride 1 (an F-order or
        transposed input) is also rendered in tiles of those two dims, chosen at run time on the strides:
        `tdim` is the first such dim, or -1 for the plain row form (docs/lowering.md, emit-c)."""
        operands = self._transposable(op) if self.parallel_depth == 0 else {}
        found: dict[int, list[str]] = {}
        for walked in operands.values():
            for k in range(len(walked) - 1):
                cond = _transposed_along(walked, k)
                if cond is not None:
                    found.setdefault(k, []).append(f"({cond})")
        if not found:
            super().render_parallel(op)
            return
        dims = sorted(found)
        always: set[Value] = set()  # operands transposed whenever the tiled form runs
        if len(dims) == 1:
            tdim = str(dims[0])
            conds = list(dict.fromkeys(found[dims[0]]))
            if len(conds) == 1:
                always = {ref for ref, walked in operands.items() if f"({_transposed_along(walked, dims[0])})" in conds}
            self.emit(f"if ({' || '.join(conds)}) {{")
        else:
            tdim = self.fresh("tdim")
            choice = " : ".join(f"({' || '.join(dict.fromkeys(found[k]))}) ? {k}" for k in dims)
            self.emit(f"const int {tdim} = {choice} : -1;")
            self.emit(f"if ({tdim} >= 0) {{")
        self.depth += 1
        self._render_tiles(op, tdim, operands, always)
        self.depth -= 1
        self._else_rows(op)

    def _transposable(self, op: Operation) -> dict[Value, list[str | None]]:
        """For a loop-free `loop.parallel` of rank >= 2: the buffers it loads and does not write (defined outside
        it, every load with the same subscripts, each a distinct induction variable or a value defined outside)
        that may walk the last dim with a stride other than 0 and 1 and another dim with stride 1 -> the stride
        each induction variable walks (None: not walked)."""
        assert isinstance(op, LP.ParallelOp)
        ivs = op.body.args
        if len(ivs) < 2 or any(o.regions for o in op.body.ops):
            return {}
        stored = {M.root_of(o.operands[1]) for o in op.body.ops if isinstance(o, M.StoreOp)}
        subscripts: dict[Value, list[Value] | None] = {}
        for o in op.body.ops:
            if not isinstance(o, M.LoadOp):
                continue
            ref, idx = o.operands[0], list(o.operands[1:])
            if isinstance(ref, OpResult) and ref.op.is_within(op) or ref not in self.memrefs \
                    or M.root_of(ref) in stored:
                continue
            walked = [i for i in idx if i in ivs]
            simple = len(set(walked)) == len(walked) and all(
                i in walked or not (isinstance(i, OpResult) and i.op.is_within(op)) for i in idx)
            subscripts[ref] = idx if simple and subscripts.get(ref, idx) == idx else None
        found: dict[Value, list[str | None]] = {}
        for ref, idx in subscripts.items():
            if idx is None:
                continue
            strides = self.memrefs[ref].strides
            walked = [next((s for i, s in zip(idx, strides) if i is iv), None) for iv in ivs]
            if walked[-1] not in (None, "0", "1") and any(_transposed_along(walked, k) for k in range(len(ivs) - 1)):
                found[ref] = walked
        return found

    def _render_tiles(self, op: Operation, tdim: str, operands: dict[Value, list[str | None]],
                      always: set[Value]) -> None:
        """The tiled form: tasks (the other dims x tiles of TILE_ROWS iterations of dim `tdim` x TILE_COLS of the
        last one; one flat loop on threads) each run their tile row by row, an `omp simd` loop over the last dim.
        An operand that is transposed at run time is first copied into a small contiguous buffer, reading its
        long runs along `tdim` (what memory serves fastest); walking it in place would touch TILE_COLS lines a
        power-of-two stride apart, which share a few cache sets (a 4096-float row is 16 KB) and evict each
        other before the next row of the tile uses them."""
        assert isinstance(op, LP.ParallelOp)
        ix, nr, nc_ = self.index_type, self.TILE_ROWS, self.TILE_COLS
        ivs = op.body.args
        rank = len(ivs)
        bounds = [self.value(b) for b in op.operands]
        static = int(tdim) if _is_int_literal(tdim) else None

        def pick(k: int, yes: str, no: str) -> str:
            """`yes` for the tiled dim k, else `no` (a run-time choice when `tdim` is)."""
            if static is not None:
                return yes if k == static else no
            return f"({tdim} == {k} ? {yes} : {no})"

        def chosen(items: list[str]) -> str:
            """items[tdim]."""
            if static is not None:
                return items[static]
            return "(" + " : ".join([f"{tdim} == {k} ? {x}" for k, x in enumerate(items[:-1])] + [items[-1]]) + ")"
        rows, task, rem, t_lo, c_lo, nt, nc, a, ea, ec = (self.fresh(x) for x in (
            "rows", "task", "rem", "tile_lo", "col_lo", "ntiles", "ncols", "r", "tile_n", "col_n"))
        self.emit(f"const {ix} {rows} = {chosen(bounds[:-1])};")
        self.emit(f"const {ix} {nt} = ({rows} + {nr - 1}) / {nr};")
        self.emit(f"const {ix} {nc} = ({bounds[-1]} + {nc_ - 1}) / {nc_};")
        tasks = " * ".join([nt, nc] + [pick(k, "1", _paren(b)) for k, b in enumerate(bounds[:-1]) if k != static])
        # tiles handed out in small groups as threads get free (a thread that loses its core to another process
        # then delays the nest by a group, not by its whole share)
        pragma = self.parallel_pragma(self.work_estimate(op, bounds))
        self.emit(f"{pragma} schedule(dynamic, 16)" if pragma else "")
        self.parallel_depth += 1
        self.loop_depth += 1
        saved = dict(self.memrefs)
        with self.block(self._loop_header(task, tasks)):
            self.emit(f"{ix} {rem} = {task} / {nc};")
            self.emit(f"const {ix} {c_lo} = {task} % {nc} * {nc_};")
            self.emit(f"const {ix} {t_lo} = {rem} % {nt} * {nr};")
            self.emit(f"{rem} /= {nt};")
            outer = [self.fresh(f"o{k}") for k in range(rank - 1)]
            for k in reversed(range(rank - 1)):
                if static == k:
                    self.emit(f"const {ix} {outer[k]} = {t_lo};")
                    continue
                self.emit(f"const {ix} {outer[k]} = {pick(k, t_lo, f'{rem} % {_paren(bounds[k])}')};")
                if k:
                    self.emit(f"{rem} = {pick(k, rem, f'{rem} / {_paren(bounds[k])}')};")
            self.emit(f"const {ix} {ea} = {rows} - {t_lo} < {nr} ? {rows} - {t_lo} : {nr};")
            self.emit(f"const {ix} {ec} = {bounds[-1]} - {c_lo} < {nc_} ? {bounds[-1]} - {c_lo} : {nc_};")
            position = {iv: outer[k] for k, iv in enumerate(ivs[:-1])}
            for ref, walked in operands.items():
                if static is not None and _transposed_along(walked, static) is None:
                    continue
                self._stage_tile(ref, walked, op, position, chosen, pick, (c_lo, ea, ec), ref in always)
            with self.block(self._loop_header(a, ea)):
                for k in range(rank - 1):
                    name = self.fresh(ivs[k].name_hint, "i")
                    self.names[ivs[k]] = name
                    step = "" if static not in (None, k) else " + " + pick(k, a, "0")
                    self.emit(f"const {ix} {name} = {outer[k]}{step};")
                last = self.fresh(ivs[-1].name_hint, "i")
                self.names[ivs[-1]] = last
                simd = self.simd_pragma([])
                if simd:
                    self.emit(simd)
                with self.block(f"for ({ix} {last} = {c_lo}; {last} < {c_lo} + {ec}; ++{last})"):
                    self.render_block(op.body)
                    self.close_pending(self._pending_close)
        self.memrefs = saved
        self.parallel_depth -= 1
        self.loop_depth -= 1

    def _stage_tile(self, ref: Value, walked: list[str | None], op: LP.ParallelOp, position: dict[Value, str],
                    chosen: Callable[[list[str]], str], pick: Callable[[int, str, str], str],
                    names: tuple[str, ...], always: bool) -> None:
        """When operand `ref` is transposed along the tiled dim at run time (`always`: the tiled form's own
        condition says it is), copy its tile into a contiguous buffer, reading its runs along the tiled dim,
        and let the tile's loads read the buffer (`ref`'s MemRef is replaced until the nest is rendered):
        element (tiled + r, last + c) is buffer[r * TILE_COLS + c], so the loop over the last dim reads it in a
        run."""
        c_lo, ea, ec = names
        ix, n = self.index_type, self.TILE_COLS
        m = self.memrefs[ref]
        ctype = self.type_name(m.element)
        idx = next(list(o.operands[1:]) for o in op.body.ops if isinstance(o, M.LoadOp) and o.operands[0] is ref)
        ivs = op.body.args
        buf, data = self.fresh("tile"), self.fresh("tiled")
        origin = chosen([position[iv] for iv in ivs[:-1]])
        tiled = [("1" if i is ivs[-1] else pick(ivs.index(i), str(n), "0") if i in position else "0") for i in idx]

        # the tile's corner; the staging condition says the tiled dim's stride is 1
        corner = " + ".join(_mul(c_lo if i is ivs[-1] else position.get(i) or self.value(i), stride)
                            for i, stride in zip(idx, m.strides))
        self.emit(f"{ctype} {buf}[{self.TILE_ROWS * n}];")

        self.uses_copy = True

        def stage() -> None:
            self.emit(f"tir_transpose({buf}, {n}, {_paren(m.data)} + {_paren(corner)}, {walked[-1]}, {ea}, {ec}, "
                      f"sizeof({ctype}));")
        if always:
            stage()
            self.emit(f"const {ctype}* {data} = {buf} - ({origin} * {n} + {c_lo});")
            self.memrefs[ref] = MemRef(data, m.shape, tiled, m.element, m.root, m.kind)
            return
        strides = [self.fresh(f"{data}_s{j}") for j in range(len(m.strides))]
        self.emit(f"const {ctype}* {data} = {m.data};")
        for name, stride in zip(strides, m.strides):
            self.emit(f"{ix} {name} = {stride};")
        cond = chosen([x or "0" for x in (_transposed_along(walked, k) for k in range(len(walked) - 1))])
        with self.block(f"if ({cond})"):
            stage()
            self.emit(f"{data} = {buf} - ({origin} * {n} + {c_lo});")
            for name, stride in zip(strides, tiled):
                self.emit(f"{name} = {stride};")
        self.memrefs[ref] = MemRef(data, m.shape, strides, m.element, m.root, m.kind)

    # ---- range versioning of float32 sin/cos
    def slow_path_fallback(self) -> str | None:
        # The fast twin covers unit-stride data only: strided inputs go to the exact kernel (which has
        # both versions), so the twin compiles one loop body instead of two.
        return f"{self.range_flag} = 1;" if self.range_flag else None

    def math_fn(self, name: str, t: ScalarType) -> str:
        fn = super().math_fn(name, t)
        if fn in mathlib.ALWAYS or (self.large_kernel and fn in mathlib.FUNCTIONS):
            self.library_calls.add(fn)
            return mathlib.symbol(fn)
        return fn

    def _library_call_count(self, kfn: K.KernelFuncOp) -> int:
        """How many scalar ops of the kernel call a function of runtime/mathlib.py's table."""
        count = 0
        for o in kfn.walk():
            name = o.name.removeprefix("scalar.")
            if o.name.startswith("scalar.") and name in MATH_FUNCS and o.results:
                t = o.results[0].type
                count += isinstance(t, ScalarType) and CStyleRenderer.math_fn(self, name, t) in mathlib.FUNCTIONS
        return count

    def render_kernel_versions(self, kfn: K.KernelFuncOp, restrict_ok: list[bool]) -> list[str]:
        """The kernel, and before it, when it is worth it and safe, its fast twin.

        float32 sin/cos are exact over the whole float32 range only with a float64 reduction that
        costs as much as the rest of W1; `tir_sinf_fast` is exact below 2^17. The twin uses the fast
        functions and returns whether any argument was beyond that; the host then runs the exact
        kernel (`if (k_fast(...)) k(...);`). Rerunning is only right for a kernel that never reads
        a buffer it writes (and whose buffers don't alias): then every output element is written
        again with the exact value.
        """
        self.large_kernel = self._library_call_count(kfn) > mathlib.INLINE_MAX
        try:
            exact = self.render_kernel(kfn, restrict_ok)
            has_check = self.has_check
            if not (uses_f32_trig(kfn) and all(restrict_ok) and not reads_what_it_writes(kfn)):
                return exact
            self.range_flag = "tir_big"
            twin = self.render_kernel(kfn, restrict_ok)
        finally:
            self.range_flag = None
            self.large_kernel = False
        self.has_check = has_check or self.has_check
        head = twin[0].replace(f"{self.kernel_prefix} {kfn.sym_name}(", f"TIR_KERNEL int {kfn.sym_name}_fast(", 1)
        self.fast_twins.add(kfn.sym_name)
        return [head, "    int tir_big = 0;", *twin[1:-1], "    return tir_big;", twin[-1], "", KERNEL_MARK, *exact]

    # ---- host ops
    def render_alloc(self, op: Operation) -> None:
        if self.in_kernel or self.loop_depth:
            raise TirError("'mem.alloc' op inside a kernel or loop cannot be emitted as C (allocate on the host)",
                           op.loc)
        res = op.results[0]
        t = res.type
        assert isinstance(t, MemRefType)
        dyn = iter(self.value(v) for v in op.operands)
        shape = [next(dyn) if d is DYN else str(d) for d in op.attributes["shape"]]
        name = self.fresh(res.name_hint, "buf")
        ctype = self.type_name(t.element)
        k = self.result_of.get(res)
        if k is not None:
            tied = self.tied.get(res)
            self.alloc_result(name, k, shape, tied.index if isinstance(tied, BlockArgument) else -1)
            self.memrefs[res] = MemRef(name, shape, contiguous_strides(shape), t.element, res, "result")
            return
        self.memrefs[res] = MemRef(name, shape, contiguous_strides(shape), t.element, res, "alloc")
        if res in self.aliasable:
            self.emit(f"{ctype}* {name};  /* the copied argument itself when it is laid out as the copy */")
            return
        self._allocate(self.memrefs[res])

    def _allocate(self, m: MemRef) -> None:
        ctype = self.type_name(m.element)
        count = " * ".join(_paren(d) for d in m.shape) if m.shape else "1"
        self.emit(f"{m.data} = ({ctype}*)tir_alloc(ctx, (size_t)({count}) * sizeof({ctype}));"
                  if m.root in self.aliasable else
                  f"{ctype}* {m.data} = ({ctype}*)tir_alloc(ctx, (size_t)({count}) * sizeof({ctype}));")
        self.emit(f"if (!{m.data}) return -1;")

    def render_copy(self, op: Operation) -> None:
        if self.in_kernel:
            super().render_copy(op)
            return
        dst = op.operands[1]
        src, m = self.memref(op.operands[0]), self.memref(dst)
        if self.tied.get(dst) is M.root_of(op.operands[0]):
            # passes/tied.py kept the tie only for a copy of the argument onto the very elements: when the
            # result is the argument's array, a copy onto itself
            with self.block(f"if ({m.data} != {src.data})"):
                self._copy(src, m, op.loc)
            return
        if dst not in self.aliasable:
            self._copy(src, m, op.loc)
            return
        same = " && ".join(f"({n} <= 1 || {a} == {b})" for n, a, b in zip(m.shape, src.strides, m.strides)) or "1"
        ctype = self.type_name(m.element)
        self.aliased[dst] = f"({ctype}*){src.data}"
        self.emit(f"if ({same}) {m.data} = ({ctype}*){src.data};")
        with self.block("else"):
            self._allocate(m)
            self._copy(src, m, op.loc)

    def alloc_result(self, name: str, k: int, shape: list[str], tied: int = -1) -> None:
        """`name` = data pointer of result k, a fresh numpy array of `shape` (or argument `tied`'s array)."""
        t = self.result_types[k]
        ctype = self.type_name(t.element if isinstance(t, MemRefType) else t)  # type: ignore[arg-type]
        shp = self.fresh(f"{name}_shape")
        self.emit(f"int64_t {shp}[{max(len(shape), 1)}] = {{{', '.join(shape) or '0'}}};")
        buf = self.fresh(f"{name}_res")
        call = f"tir_result(ctx, {k}, " if tied < 0 else f"tir_result_tied(ctx, {k}, {tied}, "
        self.emit(f"tir_buf* {buf} = {call}{len(shape)}, {shp});")
        self.emit(f"if (!{buf}) return -1;")
        self.emit(f"{ctype}* {name} = ({ctype}*){buf}->data;")

    def if_result_kind(self, res: Value) -> str:
        return "result" if res in self.result_of else "alloc"

    def render_host_for(self, op: Operation) -> None:
        """The host's loop over a scan's steps: `t` counts up (or down with `reverse`), the body's kernels
        are launched from inside it; a yielded i1 that is false ends it after that step. Its result, the
        steps run, is counted as it goes."""
        assert isinstance(op, LP.HostForOp)
        body = op.body
        n, it = self.value(op.operands[0]), self.fresh("step")
        count, t = self.fresh(op.results[0].name_hint, "steps"), self.fresh(body.args[0].name_hint, "t")
        self.emit(f"{self.index_type} {count} = 0;")
        with self.block(f"for ({self.index_type} {it} = 0; {it} < {n}; ++{it})"):
            first = f"{n} - 1 - {it}" if op.attributes.get("reverse", False) else it
            self.emit(f"const {self.index_type} {t} = {first};")
            self.emit(f"{count} = {it} + 1;")
            self.names[body.args[0]] = t
            self.render_block(body)
            y = body.terminator
            assert y is not None
            if y.operands:
                self.emit(f"if (!{self.value(y.operands[0])}) break;")
            self.close_pending(self._pending_close)
        self.names[op.results[0]] = count

    def render_dealloc(self, op: Operation) -> None:
        m = self.memref(op.operands[0])
        if op.operands[0] in self.aliased:
            self.emit(f"if ({m.data} != {self.aliased[op.operands[0]]}) tir_free(ctx, {m.data});")
        elif m.kind == "alloc":
            self.emit(f"tir_free(ctx, {m.data});")

    def _tir_buf(self, m: MemRef) -> str:
        shape = ", ".join(m.shape) or "0"
        strides = ", ".join(m.strides) or "0"
        return f"&(tir_buf){{(char*){m.data}, {len(m.shape)}, {{{shape}}}, {{{strides}}}}}"

    def render_gemm(self, op: Operation) -> None:
        self._render_blas(op, "gemm", "trans_a", "trans_b")

    def render_gemv(self, op: Operation) -> None:
        self._render_blas(op, "gemv", "trans")

    def render_gemm_batch(self, op: Operation) -> None:
        self._render_blas(op, "gemm_batch")

    def _render_blas(self, op: Operation, helper: str, *flags: str) -> None:
        """`tir_<helper>_<type>(ctx, where, buffers..., flags..., alpha, beta)` of tir_ops.h, on any strides;
        alpha times the run-time scale operand where the op has one."""
        self.uses_blas = True
        assert isinstance(op, L.BlasOp)
        n = len(op.operand_names)
        bufs = [self.memref(v) for v in op.operands[:n]]
        t = bufs[-1].element
        alpha = " * ".join([self.literal(op.attributes["alpha"], t), *(self.value(v) for v in op.operands[n:])])
        args = [c_string(f"{op.loc}: '{op.name}' op"), *(self._tir_buf(m) for m in bufs),
                *(str(int(bool(op.attributes[f]))) for f in flags), alpha, self.literal(op.attributes["beta"], t)]
        self.emit(f"if (tir_{helper}_{t.name}(ctx, {', '.join(args)})) return -1;")

    def render_sort(self, op: Operation) -> None:
        """tir_ops.h's `tir_sort_<type>(ctx, where, x, out, axis, indices)` (a stable merge sort per row)."""
        assert isinstance(op, L.SortOp)
        x, out = (self.memref(v) for v in op.operands)
        if x.element.name == "f16":
            raise TirError(f"'{op.name}' op: the C target does not sort f16 (cast to f32 first)", op.loc)
        args = [c_string(f"{op.loc}: '{op.name}' op"), self._tir_buf(x), self._tir_buf(out),
                str(op.attributes["axis"]), str(int(bool(op.attributes.get("indices", False))))]
        self.emit(f"if (tir_sort_{x.element.name}(ctx, {', '.join(args)})) return -1;")

    def render_csr_kernel(self, op: Operation) -> None:
        """tir_sparse.h's `tir_csr_<kernel>[_<type>](ctx, where, buffers and sizes...)` (dialects/sparse.py)."""
        assert isinstance(op, SP.LibKernelOp)
        self.uses_sparse = True
        args = [c_string(f"{op.loc}: '{op.name}' op"),
                *(self._tir_buf(self.memref(v)) if isinstance(v.type, MemRefType) else self.value(v)
                  for v in op.operands)]
        self.emit(f"if ({op.c_helper}(ctx, {', '.join(args)})) return -1;")

    def render_lapack(self, op: Operation) -> None:
        """tir_linalg.h's `tir_<c_helper>_<type>(ctx, where, inputs..., outputs...)` (`tir_svd_uv_<type>` for an
        svd with compute_uv ...) of each matrix of a stack (a loop over a's batch dims, the same in every operand);
        its messages name the tensor op, as the interpreter's do."""
        assert isinstance(op, L.LapackOp)
        self.uses_blas = self.uses_lapack = True
        bufs = [self.memref(v) for v in op.operands]
        helper = op.c_helper()  # type: ignore[attr-defined]
        where = c_string(f"{op.loc}: 'tensor.{op.routine}' op")  # type: ignore[attr-defined]
        call = f"tir_{helper}_{bufs[0].element.name}(ctx, {where}"
        nb = op.batch()  # type: ignore[attr-defined]
        if nb == 0:
            self.emit(f"if ({call}, {', '.join(self._tir_buf(m) for m in bufs)})) return -1;")
            return
        k = self.fresh("mat")
        with self.block(f"for (int64_t {k} = 0; {k} < {' * '.join(_paren(n) for n in bufs[0].shape[:nb])}; ++{k})"):
            rest = self.fresh("rest")
            self.emit(f"int64_t {rest} = {k};")
            idx = [self.fresh(f"i{d}") for d in range(nb)]
            for d in reversed(range(nb)):  # the last batch dim fastest
                self.emit(f"const int64_t {idx[d]} = {rest} % {_paren(bufs[0].shape[d])};")
                self.emit(f"{rest} /= {_paren(bufs[0].shape[d])};")
            views = []
            for m in bufs:
                offset = " + ".join(_mul(i, st) for i, st in zip(idx, m.strides[:nb]))
                views.append(MemRef(f"({m.data} + {offset})", m.shape[nb:], m.strides[nb:], m.element, m.root))
            self.emit(f"if ({call}, {', '.join(self._tir_buf(m) for m in views)})) return -1;")

    def render_launch(self, op: Operation) -> None:
        assert isinstance(op, K.LaunchOp)
        fn = op.kernel_op()
        written = self.kernel_written[fn.sym_name]
        args = ["ctx"]
        for k, (v, t) in enumerate(zip(op.operands, fn.function_type.inputs)):
            if isinstance(t, MemRefType):
                m = self.memref(v)
                ctype = self.type_name(t.element)
                args.append(f"({ctype}*){m.data}" if written[k] and m.kind in ("arg", "const") else m.data)
                args += [m.shape[d] for d, size in enumerate(t.shape) if size is None]
                args += [m.strides[d] for d, st in enumerate(M.layout_of(t)) if st is None]
            else:
                args.append(self.value(v))
        if fn.sym_name in self.fast_twins:
            self.emit(f"if ({fn.sym_name}_fast({', '.join(args)})) {fn.sym_name}({', '.join(args)});")
        else:
            self.emit(f"{fn.sym_name}({', '.join(args)});")
        if self.kernel_checks.get(fn.sym_name):
            self.emit("if (tir_failed(ctx)) return -1;")

    def render_op(self, op: Operation) -> None:
        super().render_op(op)
        # A failed check inside a host loop records the error; stop once the loop is done.
        if not self.in_kernel and self.loop_depth == 0 and op.regions and any(
                isinstance(o, M.CheckOp) for o in op.walk()):
            self.emit("if (tir_failed(ctx)) return -1;")

    # ---- the host function
    def render_host(self, fn: F.FuncOp) -> list[str]:
        self._reset_function()
        ftype = fn.function_type
        self.result_types = list(ftype.results)
        ret = fn.body.terminator
        if ret is None or not isinstance(ret, F.ReturnOp):
            raise TirError(f"@{fn.sym_name} must end with func.return", fn.loc)
        self.result_of = {}
        for k, v in enumerate(ret.operands):
            if v not in self.result_of and (arrays := _result_arrays(v, fn.body)) is not None:
                self.result_of.update((a, k) for a in arrays)
        self.tied = tied_buffers(fn)
        self.aliasable = _aliasable_copies(fn, self.kernel_written)
        self.aliased = {}
        self.emit("static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {")
        self.depth += 1
        self.emit("(void)args;")
        self.emit("(void)results;")
        for k, (arg, t) in enumerate(zip(fn.body.args, ftype.inputs)):
            self.bind_argument(fn, k, arg, t)
        self.render_block(fn.body)
        self.close_pending(self._pending_close)
        for k, v in enumerate(ret.operands):
            if self.result_of.get(v) == k:
                continue
            self.return_copy(k, v)
        self.emit("return 0;")
        self.depth -= 1
        self.emit("}")
        return self.lines

    def bind_argument(self, fn: F.FuncOp, k: int, arg: Value, t: object) -> None:
        name = self.fresh(arg.name_hint, f"arg{k}")
        label = f"{fn.loc}: {F.argument_label(fn.sym_name, k, arg.name_hint)}"
        if isinstance(t, ScalarType):
            ctype = self.type_name(t)
            self.emit(f"{ctype} {name} = *(const {ctype}*)args[{k}].data;")
            self.names[arg] = name
            return
        if not isinstance(t, MemRefType):
            raise TirError(f"{label} has type {t}; the C target takes memrefs and scalars")
        ctype = self.type_name(t.element)
        src = f"args[{k}]"
        layout = M.layout_of(t)
        if t.strides is None or None not in t.strides:
            # The type promises a layout: a contiguous copy when the caller's array does not have it.
            buf = self.fresh(f"{name}_buf")
            self.emit(f"tir_buf {buf} = {src};")
            if t.strides is None:
                self.emit(f"if (!tir_is_contiguous(&{buf}) && tir_contiguous(ctx, &{src}, sizeof({ctype}), &{buf})) "
                          "return -1;")
            else:
                conds = " || ".join(f"({buf}.shape[{d}] > 1 && {buf}.strides[{d}] != {s})"
                                    for d, s in enumerate(layout))
                if conds:
                    msg = c_string(f"{label} does not have the strides {list(layout)} of its type {t}")
                    self.emit(f"if ({conds}) return tir_fail(ctx, \"%s\", {msg});")
            src = buf
        self.emit(f"const {ctype}* {name} = (const {ctype}*){src}.data;")
        static = " || ".join(f"{src}.shape[{d}] != {size}" for d, size in enumerate(t.shape) if size is not None)
        if static:
            # The Python-side check's wording (dialects/func.py shape_mismatch), the given shape last.
            msg = c_string(F.shape_mismatch(label, t.shape, ""))
            dims = ", ".join(["%lld"] * t.rank) + ("," if t.rank == 1 else "")
            given = "".join(f", (long long){src}.shape[{d}]" for d in range(t.rank))
            self.emit(f"if ({static}) return tir_fail(ctx, \"%s({dims})\", {msg}{given});")
        shape, strides = [], []
        for d, size in enumerate(t.shape):
            if size is None:
                n = self.fresh(f"{name}_n{d}")
                self.emit(f"const int64_t {n} = {src}.shape[{d}];")
                shape.append(n)
            else:
                shape.append(str(size))
        for d, st in enumerate(layout):
            if st is None:
                s = self.fresh(f"{name}_s{d}")
                self.emit(f"const int64_t {s} = {src}.strides[{d}];")
                strides.append(s)
            else:
                strides.append(str(st))
        self.memrefs[arg] = MemRef(name, shape, strides, t.element, arg, "arg")

    def return_copy(self, k: int, v: Value) -> None:
        """Result k is not an allocation of its own (an argument, a view, a scalar): a fresh copy."""
        t = v.type
        if isinstance(t, ScalarType):
            name = self.fresh(f"ret{k}")
            self.alloc_result(name, k, [])
            self.emit(f"{name}[0] = {self.value(v)};")
            return
        src = self.memref(v)
        name = self.fresh(f"ret{k}")
        self.alloc_result(name, k, src.shape)
        dst = MemRef(name, src.shape, contiguous_strides(src.shape), src.element, name, "result")
        self._copy(src, dst)

    def _copy(self, src: MemRef, dst: MemRef, loc: Location | None = None) -> None:
        """A host copy: tir_ops.h's `tir_copy` (merged dims, memcpy runs, tiled transposes, OpenMP)."""
        rank = len(dst.shape)
        if rank == 0:
            self.emit(f"{dst.data}[0] = {src.data}[0];")
            return
        if rank > MAX_COPY_RANK:
            raise TirError(f"'mem.copy' op of rank {rank} cannot be emitted as C (at most {MAX_COPY_RANK} dims)", loc)

        def array(items: list[str]) -> str:
            return f"(const int64_t[]){{{', '.join(items)}}}"
        self.uses_copy = True
        self.emit(f"tir_copy(ctx, {dst.data}, {src.data}, {rank}, {array(dst.shape)}, {array(dst.strides)}, "
                  f"{array(src.strides)}, sizeof({self.type_name(dst.element)}));")

    # ---- the translation unit
    def render_module(self, module: Operation, func: str | None = None) -> str:
        host = _pick_host(module, func)
        kernels = [op for op in module.regions[0].block.ops if isinstance(op, K.KernelFuncOp)]
        launched = {o.attributes["kernel"].name for o in host.walk() if isinstance(o, K.LaunchOp)}
        kernel_text: list[str] = []
        for kfn in kernels:
            if kfn.sym_name not in launched:
                continue
            restrict_ok = _restrict_params(kfn, module, tied_buffers(host))
            self.kernel_written[kfn.sym_name] = kfn.written_args()
            kernel_text += [KERNEL_MARK, *self.render_kernel_versions(kfn, restrict_ok), ""]
            self.kernel_checks[kfn.sym_name] = self.has_check
        main_text = self.render_host(host)
        if any(isinstance(o, L.BlasOp) for o in host.walk()):
            self.uses_blas = True
        ftype = host.function_type
        arg_rows = []
        for k, (arg, t) in enumerate(zip(host.body.args, ftype.inputs)):
            arg_rows.append(_param_row(arg.name_hint or f"arg{k}", t))
        res_rows = [_param_row(f"r{k}", t) for k, t in enumerate(ftype.results)]
        out = [f"/* @{host.sym_name}: generated by tensorir emit-c (backends/c.py) from {host.loc} */"]
        if self.uses_blas:
            out.append("#define TIR_USE_BLAS 1")
        if self.uses_copy:
            out.append("#define TIR_USE_COPY 1")
        out += ['#include "tir_runtime.h"', '#include "tir_ops.h"']
        out += ['#include "tir_extern.h"'] if self.uses_extern else []
        out += ['#include "tir_sparse.h"'] if self.uses_sparse else []
        out += ['#include "tir_linalg.h"'] if self.uses_lapack else []
        out.append("")
        if self.library_calls:
            out += [mathlib.declaration(fn) for fn in sorted(self.library_calls)] + [""]
        for red in sorted(self.user_reductions):
            kind, tname = red.split(":")
            ctype = self.type_names[tname]
            init = self.literal(S.COMBINER_OF_KIND[kind].identity(scalar(tname)), scalar(tname))
            out.append(f"#pragma omp declare reduction(tir_{kind}_{tname} : {ctype} : "
                       f"omp_out = tir_{kind}_{tname}(omp_out, omp_in)) initializer(omp_priv = {init})")
        if self.user_reductions:
            out.append("")
        if self.globals:
            out += self.globals + [""]
        out += [line.removesuffix(" {") + ";" for line in kernel_text if line.startswith("TIR_KERNEL ")]
        out += ["", *kernel_text, HOST_MARK, *self.extern_text()]
        out.append(f"static const tir_param tir_args[] = {{{', '.join(arg_rows)}}};")
        out.append(f"static const tir_param tir_results[] = {{{', '.join(res_rows)}}};")
        out.append("")
        out += main_text
        out += ["", "TIR_MODULE(tir_main, tir_args, tir_results)", ""]
        return "\n".join(out)


def _column_values(op: Operation, nests: list[list[LP.ForOp]]) -> list[Value]:
    """The results of the loop-free ops of a column-form body that a later step (another op outside their
    run of loop-free ops, or a nest) uses."""
    body = op.body.ops[:-1]  # type: ignore[attr-defined]
    starts = {id(nest[0]) for nest in nests}
    step_of: dict[Value, int] = {}
    segment = 0
    out: list[Value] = []
    for o in body:
        if id(o) in starts:
            segment += 1
        for inner in o.walk():
            for v in inner.operands:
                if step_of.get(v, segment) != segment and v not in out:
                    out.append(v)
        if id(o) in starts:
            segment += 1
        else:
            step_of.update((r, segment) for r in o.results)
    return out


def _column_segments(op: Operation, nests: list[list[LP.ForOp]]) -> list[tuple[list[int], list[Operation]]]:
    """The column form's order of work: (nests run in one pass, then loop-free steps) pairs, in body order,
    except that a nest over the same rows as the pass before it (same bounds at every level) joins that pass
    when it uses nothing the pass computes or the steps after it (which then run after the joint pass: the
    nests write nothing and read nothing the steps store)."""
    out: list[tuple[list[int], list[Operation]]] = [([], [])]
    made: set[Value] = set()  # the results of the last pass and of the steps after it
    for o in op.body.ops[:-1]:  # type: ignore[attr-defined]
        k = next((k for k, nest in enumerate(nests) if nest[0] is o), None)
        if k is None:
            out[-1][1].append(o)
            made.update(o.results)
            continue
        group = out[-1][0]
        first = nests[group[0]] if group else None
        joins = first is not None and len(first) == len(nests[k]) \
            and all(a.operands[0] is b.operands[0] for a, b in zip(first, nests[k])) \
            and not any(v in made for inner in o.walk() for v in inner.operands)
        if joins:
            group.append(k)
        else:
            out.append(([k], []))
            made = set()
        made.update(o.results)
    return out


def _transposed_along(walked: list[str | None], k: int) -> str | None:
    """The run-time condition under which an operand whose induction variables walk `walked` strides (the
    last one neither 0 nor 1 as a literal) has unit stride along dim k but not along the last dim; None when
    it cannot."""
    s, last = walked[k], walked[-1]
    if s is None or _is_int_literal(s) and s != "1":
        return None
    conds = [] if _is_int_literal(last or "") else [f"!({last} == 1 || {last} == 0)"]
    conds += [] if s == "1" else [f"{s} == 1"]
    return " && ".join(conds) or "1"


def _result_arrays(v: Value, block: Block) -> list[Value] | None:
    """The buffers that are a returned value's numpy array: its own mem.alloc in `block`; for a loop.if
    result, the if's and each branch's yielded one (at any depth of ifs): whichever branch runs allocates
    the result array. None where one is not an allocation of its own (the result is then a copy)."""
    if not isinstance(v, OpResult) or v.op.parent is not block:
        return None
    if isinstance(v.op, M.AllocOp):
        return [v]
    if not isinstance(v.op, LP.IfOp):
        return None
    out: list[Value] = [v]
    for region in v.op.regions:
        term = region.block.terminator
        inner = _result_arrays(term.operands[v.index], region.block) if term is not None else None
        if inner is None:
            return None
        out += inner
    return out


def _param_row(name: str, t: object) -> str:
    if isinstance(t, MemRefType):
        return f"{{{c_string(name)}, {NPY_TYPES[t.element.name]}, {t.rank}}}"
    if isinstance(t, ScalarType):
        return f"{{{c_string(name)}, {NPY_TYPES[t.name]}, 0}}"
    raise TirError(f"the C target cannot pass a value of type {t} across the function boundary")


def _pick_host(module: Operation, func: str | None) -> F.FuncOp:
    funcs = [op for op in module.regions[0].block.ops if type(op) is F.FuncOp]
    if func is not None:
        for f in funcs:
            if f.sym_name == func:
                return f
        raise TirError(f"emit-c: no function @{func} in the module")
    if not funcs:
        raise TirError("emit-c: the module has no func.func to compile")
    if len(funcs) > 1:
        names = ", ".join("@" + f.sym_name for f in funcs)
        raise TirError(f"emit-c: the module has several functions ({names}); one C source is made per function: "
                       f"name one with emit-c{{func={funcs[-1].sym_name}}} (tir-opt) or --func (tirc)")
    return funcs[0]


def _aliasable_copies(fn: F.FuncOp, written: dict[str, list[bool]]) -> set[Value]:
    """The temporaries of `fn` (`mem.alloc`s in its body that it does not return) whose first use is a
    `mem.copy` from a function argument (or a view of one) in the body and whose other uses only read them:
    kernels that do not write them, views read so, copies from them, BLAS inputs, dims, strides and the
    dealloc (a reshape's copy of an argument before a full argmax). Not of an argument a tied result may
    overwrite: the copy keeps the old value."""
    body = fn.body
    returned = set(body.terminator.operands) if body.terminator is not None else set()
    overwritten = set(tied_buffers(fn).values())

    def reads(uses: list[Any]) -> bool:
        return all(read(u) for u in uses)

    def read(use: Any) -> bool:
        o = use.op
        if isinstance(o, M.ViewOp):
            return o.results[0] not in returned and reads(o.results[0].uses)
        return isinstance(o, (M.DeallocOp, M.DimOp, M.StrideOp)) or (isinstance(o, M.CopyOp) and use.index == 0) \
            or (isinstance(o, L.BlasOp) and use.index != o.output_index) \
            or (isinstance(o, K.LaunchOp) and not written[o.attributes["kernel"].name][use.index])

    out: set[Value] = set()
    for op in body.ops:
        v = op.results[0] if isinstance(op, M.AllocOp) else None
        if v is None or v in returned or not v.uses:
            continue
        first = min(v.uses, key=lambda u: top_index(u.op, body))
        rest = [u for u in v.uses if u is not first]
        if isinstance(first.op, M.CopyOp) and first.index == 1 and first.op.parent is body \
                and M.root_of(first.op.operands[0]) in set(body.args) - overwritten and reads(rest) \
                and all(top_index(u.op, body) > body.index(first.op) for u in rest):
            out.add(v)
    return out


def _restrict_params(kfn: K.KernelFuncOp, module: Operation, tied: dict[Value, Value]) -> list[bool]:
    """`restrict` is kept on a pointer parameter unless some launch passes a buffer that another parameter
    also reaches while one of the two is written; a tied result's buffer counts as its argument (`tied`)."""
    written = kfn.written_args()
    ok = [True] * len(kfn.body.args)
    for launch in module.walk():
        if not isinstance(launch, K.LaunchOp) or launch.attributes["kernel"].name != kfn.sym_name:
            continue
        roots = [tied.get(M.root_of(v), M.root_of(v)) if isinstance(v.type, MemRefType) else None
                 for v in launch.operands]
        for i, ri in enumerate(roots):
            for j, rj in enumerate(roots):
                if i < j and ri is not None and ri is rj and (written[i] or written[j]):
                    ok[i] = ok[j] = False
    return ok


def render_c(module: Operation, func: str | None = None) -> str:
    """The C source of one host function of `module` (the only one unless `func` names it)."""
    return CRenderer().render_module(module, func)

