"""`bufferize` (passes/bufferize.py): every core tensor op, checked numerically.

Each case is a function in text; the reference interpreter runs it before and after the pass on
random inputs, in several layouts (contiguous, transposed, sliced with steps), and the results
must agree. The arguments of the bufferized function are passed read-only, so a write into an
argument fails; results must be fresh arrays (sharing memory with no input and no other result).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tensorir.dialects import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.core import OP_REGISTRY, TirError
from tensorir.ir.printer import print_module
from tensorir.ir.types import TensorType
from tensorir.ir.verifier import verify
from tensorir.passes import run_pipeline
from tensorir.passes.bufferize_rules import CORE_OPS, RULES
from tensorir.runtime.interpreter import run

RNG = np.random.default_rng(3)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def f64(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def i64(*shape: int, lo: int = -3, hi: int = 3) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(np.int64)


def layouts(a: np.ndarray) -> list[np.ndarray]:
    """The same values contiguous, transposed in memory, and as a stepped slice of a bigger array."""
    out = [np.array(a, order="C", copy=True)]
    if a.ndim >= 2:
        out.append(np.asfortranarray(a))
    if a.ndim >= 1:
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        out.append(view)
    return out


def read_only(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        v = a.view()
        v.flags.writeable = False
        return v
    return a


def bufferized(text: str) -> tuple[Any, Any]:
    before = parse(text)
    verify(before)
    after = parse(text)
    run_pipeline(after, "bufferize")
    for op in after.walk():
        for v in op.results:
            if isinstance(v.type, TensorType):
                assert op.name == "tensor.constant", f"tensor value left by bufferize: {op}"
                assert all(u.op.name == "mem.buffer_of" for u in v.uses)
    printed = print_module(after)
    assert print_module(parse(printed)) == printed
    return before, after


def check(text: str, *args: np.ndarray, all_layouts: bool = True, rtol: float = 1e-5) -> list[np.ndarray]:
    before, after = bufferized(text)
    variants = [list(args)]
    if all_layouts:
        for k in range(1, 3):
            variants.append([layouts(a)[min(k, len(layouts(a)) - 1)] if isinstance(a, np.ndarray) else a
                             for a in args])
    outs: list[np.ndarray] = []
    for vs in variants:
        ref = run(before, "f", *vs)
        ins = [read_only(a) for a in vs]
        outs = run(after, "f", *ins)
        assert len(ref) == len(outs)
        for r, o in zip(ref, outs):
            r = np.asarray(r)
            assert isinstance(o, np.ndarray) and o.dtype == r.dtype and o.shape == r.shape, (o, r)
            np.testing.assert_allclose(o, r, rtol=rtol, atol=1e-6)
            assert o.flags.c_contiguous and o.flags.writeable
            for a in ins:
                if isinstance(a, np.ndarray):
                    assert not np.shares_memory(o, a)
        for j, o in enumerate(outs):
            for o2 in outs[j + 1:]:
                assert not np.shares_memory(o, o2)
    return outs


# ---------------------------------------------------------------- generic forms


GENERIC_2D = """
func.func @f(%x: tensor<?x?xf32>, %b: tensor<?xf32>) -> (tensor<?xf32>, tensor<?x?xf32>, tensor<?x1xf32>) {
  %r = tensor.generic %x, %b {maps = [[0, 1], [1], [0]], iterators = ["parallel", "reduction"], inits = [0.0]} ({
  ^bb0(%xv: f32, %bv: f32, %acc: f32):
    %t = scalar.mul %xv, %bv : f32
    %s = scalar.add %acc, %t : f32
    scalar.yield %s : f32
  })
  %e = tensor.generic %x, %b {maps = [[0, 1], [1], [1, 0]], iterators = ["parallel", "parallel"]} ({
  ^bb0(%xv: f32, %bv: f32, %o: f32):
    %t = scalar.exp %xv : f32
    %s = scalar.add %t, %bv : f32
    scalar.yield %s : f32
  })
  %m = tensor.generic %x {maps = [[0, 1], [0, -1]], iterators = ["parallel", "reduction"], inits = [-inf]} ({
  ^bb0(%xv: f32, %acc: f32):
    %n = scalar.maximum %xv, %acc : f32
    scalar.yield %n : f32
  })
  func.return %r, %e, %m : tensor<?xf32>, tensor<?x?xf32>, tensor<?x1xf32>
}
"""


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (3, 1), (0, 4), (3, 0)])
def test_generic_reduction_keepdims_transposed(shape: tuple[int, int]) -> None:
    x = f32(*shape)
    check(GENERIC_2D, x, f32(shape[1]))


def test_generic_broadcasts_size_one_at_run_time() -> None:
    # b has size 1 at run time against x's 4 columns (and the other way round).
    check(GENERIC_2D, f32(3, 4), f32(1))
    check(GENERIC_2D, f32(3, 1), f32(5))
    _, after = bufferized(GENERIC_2D)
    with pytest.raises(TirError, match="do not broadcast"):
        run(after, "f", f32(3, 4), f32(5))


ARGMAX = """
func.func @f(%x: tensor<?x?xf64>) -> (tensor<?xi64>, tensor<?xf64>) {
  %am, %mv = tensor.generic %x {maps = [[0, 1], [0], [0]], iterators = ["parallel", "reduction"],
                                inits = [0, -inf]} ({
  ^bb0(%xv: f64, %ai: i64, %m: f64):
    %j = tensor.index {dim = 1} : index
    %ji = scalar.cast %j {dtype = i64} : i64
    %gt = scalar.gt %xv, %m : i1
    %nm = scalar.select %gt, %xv, %m : f64
    %ni = scalar.select %gt, %ji, %ai : i64
    scalar.yield %ni, %nm : i64, f64
  }) : tensor<?xi64>, tensor<?xf64>
  func.return %am, %mv : tensor<?xi64>, tensor<?xf64>
}
"""


def test_generic_two_outputs_with_index() -> None:
    check(ARGMAX, f64(4, 6))


ZERO_D = """
func.func @f(%x: tensor<f32>, %y: tensor<?xf32>) -> (tensor<f32>, tensor<f32>, tensor<?xf32>) {
  %a = tensor.exp %x : tensor<f32>
  %s = tensor.sum %y : tensor<f32>
  %b = tensor.mul %y, %x : tensor<?xf32>
  func.return %a, %s, %b : tensor<f32>, tensor<f32>, tensor<?xf32>
}
"""


def test_zero_d_and_empty() -> None:
    check(ZERO_D, np.array(0.5, np.float32), f32(5))
    check(ZERO_D, np.array(0.5, np.float32), f32(0))


# ---------------------------------------------------------------- bare elementwise ops and reductions


def _unary(op: str, dt: str = "f64", rt: str | None = None) -> str:
    rt = rt or dt
    return f"""
