"""The C compiler driver of the `c` target: one C source -> one CPython extension module (.so).

The generated source includes `tir_runtime.h` (backends/c_runtime/), which pulls in Python.h, numpy's C
API, `tir_math.h` and, with `TIR_USE_BLAS`, scipy-openblas32's cblas. This module finds the compiler,
builds the command line and turns failures into `TirError`s that say what to do:

    cc <config.cflags> [-mprefer-vector-width=N] -fno-math-errno -fPIC -shared -fopenmp -std=gnu11
       -I<python> -I<numpy> -I<c_runtime> -I<openblas> -DTIR_MODNAME=<name> src.c -o out.so
       -Wl,--as-needed -L<openblas lib> -lscipy_openblas -Wl,-rpath,<openblas lib>
       [-L<entry> -l:libtir_sinf-<key>.so -Wl,-rpath,<entry> ...]

The last line links the math functions the source calls out of line (runtime/mathlib.py), each a library
built once by `compile_library` with the same flags (cached by runtime/cache.py `math_libraries`):

    cc <config.cflags> [-mprefer-vector-width=N] <required flags> -I<c_runtime>
       -Wl,-soname,libtir_sinf-<key>.so lib.c -o lib.so

A large module is compiled as several translation units at once (`translation_units`: each unit the
source's prelude and a share of its kernels, one per core, and the host function in a unit of its own at
-O1; `-DTIR_KERNEL=` so the kernels link across units), then linked.

`config.cflags` (default `-O3 -march=native`) is the user's part: optimisation level and target CPU;
`-mprefer-vector-width=N` joins them as `config.vector_width` says (runtime/vector_width.py: by default
the width a probe kernel ran fastest at, measured once per machine), unless they set the width themselves;
the rest is required. `-ffast-math` and its parts are refused: tir_math.h relies on IEEE semantics.
`DEBUG>=5` (config.debug) prints each command line to stderr; the compiler's wall time is counted
(`cache.stats()["compile_s"]`), which `DEBUG>=1` reports per function (frontend/function.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import config
from ..ir.core import TirError
from . import vector_width

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "backends" / "c_runtime"

# Always on: shared object, IEEE-preserving vectorizable math (tir_math.h), OpenMP for loop.parallel.
REQUIRED_FLAGS = ("-fno-math-errno", "-fPIC", "-shared", "-fopenmp", "-std=gnu11", "-fvisibility=hidden",
                  "-fno-semantic-interposition")
# Flags that break tir_math.h (error-free transforms, nan/inf handling): never accepted from config.cflags.
FORBIDDEN_FLAGS = ("-ffast-math", "-Ofast", "-fassociative-math", "-ffinite-math-only",
                   "-funsafe-math-optimizations", "-fno-signed-zeros", "-freciprocal-math")

# The lines that split generated C into translation units (backends/c.py, `translation_units`), a loop's
# weight in lines, and the least weight of kernels worth a second compiler process (which parses the
# runtime header again: ~0.1 s).
KERNEL_MARK = "/* tir:kernel */"
HOST_MARK = "/* tir:host */"
LOOP_WEIGHT = 10
SPLIT_MIN_WEIGHT = 300

_NO_COMPILER_HELP = (
    "install one (Debian/Ubuntu: `apt-get install gcc`) or point tensorir at it with "
    "TENSORIR_FLAGS=cc=/path/to/cc (tensorir.config.cc); target=\"interp\" works without a compiler"
)


@dataclass(frozen=True)
class Compiler:
    """A located compiler: its path and its `--version` text (part of the cache key)."""

    path: str
    version: str


@functools.cache
def _probe(path: str) -> Compiler:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise TirError(f"C compiler {path!r} cannot be run ({e.strerror}): {_NO_COMPILER_HELP}") from None
    if out.returncode != 0:
        raise TirError(f"C compiler {path!r} failed on --version: {out.stderr.strip()[:300]}")
    return Compiler(path, out.stdout.strip())


def find_compiler() -> Compiler:
    """The compiler named by `config.cc`; for the default `cc`, also try gcc and clang."""
    name = config.cc.strip()
    candidates = [name] + (["gcc", "clang"] if name == "cc" else [])
    for cand in candidates:
        found = shutil.which(cand)
        if found:
            return _probe(os.path.realpath(found))
    tried = ", ".join(repr(c) for c in candidates)
    raise TirError(f"no C compiler found (tried {tried}): {_NO_COMPILER_HELP}")


@functools.lru_cache(maxsize=1)
def _openblas() -> tuple[str, str, str]:
    """(include dir, lib dir, link name) of scipy-openblas32."""
    try:
        import scipy_openblas32 as ob
    except ImportError:
        raise TirError("the c target needs the scipy-openblas32 package: `pip install scipy-openblas32`") from None
    return ob.get_include_dir(), ob.get_lib_dir(), ob.get_library()


@functools.lru_cache(maxsize=1)
def _numpy_include() -> str:
    import numpy

    return numpy.get_include()


def user_flags() -> list[str]:
    """`config.cflags`, split, with the forbidden fast-math family refused."""
    flags = shlex.split(config.cflags)
    bad = [f for f in flags if f in FORBIDDEN_FLAGS]
    if bad:
        raise TirError(f"tensorir.config.cflags contains {' '.join(bad)}: tensorir's C math (tir_math.h) needs "
                       "IEEE semantics (nan, inf, signed zeros, exact rounding); remove it")
    return flags


def target_flags() -> list[str]:
    """`user_flags` and the vector width chosen for them (runtime/vector_width.py, `config.vector_width`)."""
    user = user_flags()
    return [*user, *vector_width.flags(user)]


def compile_flags() -> list[str]:
    """Every flag except the module name, sources and outputs (part of the cache key)."""
    inc, libdir, lib = _openblas()
    includes = {sysconfig.get_paths()["include"], sysconfig.get_paths()["platinclude"], _numpy_include(),
                str(RUNTIME_DIR), inc}
    return [*target_flags(), *REQUIRED_FLAGS, *(f"-I{d}" for d in sorted(includes)),
            "-Wl,--as-needed", f"-L{libdir}", f"-l{lib}", f"-Wl,-rpath,{libdir}"]


def runtime_headers_digest() -> str:
    """sha256 over backends/c_runtime/*.h: editing a header invalidates the cache."""
    h = hashlib.sha256()
    for p in sorted(RUNTIME_DIR.glob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# Compiler invocations in this process (cache.stats() reports them): modules, their translation units,
# math libraries, and the wall time of all of them in seconds.
_counters: dict[str, float] = {"compiles": 0, "units": 0, "library_compiles": 0, "compile_s": 0.0}


def library_link_flags(libraries: Sequence[Path]) -> list[str]:
    """Link to each library by its file name (its soname) with an rpath to its directory: the module finds it
    wherever the process runs, and a moved cache fails to load and is rebuilt (runtime/c_module.load)."""
    flags = []
    for lib in libraries:
        flags += [f"-L{lib.parent}", f"-l:{lib.name}", f"-Wl,-rpath,{lib.parent}"]
    return flags


def compile_module(source_path: Path, output_path: Path, modname: str, compiler: Compiler | None = None,
                   libraries: Sequence[Path] | Callable[[], Sequence[Path]] = ()) -> None:
    """Build `source_path` into the extension module `output_path` whose init is `PyInit_<modname>`, linked
    to `libraries` (the math functions it calls out of line: runtime/mathlib.py). A callable `libraries`
    (that waits for libraries being built meanwhile) is called between compiling the module to object
    files and linking them. A large source is compiled as several translation units at once
    (`translation_units`), written next to `output_path` and removed afterwards unless the compiler fails.

    Raises TirError with the first error lines of the compiler (and where the source was kept) on failure.
    """
    cc = compiler or find_compiler()
    flags = compile_flags()
    link = [f for f in flags if f.startswith(("-Wl,", "-L", "-l"))]
    cflags = [f for f in flags if f not in link]
    units = translation_units(source_path.read_text(), compile_jobs())
    _counters["units"] += len(units)
    if len(units) == 1 and not callable(libraries):
        _run(cc, [[cc.path, *cflags, f"-DTIR_MODNAME={modname}", str(source_path), "-o", str(output_path), *link,
                   *library_link_flags(libraries)]], [source_path], "compiles")
        return
    paths = [source_path] if len(units) == 1 else \
        [output_path.with_name(f"{output_path.name}.unit{k}.c") for k in range(len(units))]
    objects = [output_path.with_name(f"{output_path.name}.unit{k}.o") for k in range(len(units))]
    defines = [f"-DTIR_MODNAME={modname}"] + (["-DTIR_KERNEL="] if len(units) > 1 else [])
    try:
        if len(units) > 1:
            for path, text in zip(paths, units):
                path.write_text(text)
        host = host_flags(cflags) if len(units) > 1 else []
        _run(cc, [[cc.path, *cflags, *defines, *(host if k == len(units) - 1 else []), "-c", str(src), "-o", str(obj)]
                  for k, (src, obj) in enumerate(zip(paths, objects))], paths, "compiles")
        libs = libraries() if callable(libraries) else libraries
        _run(cc, [[cc.path, *cflags, *map(str, objects), "-o", str(output_path), *link, *library_link_flags(libs)]],
             [source_path], None)
        for path in paths if len(units) > 1 else []:
            path.unlink()
    finally:
        for obj in objects:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(obj)


def compile_jobs() -> int:
    """How many compiler processes one module may run at once: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def translation_units(source: str, jobs: int) -> list[str]:
    """`source` (backends/c.py's, with its KERNEL_MARK and HOST_MARK lines) as translation units, each the
    prelude (the text before the first mark, which declares every kernel) and some of the parts: the kernels
    shared out to at most `jobs` units by weight, heaviest first to the lightest unit (the parts keep their
    order in a unit), then the host part alone in the last unit, which is compiled at -O1 (`compile_module`).
    A part weighs its lines plus LOOP_WEIGHT per loop: gcc's time, measured on the MLP step's module, is about
    1 ms per line of straight host code and 10 ms more per loop (each one vectorized, versioned, unrolled).
    `[source]` when there is one job, or the parts weigh less than SPLIT_MIN_WEIGHT, where another compiler
    process would cost more than it saves."""
    lines = source.split("\n")
    marks = [k for k, line in enumerate(lines) if line in (KERNEL_MARK, HOST_MARK)]
    if len(marks) < 2 or lines[marks[-1]] != HOST_MARK:
        return [source]
    prelude = lines[:marks[0]]
    parts = [lines[a:b] for a, b in zip(marks, [*marks[1:], len(lines)])]
    weights = [len(p) + LOOP_WEIGHT * sum("for (" in line for line in p) for p in parts]
    if jobs < 2 or sum(weights) < SPLIT_MIN_WEIGHT:
        return [source]
    n = min(jobs, len(parts) - 1)
    bins: list[list[int]] = [[] for _ in range(n)]
    sizes = [0] * n
    for k in sorted(range(len(parts) - 1), key=lambda k: -weights[k]):
        b = sizes.index(min(sizes))
        bins[b].append(k)
        sizes[b] += weights[k]
    bins.append([len(parts) - 1])
    return ["\n".join(prelude + [line for k in sorted(ks) for line in parts[k]]) for ks in bins]


def host_flags(cflags: Sequence[str]) -> list[str]:
    """The flags that follow `cflags` for the host unit of a split module: -O1 where `cflags` optimise more.
    The host function is straight-line bookkeeping (shapes, checks, allocations, kernel calls) that gcc
    compiles in half the time at -O1 (the MLP step's: 1.2 s instead of 2.5 s) and that runs as fast."""
    levels = [f for f in cflags if f.startswith("-O")]
    return ["-O1"] if levels and levels[-1] in ("-O2", "-O3", "-Ofast") else []


def compile_library(source_path: Path, output_path: Path, soname: str, compiler: Compiler | None = None) -> None:
    """Build `source_path` (runtime/mathlib.py's source of one function) into a shared library named `soname`,
    with the user's flags and the required ones, as generated code."""
    cc = compiler or find_compiler()
    _run(cc, [[cc.path, *target_flags(), *REQUIRED_FLAGS, f"-I{RUNTIME_DIR}", f"-Wl,-soname,{soname}",
               str(source_path), "-o", str(output_path)]], [source_path], "library_compiles")


def _run(cc: Compiler, cmds: list[list[str]], source_paths: list[Path], counter: str | None) -> None:
    """Run the compiler commands `cmds` (of `source_paths`) at once, counted as one run of `counter`, and
    wait for all; the first that failed raises."""
    for cmd in cmds:
        if config.debug >= 5:
            print("tensorir: " + shlex.join(cmd), file=sys.stderr)
    if counter:
        _counters[counter] += 1
    start = time.perf_counter()
    procs: list[subprocess.Popen[str]] = []
    try:
        for cmd in cmds:
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = [p.communicate() for p in procs]
    except OSError as e:
        raise TirError(f"C compiler {cc.path!r} cannot be run ({e.strerror}): {_NO_COMPILER_HELP}") from None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        _counters["compile_s"] += time.perf_counter() - start
    for p, (stdout, stderr), source_path in zip(procs, outs, source_paths):
        if p.returncode != 0:
            lines = [ln for ln in (stderr or stdout).splitlines() if ln.strip()]
            errors = [ln for ln in lines if "error" in ln] or lines
            first = errors[0] if errors else f"exit status {p.returncode}"
            at = lines.index(first) if first in lines else 0
            detail = "\n".join(lines[at:at + 20])
            raise TirError(f"C compiler failed on generated code ({cc.path}, exit {p.returncode}); "
                           f"source kept at {source_path}", detail=detail)
