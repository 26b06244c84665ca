"""The debug switchboard: every user-settable flag of tensorir, read in one place.

Flags come from the environment once, at import: `TENSORIR_FLAGS` holds
comma-separated `key=value` pairs (Theano's `THEANO_FLAGS`), and `DEBUG=n`
sets `debug`. Afterwards they are plain attributes of `tensorir.config`:

    TENSORIR_FLAGS=floatX=float32,target=interp DEBUG=2 python train.py
    tensorir.config.floatX = "float32"
    with tensorir.config.change_flags(floatX="float32"): ...

| flag     | default            | meaning                                                                  |
|----------|--------------------|--------------------------------------------------------------------------|
| floatX   | float64            | dtype of unprefixed constructors (`T.matrix()`) and of Python floats      |
|          |                    | combined with integer tensors: `float16`, `float32` or `float64`          |
| target   | c                  | default target of `tensorir.function`: `c` (native code through the C     |
|          |                    | compiler), `interp` (reference interpreter, no compiler needed), `opencl` |
|          |                    | (kernels on an OpenCL device through pyopencl: runtime/opencl.py)         |
| device   |                    | the OpenCL device: the first whose name contains this text (default: the  |
|          |                    | first device of the first platform)                                       |
| fast_intrinsics | False       | device targets: float32 exp, exp2, log, log2, log10, sin, cos, tan (and   |
|          |                    | sqrt on OpenCL) as the device's fast intrinsics (`native_exp`, `__expf`): |
|          |                    | faster, with the device's (lower, unspecified) accuracy; never on `c`     |
| cachedir | ~/.cache/tensorir  | where compiled code is cached between processes (`$XDG_CACHE_HOME/tensorir` |
|          |                    | when that variable is set)                                                |
| cc       | cc                 | the C compiler of the `c` target                                          |
| cflags   | -O3 -march=native  | flags for `cc` (space-separated)                                          |
| vector_width | auto           | `-mprefer-vector-width` of generated C: `auto` measures a probe kernel at |
|          |                    | each width the CPU has, once per machine (cached in cachedir), and keeps  |
|          |                    | the fastest (runtime/vector_width.py); `128`/`256`/`512` that width;      |
|          |                    | `native` the compiler's default. A width set in `cflags` wins             |
| threads  | 0                  | threads of compiled code (OpenMP loops and BLAS); 0: all available cores  |
| share_blas | True             | numpy's OpenBLAS runs its jobs on tensorir's thread pool (one pool per    |
|          |                    | process; runtime/c_module.py); `share_blas=0` leaves numpy its own pool   |
| debug    | 0                  | 0 quiet; 1 where compile time goes: `cache miss`/`cache hit: PATH`, each   |
|          |                    | pass's time, then one line each for the passes, code generation (emit-c),  |
|          |                    | the C compiler (its wall time) and the total (`ready in`); 2 IR after each |
|          |                    | pass; 3 IR before and after each pass; 4 generated source; 5 compiler      |
|          |                    | command lines (also `DEBUG=n`); each level includes the lower ones, all on |
|          |                    | stderr; a cache hit runs the passes again for levels 2-3 (no compiler runs: |
|          |                    | level 5 adds nothing)                                                     |
| verify   | True               | run the verifier after every pass (`verify=0` for speed)                  |
| tiered   | True               | on a cache miss the C compiler runs in the background and the reference   |
|          |                    | interpreter answers the calls until the compiled code is loaded (numpy:   |
|          |                    | equal to rounding, not bit for bit: libm math, float32 sums in float32);  |
|          |                    | `tiered=0` compiles before `tensorir.function` returns. `f.wait()` waits  |
|          |                    | for the compiled code                                                      |
| unpickle_fallback | none      | a function pickled for target `c` and unpickled where no C compiler is    |
|          |                    | found: `none` is an error that says so, `interp` runs it on the reference |
|          |                    | interpreter (frontend/function.py, `Function.__setstate__`)               |

An unknown key in `TENSORIR_FLAGS` is a warning that names the known keys; a
bad value is an error that names the flag and what it accepts.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A flag was given a value it does not accept."""


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip()
        if text not in allowed:
            raise ConfigError(f"must be one of {', '.join(allowed)}; got {value!r}")
        return text
    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, got {value!r}")
    return value


