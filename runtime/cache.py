"""The on-disk cache of compiled C modules (Theano's compiledir): a second process compiles nothing.

Layout, under `config.cachedir` (default `$XDG_CACHE_HOME/tensorir` or `~/.cache/tensorir`):

    c/<key>/source.c        the generated source (kept for debugging and compiler error messages)
    c/<key>/module.so       the extension module, init function PyInit_tir_<key[:32]>
    c/<key>/module.sha256   checksum of module.so, written after it: a missing or wrong one means rebuild
    c/<key>/lock            fcntl.flock'ed by the process compiling this entry
    c/<key>/libtir_sinf-<key[:16]>.so, library.sha256
                            instead of module.so and module.sha256: a math library (`math_libraries`,
                            runtime/mathlib.py), one per tir_math.h function, built the first time a module
                            calls it and linked by the modules that do
    opencl/<key>.bin        an OpenCL program binary (runtime/opencl.py; its key covers the source, the
                            device, its driver and the build options): each target has its own directory

`key` = sha256 of the source, the compiler (path and `--version`), the flags, the Python ABI, numpy's
version, tensorir's version, the runtime headers and (with -march=native) the CPU's model and flags.

Concurrency: every file appears by `os.replace` from a temporary in the same directory, so a reader
sees a whole file or none; a process that must compile holds the entry's flock, so a second process
compiling the same key waits and then loads the first one's result. flock dies with its holder (a
crashed compiler never blocks anyone); a live holder that hangs is waited for at most
`LOCK_TIMEOUT_S`, after which the waiter compiles on its own (still safe, by os.replace).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..config import config
from ..ir.core import TirError
from . import ccompiler, mathlib

LOCK_TIMEOUT_S = 600.0
_stats = {"disk_hits": 0, "memory_hits": 0, "rebuilds": 0, "lock_waits": 0, "library_hits": 0}


def stats() -> dict[str, float]:
    """Counters of this process: compiles (compiler runs for modules), units (their translation units:
    runtime/ccompiler.py `translation_units`), compile_s (the wall time of every compiler run, seconds),
    disk_hits, memory_hits, rebuilds, lock_waits; library_compiles and library_hits for the math libraries
    (`math_libraries`)."""
    return {**ccompiler._counters, **_stats}


def reset_stats() -> None:
    for k in ccompiler._counters:
        ccompiler._counters[k] = 0
    for k in _stats:
        _stats[k] = 0


def target_root(target: str) -> Path:
    """The cache directory of one target's compiled code: `c` (this module), `opencl` (runtime/opencl.py)."""
    return Path(os.path.expanduser(config.cachedir)) / target


def cache_root() -> Path:
    return target_root("c")


