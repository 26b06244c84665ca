"""The CUDA target: every op group's kernels compile with `nvcc --ptx` where nvcc exists and with NVRTC where it is
installed (the dev extra's nvidia-cuda-nvrtc-cu12: so in CI), and run on a CUDA GPU.

The groups are test_c_target.py's (every tensor op): each is lowered through the `cuda` pipeline
(`tir-opt -p cuda`) and all of their sources go to one nvcc run. The execution tests (runtime/cuda.py,
pycuda) run the same groups against the interpreter, and a training step against the C target, where pycuda
and a CUDA GPU are present; elsewhere they skip, saying why.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
import test_c_target as groups
import test_opencl
from tensorir.frontend.parser import parse
from tensorir.passes import run_pipeline

NVCC = shutil.which("nvcc")
GROUPS = ["float_elementwise", "special_values_and_f64", "integer_and_bool_ops", "reductions", "empty_reductions",
          "crossentropy", "linear_algebra", "shape_and_indexing", "creation", "numpy_functions", "zero_d"]


def cuda_source(inputs: list[Any], outputs: list[Any]) -> str:
    """The CUDA source of the kernels of a function of `outputs` (the tensor IR through the cuda pipeline)."""
    module = parse(tensorir.function(inputs, outputs, target="interp").ir("tensor"))
    run_pipeline(module, "cuda")
    source = module.attributes["cuda.source"]
    assert isinstance(source, str)
    return source


def test_kernels_use_the_thread_grid() -> None:
    from tensorir import tensor as T

    x, idx = T.fmatrix("x"), T.lvector("idx")
    src = cuda_source([x, idx], [T.exp(x) * 2, x[idx].sum(axis=1)])
    assert 'extern "C" __global__ void main_k0(int* tir_err, int64_t* tir_errv,' in src
    assert "(blockIdx.y * (int64_t)blockDim.y + threadIdx.y)" in src
    assert "(blockIdx.x * (int64_t)blockDim.x + threadIdx.x)" in src
    assert "static __device__ inline" in src and "atomicCAS" in src and "#pragma" not in src


def _every_group_source(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sources: list[str] = []
    monkeypatch.setattr(groups, "check_group", lambda inputs, outputs, cases: sources.append(cuda_source(inputs,
                                                                                                           outputs)))
    for group in GROUPS:
        getattr(groups, f"test_{group}")()
    return sources


def _nvrtc_reason() -> str | None:
    from tensorir.runtime.nvrtc import library

    try:
        library()
    except tensorir.TirError as e:
        return str(e)
    return None


NVRTC_REASON = _nvrtc_reason()


@pytest.mark.skipif(NVRTC_REASON is not None, reason=f"no NVRTC here: {NVRTC_REASON}")
def test_every_op_group_compiles_with_nvrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's path where there is no nvcc: NVRTC (no system headers) takes every op group's source."""
    from tensorir.runtime.nvrtc import compile_ptx

    for src in _every_group_source(monkeypatch):
        ptx = compile_ptx(src, "compute_70")
        assert b".visible .entry main_k0(" in ptx


@pytest.mark.skipif(NVRTC_REASON is not None, reason=f"no NVRTC here: {NVRTC_REASON}")
def test_tiled_gemm_and_tree_reductions_compile_with_nvrtc() -> None:
    """device-gemm's tiled product and tree-reductions' rows in CUDA's dialect: __shared__ tiles, __syncthreads,
    block and thread indices; NVRTC compiles them."""
    from tensorir import tensor as T
    from tensorir.runtime.nvrtc import compile_ptx

    a, b = T.dmatrix("a"), T.dmatrix("b")
    x = T.fmatrix("x")
    src = cuda_source([a, b, x], [0.5 * T.dot(a.T, b), T.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)])
    assert "__shared__ double As[16][64];" in src and "__syncthreads();" in src
    assert "threadIdx.x" in src and "blockIdx.y" in src and "__shared__ float red" in src
    ptx = compile_ptx(src, "compute_70")
    assert b".shared" in ptx


def test_nvrtc_reports_a_bad_source_with_its_log() -> None:
    from tensorir.runtime.nvrtc import compile_ptx

    if NVRTC_REASON is not None:
        pytest.skip(f"no NVRTC here: {NVRTC_REASON}")
    with pytest.raises(tensorir.TirError, match="NVRTC rejected the generated CUDA source:(.|\n)*undefined"):
        compile_ptx('extern "C" __global__ void k(float* x) { x[0] = not_declared; }')


