"""fuse-loops, checked numerically: the reference interpreter runs loop IR before and after the pass.

Three sources of IR: the hand-written functions of tests/ir/fuse-loops.tir (the golden file also
checks their text), the IR the real pipeline leaves after `lower-to-loops` for row-wise programs
(softmax, log_softmax, logsumexp, a row normalization) and for programs that must not fuse row by
row (reductions over axis 0, static square shapes so the bounds do match), and compiled C
functions against numpy. The interpreter runs loops element by element: the arrays stay small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.core import Operation
from tensorir.ir.printer import print_module
from tensorir.ir.verifier import verify
from tensorir.passes import PassManager
from tensorir.runtime.interpreter import run

RNG = np.random.default_rng(7)
GOLDEN = Path(__file__).parent / "ir" / "fuse-loops.tir"


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def strided(a: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous layout (the transpose of a transposed copy)."""
    return np.ascontiguousarray(a.T).T


def nests(m: Operation, fn: str) -> int:
    """Top-level loop.parallel nests of function `fn`."""
    for f in m.regions[0].block.ops:
        if f.name == "func.func" and f.attributes.get("sym_name") == fn:
            return sum(op.name == "loop.parallel" for op in f.regions[0].block.ops)
    raise KeyError(fn)


def assert_same(got: Sequence[Any], want: Sequence[Any], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, f"{what}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
        np.testing.assert_array_equal(g, w, err_msg=what)  # the same scalar ops in the same order: bit-exact


def fuse_and_compare(text: str, fn: str, args: Sequence[Any]) -> tuple[int, int]:
    """Runs `fn` before and after fuse-loops; returns the number of top-level nests before and after."""
    m = parse(text, "fuse.tir")
    verify(m)
    want = run(m, fn, *args)
    before = nests(m, fn)
    PassManager("fuse-loops").run(m)
    verify(m)
    assert_same(run(m, fn, *args), want, f"@{fn} after fuse-loops")
    printed = print_module(m)
    assert print_module(parse(printed)) == printed
    return before, nests(m, fn)


# ---------------------------------------------------------------- the golden file's functions

GOLDEN_CASES: dict[str, tuple[Callable[[], list[Any]], int]] = {
    # function -> (inputs, top-level nests after the pass)
    "softmax": (lambda: [strided(rand(5, 7))], 1),
    "different_bounds": (lambda: [rand(4, 6)], 2),
    "column_read": (lambda: [rand(4, 4)], 2),
    "read_only_column": (lambda: [rand(4, 4)], 1),
    "gemm_between": (lambda: [rand(3, 5), rand(5, 4)], 2),
    "transposed_view": (lambda: [rand(5, 5)], 2),
    "host_load_between": (lambda: [np.abs(rand(3, 4))], 2),
    "broadcast_view": (lambda: [strided(rand(4, 6))], 1),
    "whole_nest": (lambda: [strided(rand(3, 4, 5))], 1),
    "whole_nest_transposed": (lambda: [rand(4, 4)], 2),
}


@pytest.mark.parametrize("fn", sorted(GOLDEN_CASES))
def test_golden_functions(fn: str) -> None:
    make, after = GOLDEN_CASES[fn]
    _, got = fuse_and_compare(GOLDEN.read_text(), fn, make())
    assert got == after


def test_golden_file_covers_every_function() -> None:
    m = parse(GOLDEN.read_text())
    names = {f.attributes.get("sym_name") for f in m.regions[0].block.ops if f.name == "func.func"}
    assert names == set(GOLDEN_CASES)


# ---------------------------------------------------------------- IR of the real pipeline


def loops_ir(inputs: list[Any], output: Any) -> str:
    f = tensorir.function(inputs, output, target="c")
    return f.ir("lower-to-loops")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def _exp_colsum(x: np.ndarray) -> np.ndarray:
    e = np.exp(x) * 2
    return e / e.sum(axis=0)


PIPELINE_CASES: dict[str, tuple[Callable[[Any], Any], Callable[[np.ndarray], np.ndarray], int, int]] = {
    # name -> (tensorir expression, numpy reference, top-level nests before and after the pass); a float32
    # sum accumulates in float64, and its cast back joins the nest of its users (fuse-elementwise)
    "softmax": (lambda m: T.nnet.softmax(m), _softmax, 4, 1),
    "log_softmax": (lambda m: T.nnet.log_softmax(m), lambda x: np.log(_softmax(x)), 4, 1),
    "logsumexp": (lambda m: T.logsumexp(m, axis=1), _logsumexp, 4, 1),
    "row_normalize": (lambda m: m / m.sum(axis=1, keepdims=True), lambda x: x / x.sum(axis=1, keepdims=True), 2, 1),
    # exp, column sums, then each element over its column's sum (the sums' cast in it): no two nests touch
    # the same rows
    "exp_colsum": (lambda m: T.exp(m) * 2 / (T.exp(m) * 2).sum(axis=0), _exp_colsum, 3, 3),
    "colsum_then_rows": (lambda m: (m - m.sum(axis=0)).max(axis=1), lambda x: (x - x.sum(axis=0)).max(axis=1), 2, 2),
}


@pytest.mark.parametrize("shape", [None, (6, 6)], ids=["dynamic", "square"])
@pytest.mark.parametrize("name", sorted(PIPELINE_CASES))
def test_pipeline_ir(name: str, shape: tuple[int, int] | None) -> None:
    """Square static shapes give every nest the same bound: only the accesses can keep nests apart."""
    expr, ref, n_before, n_after = PIPELINE_CASES[name]
    m = T.matrix("m", dtype="float32") if shape is None else T.tensor("float32", shape=shape, name="m")
    text = loops_ir([m], expr(m))
    x = strided(rand(*(shape or (5, 7))))
    before, after = fuse_and_compare(text, "main", [x])
    (out,) = run(parse(text), "main", x)
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=2e-5, atol=2e-6)
    assert (before, after) == (n_before, n_after)