func.func @f(%x: tensor<?x?x{dt}>) -> tensor<?x?x{rt}> {{
  %y = tensor.{op} %x : tensor<?x?x{rt}>
  func.return %y : tensor<?x?x{rt}>
}}"""


ELEMENTWISE_CASES: dict[str, tuple[str, list[Any]]] = {
    "exp": (_unary("exp"), [f64(3, 4)]),
    "neg_i64": (_unary("neg", "i64"), [i64(3, 4)]),
    "sigmoid": (_unary("sigmoid", "f32"), [f32(2, 5)]),
    "relu": (_unary("relu"), [f64(2, 3)]),
    "cast": ("""
func.func @f(%x: tensor<?x?xf64>) -> tensor<?x?xi32> {
  %y = tensor.cast %x {dtype = i32} : tensor<?x?xi32>
  func.return %y : tensor<?x?xi32>
}""", [f64(3, 4) * 10]),
    "add_broadcast_mixed": ("""
func.func @f(%x: tensor<?x?xf32>, %y: tensor<?xf64>) -> tensor<?x?xf64> {
  %z = tensor.add %x, %y : tensor<?x?xf64>
  func.return %z : tensor<?x?xf64>
}""", [f32(3, 4), f64(4)]),
    "where_clip": ("""
func.func @f(%c: tensor<?xi1>, %x: tensor<?x?xf64>, %lo: tensor<f64>) -> (tensor<?x?xf64>, tensor<?x?xf64>) {
  %w = tensor.where %c, %x, %lo : tensor<?x?xf64>
  %k = tensor.clip %x, %lo, %w : tensor<?x?xf64>
  func.return %w, %k : tensor<?x?xf64>, tensor<?x?xf64>
}""", [RNG.random(4) > 0.5, f64(3, 4), np.array(0.1)]),
    "compare": ("""