@pytest.mark.skipif(NVCC is None, reason="no nvcc on this machine")
def test_every_op_group_compiles_with_nvcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = _every_group_source(monkeypatch)
    files = []
    for k, src in enumerate(sources):
        files.append(tmp_path / f"group{k}.cu")
        files[-1].write_text(src)
    out = subprocess.run([str(NVCC), "--ptx", "-odir", str(tmp_path), *map(str, files)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert all((tmp_path / f"group{k}.ptx").exists() for k in range(len(files)))


def _cuda_reason() -> str | None:
    from tensorir.runtime.cuda import unavailable_reason

    return unavailable_reason()


CUDA_REASON = _cuda_reason()
needs_gpu = pytest.mark.skipif(CUDA_REASON is not None, reason=f"no CUDA GPU here: {CUDA_REASON}")


def check_group_on_cuda(inputs: list[Any], outputs: list[Any], cases: list[list[np.ndarray]]) -> None:
    f_cuda = tensorir.function(inputs, outputs, target="cuda")
    f_i = tensorir.function(inputs, outputs, target="interp")
    for case in cases:
        test_opencl.assert_same(f_cuda(*case), f_i(*case), f"{outputs} for shapes {[np.shape(a) for a in case]}")


@needs_gpu
@pytest.mark.parametrize("group", GROUPS)
def test_every_op_group_runs_on_the_gpu(group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "check_group", check_group_on_cuda)
    getattr(groups, f"test_{group}")()


@needs_gpu
def test_a_failed_check_on_the_gpu_raises_the_c_targets_message() -> None:
    from tensorir import tensor as T

    x, idx = T.fvector("x"), T.lvector("idx")
    errors = []
    for target in ("c", "cuda"):
        f = tensorir.function([x, idx], T.take(x * 2, idx), target=target)
        with pytest.raises(ValueError) as e:
            f(np.arange(4, dtype=np.float32), np.array([1, 9]))
        errors.append(str(e.value))
    assert errors[0] == errors[1]



def test_launches_are_prepared_calls_whose_arguments_pack_by_their_format() -> None:
    """runtime/cuda.py against pycuda's prepared-call contract (no GPU needed): `prepare` gets one type per
    argument, the launch passes buffers as addresses and each value packs with its type's struct code (pycuda
    packs the argument buffer with numpy's dtype characters, native alignment: the kernel's parameter layout)."""
    import struct

    from tensorir.runtime.cuda import CUDAModule

    class Function:
        def prepare(self, types: list[Any]) -> None:
            self.format = "".join(t if isinstance(t, str) else t.char for t in types)

        def prepared_async_call(self, grid: tuple[int, ...], block: tuple[int, ...], stream: Any, *args: Any) -> None:
            self.launch = grid, block, stream, args

    class Program:
        def get_function(self, name: str) -> Function:
            return Function()

    class Allocation:  # pycuda's DeviceAllocation: its address is int() of it
        def __init__(self, address: int) -> None:
            self.address = address

        def __int__(self) -> int:
            return self.address

    mod = CUDAModule.__new__(CUDAModule)
    mod.err, mod.errv = Allocation(16), Allocation(32)
    dtypes = [None, np.dtype(np.int64), np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.float16),
              np.dtype(np.float64)]
    fn = mod.kernel(Program(), "k", dtypes)
    values = [Allocation(4096), 3, 1000, np.uint8(1), np.float16(1.5), np.float64(0.25)]
    mod.run(fn, [1000, 3], values)
    grid, block, stream, args = fn.launch
    assert (grid, block, stream) == ((4, 3, 1), (256, 1, 1), None)
    assert args == (16, 32, 4096, 3, 1000, 1, np.float16(1.5).view(np.uint16), 0.25)
    packed = struct.pack(fn.format, *args)
    assert struct.unpack(fn.format, packed) == args
    mod.run(fn, [], values)  # one work-item
    assert fn.launch[:2] == ((1, 1, 1), (1, 1, 1))


@pytest.mark.skipif(NVRTC_REASON is not None, reason=f"no NVRTC here: {NVRTC_REASON}")
def test_fast_intrinsics_only_under_their_flag_and_they_compile() -> None:
    """`fast_intrinsics`: float32 exp/log/sin/cos as CUDA's __expf... (never without the flag, never float64)."""
    from tensorir import tensor as T
    from tensorir.runtime.nvrtc import compile_ptx

    x, d = T.fvector("x"), T.dvector("d")
    outs = [T.exp(x) + T.log(abs(x) + 2), T.sin(x) * T.cos(x)]
    plain = cuda_source([x], outs)
    assert "__expf" not in plain and "__sinf" not in plain
    with tensorir.config.change_flags(fast_intrinsics=True):
        fast = cuda_source([x], outs)
        double = cuda_source([d], [T.exp(d) * T.sin(d)])
    assert "__expf(" in fast and "__logf(" in fast and "__sinf(" in fast and "__cosf(" in fast
    assert "__expf" not in double and "__sinf" not in double
    assert b".visible .entry main_k0(" in compile_ptx(fast, "compute_70")
