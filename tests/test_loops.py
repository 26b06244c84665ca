"""lower-to-loops, parallelize and outline-kernels, checked numerically.

Each function below is mem-level IR as `bufferize` writes it (strided arguments, alloc'd
results, `mem.generic`). The reference interpreter runs it before the passes and after each of
them (and after the three in one pipeline) on random inputs: non-contiguous arrays, dims that
are 1 at run time (broadcast), empty dims and 0-d buffers; the results must agree. The
interpreter runs loop nests element by element, so the arrays stay small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from tensorir.frontend.parser import parse
from tensorir.ir.core import Operation, TirError
from tensorir.ir.printer import print_module
from tensorir.ir.verifier import verify
from tensorir.passes import PassManager
from tensorir.runtime.interpreter import run

RNG = np.random.default_rng(11)
STAGES = ("lower-to-loops", "parallelize", "outline-kernels")
HOST_OPS = {"mem.alloc", "mem.dealloc", "mem.dim", "mem.stride", "mem.view", "mem.check", "mem.copy",
            "scalar.constant", "scalar.eq", "scalar.or", "scalar.select", "scalar.add", "scalar.int_div",
            "kernel.launch", "func.return"}


def rand(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def top_level_ops(m: Operation) -> set[str]:
    return {op.name for fn in m.regions[0].block.ops if fn.name == "func.func" for op in fn.regions[0].block.ops}


def run_copy(m: Operation, fn: str, args: Sequence[Any]) -> list[Any]:
    return run(m, fn, *[a.copy() if isinstance(a, np.ndarray) and a.flags.writeable is False else a
                        for a in args])


def assert_same(got: Sequence[Any], want: Sequence[Any], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, f"{what}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=what)
        else:
            np.testing.assert_array_equal(g, w, err_msg=what)


def check(text: str, fn: str, args: Sequence[Any], expect: Callable[..., Sequence[Any]] | None = None,
          pipeline: Sequence[str] = STAGES) -> Operation:
    """Reference results, then the passes one by one (and all at once), each checked against them."""
    m = parse(text, "loops.tir")
    verify(m)
    want = run(m, fn, *args)
    if expect is not None:
        assert_same(want, [np.asarray(e, dtype=np.asarray(w).dtype) for e, w in zip(expect(*args), want)],
                    "reference vs numpy")
    for stage in pipeline:
        PassManager(stage).run(m)
        assert_same(run(m, fn, *args), want, f"after {stage}")
    printed = print_module(m)
    again = parse(printed)
    verify(again)
    assert print_module(again) == printed
    whole = parse(text, "loops.tir")
    PassManager(",".join(pipeline)).run(whole)
    assert_same(run(whole, fn, *args), want, f"after {','.join(pipeline)}")
    return m


# ---------------------------------------------------------------- elementwise with run-time broadcasting

EW = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>, %b: memref<?xf32, strides=[?]>) -> memref<?x?xf32> {
  %d0 = mem.dim %x {axis = 0} : index
  %x1 = mem.dim %x {axis = 1} : index
  %b0 = mem.dim %b {axis = 0} : index
  %one = scalar.constant {value = 1 : index} : index
  %x1is1 = scalar.eq %x1, %one : i1
  %d1 = scalar.select %x1is1, %b0, %x1 : index
  %o = mem.alloc %d0, %d1 {shape = [?, ?], dtype = f32} : memref<?x?xf32>
  mem.generic %x, %b, %o {maps = [[0, 1], [1], [0, 1]], iterators = ["parallel", "parallel"], outputs = 1} ({
  ^bb0(%xv: f32, %bv: f32, %ov: f32):
    %e = scalar.exp %xv : f32
    %s = scalar.add %e, %bv : f32
    scalar.yield %s : f32
  }) : memref<?x?xf32, strides=[?,?]>, memref<?xf32, strides=[?]>, memref<?x?xf32>
  func.return %o : memref<?x?xf32>
}
"""

EW_CASES = {
    "plain": (rand(3, 4), rand(4)),
    "x-broadcasts": (rand(3, 1), rand(5)),
    "b-broadcasts": (rand(3, 4), rand(1)),
    "both-one": (rand(1, 1), rand(1)),
    "strided": (rand(4, 3).T, rand(8)[::2]),
    "reversed": (rand(3, 4)[::-1], rand(4)[::-1]),
    "empty-rows": (rand(0, 4), rand(4)),
    "empty-cols": (rand(3, 0), rand(0)),
    "empty-broadcast": (rand(3, 1), rand(0)),
}


