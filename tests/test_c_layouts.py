"""Host copies (`mem.copy`, tir_ops.h's `tir_copy`) and elementwise nests over operands in any layout.

Each function is compiled once and run on inputs in several memory layouts (C order, Fortran order, a
transposed view, every axis reversed, every other element) and shapes (dims of size 0 and 1, sizes that
are not a multiple of the copy's tiles, and copies big enough to run on threads); numpy is the oracle.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

RNG = np.random.default_rng(7)


def draw(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if np.dtype(dtype).kind == "i":
        return RNG.integers(-100, 100, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "C": lambda a: a,
    "F": np.asfortranarray,
    "axis 0 innermost": lambda a: np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 0, -1)), -1, 0) if a.ndim else a,
    "reversed": lambda a: np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])[(slice(None, None, -1),) * a.ndim],
    "sliced": lambda a: np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a,
}

# Per rank: shapes with size-0 and size-1 dims, edges of the 64x64 tiles, and one copy above the
# parallel threshold (TIR_PARALLEL_MIN = 131072 elements), so the threaded split is exercised too.
SHAPES: dict[int, list[tuple[int, ...]]] = {
    1: [(0,), (1,), (7,), (140000,)],
    2: [(0, 5), (1, 9), (9, 1), (70, 133), (3, 65), (400, 390)],
    3: [(2, 0, 3), (1, 1, 1), (5, 67, 66), (70, 3, 1000)],
    4: [(2, 3, 1, 5), (3, 4, 5, 70), (1, 66, 2, 65)],
}


def permutations(rank: int) -> list[tuple[int, ...]]:
    """Reversed and rotated axes (transposes whose unit-stride dims differ from the result's)."""
    axes = tuple(range(rank))
    return [axes[::-1], axes[1:] + axes[:1], axes[-1:] + axes[:-1]]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "float16", "bool"])
def test_returned_views_are_copied_in_any_layout(dtype: str) -> None:
    """Returning an argument, its transposes, a reversed and a strided view: each is a host `mem.copy`
    into a fresh C-order result, equal to numpy's view."""
    xs = [T.tensor(dtype, shape=(None,) * r, name=f"x{r}") for r in SHAPES]
    outs, want_fns = [], []
    for x in xs:
        r = x.ndim
        outs += [x, x[::-1], x[..., ::2]]
        want_fns += [lambda a: a, lambda a: a[::-1], lambda a: a[..., ::2]]
        for p in permutations(r)[: 1 if r == 1 else 3]:
            outs.append(x.dimshuffle(*p))
            want_fns.append(lambda a, p=p: a.transpose(p))
    f = tensorir.function(xs, outs, target="c")
    assert "tir_copy(" in f.source()
    for k in range(max(len(s) for s in SHAPES.values())):
        base = [draw(SHAPES[r][k % len(SHAPES[r])], dtype) for r in SHAPES]
        for name, layout in LAYOUTS.items():
            args = [layout(a) for a in base]
            got = f(*args)
            ranks = [r for r in SHAPES for _ in range(3 + (1 if r == 1 else 3))]
            for g, want_fn, r in zip(got, want_fns, ranks):
                want = want_fn(args[r - 1])
                where = f"{dtype} {name} {args[r - 1].shape}"
                assert g.flags.c_contiguous and g.shape == want.shape and g.dtype == want.dtype, where
                np.testing.assert_array_equal(g, want, err_msg=where)


