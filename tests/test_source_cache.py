"""A warm process builds a compiled function without running the pass pipeline or the compiler:
the generated C is cached by the function's IR (with locations) and the compiler/code identity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine (the C target needs one)")

SCRIPT = """
import json, sys, numpy as np, tensorir
from tensorir import tensor as T
from tensorir.runtime import cache
x = T.fvector("x")
f = tensorir.function([x], T.exp(x) * 2)
out = f(np.arange(4, dtype=np.float32)).tolist()
lazy = "mem.generic" in f.ir("bufferize")  # stages on demand, even from the cache
print(json.dumps({"out": out, "compiles": cache.stats()["compiles"], "lazy_stages": lazy}))
"""


def run_script(cachedir: Path) -> tuple[dict, str]:
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={cachedir}", DEBUG="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_warm_process_skips_pipeline_and_compiler(tmp_path: Path) -> None:
    cold, cold_err = run_script(tmp_path)
    assert cold["compiles"] == 1 and "source from the cache" not in cold_err
    warm, warm_err = run_script(tmp_path)
    assert warm["compiles"] == 0 and "source from the cache" in warm_err
    assert "canonicalize" not in warm_err.split("source from the cache")[0]  # no pass ran before the hit
    want = (np.exp(np.arange(4, dtype=np.float32)) * 2).tolist()
    assert cold["out"] == warm["out"] and np.allclose(warm["out"], want)
    assert cold["lazy_stages"] and warm["lazy_stages"]


def test_damaged_entry_is_ignored(tmp_path: Path) -> None:
    run_script(tmp_path)
    for entry in (tmp_path / "src").glob("*.json"):
        entry.write_text("{not json")
    again, err = run_script(tmp_path)
    assert "source from the cache" not in err and again["compiles"] == 0  # regenerated; the .so was still valid
    for entry in (tmp_path / "src").glob("*.json"):
        assert json.loads(entry.read_text())["source"].startswith("/*")