@pytest.mark.parametrize("case", list(EW_CASES))
def test_elementwise_broadcasting(case: str) -> None:
    m = check(EW, "f", EW_CASES[case], lambda x, b: [np.exp(x) + b])
    names = top_level_ops(m)
    assert names <= HOST_OPS, names - HOST_OPS


def test_lowered_nest_shape() -> None:
    m = parse(EW, "loops.tir")
    PassManager("lower-to-loops").run(m)
    names = {op.name for op in m.walk()}
    assert "mem.generic" not in names and {"loop.parallel", "mem.view", "mem.check", "mem.stride"} <= names
    (par,) = [op for op in m.walk() if op.name == "loop.parallel"]
    assert len(par.operands) == 2 and not any(op.name == "loop.for" for op in m.walk())


def test_shapes_that_do_not_broadcast_fail_at_the_generic() -> None:
    m = parse(EW, "loops.tir")
    PassManager(",".join(STAGES)).run(m)
    with pytest.raises(TirError, match=r"^loops.tir:10:3: operand shapes do not broadcast"):
        run(m, "f", rand(3, 4), rand(5))
    with pytest.raises(TirError, match=r"^loops.tir:10:3: operand shapes do not broadcast"):
        run(m, "f", rand(3, 4), rand(0))


# ---------------------------------------------------------------- transposed output, static 1 dims, mem.copy

TRANSPOSE = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>, %r: memref<?x1xf32, strides=[?,?]>, %c: memref<1x?xf64>)
    -> (memref<?x?xf32>, memref<?x?xf32>) {
  %d0 = mem.dim %x {axis = 0} : index
  %d1 = mem.dim %x {axis = 1} : index
  %o = mem.alloc %d1, %d0 {shape = [?, ?], dtype = f32} : memref<?x?xf32>
  mem.generic %x, %r, %c, %o {maps = [[0, 1], [0, 1], [-1, 1], [1, 0]], iterators = ["parallel", "parallel"],
                              outputs = 1} ({
  ^bb0(%xv: f32, %rv: f32, %cv: f64, %ov: f32):
    %m = scalar.mul %xv, %rv : f32
    %cf = scalar.cast %cv {dtype = f32} : f32
    %s = scalar.sub %m, %cf : f32
    scalar.yield %s : f32
  }) : memref<?x?xf32, strides=[?,?]>, memref<?x1xf32, strides=[?,?]>, memref<1x?xf64>, memref<?x?xf32>
  %cp = mem.alloc %d0, %d1 {shape = [?, ?], dtype = f32} : memref<?x?xf32>
  mem.copy %x, %cp : memref<?x?xf32, strides=[?,?]>, memref<?x?xf32>
  func.return %o, %cp : memref<?x?xf32>, memref<?x?xf32>
}
"""


@pytest.mark.parametrize("shape", [(3, 5), (1, 4), (4, 1), (0, 2)])
def test_transposed_output_and_static_ones(shape: tuple[int, int]) -> None:
    x = rand(shape[1], shape[0]).T
    r = rand(shape[0], 2)[:, :1]
    c = rand(1, shape[1], dtype=np.float64)
    m = check(TRANSPOSE, "f", (x, r, c), lambda x, r, c: [(x * r - c.astype(np.float32)).T, x])
    assert "mem.copy" in top_level_ops(m)


# ---------------------------------------------------------------- reductions

KEEPDIMS = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>) -> (memref<?x1xf32>, memref<1x?xf32>) {
  %d0 = mem.dim %x {axis = 0} : index
  %d1 = mem.dim %x {axis = 1} : index
  %s = mem.alloc %d0 {shape = [?, 1], dtype = f32} : memref<?x1xf32>
  mem.generic %x, %s {maps = [[0, 1], [0, -1]], iterators = ["parallel", "reduction"], inits = [0.0],
                      outputs = 1} ({
  ^bb0(%xv: f32, %acc: f32):
    %t = scalar.add %acc, %xv : f32
    scalar.yield %t : f32
  }) : memref<?x?xf32, strides=[?,?]>, memref<?x1xf32>
  %mx = mem.alloc %d1 {shape = [1, ?], dtype = f32} : memref<1x?xf32>
  mem.generic %x, %mx {maps = [[1, 0], [-1, 0]], iterators = ["parallel", "reduction"], inits = [-inf],
                       outputs = 1} ({
  ^bb0(%xv: f32, %acc: f32):
    %t = scalar.maximum %acc, %xv : f32
    scalar.yield %t : f32
  }) : memref<?x?xf32, strides=[?,?]>, memref<1x?xf32>
  func.return %s, %mx : memref<?x1xf32>, memref<1x?xf32>
}
"""


