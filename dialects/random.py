"""The `random` dialect: counter-based random numbers (Philox-4x32-10), the same bits on every target.

    %u = random.uniform %state sizes %n {shape = [?, 3], dtype = f32} : tensor<?x3xf32>   U[0, 1)
    %z = random.normal %state {shape = [4], dtype = f64} : tensor<4xf64>                 N(0, 1)
    %w = random.philox %key, %stream, %pos, %i : ui32      (scalar: word i of a stream, in generic bodies)

The generator is Philox-4x32 with 10 rounds (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as
1, 2, 3", SC 2011; Random123's `philox4x32_10`): a bijection of a 128-bit counter under a 64-bit key, so any
element of a stream is computed from its position alone, in any order, by any thread of any target.

**State.** A stream's state is a `tensor<3xui64>` (in a shared variable: `tensor<?xui64>`) holding
`[key, stream, pos]`. Block b of the stream is philox4x32_10(counter = (lo(pos + b), hi(pos + b), lo(stream),
hi(stream)), key = (lo(key), hi(key))), four 32-bit words; word w of the stream is word w % 4 of block w // 4.
The draw ops read the state and do not change it; the caller advances `pos` by the blocks a draw used
(`blocks_used`; frontend/random.py adds that update to every compiled function, as Theano's default_update).
The state is a plain tensor rather than `!random.state` (declared below, the type of the issue's design)
because a state lives in a shared variable: a numpy array that function arguments, `set_value`, bufferize's
buffers and the C entry's ABI already carry; a dialect type would need each of those layers taught about it
for three integers.

**Bits to numbers** (what an OpenCL or CUDA target must reproduce; the `philox` word of a stream is the
only primitive, `tir_philox_word` in backends/c_runtime/tir_random.h):

- uniform number q of a stream, U[0, 1): float32 from word q: `(w >> 8) * 2^-24`; float64 from words 2q
  (high) and 2q + 1 (low): `((w0 >> 5) * 2^26 + (w1 >> 6)) * 2^-53`. Both are exact, so every target gives
  the same bits.
- uniform draw element i (row-major) = uniform number i.
- normal draw element i: Box-Muller on uniform numbers u1 = 2p and u2 = 2p + 1 of pair p = i // 2:
  `r = sqrt(-2 log(1 - u1))`, `t = 2 pi u2`, element 2p is `r cos t`, element 2p + 1 is `r sin t`, computed
  in the draw's dtype. log/cos/sin come from each target's math library, so normal draws agree between
  targets to a few ulps, not bit for bit (uniform, bernoulli, integers and permutations are exact).

A draw of n elements uses `blocks_used(n)` blocks: ceil(n * k / 4) for uniform (k = 1 word per float32, 2 per
float64), ceil(2 * ceil(n / 2) * k / 4) for normal.

Both draws are lowered by `bufferize` (passes/bufferize_random.py) into a loop over the flat element index
whose body is the scalar ops of `StandardDraw.element` (with `random.philox` for the bits), so the draw is an
ordinary parallel, vectorizable elementwise loop in generated code. The interpreter runs the same formula on
numpy arrays (`NumpyMath`): one formula, two evaluators. No op here has a gradient (the state is integers);
frontend/random.py writes `low + (high - low) * u` and `avg + std * z` with tensor ops, so gradients with
respect to those parameters flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.attributes import DYN, Typed
from ..ir.builder import Builder
from ..ir.core import OP_REGISTRY, PURE, AttrDef, Operation, Value
from ..ir.dialect import Dialect
from ..ir.types import DialectType, ScalarType, TensorType, Type, f32, f64, scalar
from .scalar import cast_to
from .tensor_common import (
    bind_dynamic,
    check_size_operands,
    check_sizes_run_time,
    count_dynamic,
    runtime_error,
    tensor_type,
)

ui32, ui64 = scalar("ui32"), scalar("ui64")
STATE_SIZE = 3  # [key, stream, pos]

# Philox-4x32 constants (Random123 philox.h).
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
PHILOX_ROUNDS = 10
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(counter: Sequence[Any], key: Sequence[Any], rounds: int = PHILOX_ROUNDS) -> list[np.ndarray]:
    """Random123's philox4x32_R on numpy arrays (broadcast together): four counter words and two key words
    (uint32 values) -> the four output words (uint32 arrays). The products are exact in uint64."""
    c = [np.asarray(w, np.uint64) for w in counter]
    k = [np.asarray(w, np.uint64) for w in key]
    m0, m1 = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1])
    for r in range(rounds):
        if r:
            k = [(k[0] + np.uint64(PHILOX_W[0])) & _MASK32, (k[1] + np.uint64(PHILOX_W[1])) & _MASK32]
        p0, p1 = m0 * c[0], m1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k[0], p1 & _MASK32, (p0 >> np.uint64(32)) ^ c[3] ^ k[1], p0 & _MASK32]
    return [w.astype(np.uint32) for w in c]


def philox_word(key: Any, stream: Any, pos: Any, w: Any) -> np.ndarray:
    """Word w (uint64 arrays) of the stream (key, stream) that starts at block pos (module docstring)."""
    key, stream, pos, w = (np.asarray(v, np.uint64) for v in (key, stream, pos, w))
    block = pos + (w >> np.uint64(2))
    words = philox4x32([block & _MASK32, block >> np.uint64(32), stream & _MASK32, stream >> np.uint64(32)],
                       [key & _MASK32, key >> np.uint64(32)])
    j = w & np.uint64(3)
    return np.select([j == 0, j == 1, j == 2], words[:3], words[3]).astype(np.uint32)


# ---------------------------------------------------------------- one formula, two evaluators


class NumpyMath:
    """The element formula's operations on numpy arrays (the interpreter's evaluator)."""

    def __init__(self, key: Any, stream: Any, pos: Any) -> None:
        self.stream = (key, stream, pos)

    def word(self, w: Any) -> Any:
        return philox_word(*self.stream, w)

    def const(self, value: Any, t: ScalarType) -> Any:
        return t.dtype.type(value)

    def cast(self, x: Any, t: ScalarType) -> Any:
        return np.asarray(x).astype(t.dtype)

    def binary(self, name: str, x: Any, y: Any) -> Any:
        with np.errstate(all="ignore"):
            return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "int_div": np.floor_divide,
                    "mod": np.mod, "eq": np.equal}[name](x, y)

    def unary(self, name: str, x: Any) -> Any:
        with np.errstate(all="ignore"):
            return getattr(np, name)(x)

    def select(self, c: Any, x: Any, y: Any) -> Any:
        return np.where(c, x, y)


class BuilderMath:
    """The element formula's operations as scalar ops built with `b` (bufferize's evaluator: a generic body);
    `stream` are the ui64 scalar values key, stream and pos."""

    def __init__(self, b: Builder, stream: Sequence[Value]) -> None:
        self.b, self.stream = b, list(stream)

    def _op(self, name: str, *operands: Value, **attrs: Any) -> Value:
        return self.b.create(OP_REGISTRY[name], *operands, **attrs).result

    def word(self, w: Value) -> Value:
        return self._op(PhiloxOp.name, *self.stream, w)

    def const(self, value: Any, t: ScalarType) -> Value:
        return self._op("scalar.constant", value=Typed(float(value) if t.is_float else int(value), t))

    def cast(self, x: Value, t: ScalarType) -> Value:
        return cast_to(self.b, x, t)

    def binary(self, name: str, x: Value, y: Value) -> Value:
        return self._op(f"scalar.{name}", x, y)

    def unary(self, name: str, x: Value) -> Value:
        return self._op(f"scalar.{name}", x)

    def select(self, c: Value, x: Value, y: Value) -> Value:
        return self._op("scalar.select", c, x, y)


def _uniform_at(m: Any, q: Any, t: ScalarType) -> Any:
    """Uniform number q (ui64) of the stream in [0, 1) of type t (module docstring)."""
    if t == f32:
        w = m.binary("int_div", m.word(q), m.const(256, ui32))
        return m.binary("mul", m.cast(w, f32), m.const(2.0 ** -24, f32))
    first = m.binary("mul", q, m.const(2, ui64))
    hi = m.binary("int_div", m.word(first), m.const(32, ui32))
    lo = m.binary("int_div", m.word(m.binary("add", first, m.const(1, ui64))), m.const(64, ui32))
    bits = m.binary("add", m.binary("mul", m.cast(hi, f64), m.const(2.0 ** 26, f64)), m.cast(lo, f64))
    return m.binary("mul", bits, m.const(2.0 ** -53, f64))


def blocks_used(n: Any, t: ScalarType, paired: bool) -> Any:
    """Philox blocks a draw of n elements of type t consumes: ceil(u * k / 4) for u uniform numbers of k words
    (k = 1 for f32, 2 for f64), u = n, or n rounded up to even for a paired draw. Integer arithmetic only, so n
    may be an int or a symbolic integer variable."""
    uniforms = (n + 1) // 2 * 2 if paired else n
    return (uniforms * (1 if t == f32 else 2) + 3) // 4


# ---------------------------------------------------------------- ops


class PhiloxOp(Operation):
    """Word `i` of the Philox-4x32-10 stream (key, stream) that starts at block `pos` (all ui64; dialect
    docstring): `%w = random.philox %key, %stream, %pos, %i : ui32`. A scalar op, for generic and loop
    bodies; on C it is backends/c_runtime/tir_random.h's `tir_philox_word`."""

    name = "random.philox"
    operands_def = ("key", "stream", "pos", "i")
    traits = frozenset({PURE})
    differentiable = False

    def infer_types(self) -> list[Type]:
        for what, v in zip(self.operands_def, self.operands):
            if v.type != ui64:
                raise self.error(f"{what} must be ui64, got {v.type}")
        return [ui32]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [philox_word(*args)[()]]