def _target(value: Any) -> str:
    text = _text(value).strip()
    if not text.isidentifier():
        raise ConfigError(f"must be a target name such as interp, c, cuda, opencl; got {value!r}")
    return text


def _int(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"must be an integer, got {value!r}") from None
    if isinstance(value, float) and n != value:
        raise ConfigError(f"must be an integer, got {value!r}")
    if n < 0:
        raise ConfigError(f"must be >= 0, got {value!r}")
    return n


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"must be a boolean (true/false/1/0), got {value!r}")


@dataclass(frozen=True)
class Flag:
    default: Any
    parse: Callable[[Any], Any]
    doc: str


FLAGS: dict[str, Flag] = {
    "floatX": Flag("float64", _choice("float16", "float32", "float64"),
                   "dtype of unprefixed constructors and of Python floats mixed with integer tensors"),
    "target": Flag("c", _target, "default target of tensorir.function"),
    "device": Flag("", _text, "the OpenCL device: the first whose name contains this text"),
    "fast_intrinsics": Flag(False, _bool, "device targets: float32 exp/log/sin/cos... as the device's fast "
                                          "intrinsics (OpenCL native_*, CUDA __expf...): faster, less accurate"),
    "cachedir": Flag(os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                                  "tensorir"), _text, "compiled code cache directory"),
    "cc": Flag("cc", _text, "C compiler of the c target"),
    "cflags": Flag("-O3 -march=native", _text, "flags for the C compiler"),
    "vector_width": Flag("auto", _choice("auto", "128", "256", "512", "native"),
                         "-mprefer-vector-width of generated C: measured (auto), a width, or the compiler's (native)"),
    "threads": Flag(0, _int, "threads of compiled code (OpenMP loops and BLAS); 0 means all available cores"),
    "share_blas": Flag(True, _bool, "numpy's OpenBLAS runs its jobs on tensorir's thread pool"),
    "debug": Flag(0, _int, "debug output level 0..5"),
    "verify": Flag(True, _bool, "verify the IR after every pass"),
    "tiered": Flag(True, _bool, "on a cache miss, the interpreter runs the first calls while the C compiles"),
    "unpickle_fallback": Flag("none", _choice("none", "interp"),
                              "what an unpickled target=c function does where no C compiler is found"),
}


class Config:
    """The flags as attributes; assigning one checks its value."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", {k: f.default for k, f in FLAGS.items()})

    def __getattr__(self, key: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if key in values:
            return values[key]
        raise AttributeError(f"tensorir.config has no flag {key!r}; the flags are {', '.join(FLAGS)}")

    def __setattr__(self, key: str, value: Any) -> None:
        self._values[key] = self._parse(key, value)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *FLAGS]

    @staticmethod
    def _parse(key: str, value: Any) -> Any:
        if key not in FLAGS:
            raise AttributeError(f"tensorir.config has no flag {key!r}; the flags are {', '.join(FLAGS)}")
        try:
            return FLAGS[key].parse(value)
        except ConfigError as e:
            raise ConfigError(f"tensorir.config.{key} {e}") from None

    @contextlib.contextmanager
    def change_flags(self, **flags: Any) -> Iterator[Config]:
        """Set flags for the duration of a `with` block (for tests), then restore them."""
        parsed = {k: self._parse(k, v) for k, v in flags.items()}
        saved = dict(self._values)
        self._values.update(parsed)
        try:
            yield self
        finally:
            self._values.clear()
            self._values.update(saved)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        return "tensorir.config(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def load_env(self, environ: dict[str, str] | os._Environ[str] | None = None) -> None:
        """Read `TENSORIR_FLAGS` and `DEBUG` (called once at import)."""
        env = os.environ if environ is None else environ
        text = env.get("TENSORIR_FLAGS", "")
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"TENSORIR_FLAGS: {item!r} is not key=value")
            if key not in FLAGS:
                warnings.warn(f"TENSORIR_FLAGS: unknown flag {key!r} ignored; the flags are {', '.join(FLAGS)}",
                              stacklevel=2)
                continue
            try:
                self._values[key] = FLAGS[key].parse(value)
            except ConfigError as e:
                raise ConfigError(f"TENSORIR_FLAGS: {key} {e}") from None
        if env.get("DEBUG", "").strip():
            try:
                self._values["debug"] = FLAGS["debug"].parse(env["DEBUG"])
            except ConfigError as e:
                raise ConfigError(f"DEBUG {e}") from None


config = Config()
config.load_env()
