"""What the device targets' kernel renderers share (OpenCL: backends/opencl.py, CUDA: backends/cuda.py).

A `GridRenderer` is the shared C-style renderer (backends/cstyle.py) plus the launch grid: the first
`grid` dims of a kernel's top-level `loop.parallel` (passes/outline_kernels.py) are work-item / thread
indices (`global_id(d)`, the innermost of them d = 0, so neighbouring work-items touch neighbouring
elements): dim 0 guarded by its bound, the others loops that stride by the grid's size (a launch may have
fewer work-items there than iterations: CUDA's grid y and z have at most 65535 blocks); further dims are
loops in the work-item; a kernel of `grid = 0`
runs on one work-item. A failed run-time check calls the prelude's `tir_fail(tir_err, tir_errv, k, ...)`:
check number k (from 1, in the order of `messages`) goes to `tir_err[0]` (the first failure wins) and
up to MAX_CHECK_VALUES values to `tir_errv`; the runtime raises the message. Math goes to the device
language's builtins (overloaded on float and double in both); numpy's integer division, remainder and
power, NaN-propagating maximum/minimum and the Philox words come from the C target's own headers
(backends/c_runtime/tir_scalar.h, tir_random.h), included as text. A subclass gives its dialect's
knobs, `global_id` and its `prelude`.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar

from ..dialects import kernel as K
from ..dialects import loop as LP
from ..dialects import mem as M
from ..dialects import scalar as S
from ..ir.core import Operation, TirError
from ..ir.types import ScalarType, f32
from .cstyle import EXPR, STMT, CStyleRenderer, _mul, _paren, reads_what_it_writes, uses_f32_trig

__all__ = ["GridRenderer", "MAX_CHECK_VALUES", "runtime_header", "activations"]

MAX_CHECK_VALUES = 4  # values a failed check reports (tir_errv holds one row of them)

_RUNTIME_DIR = Path(__file__).resolve().parent / "c_runtime"

# tensorir math name -> the device builtin where the names differ; tir_* are activations() below.
_BUILTINS: dict[str, str] = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sigmoid": "tir_sigmoid", "softplus": "tir_softplus",
}


def runtime_header(name: str, inline: str = "static inline") -> str:
    """A C runtime header as device code: without its `#include <...>` lines (device languages have no libc
    headers), its `static inline` functions declared `inline` (CUDA: `static __device__ inline`)."""
    text = (_RUNTIME_DIR / name).read_text().replace("static inline", inline)
    return "\n".join(line for line in text.splitlines() if not line.startswith("#include <"))


def activations(inline: str, f64: bool) -> str:
    """numpy's sigmoid and softplus from exp(-|x|), as tir_math.h computes them (no overflow for any x)."""
    out = ["#define TIR__ACTIVATIONS(F, N) \\",
           f"    {inline} F tir_sigmoid_##N(F x) {{ F e = exp(-fabs(x)); return x < 0 ? e / (1 + e) : 1 / (1 + e); }}"
           " \\",
           f"    {inline} F tir_softplus_##N(F x) {{ return fmax(x, (F)0) + log1p(exp(-fabs(x))); }}",
           "TIR__ACTIVATIONS(float, f32)"]
    return "\n".join(out + (["TIR__ACTIVATIONS(double, f64)"] if f64 else [])) + "\n"


