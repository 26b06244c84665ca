"""IR types: scalars, tensors, memrefs and functions.

Every element type maps 1:1 to a numpy dtype (``ScalarType.dtype``), so the
reference interpreter and the type inference share numpy's promotion rules.

    f32                       ScalarType("f32")
    tensor<4x?xf32>           TensorType((4, None), f32)
    tensor<f32>               TensorType((), f32)          (0-d)
    tensor<?x?xf32, #csr>     TensorType((None, None), f32, encoding="csr")
    memref<4x?xf32, strides=[?,1]>
    (tensor<?xf32>, f32) -> tensor<?xf32>
    !random.state             a type a dialect declares (DialectType), by its `dialect.name`
    !test.pair<f32, 3>        ... with parameters: integers, `?`, types, strings, nested `<...>`
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# name -> numpy dtype; `index` is the loop/shape integer type (int64).
_SCALARS: dict[str, np.dtype] = {
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "ui8": np.dtype(np.uint8),
    "ui16": np.dtype(np.uint16),
    "ui32": np.dtype(np.uint32),
    "ui64": np.dtype(np.uint64),
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "index": np.dtype(np.int64),
}
_BY_DTYPE: dict[np.dtype, str] = {dt: name for name, dt in _SCALARS.items() if name != "index"}

# Theano/numpy dtype names accepted by the Python API.
_DTYPE_ALIASES = {"bool": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
                  "uint8": "ui8", "uint16": "ui16", "uint32": "ui32", "uint64": "ui64",
                  "float16": "f16", "float32": "f32", "float64": "f64"}


class Type:
    """Base of all IR types; subclasses are frozen dataclasses (hashable, comparable)."""

    def __str__(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True)
class ScalarType(Type):
    name: str

    def __post_init__(self) -> None:
        if self.name not in _SCALARS:
            raise ValueError(f"unknown element type '{self.name}'")

    @property
    def dtype(self) -> np.dtype:
        return _SCALARS[self.name]

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"

    @property
    def is_int(self) -> bool:
        return self.dtype.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.dtype.kind == "b"

    def __str__(self) -> str:
        return self.name


def scalar(name_or_dtype: object) -> ScalarType:
    """The element type of a name (`f32`, `float32`) or anything numpy reads as a dtype."""
    if isinstance(name_or_dtype, ScalarType):
        return name_or_dtype
    if isinstance(name_or_dtype, str):
        if name_or_dtype in _SCALARS:
            return ScalarType(name_or_dtype)
        if name_or_dtype in _DTYPE_ALIASES:
            return ScalarType(_DTYPE_ALIASES[name_or_dtype])
    try:
        dt = np.dtype(name_or_dtype)  # type: ignore[call-overload]
    except TypeError:
        close = difflib.get_close_matches(str(name_or_dtype), list(_DTYPE_ALIASES), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "expected one of " + ", ".join(_DTYPE_ALIASES)
        raise ValueError(f"unknown element type {name_or_dtype!r}; {hint}") from None
    if dt not in _BY_DTYPE:
        raise ValueError(f"unsupported dtype {dt}")
    return ScalarType(_BY_DTYPE[dt])


f16, f32, f64 = ScalarType("f16"), ScalarType("f32"), ScalarType("f64")
i1, i8, i32, i64 = ScalarType("i1"), ScalarType("i8"), ScalarType("i32"), ScalarType("i64")
index = ScalarType("index")

Dim = int | None  # None is a dynamic dimension, printed `?`


def _dims(shape: tuple[Dim, ...]) -> str:
    return "".join(("?" if d is None else str(d)) + "x" for d in shape)


@dataclass(frozen=True)
class TensorType(Type):
    """A value-semantics n-d array; `shape` entries are ints or None (dynamic).

    `encoding` names a storage layout other than dense (`#csr` in `tensor<?x?xf32, #csr>`); None is dense.
    Passes that do not declare that they handle encodings refuse such tensors (passes/pass_manager.py)."""

    shape: tuple[Dim, ...]
    element: ScalarType
    encoding: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        for d in self.shape:
            if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
                raise ValueError(f"bad tensor dimension {d!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.element.dtype

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    def with_element(self, element: ScalarType) -> TensorType:
        return dataclasses.replace(self, element=element)

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorType:
        return dataclasses.replace(self, shape=tuple(shape))

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether a concrete shape fits this type (dynamic dims match anything)."""
        return len(shape) == self.rank and all(d is None or d == s for d, s in zip(self.shape, shape))

    def __str__(self) -> str:
        encoding = f", #{self.encoding}" if self.encoding is not None else ""
        return f"tensor<{_dims(self.shape)}{self.element}{encoding}>"