func.func @f(%x: tensor<?xf64>, %y: tensor<?xf64>) -> tensor<?xi1> {
  %z = tensor.lt %x, %y : tensor<?xi1>
  func.return %z : tensor<?xi1>
}""", [f64(5), f64(5)]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_CASES))
def test_bare_elementwise(name: str) -> None:
    text, args = ELEMENTWISE_CASES[name]
    check(text, *args)


def _reduce(op: str, attrs: str, rt: str, dt: str = "f64") -> str:
    return f"""
func.func @f(%x: tensor<?x?x?x{dt}>) -> {rt} {{
  %y = tensor.{op} %x {attrs} : {rt}
  func.return %y : {rt}
}}"""


REDUCTION_CASES: dict[str, tuple[str, list[Any]]] = {
    "sum_axis1": (_reduce("sum", "{axes = [1]}", "tensor<?x?xf64>"), [f64(2, 3, 4)]),
    "sum_all": (_reduce("sum", "", "tensor<f64>"), [f64(2, 3, 4)]),
    "sum_i32_to_i64": (_reduce("sum", "{axes = [0, 2]}", "tensor<?xi64>", "i32"),
                       [i64(2, 3, 4).astype(np.int32)]),
    "prod_keepdims": (_reduce("prod", "{axes = [2], keepdims = true}", "tensor<?x?x1xf64>"), [f64(2, 3, 4)]),
    "max": (_reduce("max", "{axes = [0]}", "tensor<?x?xf64>"), [f64(2, 3, 4)]),
    "min_i64": (_reduce("min", "{axes = [1, 2]}", "tensor<?xi64>", "i64"), [i64(2, 3, 4)]),
    "all": (_reduce("all", "{axes = [1]}", "tensor<?x?xi1>"), [np.round(f64(2, 3, 4))]),
    "any": (_reduce("any", "{axes = [1]}", "tensor<?x?xi1>"), [np.round(f64(2, 3, 4) / 3)]),
    "argmax_axis": (_reduce("argmax", "{axes = [1]}", "tensor<?x?xi64>"), [f64(2, 5, 3)]),
    "argmin_flat": (_reduce("argmin", "", "tensor<i64>"), [f64(2, 3, 4)]),
    "argmax_keepdims": (_reduce("argmax", "{axes = [2], keepdims = true}", "tensor<?x?x1xi64>", "i64"),
                        [i64(2, 3, 5)]),
}


@pytest.mark.parametrize("name", sorted(REDUCTION_CASES))
def test_bare_reduction(name: str) -> None:
    text, args = REDUCTION_CASES[name]
    check(text, *args)


def test_argmax_nan_and_empty_axis() -> None:
    text = REDUCTION_CASES["argmax_axis"][0]
    x = f64(2, 5, 3)
    x[0, 3, 1] = np.nan
    x[1, 1, 2] = x[1, 4, 2] = np.nan
    check(text, x)
    _, after = bufferized(REDUCTION_CASES["max"][0])
    with pytest.raises(TirError, match="no identity"):
        run(after, "f", np.zeros((0, 2, 3)))


# ---------------------------------------------------------------- linear algebra


def _dot(op: str, ta: str, tb: str, tr: str) -> str:
    return f"""
