"""Load a generated C source as a CPython extension module and call it.

    mod = load(source, "f")          # compile through the on-disk cache, import once per process
    y = mod.run(x, b)                # the extension function itself: the declared ranks and dtypes (or numpy's
                                     # safe upcasts; Python numbers and lists of them), else TypeError
    y = mod(x, 2.0)                  # convenience: converts arguments to the signature, then run

`run` is the C function (METH_FASTCALL) of the module: argument checks happen in C and the whole host
plan runs in one foreign call (see backends/c_runtime/tir_runtime.h for the ABI). Modules are imported
under a unique name (`tir_<key>`) and never entered into sys.modules.

Threads: one pool. Parallel loops and threaded BLAS calls both run on libgomp's team (the module
routes OpenBLAS's jobs there through its threads callback; see tir_runtime.h), and so do numpy's BLAS
calls: the first module loaded installs the same callback in numpy's OpenBLAS (`share_blas_pool`; numpy's
library is found through numpy's own extension, `numpy_openblas`, never by a path; numpy on MKL,
Accelerate or an OpenBLAS without the callback keeps its own pool, as before). Two pools on two cores
fought: right after a numpy product its OpenBLAS pthreads spin (about 0.1 s by default) while our gemm's
jobs wait for cores, and the reverse. Measured on the 2-core VM, numpy 256x784 @ 784x512 and the same
tensorir gemm alternating (tir-bench's order): tensorir 3.1-4.5 ms against 1.4 ms alone; with one pool
1.4-1.6 ms, numpy unchanged (1.4-1.6 ms). The alternative, calling numpy's OpenBLAS (ILP64) for our
gemm instead of scipy-openblas32, would need numpy's library at build time or every call through a
pointer, and a fallback for when it is not OpenBLAS; the callback alone gives one pool. The cost: numpy's
loops of small threaded products (its batched matmul: one threaded sgemm per matrix) pay libgomp's
region start and join per product; on a quiet machine that is about as fast as OpenBLAS's own pool
(tir-bench's numpy row 2.5-3.1 ms either way), but with the 2 cores overloaded by other processes (load
2.5) its medians were 3-24 ms against 3-16 ms, and some runs took 0.1-0.5 s (likely: a libgomp worker
that fell asleep waits for a busy core at each of the 64 regions, where OpenBLAS's own workers keep
yield-spinning; a longer GOMP_SPINCOUNT did not clearly help). Hence
`config.share_blas` (True) to keep numpy's pool. Once shared,
numpy's OpenBLAS takes its thread count from `set_num_threads` and from a `config.threads` set when the
pool is shared; with config.threads 0 until then it keeps its own (OPENBLAS_NUM_THREADS, a threadpoolctl
limit, else the cores). Each import runs with
GOMP_SPINCOUNT=3000 and OPENBLAS_THREAD_TIMEOUT=4 (only where the user has not set
OMP_WAIT_POLICY/GOMP_SPINCOUNT resp. OPENBLAS_THREAD_TIMEOUT, and only for the duration of the import,
which is when libgomp and scipy-openblas32 are loaded and read them): a worker spins a few tens of
microseconds after a parallel region, long enough to catch the next region of the same call or of a
call right after it, then sleeps instead of spinning on the cores numpy's own OpenBLAS pool needs.
Measured on the project's 2-core VM: OMP_WAIT_POLICY=PASSIVE (sleep at once) made every parallel region
cost 70-140 us of futex wake-ups (x * 2 on 256x512 float32: 101 us, numpy 19 us; with the short spin
13 us), while a numpy 200x200 matmul right after a tensorir call got 5-15% slower than with PASSIVE
(tests/test_c_runtime.py prints it). If libgomp was already loaded by another library, its spin policy
is that library's. `config.threads` (0: the cores this process may
run on) sets the team size of each module at load; `set_num_threads` changes all loaded ones.
In a child forked from a process that had loaded compiled code, every module runs on one thread and numpy's
OpenBLAS gets its own pool back (`_after_fork_in_child`: libgomp is not fork-safe).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.machinery
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..config import config
from ..ir.core import TirError
from . import cache, mathlib

# Set around the first import (libgomp and OpenBLAS read them when they are loaded); the user's values win.
THREAD_ENV = {"GOMP_SPINCOUNT": "3000", "OPENBLAS_THREAD_TIMEOUT": "4"}

_loaded: dict[str, CModule] = {}  # cache key -> module
_keys: dict[tuple[str, str, str], str] = {}  # (source, cc, cflags) -> cache key, to skip re-hashing


class CModule:
    """A loaded compiled function: `run` is the raw extension function, `__call__` converts arguments."""

    __slots__ = ("module", "run", "key", "path", "name_hint", "args", "results")

    def __init__(self, module: ModuleType, key: str, path: Path, name_hint: str) -> None:
        self.module = module
        self.run = module.run
        self.key = key
        self.path = path
        self.name_hint = name_hint
        args, results = module.signature
        self.args: tuple[tuple[str, np.dtype[Any], int], ...] = args
        self.results: tuple[tuple[str, np.dtype[Any], int], ...] = results

    def convert(self, *values: Any) -> list[np.ndarray]:
        """The arguments as arrays of the declared dtypes (a plain cast; the frontend owns Theano's casting rules)."""
        if len(values) != len(self.args):
            raise TypeError(f"{self.name_hint}() takes {len(self.args)} arguments, got {len(values)}")
        out = []
        for i, (v, (name, dtype, ndim)) in enumerate(zip(values, self.args)):
            a = np.asarray(v, dtype=dtype)
            if a.ndim != ndim:
                raise TypeError(f"{self.name_hint}(): argument {i} ('{name}') must have rank {ndim}, got {a.ndim}")
            out.append(a)
        return out

    def __call__(self, *values: Any) -> Any:
        try:
            return self.run(*values)
        except TypeError:
            return self.run(*self.convert(*values))

    def set_num_threads(self, n: int) -> None:
        self.module.set_num_threads(n)

    def __repr__(self) -> str:
        sig = ", ".join(f"{n}: {d}[{r}d]" for n, d, r in self.args)
        return f"<tensorir C module {self.name_hint}({sig}) {self.path}>"


def default_threads() -> int:
    """config.threads, or (0) the number of cores this process may run on; 1 in a forked child (below)."""
    if _forked:
        return 1
    if config.threads > 0:
        return int(config.threads)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Threads of OpenMP loops and BLAS for every loaded module (and, through config.threads, later ones)
    and of numpy's OpenBLAS once it shares the pool; 0: the cores this process may run on."""
    config.threads = n
    for m in _loaded.values():
        m.set_num_threads(default_threads())
    if _shared_blas:
        _shared_blas[0].set_num_threads(default_threads())


@dataclass(frozen=True)
class OpenBlasThreads:
    """The thread controls of an OpenBLAS loaded in this process (ctypes functions)."""

    library: str  # the loaded object it was looked up through
    set_threads_callback: Any  # void (openblas_threads_callback)
    set_num_threads: Any  # void (int)
    get_num_threads: Any  # int (void)


# (prefix, suffix) of OpenBLAS's exported names in the builds numpy links: its wheels' scipy-openblas64
# (scipy_openblas_set_num_threads64_, ...), an ILP64 OpenBLAS with suffixed symbols, a plain OpenBLAS.
OPENBLAS_SYMBOLS = (("scipy_", "64_"), ("", "64_"), ("", ""))


def find_openblas(library: str) -> OpenBlasThreads | None:
    """The thread controls of the OpenBLAS that the already loaded shared object `library` is or links
    (dlsym on its handle searches it and its dependencies: the BLAS it really calls, wherever that lives).
    None for another BLAS (MKL, Accelerate, BLIS), an OpenBLAS without the threads callback (before 0.3.27),
    or an object that is not loaded."""
    try:
        lib = ctypes.CDLL(library, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except (OSError, AttributeError):  # not loaded, or no RTLD_NOLOAD on this platform
        return None
    for prefix, suffix in OPENBLAS_SYMBOLS:
        try:
            fns = [getattr(lib, f"{prefix}openblas_{name}{suffix}")
                   for name in ("set_threads_callback_function", "set_num_threads", "get_num_threads")]
        except AttributeError:
            continue
        set_cb, set_n, get_n = fns
        set_cb.argtypes, set_cb.restype = [ctypes.c_void_p], None
        set_n.argtypes, set_n.restype = [ctypes.c_int], None
        get_n.argtypes, get_n.restype = [], ctypes.c_int
        return OpenBlasThreads(library, set_cb, set_n, get_n)
    return None


def numpy_extension() -> str:
    """The file of numpy's core extension, which links numpy's BLAS."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as core  # type: ignore[no-redef]
    return str(core.__file__)


@functools.cache
def numpy_openblas() -> OpenBlasThreads | None:
    """numpy's BLAS when it is an OpenBLAS with the threads callback, else None."""
    return find_openblas(numpy_extension())


_shared_blas: list[OpenBlasThreads] = []  # numpy's OpenBLAS, once its jobs run on libgomp's team
_forked = False  # a fork of a process that had loaded compiled code


def _after_fork_in_child() -> None:
    """libgomp is not fork-safe: in a child forked from a process whose team has run, a parallel region of
    more than one thread waits for pool threads the child does not have (multiprocessing's default 'fork'
    start method hung on its first tensorir call or, with the pool shared, numpy product). So in such a child
    compiled code runs on one thread and numpy's OpenBLAS gets its own pool back (its pthreads server
    restarts after a fork). Use the 'spawn' or 'forkserver' start method for threads in the workers."""
    global _forked
    if not _loaded:
        return
    _forked = True
    for m in _loaded.values():
        m.set_num_threads(1)
    if _shared_blas:
        _shared_blas.pop().set_threads_callback(None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def share_blas_pool(module: ModuleType) -> None:
    """Run numpy's OpenBLAS jobs on libgomp's team too, through the module's threads callback (once per process).

    Two pools on the same cores fight: right after a numpy matmul its OpenBLAS pthreads still spin, and a
    tensorir gemm on libgomp's team (or the reverse) waits for cores (see the module docstring). With the
    callback in both OpenBLAS copies every BLAS job of the process runs on one team. Elsewhere (numpy on
    MKL or Accelerate, an older OpenBLAS, a module built without OpenMP, config.share_blas off) nothing
    changes."""
    callback = getattr(module, "blas_threads_callback", None)
    if _shared_blas or callback is None or not config.share_blas:
        return
    blas = numpy_openblas()
    if blas is None:
        return
    blas.set_threads_callback(callback)
    _shared_blas.append(blas)
    if config.threads > 0:  # else numpy's keeps its count: OPENBLAS_NUM_THREADS, a threadpoolctl limit or the cores
        blas.set_num_threads(default_threads())


def thread_env_defaults() -> dict[str, str]:
    """The part of THREAD_ENV the user has not decided: a variable already set wins, and an
    OMP_WAIT_POLICY of the user's also decides the spin (GOMP_SPINCOUNT is left alone)."""
    user_set = set(os.environ) | ({"GOMP_SPINCOUNT"} if "OMP_WAIT_POLICY" in os.environ else set())
    return {k: v for k, v in THREAD_ENV.items() if k not in user_set}


@contextlib.contextmanager
def _thread_env() -> Iterator[None]:
    """THREAD_ENV around an import: libgomp and scipy-openblas32 read it when a module first pulls them in
    (a module without BLAS calls does not link OpenBLAS, so that may be a later import than the first)."""
    added = thread_env_defaults()
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _import(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load(source: str, name_hint: str = "tir", key: str | None = None) -> CModule:
    """Compile (through the cache) and import `source`, a C file in the form of tir_runtime.h's ABI.

    `key`: its module key when the caller already knows it (cache.lookup_source), which saves
    finding the compiler and its flags."""
    memo = (source, config.cc, config.cflags, config.vector_width)
    if key is not None:
        _keys.setdefault(memo, key)
    key = _keys.get(memo)
    if key is not None and key in _loaded:
        cache._stats["memory_hits"] += 1
        return _loaded[key]
    if key is None:
        key = cache.cache_key(source)
        _keys[memo] = key
    if key in _loaded:
        cache._stats["memory_hits"] += 1
        return _loaded[key]
    name = cache.module_name(key)
    key, path = cache.get(source, key=key)
    try:
        with _thread_env():
            module = _import(name, path)
    except ImportError as first:
        # A valid checksum over a module that does not load (an edited entry, a library that moved): rebuild once.
        key, path = cache.get(source, key=key, rebuild=True)
        # The math libraries it links (runtime/mathlib.py) may have been missing: glibc then remembers for the
        # life of the process that their rpath directories do not exist. Loaded by path first, they are found
        # by their sonames.
        for lib in cache.math_libraries(mathlib.used(source)):
            ctypes.CDLL(str(lib))
        try:
            with _thread_env():
                module = _import(name, path)
        except ImportError as e:
            raise TirError(f"compiled module for {name_hint!r} does not load: {e} (first attempt: {first}); "
                           f"entry {path.parent}") from None
    if getattr(module, "abi_version", None) != 1:
        raise TirError(f"compiled module {path} has ABI version {getattr(module, 'abi_version', None)}, expected 1")
    mod = CModule(module, key, path, name_hint)
    mod.set_num_threads(default_threads())
    share_blas_pool(module)
    _loaded[key] = mod
    return mod


def clear_memory() -> None:
    """Forget loaded modules (tests): the next load goes to the disk cache. Imported code stays mapped."""
    _loaded.clear()
    _keys.clear()
