"""tir-bench smoke test: a --quick run of W1 and W2 writes JSON with checked rows (no timing assertions)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for the C reference")
def test_bench_quick_w1_w2(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tensorir.tools.bench", "--quick", "--workloads", "W1,W2", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert {r["workload"] for r in rows} == {"W1", "W2"}
    assert doc["tensorir_target"] in ("c", "interp")
    for case in {r["case"] for r in rows}:
        group = [r for r in rows if r["case"] == case]
        numpy_rows = [r for r in group if r["group"] == "numpy"]
        cref_rows = [r for r in group if r["group"] == "c-ref"]
        assert numpy_rows and all(r["correct"] and r["status"] == "ok" and r["median_s"] > 0 for r in numpy_rows)
        assert cref_rows and all(r["correct"] and r["status"] == "ok" and r["median_s"] > 0 for r in cref_rows)
        tir = [r for r in group if r["group"] == "tensorir"]
        assert len(tir) == 1, group
        if doc["tensorir_target"] == "interp":
            assert "C target not available" in tir[0]["impl"]
            assert any("C target is not available" in n for n in doc["notes"])
            assert tir[0]["correct"]
        else:
            assert tir[0]["impl"].startswith("tensorir C")
    # the table went to stdout with a header naming the machine
    assert "machine:" in proc.stdout and "W1 fused elementwise" in proc.stdout


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for tensorir's C target")
def test_bench_quick_w5_reductions(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tensorir.tools.bench", "--quick", "--workloads", "W5", "--no-peers", "--json",
         str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    from tensorir.tools.bench import W5_REDUCTIONS
    assert len({r["case"] for r in rows}) == len(W5_REDUCTIONS)
    for case in {r["case"] for r in rows}:
        checked = [r for r in rows if r["case"] == case and r["group"] in ("numpy", "tensorir")]
        assert len(checked) == 2 and all(r["correct"] and r["status"] == "ok" for r in checked), checked


def test_integer_outputs_are_checked_by_equality() -> None:
    """argmax rows: any integer dtype (JAX's int32 against numpy's int64), equal or wrong; not a float."""
    from tensorir.tools.bench import rel_error
    want = np.array([3, 0, 7], dtype=np.int64)
    assert rel_error(np.array([3, 0, 7], dtype=np.int32), want) == 0.0
    assert rel_error(np.array([3, 1, 7]), want) == np.inf
    with pytest.raises(ValueError, match="integer"):
        rel_error(want.astype(np.float32), want)


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for tensorir's C target")
def test_bench_w6_layout_sweep_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """W6 cases of each kind (a reduction of a reversed input, a transposing copy, a product with a flop
    count) run through the harness at --quick sizes: numpy and tensorir rows checked and timed."""
    from tensorir.tools import bench
    picked = [c for c in bench.W6_CASES if c[0] in ("sum axis 0 of a reversed input", "x.T + 0",
                                                    "batched matmul 64x128x128")]
    assert len(picked) == 3
    monkeypatch.setattr(bench, "W6_CASES", picked)
    st = bench.Settings(quick=True, threads=2, threads_given=False, min_sample_s=0.001, samples=2,
                        target=bench.tensorir_target("auto")[0])
    peers = bench.Peers(st)
    peers.jax_error = peers.pytensor_error = "skipped"
    cases = bench.w6_cases(st, peers)
    for case in cases:
        rows = {r.group: r for r in bench.run_case(case, st)}
        assert rows["numpy"].correct and rows["tensorir"].correct, case.name
        assert rows["tensorir"].median_s and rows["tensorir"].median_s > 0
        assert rows["jax"].status == "skipped"
    assert cases[2].flops == 2.0 * 8 * 16 * 16 * 16  # the quick batched matmul: 8 products of 16x16 by 16x16
    assert cases[0].floor_bytes == 512 * 512 * 4 + 512 * 4  # reads 512x512 float32 once, writes 512 once


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for tensorir's C target")
def test_bench_w7_training_steps_are_checked() -> None:
    """W7 at --quick sizes: tensorir's SGD step (tensorir.grad, shared, updates) leaves the parameters the
    hand-written numpy step computes in float64, for both models, and is timed."""
    from tensorir.tools import bench
    st = bench.Settings(quick=True, threads=2, threads_given=False, min_sample_s=0.001, samples=2,
                        target=bench.tensorir_target("auto")[0])
    peers = bench.Peers(st)
    peers.jax_error = peers.pytensor_error = "skipped"
    cases = bench.w7_cases(st, peers)
    assert len(cases) == 2
    for case in cases:
        rows = {r.group: r for r in bench.run_case(case, st)}
        assert rows["numpy"].correct and rows["tensorir"].correct, (case.name, rows["tensorir"].note)
        assert rows["tensorir"].median_s and rows["tensorir"].median_s > 0


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for tensorir's C target")
def test_bench_w8_quick_compile_scaling(tmp_path: Path) -> None:
    """W8 --quick: the 10-op chain compiled cold and warm in fresh processes, its first result checked against
    numpy float64, and the scaling table printed."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tensorir.tools.bench", "--quick", "--workloads", "W8", "--no-peers", "--json",
         str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    from tensorir.tools.bench import RTOL
    [row] = doc["compile"]
    assert row["graph"] == "chain10" and row["status"] == "ok", row
    assert row["rel_err"] <= RTOL and row["cold_s"] > 0 and row["warm_s"] > 0
    if doc["tensorir_target"] == "c":
        # the cold run compiled C (cc_s sums the compiler runs, the math libraries' in parallel), in the
        # background: its first result came before (tiered execution)
        assert row["cold_cc_s"] > 0 and row["cold_s"] <= row["cold_compiled_s"]
    assert "W8 compile time as the graph grows" in proc.stdout and "chain of 10 ops" in proc.stdout


