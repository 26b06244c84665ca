"""`tir-bench --dask` (issue 13): tensorir on a Dask cluster (`distributed.LocalCluster`, 1 and 2 worker processes,
each worker's compiled code on its share of the cores: tensorir.dask.local_cluster).

    Wd1  W1's expression over 8 chunks of 10M float32 (issue 13's size; 1M in all with --quick):
         `tensorir.dask.map_blocks` against dask.array running
         numpy on the same chunks, Dask alone (a no-op map_blocks on them), and the same work in one process
         without Dask (tensorir and numpy on the whole array; tensorir on every core, as 1 worker has them, and
         on one worker's share of 2); the ratio tensorir / numpy on Dask against the single-process one of the
         same threads per worker (goal: kept within 20%)
    Wd2  the overhead per task: 256 chunks of 64 elements, time per chunk (tensorir, numpy, and a no-op task: Dask
         alone; the first two less the third are what a task of each adds to Dask's own cost)
    Wd3  one data-parallel SGD step of W7's MLP (batch 256, 784-512-512-10: tensorir.dask.data_parallel_sgd)
         against the compiled step in one process
    weak scaling: 2 workers on twice the work of 1 (W1: 8 chunks against 4; the step: batch 256 against 128),
         efficiency = time(1 worker) / time(2 workers)

Every result is checked against numpy before it is timed; times are medians (5 repeats, 3 with --quick; on Dask
the graphs compared on the same data take turns, tensorir, numpy, no-op, repeat). The
inputs live on the workers (persisted, the same chunks for tensorir, numpy and the no-op) before the timed
runs; a timed run builds the graph, persists the result (kept on the workers: nothing is gathered to the client,
for either side) and waits; the next one starts when the scheduler has released it (same keys: a result left in
memory would be found).
"""

from __future__ import annotations

import importlib
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import bench


def median_time(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check(got: Any, want: np.ndarray, what: str) -> None:
    err = bench.rel_error(got, want)
    if not err <= bench.RTOL:
        raise AssertionError(f"{what}: relative error {err:.2e} against numpy")


def holds(name: str, dask_scheduler: Any) -> bool:
    """Whether the scheduler still has a result of the array `name`: the next timed run's graph has the same
    keys, and would find it instead of computing it."""
    return any(isinstance(k, tuple) and k[0] == name for k in dask_scheduler.tasks)


def mlp_gradients(tensorir: Any) -> Any:
    """W7's MLP as `data_parallel_sgd` takes it: (x, t, scale, *weights) -> the gradients of the scaled summed cost."""
    T = tensorir.tensor
    x, t, scale = T.fmatrix("x"), T.fmatrix("t"), T.fscalar("scale")
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    p = {n: (T.fmatrix if n[0] == "W" else T.fvector)(n) for n in names}
    cost = bench.mlp_cost(T, p, x, t) * T.cast(x.shape[0], "float32") * scale  # the shard's summed cost, scaled
    return tensorir.function([x, t, scale, *p.values()], tensorir.grad(cost, list(p.values())), name="mlp_gradients")


def mlp_data(quick: bool) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    sizes = [98, 64, 64, 10] if quick else [784, 512, 512, 10]
    weights: list[np.ndarray] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        weights += [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), np.zeros(b, np.float32)]
    x = rng.standard_normal((512, sizes[0])).astype(np.float32)
    return weights, x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(x))]


def single_process_step(tensorir: Any, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray,
                        batch: int, repeats: int) -> float:
    """Seconds per step of the compiled SGD step with shared weights and updates, in this process."""
    T = tensorir.tensor
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    p = {n: tensorir.shared(w, name=n) for n, w in zip(names, weights)}
    xs, ts = T.fmatrix("x"), T.fmatrix("t")
    cost = bench.mlp_cost(T, p, xs, ts)
    step = tensorir.function([xs, ts], cost, updates=[(v, v - np.float32(0.1) * g) for v, g in
                                                      zip(p.values(), tensorir.grad(cost, list(p.values())))])
    return median_time(lambda: step(x[:batch], y[:batch]), repeats)


