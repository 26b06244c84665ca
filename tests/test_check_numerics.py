"""`tir-opt --check-numerics` names the first pass that changes a result (Theano's DebugMode)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from tensorir.frontend.parser import parse
from tensorir.ir.core import Operation, TirError
from tensorir.passes import PassManager, parse_pipeline
from tensorir.passes.pass_manager import Pass
from tensorir.tools.numerics import NumericsChecker

ROOT = Path(__file__).resolve().parents[1]

TEXT = """
func.func @f(%x: tensor<?x3xf32>, %n: tensor<?xi64>) -> (tensor<?x3xf32>, tensor<f32>) {
  %one = tensor.constant {value = 1.0 : f32} : tensor<f32>
  %y = tensor.mul %x, %one
  %e = tensor.exp %y
  %s = tensor.sum %e
  func.return %e, %s : tensor<?x3xf32>, tensor<f32>
}
"""


@dataclass
class SwapExpForSin(Pass):
    """A wrong 'optimization': replaces exp by sin."""

    name: ClassVar[str] = "swap-exp-for-sin"

    def run(self, module: Operation) -> bool:
        from tensorir.dialects import tensor as T

        changed = False
        for op in list(module.walk()):
            if isinstance(op, T.ExpOp):
                new = T.SinOp.build(op.operands[0], loc=op.loc)
                op.parent.insert(op.parent.index(op), new)
                op.replace_with(new.results)
                changed = True
        return changed


def test_correct_passes_pass_the_check() -> None:
    module = parse(TEXT)
    checker = NumericsChecker(module)
    assert checker.checked == ["f"]
    PassManager(parse_pipeline("interp"), instrumentations=[checker]).run(module)


def test_a_wrong_pass_is_named_with_the_result_and_element() -> None:
    module = parse(TEXT)
    checker = NumericsChecker(module)
    passes = parse_pipeline("canonicalize") + [SwapExpForSin()] + parse_pipeline("cse")
    with pytest.raises(TirError, match=r"pass 'swap-exp-for-sin' changed result #0 of @f: max abs diff .* at index"):
        PassManager(passes, instrumentations=[checker]).run(module)


def test_cli_flag_on_the_examples() -> None:
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.tir"))
    proc = subprocess.run([sys.executable, "-m", "tensorir.tools.tir_opt", *files, "--pipeline", "interp",
                           "--check-numerics"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
