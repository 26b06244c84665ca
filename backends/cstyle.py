"""The C-style renderer shared by the C, CUDA and OpenCL targets (kernel-level IR -> C-like source).

Input: a module after `outline-kernels` (docs/lowering.md section 6): `kernel.func`s holding loop
nests of `loop`, `mem.load/store` and `scalar` ops, and host functions (the host plan) of
`mem.alloc/dealloc/dim/stride/view/check/copy`, `lib.*`, scalar index arithmetic and `kernel.launch`.

The renderer is a class whose language knobs are class attributes (type names, qualifiers, the
spelling of `restrict`, pragma hooks) plus two tables keyed by op class:

- `EXPR`: scalar ops -> a C expression of already-rendered operands (`_Expr` rows);
- `STMT`: the target-neutral structural ops (loops, loads and stores, views, in-kernel copies and checks)
  -> a method that writes statements. A target's `stmt_table` extends it with its host plan's ops.

It knows nothing of a target's runtime: a run-time check inside a kernel reports through the `fail`
hook, 64-bit literals go through `int64_literal`, file-scope constants through `constant_qualifier`,
and float16 has the type name each target gives it. A target subclasses it and changes only what differs
(backends/c.py: the C target, its OpenMP pragmas, host plan and `tir_main`; backends/opencl.py: OpenCL C
kernels, their NDRange and address spaces).

Every SSA value becomes a C local (`float v3 = ...;`) except constants, sizes and strides, which are
inlined. A memref value is a `MemRef`: a data pointer expression and one C expression per size and stride
(literals where the type knows them), so `mem.load %m[%i, %j]` is `m[i * m_s0 + j]` and a view is
pointer arithmetic on its source.

Vectorization: kernels take `T* restrict` data pointers (dropped where a launch passes aliasing
buffers) and element strides; the innermost loop of a nest is emitted twice, a unit-stride fast path
(`if (x_s0 == 1 && ...)`, every dynamic stride its induction variable walks set to 1) and the
general strided loop, and `loop.parallel` / `simd_reduction` loops get `omp simd` so gcc vectorizes
without -ffast-math.

Numerics follow numpy (the reference interpreter): integer add/sub/mul/neg wrap (computed in the
unsigned type), floor division and remainder by zero give 0 for integers (backends/c_runtime/tir_ops.h),
float maximum/minimum propagate NaN, operands are converted to numpy's result type before the op,
float16 is computed in float and rounded at every op (as numpy does). Known difference: a float ->
integer cast of a value out of the integer's range (or NaN) is undefined in C; on x86 gcc gives what
numpy gives for int32/int64 (INT_MIN) and wraps through int32 for 8/16-bit types.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..dialects import kernel as K
from ..dialects import lib as L
from ..dialects import loop as LP
from ..dialects import mem as M
from ..dialects import random as R
from ..dialects import scalar as S
from ..dialects import tensor as T
from ..ir.attributes import DYN, Dense, Typed
from ..ir.core import Block, Operation, OpResult, TirError, Value
from ..ir.types import MemRefType, ScalarType, TensorType, scalar

__all__ = ["CStyleRenderer", "MemRef", "EXPR", "STMT", "UNREACHABLE", "c_string"]


# ---------------------------------------------------------------- helpers


def c_string(text: str) -> str:
    """A C string literal holding `text` (escaped; `%` is not special: print it with "%s")."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) > 126:
            out.extend(f"\\{b:03o}" for b in ch.encode())
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "bool true false main ctx args results int64_t int32_t size_t".split())


def _is_int_literal(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _mul(a: str, b: str) -> str:
    """a * b with literal folding (sizes and strides are often literals)."""
    if a == "0" or b == "0":
        return "0"
    if a == "1":
        return b
    if b == "1":
        return a
    if _is_int_literal(a) and _is_int_literal(b):
        return str(int(a) * int(b))
    return f"{_paren(a)} * {_paren(b)}"


def _paren(e: str) -> str:
    """`e` wrapped in parentheses unless it is a name, a number or an element of an array."""
    return e if re.fullmatch(r"[\w.\[\]]+", e) else f"({e})"


def contiguous_strides(shape: list[str]) -> list[str]:
    """The C expressions of the strides of a row-major array of `shape`."""
    out: list[str] = []
    acc = "1"
    for d in reversed(shape):
        out.append(acc)
        acc = _mul(acc, d)
    return list(reversed(out))


@dataclass
class MemRef:
    """A memref value in C: `data` (a pointer expression of the element type) and a C expression per size
    and stride. `root` identifies the allocation it views (aliasing); `kind` is arg/alloc/result/view/const."""

    data: str
    shape: list[str]
    strides: list[str]
    element: ScalarType
    root: object
    kind: str = "view"


@dataclass
class _Expr:
    """A row of the scalar table: `fn(renderer, args, compute type, op) -> C expression`. Operands are
    converted to the compute type first: the result type (`numpy`), or numpy's common type of the
    operands (`common`, comparisons), or left alone (`none`: casts and select's condition)."""

    fn: Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]
    convert: str = "result"


@dataclass
class _Loop:
    """What the renderer knows about the loop being written: for the innermost one, the strides assumed 1."""

    unit_strides: set[str] = field(default_factory=set)


# ---------------------------------------------------------------- scalar expressions


def _signed_int(t: ScalarType) -> bool:
    return t.is_int and t.dtype.kind == "i" and t.name != "index"


def _int_unsigned(t: ScalarType) -> str:
    return "uint64_t" if t.dtype.itemsize == 8 else "uint32_t"


