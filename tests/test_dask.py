"""tensorir.dask.map_blocks (issue 13): compiled functions block-wise over dask arrays, equal to numpy on the
whole array for chunkings that split rows, columns and both (ragged last chunks included); tree reductions over
split axes; a function that needs a split axis whole is refused, naming the op."""

import pickle

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T

da = pytest.importorskip("dask.array", reason="tensorir.dask needs dask (pip install 'tensorir[dask]')")

CHUNKINGS = [(4, 7), (3, 7), (4, 3), (3, 2), (1, 1)]  # 7x7 on (4, 7): rows split (ragged), columns, both ...
SYNC = {"scheduler": "sync"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((7, 7)).astype("float32"), rng.standard_normal((7, 7)).astype("float32")


@pytest.fixture(scope="module")
def w1():
    x, y = T.fmatrices("x", "y")
    return tensorir.function([x, y], T.tanh(x) * T.exp(-y * y) + 0.5 * x, name="w1")


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_elementwise_any_chunking(data, w1, chunks):
    a, b = data
    out = tensorir.dask.map_blocks(w1, da.from_array(a, chunks=chunks), da.from_array(b, chunks=chunks))
    assert isinstance(out, da.Array) and out.chunks == da.from_array(a, chunks=chunks).chunks
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.compute(**SYNC), np.tanh(a) * np.exp(-b * b) + 0.5 * a, rtol=2e-6, atol=1e-6)


def test_broadcast_row_vector_and_numpy_inputs(data):
    a, _ = data
    x, v = T.fmatrix("x"), T.fvector("v")
    f = tensorir.function([x, v], x * v - 1)
    vec = np.arange(7, dtype="float32")
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(3, 2)), da.from_array(vec, chunks=2))
    np.testing.assert_allclose(out.compute(**SYNC), a * vec - 1, rtol=1e-6)
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(3, 2)), vec)  # a numpy input: one chunk, realigned
    np.testing.assert_allclose(out.compute(**SYNC), a * vec - 1, rtol=1e-6)


def test_row_wise_softmax_and_product_with_a_shared_weight(data):
    a, b = data
    x = T.fmatrix("x")
    w = tensorir.shared(b[:, :5].copy(), name="w")
    f = tensorir.function([x], T.softmax(T.dot(x, w), axis=1))
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(3, 7)))  # rows split; the row axis stays whole
    assert out.chunks == ((3, 3, 1), (5,))
    z = a.astype("float64") @ b[:, :5]
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out.compute(**SYNC), ref / ref.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_row_reduction_with_keepdims(data):
    a, _ = data
    x = T.fmatrix("x")
    f = tensorir.function([x], x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(tensorir.dask.map_blocks(f, da.from_array(a, chunks=(2, 7))).compute(**SYNC),
                               a - a.max(axis=1, keepdims=True))
    g = tensorir.function([x], x.mean(axis=1))
    out = tensorir.dask.map_blocks(g, da.from_array(a, chunks=(5, 7)))
    assert out.chunks == ((5, 2),)
    np.testing.assert_allclose(out.compute(**SYNC), a.mean(axis=1), rtol=1e-6)


@pytest.mark.parametrize("kind", ["sum", "max", "min", "prod"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("chunks", [(4, 7), (7, 3), (3, 2)])
def test_tree_reduction_over_split_axes(data, kind, axis, chunks):
    a, b = data
    x, y = T.fmatrices("x", "y")
    f = tensorir.function([x, y], getattr(T, kind)(x * 0.5 + T.cos(y), axis=axis))
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=chunks), da.from_array(b, chunks=chunks))
    assert isinstance(out, da.Array)
    z = a.astype("float64") * 0.5 + np.cos(b.astype("float64"))
    np.testing.assert_allclose(out.compute(**SYNC), getattr(np, kind)(z, axis=axis), rtol=2e-5)


def test_tree_reduction_keepdims(data):
    a, _ = data
    x = T.fmatrix("x")
    f = tensorir.function([x], T.sum(x * x, axis=0, keepdims=True))
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(2, 3)))
    assert out.shape == (1, 7)
    np.testing.assert_allclose(out.compute(**SYNC), (a.astype("float64") ** 2).sum(axis=0, keepdims=True), rtol=1e-5)