def test_copies_into_views_of_a_result() -> None:
    """Copies whose target is a strided piece of a result (concatenate along a middle axis, a reshape of
    a transposed input) and a broadcast source (stride 0)."""
    x = T.tensor("float32", shape=(None, None, None), name="x")
    y = T.tensor("float32", shape=(None, None), name="y")
    outs = [T.concatenate([x, x.dimshuffle(0, 2, 1)[:, ::-1]], axis=1), x.dimshuffle(2, 0, 1).reshape((-1,)),
            T.concatenate([y.T, y[::-1].T], axis=0), T.broadcast_to(y[0], x.shape)]
    f = tensorir.function([x, y], outs, target="c")
    for shape in [(3, 5, 5), (4, 70, 70), (0, 1, 1), (2, 300, 300)]:
        for name, layout in LAYOUTS.items():
            a, b = layout(draw(shape, "float32")), layout(draw(shape[1:], "float32"))
            want = [np.concatenate([a, a.transpose(0, 2, 1)[:, ::-1]], axis=1), a.transpose(2, 0, 1).reshape(-1),
                    np.concatenate([b.T, b[::-1].T], axis=0), np.broadcast_to(b[0], a.shape)]
            for g, w in zip(f(a, b), want):
                np.testing.assert_array_equal(g, w, err_msg=f"{name} {shape}")


def test_elementwise_nests_over_transposed_operands() -> None:
    """Elementwise nests read operands in every layout: an F-order or transposed operand is walked in tiles
    (the form chosen at run time when some operand's unit stride is not the last dim), several of them at
    once, next to C-order and broadcast operands, at ranks 2 to 4 and with the tiles' edges, size-0 and size-1
    dims, dims transposed at run time whichever they are (a dimshuffle of a 3-d input), and float32 sin, whose
    kernel also has a short-range twin."""
    x = T.tensor("float32", shape=(None, None), name="x")
    y = T.tensor("float32", shape=(None, None), name="y")
    b = T.tensor("float32", shape=(None,), name="b")
    z = T.tensor("float64", shape=(None, None, None), name="z")
    w = T.tensor("int8", shape=(None, None, None, None), name="w")
    outs = [x * 2, T.exp(x.T), x.T + y, x * y.T - b, (x + b.dimshuffle(0, "x")) * y, z.dimshuffle(2, 0, 1) + 1,
            T.sqrt(abs(z)) * z.dimshuffle(0, 2, 1), w.dimshuffle(3, 1, 2, 0) * 3, T.sin(x.T)]
    f = tensorir.function([x, y, b, z, w], outs, target="c")
    assert "tile[" in f.source()

    def want(x: np.ndarray, y: np.ndarray, b: np.ndarray, z: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        return [x * 2, np.exp(x.T), x.T + y, x * y.T - b, (x + b[:, None]) * y, z.transpose(2, 0, 1) + 1,
                np.sqrt(abs(z)) * z.transpose(0, 2, 1), w.transpose(3, 1, 2, 0) * np.int8(3), np.sin(x.T)]
    for n, m in [(70, 70), (1, 1), (0, 0), (33, 33), (400, 400)]:
        base = [draw((n, m), "float32"), draw((n, m), "float32"), draw((n,), "float32"),
                draw((5, n, n), "float64"), draw((3, m, 2, n), "int8")]
        for name, layout in LAYOUTS.items():
            args = [layout(a) for a in base]
            for k, (g, e) in enumerate(zip(f(*args), want(*args))):
                where = f"output #{k} for {name} inputs of {n}x{m}"
                assert g.flags.c_contiguous and g.shape == e.shape and g.dtype == e.dtype, where
                np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6, err_msg=where)  # fma contraction


@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "int8"])
def test_transposed_tiles_of_static_small_matrices(dtype: str) -> None:
    """A tile of a transposed operand is written as unsigned integers of the element's size and read as the
    element type: with static sizes below a tile, -O3 inlines it all, and strict aliasing once let it read the
    tile before writing it (`x.T + x` of a 4x4 float64 gave nan)."""
    for n in (2, 4, 9):
        x = T.tensor(dtype, shape=(n, n), name="x")
        floats = dtype.startswith("float")
        f = tensorir.function([x], [x.T + x * 2, T.exp(x).T + T.exp(x)] if floats else [x.T + x * 2], target="c")
        a = draw((n, n), dtype)
        want = [a.T + a * 2, *([np.exp(a).T + np.exp(a)] if floats else [])]
        for g, w in zip(f(a), want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, err_msg=f"{dtype} {n}x{n}")
