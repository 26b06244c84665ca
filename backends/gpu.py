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
from typing import ClassVar

from ..dialects import kernel as K
from ..dialects import loop as LP
from ..ir.core import Operation, TirError
from ..ir.types import ScalarType
from .cstyle import CStyleRenderer, _paren

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

    def __init__(self, missing: dict[str, str] | None = None) -> None:
        super().__init__()
        self.messages: list[str] = []  # check number k + 1 -> its message ({j} placeholders: tir_errv[j])
        self.grid = 0  # of the kernel being rendered
        self.uses: set[str] = set()  # "f64", "f16": the extensions the program needs
        # The types the device lacks ("f64", "f16") -> why: the first op that needs one is a TirError at its place.
        self.missing = missing or {}
        self.op: Operation | None = None  # the op being rendered (the kernel.func while its signature is)
        self.kernel_checks: dict[str, bool] = {}  # kernel -> whether it reports run-time errors

    # ---- the dialect: a subclass says these
    def global_id(self, d: int) -> str:
        """The expression of work-item index d (0: the fastest varying)."""
        raise NotImplementedError

    def global_size(self, d: int) -> str:
        """The number of work-items along dim d."""
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

    def math_fn(self, name: str, t: ScalarType) -> str:
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

    def render_kernel(self, fn: K.KernelFuncOp, restrict_ok: list[bool]) -> list[str]:
        self.grid = int(fn.attributes.get("grid", 0))
        self.op = fn
        try:
            return super().render_kernel(fn, restrict_ok)
        finally:
            self.op = None

    def render_program(self, module: Operation) -> str:
        """Every kernel.func of the module as one program."""
        kernels: list[str] = []
        for fn in module.regions[0].block.ops:
            if isinstance(fn, K.KernelFuncOp):
                kernels += [*self.render_kernel(fn, [True] * len(fn.body.args)), ""]
                self.kernel_checks[fn.sym_name] = self.has_check
        return "\n".join(line for line in [*self.prelude(), *self.globals, "", *kernels] if line)