@pytest.mark.parametrize("x", [rand(4, 6), rand(6, 4).T, rand(1, 5), rand(5, 1), rand(3, 0), rand(0, 3)],
                         ids=["plain", "transposed", "one-row", "one-col", "empty-reduced", "empty-kept"])
def test_keepdims_reductions(x: np.ndarray) -> None:
    m = check(KEEPDIMS, "f", (x,),
              lambda x: [x.sum(axis=1, keepdims=True),
                         x.max(axis=0, keepdims=True) if x.shape[0] else np.full((1, x.shape[1]), -np.inf)])
    fors = [op for op in m.walk() if op.name == "loop.for"]
    assert [op.attributes.get("simd_reduction") for op in fors] == ["add", "max"]


DOT = """
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


@pytest.mark.parametrize("x, b", [(rand(3, 4), rand(4)), (rand(4, 3).T, rand(8)[::2]), (rand(3, 4), rand(1)),
                                  (rand(3, 1), rand(5)), (rand(2, 0), rand(0)), (rand(2, 0), rand(1))],
                         ids=["plain", "strided", "b-broadcasts", "x-broadcasts", "empty", "empty-broadcast"])
def test_dot_broadcasting_in_the_reduced_dim(x: np.ndarray, b: np.ndarray) -> None:
    check(DOT, "f", (x, b), lambda x, b: [(x * b).sum(axis=1)])


def test_reduced_dim_that_does_not_broadcast() -> None:
    m = parse(DOT, "loops.tir")
    PassManager(",".join(STAGES)).run(m)
    with pytest.raises(TirError, match=r"^loops.tir:5:3: operand shapes do not broadcast"):
        run(m, "f", rand(3, 4), rand(3))


FULL = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>) -> (memref<f32>, memref<f32>, memref<i64>) {
  %s = mem.alloc {shape = [], dtype = f32} : memref<f32>
  %m = mem.alloc {shape = [], dtype = f32} : memref<f32>
  %n = mem.alloc {shape = [], dtype = i64} : memref<i64>
  mem.generic %x, %s, %m, %n {maps = [[0, 1], [], [], []], iterators = ["reduction", "reduction"],
                              inits = [0.0, -inf, 0], outputs = 3} ({
  ^bb0(%xv: f32, %acc: f32, %mx: f32, %cnt: i64):
    %t = scalar.add %acc, %xv : f32
    %u = scalar.maximum %mx, %xv : f32
    %zero = scalar.constant {value = 0.0 : f32} : f32
    %p = scalar.gt %xv, %zero : i1
    %c = scalar.cast %p {dtype = i64} : i64
    %k = scalar.add %cnt, %c : i64
    scalar.yield %t, %u, %k : f32, f32, i64
  }) : memref<?x?xf32, strides=[?,?]>, memref<f32>, memref<f32>, memref<i64>
  func.return %s, %m, %n : memref<f32>, memref<f32>, memref<i64>
}
"""


@pytest.mark.parametrize("chunks", [64, 3])
@pytest.mark.parametrize("x", [rand(7, 9), rand(9, 7).T[:, ::2], rand(1, 1), rand(0, 4), rand(13, 1)],
                         ids=["plain", "strided", "one", "empty", "column"])
def test_full_reduction_is_split(x: np.ndarray, chunks: int) -> None:
    expect = [x.sum(), x.max() if x.size else -np.inf, (x > 0).sum()]
    m = check(FULL, "f", (x,), lambda x: expect,
              pipeline=("lower-to-loops", f"parallelize{{chunks={chunks}}}", "outline-kernels"))
    kernels = [op for op in m.regions[0].block.ops if op.name == "kernel.func"]
    assert len(kernels) == 1  # the chunks (loop.parallel); the combining loop.for (`chunks` iterations) and
    assert kernels[0].regions[0].block.ops[-2].name == "loop.parallel"  # its stores stay on the host
    assert "loop.for" in top_level_ops(m) and top_level_ops(m) <= HOST_OPS | {"loop.for", "mem.store"}


PROD8 = """
func.func @f(%x: memref<8xf64, strides=[?]>) -> memref<f64> {
  %p = mem.alloc {shape = [], dtype = f64} : memref<f64>
  mem.generic %x, %p {maps = [[0], []], iterators = ["reduction"], inits = [1.0], outputs = 1} ({
  ^bb0(%xv: f64, %acc: f64):
    %t = scalar.mul %xv, %acc : f64
    scalar.yield %t : f64
  }) : memref<8xf64, strides=[?]>, memref<f64>
  func.return %p : memref<f64>
}
"""