def distributed_step(tensorir: Any, client: Any, gradients: Any, weights: list[np.ndarray], x: np.ndarray,
                     y: np.ndarray, batch: int, repeats: int) -> float:
    """Seconds per data-parallel step: the time of 2 + k steps less that of 2 (the set-up), over k."""
    k = 4 if repeats <= 3 else 10

    def run(steps: int) -> float:
        t0 = time.perf_counter()
        tensorir.dask.data_parallel_sgd(client, gradients, x, y, weights, [np.arange(batch)] * steps, lr=0.1)
        return time.perf_counter() - t0

    return statistics.median((run(2 + k) - run(2)) / k for _ in range(max(1, repeats // 2)))


def noop(block: np.ndarray) -> np.ndarray:
    """Dask alone: a block task that returns its block."""
    return block


def within(got: float, reference: float, tolerance: float = 0.2) -> str:
    return f"{got / reference:.2f} of it: {'kept' if got <= reference * (1 + tolerance) else 'not kept'}"


def run(quick: bool) -> int:
    from distributed import Client, wait

    da = importlib.import_module("dask.array")  # (isort takes `dask` for first-party in a checkout named dask)
    tensorir = importlib.import_module(__package__.rpartition(".")[0])
    c_module = importlib.import_module(__package__.rpartition(".")[0] + ".runtime.c_module")
    T = tensorir.tensor

    tensorir.config.tiered = False
    repeats = 3 if quick else 5
    n, chunks = (1_000_000 if quick else 80_000_000), 8
    x = np.random.default_rng(1).uniform(-3, 3, n).astype(np.float32)
    want = bench.w1_expr(np, x.astype(np.float64))
    xv = T.fvector("x")
    w1 = tensorir.function([xv], bench.w1_expr(T, xv), name="w1")
    check(w1(x), want, "W1 tensorir")
    # One process, no Dask: tensorir on every core (as 1 worker's) and on the threads of each of 2 workers (one
    # on 2 cores), numpy (elementwise: one core)
    one = {"tensorir": median_time(lambda: w1(x), repeats), "numpy": median_time(lambda: bench.w1_expr(np, x), repeats)}
    threads, k2 = tensorir.config.threads, tensorir.dask.worker_threads(2)
    c_module.set_num_threads(k2)
    one["tensorir k2"] = median_time(lambda: w1(x), repeats)
    c_module.set_num_threads(threads)
    weights, mx, my = mlp_data(quick)
    gradients = mlp_gradients(tensorir)
    one_step = single_process_step(tensorir, weights, mx, my, 256, repeats)
    half_step = single_process_step(tensorir, weights, mx, my, 128, repeats)
    tiny = np.random.default_rng(2).uniform(-3, 3, 256 * 64).astype(np.float32)
    results: dict[int, dict[str, float]] = {}
    for workers in (1, 2):
        with tensorir.dask.local_cluster(workers, dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster) as client:
            def once(make: Callable[[Any], Any], data: Any) -> float:
                t0 = time.perf_counter()
                y = client.persist(make(data))  # the graph is built, run, and its result kept on the workers
                wait(y)
                took = time.perf_counter() - t0
                name = y.name
                del y
                while client.run_on_scheduler(holds, name=name):
                    time.sleep(0.01)
                return took

            def timed(makes: dict[str, Callable[[Any], Any]], data: Any, per: int = 1) -> dict[str, float]:
                """Median seconds of each graph on `data` (over `per` tasks), the graphs taking turns (a load that
                comes and goes weighs on each alike); a warm-up round first."""
                times: dict[str, list[float]] = {k: [] for k in makes}
                for _ in range(repeats + 1):
                    for k, make in makes.items():
                        times[k].append(once(make, data))
                return {k: statistics.median(t[1:]) / per for k, t in times.items()}

            def dask_alone(d: Any) -> Any:
                return d.map_blocks(noop, dtype=d.dtype, meta=np.empty((0,), d.dtype))

            with warnings.catch_warnings():  # the inputs travel in their graphs once, here (untimed): say nothing
                warnings.simplefilter("ignore", UserWarning)
                xd = client.persist(da.from_array(x, chunks=n // chunks))
                half = client.persist(da.from_array(x[: n // 2], chunks=n // chunks))
                small = client.persist(da.from_array(tiny, chunks=64))
                wait([xd, half, small])
            tir, numpy = (lambda d: tensorir.dask.map_blocks(w1, d)), (lambda d: bench.w1_expr(da, d))
            for make in (tir, numpy):
                check(make(xd).compute(), want, "W1 on Dask")
            r = results[workers] = timed({"tensorir": tir, "numpy": numpy, "noop": dask_alone}, xd)
            r["tensorir half"] = timed({"tir": tir}, half)["tir"]
            r.update({f"{k} tiny": t for k, t in timed({"tensorir": tir, "numpy": numpy, "noop": dask_alone}, small,
                                                       small.npartitions).items()})
            r["step"] = distributed_step(tensorir, client, gradients, weights, mx, my, 256, repeats)
            r["half step"] = distributed_step(tensorir, client, gradients, weights, mx, my, 128, repeats)
            r["threads"] = tensorir.dask.worker_threads(workers)
    print(f"tir-bench --dask{' --quick' if quick else ''}: {bench.available_cores()} cores, load "
          f"{(bench.load_average() or (0.0,))[0]:.2f} at the end")

    def pair(t: float, u: float) -> str:
        return f"{bench.fmt_time(t)} / {bench.fmt_time(u)} ({t / u:.2f}x)"

    rows = [["Wd1 W1 over 8 chunks", f"{pair(one['tensorir'], one['numpy'])}; {k2} thread{'s' * (k2 > 1)} "
             f"{pair(one['tensorir k2'], one['numpy'])}"] + [pair(r["tensorir"], r["numpy"])
                                                                   for r in results.values()],
            ["Wd1 Dask alone (no-op tasks)", "-"] + [bench.fmt_time(r["noop"]) for r in results.values()],
            ["Wd2 per task, 64-element chunks", "-"]
            + [f"{bench.fmt_time(r['tensorir tiny'])} / {bench.fmt_time(r['numpy tiny'])}; no-op "
               f"{bench.fmt_time(r['noop tiny'])}" for r in results.values()],
            ["Wd3 MLP step, batch 256 (tensorir)", bench.fmt_time(one_step)]
            + [bench.fmt_time(r["step"]) for r in results.values()]]
    bench.print_table(f"Dask, {n:,} float32 in {chunks} chunks (tensorir / numpy, ratio)",
                      ["workload", "one process, no Dask"]
                      + [f"{w} worker{'s' * (w > 1)} x {int(r['threads'])} thread{'s' * (r['threads'] > 1)}"
                         for w, r in results.items()], rows)
    r1, r2 = results[1], results[2]
    ratio = {k: r["tensorir"] / r["numpy"] for k, r in results.items()}
    every, each = one["tensorir"] / one["numpy"], one["tensorir k2"] / one["numpy"]
    print(f"\nW1 ratio on Dask against one process (goal: within 20%): 1 worker x {int(r1['threads'])} threads "
          f"{ratio[1]:.2f}x against {every:.2f}x ({within(ratio[1], every)}); 2 workers x {k2} thread{'s' * (k2 > 1)} "
          f"{ratio[2]:.2f}x against {each:.2f}x with {k2} thread{'s' * (k2 > 1)} ({within(ratio[2], each)}; "
          f"{within(ratio[2], every)} of every core's)")
    net = {k: (r["tensorir"] - r["noop"]) / (r["numpy"] - r["noop"]) for k, r in results.items()}
    print(f"the same less Dask alone (each side's time less the no-op graph's): 1 worker {net[1]:.2f}x "
          f"({within(net[1], every)}), 2 workers {net[2]:.2f}x ({within(net[2], each)})")
    print("per task, 64-element chunks, above Dask alone: "
          + ", ".join(f"{w} worker{'s' * (w > 1)}: tensorir {bench.fmt_time(r['tensorir tiny'] - r['noop tiny'])}, "
                      f"numpy {bench.fmt_time(r['numpy tiny'] - r['noop tiny'])}" for w, r in results.items()))
    print(f"weak scaling (2 workers on twice the work of 1): W1 {r1['tensorir half'] / r2['tensorir']:.2f}, "
          f"MLP step {r1['half step'] / r2['step']:.2f} (one process: batch 128 {bench.fmt_time(half_step)}, "
          f"256 {bench.fmt_time(one_step)})")
    return 0
