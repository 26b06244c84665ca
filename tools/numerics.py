"""`tir-opt --check-numerics`: Theano's DebugMode for passes.

Before the first pass, every function of the module is run by the reference
interpreter on random inputs; after each pass that changed the module the
functions run again on the same inputs, and the first pass whose results differ
(beyond float rounding) is named with the function, the result and the worst
element:

    tir-opt: --check-numerics: pass 'bufferize' changed result #0 of @f:
    max abs diff 0.5 at index (2, 1) (before 1.25, after 0.75)
    // ----- IR after bufferize
    func.func @f(...

(the lines after the message hold the module that pass produced). Floats compare
with a relative and absolute tolerance per width (`_RTOL`: passes may reassociate
float arithmetic), integers and booleans exactly. `tensorir.function(..., mode="debug")`
checks each call's arguments with the same machinery (`ResultChecker`).

A function holding `tensor.grad` runs with it expanded (by the autodiff pass, on a copy).

Random inputs: floats from a normal distribution, integers in [0, n) (so they
also work as indices and sizes), booleans at random; dynamic dims all take one
size n, tried in the order 3, 4, 1, 2 until the original IR runs on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dialects.tensor import GradOp
from ..ir.core import Operation, TirError
from ..ir.printer import print_module
from ..ir.types import MemRefType, ScalarType, TensorType, Type
from ..passes.autodiff import AutodiffPass
from ..passes.pass_manager import Pass, PassInstrumentation
from ..runtime.interpreter import Interpreter

_SIZES = (3, 4, 1, 2)
# Relative tolerance per float width: passes may reassociate float arithmetic.
_RTOL = {2: 1e-2, 4: 1e-4, 8: 1e-9}


def _random_value(t: Type, n: int, rng: np.random.Generator) -> Any:
    if isinstance(t, (TensorType, MemRefType)):
        shape = tuple(n if d is None else d for d in t.shape)
        dtype = t.element.dtype
    elif isinstance(t, ScalarType):
        if t.name == "index":
            return n
        shape, dtype = (), t.dtype
    else:
        raise TirError(f"--check-numerics: cannot make a random value of type {t}")
    if dtype.kind == "f":
        return np.asarray(rng.standard_normal(shape), dtype=dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return np.asarray(rng.integers(0, n, shape), dtype=dtype)


def _functions(module: Operation) -> list[Operation]:
    return [op for op in module.regions[0].block.ops if op.name == "func.func"]


class ResultChecker(PassInstrumentation):
    """Runs functions by the reference interpreter on fixed inputs after each pass that changed the
    module and raises a TirError at the first pass that changed a result: the error names the pass,
    the function, the result and its worst element, and its detail holds the IR that pass produced.

    Both `tir-opt --check-numerics` (NumericsChecker: random inputs) and `tensorir.function(...,
    mode="debug")` (each call's own arguments) check passes with it; `who` starts their messages.
    Every stage the interpreter runs is checked: tensor, fused, memory and loop, kernel; the source
    text that an emit pass leaves in the module is the compiled target's business (`check`).
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.inputs: dict[str, list[Any]] = {}
        self.reference: dict[str, list[np.ndarray]] = {}
        self.passes = self.compared = 0

    def add(self, module: Operation, name: str, args: list[Any]) -> None:
        """Check @name on `args` from now on, against its results on them now (a TirError where the
        interpreter cannot run it on them)."""
        self.reference[name] = interpret(module, name, args)
        self.inputs[name] = args

    def after_pass(self, pass_: Pass, module: Operation, changed: bool) -> None:
        self.passes += 1
        if not changed:
            return
        self.compared += 1

        def ir() -> str:  # printed only for an error: printing costs about a fifth of a pipeline
            return f"// ----- IR after {pass_.spec()}\n{print_module(module)}"

        for name, args in self.inputs.items():
            try:
                results = interpret(module, name, args)
            except TirError as e:
                raise TirError(f"{self.who}: after pass '{pass_.name}', @{name} fails on inputs the "
                               f"original ran on: {e}", detail=ir()) from None
            self.check(name, results, f"pass '{pass_.name}'", ir)

    def check(self, name: str, results: list[Any], culprit: str, code: Callable[[], str]) -> None:
        """Compare results of @name with its reference results; at the first that differs beyond
        rounding, a TirError naming `culprit`, with the code it produced (`code()`) as its detail."""
        for k, (want, got) in enumerate(zip(self.reference[name], results)):
            problem = _compare(want, np.array(got))
            if problem:
                raise TirError(f"{self.who}: {culprit} changed result #{k} of @{name}: {problem}", detail=code())


def interpret(module: Operation, name: str, args: list[Any]) -> list[np.ndarray]:
    """@name's results by the reference interpreter on copies of `args` (a module holding
    `tensor.grad` runs with it expanded: what a gradient computes is its expansion)."""
    if any(isinstance(op, GradOp) for op in module.walk()):
        module = module.clone()
        AutodiffPass().run(module)
    with np.errstate(all="ignore"):
        return [np.array(r) for r in Interpreter(module).call(name, [np.copy(a) for a in args])]


class NumericsChecker(ResultChecker):
    """`--check-numerics`: every function of the module, on random inputs."""

    def __init__(self, module: Operation, seed: int = 0) -> None:
        super().__init__("--check-numerics")
        rng = np.random.default_rng(seed)
        self.functions = [fn.attributes["sym_name"] for fn in _functions(module)]
        for fn in _functions(module):
            for n in _SIZES:
                try:
                    self.add(module, fn.attributes["sym_name"],
                             [_random_value(t, n, rng) for t in fn.attributes["function_type"].inputs])
                except TirError:
                    continue
                break

    @property
    def checked(self) -> list[str]:
        return sorted(self.inputs)

    def summary(self) -> str:
        """What was checked, once every pass agreed (so that a clean run says so)."""
        if self.checked:
            text = (f"--check-numerics: {', '.join('@' + n for n in self.checked)}: same results after each of "
                    f"{self.passes} pass{'' if self.passes == 1 else 'es'} (compared after the {self.compared} "
                    "that changed the IR)")
        else:
            text = "--check-numerics: nothing compared"
        skipped = [n for n in self.functions if n not in self.inputs]
        if skipped:
            text += (f"; not checked: {', '.join('@' + n for n in skipped)} (no random inputs of the sizes "
                     f"{', '.join(map(str, _SIZES))} run)")
        return text


def _compare(want: np.ndarray, got: np.ndarray) -> str:
    if want.shape != got.shape:
        return f"shape {want.shape} became {got.shape}"
    if want.dtype != got.dtype:
        return f"dtype {want.dtype} became {got.dtype}"
    if want.dtype.kind == "f":
        rtol = _RTOL.get(want.dtype.itemsize, 1e-9)
        bad = ~np.isclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        bad = got != want
    if not bad.any():
        return ""
    where = np.unravel_index(np.argmax(bad), bad.shape) if bad.ndim else ()
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return (f"max abs diff {np.nanmax(np.where(bad, diff, 0)):.3g} at index {tuple(int(i) for i in where)} "
            f"(before {want[where]}, after {got[where]})")