def test_small_static_reduction_is_not_split_but_vectorized() -> None:
    x = rand(16, dtype=np.float64)[::2]
    m = check(PROD8, "f", (x,), lambda x: [np.prod(x)])
    assert not any(op.name == "loop.parallel" for op in m.walk())
    (loop,) = [op for op in m.walk() if op.name == "loop.for"]
    assert loop.attributes["simd_reduction"] == "mul"


ARGMAX = """
func.func @f(%x: memref<?x?xf64, strides=[?,?]>) -> (memref<?xi64>, memref<?xf64>) {
  %d0 = mem.dim %x {axis = 0} : index
  %am = mem.alloc %d0 {shape = [?], dtype = i64} : memref<?xi64>
  %mv = mem.alloc %d0 {shape = [?], dtype = f64} : memref<?xf64>
  mem.generic %x, %am, %mv {maps = [[0, 1], [0], [0]], iterators = ["parallel", "reduction"],
                            inits = [0, -inf], outputs = 2} ({
  ^bb0(%xv: f64, %ai: i64, %m: f64):
    %j = tensor.index {dim = 1} : index
    %ji = scalar.cast %j {dtype = i64} : i64
    %gt = scalar.gt %xv, %m : i1
    %nm = scalar.select %gt, %xv, %m : f64
    %ni = scalar.select %gt, %ji, %ai : i64
    scalar.yield %ni, %nm : i64, f64
  }) : memref<?x?xf64, strides=[?,?]>, memref<?xi64>, memref<?xf64>
  func.return %am, %mv : memref<?xi64>, memref<?xf64>
}
"""


@pytest.mark.parametrize("x", [rand(4, 7, dtype=np.float64), rand(7, 4, dtype=np.float64).T,
                               rand(3, 1, dtype=np.float64)], ids=["plain", "transposed", "one-col"])
def test_argmax_through_tensor_index(x: np.ndarray) -> None:
    m = check(ARGMAX, "f", (x,), lambda x: [x.argmax(axis=1), x.max(axis=1)])
    assert not any("simd_reduction" in op.attributes for op in m.walk())  # select chains are no reduction


# ---------------------------------------------------------------- 0-d, several outputs, loads from outside

ZERO_D = """
func.func @f(%x: memref<f32>, %y: memref<f32>) -> (memref<f32>, memref<f32>) {
  %o = mem.alloc {shape = [], dtype = f32} : memref<f32>
  %q = mem.alloc {shape = [], dtype = f32} : memref<f32>
  mem.generic %x, %y, %o, %q {maps = [[], [], [], []], iterators = [], outputs = 2} ({
  ^bb0(%xv: f32, %yv: f32, %ov: f32, %qv: f32):
    %one = scalar.constant {value = 1.0 : f32} : f32
    %m = scalar.mul %xv, %yv : f32
    %s = scalar.add %m, %one : f32
    %d = scalar.sub %xv, %yv : f32
    scalar.yield %s, %d : f32, f32
  }) : memref<f32>, memref<f32>, memref<f32>, memref<f32>
  func.return %o, %q : memref<f32>, memref<f32>
}
"""


def test_zero_d_elementwise() -> None:
    x, y = np.array(1.5, np.float32), np.array(-2.0, np.float32)
    m = check(ZERO_D, "f", (x, y), lambda x, y: [x * y + 1, x - y])
    assert top_level_ops(m) <= HOST_OPS | {"loop.for"}  # one iteration: host work, no kernel
    assert not any(op.name == "kernel.func" for op in m.regions[0].block.ops)


TAKE = """
func.func @f(%t: memref<?x3xf32, strides=[?,?]>, %idx: memref<?xi64, strides=[?]>) -> memref<?x3xf32> {
  %n = mem.dim %idx {axis = 0} : index
  %o = mem.alloc %n {shape = [?, 3], dtype = f32} : memref<?x3xf32>
  mem.generic %idx, %o {maps = [[0], [0, 1]], iterators = ["parallel", "parallel"], outputs = 1} ({
  ^bb0(%iv: i64, %ov: f32):
    %r = scalar.cast %iv {dtype = index} : index
    %c = tensor.index {dim = 1} : index
    %v = mem.load %t indices %r, %c : f32
    scalar.yield %v : f32
  }) : memref<?xi64, strides=[?]>, memref<?x3xf32>
  func.return %o : memref<?x3xf32>
}
"""


def test_body_loading_from_an_outside_buffer() -> None:
    t = rand(3, 5)[:, 1:4]
    idx = np.array([2, 0, 0, 1, 2, 9], np.int64)[::-1][1:]
    m = check(TAKE, "f", (t, idx), lambda t, idx: [t[idx]])
    (kernel,) = [op for op in m.regions[0].block.ops if op.name == "kernel.func"]
    assert [str(t) for t in kernel.attributes["function_type"].inputs] == [
        "index", "memref<?xi64, strides=[?]>", "memref<?x3xf32, strides=[?,?]>", "memref<?x3xf32>"]