@functools.lru_cache(maxsize=1)
def _cpu_id() -> str:
    """Model name and feature flags of this CPU: a -march=native binary is only valid on the same kind."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        import platform

        return platform.machine() + platform.processor()
    keep = []
    for line in text.splitlines():
        if not line.strip():
            break  # first processor only
        if line.split(":")[0].strip() in ("vendor_id", "model name", "flags", "Features", "CPU part"):
            keep.append(line)
    return "\n".join(keep)


@functools.lru_cache(maxsize=1)
def _environment_id() -> str:
    """Everything in the key that is fixed for the life of the process."""
    import numpy

    try:
        from numpy._core._multiarray_umath import _get_ndarray_c_version  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core._multiarray_umath import _get_ndarray_c_version
    tensorir = sys.modules.get(__package__.rpartition(".")[0])
    return "\0".join([
        sys.implementation.cache_tag or "", str(sysconfig.get_config_var("EXT_SUFFIX")), sys.version,
        numpy.__version__, str(_get_ndarray_c_version()), str(getattr(tensorir, "__version__", "?")),
        ccompiler.runtime_headers_digest(),
    ])


def cache_key(source: str) -> str:
    """The cache key of `source` under the current compiler and flags (finds the compiler)."""
    cc = ccompiler.find_compiler()
    flags = ccompiler.compile_flags()
    h = hashlib.sha256()
    for part in (source, cc.path, cc.version, " ".join(flags), _environment_id(),
                 _cpu_id() if any(f.startswith(("-march=native", "-mcpu=native", "-mtune=native")) for f in flags)
                 else ""):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def module_name(key: str) -> str:
    return "tir_" + key[:32]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_valid(entry: Path, so_name: str = "module.so", sha_name: str = "module.sha256") -> bool:
    """module.so (or a library's `so_name`) exists and matches module.sha256 (`sha_name`)."""
    try:
        want = (entry / sha_name).read_text().strip()
        return bool(want) and _sha256_file(entry / so_name) == want
    except OSError:
        return False


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# Lock files open in this process. A child forked while one is held (a background compile's, runtime/
# background.py) closes its copies: they share the parent's flock, which would otherwise outlive the parent's
# compile in the child and block the child's own wait for it.
_open_locks: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in _open_locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _open_locks.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


@contextlib.contextmanager
def _locked(entry: Path) -> Iterator[None]:
    """Hold the entry's flock (waiting for another compiler at most LOCK_TIMEOUT_S)."""
    fd = os.open(entry / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    _open_locks.add(fd)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    break  # a file system without flock: go on unlocked, os.replace keeps entries whole
                if time.monotonic() > deadline:
                    print(f"tensorir: gave up waiting for the compile lock {entry / 'lock'}; compiling anyway",
                          file=sys.stderr)
                    break
                if not waited:
                    _stats["lock_waits"] += 1
                    waited = True
                time.sleep(0.02)
        yield
    finally:
        if fd in _open_locks:  # else a forked child's copy, closed already
            _open_locks.discard(fd)
            os.close(fd)  # releases the flock


def library_file(key: str, fn: str) -> str:
    """The file name, also the soname, of the math library of tir_math.h's `fn` (runtime/mathlib.py) under `key`:
    unique per key, so that modules of two flag sets in one process each find their own."""
    return f"lib{fn}-{key[:16]}.so"


def _files(key: str, library: str | None) -> tuple[str, str]:
    """(shared object, checksum) file names of an entry: a module's, or that of the math library of `library`."""
    return (library_file(key, library), "library.sha256") if library else ("module.so", "module.sha256")


def _build(entry: Path, source: str, key: str, library: str | None) -> None:
    so_name, sha_name = _files(key, library)
    src = entry / "source.c"
    if not src.exists() or src.read_text(errors="replace") != source:
        _write_atomic(src, source.encode())
    tmp = entry / f"{so_name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        if library:
            ccompiler.compile_library(src, tmp, so_name)
        else:
            _compile_module(src, tmp, key, mathlib.used(source))
        digest = _sha256_file(tmp)
        os.replace(tmp, entry / so_name)
        _write_atomic(entry / sha_name, (digest + "\n").encode())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _compile_module(src: Path, out: Path, key: str, functions: list[str]) -> None:
    """Compile the module, linked to the math libraries of `functions`."""
    if all(_library_built(fn) for fn in functions):
        ccompiler.compile_module(src, out, module_name(key), libraries=math_libraries(functions))
        return
    # the first module to call them (once per machine): build the libraries while compiling it
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        libraries = pool.submit(math_libraries, functions)
        ccompiler.compile_module(src, out, module_name(key), libraries=libraries.result)


def get(source: str, *, key: str | None = None, rebuild: bool = False, library: str | None = None) -> tuple[str, Path]:
    """(key, path of a valid module.so, or library) for `source`, compiling it if no valid entry exists.

    `rebuild=True` compiles even over an entry whose checksum is fine (the caller could not load it).
    `library`: `source` is the math library of that tir_math.h function (`math_libraries`), not a module.
    """
    key = key or cache_key(source)
    entry = cache_root() / key
    so_name, sha_name = _files(key, library)
    so, sha = entry / so_name, entry / sha_name
    hits = "library_hits" if library else "disk_hits"
    if not rebuild and is_valid(entry, so_name, sha_name):
        _stats[hits] += 1
        return key, so
    try:
        entry.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TirError(f"cannot create the cache directory {entry} ({e.strerror}); "
                       "set TENSORIR_FLAGS=cachedir=/a/writable/dir") from None
    stamp = sha.read_text() if rebuild and sha.exists() else None
    with _locked(entry):
        # Another process may have built (or rebuilt) it while we waited.
        current = sha.read_text() if sha.exists() else None
        if is_valid(entry, so_name, sha_name) and not (rebuild and current == stamp):
            _stats[hits] += 1
            return key, so
        if so.exists() or rebuild:
            _stats["rebuilds"] += 1
        _build(entry, source, key, library)
    return key, so


def _library_built(fn: str) -> bool:
    """Whether the math library of `fn` is in the cache (valid) under the current compiler and flags."""
    key = cache_key(mathlib.library_source(fn))
    return is_valid(cache_root() / key, *_files(key, fn))


def math_libraries(functions: list[str]) -> list[Path]:
    """The math libraries of tir_math.h's `functions` (runtime/mathlib.py) under the current compiler and
    flags, building the missing ones (in parallel: each takes a compiler run of ~0.2 s, once per machine)."""
    def one(fn: str) -> Path:
        return get(mathlib.library_source(fn), library=fn)[1]

    if len(functions) <= 1:
        return [one(fn) for fn in functions]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(functions), os.cpu_count() or 1)) as pool:
        return list(pool.map(one, functions))


# ---------------------------------------------------------------- generated sources, keyed by IR
#
# A warm process should not even run the pass pipeline: `<cachedir>/src/<key>.json` maps a function's
# IR (with locations: they are in the C's messages) to the C source the pipeline produced and to that
# source's module key above. The key also covers everything that could change either: tensorir's own
# code (size and mtime of each of its modules), the compiler (its file's path, size and mtime, and
# config.cc and the flags, vector width included), the CPU and the environment of `_environment_id`.

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def _code_id() -> str:
    parts = []
    for path in sorted(_PACKAGE_DIR.glob("*/*.py")) + sorted((_PACKAGE_DIR / "backends" / "c_runtime").glob("*.h")):
        st = path.stat()
        parts.append(f"{path.relative_to(_PACKAGE_DIR)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _compiler_file_id() -> str:
    name = config.cc.strip()
    for cand in [name] + (["gcc", "clang"] if name == "cc" else []):
        found = shutil.which(cand)
        if found:
            real = os.path.realpath(found)
            st = os.stat(real)
            return f"{real}:{st.st_size}:{st.st_mtime_ns}"
    return "none"


def source_key(ir_text: str, pipeline: str) -> str:
    h = hashlib.sha256()
    for part in (ir_text, pipeline, _code_id(), _compiler_file_id(), config.cc,
                 " ".join(ccompiler.target_flags()), _cpu_id(), _environment_id()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def source_path(key: str) -> Path:
    """Where the generated source of an IR (`source_key`) is kept."""
    return Path(os.path.expanduser(config.cachedir)) / "src" / f"{key}.json"


def lookup_source(key: str) -> tuple[str, str] | None:
    """(C source, module key) stored for `key`, or None (also for an unreadable or damaged entry)."""
    try:
        data = json.loads(source_path(key).read_text())
        return str(data["source"]), str(data["module_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_source(key: str, source: str, module_key: str) -> None:
    path = source_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, json.dumps({"source": source, "module_key": module_key}).encode())
    except OSError:
        pass  # a cache that cannot be written only costs time
