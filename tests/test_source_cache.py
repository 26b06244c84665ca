"""A warm process builds a compiled function without running the pass pipeline or the compiler:
the generated C is cached by the function's IR (with locations) and the compiler/code identity."""

from __future__ import annotations

import json
import os
import re
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
print(json.dumps({"out": out, "compiles": cache.stats()["compiles"], "lazy_stages": lazy,
                  "lines": len(f.source().splitlines())}))
"""


def run_script(cachedir: Path, debug: int = 1) -> tuple[dict, str]:
    # tiered=0: the cold process compiles before its call (tests/test_tiers.py tests tiered execution)
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={cachedir},tiered=0", DEBUG=str(debug))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_warm_process_skips_pipeline_and_compiler(tmp_path: Path) -> None:
    cold, cold_err = run_script(tmp_path)
    assert cold["compiles"] == 1 and "cache hit: " not in cold_err
    warm, warm_err = run_script(tmp_path)
    assert warm["compiles"] == 0 and "cache hit: " in warm_err
    assert "canonicalize" not in warm_err.split("cache hit: ")[0]  # no pass ran before the hit
    want = (np.exp(np.arange(4, dtype=np.float32)) * 2).tolist()
    assert cold["out"] == warm["out"] and np.allclose(warm["out"], want)
    assert cold["lazy_stages"] and warm["lazy_stages"]


def test_damaged_entry_is_ignored(tmp_path: Path) -> None:
    run_script(tmp_path)
    for entry in (tmp_path / "src").glob("*.json"):
        entry.write_text("{not json")
    again, err = run_script(tmp_path)
    assert "cache hit: " not in err and again["compiles"] == 0  # regenerated; the .so was still valid
    for entry in (tmp_path / "src").glob("*.json"):
        assert json.loads(entry.read_text())["source"].startswith("/*")


def _dumps(err: str) -> list[str]:
    """The IR dump headers and the C source header DEBUG printed, in order."""
    return [line for line in err.splitlines() if line.startswith(("// ----- IR ", "// ----- C source"))]


def test_debug_levels_show_the_ir_on_a_cache_hit(tmp_path: Path) -> None:
    cold, cold_err = run_script(tmp_path, debug=4)  # a DEBUG run fills the cache like any other
    warm, warm_err = run_script(tmp_path, debug=4)
    assert cold["compiles"] == 1 and warm["compiles"] == 0
    hit = warm_err.split("cache hit: ")[1].splitlines()[0]
    assert Path(hit).is_file() and Path(hit).parent == tmp_path / "src"
    dumps = _dumps(cold_err)
    # DEBUG=3: the IR before and after each pass of the cpu pipeline; DEBUG=4: then the C source.
    from tensorir.passes import PIPELINES
    first = PIPELINES["cpu"][0]
    assert dumps[0] == f"// ----- IR before {first}" and dumps[1].startswith(f"// ----- IR after {first}")
    assert "// ----- IR before emit-c" in dumps and dumps[-1] == "// ----- C source of @main"
    assert _dumps(warm_err) == dumps
    _, err2 = run_script(tmp_path, debug=2)
    assert not any("IR before" in d for d in _dumps(err2))
    assert [d for d in _dumps(err2) if "IR after" in d] == [d for d in dumps if "IR after" in d]


def _report(err: str) -> dict[str, tuple[float, str]]:
    """The DEBUG=1 timing lines of @main: {what: (seconds, rest of the line)}."""
    found = {}
    for line in err.splitlines():
        m = re.fullmatch(r"tensorir: @main: (passes|code generation|C compiler|ready in) (\d+\.\d+) s(.*)", line)
        if m:
            assert m[1] not in found, err
            found[m[1]] = (float(m[2]), m[3])
    return found


def test_debug_1_reports_where_compile_time_goes(tmp_path: Path) -> None:
    """DEBUG=1: a cold build prints the cache miss, then the passes, code generation (emit-c) and the C
    compiler on separate lines with their wall times, and the total; a warm one the hit and no compile."""
    cold, err = run_script(tmp_path, debug=1)
    assert re.search(r"^tensorir: @main: cache miss: .*\.json$", err, re.M), err
    times = _report(err)
    assert set(times) == {"passes", "code generation", "C compiler", "ready in"}, err
    assert all(seconds >= 0 for seconds, _ in times.values())
    parts = times["passes"][0] + times["code generation"][0] + times["C compiler"][0]
    assert 0 < parts <= times["ready in"][0] + 0.002  # each printed rounded to the millisecond
    assert times["code generation"][1] == f" (emit-c, {cold['lines']} lines)"
    assert times["C compiler"][1] == " (1 run)" and cold["compiles"] == 1
    count = re.fullmatch(r" \((\d+) passes .*", times["passes"][1])
    from tensorir.passes import PIPELINES
    assert count and int(count[1]) == len(PIPELINES["cpu"]) - 1  # all but emit-c
    warm, warm_err = run_script(tmp_path, debug=1)
    assert warm["compiles"] == 0 and "tensorir: @main: cache hit: " in warm_err
    assert "tensorir: @main: C compiler not run: the compiled module is in the cache" in warm_err
    warm_times = _report(warm_err)
    assert set(warm_times) == {"ready in"} and warm_times["ready in"][1] == " (cache hit)", warm_err
    assert "cache miss" not in warm_err