def test_nothing_to_fuse_leaves_the_ir_alone() -> None:
    m = T.matrix("m", dtype="float32")
    text = loops_ir([m], T.exp(m) + 1)
    parsed = parse(text)
    assert PassManager("fuse-loops").run(parsed) is False
    assert print_module(parsed) == print_module(parse(text))


# ---------------------------------------------------------------- compiled C against numpy


@pytest.mark.parametrize("name", ["softmax", "logsumexp", "log_softmax", "row_normalize"])
def test_c_target(name: str) -> None:
    expr, ref, _, _ = PIPELINE_CASES[name]
    m = T.matrix("m", dtype="float32")
    f = tensorir.function([m], expr(m), target="c")
    for x in (rand(37, 53), strided(rand(37, 53)), rand(1, 53), rand(37, 1)):
        np.testing.assert_allclose(f(x), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    source = f.source()
    assert source.count("#pragma omp parallel for") == 1, "one fused kernel"


def test_fused_nests_are_bounded_in_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve row sums over the same rows: unbounded, fuse-loops makes one nest of all of them (one C function
    that gcc's time grows faster than); with MAX_FUSED_OPS each fused nest holds at most that many ops, and
    the results stay the same."""
    from tensorir.passes import fuse_loops

    a = T.matrix("a", dtype="float32")
    text = loops_ir([a], [(T.exp(a * k)).sum(axis=1) for k in range(1, 13)])
    x = strided(rand(5, 7))
    monkeypatch.setattr(fuse_loops, "MAX_FUSED_OPS", 10**9)
    _, unbounded = fuse_and_compare(text, "main", [x])
    monkeypatch.setattr(fuse_loops, "MAX_FUSED_OPS", 64)
    before, bounded = fuse_and_compare(text, "main", [x])
    assert unbounded == 1 and 1 < bounded < before
    m = parse(text)
    PassManager("fuse-loops").run(m)
    fn = next(f for f in m.regions[0].block.ops if f.name == "func.func")
    sizes = [fuse_loops.nest_size(op) for op in fn.regions[0].block.ops if op.name == "loop.parallel"]
    assert max(sizes) <= 64


def test_equal_bounds_are_found_once_per_value_in_a_deep_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two nests over a bound made by 12 levels of `n == 1` selects, each reading the level below three times
    (the host's shape arithmetic of a gradient shares its selects so): fused, and each index value's key is
    made once, not once per path through the DAG (3^12 paths)."""
    from tensorir.passes import fuse_loops

    levels = ["  %c1 = scalar.constant {value = 1 : index} : index", "  %a0 = mem.dim %x {axis = 0} : index"]
    for k in range(12):
        levels += [f"  %e{k} = scalar.eq %a{k}, %c1 : i1", f"  %a{k + 1} = scalar.select %e{k}, %a{k}, %a{k} : index"]
    nest = """  loop.parallel %a12 ({{
    ^bb0(%i{k}: index):
      %v{k} = mem.load %x indices %i{k} : f32
      mem.store %v{k}, %o{k} indices %i{k} : f32, memref<?xf32>, index
      loop.yield
  }}) : index"""
    allocs = [f"  %o{k} = mem.alloc sizes %a12 {{shape = [?], dtype = f32}} : memref<?xf32>" for k in range(2)]
    text = "\n".join(["func.func @main(%x: memref<?xf32>) -> (memref<?xf32>, memref<?xf32>) {", *levels, *allocs,
                      nest.format(k=0), nest.format(k=1),
                      "  func.return %o0, %o1 : memref<?xf32>, memref<?xf32>", "}"])
    calls: list[int] = []
    inner = fuse_loops._value_key
    monkeypatch.setattr(fuse_loops, "_value_key", lambda v: calls.append(1) or inner(v))
    m = parse(text)
    assert PassManager("fuse-loops").run(m)
    assert nests(m, "main") == 1
    assert len(calls) < 100