class StandardDraw(Operation):
    """Base of the draw ops: `random.<kind> %state sizes ... {shape = [...], dtype = f32|f64}`, a tensor of
    `shape` from the stream `%state` (a rank-1 ui64 tensor [key, stream, pos]); the element formula is
    `element`, written once for both evaluators."""

    operands_def = ("state", "sizes*")
    attrs = {"shape": AttrDef(tuple, required=True), "dtype": AttrDef(ScalarType, default=f64)}
    traits = frozenset({PURE})
    differentiable = False
    paired: ClassVar[bool] = False  # elements use the uniform numbers of their pair (Box-Muller)
    # The run-time check of the state's length, on every target (`{0}`: the length found).
    STATE_LENGTH: ClassVar[str] = f"state must hold {STATE_SIZE} words [key, stream, pos], got {{0}}"

    @property
    def element_type(self) -> ScalarType:
        return self.attributes.get("dtype", f64)

    def size_entries(self, values: Sequence[Any] | None = None) -> list[Any]:
        shape = self.attributes["shape"]
        for e in shape:
            if e is not DYN and (not isinstance(e, int) or isinstance(e, bool) or e < 0):
                raise self.error(f"shape entries must be non-negative sizes or ?, got {e!r}")
        check_size_operands(self, self.operands[1:], count_dynamic([shape]))
        row = bind_dynamic([shape], self.operands[1:] if values is None else values)[0]
        assert row is not None
        return row

    def infer_types(self) -> list[Type]:
        state = tensor_type(self, self.operands[0], "state")
        if state.rank != 1 or state.element != ui64 or state.shape[0] not in (None, STATE_SIZE):
            raise self.error(f"state must be a tensor<{STATE_SIZE}xui64> (or tensor<?xui64>), got {state}")
        if self.element_type not in (f32, f64):
            raise self.error(f"dtype must be f32 or f64, got {self.element_type}")
        return [TensorType(tuple(None if s is DYN else s for s in self.size_entries()), self.element_type)]

    def element(self, m: Any, i: Any) -> Any:
        """Element i (the row-major index, ui64) with the operations of `m` (NumpyMath or BuilderMath)."""
        raise NotImplementedError

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        state = np.asarray(args[0])
        if len(state) != STATE_SIZE:
            raise runtime_error(self, self.STATE_LENGTH.format(len(state)))
        sizes = [int(s) for s in self.size_entries(args[1:])]
        check_sizes_run_time(self, sizes)
        flat = self.element(NumpyMath(*state), np.arange(math.prod(sizes), dtype=np.uint64))
        return [np.asarray(flat, self.element_type.dtype).reshape(sizes)]