func.func @f(%a: {ta}, %b: {tb}) -> {tr} {{
  %c = tensor.{op} %a, %b : {tr}
  func.return %c : {tr}
}}"""


DOT_CASES: dict[str, tuple[str, list[Any]]] = {
    "gemm": (_dot("dot", "tensor<?x?xf32>", "tensor<?x?xf32>", "tensor<?x?xf32>"), [f32(3, 4), f32(4, 5)]),
    "gemv": (_dot("dot", "tensor<?x?xf64>", "tensor<?xf64>", "tensor<?xf64>"), [f64(3, 4), f64(4)]),
    "vecmat": (_dot("matmul", "tensor<?xf64>", "tensor<?x?xf64>", "tensor<?xf64>"), [f64(4), f64(4, 3)]),
    "vecvec": (_dot("dot", "tensor<?xf32>", "tensor<?xf32>", "tensor<f32>"), [f32(6), f32(6)]),
    "empty_k": (_dot("dot", "tensor<?x?xf64>", "tensor<?x?xf64>", "tensor<?x?xf64>"), [f64(3, 0), f64(0, 2)]),
    "int": (_dot("dot", "tensor<?x?xi64>", "tensor<?x?xi64>", "tensor<?x?xi64>"), [i64(3, 4), i64(4, 2)]),
    "mixed": (_dot("matmul", "tensor<?x?xf32>", "tensor<?xf64>", "tensor<?xf64>"), [f32(3, 4), f64(4)]),
    "dot_3d_2d": (_dot("dot", "tensor<?x?x?xf64>", "tensor<?x?xf64>", "tensor<?x?x?xf64>"),
                  [f64(2, 3, 4), f64(4, 5)]),
    "dot_2d_3d": (_dot("dot", "tensor<?x?xf64>", "tensor<?x?x?xf64>", "tensor<?x?x?xf64>"),
                  [f64(3, 4), f64(2, 4, 5)]),
    "dot_scalar": (_dot("dot", "tensor<f64>", "tensor<?x?xf64>", "tensor<?x?xf64>"), [np.array(2.0), f64(2, 3)]),
    "batched": (_dot("matmul", "tensor<?x?x?xf32>", "tensor<?x?xf32>", "tensor<?x?x?xf32>"),
                [f32(2, 3, 4), f32(4, 5)]),
    "batched_broadcast": (_dot("matmul", "tensor<?x1x?x?xf64>", "tensor<3x?x?xf64>", "tensor<?x3x?x?xf64>"),
                          [f64(2, 1, 3, 4), f64(3, 4, 2)]),
    "batched_vec": (_dot("matmul", "tensor<?x?x?xf64>", "tensor<?xf64>", "tensor<?x?xf64>"),
                    [f64(2, 3, 4), f64(4)]),
}


@pytest.mark.parametrize("name", sorted(DOT_CASES))
def test_dot_matmul(name: str) -> None:
    text, args = DOT_CASES[name]
    check(text, *args)


def test_gemm_uses_blas_and_checks_contraction() -> None:
    _, after = bufferized(DOT_CASES["gemm"][0])
    assert "lib.gemm" in print_module(after)
    with pytest.raises(TirError, match=r"contraction dims 4 and 5 do not match"):
        run(after, "f", f32(3, 4), f32(5, 5))
    _, after = bufferized(DOT_CASES["vecvec"][0])
    assert "lib.gemv" in print_module(after)


# ---------------------------------------------------------------- views and shapes


VIEW_CASES: dict[str, tuple[str, list[Any]]] = {
    "transpose": ("""
func.func @f(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = tensor.transpose %x {perm = [2, 0, 1]} : tensor<?x?x?xf32>
  %z = tensor.exp %y : tensor<?x?x?xf32>
  func.return %z : tensor<?x?x?xf32>
}""", [f32(2, 3, 4)]),
    "transpose_returned": ("""
func.func @f(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = tensor.transpose %x : tensor<?x?xf32>
  func.return %y : tensor<?x?xf32>
}""", [f32(2, 3)]),
    "reshape_arg": ("""
func.func @f(%x: tensor<?x?xf64>, %n: tensor<i64>) -> (tensor<?x?xf64>, tensor<?xf64>) {
  %y = tensor.reshape %x sizes %n {shape = [?, -1]} : tensor<?x?xf64>
  %z = tensor.reshape %x {shape = [-1]} : tensor<?xf64>
  func.return %y, %z : tensor<?x?xf64>, tensor<?xf64>
}""", [f64(4, 3), np.array(2)]),
    "reshape_alloc": ("""
func.func @f(%x: tensor<?x?xf64>) -> tensor<?x2x?xf64> {
  %e = tensor.exp %x : tensor<?x?xf64>
  %y = tensor.reshape %e {shape = [3, 2, -1]} : tensor<3x2x?xf64>
  %z = tensor.neg %y : tensor<3x2x?xf64>
  func.return %z : tensor<3x2x?xf64>
}""", [f64(4, 3)]),
    "squeeze": ("""
func.func @f(%x: tensor<?x1x?xf32>, %y: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>) {
  %t = tensor.transpose %x {perm = [2, 1, 0]} : tensor<?x1x?xf32>
  %a = tensor.squeeze %t {axes = [1]} : tensor<?x?xf32>
  %b = tensor.squeeze %y {axes = [0]} : tensor<?xf32>
  func.return %a, %b : tensor<?x?xf32>, tensor<?xf32>
}""", [f32(3, 1, 4), f32(1, 5)]),
    "broadcast_to": ("""
