"""Tiered execution (flag `tiered`): after a cache miss the reference interpreter answers the calls while
the C compiler runs in the background; then the compiled code takes over. A compiler wrapper that waits
for a file makes the order of events certain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorir
from tensorir import TirError, config
from tensorir import tensor as T

CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler on this machine (the C target needs one)")


def _held_compiler(tmp_path: Path, fail: bool = False) -> tuple[Path, Path]:
    """A compiler that answers --version (and the vector-width probe) at once and compiles (or fails) the
    function only once `release` exists."""
    release, wrapper = tmp_path / "release", tmp_path / "held-cc"
    action = 'echo "held-cc: error: refused" >&2; exit 1' if fail else f'exec {CC} "$@"'
    # The vector-width probe (runtime/vector_width.py, once per compiler and process) is not held: it compiles
    # in tir-vw-* folders before the function's own compile would start.
    wrapper.write_text(f'#!/bin/sh\ncase "$1" in --version) exec {CC} --version;; esac\n'
                       f'case "$*" in *tir-vw-*) exec {CC} "$@";; esac\n'
                       f'while [ ! -e {release} ]; do sleep 0.02; done\n{action}\n')
    wrapper.chmod(0o755)
    return wrapper, release


def _graph() -> tuple[list[T.Variable], T.Variable]:
    x, y = T.fvector("x"), T.fscalar("y")
    return [x, y], T.tanh(T.sin(x) * y) + T.exp(-x * x)


def test_the_interpreter_answers_until_the_compiled_code_is_loaded(tmp_path: Path) -> None:
    wrapper, release = _held_compiler(tmp_path)
    inputs, out = _graph()
    a, b = np.linspace(-2, 2, 37, dtype=np.float32), np.float32(0.7)
    def build() -> tensorir.Function:  # one call site: the same IR, locations included
        return tensorir.function(inputs, out)

    with config.change_flags(tiered=True, cc=str(wrapper), cachedir=str(tmp_path / "cache")):
        f = build()
        reference = tensorir.function(inputs, out, target="interp")
        for _ in range(2):  # the compiler is held: every call is the interpreter's, bit for bit
            np.testing.assert_array_equal(f(a, b), reference(a, b))
            assert not f.compiled
        assert "tir_" in f.source()  # the generated C exists already
        release.touch()
        f.wait()
        assert f.compiled
        compiled = f(a, b)
        again = build()  # the same graph now hits the cache: compiled at once
        assert again.compiled
    np.testing.assert_array_equal(compiled, again(a, b))
    np.testing.assert_allclose(compiled, reference(a, b), rtol=2e-6, atol=1e-7)


def test_the_compilers_error_is_raised_by_the_next_call(tmp_path: Path) -> None:
    wrapper, release = _held_compiler(tmp_path, fail=True)
    inputs, out = _graph()
    with config.change_flags(tiered=True, cc=str(wrapper), cachedir=str(tmp_path / "cache")):
        f = tensorir.function(inputs, out)
        np.testing.assert_allclose(f(np.ones(3, np.float32), 1.0), np.tanh(np.sin(1.0)) + np.exp(-1.0), rtol=1e-6)
        release.touch()
        with pytest.raises(TirError, match="held-cc: error: refused"):
            f.wait()
        with pytest.raises(TirError, match="held-cc: error: refused"):
            f(np.ones(3, np.float32), 1.0)


def test_a_missing_compiler_is_an_error_of_tensorir_function(tmp_path: Path) -> None:
    inputs, out = _graph()
    with config.change_flags(tiered=True, cc="/nonexistent/cc", cachedir=str(tmp_path)), \
            pytest.raises(TirError, match="no C compiler found"):
        tensorir.function(inputs, out)


SCRIPT = """
import json, numpy as np, tensorir
from tensorir import tensor as T
from tensorir.runtime import cache
x = T.dvector("x")
f = tensorir.function([x], T.log1p(T.exp(x)) * 3)
out = f(np.arange(5.0))
print(json.dumps({"compiled": f.compiled, "compiles": cache.stats()["compiles"]}))
"""


def test_a_process_that_ends_first_waits_for_the_compile_so_the_next_one_compiles_nothing(tmp_path: Path) -> None:
    env = dict(os.environ, TENSORIR_FLAGS=f"cachedir={tmp_path},tiered=1")
    runs = [json.loads(subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                                      check=True).stdout) for _ in range(2)]
    assert runs[1] == {"compiled": True, "compiles": 0}
    assert list(tmp_path.glob("c/*/module.so"))


_FORKED: list[tensorir.Function] = []  # the function a forked child calls (a fork copies it; no pickling)


def _call_in_child(a: np.ndarray, b: np.float32) -> tuple[bool, list[float]]:
    f = _FORKED[0]
    return f.compiled, f(a, b).tolist()


def test_a_child_forked_during_the_compile_runs_the_interpreter(tmp_path: Path) -> None:
    import multiprocessing as mp

    wrapper, release = _held_compiler(tmp_path)
    inputs, out = _graph()
    a, b = np.linspace(-1, 1, 9, dtype=np.float32), np.float32(1.5)
    with config.change_flags(tiered=True, cc=str(wrapper), cachedir=str(tmp_path / "cache")):
        f = tensorir.function(inputs, out)
        f(a, b)
        _FORKED[:] = [f]
        with mp.get_context("fork").Pool(1) as pool:  # the parent's compile is held: it runs during the fork
            compiled, got = pool.apply(_call_in_child, (a, b))
        _FORKED.clear()
        release.touch()
        f.wait()
    assert not compiled
    np.testing.assert_array_equal(got, tensorir.function(inputs, out, target="interp")(a, b))
    assert f.compiled


def test_debug_1_says_which_tier_runs_and_what_the_background_compile_took(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    inputs, out = _graph()
    with config.change_flags(tiered=True, debug=1, cachedir=str(tmp_path)):
        f = tensorir.function(inputs, out)
        f.wait()
    err = capsys.readouterr().err
    assert "(the interpreter runs the calls while the C compiles)" in err
    seconds = err.split("C compiler ")[-1].split(" s in the background")[0]
    assert float(seconds) > 0 and "C compiler not run" not in err