def _arith(op_c: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    bool_op = {"+": "|", "*": "&"}.get(op_c)

    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        if t.is_bool:
            if bool_op is None:
                raise op.error(f"'{op_c}' is not defined on booleans")
            return f"({a[0]} {bool_op} {a[1]})"
        if t.is_int and t.name != "index":
            u = _int_unsigned(t)
            return f"({r.type_name(t)})(({u}){a[0]} {op_c} ({u}){a[1]})"
        return f"({a[0]} {op_c} {a[1]})"
    return fn


def _neg(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    if t.is_int and t.name != "index":
        return f"({r.type_name(t)})(0 - ({_int_unsigned(t)}){a[0]})"
    return f"(-{a[0]})"


def _abs(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    if t.is_float:
        return f"{r.math_fn('fabs', t)}({a[0]})"
    if t.is_bool or t.dtype.kind == "u":
        return a[0]
    return f"({a[0]} < 0 ? {_neg(r, a, t, op)} : {a[0]})"


def _helper(name: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    """A tir_ops.h helper `tir_<name>_<type>`."""
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        if t.is_bool:
            raise op.error(f"{name} is not defined on booleans")
        return f"tir_{name}_{r.ops_suffix(t)}({', '.join(a)})"
    return fn


def _maxmin(kind: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        if t.is_float:
            return f"tir_{kind}_{r.ops_suffix(t)}({a[0]}, {a[1]})"
        if t.is_bool:
            return f"({a[0]} {'|' if kind == 'max' else '&'} {a[1]})"
        cmp = ">" if kind == "max" else "<"
        return f"({a[0]} {cmp} {a[1]} ? {a[0]} : {a[1]})"
    return fn


def _pow(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    if t.is_float:
        return f"{r.math_fn('pow', t)}({a[0]}, {a[1]})"
    return _helper("pow")(r, a, t, op)


def _math(name: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        if not t.is_float:
            raise op.error(f"has a non-float result type {t}")
        return f"{r.math_fn(name, t)}({', '.join(a)})"
    return fn


def _rsqrt(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    return f"({r.literal(1, t)} / {r.math_fn('sqrt', t)}({a[0]}))"


def _square(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    return _arith("*")(r, [a[0], a[0]], t, op)


def _sign(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    if t.is_float:
        return f"tir_sign_{r.ops_suffix(t)}({a[0]})"
    return f"({r.type_name(t)})(({a[0]} > 0) - ({a[0]} < 0))"


def _relu(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    return _maxmin("max")(r, [a[0], r.literal(0, t)], t, op)


def _rounding(name: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        return f"{r.math_fn(name, t)}({a[0]})" if t.is_float else a[0]  # integers round to themselves
    return fn


def _bitwise(op_c: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        if t.is_float:
            raise op.error(f"bitwise '{op_c}' on floats")
        return f"({r.type_name(t)})({a[0]} {op_c} {a[1]})"
    return fn


def _not(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    if t.is_bool:
        return f"(!{a[0]})"
    return f"({r.type_name(t)})(~{a[0]})"


def _predicate(kind: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    """isnan/isinf/isfinite by comparisons (no libm, vectorizable; exact without -ffast-math); an integer or
    boolean operand is finite."""
    def fn(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
        src = op.operands[0].type
        assert isinstance(src, ScalarType)
        if not src.is_float:
            return "1" if kind == "isfinite" else "0"
        x, inf = _paren(a[0]), r.literal(math.inf, src)
        return {"isnan": f"({x} != {x})", "isinf": f"({x} == {inf} || {x} == -{inf})",
                "isfinite": f"({x} - {x} == 0)"}[kind]  # inf - inf and nan - nan are nan
    return fn


def _compare(op_c: str) -> Callable[[CStyleRenderer, list[str], ScalarType, Operation], str]:
    return lambda r, a, t, op: f"({a[0]} {op_c} {a[1]})"


def _select(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    return r.select(a[0], a[1], a[2], t)


def _clip(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    mx, mn = _maxmin("max"), _maxmin("min")
    return mn(r, [mx(r, [a[0], a[1]], t, op), a[2]], t, op)


def _bce(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    o, tt = a
    one = r.literal(1, t)
    log = r.math_fn("log", t)
    return f"(-({tt} * {log}({o}) + ({one} - {tt}) * {log}({one} - {o})))"


def _cast(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    src = op.operands[0].type
    assert isinstance(src, ScalarType)
    x = a[0]
    if t.is_bool:
        return f"({x} != 0)"
    if src.is_float and t.is_int:
        # float -> int: through int32 for narrow types (what numpy gives on x86), UB out of range (see module doc)
        if t.dtype.itemsize < 4:
            return f"({r.type_name(t)})(int32_t){x}"
        if t.name == "ui32":
            return f"(uint32_t)(int64_t){x}"
        if t.name == "ui64":  # negative values wrap through int64, as numpy on x86
            return f"({x} >= 0x1p63 ? (uint64_t){x} : (uint64_t)(int64_t){x})"
    return f"({r.type_name(t)}){x}"


def _constant_expr(r: CStyleRenderer, a: list[str], t: ScalarType, op: Operation) -> str:
    v = op.attributes["value"]
    return r.literal(v.value, v.type)


def _scalar(name: str) -> type[Operation]:
    from ..ir.core import OP_REGISTRY
    return OP_REGISTRY[name]


# scalar op class -> expression row. Math functions are resolved per type by `math_fn`.
EXPR: dict[type[Operation], _Expr] = {
    _scalar("scalar.add"): _Expr(_arith("+")),
    _scalar("scalar.sub"): _Expr(_arith("-")),
    _scalar("scalar.mul"): _Expr(_arith("*")),
    _scalar("scalar.true_div"): _Expr(_arith("/")),
    _scalar("scalar.int_div"): _Expr(_helper("floordiv")),
    _scalar("scalar.mod"): _Expr(_helper("mod")),
    _scalar("scalar.pow"): _Expr(_pow),
    _scalar("scalar.arctan2"): _Expr(_math("atan2")),
    _scalar("scalar.maximum"): _Expr(_maxmin("max")),
    _scalar("scalar.minimum"): _Expr(_maxmin("min")),
    _scalar("scalar.binary_crossentropy"): _Expr(_bce),
    _scalar("scalar.eq"): _Expr(_compare("=="), "common"),
    _scalar("scalar.ne"): _Expr(_compare("!="), "common"),
    _scalar("scalar.lt"): _Expr(_compare("<"), "common"),
    _scalar("scalar.le"): _Expr(_compare("<="), "common"),
    _scalar("scalar.gt"): _Expr(_compare(">"), "common"),
    _scalar("scalar.ge"): _Expr(_compare(">="), "common"),
    _scalar("scalar.and"): _Expr(_bitwise("&")),
    _scalar("scalar.or"): _Expr(_bitwise("|")),
    _scalar("scalar.xor"): _Expr(_bitwise("^")),
    _scalar("scalar.not"): _Expr(_not),
    **{_scalar(f"scalar.{n}"): _Expr(_predicate(n), "none") for n in ("isnan", "isinf", "isfinite")},
    _scalar("scalar.neg"): _Expr(_neg),
    _scalar("scalar.abs"): _Expr(_abs),
    _scalar("scalar.sign"): _Expr(_sign),
    _scalar("scalar.square"): _Expr(_square),
    _scalar("scalar.rsqrt"): _Expr(_rsqrt),
    _scalar("scalar.relu"): _Expr(_relu),
    _scalar("scalar.floor"): _Expr(_rounding("floor")),
    _scalar("scalar.ceil"): _Expr(_rounding("ceil")),
    _scalar("scalar.round"): _Expr(_rounding("rint")),  # half to even, as np.round
    _scalar("scalar.clip"): _Expr(_clip),
    _scalar("scalar.select"): _Expr(_select, "select"),
    _scalar("scalar.cast"): _Expr(_cast, "none"),
    _scalar("scalar.constant"): _Expr(_constant_expr, "none"),
    R.PhiloxOp: _Expr(lambda r, a, t, op: f"tir_philox_word({', '.join(a)})", "none"),
    **{_scalar(f"scalar.{n}"): _Expr(_math(n)) for n in (
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "sinh",
        "cosh", "arcsin", "arccos", "arctan", "sigmoid", "softplus", "erf", "erfc")},
}

# math function name -> (float32 function, float64 function): tir_math.h where it has one, else libm.
# float64 sin/cos use libm: tir_sin/tir_cos reduce arguments exactly only below 2^50 (sin(1e300) must
# still be numpy's value, not garbage).
MATH_FUNCS: dict[str, tuple[str, str]] = {
    "exp": ("tir_expf", "tir_exp"), "exp2": ("tir_exp2f", "exp2"), "expm1": ("tir_expm1f", "tir_expm1"),
    "log": ("tir_logf", "tir_log"), "log2": ("tir_log2f", "log2"), "log10": ("tir_log10f", "log10"),
    "log1p": ("tir_log1pf", "tir_log1p"), "sqrt": ("tir_sqrtf", "sqrt"), "sin": ("tir_sinf", "sin"),
    "cos": ("tir_cosf", "cos"), "tan": ("tir_tanf", "tan"), "tanh": ("tir_tanhf", "tir_tanh"),
    "sinh": ("tir_sinhf", "sinh"), "cosh": ("tir_coshf", "cosh"), "arcsin": ("tir_asinf", "asin"),
    "arccos": ("tir_acosf", "acos"), "arctan": ("tir_atanf", "atan"), "sigmoid": ("tir_sigmoidf", "tir_sigmoid"),
    "softplus": ("tir_softplusf", "tir_softplus"), "erf": ("tir_erff", "tir_erf"), "erfc": ("tir_erfcf", "erfc"),
    "atan2": ("tir_atan2f", "atan2"), "pow": ("tir_powf", "pow"), "fabs": ("fabsf", "fabs"),
    "floor": ("floorf", "floor"), "ceil": ("ceilf", "ceil"), "rint": ("rintf", "rint"),
}

# Ops of the kernel-level dialects that never reach emit-c (lowered before it), with the reason.
UNREACHABLE: dict[str, str] = {
    "mem.generic": "lower-to-loops turns it into loops",
    "mem.tensor_of": "bufferize leaves no tensor results",
    "scalar.yield": "lower-to-loops turns generic bodies' yields into stores",
    "kernel.to_device": "GPU targets only",
    "kernel.to_host": "GPU targets only",
    "kernel.alloc": "GPU targets only (device-residency)",
    "kernel.tiled_gemm": "GPU targets only (device-gemm; the C target calls BLAS)",
}


# ---------------------------------------------------------------- the renderer


class CStyleRenderer:
    """Renders kernel-level IR to C-like source. Subclasses override the knobs and hooks below."""

    # ---- language knobs
    type_names: ClassVar[dict[str, str]] = {  # float16: each target's own spelling
        "i1": "uint8_t", "i8": "int8_t", "i16": "int16_t", "i32": "int32_t", "i64": "int64_t",
        "ui8": "uint8_t", "ui16": "uint16_t", "ui32": "uint32_t", "ui64": "uint64_t",
        "f32": "float", "f64": "double", "index": "int64_t",
    }
    half_compute: ClassVar[str] = "float"  # float16 values are computed in this type, rounded on assignment
    index_type: ClassVar[str] = "int64_t"
    kernel_prefix: ClassVar[str] = "static void"
    buffer_prefix: ClassVar[str] = ""  # e.g. "__global " in OpenCL
    restrict: ClassVar[str] = "restrict"
    kernel_ctx_param: ClassVar[str] = ""  # first parameter of every kernel (the C target's runtime context)
    constant_qualifier: ClassVar[str] = "const"  # of a file-scope constant array
    buffer_offsets: ClassVar[bool] = False  # a buffer parameter is followed by its start offset, in elements
    indent_unit: ClassVar[str] = "    "
    stmt_table: ClassVar[dict[type[Operation], str]]  # STMT, or a target's extension of it

    # ---- pragma hooks (C: OpenMP; GPU targets: none, the grid is the parallel loop)
    def parallel_pragma(self, work: str) -> str | None:
        """The pragma of the outermost parallel loop of a kernel (None: run serially)."""
        return None

    def slow_path_fallback(self) -> str | None:
        """A statement that replaces the strided version of an innermost loop (None: render the loop)."""
        return None

    def simd_pragma(self, reductions: list[tuple[str, str, ScalarType]]) -> str | None:
        """The pragma of a loop whose iterations may run in SIMD lanes; `reductions` = (kind, C variable, type)
        of its iter args (`simd_reduction` kinds add/mul/max/min/and/or); None when it cannot say them."""
        return None

    # ---- state
    def __init__(self) -> None:
        # Range versioning of float32 sin/cos: while a kernel's fast twin is rendered (the C target's
        # render_kernel_versions, the grid renderer's trig twins), they are tir_math.h's short-range functions
        # and each call ORs this flag when its argument is beyond their range (render_scalar).
        self.range_flag: str | None = None
        self.lines: list[str] = []
        self.depth = 0
        self.names: dict[Value, str] = {}
        self.memrefs: dict[Value, MemRef] = {}
        self.used_names: set[str] = set()
        self.suffixes: dict[str, int] = {}  # base name -> the next suffix fresh() tries
        self.loop = _Loop()
        self.in_kernel = False
        self.parallel_depth = 0  # enclosing loop.parallel ops inside the current function
        self.has_check = False
        self.globals: list[str] = []  # file-scope definitions (constants)
        self.prologue: list[str] = []  # the kernel's first statements (buffer offsets)
        self.const_names: dict[int, str] = {}

    # ---- output
    def emit(self, line: str = "") -> None:
        self.lines.append(self.indent_unit * self.depth + line if line else "")

    @contextlib.contextmanager
    def block(self, head: str) -> Iterator[None]:
        self.emit(head + " {")
        self.depth += 1
        yield
        self.depth -= 1
        self.emit("}")

    # ---- types and literals
    def type_name(self, t: ScalarType) -> str:
        name = self.type_names.get(t.name)
        if name is None:
            raise TirError(f"{type(self).__name__} has no type for {t}")
        return name

    def compute_type_name(self, t: ScalarType) -> str:
        return self.half_compute if t.name == "f16" else self.type_name(t)

    def ops_suffix(self, t: ScalarType) -> str:
        """The type suffix of tir_ops.h helpers (float16 computes as float32)."""
        return "f32" if t.name == "f16" else "i64" if t.name == "index" else t.name

    def select(self, cond: str, a: str, b: str, t: ScalarType) -> str:
        """`cond ? a : b` of type t (both operands are already computed values)."""
        return f"({cond} ? {a} : {b})"

    def math_fn(self, name: str, t: ScalarType) -> str:
        if self.range_flag and name in ("sin", "cos") and t.name == "f32":  # a fast twin (uses_f32_trig)
            return f"tir_{name}f_fast"
        f32, f64 = MATH_FUNCS[name]
        return f64 if t.name == "f64" else f32

    def literal(self, value: Any, t: ScalarType) -> str:
        if t.is_bool:
            return "1" if value else "0"
        if t.is_int:
            v = int(value)
            if t.dtype.itemsize == 8:
                return self.int64_literal(v, t.dtype.kind == "u")
            return str(v) if t.name in ("i32",) and v > -2**31 else f"(({self.type_name(t)}){v})"
        v = float(np.asarray(value, dtype=t.dtype))
        ctype = self.compute_type_name(t)
        suffix = "f" if ctype == "float" else ""
        if math.isnan(v):
            return f"(({ctype})NAN)"
        if math.isinf(v):
            return f"(({ctype}){'-' if v < 0 else ''}INFINITY)"
        text = repr(v)
        if float(np.asarray(float(text), dtype=t.dtype)) != v:
            text = v.hex()
        if "e" not in text and "." not in text and "x" not in text and "inf" not in text:
            text += ".0"
        return f"{text}{suffix}" if not text.startswith("-") else f"({text}{suffix})"

    def int64_literal(self, v: int, unsigned: bool) -> str:
        """A 64-bit integer literal (the minimum as an expression: its magnitude has no signed literal)."""
        t = self.type_names["ui64" if unsigned else "i64"]
        if unsigned:
            return f"(({t}){v}u)"
        return f"(-(({t}){-(v + 1)}) - 1)" if v < 0 else f"(({t}){v})"

    # ---- run-time errors
    def fail(self, message: str, values: list[str]) -> str:
        """A statement that records the run-time error `message` (whose `{k}` placeholders stand for the
        integer C expressions `values[k]`) for the caller to raise: each target's runtime does it its own way."""
        raise NotImplementedError(f"{type(self).__name__} cannot report run-time errors")

    def fail_and_leave(self, fail: str) -> str:
        """The statement that records a failed check (`fail`) and leaves the kernel."""
        return f"{{ {fail}; return; }}"

    # ---- names
    def fresh(self, hint: str | None, default: str = "v") -> str:
        base = re.sub(r"\W", "_", hint or "") or default
        if base[0].isdigit():
            base = f"{default}{base}"
        name, k = base, self.suffixes.get(base, 0)  # the suffix to try next: linear in the names, not quadratic
        if k:
            name = f"{base}_{k}"
        while name in self.used_names or name in _C_KEYWORDS or name.startswith("tir_"):
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        self.suffixes[base] = k + 1
        return name

    def value(self, v: Value) -> str:
        if v not in self.names:
            raise TirError(f"emit-c: value {v!r} is used before it is rendered")
        return self.names[v]

    def memref(self, v: Value) -> MemRef:
        if v not in self.memrefs:
            raise TirError(f"emit-c: memref {v!r} is used before it is rendered")
        return self.memrefs[v]

    def convert(self, v: Value, t: ScalarType) -> str:
        """Operand `v` as a value of compute type `t`."""
        src = v.type
        text = self.value(v)
        if not isinstance(src, ScalarType):
            raise TirError(f"emit-c: scalar operand expected, got {src}")
        same = src == t or {src.name, t.name} <= {"i64", "index"}
        if same and src.name != "f16":
            return text
        return f"({self.compute_type_name(t)}){text}"

    def condition(self, v: Value) -> str:
        """Value `v` as the condition of `?:` or `if`: a float one as `(x != 0)` (numpy's truth; OpenCL C takes
        no floating point condition, C and CUDA the same truth either way)."""
        text = self.value(v)
        if isinstance(v.type, ScalarType) and v.type.is_float:
            return f"({text} != {self.literal(0, v.type)})"
        return text

    # ---- blocks and ops
    def render_block(self, block: Block) -> None:
        """The ops of a block, up to (not including) its terminator, which the caller handles."""
        ops = block.ops
        opened = 0
        for op in ops:
            if op is block.terminator:
                break
            if isinstance(op, M.CheckOp) and not self.check_returns():
                # Inside a loop a failed check records the error and skips the rest of the iteration.
                self.render_check(op, returns=False)
                self.emit("else {")
                self.depth += 1
                opened += 1
                continue
            self.render_op(op)
        self._pending_close = opened

    def close_pending(self, n: int) -> None:
        for _ in range(n):
            self.depth -= 1
            self.emit("}")

    def check_returns(self) -> bool:
        return self.loop_depth == 0

    loop_depth = 0
    _pending_close = 0

    def render_op(self, op: Operation) -> None:
        cls = type(op)
        if cls in EXPR:
            self.render_scalar(op)
            return
        method = self.stmt_table.get(cls)
        if method is None:
            reason = UNREACHABLE.get(op.name, "no C rendering rule")
            raise TirError(f"'{op.name}' op cannot be emitted as C ({reason})", op.loc)
        getattr(self, method)(op)

    def render_scalar(self, op: Operation) -> None:
        row = EXPR[type(op)]
        res = op.results[0]
        t = res.type
        assert isinstance(t, ScalarType)
        if row.convert == "result":
            args = [self.convert(v, t) for v in op.operands]
            ct = t
        elif row.convert == "common":
            dts = [v.type.dtype for v in op.operands]  # type: ignore[union-attr]
            ct = scalar(np.result_type(*dts))
            if {v.type for v in op.operands} == {ScalarType("index")}:
                ct = ScalarType("index")
            args = [self.convert(v, ct) for v in op.operands]
        elif row.convert == "select":
            args = [self.condition(op.operands[0])] + [self.convert(v, t) for v in op.operands[1:]]
            ct = t
        else:
            args = [self.value(v) for v in op.operands]
            ct = t
        expr = row.fn(self, args, ct, op)
        if isinstance(op, S.ConstantOp):
            self.names[res] = expr
            return
        name = self.fresh(res.name_hint)
        self.emit(f"{self.type_name(t)} {name} = {expr};")
        self.names[res] = name
        if op.name == "scalar.pow" and ct.dtype.kind == "i":
            # numpy refuses integers to negative integer powers: so does compiled code (at the user's op).
            self.has_check = True
            message = str(TirError(f"'{T.PowOp.name}' op {T.PowOp.NEGATIVE_POWER}", op.loc))
            self.emit(f"if ({_paren(args[1])} < 0) {self.fail(message, [])};")
        if self.range_flag and op.name in ("scalar.sin", "scalar.cos") and t.name == "f32":
            self.emit(f"{self.range_flag} |= (fabsf({self.convert(op.operands[0], t)}) >= TIR_TRIG_FAST_MAX);")

    # ---- memory
    def address(self, m: MemRef, indices: list[Value]) -> str:
        terms = []
        for idx, stride in zip(indices, m.strides):
            if stride in self.loop.unit_strides:
                stride = "1"
            i = self.value(idx)
            term = _mul(i, stride)
            if term != "0":
                terms.append(term)
        return " + ".join(terms) if terms else "0"

    def render_load(self, op: Operation) -> None:
        m = self.memref(op.operands[0])
        res = op.results[0]
        name = self.fresh(res.name_hint)
        self.emit(f"{self.type_name(res.type)} {name} = {m.data}[{self.address(m, op.operands[1:])}];")  # type: ignore[arg-type]
        self.names[res] = name

    def render_store(self, op: Operation) -> None:
        m = self.memref(op.operands[1])
        self.emit(f"{m.data}[{self.address(m, op.operands[2:])}] = {self.value(op.operands[0])};")

    def render_dim(self, op: Operation) -> None:
        self.names[op.results[0]] = self.memref(op.operands[0]).shape[op.attributes["axis"]]

    def render_stride(self, op: Operation) -> None:
        self.names[op.results[0]] = self.memref(op.operands[0]).strides[op.attributes["axis"]]

    def render_view(self, op: Operation) -> None:
        src = self.memref(op.operands[0])
        assert isinstance(op, M.ViewOp)
        offset, shape, strides = op.entries()
        dyn = iter(self.value(v) for v in op.operands[1:])
        off = next(dyn) if offset is DYN else str(offset)
        dims = [next(dyn) if d is DYN else str(d) for d in shape]
        steps = [next(dyn) if s is DYN else str(s) for s in strides]
        res = op.results[0]
        name = self.fresh(res.name_hint, "view")
        ctype = self.type_name(src.element)
        const = "const " if src.kind in ("arg", "const") else ""
        data = src.data if off == "0" else f"{src.data} + {_paren(off)}"
        self.emit(f"{self.buffer_prefix}{const}{ctype}* {name} = {data};")
        self.memrefs[res] = MemRef(name, dims, steps, src.element, src.root, "arg" if const else "view")

    def render_buffer_of(self, op: Operation) -> None:
        src = op.operands[0]
        if not isinstance(src, OpResult) or not isinstance(src.op, T.ConstantOp):
            raise TirError("'mem.buffer_of' op of a value that is not a tensor.constant cannot be emitted as C",
                           op.loc)
        t = src.type
        assert isinstance(t, TensorType)
        name = self.constant_array(src.op)
        shape = [str(d) for d in t.shape]
        strides = [str(s) for s in M.contiguous_strides(t.shape)]
        self.memrefs[op.results[0]] = MemRef(name, shape, strides, t.element, name, "const")

    def render_tensor_constant(self, op: Operation) -> None:
        """Rendered where mem.buffer_of uses it (a file-scope array)."""

    def constant_array(self, op: Operation) -> str:
        key = id(op)
        if key in self.const_names:
            return self.const_names[key]
        attr = op.attributes["value"]
        t = op.results[0].type
        assert isinstance(t, TensorType)
        if isinstance(attr, Dense):
            arr = np.broadcast_to(attr.array, t.shape) if attr.array.shape != t.shape else attr.array
        elif isinstance(attr, Typed):
            arr = np.full(t.shape, attr.value, dtype=t.dtype)
        else:
            arr = np.full(t.shape, attr, dtype=t.dtype)
        flat = np.asarray(arr, dtype=t.dtype).ravel()
        name = self.fresh(op.results[0].name_hint, "cst")
        name = f"tir_const_{name}"
        body = ", ".join(self.literal(x.item(), t.element) for x in flat) if flat.size else "0"
        self.globals.append(f"{self.constant_qualifier} {self.type_name(t.element)} {name}[{max(flat.size, 1)}] = "
                            f"{{{body}}};")
        self.const_names[key] = name
        return name

    def render_copy(self, op: Operation) -> None:
        src, dst = self.memref(op.operands[0]), self.memref(op.operands[1])
        rank = len(dst.shape)
        if rank == 0:
            self.emit(f"{dst.data}[0] = {src.data}[0];")
            return
        ivs = [self.fresh(f"c{k}") for k in range(rank)]
        opened = 0
        self.emit("{")
        self.depth += 1
        for k in range(rank):
            self.emit(f"for ({self.index_type} {ivs[k]} = 0; {ivs[k]} < {dst.shape[k]}; ++{ivs[k]}) {{")
            self.depth += 1
            opened += 1
        s_addr = " + ".join(t for t in (_mul(i, s) for i, s in zip(ivs, src.strides)) if t != "0") or "0"
        d_addr = " + ".join(t for t in (_mul(i, s) for i, s in zip(ivs, dst.strides)) if t != "0") or "0"
        self.emit(f"{dst.data}[{d_addr}] = {src.data}[{s_addr}];")
        self.close_pending(opened + 1)

    def render_check(self, op: Operation, returns: bool | None = None) -> None:
        returns = self.check_returns() if returns is None else returns
        self.has_check = True
        message = str(TirError(op.attributes["message"], op.loc))
        cond = self.value(op.operands[0])
        fail = self.fail(message, [self.value(v) for v in op.operands[1:]])
        if returns:
            self.emit(f"if (!{_paren(cond)}) {self.fail_and_leave(fail)}")
        else:
            self.emit(f"if (!{_paren(cond)}) {{ {fail}; }}")

    # ---- loops
    def _innermost(self, op: Operation) -> bool:
        return not any(isinstance(o, (LP.ForOp, LP.ParallelOp)) for o in op.walk() if o is not op)

    def _walked_strides(self, loop_op: Operation, iv: Value) -> tuple[list[str], list[str]]:
        """(dynamic, literal) strides of the accesses in `loop_op` whose subscript walks `iv`: the
        induction variable itself or `iv + v` with `v` defined outside `loop_op` (a shifted chunk).
        Only memrefs defined outside the loop (their strides are in scope)."""
        dynamic: list[str] = []
        literal: list[str] = []
        for o in loop_op.walk():
            if isinstance(o, M.LoadOp):
                ref, idx = o.operands[0], o.operands[1:]
            elif isinstance(o, M.StoreOp):
                ref, idx = o.operands[1], o.operands[2:]
            else:
                continue
            if isinstance(ref, OpResult) and ref.op.is_within(loop_op) or ref not in self.memrefs:
                continue
            for i, s in zip(idx, self.memrefs[ref].strides):
                found = literal if _is_int_literal(s) else dynamic
                if _walks(i, iv, loop_op) and s not in found:
                    found.append(s)
        return dynamic, literal

    def _unit_stride_candidates(self, loop_op: Operation, iv: Value) -> list[str]:
        """Dynamic strides of accesses whose subscript walks the innermost induction variable: the fast
        path assumes them 1."""
        return self._walked_strides(loop_op, iv)[0]

    def _loop_header(self, iv: str, bound: str) -> str:
        return f"for ({self.index_type} {iv} = 0; {iv} < {bound}; ++{iv})"

    def _versioned(self, loop_op: Operation, iv: Value, pragma_fast: list[str], pragma_slow: list[str],
                   body: Callable[[], None], header: str) -> None:
        """The innermost loop: a unit-stride fast path and the general one (or just one when no stride is dynamic)."""
        cands = self._unit_stride_candidates(loop_op, iv)
        saved = self.loop
        if cands:
            cond = " && ".join(f"{s} == 1" for s in cands)
            self.emit(f"if ({cond}) {{")
            self.depth += 1
            self.loop = _Loop(set(cands) | saved.unit_strides)
            for p in pragma_fast:
                self.emit(p)
            with self.block(header):
                body()
            self.loop = saved
            self.depth -= 1
            self.emit("} else {")
            self.depth += 1
            fallback = self.slow_path_fallback()
            if fallback is not None:
                self.emit(fallback)
            else:
                for p in pragma_slow:
                    self.emit(p)
                with self.block(header):
                    body()
            self.depth -= 1
            self.emit("}")
        else:
            for p in pragma_fast:
                self.emit(p)
            with self.block(header):
                body()

    def work_estimate(self, op: Operation, bounds: list[str]) -> str:
        """Trip count of a parallel nest for the OpenMP `if` clause: its bounds times the work of the
        loops inside it, counting the bounds known before it (so a row-wise reduction counts its rows'
        length; a chunk `min(size, ...)` counts `size`). Sibling inner loops (a fused nest) add up rather
        than multiply."""
        root = op

        def child_loops(o: Operation) -> list[Operation]:
            found: list[Operation] = []
            for region in o.regions:
                for block in region.blocks:
                    for inner in block.ops:
                        if isinstance(inner, (LP.ForOp, LP.ParallelOp)):
                            found.append(inner)
                        else:
                            found.extend(child_loops(inner))
            return found

        def inner_work(o: Operation) -> list[str]:
            """The factors of the work inside `o` (empty: one unit)."""
            parts: list[list[str]] = []
            for child in child_loops(o):
                factors = []
                for b in (child.operands[:1] if isinstance(child, LP.ForOp) else child.operands):
                    b = _invariant_bound(b, root)
                    if b is not None and b in self.names:
                        factors.append(self.value(b))
                parts.append(factors + inner_work(child))
            parts = [p for p in parts if p]
            if len(parts) == 1:
                return parts[0]
            if not parts:
                return []
            return [" + ".join(" * ".join(_paren(t) for t in p) for p in parts)]

        terms = list(bounds) + inner_work(op)
        return " * ".join(_paren(t) for t in terms) if terms else "1"

    def bind_induction_vars(self, block: Block) -> list[str]:
        """Fresh C names for a loop body's index arguments, bound to them."""
        ivs = [self.fresh(a.name_hint, "i") for a in block.args]
        for a, n in zip(block.args, ivs):
            self.names[a] = n
        return ivs

    def render_parallel(self, op: Operation) -> None:
        assert isinstance(op, LP.ParallelOp)
        body_block = op.body
        bounds = [self.value(b) for b in op.operands]
        ivs = self.bind_induction_vars(body_block)
        outer_pragma = self.parallel_pragma(self.work_estimate(op, bounds)) if self.parallel_depth == 0 else None
        innermost = self._innermost(op)
        rank = len(bounds)
        self.parallel_depth += 1
        self.loop_depth += 1

        def inner() -> None:
            self.render_block(body_block)
            self.close_pending(self._pending_close)

        def nest(k: int) -> None:
            header = self._loop_header(ivs[k], bounds[k])
            pragmas = [outer_pragma] if k == 0 and outer_pragma else []
            if k == rank - 1 and innermost:
                simd = self.simd_pragma([])
                fast = [_merge_pragmas(pragmas[0], simd)] if pragmas and simd else pragmas or ([simd] if simd else [])
                self._versioned(op, body_block.args[k], fast, pragmas, inner, header)
                return
            for p in pragmas:
                self.emit(p)
            with self.block(header):
                if k == rank - 1:
                    inner()
                else:
                    nest(k + 1)
        nest(0)
        self.parallel_depth -= 1
        self.loop_depth -= 1

    def render_for(self, op: Operation) -> None:
        assert isinstance(op, LP.ForOp)
        body_block = op.body
        bound = self.value(op.operands[0])
        iv = self.fresh(body_block.args[0].name_hint, "i")
        self.names[body_block.args[0]] = iv
        accs = []
        for res, arg, init in zip(op.results, body_block.args[1:], op.operands[1:]):
            name = self.fresh(res.name_hint or arg.name_hint, "acc")
            self.emit(f"{self.type_name(res.type)} {name} = {self.value(init)};")  # type: ignore[arg-type]
            self.names[arg] = name
            accs.append(name)
        kinds = _simd_reductions(op, len(accs))
        blocked = self._blocked_sum(op, kinds)
        outer_accs = accs
        if blocked:
            # A float sum adds blocks of SUM_BLOCK elements (one simd reduction each) with a compensated
            # accumulator: as accurate as numpy's pairwise sum, as fast as one simd reduction.
            t = op.results[0].type
            assert isinstance(t, ScalarType)
            comp, block_acc = self.fresh(f"{accs[0]}_c"), self.fresh(f"{accs[0]}_b")
            lo, hi = self.fresh(f"{iv}_lo"), self.fresh(f"{iv}_hi")
            self.emit(f"{self.type_name(t)} {comp} = {self.literal(0, t)};")
            self.emit(f"for ({self.index_type} {lo} = 0; {lo} < {bound}; {lo} += {self.SUM_BLOCK}) {{")
            self.depth += 1
            end = f"{lo} + {self.SUM_BLOCK}"
            self.emit(f"{self.index_type} {hi} = {end} < {bound} ? {end} : {bound};")
            self.emit(f"{self.type_name(t)} {block_acc} = {self.literal(0, t)};")
            accs = [block_acc]
            self.names[body_block.args[1]] = block_acc
        pragmas: list[str] = []
        if kinds is not None and self._innermost(op):
            p = self.simd_pragma([(k, a, r.type) for k, a, r in zip(kinds, accs, op.results)])  # type: ignore[misc]
            if p:
                pragmas.append(p)
        self.loop_depth += 1

        def inner() -> None:
            self.render_block(body_block)
            y = body_block.terminator
            assert y is not None
            nexts = [self.value(v) for v in y.operands]
            if len(accs) > 1:
                tmps = []
                for a, n, res in zip(accs, nexts, op.results):
                    t = self.fresh(f"{a}_next")
                    self.emit(f"{self.type_name(res.type)} {t} = {n};")  # type: ignore[arg-type]
                    tmps.append(t)
                nexts = tmps
            for a, n in zip(accs, nexts):
                if a != n:
                    self.emit(f"{a} = {n};")
            self.close_pending(self._pending_close)

        header = (f"for ({self.index_type} {iv} = {lo}; {iv} < {hi}; ++{iv})" if blocked
                  else self._loop_header(iv, bound))
        arg_kind = kinds[0] if kinds in (["argmax"] * 2, ["argmin"] * 2) else None  # type: ignore[index]
        if self._innermost(op):
            if arg_kind is None or not self._render_arg_reduction(op, arg_kind, iv, bound, inner):
                self._versioned(op, body_block.args[0], pragmas, pragmas, inner, header)
        else:
            with self.block(header):
                inner()
        self.loop_depth -= 1
        if blocked:
            suffix = self.ops_suffix(op.results[0].type)  # type: ignore[arg-type]
            self.emit(f"tir_sum_step_{suffix}(&{outer_accs[0]}, &{comp}, {block_acc});")
            self.depth -= 1
            self.emit("}")
            self.emit(f"{outer_accs[0]} = tir_sum_finish_{suffix}({outer_accs[0]}, {comp});")
        for res, a in zip(op.results, outer_accs):
            self.names[res] = a

    # elements per chunk of an argmax/argmin (both passes over a chunk run while it is in L1) and per block of
    # its first-index search (the search stops after the first block that has the index)
    ARG_CHUNK: ClassVar[int] = 2048
    ARG_BLOCK: ClassVar[int] = 64

    def _render_arg_reduction(self, op: LP.ForOp, kind: str, iv: str, bound: str, step: Callable[[], None]) -> bool:
        """An innermost argmax/argmin loop (parallelize's `arg_reduction_kind`) in vectorizable passes over
        chunks of ARG_CHUNK elements: the chunk's best value `b` (a simd max/min reduction from the value so
        far, NaN propagating); only when `b` beats the value so far, the first index `k` whose element is `b`
        or NaN (per block of ARG_BLOCK elements a simd "any" reduction; the first block that has one is
        scanned), where the loop's own step then updates (index, value) exactly as the scalar loop would
        (numpy's first occurrence and first NaN). False (nothing emitted) when the target cannot say the
        value reduction."""
        body = op.body
        y = body.terminator
        assert y is not None
        x = y.operands[1].op.operands[1]  # type: ignore[attr-defined]  # select(wins, x, best)
        t = x.type
        assert isinstance(t, ScalarType)
        element = LP.ops_defining(body, x)
        value_kind = "max" if kind == "argmax" else "min"
        so_far = self.value(body.args[2])
        best, k, hit = self.fresh(f"{so_far}_b"), self.fresh(f"{iv}_at"), self.fresh(f"{iv}_hit")
        c_lo, c_hi, lo, hi = (self.fresh(f"{iv}_{n}") for n in ("c_lo", "c_hi", "lo", "hi"))
        flag = scalar("i32")
        pragma, find = self.simd_pragma([(value_kind, best, t)]), self.simd_pragma([("or", hit, flag)])
        if pragma is None or find is None or any(o.regions for o in element):
            return False
        cmp = ">" if value_kind == "max" else "<"

        def value() -> str:
            for o in element:
                self.render_op(o)
            return self.value(x)

        def fold() -> None:
            v = value()
            better = f"tir_{value_kind}_{t.name}({best}, {v})" if t.is_float else f"({v} {cmp} {best} ? {v} : {best})"
            self.emit(f"{best} = {better};")

        def found() -> str:
            v = value()
            return f"({v} == {best} || {v} != {v})" if t.is_float else f"({v} == {best})"

        def upto(start: str, end: str, size: int, limit: str) -> str:
            self.emit(f"const {self.index_type} {end} = {start} + {size} < {limit} ? {start} + {size} : {limit};")
            return f"for ({self.index_type} {iv} = {start}; {iv} < {end}; ++{iv})"

        with self.block(f"for ({self.index_type} {c_lo} = 0; {c_lo} < {bound}; {c_lo} += {self.ARG_CHUNK})"):
            header = upto(c_lo, c_hi, self.ARG_CHUNK, bound)
            self.emit(f"{self.type_name(t)} {best} = {so_far};")
            self._versioned(op, body.args[0], [pragma], [pragma], fold, header)
            wins = f"{best} {cmp} {so_far}" + (f" || ({best} != {best} && {so_far} == {so_far})" if t.is_float else "")
            with self.block(f"if ({wins})"):
                self.emit(f"{self.index_type} {k} = {c_hi};")
                with self.block(f"for ({self.index_type} {lo} = {c_lo}; {k} == {c_hi}; {lo} += {self.ARG_BLOCK})"):
                    header = upto(lo, hi, self.ARG_BLOCK, c_hi)
                    self.emit(f"{self.type_name(flag)} {hit} = 0;")
                    self._versioned(op, body.args[0], [find], [find], lambda: self.emit(f"{hit} |= {found()};"), header)
                    with self.block(f"if ({hit}) for ({self.index_type} {iv} = {lo}; {k} == {c_hi}; ++{iv})"):
                        self.emit(f"if {found()} {k} = {iv};")
                self.emit(f"const {self.index_type} {iv} = {k};")
                step()
        return True

    # elements per simd block of a compensated float sum: at most 16 adds per lane (SSE2's 2 lanes), as in
    # numpy's pairwise sum (8 accumulators over 128 elements); 128 erred by 4 ulps on 5e6 values of 0.1
    SUM_BLOCK: ClassVar[int] = 32

    def _blocked_sum(self, op: LP.ForOp, kinds: list[str] | None) -> bool:
        """Whether `op` is an innermost float32/float64 sum of one accumulator (rendered in blocks), unless
        it adds values widened from a narrower float (a float32 sum accumulating in float64: 29 spare bits
        keep a plain loop far more accurate than numpy's float32 pairwise sum, at full simd speed)."""
        t = op.results[0].type if len(op.results) == 1 else None
        return (kinds == ["add"] and isinstance(t, ScalarType) and t.name in ("f32", "f64")
                and not _adds_widened(op, t)
                and self._innermost(op) and self.blocks_sums(t))

    def blocks_sums(self, t: ScalarType) -> bool:
        """Whether an innermost float sum of type t is rendered in compensated blocks (as accurate as numpy's
        pairwise sum). The C target: where the block loop is one simd reduction (elsewhere the blocks would cost
        speed). A device target: always (backends/gpu.py)."""
        return self.simd_pragma([("add", "_", t)]) is not None

    def render_if(self, op: Operation) -> None:
        """`if (c) {...} else {...}` assigning the results, declared before it: a scalar, or a memref's data
        pointer and `?` sizes (a host if whose branches yield allocations: bufferize's `tensor.if`)."""
        outs: list[str] = []
        for res in op.results:
            name = self.fresh(res.name_hint, "r" if isinstance(res.type, ScalarType) else "buf")
            outs.append(name)
            t = res.type
            if isinstance(t, ScalarType):
                self.emit(f"{self.type_name(t)} {name};")
                continue
            assert isinstance(t, MemRefType)
            self.emit(f"{self.type_name(t.element)}* {name};")
            shape = [str(d) if d is not None else self.fresh(f"{name}_n{k}") for k, d in enumerate(t.shape)]
            for d, size in zip(t.shape, shape):
                if d is None:
                    self.emit(f"int64_t {size};")
            self.memrefs[res] = MemRef(name, shape, contiguous_strides(shape), t.element, res,
                                       self.if_result_kind(res))
        for k, region in enumerate(op.regions):
            block = region.block
            self.emit(f"if ({self.condition(op.operands[0])}) {{" if k == 0 else "} else {")
            self.depth += 1
            self.render_block(block)
            y = block.terminator
            assert y is not None
            for res, name, v in zip(op.results, outs, y.operands):
                if not isinstance(res.type, MemRefType):
                    self.emit(f"{name} = {self.value(v)};")
                    continue
                m, src = self.memrefs[res], self.memref(v)
                self.emit(f"{name} = {src.data};")
                for size, given in zip(m.shape, src.shape):
                    if size != given:
                        self.emit(f"{size} = {given};")
            self.close_pending(self._pending_close)
            self.depth -= 1
        self.emit("}")
        for res, name in zip(op.results, outs):
            if isinstance(res.type, ScalarType):
                self.names[res] = name

    def if_result_kind(self, res: Value) -> str:
        """The kind of a memref result of a host if: an allocation of its own (the C target's returned
        results are the arrays each branch allocates)."""
        return "alloc"

    # ---- kernels
    def kernel_params(self, fn: K.KernelFuncOp, restrict_ok: list[bool], written: list[bool]) -> list[str]:
        """The C parameters of a kernel; binds its arguments (memrefs: pointer + dynamic sizes/strides)."""
        params = [self.kernel_ctx_param] if self.kernel_ctx_param else []
        for k, (arg, t) in enumerate(zip(fn.body.args, fn.function_type.inputs)):
            name = self.fresh(arg.name_hint, f"a{k}")
            if isinstance(t, MemRefType):
                ctype = self.type_name(t.element)
                const = "" if written[k] else "const "
                qual = f" {self.restrict}" if restrict_ok[k] and self.restrict else ""
                params.append(f"{self.buffer_prefix}{const}{ctype}*{qual} {name}")
                if self.buffer_offsets:  # the element the array starts at: `x += x_off;` first in the body
                    offset = self.fresh(f"{name}_off")
                    params.append(f"{self.index_type} {offset}")
                    self.prologue.append(f"{name} += {offset};")
                shape, strides = [], []
                for d, size in enumerate(t.shape):
                    if size is None:
                        p = self.fresh(f"{name}_n{d}")
                        params.append(f"{self.index_type} {p}")
                        shape.append(p)
                    else:
                        shape.append(str(size))
                for d, st in enumerate(M.layout_of(t)):
                    if st is None:
                        p = self.fresh(f"{name}_s{d}")
                        params.append(f"{self.index_type} {p}")
                        strides.append(p)
                    else:
                        strides.append(str(st))
                self.memrefs[arg] = MemRef(name, shape, strides, t.element, ("karg", k), "arg" if const else "view")
            else:
                assert isinstance(t, ScalarType)
                params.append(f"{self.type_name(t)} {name}")
                self.names[arg] = name
        return params

    def render_kernel(self, fn: K.KernelFuncOp, restrict_ok: list[bool]) -> list[str]:
        """One kernel as a C function (its lines); the renderer's per-function state is reset."""
        self._reset_function()
        self.in_kernel = True
        written = fn.written_args()
        params = self.kernel_params(fn, restrict_ok, written)
        self.emit(f"{self.kernel_prefix} {fn.sym_name}({', '.join(params)}) {{")
        self.depth += 1
        for line in self.prologue:
            self.emit(line)
        self.render_block(fn.body)
        self.close_pending(self._pending_close)
        self.depth -= 1
        self.emit("}")
        self.in_kernel = False
        return self.lines

    def _reset_function(self) -> None:
        self.lines = []
        self.depth = 0
        self.names = {}
        self.memrefs = {}
        self.used_names = set(self.const_names.values())
        self.suffixes = {}
        self.loop = _Loop()
        self.parallel_depth = 0
        self.loop_depth = 0
        self.has_check = False
        self.prologue = []


def _invariant_bound(b: Value, root: Operation) -> Value | None:
    """`b` when it is defined outside `root`, else a bound of it that is (`min(size, ...)`: a chunk)."""
    if not (isinstance(b, OpResult) and b.op.is_within(root)):
        return b
    if isinstance(b.op, S.MinimumOp):
        found = [v for v in (_invariant_bound(a, root) for a in b.op.operands) if v is not None]
        return found[0] if found else None
    return None


def _walks(i: Value, iv: Value, loop_op: Operation) -> bool:
    """Whether subscript `i` is `iv` or `iv + v` with `v` defined outside `loop_op`."""
    if i is iv:
        return True
    if isinstance(i, OpResult) and isinstance(i.op, S.AddOp) and iv in i.op.operands:
        other = i.op.operands[1] if i.op.operands[0] is iv else i.op.operands[0]
        return not (isinstance(other, OpResult) and other.op.is_within(loop_op))
    return False


def _merge_pragmas(parallel: str, simd: str) -> str:
    """`#pragma omp parallel for ...` + `#pragma omp simd ...` -> `#pragma omp parallel for simd ...`."""
    if parallel.startswith("#pragma omp parallel for") and simd.startswith("#pragma omp simd"):
        # A clause both carry (a reduction of the whole kernel) may appear only once.
        extra = "".join(f" reduction({c}" for c in simd[len("#pragma omp simd"):].split(" reduction(")[1:]
                        if f" reduction({c}" not in parallel)
        return parallel.replace("#pragma omp parallel for", "#pragma omp parallel for simd", 1) + extra
    return parallel


def _adds_widened(op: LP.ForOp, t: ScalarType) -> bool:
    """Whether the one reduction step of `op` (`acc + x`) adds an x cast from a float narrower than t."""
    y = op.body.terminator
    step = y.operands[0] if y is not None and len(y.operands) == 1 else None
    if not (isinstance(step, OpResult) and isinstance(step.op, S.SCALAR_OF_TENSOR[T.AddOp])):
        return False
    acc = op.body.args[1]
    xs = [v for v in step.op.operands if v is not acc]
    if len(xs) != 1 or not (isinstance(xs[0], OpResult) and isinstance(xs[0].op, S.SCALAR_OF_TENSOR[T.CastOp])):
        return False
    src = xs[0].op.operands[0].type
    return isinstance(src, ScalarType) and src.is_float and np.dtype(src.dtype).itemsize < np.dtype(t.dtype).itemsize


def _simd_reductions(op: Operation, n: int) -> list[str] | None:
    """The `simd_reduction` kinds of a loop.for, one per iter arg; None unless every iter arg has one."""
    attr = op.attributes.get("simd_reduction")
    if attr is None or n == 0:
        return None
    kinds = [attr] * n if isinstance(attr, str) else list(attr)
    if len(kinds) != n or not all(isinstance(k, str) and k for k in kinds):
        return None
    return kinds


# Target-neutral structural ops -> the renderer method that writes their statements (a target's
# `stmt_table` adds its host plan's ops: allocation, BLAS, launches).
STMT: dict[type[Operation], str] = {
    LP.ForOp: "render_for",
    LP.ParallelOp: "render_parallel",
    LP.IfOp: "render_if",
    M.LoadOp: "render_load",
    M.StoreOp: "render_store",
    M.DimOp: "render_dim",
    M.StrideOp: "render_stride",
    M.ViewOp: "render_view",
    M.CopyOp: "render_copy",
    M.CheckOp: "render_check",
    M.BufferOfOp: "render_buffer_of",
    T.ConstantOp: "render_tensor_constant",
}
CStyleRenderer.stmt_table = STMT


def uses_f32_trig(fn: K.KernelFuncOp) -> bool:
    """Whether a kernel computes float32 sin or cos (a fast twin may pay: see math_fn's range_flag)."""
    return any(o.name in ("scalar.sin", "scalar.cos") and o.results[0].type == scalar("f32") for o in fn.walk())


def reads_what_it_writes(fn: K.KernelFuncOp) -> bool:
    """Whether the kernel loads from (or copies from) a buffer it also writes, or allocates: then rerunning it
    after its fast twin would not write every output again from the same inputs."""
    read = {M.root_of(o.operands[0]) for o in fn.walk() if isinstance(o, (M.LoadOp, M.CopyOp))}
    read |= {M.root_of(v) for o in fn.walk() if isinstance(o, L.BlasOp) for v in o.operands[:-1]}
    written = {a for a, w in zip(fn.body.args, fn.written_args()) if w}
    return bool(read & written) or any(isinstance(o, M.AllocOp) for o in fn.walk())
