"""Data-parallel SGD of examples/mlp.py's MLP on a Dask cluster (issue 13; `pip install 'tensorir[dask]'`).

    python examples/dask_train.py [workers] [epochs]

A `distributed.LocalCluster` of N worker processes (`tensorir.dask.local_cluster`; the same code runs on a
cluster of machines) and `tensorir.dask.data_parallel_sgd`: each step's minibatch is split into N shards, each
worker computes the gradient of its shard with one compiled function (`gradients_function`, pickled to the
workers as its IR: they load its compiled code from the cache), a task sums the shards' gradients and takes the
SGD step, and the new weights go, through Dask, to every worker for the next step. Each worker's compiled code
runs on its share of the cores (the `threads` flag: N workers x threads <= cores, no oversubscription).

It trains the same model single-process on the same minibatches (`train_single`: the shared-variable
`tensorir.function` with updates of examples/mlp.py) and prints both accuracies and the largest weight
difference; tests/test_dask_train.py checks that they agree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import tensorir
from tensorir import tensor as T

Weights = list[np.ndarray]


def spirals(per_class: int, classes: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """examples/mlp.py's data: points on interleaved spirals; (inputs, labels, one-hot targets), float32."""
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.05, 1.0, per_class), classes)
    theta = np.concatenate([np.linspace(4 * k, 4 * k + 4, per_class) for k in range(classes)])
    theta += rng.normal(0, 0.15, theta.shape)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1).astype(np.float32)
    labels = np.repeat(np.arange(classes), per_class)
    return x, labels, np.eye(classes, dtype=np.float32)[labels]


def initial_weights(sizes: Sequence[int], seed: int = 2) -> Weights:
    """W1, b1, W2, b2, ...: scaled normal weights, zero biases."""
    rng = np.random.default_rng(seed)
    out: Weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        out += [(rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32), np.zeros(n_out, np.float32)]
    return out


def logits(x: tensorir.Variable, params: Sequence[tensorir.Variable]) -> tensorir.Variable:
    h = x
    for k in range(0, len(params) - 2, 2):
        h = T.tanh(T.dot(h, params[k]) + params[k + 1])
    return T.dot(h, params[-2]) + params[-1]


def batches(n: int, batch: int, epochs: int, seed: int = 3) -> list[np.ndarray]:
    """The minibatches' example indices, epoch after epoch (one shuffle each)."""
    rng = np.random.default_rng(seed)
    return [order[k:k + batch] for _ in range(epochs) for order in [rng.permutation(n)] for k in range(0, n, batch)]


def gradients_function(n_params: int) -> tensorir.Function:
    """(x, t, scale, *weights) -> the gradients of scale * the summed cross-entropy of the examples x; with
    scale = 1 / minibatch size, the gradients of a minibatch's shards add up to the minibatch's."""
    x, t = T.fmatrix("x"), T.fmatrix("t")
    scale = T.fscalar("scale")
    params = [T.fmatrix(f"W{k // 2 + 1}") if k % 2 == 0 else T.fvector(f"b{k // 2 + 1}") for k in range(n_params)]
    cost = -(t * T.log_softmax(logits(x, params), axis=1)).sum() * scale
    return tensorir.function([x, t, scale, *params], tensorir.grad(cost, params), name="gradients")


def train_single(x: np.ndarray, y: np.ndarray, weights: Weights, steps: list[np.ndarray], lr: float) -> Weights:
    """SGD in one process: shared weights, the minibatch's mean cost, updates `p - lr * g`."""
    params = [tensorir.shared(w, name=f"p{k}") for k, w in enumerate(weights)]
    xs, ts = T.fmatrix("x"), T.fmatrix("t")
    cost = -(ts * T.log_softmax(logits(xs, params), axis=1)).sum(axis=1).mean()
    lr32 = np.float32(lr)
    train = tensorir.function([xs, ts], cost, updates=[(p, p - lr32 * g)
                                                       for p, g in zip(params, tensorir.grad(cost, params))])
    for idx in steps:
        train(x[idx], y[idx])
    return [p.get_value() for p in params]


def accuracy(x: np.ndarray, labels: np.ndarray, weights: Weights) -> float:
    xs = T.fmatrix("x")
    params = [T.fmatrix() if w.ndim == 2 else T.fvector() for w in weights]
    predict = tensorir.function([xs, *params], T.argmax(logits(xs, params), axis=1))
    return float((predict(x, *weights) == labels).mean())


def main() -> None:
    from distributed import Client

    n_workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    x, labels, y = spirals(300)
    weights = initial_weights([2, 64, 64, 3])
    steps = batches(len(x), 100, epochs)
    gradients = gradients_function(len(weights))
    with tensorir.dask.local_cluster(n_workers) as cluster, Client(cluster) as client:
        distributed = tensorir.dask.data_parallel_sgd(client, gradients, x, y, weights, steps, lr=0.5)
    single = train_single(x, y, weights, steps, lr=0.5)
    print(f"{n_workers} workers x {tensorir.dask.worker_threads(n_workers)} threads, {len(steps)} steps")
    print(f"accuracy: dask {accuracy(x, labels, distributed):.3f}, one process {accuracy(x, labels, single):.3f}")
    print(f"largest weight difference {max(float(np.abs(a - b).max()) for a, b in zip(distributed, single)):.2e}")


if __name__ == "__main__":
    main()