func.func @f(%x: tensor<?x1xf32>, %n: tensor<i64>) -> tensor<2x?x?xf32> {
  %y = tensor.broadcast_to %x sizes %n {shape = [2, 3, ?]} : tensor<2x3x?xf32>
  func.return %y : tensor<2x3x?xf32>
}""", [f32(3, 1), np.array(4)]),
    "subtensor": ("""
func.func @f(%x: tensor<?x?x?xf64>, %i: tensor<i64>) -> (tensor<?x?xf64>, tensor<?x?x?xf64>) {
  %a = tensor.subtensor %x bounds %i {begin = [1, none, ?], end = [none, none, none], step = [none, 2, none],
                                       index_dims = [2]} : tensor<?x?xf64>
  %b = tensor.subtensor %x {begin = [-1, 5, none], end = [-4, -6, none], step = [-1, -2, none]} : tensor<?x?x?xf64>
  func.return %a, %b : tensor<?x?xf64>, tensor<?x?x?xf64>
}""", [f64(4, 7, 3), np.array(-1)]),
    "subtensor_dynamic": ("""
func.func @f(%x: tensor<?x?xf64>, %b: tensor<i64>, %e: tensor<i64>, %s: tensor<i64>) -> tensor<?x?xf64> {
  %a = tensor.subtensor %x bounds %b, %e, %s {begin = [?, 1], end = [?, none], step = [?, -1]} : tensor<?x?xf64>
  func.return %a : tensor<?x?xf64>
}""", [f64(6, 4), np.array(-2), np.array(0), np.array(-1)]),
    "shape": ("""
func.func @f(%x: tensor<?x3x?xf32>) -> tensor<3xi64> {
  %s = tensor.shape %x : tensor<3xi64>
  func.return %s : tensor<3xi64>
}""", [f32(2, 3, 0)]),
    "constant": ("""
func.func @f(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<2xf32>) {
  %c = tensor.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>
  %y = tensor.add %x, %c : tensor<?x2xf32>
  func.return %y, %c : tensor<?x2xf32>, tensor<2xf32>
}""", [f32(3, 2)]),
}


@pytest.mark.parametrize("name", sorted(VIEW_CASES))
def test_views(name: str) -> None:
    text, args = VIEW_CASES[name]
    check(text, *args)


@pytest.mark.parametrize("bounds", [(0, 5, 1), (-1, -100, -1), (10, 0, -3), (2, 2, 1), (-3, 100, 2), (5, -7, -2)])
def test_subtensor_dynamic_bounds_like_python(bounds: tuple[int, int, int]) -> None:
    text = VIEW_CASES["subtensor_dynamic"][0]
    b, e, s = bounds
    check(text, f64(6, 4), np.array(b), np.array(e), np.array(s))


COLUMN_GENERIC = """
func.func @f(%x: tensor<?x?xf32>, %b: tensor<?xf32>) -> tensor<?x?xf32> {
  %e = tensor.generic %x, %b {maps = [[0, 1], [0], [0, 1]], iterators = ["parallel", "parallel"]} ({
  ^bb0(%xv: f32, %bv: f32, %o: f32):
    %s = scalar.add %xv, %bv : f32
    scalar.yield %s : f32
  })
  func.return %e : tensor<?x?xf32>
}
"""


def test_a_generic_that_does_not_align_as_numpy_gets_no_numpy_broadcast_check() -> None:
    # b runs along dim 0 of x (not numpy's alignment): checked against x's rows, not as `x + b` would be.
    check(COLUMN_GENERIC, f32(3, 4), f32(3))
    _, after = bufferized(COLUMN_GENERIC)
    with pytest.raises(TirError, match="do not broadcast"):
        run(after, "f", f32(3, 4), f32(4))


def test_bad_reshape_and_broadcast_fail() -> None:
    _, after = bufferized(VIEW_CASES["reshape_arg"][0])
    with pytest.raises(TirError, match="cannot reshape"):
        run(after, "f", f64(4, 3), np.array(5))
    _, after = bufferized(VIEW_CASES["broadcast_to"][0])
    with pytest.raises(TirError, match=r"operand shape \(2, 1\) does not broadcast to \(2, 3, 4\): dimension 1 "
                                       "has sizes 2 and 3"):
        run(after, "f", f32(2, 1), np.array(4))


def test_squeeze_of_a_dynamic_dim_that_is_not_1_fails_as_in_the_interpreter() -> None:
    before, after = bufferized(VIEW_CASES["squeeze"][0])
    with pytest.raises(TirError) as ref:
        run(before, "f", f32(3, 1, 4), f32(2, 5))
    with pytest.raises(TirError) as got:
        run(after, "f", f32(3, 1, 4), f32(2, 5))
    assert str(got.value) == str(ref.value)
    assert "cannot squeeze dimension 0 of size 2: only a dimension of size 1" in str(got.value)


# ---------------------------------------------------------------- indexing and updates


INDEX_CASES: dict[str, tuple[str, list[Any]]] = {
    "take": ("""