MEMORY_SPACES = ("host", "device")  # where a memref's elements live (MemRefType.space)


@dataclass(frozen=True)
class MemRefType(Type):
    """A buffer view: shape, element type, strides in elements (None = dynamic) and the memory space it
    lives in: `host` (the default, not printed) or `device` (an accelerator's memory, printed `#device`:
    `memref<?xf32, #device>`; only kernels and transfers touch it)."""

    shape: tuple[Dim, ...]
    element: ScalarType
    strides: tuple[Dim, ...] | None = None  # None: contiguous row-major
    space: str = "host"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.strides is not None:
            object.__setattr__(self, "strides", tuple(self.strides))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.element.dtype

    def __str__(self) -> str:
        text = f"memref<{_dims(self.shape)}{self.element}"
        if self.strides is not None:
            text += ", strides=[" + ",".join("?" if s is None else str(s) for s in self.strides) + "]"
        if self.space != "host":
            text += f", #{self.space}"
        return text + ">"


@dataclass(frozen=True)
class FunctionType(Type):
    inputs: tuple[Type, ...]
    results: tuple[Type, ...]

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.results))
        if len(self.results) == 1 and not isinstance(self.results[0], FunctionType):
            return f"({ins}) -> {outs}"
        return f"({ins}) -> ({outs})"


# ---------------------------------------------------------------- dialect types

# A parameter of a dialect type: an integer, None (`?`), a type, a string or a nested `<...>` list (a tuple).
TypeParam = Any

# `dialect.name` -> class; declaring a DialectType subclass with a `name` registers it (as ops register).
TYPE_REGISTRY: dict[str, type[DialectType]] = {}


def quote(text: str) -> str:
    """A string as the text format writes it (`"a\\"b"`)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def format_param(p: TypeParam) -> str:
    if p is None:
        return "?"
    if isinstance(p, str):
        return quote(p)
    if isinstance(p, tuple):
        return "<" + ", ".join(map(format_param, p)) + ">"
    return str(p)


def register_class(registry: dict[str, Any], cls: Any, kind: str) -> bool:
    """Register `cls` under the `name` it declares itself (subclasses that do not are not registered); a second
    class of the same name is an error (`kind`: "op ", "type !"). Whether it was registered."""
    if not ("name" in cls.__dict__ and cls.name):
        return False
    if registry.setdefault(cls.name, cls) is not cls:
        raise TypeError(f"{kind}{cls.name} declared twice")
    return True


@dataclass(frozen=True)
class DialectType(Type):
    """A type declared by a dialect, written `!dialect.name` or `!dialect.name<params>`.

    A subclass sets `name` (which registers it), `syntax` (what its parameters are, for error messages)
    and, when it takes parameters, `verify`, which returns why `params` are wrong or None:

        class PairType(DialectType):
            name = "test.pair"
            syntax = "!test.pair<element type, count>"

            def verify(self) -> str | None:
                ...
    """

    name: ClassVar[str] = ""
    syntax: ClassVar[str] = ""  # defaults to `!name` (no parameters)
    params: tuple[TypeParam, ...] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if register_class(TYPE_REGISTRY, cls, "type !") and not cls.syntax:
            cls.syntax = f"!{cls.name}"

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        problem = self.verify()
        if problem is not None:
            raise ValueError(f"invalid type {self}: {problem}; expected {self.syntax}")

    def verify(self) -> str | None:
        """Why the parameters are wrong, or None; by default a type takes none."""
        return "it takes no parameters" if self.params else None

    def __str__(self) -> str:
        return f"!{self.name}" + (format_param(self.params) if self.params else "")


def element_of(t: Type) -> ScalarType:
    """Element type of a tensor/memref, or the scalar itself."""
    if isinstance(t, (TensorType, MemRefType)):
        return t.element
    if isinstance(t, ScalarType):
        return t
    raise TypeError(f"type {t} has no element type")


def shape_of(t: Type) -> tuple[Dim, ...]:
    if isinstance(t, (TensorType, MemRefType)):
        return t.shape
    if isinstance(t, ScalarType):
        return ()
    raise TypeError(f"type {t} has no shape")


def join_dim(a: Dim, b: Dim) -> Dim | bool:
    """The more precise of two compatible dims; False when they conflict."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    return False


def compatible(declared: Type, inferred: Type) -> bool:
    """Whether a declared type may stand for an inferred one (dims may be refined either way)."""
    if isinstance(declared, TensorType) and isinstance(inferred, TensorType):
        return (declared.element == inferred.element and declared.rank == inferred.rank
                and declared.encoding == inferred.encoding
                and all(join_dim(a, b) is not False for a, b in zip(declared.shape, inferred.shape)))
    return declared == inferred
