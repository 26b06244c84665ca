"""`tensorir.function(..., mode="debug")`: each call checks every pass against the reference interpreter
(Theano's DebugMode), with the machinery of `tir-opt --check-numerics` (tools/numerics.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import config
from tensorir import tensor as T
from tensorir.frontend.function import TARGETS, Target
from tensorir.ir.core import TirError
from tensorir.ir.rewriter import Replacement, Rule, Splat, Var, make_constant
from tensorir.passes import canonicalize
from tensorir.tools import tir_opt

X = Var("x")


class PlusThree(Replacement):
    """A wrong rewrite: the matched `x * 2` becomes `x + 3`."""

    def build(self, op: Any, env: dict[str, Any], rewriter: Any) -> Any:
        from tensorir.dialects.tensor import AddOp

        x = env[X.name]
        three = rewriter.insert_before(op, make_constant(np.full((), 3, x.type.dtype), op.loc)).result
        return rewriter.insert_before(op, AddOp.build(x, three, loc=op.loc)).result


@pytest.fixture
def broken_canonicalize(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """canonicalize with one wrong row (x*2 -> x+3) for this test only; compiled code goes to a cache of
    its own (the cache keys do not know about a monkeypatched rule)."""
    monkeypatch.setattr(canonicalize, "RULES", [*canonicalize.RULES, Rule("tensor.mul", (X, Splat(2)), PlusThree())])
    with config.change_flags(cachedir=str(tmp_path)):
        yield


def test_debug_mode_returns_the_normal_results() -> None:
    x, n = T.fvector("x"), T.ivector("n")
    state = tensorir.shared(np.zeros(4, np.float32), name="state")
    outputs = [T.exp(x) * 2 + x.sum(), n * 3 - n.max()]
    updates = [(state, state + x)]
    debug = tensorir.function([x, n], outputs, updates=updates, mode="debug")
    normal = tensorir.function([x, n], outputs)
    rng = np.random.default_rng(0)
    total = np.zeros(4, np.float32)
    for _ in range(2):  # each call is checked, with its own arguments
        a = rng.standard_normal(4).astype(np.float32)
        b = rng.integers(-5, 5, 4).astype(np.int32)
        got, want = debug(a, b), normal(a, b)
        np.testing.assert_allclose(got[0], np.exp(a) * 2 + a.sum(), rtol=1e-5)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        np.testing.assert_array_equal(got[1], b * 3 - b.max())
        np.testing.assert_array_equal(got[1], want[1])
        total += a
        np.testing.assert_allclose(state.get_value(), total, rtol=1e-6)
    assert debug.compiled  # the C runs the calls, after the checks


def test_debug_mode_names_a_wrong_pass_with_its_ir(broken_canonicalize: None) -> None:
    x = T.fvector("x")
    f = tensorir.function([x], T.exp(x) * 2, mode="debug")
    with pytest.raises(TirError, match=r"mode='debug': pass 'canonicalize' changed result #0 of @main: max abs diff"
                                       r".* \(before 2\.0, after 4\.0\)") as err:
        f(np.zeros(3, np.float32))
    ir = err.value.detail
    assert ir.startswith("// ----- IR after canonicalize\n")
    assert "func.func @main" in ir and "tensor.add" in ir and "tensor.mul" not in ir


def test_check_numerics_names_the_same_wrong_pass(broken_canonicalize: None, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "double.tir"
    path.write_text("""
func.func @f(%n: tensor<?xi64>) -> tensor<?xi64> {
  %two = tensor.constant {value = 2 : i64} : tensor<i64>
  %y = tensor.mul %n, %two
  func.return %y : tensor<?xi64>
}
""")
    assert tir_opt.main([str(path), "--pipeline", "cpu", "--check-numerics"]) == 1
    err = capsys.readouterr().err
    assert "--check-numerics: pass 'canonicalize' changed result #0 of @f: max abs diff" in err
    assert "// ----- IR after canonicalize\n" in err and "tensor.add %n" in err


def test_debug_mode_names_the_target_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pass right, the target's code wrong on some inputs: the call with those names the target."""
    make_runner = TARGETS["interp"].make_runner

    def off_by_one_on_long_inputs(*args: Any, **kwargs: Any) -> Any:
        run = make_runner(*args, **kwargs)
        return lambda arrays: [r + (arrays[0].size > 3) for r in run(arrays)]

    monkeypatch.setitem(TARGETS, "interp", Target("interp", off_by_one_on_long_inputs))
    n = T.lvector("n")
    f = tensorir.function([n], n * 2, target="interp", mode="debug")
    np.testing.assert_array_equal(f(np.arange(3)), np.arange(3) * 2)
    with pytest.raises(TirError, match=r"mode='debug': the code of target 'interp' changed result #0 of @main: "
                                       r"max abs diff 1 at index \(0,\) \(before 0, after 1\)") as err:
        f(np.arange(4))
    assert "tensor.mul %n" in err.value.detail


def test_unknown_mode_lists_the_modes() -> None:
    x = T.fvector("x")
    with pytest.raises(TirError, match=r"unknown mode 'FAST_RUN'; the modes are None .* and 'debug'"):
        tensorir.function([x], x * 2, mode="FAST_RUN")