func.func @f(%x: tensor<?x?xf32>, %i: tensor<?x?xi64>) -> (tensor<?x?x?xf32>, tensor<?x?xf32>) {
  %a = tensor.take %x, %i {axis = 1} : tensor<?x?x?xf32>
  %b = tensor.take %x, %i : tensor<?x?xf32>
  func.return %a, %b : tensor<?x?x?xf32>, tensor<?x?xf32>
}""", [f32(3, 4), i64(2, 5, lo=-4, hi=4)]),
    "set_take": ("""
func.func @f(%x: tensor<?x?xf64>, %i: tensor<?xi32>, %y: tensor<?xf64>) -> (tensor<?x?xf64>, tensor<?x?xf64>) {
  %a = tensor.set_take %x, %i, %y {axis = 0} : tensor<?x?xf64>
  %b = tensor.inc_take %x, %i, %y {axis = 0} : tensor<?x?xf64>
  func.return %a, %b : tensor<?x?xf64>, tensor<?x?xf64>
}""", [f64(4, 3), np.array([0, -1, 0, 2, 0], np.int32), f64(3)]),
    "inc_take_axis1": ("""
func.func @f(%x: tensor<?x?xf64>, %i: tensor<?xi64>, %y: tensor<?x?xf64>) -> tensor<?x?xf64> {
  %e = tensor.exp %x : tensor<?x?xf64>
  %b = tensor.inc_take %e, %i, %y {axis = 1} : tensor<?x?xf64>
  func.return %b : tensor<?x?xf64>
}""", [f64(2, 4), np.array([1, 1, 3]), f64(2, 3)]),
    "set_subtensor": ("""
func.func @f(%x: tensor<?x?xf64>, %y: tensor<?xf32>) -> (tensor<?x?xf64>, tensor<?x?xf64>) {
  %a = tensor.set_subtensor %x, %y {begin = [1], end = [none], step = [2]} : tensor<?x?xf64>
  %b = tensor.inc_subtensor %x, %y {begin = [2], end = [none], step = [none], index_dims = [0]} : tensor<?x?xf64>
  func.return %a, %b : tensor<?x?xf64>, tensor<?x?xf64>
}""", [f64(5, 4), f32(4).astype(np.float32)]),
    "inc_subtensor_in_place": ("""
func.func @f(%x: tensor<?x?xf64>, %y: tensor<f64>) -> tensor<?x?xf64> {
  %e = tensor.exp %x : tensor<?x?xf64>
  %b = tensor.inc_subtensor %e, %y {begin = [-2], end = [none], step = [none]} : tensor<?x?xf64>
  func.return %b : tensor<?x?xf64>
}""", [f64(5, 4), np.array(3.0)]),
    "concatenate": ("""
func.func @f(%x: tensor<?x?xf32>, %y: tensor<?x?xf64>) -> (tensor<?x?xf64>, tensor<?x?xf32>) {
  %a = tensor.concatenate %x, %y, %x {axis = 1} : tensor<?x?xf64>
  %b = tensor.concatenate %x, %x {axis = 0} : tensor<?x?xf32>
  func.return %a, %b : tensor<?x?xf64>, tensor<?x?xf32>
}""", [f32(3, 2), f64(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(INDEX_CASES))
def test_indexing(name: str) -> None:
    text, args = INDEX_CASES[name]
    check(text, *args)


def test_out_of_range_take_fails() -> None:
    _, after = bufferized(INDEX_CASES["take"][0])
    with pytest.raises(TirError, match="out of bounds"):
        run(after, "f", f32(3, 4), np.array([[0, 4]]))
    _, after = bufferized(INDEX_CASES["set_take"][0])
    with pytest.raises(TirError, match="out of bounds"):
        run(after, "f", f64(4, 3), np.array([-5], np.int32), f64(3))


# ---------------------------------------------------------------- creation


CREATION_CASES: dict[str, tuple[str, list[Any]]] = {
    "zeros_ones": ("""