def test_compile_limit_stops_the_run_and_what_it_started(tmp_path: Path) -> None:
    """A run past --compile-limit is killed with the processes it started (the C compiler) and shown as '>N s'."""
    from tensorir.tools import bench
    pid_file = tmp_path / "pid"
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen(['sleep', '60'])\n"
            "open(sys.argv[1], 'w').write(str(p.pid))\n"
            "time.sleep(60)\n")
    row = bench.CompileRow("child")
    bench._cold_and_warm(row, code, [str(pid_file)], lambda d: dict(os.environ), limit=2.0)
    assert row.status == "over limit" and row.over_limit == "cold" and row.cold_s is None, row
    assert bench.compile_cell(row, "cold") == ">2 s"
    grandchild = int(pid_file.read_text())
    for _ in range(100):  # killed; gone once its new parent has reaped it
        state = Path(f"/proc/{grandchild}/stat")
        if not state.exists() or state.read_text().split(") ")[1].startswith("Z"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the grandchild {grandchild} still runs")


def test_compile_times_skips_missing_peers_and_longer_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Peers that are not installed are skipped rows; a tool over the limit on the 100-op chain is not run on
    the 400-op one (shown over the limit); --skip-slow-peers leaves out PyTensor's wide graph."""
    from tensorir.tools import bench
    ran: list[tuple[str, str]] = []

    def fake(row: bench.CompileRow, code: str, argv: list[str], make_env: object, limit: float) -> None:
        graph, group = argv[0], argv[1]
        ran.append((group, graph))
        row.limit_s = limit
        if group == "jax" and graph == "chain100":
            row.status, row.over_limit = "over limit", "cold"
        else:
            row.cold_s = row.warm_s = {"chain100": 2.0, "chain400": 6.0}.get(graph, 1.0)
    monkeypatch.setattr(bench, "_cold_and_warm", fake)
    monkeypatch.setattr(bench, "module_version", lambda name: None if name == "numba" else "1")
    st = bench.Settings(quick=False, threads=2, threads_given=False, min_sample_s=0.0, samples=0, target="c")
    rows = bench.compile_times(st, ["chain100", "chain400", "wide", "W1"], lambda g: g != "W1", limit=10.0,
                               skip_slow=True)
    assert ran == [("tensorir", "chain100"), ("jax", "chain100"), ("pytensor", "chain100"), ("tensorir", "chain400"),
                   ("pytensor", "chain400"), ("tensorir", "wide"), ("jax", "wide"), ("tensorir", "W1")]
    by = {(r.graph, r.impl.split()[0]): r for r in rows}
    assert by["chain400", "jax.jit"].status == "over limit" and bench.compile_cell(by["chain400", "jax.jit"],
                                                                                    "cold") == ">10 s"
    assert by["wide", "pytensor"].status == "skipped" and "skip-slow" in by["wide", "pytensor"].note
    impls = {r.graph: r.impl for r in rows}
    assert bench.growth(rows, impls["W1"], "chain100", "chain400") == "3.0x"  # tensorir: 6 s / 2 s
    assert bench.growth(rows, by["chain100", "jax.jit"].impl, "chain100", "chain400") == "-"  # no 100-op time
    over = [bench.CompileRow("t", graph="chain100", cold_s=2.0),
            bench.CompileRow("t", graph="chain400", limit_s=10.0, over_limit="cold")]
    assert bench.growth(over, "t", "chain100", "chain400") == ">5.0x"
    monkeypatch.setattr(bench, "module_version", lambda name: None)
    rows = bench.compile_times(st, ["chain10"], lambda g: True, limit=10.0, skip_slow=False)
    assert [(r.impl.split()[0], r.status) for r in rows] == [("tensorir", "ok"), ("jax.jit", "skipped"),
                                                               ("pytensor", "skipped")]
    assert all("not installed" in r.note for r in rows[1:])


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                    reason="no C compiler for tensorir's C target")
def test_bench_w9_rnn_is_checked() -> None:
    """W9 at --quick sizes: tensorir.scan's forward loop and its gradient (backpropagation through time)
    equal the numpy loop and its hand-written gradient in float64, and are timed."""
    from tensorir.tools import bench
    st = bench.Settings(quick=True, threads=2, threads_given=False, min_sample_s=0.001, samples=2,
                        target=bench.tensorir_target("auto")[0])
    peers = bench.Peers(st)
    peers.jax_error = peers.pytensor_error = "skipped"
    cases = bench.w9_cases(st, peers)
    assert [c.name for c in cases] == ["W9 RNN forward", "W9 RNN forward and gradient"]
    for case in cases:
        rows = {r.group: r for r in bench.run_case(case, st)}
        assert rows["numpy"].correct and rows["tensorir"].correct, (case.name, rows["tensorir"].note)
        assert rows["tensorir"].median_s and rows["tensorir"].median_s > 0


def test_bench_dask_mlp_gradients_are_scaled_sums() -> None:
    """tir-bench --dask's data-parallel gradient function, against bench.mlp_grads (numpy, by hand): the shards'
    gradients (scale = 1 / batch) add up to the batch's."""
    import tensorir
    from tensorir.tools import bench, bench_dask

    weights, x, y = bench_dask.mlp_data(quick=True)
    gradients = bench_dask.mlp_gradients(tensorir)
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    want = bench.mlp_grads({n: w.astype(np.float64) for n, w in zip(names, weights)}, x[:40].astype(np.float64),
                           y[:40].astype(np.float64))
    shards = [gradients(x[a:b], y[a:b], np.float32(1 / 40), *weights) for a, b in ((0, 15), (15, 40))]
    for k, n in enumerate(names):
        np.testing.assert_allclose(shards[0][k] + shards[1][k], want[n], rtol=1e-4, atol=1e-6)
