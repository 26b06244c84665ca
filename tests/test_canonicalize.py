"""The rewrites of `canonicalize` (passes/canonicalize.py and the op classes' patterns) through
`tensorir.function`: their golden text is tests/ir/canonicalize.tir and constant-fold.tir; here each
family of rewrites, as a user writes it, fires in the API's graphs, and the compiled function (target
"c") computes what the reference interpreter computes running the function as built (before any pass).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.runtime.interpreter import run

GOLDEN = Path(__file__).parent / "ir"


def _algebra() -> tuple[list[Any], list[Any], list[np.ndarray], list[str]]:
    """Constant collection, cancellation, negation forms, powers, exp(log), sum of a scaled tensor."""
    x, y = T.vector("x"), T.vector("y")
    a, b = T.tensor("float64", shape=(5,), name="a"), T.tensor("float64", shape=(5,), name="b")
    m = T.matrix("m")
    outs = [(x * 2) * 3, (x + 1) + 2, 5 + (x - 1), (x * 2) / 4, a * b / a, -(x / y), x / (-y), x + (-y),
            x - (-y), -(x * 2), x - x, x ** 2, x ** 0.5, x ** -1, x ** 0, x ** -0.5, T.exp(T.log(y)),
            T.sum(2 * m, axis=0)]
    rng = np.random.default_rng(0)
    args = [rng.uniform(0.5, 2.0, 7), rng.uniform(-2.0, 2.0, 7), rng.uniform(0.5, 2.0, 5),
            rng.uniform(0.5, 2.0, 5), rng.uniform(-1.0, 1.0, (3, 4))]
    # none left: the pow (all powers cheap), the exp and log (exp(log y) -> where), a mul of a mul, a neg of a div
    gone = ["tensor.pow", "tensor.exp", "tensor.log"]
    return [x, y, a, b, m], outs, args, gone


def _shapes() -> tuple[list[Any], list[Any], list[np.ndarray], list[str]]:
    """Transpose/dimshuffle/reshape chains, useless casts/reshapes/broadcasts, fill cut, shape queries,
    subtensor of subtensor."""
    m = T.matrix("m")
    s = T.tensor("float64", shape=(4, 6), name="s")
    outs = [m.T.T, s.dimshuffle(1, 0).dimshuffle("x", 1, 0), T.reshape(T.reshape(s, (24,)), (6, 4)),
            T.cast(m, "float64"), T.broadcast_to(s, (4, 6)), m + T.zeros_like(m), m * T.ones_like(m),
            m + T.fill(m, 2.0), s[1::2][1:], s[:, 1:5][-1], T.cast(m.shape[1] * s.shape[0], "float64")]
    rng = np.random.default_rng(1)
    args = [rng.uniform(-1.0, 1.0, (3, 5)), rng.uniform(-1.0, 1.0, (4, 6))]
    gone = ["tensor.transpose", "tensor.dimshuffle", "tensor.cast %m", "tensor.zeros", "tensor.ones",
            "tensor.alloc", "tensor.shape %s"]
    return [m, s], outs, args, gone


FAMILIES: dict[str, Callable[[], tuple[list[Any], list[Any], list[np.ndarray], list[str]]]] = {
    "algebra": _algebra, "shapes": _shapes}


@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_equals_the_interpreter(family: str) -> None:
    inputs, outs, args, gone = FAMILIES[family]()
    f = tensorir.function(inputs, outs, target="c")
    canon = f.ir("canonicalize")
    assert not [op for op in gone if op in canon], canon  # the rewrites fired
    want = run(parse(f.ir("tensor")), "main", *args)
    got = f(*args)
    assert len(got) == len(want)
    for k, (w, g) in enumerate(zip(want, got)):
        assert g.dtype == w.dtype and g.shape == w.shape, k
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"output {k}")


def test_constants_collected_in_the_api_graph() -> None:
    """`(x*2)*3` from Python is one multiplication by 6; `(x+1)+2` one addition of 3."""
    x = T.vector("x")
    f = tensorir.function([x], [(x * 2) * 3, (x + 1) + 2], target="interp")
    canon = f.ir("canonicalize")
    assert canon.count("tensor.mul") == 1 and canon.count("tensor.add") == 1, canon
    assert "6.0 : f64" in canon and "3.0 : f64" in canon, canon
    np.testing.assert_allclose(f(np.array([1.0, 2.0]))[0], [6.0, 12.0])


@pytest.mark.parametrize("name", ["canonicalize.tir", "constant-fold.tir"])
def test_fixed_point(name: str) -> None:
    """No two rewrites undo each other: one run of the pass (bounded by max-iterations) reaches a fixed
    point, so a second run changes nothing."""
    module = parse((GOLDEN / name).read_text(), name)
    assert CanonicalizePass().run(module)
    before = str(module)
    assert not CanonicalizePass().run(module), name
    assert str(module) == before


@pytest.mark.parametrize("shape", [(3, 4), (None, None)])
def test_decomposed_max_guard_survives(shape: tuple[int | None, ...]) -> None:
    """decompose shifts softmax/logsumexp by the max where it is finite; canonicalize must not cancel
    that test (once `m - m == 0`, which `x - x -> 0` folds): a column of -inf has logsumexp -inf, not nan."""
    x = T.tensor("float64", shape=shape, name="x")
    f = tensorir.function([x], [T.logsumexp(x, axis=0), T.nnet.softmax(x, axis=0)], target="c")
    a = np.random.default_rng(2).uniform(-1.0, 1.0, (3, 4))
    a[:, 0] = -np.inf
    want = run(parse(f.ir("tensor")), "main", a)
    got = f(a)
    assert got[0][0] == -np.inf
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12)