func.func @f(%n: tensor<i64>) -> (tensor<?x3xf32>, tensor<2x?xi32>, tensor<i1>) {
  %z = tensor.zeros %n {shape = [?, 3], dtype = f32} : tensor<?x3xf32>
  %o = tensor.ones %n {shape = [2, ?], dtype = i32} : tensor<2x?xi32>
  %b = tensor.ones {shape = [], dtype = i1} : tensor<i1>
  func.return %z, %o, %b : tensor<?x3xf32>, tensor<2x?xi32>, tensor<i1>
}""", [np.array(4)]),
    "alloc": ("""
func.func @f(%v: tensor<?xf64>, %n: tensor<i64>) -> tensor<?x?xf64> {
  %a = tensor.alloc %v sizes %n {shape = [?, 3]} : tensor<?x3xf64>
  func.return %a : tensor<?x3xf64>
}""", [f64(3), np.array(2)]),
    "eye": ("""
func.func @f(%n: tensor<i64>, %k: tensor<i64>) -> (tensor<?x4xf32>, tensor<3x3xi64>) {
  %e = tensor.eye %n, %k {n = ?, m = 4, k = ?, dtype = f32} : tensor<?x4xf32>
  %f = tensor.eye {n = 3, dtype = i64} : tensor<3x3xi64>
  func.return %e, %f : tensor<?x4xf32>, tensor<3x3xi64>
}""", [np.array(3), np.array(-1)]),
    "arange": ("""
func.func @f(%n: tensor<i64>, %s: tensor<f64>) -> (tensor<?xi64>, tensor<5xf64>, tensor<?xf64>, tensor<?xi64>) {
  %a = tensor.arange %n {start = 1, stop = ?, step = 2} : tensor<?xi64>
  %b = tensor.arange {start = 0.5, stop = 3.0, step = 0.5} : tensor<5xf64>
  %c = tensor.arange %s {start = 4, stop = ?, step = -1.5} : tensor<?xf64>
  %d = tensor.arange %n {start = 10, stop = ?, step = -3} : tensor<?xi64>
  func.return %a, %b, %c, %d : tensor<?xi64>, tensor<5xf64>, tensor<?xf64>, tensor<?xi64>
}""", [np.array(8), np.array(-0.5)]),
}


@pytest.mark.parametrize("name", sorted(CREATION_CASES))
def test_creation(name: str) -> None:
    text, args = CREATION_CASES[name]
    check(text, *args, all_layouts=False)


# ---------------------------------------------------------------- buffers: in place, deallocs, results


CHAIN = """
func.func @f(%x: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>) {
  %a = tensor.exp %x : tensor<?x?xf32>
  %b = tensor.neg %a : tensor<?x?xf32>
  %c = tensor.transpose %b : tensor<?x?xf32>
  %d = tensor.sin %c : tensor<?x?xf32>
  func.return %b, %d : tensor<?x?xf32>, tensor<?x?xf32>
}
"""


def test_in_place_reuse_and_deallocs() -> None:
    _, after = bufferized(CHAIN)
    text = print_module(after)
    assert text.count("mem.alloc") == 2  # neg writes into exp's buffer; sin's output is new
    assert "mem.dealloc" not in text  # both allocs are returned
    check(CHAIN, f32(3, 4))


def test_no_in_place_when_the_buffer_is_also_read_transposed() -> None:
    text = """
func.func @f(%x: tensor<?x?xf64>) -> tensor<?x?xf64> {
  %a = tensor.exp %x : tensor<?x?xf64>
  %b = tensor.generic %a, %a {maps = [[0, 1], [1, 0], [0, 1]], iterators = ["parallel", "parallel"]} ({
  ^bb0(%u: f64, %v: f64, %o: f64):
    %s = scalar.sub %u, %v : f64
    scalar.yield %s : f64
  }) : tensor<?x?xf64>
  %r = tensor.reshape %b {shape = [-1]} : tensor<?xf64>
  %q = tensor.reshape %r {shape = [2, -1]} : tensor<2x?xf64>
  func.return %q : tensor<2x?xf64>
}"""
    _, after = bufferized(text)
    assert print_module(after).count("mem.copy") == 1  # the result (a view); the second reshape is a view
    check(text, f64(4, 4))


def test_dealloc_after_last_use_of_a_view() -> None:
    text = """
