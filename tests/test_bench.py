"""tir-bench smoke test: a --quick run of W1 and W2 writes JSON with checked rows (no timing assertions)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