class UniformOp(StandardDraw):
    """Uniform numbers in [0, 1): `%u = random.uniform %state sizes %n {shape = [?, 3], dtype = f32}
    : tensor<?x3xf32>` (element i is the stream's uniform number i)."""

    name = "random.uniform"

    def element(self, m: Any, i: Any) -> Any:
        return _uniform_at(m, i, self.element_type)


class NormalOp(StandardDraw):
    """Standard normal numbers (Box-Muller on pairs of uniform numbers: dialect docstring):
    `%z = random.normal %state {shape = [4], dtype = f64} : tensor<4xf64>`."""

    name = "random.normal"
    paired = True

    def element(self, m: Any, i: Any) -> Any:
        t = self.element_type
        one = m.const(1, ui64)
        odd = m.binary("mod", i, m.const(2, ui64))
        first = m.binary("sub", i, odd)  # uniform number 2p of pair p = i // 2
        u1 = _uniform_at(m, first, t)
        u2 = _uniform_at(m, m.binary("add", first, one), t)
        log = m.unary("log", m.binary("sub", m.const(1.0, t), u1))
        r = m.unary("sqrt", m.binary("mul", m.const(-2.0, t), log))
        theta = m.binary("mul", m.const(2 * math.pi, t), u2)
        trig = m.select(m.binary("eq", odd, m.const(0, ui64)), m.unary("cos", theta), m.unary("sin", theta))
        return m.binary("mul", r, trig)


class StateType(DialectType):
    """`!random.state`: a Philox-4x32 key and counter (no parameters). The draw ops carry their state as a
    tensor<3xui64> instead (module docstring says why)."""

    name = "random.state"


DIALECT = Dialect("random", "counter-based random numbers (Philox-4x32-10)")
