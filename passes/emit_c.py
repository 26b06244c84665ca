"""`emit-c`: render the module as one C source for the C target (docs/lowering.md section 7).

Legal on entry: the output of `outline-kernels`: `kernel.func`s of loop nests and one host `func.func`
(the host plan over memrefs). On exit: the same IR, plus the module attribute `c.source` holding the C
translation unit (backends/c.py; the ABI of backends/c_runtime/tir_runtime.h). Passes never print:
`tir-opt` shows `c.source` as the last stage, `tensorir.function(..., target="c")` compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.core import Operation
from .pass_manager import Pass

SOURCE_ATTR = "c.source"


@dataclass
class EmitCPass(Pass):
    """Renders the host function `func` (default: the module's only func.func) and its kernels as C."""

    name: ClassVar[str] = "emit-c"
    summary: ClassVar[str] = "render kernels and the host plan as one C source (module attribute c.source)"
    func: str = ""

    def run(self, module: Operation) -> bool:
        from ..backends.c import render_c

        source = render_c(module, self.func or None)
        changed = module.attributes.get(SOURCE_ATTR) != source
        module.attributes[SOURCE_ATTR] = source
        return changed
