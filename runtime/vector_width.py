"""The vector width of generated C, chosen by measurement: `-mprefer-vector-width=N` or the compiler's default.

gcc's `-march=native` also picks the CPU's tuning, and some tunings prefer narrower vectors than the CPU has:
AMD znver1 prefers 128-bit vectors, where `-mprefer-vector-width=256` ran W1 (10M float32) in 35.0 ms instead
of 43.4 ms. So, once per machine, the runtime compiles a probe kernel (`PROBE_SOURCE`: W1's kind of fused
float32 loop, exp/log1p/mul/add over a few MB, tir_math.h inline) with the user's flags at the compiler's
default and at each width the CPU supports (`candidates`: 128 and 256, 512 where avx512f is present), times
each (best of `ROUNDS` runs, the variants interleaved), and keeps the fastest (`choose`: a width within
`TIE` of the default is no faster, and the default wins). The choice is cached on disk next to the compiled
code, `<cachedir>/vector_width/<key>.json`, keyed by the compiler (path and version), the user's flags and
the CPU's model and flags, so it costs one compiler run per variant (in parallel) and a few ms of timing,
once per machine; in a process, once.

`config.vector_width`: `auto` (the probe), `128`/`256`/`512` (that flag, unmeasured) or `native` (no flag: the
compiler's default). A `-mprefer-vector-width=` or `-mprefer-avx128` of the user's own in `config.cflags`
wins over either. The probe never raises: any failure (no compiler, a compile error, a library that does not
load) means no flag. `DEBUG>=1` prints the probe's times, once per process.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import config

# The probe's loop (W1's expression), compiled once per variant into a shared library that ctypes loads.
PROBE_SOURCE = """\
#include "tir_math.h"
void tir_probe(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; ++i) y[i] = tir_expf(-x[i] * x[i] * 0.5f) * x[i] + tir_log1pf(fabsf(x[i]));
}
"""
PROBE_ELEMENTS = 1 << 19  # 2 MB in, 2 MB out: ~1 ms a run on a 2-core AVX2 VM (the whole probe: ~0.3 s)
ROUNDS = 7
# A width whose best time is within this fraction of the default's is a tie, which the default wins.
TIE = 0.03
FLAG = "-mprefer-vector-width="
# The user's own flags that set the width (then neither the probe nor config.vector_width adds one).
USER_WIDTH_FLAGS = (FLAG, "-mprefer-avx128")


def candidates(cpu_flags: set[str], machine: str) -> list[int]:
    """The widths (bits) worth measuring on a CPU with these /proc/cpuinfo flags: none off x86-64; 128, and
    256 with AVX, 512 with AVX-512F. Fewer than two: nothing to choose."""
    if machine not in ("x86_64", "AMD64", "i686", "i386"):
        return []
    return [128] + [256] * ("avx" in cpu_flags) + [512] * ("avx512f" in cpu_flags)


def choose(times: dict[int | None, float]) -> int | None:
    """The width of the fastest best time in `times` (width -> seconds, None: the compiler's default), or None
    (no flag) where no width beats the default's time by more than TIE, or the default was not measured."""
    default = times.get(None)
    if default is None:
        return None
    widths = [w for w in times if w is not None]
    if not widths:
        return None
    best = min(widths, key=lambda w: times[w])
    return best if times[best] < default * (1 - TIE) else None


def _cpu_flags() -> set[str]:
    from .cache import _cpu_id

    for line in _cpu_id().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def user_sets_width(flags: list[str]) -> bool:
    return any(f.startswith(USER_WIDTH_FLAGS) for f in flags)


def flags(user: list[str]) -> list[str]:
    """The width flag that joins the user's flags `user` under `config.vector_width` (none where they set one)."""
    mode = config.vector_width
    if mode == "native" or user_sets_width(user):
        return []
    width = int(mode) if mode != "auto" else probe(tuple(user), config.cc)
    return [f"{FLAG}{width}"] if width else []


def setting() -> str:
    """The value of `config.vector_width` that gives the current choice without a probe: for child processes
    (tir-bench's cold compiles), whose fresh cache directory would otherwise make them probe again."""
    from . import ccompiler

    chosen = flags(ccompiler.user_flags())
    return chosen[0][len(FLAG):] if chosen else "native"


def _key(cc_path: str, cc_version: str, user: tuple[str, ...]) -> str:
    from .cache import _cpu_id

    h = hashlib.sha256()
    for part in (cc_path, cc_version, " ".join(user), _cpu_id(), PROBE_SOURCE, str(PROBE_ELEMENTS)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def probe_path(key: str, cachedir: str) -> Path:
    return Path(os.path.expanduser(cachedir)) / "vector_width" / f"{key}.json"


def probe(user: tuple[str, ...], cc: str) -> int | None:
    """The measured width (or None: the default) for the compiler `cc` (config.cc) with the user's flags `user`:
    decided once per process (from the disk cache in config.cachedir, or measured now), and stored in the current
    config.cachedir too where it is missing, so that every process using that directory makes the same choice
    (and the same cache keys). Never raises: a failed probe is None, not stored."""
    decided = _decide(user, cc)
    if decided is None:
        return None
    width, times, key = decided
    path = probe_path(key, config.cachedir)
    if not path.exists():
        _store(path, width, times)
    return width


@functools.cache
def _decide(user: tuple[str, ...], cc: str) -> tuple[int | None, dict[str, float], str] | None:
    """(width, probe times, cache key), or None where no probe applies or it failed."""
    from ..ir.core import TirError
    from . import ccompiler

    widths = candidates(_cpu_flags(), platform.machine())
    if len(widths) < 2:
        return None
    try:
        compiler = ccompiler.find_compiler()
    except TirError:
        return None
    key = _key(compiler.path, compiler.version, user)
    try:
        saved = json.loads(probe_path(key, config.cachedir).read_text())
        width, times = saved["width"], saved["times"]
        _report(times, width, "cached")
        return (None if width is None else int(width)), times, key
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        measured = measure(compiler.path, list(user), widths)
    except Exception:  # noqa: BLE001 - a probe that fails in any way means no flag, never an error
        return None
    width = choose(measured)
    times = {("default" if w is None else str(w)): t for w, t in measured.items()}
    _report(times, width, "measured")
    _store(probe_path(key, config.cachedir), width, times)
    return width, times, key


def _store(path: Path, width: int | None, times: dict[str, float]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"width": width, "times": times}))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache costs another probe in the next process


