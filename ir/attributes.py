"""Attribute values attached to operations.

Attributes are plain Python values where that is unambiguous, and small frozen
wrappers where the text format carries more than the value:

    3                      int                  true / false    bool
    2.5                    float                "text"          str
    [1, 2]                 tuple (arrays are stored as tuples, so attributes hash)
    {a = 1}                dict                 f32, tensor<2xf32>   Type
    0.1 : f32              Typed(0.1, f32)      @name           SymbolRef("name")
    ?                      DYN (a size taken from a dynamic operand)
    none                   None (inside arrays: an absent slice bound)
    dense<[1.0, 2.0]> : tensor<2xf32>           Dense(np.ndarray)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import ScalarType, TensorType, Type, quote, scalar


@dataclass(frozen=True)
class Typed:
    """A scalar with an explicit element type: `0.1 : f32`."""

    value: int | float | bool
    type: ScalarType


class _Dynamic:
    """The `?` marker in attribute arrays: a size or bound taken from the op's next dynamic
    operand, in order (MLIR's convention for mixed static/dynamic sizes):
    `tensor.zeros sizes %n {shape = [?, 3], dtype = f32}`."""

    _instance: _Dynamic | None = None

    def __new__(cls) -> _Dynamic:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DYN"

    def __reduce__(self) -> str:
        return "DYN"


DYN = _Dynamic()


@dataclass(frozen=True)
class SymbolRef:
    """A reference to a symbol (a function): `@name`."""

    name: str


class Dense:
    """A constant n-d array: `dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>`."""

    __slots__ = ("array",)

    def __init__(self, array: Any, dtype: Any = None) -> None:
        arr = np.array(array, dtype=dtype)
        arr.setflags(write=False)
        self.array = arr

    @property
    def type(self) -> TensorType:
        return TensorType(self.array.shape, scalar(self.array.dtype))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Dense) and self.array.dtype == other.array.dtype
                and self.array.shape == other.array.shape
                and self.array.tobytes() == other.array.tobytes())

    def __hash__(self) -> int:
        return hash((self.array.dtype.str, self.array.shape, self.array.tobytes()))

    def __repr__(self) -> str:
        return f"Dense({self.array!r})"


Attribute = Any  # bool | int | float | str | tuple | dict | Type | Typed | SymbolRef | Dense


def normalize(value: Any) -> Attribute:
    """Canonical storage form: lists become tuples, numpy scalars Python scalars."""
    if isinstance(value, (list, tuple)):
        return tuple(normalize(v) for v in value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return Dense(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def freeze(value: Attribute) -> Any:
    """A hashable key for an attribute value (used by CSE)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    # bool and int compare equal in Python; keep them apart.
    return (type(value).__name__, value)


def format_float(x: float) -> str:
    """Shortest text that reads back as the same float (`nan`, `inf`, `-inf` spelled out)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(float(x))
    return text if any(c in text for c in ".en") else text + ".0"


def _format_scalar(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (float, np.floating)):
        return format_float(float(x))
    return str(int(x))


def _format_nested(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return _format_scalar(arr[()])
    return "[" + ", ".join(_format_nested(a) for a in arr) + "]"


def format_attribute(value: Attribute) -> str:
    if value is None:
        return "none"
    if value is DYN:
        return "?"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attribute(v) for v in value) + "]"
    if isinstance(value, dict):
        return format_attr_dict(value)
    if isinstance(value, Type):
        return str(value)
    if isinstance(value, Typed):
        return f"{_format_scalar(value.value)} : {value.type}"
    if isinstance(value, SymbolRef):
        return f"@{value.name}"
    if isinstance(value, Dense):
        arr = value.array
        # A splat (all elements equal) prints as one value, as MLIR does.
        if arr.size > 0 and arr.ndim > 0 and (arr == arr.flat[0]).all() and not (
                arr.dtype.kind == "f" and np.isnan(arr.flat[0])):
            body = _format_scalar(arr.flat[0])
        else:
            body = _format_nested(arr)
        return f"dense<{body}> : {value.type}"
    raise TypeError(f"cannot print attribute {value!r}")


def format_attr_dict(attrs: dict[str, Attribute]) -> str:
    if not attrs:
        return "{}"
    return "{" + ", ".join(f"{_format_key(k)} = {format_attribute(v)}" for k, v in attrs.items()) + "}"


def _format_key(key: str) -> str:
    return key if key.replace("_", "a").replace(".", "a").isalnum() and not key[0].isdigit() else f'"{key}"'