class GridRenderer(CStyleRenderer):
    """Kernels over a launch grid; no pragmas (the grid is the parallel loop), no `restrict` (a launch may
    pass one device buffer twice)."""

    restrict: ClassVar[str] = ""
    buffer_offsets: ClassVar[bool] = True  # a device array may be a view into its buffer (runtime/device.py)
    stmt_table: ClassVar[dict[type[Operation], str]] = {**STMT, K.TiledGemmOp: "render_tiled_gemm"}
    local_qualifier: ClassVar[str]  # of an array in local (work-group shared) memory
    barrier: ClassVar[str]  # the statement that waits for the work-group, local memory written
    global_barrier: ClassVar[str]  # the same, global memory written too
    # A float sum's plain chains between compensated steps: the C target's blocks of 32 are one SIMD reduction
    # each (4-8 lanes, so 4-8 plain adds a lane); a work-item adds its block one value at a time, and 32 plain
    # adds of one value repeated are off by up to 2 eps, the same way in every block (a float64 row of 5e6 tenths
    # was 4 ulps off, numpy 0). Blocks of 4: exact on such rows.
    SUM_BLOCK: ClassVar[int] = 4

    # float32 math as the device's fast intrinsics, under the `fast_intrinsics` flag (less accurate: see README)
    FAST_INTRINSICS: ClassVar[dict[str, str]] = {}

    def __init__(self, missing: dict[str, str] | None = None, fast_intrinsics: bool = False) -> None:
        super().__init__()
        self.fast_intrinsics = fast_intrinsics
        self.messages: list[str] = []  # check number k + 1 -> its message ({j} placeholders: tir_errv[j])
        self.grid = 0  # of the kernel being rendered
        self.uses: set[str] = set()  # "f64", "f16": the extensions the program needs
        # The types the device lacks ("f64", "f16") -> why: the first op that needs one is a TirError at its place.
        self.missing = missing or {}
        self.op: Operation | None = None  # the op being rendered (the kernel.func while its signature is)
        self.kernel_checks: dict[str, bool] = {}  # kernel -> whether it reports run-time errors
        self.tree = 0  # of the kernel being rendered: work-items per row of a tree-reductions kernel (0: none)
        self.trig_twins: set[str] = set()  # kernels rendered with a fast twin (render_program)

    # ---- the dialect: a subclass says these
    def global_id(self, d: int) -> str:
        """The expression of work-item index d (0: the fastest varying)."""
        raise NotImplementedError

    def global_size(self, d: int) -> str:
        """The number of work-items along dim d."""
        raise NotImplementedError

    def local_id(self, d: int) -> str:
        """The work-item's index in its work-group along dim d."""
        raise NotImplementedError

    def group_id(self, d: int) -> str:
        """The work-group's index along dim d."""
        raise NotImplementedError

    def num_groups(self, d: int) -> str:
        """The number of work-groups along dim d."""
        raise NotImplementedError

    def prelude(self) -> list[str]:
        """The program's text before its constants and kernels."""
        raise NotImplementedError

    # ---- shared
    def need(self, name: str) -> None:
        """The program uses type `name` ("f64", "f16"): refused at the user's op where the device lacks it."""
        if name in self.missing:
            op = self.op
            if isinstance(op, K.KernelFuncOp):  # its signature: the kernel's first op that computes in the type,
                # else that loads it (float16 computes in float32)
                ops = [o for o in op.walk() if any(getattr(r.type, "name", None) == name for r in o.results)]
                op = next((o for o in ops if o.name.startswith("scalar.") and o.name != "scalar.constant"),
                          ops[0] if ops else op)
            where = f"'{op.name}' op " if op is not None else ""
            raise TirError(f"{where}needs {ScalarType(name).dtype}: {self.missing[name]}",
                           op.loc if op is not None else None)
        self.uses.add(name)

    def blocks_sums(self, t: ScalarType) -> bool:
        # Without blocks a work-item's chunk of a full sum (n/64 values, one after another) drifts like a plain
        # loop: 2.5e-12 relative off numpy's pairwise sum of 1e7 values; compensated blocks equal the C target.
        return True

    def render_op(self, op: Operation) -> None:
        outer, self.op = self.op, op
        try:
            super().render_op(op)
        finally:
            self.op = outer

    def type_name(self, t: ScalarType) -> str:
        if t.name in ("f64", "f16"):
            self.need(t.name)
        return super().type_name(t)

    def fast_intrinsic(self, name: str, t: ScalarType) -> str | None:
        """The device's fast intrinsic for float32 function `name` where the `fast_intrinsics` flag asks for it."""
        return self.FAST_INTRINSICS.get(name) if self.fast_intrinsics and t.name == "f32" else None

    def math_fn(self, name: str, t: ScalarType) -> str:
        fast = self.fast_intrinsic(name, t)
        if fast is not None:
            return fast
        fn = _BUILTINS.get(name, name)
        if fn.startswith("tir_"):
            if t.name == "f64":
                self.need("f64")
            return f"{fn}_{'f64' if t.name == 'f64' else 'f32'}"
        return fn

    def fail(self, message: str, values: list[str]) -> str:
        order = [int(k) for k in re.findall(r"\{(\d+)\}", message)]
        if len(order) > MAX_CHECK_VALUES:
            raise TirError(f"a run-time check inside a kernel reports {len(order)} values (at most {MAX_CHECK_VALUES})")
        self.messages.append(re.sub(r"\{(\d+)\}", lambda m: "{" + str(order.index(int(m.group(1)))) + "}", message))
        args = [f"(int64_t){_paren(values[k])}" for k in order] + ["0"] * (MAX_CHECK_VALUES - len(order))
        return f"tir_fail(tir_err, tir_errv, {len(self.messages)}, {', '.join(args)})"

    def render_parallel(self, op: Operation) -> None:
        """The top-level loop.parallel of a grid kernel: its first `grid` dims are work-item indices."""
        if self.parallel_depth or not self.grid:
            super().render_parallel(op)
            return
        if self.tree:
            self.render_tree_rows(op)
            return
        assert isinstance(op, LP.ParallelOp)
        body = op.body
        bounds = [self.value(b) for b in op.operands]
        ivs = self.bind_induction_vars(body)
        g, t = self.grid, self.index_type
        fast = g - 1  # ivs[fast] is work-item dim 0
        self.emit(f"const {t} {ivs[fast]} = ({t}){self.global_id(0)};")
        self.emit(f"if ({ivs[fast]} >= {_paren(bounds[fast])}) return;")
        self.parallel_depth += 1
        self.loop_depth += 1
        with ExitStack() as loops:
            for k in range(fast):  # the slower grid dims stride by the grid's size (CUDA caps y and z at 65535)
                d = g - 1 - k
                loops.enter_context(self.block(f"for ({t} {ivs[k]} = ({t}){self.global_id(d)}; {ivs[k]} < "
                                               f"{bounds[k]}; {ivs[k]} += ({t}){self.global_size(d)})"))
            for k in range(g, len(bounds)):
                loops.enter_context(self.block(self._loop_header(ivs[k], bounds[k])))
            self.render_block(body)
            self.close_pending(self._pending_close)
        self.parallel_depth -= 1
        self.loop_depth -= 1

    # ---- tree reductions (passes/tree_reductions.py)
    def render_tree_rows(self, op: Operation) -> None:
        """The top-level loop.parallel of a `tree = R` kernel: grid dim 0 is one work-group of R work-items per
        index (the runtime launches exactly one per row: no guard, so every work-item reaches every barrier;
        PoCL miscompiles barriers after a group-uniform early return); the row's reductions
        are tree reductions, its inner loop.parallels stride by R, its stores are work-item 0's, and a barrier
        follows each write."""
        from ..passes.tree_reductions import tree_reduction_kinds

        assert isinstance(op, LP.ParallelOp)
        body, g, t = op.body, self.grid, self.index_type
        bounds = [self.value(b) for b in op.operands]
        ivs = self.bind_induction_vars(body)
        reds: dict[Operation, list[str]] = {}
        for o in body.ops:  # the local arrays first: OpenCL wants them at the kernel's outermost scope
            if isinstance(o, LP.ForOp):
                reds[o] = [self.fresh("red") for _ in o.results]
                if self._blocked_sum(o, tree_reduction_kinds(o)):
                    reds[o].append(self.fresh("red_c"))  # a float sum's compensation (render_tree_for)
                for name, r in zip(reds[o], [*o.results, *o.results]):
                    self.emit(f"{self.local_qualifier} {self.type_name(r.type)} {name}[{self.tree}];")  # type: ignore[arg-type]
        lid = self.fresh("lid")
        self.emit(f"const int {lid} = (int){self.local_id(0)};")
        fast = g - 1
        self.emit(f"const {t} {ivs[fast]} = ({t}){self.group_id(0)};  /* < {bounds[fast]}: one group per row */")
        self.parallel_depth += 1
        self.loop_depth += 1
        with ExitStack() as loops:
            for k in range(fast):  # one work-item per group along these dims: uniform in the group
                d = g - 1 - k
                loops.enter_context(self.block(f"for ({t} {ivs[k]} = ({t}){self.global_id(d)}; {ivs[k]} < "
                                               f"{bounds[k]}; {ivs[k]} += ({t}){self.global_size(d)})"))
            for o in body.ops:
                if o is body.terminator:
                    break
                if isinstance(o, LP.ForOp):
                    self.render_tree_for(o, reds[o], lid)
                elif isinstance(o, LP.ParallelOp):
                    self.render_strided(o, lid)
                    self.emit(self.global_barrier)
                elif isinstance(o, M.StoreOp):
                    with self.block(f"if ({lid} == 0)"):
                        self.render_op(o)
                    self.emit(self.global_barrier)
                else:
                    self.render_op(o)
        self.parallel_depth -= 1
        self.loop_depth -= 1

    def render_tree_for(self, op: LP.ForOp, reds: list[str], lid: str) -> None:
        """A reduction loop of a row as a work-group tree reduction into the local arrays `reds`."""
        from ..passes.parallelize import identity
        from ..passes.tree_reductions import tree_reduction_kinds

        kinds = tree_reduction_kinds(op)
        assert kinds is not None, "tree-reductions marks only kernels whose row reductions it can split"
        body, it, n = op.body, self.index_type, self.tree
        types: list[ScalarType] = [r.type for r in op.results]  # type: ignore[misc]

        def combine(kind: str, a: str, b: str, ty: ScalarType) -> str:
            return EXPR[S.COMBINER_OF_KIND[kind]].fn(self, [a, b], ty, op)

        accs = [self.fresh(f"{r.name_hint or 'acc'}_part") for r in op.results]
        for acc, kind, ty, arg in zip(accs, kinds, types, body.args[1:]):
            self.emit(f"{self.type_name(ty)} {acc} = {self.literal(identity(kind, ty).value, ty)};")
            self.names[arg] = acc
        iv = self.fresh(body.args[0].name_hint, "i")
        self.names[body.args[0]] = iv
        bound = self.value(op.operands[0])
        # A work-item's share of a float sum adds blocks of SUM_BLOCK of its elements with a compensated
        # accumulator, as the C target's sums do (a plain loop over n/R values drifts: 5e-14 on 5e5 tenths).
        blocked = self._blocked_sum(op, kinds)
        with ExitStack() as loops:
            if blocked:
                suffix = self.ops_suffix(types[0])
                comp, lo, hi = self.fresh(f"{accs[0]}_c"), self.fresh(f"{iv}_lo"), self.fresh(f"{iv}_hi")
                zero = self.literal(0, types[0])
                self.emit(f"{self.type_name(types[0])} {comp} = {zero};")
                span = n * self.SUM_BLOCK  # a block: SUM_BLOCK of the work-item's elements
                loops.enter_context(self.block(f"for ({it} {lo} = {lid}; {lo} < {bound}; {lo} += {span})"))
                self.emit(f"const {it} {hi} = {lo} + {span} < {bound} ? {lo} + {span} : {bound};")
                total, accs = accs, [self.fresh(f"{accs[0]}_b")]
                self.emit(f"{self.type_name(types[0])} {accs[0]} = {zero};")
                self.names[body.args[1]] = accs[0]
                loops.callback(lambda: self.emit(f"tir_sum_step_{suffix}(&{total[0]}, &{comp}, {accs[0]});"))
            with self.block(f"for ({it} {iv} = {lo if blocked else lid}; {iv} < {hi if blocked else bound}; "
                            f"{iv} += {n})"):
                self.render_block(body)
                y = body.terminator
                assert y is not None
                nexts = [self.value(v) for v in y.operands]
                tmps = [self.fresh(f"{a}_next") for a in accs]
                for tmp, nxt, ty in zip(tmps, nexts, types):
                    self.emit(f"const {self.type_name(ty)} {tmp} = {nxt};")
                for a, tmp in zip(accs, tmps):
                    self.emit(f"{a} = {tmp};")
                self.close_pending(self._pending_close)
        if blocked:  # the work-items' (sum, compensation) pairs add up the tree compensated too
            accs = [*total, comp]
        for red, acc in zip(reds, accs):
            self.emit(f"{red}[{lid}] = {acc};")
        self.emit(self.barrier)
        step = self.fresh("s")
        with self.block(f"for (int {step} = {n // 2}; {step} > 0; {step} >>= 1)"):
            with self.block(f"if ({lid} < {step})"):
                if blocked:
                    (red, red_c), tn = reds, self.type_name(types[0])
                    a, c = self.fresh("a"), self.fresh("c")
                    self.emit(f"{tn} {a} = {red}[{lid}], {c} = {red_c}[{lid}];")
                    self.emit(f"tir_sum_step_{suffix}(&{a}, &{c}, {red}[{lid} + {step}]);")
                    self.emit(f"{red}[{lid}] = {a};")
                    self.emit(f"{red_c}[{lid}] = {c} + {red_c}[{lid} + {step}];")
                else:
                    for red, kind, ty in zip(reds, kinds, types):
                        self.emit(f"{red}[{lid}] = {combine(kind, f'{red}[{lid}]', f'{red}[{lid} + {step}]', ty)};")
            self.emit(self.barrier)
        finals = [f"tir_sum_finish_{suffix}({reds[0]}[0], {reds[1]}[0])"] if blocked else [f"{r}[0]" for r in reds]
        for res, final, kind, ty, init in zip(op.results, finals, kinds, types, op.operands[1:]):
            name = self.fresh(res.name_hint, "r")
            self.emit(f"const {self.type_name(ty)} {name} = {combine(kind, self.value(init), final, ty)};")
            self.names[res] = name
        self.emit(self.barrier)  # before the local arrays are written again (the next row)

    def render_strided(self, op: Operation, lid: str) -> None:
        """An inner loop.parallel of a tree row: its first dim shared out over the R work-items."""
        assert isinstance(op, LP.ParallelOp)
        bounds = [self.value(b) for b in op.operands]
        ivs = self.bind_induction_vars(op.body)
        t = self.index_type
        self.parallel_depth += 1
        with ExitStack() as loops:
            loops.enter_context(self.block(f"for ({t} {ivs[0]} = {lid}; {ivs[0]} < {bounds[0]}; "
                                           f"{ivs[0]} += {self.tree})"))
            for k in range(1, len(bounds)):
                loops.enter_context(self.block(self._loop_header(ivs[k], bounds[k])))
            self.render_block(op.body)
            self.close_pending(self._pending_close)
        self.parallel_depth -= 1

    def render_tiled_gemm(self, op: Operation) -> None:
        """`kernel.tiled_gemm` (the whole body of its kernel, so its local arrays are at kernel scope): each
        work-group loops over tiles of C (grid-stride: CUDA caps grid y at 65535 blocks), stepping through K by
        tile_k: its work-items copy the tiles of op(A) and op(B) into local memory (zeros past the ends; each
        copy walks its operand's unit-stride dim across neighbouring work-items), wait, and each adds the
        products of its reg_m x reg_n elements of C in registers; the guarded store applies alpha (times the
        scale) and beta (beta = 0 does not read C)."""
        assert isinstance(op, K.TiledGemmOp)
        tm, tn, tk, rm, rn = op.tiles()
        lx, ly = op.local_size()
        a, b, c = (self.memref(v) for v in op.operands[:3])
        t = c.element
        ty, it = self.type_name(t), self.index_type
        zero = f"({ty}){self.literal(0, t)}"
        trans_a, trans_b = bool(op.attributes["trans_a"]), bool(op.attributes["trans_b"])
        n = {k: self.fresh(k) for k in ("As", "Bs", "tx", "ty", "tid", "M", "N", "K", "bm", "bn", "acc", "k0",
                                        "l", "mm", "nn", "kk", "r", "q", "ra", "rb", "i", "j")}
        tx, tyy, tid, acc, ra, rb, i, j, kk = (n[k] for k in ("tx", "ty", "tid", "acc", "ra", "rb", "i", "j", "kk"))
        m_, n_, k_, bm, bn, k0 = (n[k] for k in ("M", "N", "K", "bm", "bn", "k0"))

        def at(m: Any, row: str, col: str) -> str:
            terms = [x for x in (_mul(row, m.strides[0]), _mul(col, m.strides[1])) if x != "0"]
            return f"{m.data}[{' + '.join(terms) or '0'}]"

        def load(tile: str, size: int, fast: tuple[str, int], slow: tuple[str, int], row: str, col: str,
                 rows: str, cols: str, value: str, index: str) -> None:
            """The work-group's copy of one operand tile (`size` elements, the named dims `fast` and `slow`: the
            fastest walks the operand's unit stride) into local memory; global (row, col), zero outside."""
            with self.block(f"for (int {n['l']} = {tid}; {n['l']} < {size}; {n['l']} += {lx * ly})"):
                self.emit(f"const int {fast[0]} = {n['l']} % {fast[1]}, {slow[0]} = {n['l']} / {fast[1]};")
                self.emit(f"const {it} {n['r']} = {row}, {n['q']} = {col};")
                self.emit(f"{tile}{index} = ({n['r']} < {rows} && {n['q']} < {cols}) ? {value} : {zero};")

        self.emit(f"{self.local_qualifier} {ty} {n['As']}[{tk}][{tm}];")
        self.emit(f"{self.local_qualifier} {ty} {n['Bs']}[{tk}][{tn}];")
        self.emit(f"const int {tx} = (int){self.local_id(0)}, {tyy} = (int){self.local_id(1)};")
        self.emit(f"const int {tid} = {tyy} * {lx} + {tx};")
        self.emit(f"const {it} {m_} = {c.shape[0]}, {n_} = {c.shape[1]}, {k_} = {a.shape[0 if trans_a else 1]};")
        factors = [self.literal(float(op.attributes["alpha"]), t)] if float(op.attributes["alpha"]) != 1.0 else []
        factors += [self.value(sc) for sc in op.operands[3:]]
        beta = float(op.attributes["beta"])
        mm, nn, r, q = n["mm"], n["nn"], n["r"], n["q"]
        with ExitStack() as tiles:
            tiles.enter_context(self.block(f"for ({it} {bm} = ({it}){self.group_id(1)} * {tm}; {bm} < {m_}; "
                                           f"{bm} += ({it}){self.num_groups(1)} * {tm})"))
            tiles.enter_context(self.block(f"for ({it} {bn} = ({it}){self.group_id(0)} * {tn}; {bn} < {n_}; "
                                           f"{bn} += ({it}){self.num_groups(0)} * {tn})"))
            self.emit(f"{ty} {acc}[{rm}][{rn}];")
            self.emit(f"for (int {i} = 0; {i} < {rm}; ++{i}) for (int {j} = 0; {j} < {rn}; ++{j}) "
                      f"{acc}[{i}][{j}] = {zero};")
            with self.block(f"for ({it} {k0} = 0; {k0} < {k_}; {k0} += {tk})"):
                fast, slow = ((mm, tm), (kk, tk)) if trans_a else ((kk, tk), (mm, tm))
                load(n["As"], tm * tk, fast, slow, f"{bm} + {mm}", f"{k0} + {kk}", m_, k_,
                     at(a, q, r) if trans_a else at(a, r, q), f"[{kk}][{mm}]")
                fast, slow = ((kk, tk), (nn, tn)) if trans_b else ((nn, tn), (kk, tk))
                load(n["Bs"], tn * tk, fast, slow, f"{k0} + {kk}", f"{bn} + {nn}", k_, n_,
                     at(b, q, r) if trans_b else at(b, r, q), f"[{kk}][{nn}]")
                self.emit(self.barrier)
                with self.block(f"for (int {kk} = 0; {kk} < {tk}; ++{kk})"):
                    self.emit(f"{ty} {ra}[{rm}], {rb}[{rn}];")
                    self.emit(f"for (int {i} = 0; {i} < {rm}; ++{i}) {ra}[{i}] = {n['As']}[{kk}][{tyy} + {i} * {ly}];")
                    self.emit(f"for (int {j} = 0; {j} < {rn}; ++{j}) {rb}[{j}] = {n['Bs']}[{kk}][{tx} + {j} * {lx}];")
                    self.emit(f"for (int {i} = 0; {i} < {rm}; ++{i}) for (int {j} = 0; {j} < {rn}; ++{j}) "
                              f"{acc}[{i}][{j}] += {ra}[{i}] * {rb}[{j}];")
                self.emit(self.barrier)
            with self.block(f"for (int {i} = 0; {i} < {rm}; ++{i}) for (int {j} = 0; {j} < {rn}; ++{j})"):
                self.emit(f"const {it} {r} = {bm} + {tyy} + {i} * {ly}, {q} = {bn} + {tx} + {j} * {lx};")
                value = " * ".join([*factors, f"{acc}[{i}][{j}]"])
                if beta != 0.0:
                    value += f" + {at(c, r, q)}" if beta == 1.0 else f" + {self.literal(beta, t)} * {at(c, r, q)}"
                self.emit(f"if ({r} < {m_} && {q} < {n_}) {at(c, r, q)} = {value};")

    def render_kernel(self, fn: K.KernelFuncOp, restrict_ok: list[bool]) -> list[str]:
        self.grid = int(fn.attributes.get("grid", 0))
        self.tree = int(fn.attributes.get("tree", 0))
        self.op = fn
        try:
            return super().render_kernel(fn, restrict_ok)
        finally:
            self.op = None

    def render_program(self, module: Operation) -> str:
        """Every kernel.func of the module as one program; before a kernel that `trig_twin` picks, its fast twin."""
        kernels: list[str] = []
        for fn in module.regions[0].block.ops:
            if not isinstance(fn, K.KernelFuncOp):
                continue
            name, ok = fn.sym_name, [True] * len(fn.body.args)
            if not self.trig_twin(fn):
                kernels += [*self.render_kernel(fn, ok), ""]
                self.kernel_checks[name] = self.has_check
                continue
            self.trig_twins.add(name)
            exact = self.render_kernel(fn, ok)
            checks = self.has_check
            self.range_flag = "tir_big"
            try:
                fast = self.render_kernel(fn, ok)
            finally:
                self.range_flag = None
            kernels += [fast[0].replace(f" {name}(", f" {name}_fast(", 1), "    unsigned int tir_big = 0;", *fast[1:-1],
                        "    if (tir_big) *tir_bigp = tir_seq;", fast[-1], "", *exact, ""]
            self.kernel_checks[name] = checks or self.has_check
        return "\n".join(line for line in [*self.prelude(), *self.globals, "", *kernels] if line)

    # ---- range versioning of float32 sin/cos (the C target's fast twins, on the grid)
    def trig_twin(self, fn: K.KernelFuncOp) -> bool:
        """Whether kernel `fn` gets a fast twin: where float32 sin/cos are tir_math.h's (a CPU device, whose
        exact functions reduce through float64 in every lane: half of W1's time on PoCL), a plain grid kernel
        that computes them and never reads what it writes. The runtime launches the twin `k_fast` (the
        short-range functions; it stores the launch's number `tir_seq` in `*tir_bigp` when an argument was
        beyond their range), reads that flag and runs `k` only then, as the C target does. (A guard inside `k`
        would spare the read, but PoCL runs a kernel that returns at once nearly as long as the whole kernel.)"""
        return (self.math_fn("sin", f32) == "tir_sinf" and int(fn.attributes.get("grid", 0)) > 0
                and "tree" not in fn.attributes and "local" not in fn.attributes
                and uses_f32_trig(fn) and not reads_what_it_writes(fn))

    def kernel_params(self, fn: K.KernelFuncOp, restrict_ok: list[bool], written: list[bool]) -> list[str]:
        params = super().kernel_params(fn, restrict_ok, written)
        if self.range_flag:  # a fast twin's, after the error flag: the range flag and the launch's number
            params[1:1] = [f"{self.buffer_prefix}unsigned int* tir_bigp", "unsigned int tir_seq"]
        return params
