"""examples/dask_train.py (issue 13): data-parallel SGD (tensorir.dask.data_parallel_sgd) on a 2-worker
distributed.LocalCluster gives the weights of single-process training on the same minibatches, and the workers
load the compiled gradient function from the cache instead of compiling it. On the same cluster,
tensorir.dask.map_blocks: each worker unpickles the function once however many of its tasks it runs, and the
scheduler never does."""

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorir

pytest.importorskip("distributed", reason="examples/dask_train.py needs distributed (pip install 'tensorir[dask]')")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dask_train.py"


def load_example():
    # Not registered in sys.modules: cloudpickle then sends its task functions to the workers by value.
    spec = importlib.util.spec_from_file_location("dask_train_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def workers_import_the_real_dask():
    """Spawned workers start from this process's sys.path, where pytest puts the checkout's parent folder first
    (the checkout is the package): a checkout folder named `dask` would be their `dask`. Such entries are left
    out while the workers start."""
    import dask

    real = Path(dask.__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if not ((d := Path(p or ".", "dask")).is_dir() and d.resolve() != real)]
    try:
        yield
    finally:
        sys.path[:] = saved


def cross_entropy(x, y, weights):
    """The mean cost in numpy float64: the independent oracle of convergence."""
    h = x.astype(np.float64)
    for k in range(0, len(weights) - 2, 2):
        h = np.tanh(h @ weights[k] + weights[k + 1])
    z = h @ weights[-2] + weights[-1]
    z = z - z.max(axis=1, keepdims=True)
    return float(-(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))).sum(axis=1).mean())


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    with workers_import_the_real_dask():
        cluster = tensorir.dask.local_cluster(2, dashboard_address=None, silence_logs=40)
    with cluster, Client(cluster) as client:
        yield client


def test_two_workers_match_single_process_training(client):
    ex = load_example()
    x, labels, y = ex.spirals(40)
    weights = ex.initial_weights([2, 16, 16, 3])
    steps = ex.batches(len(x), 30, 6)
    trained = tensorir.dask.data_parallel_sgd(client, ex.gradients_function(len(weights)), x, y, weights, steps,
                                              lr=0.5)
    compiles = client.run(lambda: importlib.import_module("tensorir.runtime.cache").stats()["compiles"])
    threads = client.run(lambda: importlib.import_module("tensorir").config.threads)
    single = ex.train_single(x, y, weights, steps, lr=0.5)
    assert len(compiles) == 2 and set(compiles.values()) == {0}  # loaded from the cache, not compiled
    assert set(threads.values()) == {tensorir.dask.worker_threads(2)}
    for a, b in zip(trained, single):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert cross_entropy(x, y, trained) < 0.8 * cross_entropy(x, y, weights)


def test_map_blocks_workers_unpickle_the_function_once(client):
    import dask.array as da
    from distributed import wait
    from tensorir.frontend import dask_worker

    T = tensorir.tensor
    x = T.fvector("x")
    f = tensorir.function([x], T.tanh(x) * T.exp(-x * x) + 0.5 * x, name="w1")
    a = np.random.default_rng(3).uniform(-3, 3, 64 * 16).astype(np.float32)
    blocks = client.persist(da.from_array(a, chunks=16))  # 64 chunks, on the workers
    wait(blocks)
    scheduler_before = dask_worker.stats["unpickled"]  # the scheduler runs in this process
    for _ in range(2):
        y = tensorir.dask.map_blocks(f, blocks)
        np.testing.assert_allclose(y.compute(), np.tanh(a) * np.exp(-a * a) + 0.5 * a, rtol=2e-6, atol=1e-6)
    unpickled = client.run(lambda: importlib.import_module("tensorir.frontend.dask_worker").stats["unpickled"])
    assert len(unpickled) == 2 and set(unpickled.values()) <= {0, 1} and sum(unpickled.values()) >= 1
    assert dask_worker.stats["unpickled"] == scheduler_before
