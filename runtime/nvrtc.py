"""CUDA source to PTX with NVRTC, NVIDIA's runtime compiler library, where there is no `nvcc` (ctypes; no GPU needed).

The CUDA target builds its kernels with nvcc when it is on PATH (pycuda's compiler) and with NVRTC otherwise:
the library of the `nvidia-cuda-nvrtc-cu12` wheel (`pip install "tensorir[cuda]"`), or a `libnvrtc` the system's
loader finds (a CUDA toolkit, CuPy's or torch's). The PTX goes to the driver like nvcc's does
(runtime/cuda.py). The generated source compiles under both: backends/cuda.py gives NVRTC, which has no system
headers, the few <stdint.h> and <math.h> names it uses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path
from typing import Any

from ..ir.core import TirError

__all__ = ["compile_ptx", "library"]


@functools.lru_cache(maxsize=1)
def library() -> Any:
    """The NVRTC library (ctypes), or a TirError that says how to get one."""
    candidates: list[str] = []
    try:
        import nvidia.cuda_nvrtc as wheel  # the pip wheel's package (a namespace package: its path)

        for root in wheel.__path__:
            candidates += sorted(str(p) for p in Path(root, "lib").glob("libnvrtc.so*") if ".alt." not in p.name)
    except ImportError:
        pass
    found = ctypes.util.find_library("nvrtc")
    candidates += [found] if found else []
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise TirError("the CUDA target needs nvcc on PATH or NVRTC: pip install nvidia-cuda-nvrtc-cu12 "
                   "(or tensorir[cuda])")


def compile_ptx(source: str, arch: str = "compute_70", name: str = "tensorir.cu") -> bytes:
    """PTX of `source` for virtual architecture `arch` (e.g. compute_90); a TirError with NVRTC's log on errors."""
    lib = library()
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None), "create")
    try:
        options = [f"--gpu-architecture={arch}".encode()]
        status = lib.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
        if status != 0:
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            raise TirError(f"NVRTC rejected the generated CUDA source:\n{log.value.decode(errors='replace')[-4000:]}")
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "PTX size")
        ptx = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, ptx), "PTX")
        return ptx.raw.rstrip(b"\0")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _check(lib: Any, status: int, what: str) -> None:
    if status != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise TirError(f"NVRTC {what}: {lib.nvrtcGetErrorString(status).decode()}")
