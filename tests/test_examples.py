"""The examples README points at run as written: the tutorial script (README's first command) and
every .tir file through the native pipeline and `tirc run` (checked against numpy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_tutorial_script_runs(tmp_path: Path) -> None:
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={tmp_path}")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "tutorial.py")], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1.5 + 2.5 = 4.0" in proc.stdout and "tir_main" in proc.stdout


def test_every_tir_example_compiles_to_c(tmp_path: Path) -> None:
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.tir"))
    proc = subprocess.run([sys.executable, "-m", "tensorir.tools.tir_opt", *files, "--pipeline", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("TIR_MODULE(tir_main") == len(files)


def test_logistic_example_through_tirc_equals_numpy(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={tmp_path / 'cache'}")
    proc = subprocess.run([sys.executable, "-m", "tensorir.tools.tirc", "run", str(ROOT / "examples" / "logistic.tir"),
                           "--input", f"x={tmp_path / 'x.npy'}", "--output", str(tmp_path / "out.npz")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["out0"], 1 / (1 + np.exp(-x)), rtol=1e-12)
        np.testing.assert_allclose(out["out1"], out["out0"], rtol=1e-12)
        assert float(out["out2"]) < 1e-12
