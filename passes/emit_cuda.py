"""`emit-cuda`: render the module's kernels as one CUDA source (docs/lowering.md section 7c).

Legal on entry: the output of `outline-kernels{device=true}` (as emit-opencl). On exit: the same IR, plus
the module attribute `cuda.source` holding the CUDA C++ source of every kernel (backends/cuda.py), which
`nvcc --ptx` or NVRTC builds. `tir-opt -p cuda` shows it as the last stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.core import Operation
from .pass_manager import Pass, store_source

SOURCE_ATTR = "cuda.source"


@dataclass
class EmitCUDAPass(Pass):
    name: ClassVar[str] = "emit-cuda"
    summary: ClassVar[str] = "render the kernels as one CUDA source (module attribute cuda.source)"

    def run(self, module: Operation) -> bool:
        from ..backends.cuda import render_cuda

        return store_source(module, SOURCE_ATTR, render_cuda(module)[0])