def measure(cc: str, user: list[str], widths: list[int]) -> dict[int | None, float]:
    """Best time (seconds) of the probe kernel built at each width of `widths` and at the default (None)."""
    from . import ccompiler

    variants: list[int | None] = [None, *widths]
    with tempfile.TemporaryDirectory(prefix="tir-vw-") as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(PROBE_SOURCE)
        sos = [Path(tmp) / f"probe{w or 0}.so" for w in variants]
        cmds = [[cc, *user, *([f"{FLAG}{w}"] if w else []), "-fno-math-errno", "-fPIC", "-shared", "-std=gnu11",
                 f"-I{ccompiler.RUNTIME_DIR}", str(src), "-o", str(so)] for w, so in zip(variants, sos)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(cmds)) as pool:
            procs = list(pool.map(lambda c: subprocess.run(c, capture_output=True, timeout=60), cmds))
        failed = [shlex.join(c) for c, p in zip(cmds, procs) if p.returncode != 0]
        if failed:
            raise ValueError(f"probe compile failed: {failed[0]}")
        fns = []
        for so in sos:
            fn = ctypes.CDLL(str(so)).tir_probe
            fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long], None
            fns.append(fn)
        x = np.linspace(-10.0, 10.0, PROBE_ELEMENTS, dtype=np.float32)
        y = np.empty_like(x)
        best = [float("inf")] * len(fns)
        for _ in range(ROUNDS):
            for k, fn in enumerate(fns):
                start = time.perf_counter()
                fn(x.ctypes.data, y.ctypes.data, x.size)
                best[k] = min(best[k], time.perf_counter() - start)
    return dict(zip(variants, best))


def _report(times: dict[str, float], width: int | None, how: str) -> None:
    if config.debug >= 1:
        shown = ", ".join(f"{w} {1e3 * t:.3f} ms" for w, t in times.items())
        print(f"tensorir: vector width probe ({how}): {shown} -> {width or 'default'}", file=sys.stderr)


def describe() -> str:
    """The width that generated code gets now, and why (tir-bench's header)."""
    from . import ccompiler

    user = ccompiler.user_flags()
    if user_sets_width(user):
        return "set by cflags"
    chosen = flags(user)
    how = {"auto": "measured", "native": "compiler default"}.get(config.vector_width, "vector_width flag")
    return f"{chosen[0][len(FLAG):] if chosen else 'compiler default'} ({how})"