def test_passes_leave_other_ops_alone() -> None:
    """A function with no generic: lower-to-loops and parallelize change nothing."""
    text = """
func.func @f(%x: memref<?xf32, strides=[?]>) -> memref<?xf32> {
  %n = mem.dim %x {axis = 0} : index
  %o = mem.alloc %n {shape = [?], dtype = f32} : memref<?xf32>
  mem.copy %x, %o : memref<?xf32, strides=[?]>, memref<?xf32>
  func.return %o : memref<?xf32>
}
"""
    m = parse(text)
    before = print_module(m)
    assert PassManager(",".join(STAGES)).run(m) is False
    assert print_module(m) == before


SCALED = """
func.func @f(%x: memref<?xf32, strides=[?]>, %alpha: f32, %k: index) -> memref<?xf32> {
  %n = mem.dim %x {axis = 0} : index
  %o = mem.alloc %n {shape = [?], dtype = f32} : memref<?xf32>
  %two = scalar.constant {value = 2.0 : f32} : f32
  loop.parallel %n ({
    ^bb0(%i: index):
      %v = mem.load %x indices %i : f32
      %kf = scalar.cast %k {dtype = f32} : f32
      %s = scalar.mul %v, %alpha : f32
      %t = scalar.add %s, %kf : f32
      %u = scalar.mul %t, %two : f32
      mem.store %u, %o indices %i : f32, memref<?xf32>, index
      loop.yield
  }) : index
  func.return %o : memref<?xf32>
}
"""


def test_outlined_kernel_takes_scalars_and_clones_constants() -> None:
    x = rand(10)[::3]
    m = check(SCALED, "f", (x, np.float32(1.5), 3), lambda x, a, k: [(x * a + k) * 2],
              pipeline=("outline-kernels",))
    (kernel,) = [op for op in m.regions[0].block.ops if op.name == "kernel.func"]
    assert [str(t) for t in kernel.attributes["function_type"].inputs] == [
        "index", "memref<?xf32, strides=[?]>", "index", "f32", "memref<?xf32>"]
    assert kernel.regions[0].block.ops[0].name == "scalar.constant"
    assert "scalar.constant" not in top_level_ops(m)  # the host no longer needs %two


def test_parallelize_is_idempotent() -> None:
    m = parse(FULL)
    PassManager("lower-to-loops,parallelize").run(m)
    once = print_module(m)
    assert PassManager("parallelize").run(m) is False
    assert print_module(m) == once


ALL_ANY = """
func.func @f(%x: memref<?xi32, strides=[?]>) -> (memref<i1>, memref<i1>, memref<i32>) {
  %a = mem.alloc {shape = [], dtype = i1} : memref<i1>
  %o = mem.alloc {shape = [], dtype = i1} : memref<i1>
  %m = mem.alloc {shape = [], dtype = i32} : memref<i32>
  mem.generic %x, %a, %o, %m {maps = [[0], [], [], []], iterators = ["reduction"], inits = [true, false, 2147483647],
                              outputs = 3} ({
  ^bb0(%xv: i32, %all: i1, %any: i1, %mn: i32):
    %zero = scalar.constant {value = 0 : i32} : i32
    %p = scalar.gt %xv, %zero : i1
    %na = scalar.and %all, %p : i1
    %no = scalar.or %p, %any : i1
    %nm = scalar.minimum %mn, %xv : i32
    scalar.yield %na, %no, %nm : i1, i1, i32
  }) : memref<?xi32, strides=[?]>, memref<i1>, memref<i1>, memref<i32>
  func.return %a, %o, %m : memref<i1>, memref<i1>, memref<i32>
}
"""


@pytest.mark.parametrize("x", [np.arange(-3, 9, dtype=np.int32), np.arange(1, 30, dtype=np.int32)[::4],
                               np.zeros(0, np.int32), np.full(5, -1, np.int32)], ids=["mixed", "positive", "empty",
                                                                                   "negative"])
def test_all_any_min_on_integers(x: np.ndarray) -> None:
    expect = [np.all(x > 0), np.any(x > 0), x.min() if x.size else np.iinfo(np.int32).max]
    m = check(ALL_ANY, "f", (x,), lambda x: expect,
              pipeline=("lower-to-loops", "parallelize{chunks=4}", "outline-kernels"))
    assert any(op.name == "loop.parallel" for op in m.walk())
