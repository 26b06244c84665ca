"""`emit-opencl`: render the module's kernels as one OpenCL program (docs/lowering.md section 7b).

Legal on entry: the output of `outline-kernels{device=true}`: `kernel.func`s over `#device` buffers (with
their `grid`) and the host plan that copies buffers to and from the device around each launch. On exit:
the same IR, plus the module attribute `opencl.source` holding the OpenCL C program (backends/opencl.py).
`tir-opt` shows it as the last stage; `tensorir.function(..., target="opencl")` builds and runs it
(runtime/opencl.py), the host plan running in the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.core import Operation
from .pass_manager import Pass, store_source

SOURCE_ATTR = "opencl.source"


@dataclass
class EmitOpenCLPass(Pass):
    name: ClassVar[str] = "emit-opencl"
    summary: ClassVar[str] = "render the kernels as one OpenCL program (module attribute opencl.source)"

    def run(self, module: Operation) -> bool:
        from ..backends.opencl import render_opencl

        return store_source(module, SOURCE_ATTR, render_opencl(module)[0])
