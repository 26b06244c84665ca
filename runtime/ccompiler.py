"""The C compiler driver of the `c` target: one C source -> one CPython extension module (.so).

The generated source includes `tir_runtime.h` (backends/c_runtime/), which pulls in Python.h, numpy's C
API, `tir_math.h` and, with `TIR_USE_BLAS`, scipy-openblas32's cblas. This module finds the compiler,
builds the command line and turns failures into `TirError`s that say what to do:

    cc -O3 -march=native <config.cflags> -fno-math-errno -fPIC -shared -fopenmp -std=gnu11
       -I<python> -I<numpy> -I<c_runtime> -I<openblas> -DTIR_MODNAME=<name> src.c -o out.so
       -Wl,--as-needed -L<openblas lib> -lscipy_openblas -Wl,-rpath,<openblas lib>
       [-L<entry> -l:libtir_sinf-<key>.so -Wl,-rpath,<entry> ...]

The last line links the math functions the source calls out of line (runtime/mathlib.py), each a library
built once by `compile_library` with the same flags (cached by runtime/cache.py `math_libraries`):

    cc <config.cflags> <required flags> -I<c_runtime> -Wl,-soname,libtir_sinf-<key>.so lib.c -o lib.so

`config.cflags` (default `-O3 -march=native`) is the user's part: optimisation level and target CPU;
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

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "backends" / "c_runtime"

# Always on: shared object, IEEE-preserving vectorizable math (tir_math.h), OpenMP for loop.parallel.
REQUIRED_FLAGS = ("-fno-math-errno", "-fPIC", "-shared", "-fopenmp", "-std=gnu11", "-fvisibility=hidden",
                  "-fno-semantic-interposition")
# Flags that break tir_math.h (error-free transforms, nan/inf handling): never accepted from config.cflags.
FORBIDDEN_FLAGS = ("-ffast-math", "-Ofast", "-fassociative-math", "-ffinite-math-only",
                   "-funsafe-math-optimizations", "-fno-signed-zeros", "-freciprocal-math")

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


def compile_flags() -> list[str]:
    """Every flag except the module name, sources and outputs (part of the cache key)."""
    inc, libdir, lib = _openblas()
    includes = {sysconfig.get_paths()["include"], sysconfig.get_paths()["platinclude"], _numpy_include(),
                str(RUNTIME_DIR), inc}
    return [*user_flags(), *REQUIRED_FLAGS, *(f"-I{d}" for d in sorted(includes)),
            "-Wl,--as-needed", f"-L{libdir}", f"-l{lib}", f"-Wl,-rpath,{libdir}"]


def runtime_headers_digest() -> str:
    """sha256 over backends/c_runtime/*.h: editing a header invalidates the cache."""
    h = hashlib.sha256()
    for p in sorted(RUNTIME_DIR.glob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# Compiler invocations in this process (cache.stats() reports them): modules, math libraries, and the
# wall time of all of them in seconds.
_counters: dict[str, float] = {"compiles": 0, "library_compiles": 0, "compile_s": 0.0}


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
    (that waits for libraries being built meanwhile) is called between compiling the module to an object
    file and linking it.

    Raises TirError with the first error lines of the compiler (and where the source was kept) on failure.
    """
    cc = compiler or find_compiler()
    flags = compile_flags()
    link = [f for f in flags if f.startswith(("-Wl,", "-L", "-l"))]
    cflags = [f for f in flags if f not in link]
    compile_ = [cc.path, *cflags, f"-DTIR_MODNAME={modname}", str(source_path)]
    if not callable(libraries):
        _run(cc, [*compile_, "-o", str(output_path), *link, *library_link_flags(libraries)], source_path, "compiles")
        return
    obj = output_path.with_name(output_path.name + ".o")
    try:
        _run(cc, [*compile_, "-c", "-o", str(obj)], source_path, "compiles")
        _run(cc, [cc.path, *cflags, str(obj), "-o", str(output_path), *link, *library_link_flags(libraries())],
             source_path, None)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(obj)


def compile_library(source_path: Path, output_path: Path, soname: str, compiler: Compiler | None = None) -> None:
    """Build `source_path` (runtime/mathlib.py's source of one function) into a shared library named `soname`,
    with the user's flags and the required ones, as generated code."""
    cc = compiler or find_compiler()
    _run(cc, [cc.path, *user_flags(), *REQUIRED_FLAGS, f"-I{RUNTIME_DIR}", f"-Wl,-soname,{soname}",
              str(source_path), "-o", str(output_path)], source_path, "library_compiles")


def _run(cc: Compiler, cmd: list[str], source_path: Path, counter: str | None) -> None:
    if config.debug >= 5:
        print("tensorir: " + shlex.join(cmd), file=sys.stderr)
    if counter:
        _counters[counter] += 1
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise TirError(f"C compiler {cc.path!r} cannot be run ({e.strerror}): {_NO_COMPILER_HELP}") from None
    finally:
        _counters["compile_s"] += time.perf_counter() - start
    if out.returncode != 0:
        lines = [ln for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln] or lines
        first = errors[0] if errors else f"exit status {out.returncode}"
        start = lines.index(first) if first in lines else 0
        detail = "\n".join(lines[start:start + 20])
        raise TirError(f"C compiler failed on generated code ({cc.path}, exit {out.returncode}); "
                       f"source kept at {source_path}", detail=detail)