def test_refuses_a_product_across_split_contracted_axis(data):
    a, b = data
    x, y = T.fmatrices("x", "y")
    f = tensorir.function([x, y], T.dot(x, y))
    with pytest.raises(tensorir.TirError, match=r"tensor\.dot at .*axis 1 of input 'x'.*split into 2 chunks.*rechunk"):
        tensorir.dask.map_blocks(f, da.from_array(a, chunks=(7, 4)), da.from_array(b, chunks=(4, 7)))
    out = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(4, 7)), da.from_array(b, chunks=(7, 3)))  # free axes
    np.testing.assert_allclose(out.compute(**SYNC), a.astype("float64") @ b, rtol=1e-5, atol=1e-5)


def test_refuses_softmax_across_split_axis_and_mean_over_it(data):
    a, _ = data
    x = T.fmatrix("x")
    f = tensorir.function([x], T.exp(x).mean(axis=1))
    with pytest.raises(tensorir.TirError, match=r"tensor\.mean at .*combines values along axis 1 of input 'x'"):
        tensorir.dask.map_blocks(f, da.from_array(a, chunks=(7, 3)))


def test_refuses_updates_and_bad_dtypes(data):
    a, _ = data
    x = T.fmatrix("x")
    s = tensorir.shared(np.float32(0), name="s")
    with pytest.raises(tensorir.TirError, match="updates shared variables"):
        tensorir.dask.map_blocks(tensorir.function([x], x + s, updates=[(s, s + 1)]), da.from_array(a))
    with pytest.raises(tensorir.TirTypeError, match="expects a 2-d float32 array"):
        tensorir.dask.map_blocks(tensorir.function([x], x + 1), da.from_array(a.astype("float64")))


def test_identity_transpose_and_scalar_input(data):
    a, _ = data
    x, s = T.fmatrix("x"), T.fscalar("s")
    blocks = da.from_array(a, chunks=(3, 2))
    np.testing.assert_array_equal(tensorir.dask.map_blocks(tensorir.function([x], x), blocks).compute(**SYNC), a)
    out = tensorir.dask.map_blocks(tensorir.function([x, s], x.T * s), blocks, np.float32(2))
    assert out.chunks == blocks.T.chunks
    np.testing.assert_allclose(out.compute(**SYNC), a.T * 2)


def test_the_graph_holds_the_function_once(data, w1, monkeypatch):
    """The function is pickled once per graph, into one value of the graph that every block task references (no
    task carries its bytes); a process unpickles it once, however many tasks and graphs run it."""
    from tensorir.frontend import dask_arrays, dask_worker

    a, b = data
    pickled = []
    getstate = tensorir.Function.__getstate__
    monkeypatch.setattr(tensorir.Function, "__getstate__", lambda self: pickled.append(self) or getstate(self))
    out = tensorir.dask.map_blocks(w1, da.from_array(a, chunks=(2, 3)), da.from_array(b, chunks=(2, 3)))
    assert pickled == [w1]
    graph = dict(out.__dask_graph__())
    shipped = {k: v.value for k, v in graph.items() if isinstance(getattr(v, "value", None), dask_arrays._Shipped)}
    assert len(shipped) == 1
    (key, value), = shipped.items()
    assert value.token in key and out.name.startswith("w1-")
    blocks = [t for k, t in graph.items() if isinstance(k, tuple) and k[0] == out.name]
    assert len(blocks) == 12 and all(key in t.dependencies for t in blocks)
    assert all(value.data not in pickle.dumps(t) for t in blocks)
    before = dask_worker.stats["unpickled"]
    for _ in range(2):
        again = tensorir.dask.map_blocks(w1, da.from_array(a, chunks=(3, 2)), da.from_array(b, chunks=(3, 2)))
        np.testing.assert_allclose(again.compute(**SYNC), np.tanh(a) * np.exp(-b * b) + 0.5 * a, rtol=2e-6, atol=1e-6)
    assert dask_worker.stats["unpickled"] - before <= 1  # the same bytes, the same token: unpickled once at most
    assert len(pickled) == 3  # once per graph


def test_a_graph_keeps_the_shared_values_it_was_built_with(data):
    """The function travels as pickled when the graph was built: a shared variable set later changes later graphs
    (another token), not that one."""
    a, _ = data
    x = T.fmatrix("x")
    s = tensorir.shared(np.float32(1), name="s")
    f = tensorir.function([x], x * s)
    first = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(4, 4)))
    s.set_value(np.float32(3))
    second = tensorir.dask.map_blocks(f, da.from_array(a, chunks=(4, 4)))
    assert first.name != second.name
    np.testing.assert_allclose(first.compute(**SYNC), a)
    np.testing.assert_allclose(second.compute(**SYNC), a * 3)
