"""The CUDA target's kernels: each `kernel.func` as a CUDA C++ `__global__` function (docs/lowering.md, emit-cuda).

    #include <stdint.h>
    ...tir_scalar.h and tir_random.h as __device__ functions...
    extern "C" __global__ void f_k0(int* tir_err, int64_t* tir_errv, const float* x, int64_t x_n0, ...) {
        const int64_t i = (int64_t)(blockIdx.x * (int64_t)blockDim.x + threadIdx.x);
        if (i >= n) return;
        ...loop body...
    }

The shared grid renderer (backends/gpu.py) with CUDA's dialect: `extern "C" __global__` (unmangled names
for the module's function table), `__device__` helpers, `__constant__` tables, `__half` (cuda_fp16.h),
thread indices from blockIdx/blockDim/threadIdx in x, y, z, and `atomicCAS` for the first failed check.
Built by nvcc (`nvcc --ptx`) or NVRTC (runtime/nvrtc.py: no system headers, so the prelude defines the few
<stdint.h> and <math.h> names the program uses); the host plan is not rendered.
"""

from __future__ import annotations

from typing import ClassVar

from ..ir.core import Operation
from .gpu import GridRenderer, activations, runtime_header

__all__ = ["CUDARenderer", "render_cuda"]

_INLINE = "static __device__ inline"

# nvcc's system headers, or for NVRTC (runtime/nvrtc.py), which has none, the names of them the program uses.
_HEADERS = """\
#ifdef __CUDACC_RTC__
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#define INT8_MIN (-128)
#define INT16_MIN (-32767 - 1)
#define INT32_MIN (-2147483647 - 1)
#define INT64_MIN (-9223372036854775807LL - 1)
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#else
#include <stdint.h>
#include <math.h>
#endif"""

_FAIL = """\
static __device__ void tir_fail(int* err, int64_t* errv, int code, int64_t v0, int64_t v1, int64_t v2, int64_t v3) {
    if (atomicCAS(err, 0, code) == 0) {
        errv[0] = v0; errv[1] = v1; errv[2] = v2; errv[3] = v3;
    }
}
"""


class CUDARenderer(GridRenderer):
    type_names: ClassVar[dict[str, str]] = {**GridRenderer.type_names, "f16": "__half"}
    kernel_prefix: ClassVar[str] = 'extern "C" __global__ void'
    constant_qualifier: ClassVar[str] = "static __constant__ const"
    kernel_ctx_param: ClassVar[str] = "int* tir_err, int64_t* tir_errv"
    local_qualifier: ClassVar[str] = "__shared__"
    barrier: ClassVar[str] = "__syncthreads();"
    global_barrier: ClassVar[str] = "__syncthreads();"  # (orders the block's global memory accesses too)
    FAST_INTRINSICS: ClassVar[dict[str, str]] = {"exp": "__expf", "log": "__logf", "log2": "__log2f",
                                                 "log10": "__log10f", "sin": "__sinf", "cos": "__cosf", "tan": "__tanf"}

    def global_id(self, d: int) -> str:
        axis = "xyz"[d]
        return f"(blockIdx.{axis} * (int64_t)blockDim.{axis} + threadIdx.{axis})"

    def global_size(self, d: int) -> str:
        axis = "xyz"[d]
        return f"(gridDim.{axis} * (int64_t)blockDim.{axis})"

    def local_id(self, d: int) -> str:
        return f"threadIdx.{'xyz'[d]}"

    def group_id(self, d: int) -> str:
        return f"blockIdx.{'xyz'[d]}"

    def num_groups(self, d: int) -> str:
        return f"gridDim.{'xyz'[d]}"

    def prelude(self) -> list[str]:
        return [_HEADERS, "#include <cuda_fp16.h>" if "f16" in self.uses else "",
                runtime_header("tir_scalar.h", _INLINE), runtime_header("tir_random.h", _INLINE),
                activations(_INLINE, "f64" in self.uses), _FAIL]


def render_cuda(module: Operation) -> tuple[str, list[str]]:
    """The CUDA source of the module's kernels, and the messages of its run-time checks (by number - 1)."""
    from ..config import config

    r = CUDARenderer(fast_intrinsics=bool(config.fast_intrinsics))
    return r.render_program(module), r.messages