func.func @f(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %a = tensor.exp %x : tensor<?x?xf32>
  %t = tensor.transpose %a : tensor<?x?xf32>
  %d = tensor.add %t, %t : tensor<?x?xf32>
  func.return %d : tensor<?x?xf32>
}"""
    _, after = bufferized(text)
    ops = [op.name for op in after.walk()]
    assert ops.count("mem.dealloc") == 1
    assert ops.index("mem.dealloc") > len(ops) - 1 - ops[::-1].index("mem.generic")
    check(text, f32(3, 4))


def test_results_are_copied_when_aliased() -> None:
    text = """
func.func @f(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %e = tensor.exp %x : tensor<?xf32>
  func.return %x, %e, %e : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}"""
    _, after = bufferized(text)
    assert print_module(after).count("mem.copy") == 2
    check(text, f32(5))


def test_writing_an_argument_is_caught() -> None:
    # The oracle this file relies on: a function that writes into its (read-only) argument fails.
    from tensorir.frontend.parser import parse as p
    m = p("""
func.func @f(%x: memref<?xf32, strides=[?]>) -> memref<?xf32, strides=[?]> {
  %c = scalar.constant {value = 1.0 : f32} : f32
  %i = scalar.constant {value = 0 : index} : index
  mem.store %c, %x indices %i : f32, memref<?xf32, strides=[?]>, index
  func.return %x : memref<?xf32, strides=[?]>
}""")
    with pytest.raises(TirError, match="read-only"):
        run(m, "f", read_only(f32(3)))


# ---------------------------------------------------------------- coverage


NUMERIC_TESTS: dict[str, list[str]] = {
    "tensor.generic": ["GENERIC_2D"], "tensor.sum": ["sum_all"], "tensor.prod": ["prod_keepdims"],
    "tensor.max": ["max"], "tensor.min": ["min_i64"], "tensor.all": ["all"], "tensor.any": ["any"],
    "tensor.argmax": ["argmax_axis"], "tensor.argmin": ["argmin_flat"], "tensor.dot": ["gemm"],
    "tensor.matmul": ["batched"], "tensor.reshape": ["reshape_arg"], "tensor.transpose": ["transpose"],
    "tensor.broadcast_to": ["broadcast_to"], "tensor.subtensor": ["subtensor"], "tensor.take": ["take"],
    "tensor.set_take": ["set_take"], "tensor.inc_take": ["set_take"], "tensor.set_subtensor": ["set_subtensor"],
    "tensor.inc_subtensor": ["set_subtensor"], "tensor.concatenate": ["concatenate"],
    "tensor.zeros": ["zeros_ones"], "tensor.ones": ["zeros_ones"], "tensor.alloc": ["alloc"],
    "tensor.arange": ["arange"], "tensor.eye": ["eye"], "tensor.constant": ["constant"], "tensor.shape": ["shape"],
    "tensor.squeeze": ["squeeze"],
}


def _all_case_texts() -> list[str]:
    texts = [GENERIC_2D, ARGMAX, ZERO_D]
    for table in (ELEMENTWISE_CASES, REDUCTION_CASES, DOT_CASES, VIEW_CASES, INDEX_CASES, CREATION_CASES):
        texts += [t for t, _ in table.values()]
    return texts


def test_every_core_op_has_a_rule_and_a_numeric_test() -> None:
    elementwise = [c for n, c in OP_REGISTRY.items() if n.startswith("tensor.") and issubclass(c, T.ElementwiseOp)]
    missing = [c.name for c in [*CORE_OPS, *elementwise] if c not in RULES]
    assert not missing, f"core tensor ops without a bufferize rule: {missing}"
    texts = "\n".join(_all_case_texts())
    untested = [c.name for c in CORE_OPS if f"{c.name} " not in texts]
    assert not untested, f"core tensor ops without a numeric test: {untested}"
    assert set(NUMERIC_TESTS) == {c.name for c in CORE_OPS}


def test_unknown_op_is_an_error() -> None:
    text = """
func.func @f(%x: tensor<?x?xf32>) -> tensor<?xf32> {
  %y = tensor.softmax %x {axis = -1} : tensor<?x?xf32>
  %z = tensor.sum %y {axes = [1]} : tensor<?xf32>
  func.return %z : tensor<?xf32>
}"""
    with pytest.raises(TirError, match="no rule for 'tensor.softmax'"):
        bufferized(text)


_: Callable[..., Any] = check
