"""The generic op family (tensor.generic, tensor.index, mem.generic) against numpy.

These ops carry the fused loops of the lowering; their interpreter rule is the
oracle of fuse-elementwise, bufferize and lower-to-loops, so it is tested here
on its own: elementwise with broadcasting and transposed maps, reductions with
keepdims, several outputs, argmax through tensor.index, and buffers with any
strides. Each case also round-trips through text.
"""

from __future__ import annotations

import numpy as np
import pytest
from tensorir.frontend.parser import parse
from tensorir.ir.core import OP_REGISTRY, TirError, VerifyError
from tensorir.ir.printer import print_module
from tensorir.ir.verifier import verify
from tensorir.runtime.interpreter import run

GENERIC_OPS = {"tensor.generic", "tensor.index", "mem.generic"}
RNG = np.random.default_rng(7)


def compile_text(text: str):
    m = parse(text)
    verify(m)
    printed = print_module(m)
    assert print_module(parse(printed)) == printed
    assert print_module(parse(print_module(m, generic=True))) == printed
    return m


DOT_EXP = """
func.func @f(%x: tensor<?x?xf32>, %b: tensor<?xf32>) -> (tensor<?xf32>, tensor<?x?xf32>) {
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
  func.return %r, %e : tensor<?xf32>, tensor<?x?xf32>
}
"""


@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (4, 1), (0, 3), (3, 0)])
def test_reduction_and_transposed_elementwise(shape: tuple[int, int]) -> None:
    m = compile_text(DOT_EXP)
    x = RNG.standard_normal(shape).astype(np.float32)
    b = RNG.standard_normal(shape[1]).astype(np.float32)
    r, e = run(m, "f", x, b)
    np.testing.assert_allclose(r, x @ b if x.size else np.zeros(shape[0], np.float32), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e, (np.exp(x) + b).T, rtol=1e-6)
    assert r.dtype == np.float32 and e.shape == shape[::-1]


def test_broadcasting_of_size_one_dims_at_run_time() -> None:
    m = compile_text(DOT_EXP)
    x = RNG.standard_normal((3, 1)).astype(np.float32)
    b = RNG.standard_normal(5).astype(np.float32)
    _, e = run(m, "f", x, b)
    np.testing.assert_allclose(e, (np.exp(x) + b).T, rtol=1e-6)
    with pytest.raises(TirError, match="do not broadcast"):
        run(m, "f", RNG.standard_normal((3, 4)).astype(np.float32), b)


ARGMAX_KEEPDIMS = """
func.func @f(%x: tensor<?x?xf64>) -> (tensor<?xi64>, tensor<?x1xf64>) {
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
  %mx = tensor.generic %x {maps = [[0, 1], [0, -1]], iterators = ["parallel", "reduction"], inits = [-inf]} ({
  ^bb0(%xv: f64, %m: f64):
    %n = scalar.maximum %xv, %m : f64
    scalar.yield %n : f64
  })
  func.return %am, %mx : tensor<?xi64>, tensor<?x1xf64>
}
"""


def test_argmax_with_index_and_keepdims_map() -> None:
    m = compile_text(ARGMAX_KEEPDIMS)
    x = RNG.standard_normal((5, 7))
    am, mx = run(m, "f", x)
    np.testing.assert_array_equal(am, x.argmax(axis=1))
    np.testing.assert_array_equal(mx, x.max(axis=1, keepdims=True))


MEM_DOT = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>, %b: memref<?xf32, strides=[?]>) -> memref<?xf32> {
  %n = mem.dim %x {axis = 0} : index
  %o = mem.alloc %n {shape = [?], dtype = f32} : memref<?xf32>
  mem.generic %x, %b, %o {maps = [[0, 1], [1], [0]], iterators = ["parallel", "reduction"], inits = [0.0],
                          outputs = 1} ({
  ^bb0(%xv: f32, %bv: f32, %acc: f32):
    %t = scalar.mul %xv, %bv : f32
    %s = scalar.add %acc, %t : f32
    scalar.yield %s : f32
  }) : memref<?x?xf32, strides=[?,?]>, memref<?xf32, strides=[?]>, memref<?xf32>
  func.return %o : memref<?xf32>
}
"""


def test_mem_generic_on_strided_buffers() -> None:
    m = compile_text(MEM_DOT)
    x = RNG.standard_normal((4, 3)).astype(np.float32).T  # transposed
    b = RNG.standard_normal(8).astype(np.float32)[::2]  # strided
    (r,) = run(m, "f", x, b)
    np.testing.assert_allclose(r, x @ b, rtol=1e-5)


ERRORS = [
    ("tensor.generic", """
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  %r = tensor.generic %x {maps = [[0, 1], [0]], iterators = ["parallel"]} ({
  ^bb0(%v: f32, %o: f32):
    scalar.yield %v : f32
  })
  func.return %r : tensor<?xf32>
}""", "map #0 must list one iteration dim per dim of a rank-1 operand"),
    ("tensor.generic", """
func.func @f(%x: tensor<?x?xf32>) -> tensor<?xf32> {
  %r = tensor.generic %x {maps = [[0, 1], [0]], iterators = ["parallel", "reduction"]} ({
  ^bb0(%v: f32, %o: f32):
    scalar.yield %v : f32
  })
  func.return %r : tensor<?xf32>
}""", "every output needs an init value"),
    ("tensor.generic", """
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  %r = tensor.generic %x {maps = [[0], [0]], iterators = ["parallel"]} ({
  ^bb0(%v: f32, %o: f32):
    %c = scalar.cast %v {dtype = f64} : f64
    scalar.yield %c : f64
  }) : tensor<?xf32>
  func.return %r : tensor<?xf32>
}""", "does not match the inferred type"),
    ("tensor.index", """
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  %i = tensor.index {dim = 0} : index
  func.return %x : tensor<?xf32>
}""", "must be inside the body of a generic op"),
    ("mem.generic", """
func.func @f(%x: memref<?xf32>, %o: memref<?xf32>) -> memref<?xf32> {
  mem.generic %x, %o {maps = [[0], [0]], iterators = ["parallel"], outputs = 1} ({
  ^bb0(%v: f32, %w: f64):
    scalar.yield %w : f64
  }) : memref<?xf32>, memref<?xf32>
  func.return %o : memref<?xf32>
}""", "body arguments (f32, f64) must be the element types"),
]


@pytest.mark.parametrize("name, text, message", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors(name: str, text: str, message: str) -> None:
    with pytest.raises(VerifyError) as info:
        verify(parse(text))
    assert str(info.value).split(": ", 1)[1].startswith(f"'{name}' op"), str(info.value)
    assert message in str(info.value)


def test_every_generic_op_is_covered() -> None:
    assert GENERIC_OPS == {n for n in OP_REGISTRY if n in GENERIC_OPS}
    assert GENERIC_OPS == {e[0] for e in ERRORS}
