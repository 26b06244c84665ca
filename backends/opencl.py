"""The OpenCL target's kernels: each `kernel.func` as an OpenCL C `__kernel` (docs/lowering.md, emit-opencl).

    typedef long int64_t; ...                                  (the <stdint.h> names the renderer writes)
    tir_scalar.h and tir_random.h without their includes       (numpy's integer division, NaN-propagating max...)
    __kernel void f_k0(__global int* tir_err, __global long* tir_errv,
                       __global const float* x, long x_n0, __global float* o, long n) {
        const int64_t i = (int64_t)get_global_id(0);
        if (i >= n) return;
        ...loop body...
    }

The shared grid renderer (backends/gpu.py: work-items over a kernel's grid dims, run-time checks through
`tir_fail`) with OpenCL's dialect: `__kernel`, `__global` buffers, `__constant` file-scope arrays, `half`
(cl_khr_fp16), double only with cl_khr_fp64 (enabled where a kernel uses it; runtime/opencl.py refuses it
on a device without), `get_global_id`, `atomic_cmpxchg`. The host plan is not rendered: runtime/opencl.py
runs it. With `vector_math` (runtime/opencl.py sets it for a CPU device with float64: PoCL) the math functions
are the C target's own (tir_math.h, the same numbers as target="c"): PoCL's builtins are scalar calls, which
made W1 ~10x slower than its vectorized polynomials.
"""

from __future__ import annotations

from typing import ClassVar

from ..ir.core import Operation
from ..ir.types import ScalarType
from .cstyle import CStyleRenderer
from .gpu import GridRenderer, activations, runtime_header

__all__ = ["OpenCLRenderer", "render_opencl"]

# The <stdint.h> names the shared renderer writes.
_TYPES = """\
typedef char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long int64_t;
typedef uchar uint8_t;
typedef ushort uint16_t;
typedef uint uint32_t;
typedef ulong uint64_t;
"""

# The float32 libm names tir_scalar.h calls (OpenCL's math builtins are overloaded).
_LIBM = ["floorf floor", "copysignf copysign", "fmodf fmod", "fabsf fabs"]

# With tir_math.h (CPU devices): the libm functions it calls as clang's builtins, which are LLVM intrinsics that
# PoCL's work-group vectorizer widens (its own fma, rint... are calls it cannot).
_VECTOR_LIBM = ["fmodf fmod", *(f"{f} __builtin_{f}" for g in ("fma", "rint", "sqrt", "fabs", "copysign", "floor",
                                                                "ceil") for f in (g, g + "f"))]

_FAIL = """\
static void tir_fail(__global int* err, __global long* errv, int code, long v0, long v1, long v2, long v3) {
    if (atomic_cmpxchg((volatile __global int*)err, 0, code) == 0) {
        errv[0] = v0; errv[1] = v1; errv[2] = v2; errv[3] = v3;
    }
}
"""


class OpenCLRenderer(GridRenderer):
    type_names: ClassVar[dict[str, str]] = {**GridRenderer.type_names, "f16": "half"}
    kernel_prefix: ClassVar[str] = "__kernel void"
    buffer_prefix: ClassVar[str] = "__global "
    constant_qualifier: ClassVar[str] = "__constant"
    kernel_ctx_param: ClassVar[str] = "__global int* tir_err, __global long* tir_errv"
    local_qualifier: ClassVar[str] = "__local"
    barrier: ClassVar[str] = "barrier(CLK_LOCAL_MEM_FENCE);"
    global_barrier: ClassVar[str] = "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);"

    FAST_INTRINSICS: ClassVar[dict[str, str]] = {f: f"native_{f}" for f in ("exp", "exp2", "log", "log2", "log10",
                                                                            "sin", "cos", "tan", "sqrt")}

    def __init__(self, vector_math: bool = False, missing: dict[str, str] | None = None,
                 fast_intrinsics: bool = False) -> None:
        super().__init__(missing, fast_intrinsics)
        self.vector_math = vector_math

    def math_fn(self, name: str, t: ScalarType) -> str:
        if self.vector_math and self.fast_intrinsic(name, t) is None:  # tir_math.h's, as the C target calls them
            return CStyleRenderer.math_fn(self, name, t)
        return super().math_fn(name, t)

    def global_id(self, d: int) -> str:
        return f"get_global_id({d})"

    def global_size(self, d: int) -> str:
        return f"get_global_size({d})"

    def local_id(self, d: int) -> str:
        return f"get_local_id({d})"

    def group_id(self, d: int) -> str:
        return f"get_group_id({d})"

    def num_groups(self, d: int) -> str:
        return f"get_num_groups({d})"

    def prelude(self) -> list[str]:
        f64 = "f64" in self.uses or self.vector_math
        libm = _VECTOR_LIBM if self.vector_math else _LIBM
        return ["#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if f64 else "#define TIR_NO_F64 1",
                "#pragma OPENCL EXTENSION cl_khr_fp16 : enable" if "f16" in self.uses else "", _TYPES,
                *(f"#undef {m.split()[0]}\n#define {m}" for m in libm),
                *([runtime_header("tir_math.h")] if self.vector_math else []),
                runtime_header("tir_scalar.h"), runtime_header("tir_random.h"), activations("static inline", f64),
                _FAIL]


def render_opencl(module: Operation) -> tuple[str, list[str]]:
    """The OpenCL program of the module's kernels, and the messages of its run-time checks (by number - 1)."""
    from ..config import config

    r = OpenCLRenderer(fast_intrinsics=bool(config.fast_intrinsics))
    return r.render_program(module), r.messages
