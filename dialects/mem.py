"""The `mem` dialect: buffers (memrefs), the memory level that `bufferize` produces.

    %m = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>
    %d = mem.dim %m {axis = 0} : index
    %t = mem.view %m sizes %d {offset = 0, shape = [4, ?], strides = [1, 4]} : memref<4x?xf32, strides=[1,4]>
    %x = mem.load %m indices %i, %j : f32
    mem.store %x, %m indices %i, %j : f32, memref<?x4xf32>, index, index
    mem.copy %m, %o : memref<?x4xf32>, memref<?x4xf32>
    mem.dealloc %m : memref<?x4xf32>
    %b = mem.buffer_of %arg : memref<?x4xf32>          (tensor -> its memory, read-only)
    %r = mem.tensor_of %o : tensor<?x4xf32>             (memref -> a fresh tensor, a copy)

A memref type carries shape, element type and strides in elements (`strides=[1,?]`);
without strides it is contiguous row-major. It carries no offset: a view's offset is
folded into the address its value starts at.

Runtime values in the reference interpreter: a memref is a numpy array sharing the
memory of the buffer it views (so a store through a view reaches the buffer); an
`index` is an int64. `mem.alloc` fills float buffers with NaN (and others with 0)
so that a read of memory nobody wrote shows up in results instead of passing by chance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.lib.stride_tricks import as_strided

from ..ir.attributes import DYN
from ..ir.core import PURE, AttrDef, Operation, OpResult, TirValueError, Value
from ..ir.dialect import Dialect
from ..ir.types import Dim, MemRefType, ScalarType, TensorType, Type, index
from .generic_base import GenericBase
from .tensor_common import fmt_shape, runtime_error

__all__ = ["AllocOp", "DeallocOp", "DimOp", "ViewOp", "LoadOp", "StoreOp", "CopyOp", "BufferOfOp", "TensorOfOp",
           "memref_type", "root_of", "check_index_operands", "contiguous_strides", "layout_of", "memref_fits",
           "check_runtime_layout", "check_writable", "filled_buffer"]


# ---------------------------------------------------------------- helpers shared by mem, lib and kernel


def memref_type(op: Operation, v: Value, what: str = "operand") -> MemRefType:
    if not isinstance(v.type, MemRefType):
        raise op.error(f"{what} must be a memref, got {v.type}")
    return v.type


def check_index_operands(op: Operation, values: Sequence[Value], what: str) -> None:
    """Each value must be of type `index` (loop bounds, subscripts, dynamic sizes)."""
    for k, v in enumerate(values):
        if v.type != index:
            raise op.error(f"{what} #{k} must be index, got {v.type}")


def contiguous_strides(shape: Sequence[Dim]) -> tuple[Dim, ...]:
    """Row-major strides of a shape (None where a later dim is dynamic)."""
    out: list[Dim] = []
    acc: Dim = 1
    for d in reversed(shape):
        out.append(acc)
        acc = None if acc is None or d is None else acc * d
    return tuple(reversed(out))


def layout_of(t: MemRefType) -> tuple[Dim, ...]:
    """The strides of a memref type, spelled out for a contiguous one."""
    return t.strides if t.strides is not None else contiguous_strides(t.shape)


def root_of(v: Value) -> Value:
    """The buffer a memref value views (through mem.view chains)."""
    while isinstance(v, OpResult) and isinstance(v.op, ViewOp):
        v = v.op.operands[0]
    return v


def memref_fits(param: MemRefType, arg: MemRefType) -> bool:
    """Whether a buffer of type `arg` may be passed where `param` is declared: same element
    type and rank, and every static dim and stride of `param` is known to hold for `arg`."""
    if param.element != arg.element or param.rank != arg.rank or param.space != arg.space:
        return False
    if any(p is not None and p != a for p, a in zip(param.shape, arg.shape)):
        return False
    if param.strides is None:  # contiguous required: only a contiguous argument is known to be
        return arg.strides is None or arg.strides == contiguous_strides(arg.shape) and None not in arg.strides
    return all(p is None or p == a for p, a in zip(param.strides, layout_of(arg)))


def filled_buffer(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The reference interpreter's new buffer: NaN-filled (zeros for integers), so that a read before a write shows."""
    return np.full(shape, np.nan if dtype.kind == "f" else 0, dtype=dtype)


def check_runtime_layout(op: Operation, arr: Any, t: MemRefType, what: str) -> np.ndarray:
    """The interpreter's check that a runtime buffer matches its type (shape, dtype, strides):
    ops that address memory (mem.view) would otherwise read the wrong elements silently."""
    if not isinstance(arr, np.ndarray) and not getattr(arr, "on_device", False):  # (runtime/device.py's arrays)
        raise runtime_error(op, f"{what} is a {type(arr).__name__}, not a buffer (numpy array)")
    if arr.dtype != t.dtype or arr.ndim != t.rank or any(d is not None and d != s for d, s in zip(t.shape, arr.shape)):
        raise runtime_error(op, f"{what} is a {arr.dtype} buffer of shape {arr.shape}, which does not fit {t}")
    want = t.strides if t.strides is not None else contiguous_strides(arr.shape)
    got = tuple(s // arr.itemsize for s in arr.strides)
    for w, g, n in zip(want, got, arr.shape):
        if w is not None and w != g and n > 1 and arr.size:  # (an empty buffer's strides address nothing)
            raise runtime_error(op, f"{what} has strides {list(got)} (in elements) at run time, which do not fit {t}")
    return arr


def check_writable(op: Operation, arr: np.ndarray) -> None:
    if not arr.flags.writeable:
        raise runtime_error(op, "writes into a read-only buffer (a tensor's memory, from mem.buffer_of)")


def _bounds_error(op: Operation, idx: Sequence[Any], shape: Sequence[int]) -> None:
    for k, (i, n) in enumerate(zip(idx, shape)):
        if not 0 <= i < n:
            raise runtime_error(op, f"index {i} is out of bounds for axis {k} of size {n}")


def _dyn_count(op: Operation, entries: Sequence[Any], what: str) -> int:
    """Count the `?` entries of an attribute array, checking the others are integers."""
    n = 0
    for e in entries:
        if e is DYN:
            n += 1
        elif not isinstance(e, (int, np.integer)) or isinstance(e, bool):
            raise op.error(f"{what} entries must be integers or '?', got {e!r}")
    return n


def _check_dyn_operands(op: Operation, operands: Sequence[Value], n_dyn: int) -> None:
    if len(operands) != n_dyn:
        raise op.error(f"has {n_dyn} '?' entr{'y' if n_dyn == 1 else 'ies'} but {len(operands)} "
                       f"dynamic size operand{'' if len(operands) == 1 else 's'}")
    check_index_operands(op, operands, "dynamic size operand")


# ---------------------------------------------------------------- ops


class AllocOp(Operation):
    """A new contiguous buffer; `?` sizes come from the `index` operands, in order:
    `%m = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>`."""

    name = "mem.alloc"
    operands_def = ("sizes*",)
    attrs = {"shape": AttrDef(tuple, required=True), "dtype": AttrDef(ScalarType, required=True)}

    def infer_types(self) -> list[Type]:
        shape = self.attributes["shape"]
        n_dyn = _dyn_count(self, shape, "shape")
        for d in shape:
            if d is not DYN and d < 0:
                raise self.error(f"shape entries must be non-negative, got {d}")
        _check_dyn_operands(self, self.operands, n_dyn)
        return [MemRefType(tuple(None if d is DYN else d for d in shape), self.attributes["dtype"])]

    def runtime_shape(self, args: list[Any]) -> tuple[int, ...]:
        """The shape this allocation has at run time (its size operands' values `args`)."""
        it = iter(args)
        shape = tuple(int(next(it)) if d is DYN else d for d in self.attributes["shape"])
        if any(d < 0 for d in shape):
            raise runtime_error(self, f"negative size in shape {shape}")
        return shape

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        shape, dtype = self.runtime_shape(args), self.attributes["dtype"].dtype
        return [interp.alloc_host(shape, dtype) if interp is not None else filled_buffer(shape, dtype)]


class DeallocOp(Operation):
    """Frees a buffer made by mem.alloc: `mem.dealloc %m : memref<?x4xf32>`."""

    name = "mem.dealloc"
    operands_def = ("ref",)
    num_results = 0

    def verify_(self) -> None:
        memref_type(self, self.operands[0])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []


_PLACEHOLDER = re.compile(r"\{(\d+)\}")


class _AxisQueryOp(Operation):
    """Base of the ops that read one number of a buffer's layout along `axis`."""

    operands_def = ("ref",)
    attrs = {"axis": AttrDef(int, required=True)}
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        t = memref_type(self, self.operands[0])
        axis = self.attributes["axis"]
        if not 0 <= axis < t.rank:
            raise self.error(f"axis {axis} is out of range for {t}")
        return [index]


class DimOp(_AxisQueryOp):
    """The size of one axis: `%d = mem.dim %m {axis = 0} : index`."""

    name = "mem.dim"

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0].shape[self.attributes["axis"]]]


class StrideOp(_AxisQueryOp):
    """The stride of one axis, in elements: `%s = mem.stride %m {axis = 0} : index`."""

    name = "mem.stride"

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        arr = args[0]
        return [arr.strides[self.attributes["axis"]] // arr.itemsize]


class CheckOp(Operation):
    """A run-time check: stops the function with `message` at this op's location when the
    condition is false; integer `values` fill the message's `{0}`, `{1}`, ... placeholders:
    `mem.check %ok values %n, %m {message = "sizes {0} and {1} do not broadcast"} : i1, index, index`."""

    name = "mem.check"
    operands_def = ("cond", "values*")
    attrs = {"message": AttrDef(str, required=True)}
    num_results = 0

    def infer_types(self) -> list[Type]:
        return []

    def verify_(self) -> None:
        if self.operands[0].type != ScalarType("i1"):
            raise self.error(f"condition must be i1, got {self.operands[0].type}")
        for v in self.operands[1:]:
            if not (isinstance(v.type, ScalarType) and (v.type.is_int or v.type.name == "index")):
                raise self.error(f"values must be integers or index, got {v.type}")
        used = [int(k) for k in _PLACEHOLDER.findall(self.attributes["message"])]
        if any(k >= len(self.operands) - 1 for k in used):
            raise self.error(f"message uses {{{max(used)}}} but the check has {len(self.operands) - 1} values")

    def formatted(self, values: Sequence[Any]) -> str:
        return _PLACEHOLDER.sub(lambda m: str(int(values[int(m.group(1))])), self.attributes["message"])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        if not bool(args[0]):
            raise TirValueError(self.formatted(args[1:]), self.loc)
        return []


class ViewOp(Operation):
    """A strided view of the same memory: transpose, slice, broadcast (stride 0), reshape of
    contiguous data. `offset` and the strides count elements from the start of the source;
    each entry is an integer or `?`, taken from the operands in the order offset, shape, strides:

        %v = mem.view %m sizes %a, %b {offset = 0, shape = [?, 4], strides = [1, ?]}
            : memref<?x4xf32, strides=[1,?]>

    Static strides that spell out the row-major layout print as a contiguous memref.
    """

    name = "mem.view"
    operands_def = ("source", "sizes*")
    attrs = {"offset": AttrDef(object, default=0), "shape": AttrDef(tuple, required=True),
             "strides": AttrDef(tuple, required=True)}
    traits = frozenset({PURE})

    def entries(self) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        """offset, shape and strides as written (ints or DYN), checked."""
        offset, shape, strides = (self.attributes.get("offset", 0), self.attributes["shape"],
                                  self.attributes["strides"])
        if len(strides) != len(shape):
            raise self.error(f"has {len(shape)} shape entries but {len(strides)} strides")
        n_dyn = _dyn_count(self, (offset,), "offset") + _dyn_count(self, shape, "shape") \
            + _dyn_count(self, strides, "strides")
        if offset is not DYN and offset < 0:
            raise self.error(f"offset must be non-negative, got {offset}")
        for d in shape:
            if d is not DYN and d < 0:
                raise self.error(f"shape entries must be non-negative, got {d}")
        _check_dyn_operands(self, self.operands[1:], n_dyn)
        return offset, shape, strides

    def infer_types(self) -> list[Type]:
        src = memref_type(self, self.operands[0], "source")
        _, shape, strides = self.entries()
        dims = tuple(None if d is DYN else d for d in shape)
        layout = tuple(None if s is DYN else s for s in strides)
        normalized = None if None not in layout and layout == contiguous_strides(dims) else layout
        return [MemRefType(dims, src.element, normalized, src.space)]

    def verify_(self) -> None:
        src = memref_type(self, self.operands[0], "source")
        offset, shape, strides = self.entries()
        # A view stays inside the memory span of its source: checked here for a static contiguous one.
        values = [offset, *shape, *strides]
        if src.strides is None and None not in src.shape and DYN not in values and 0 not in shape:
            size = int(np.prod(src.shape))
            lo = offset + sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
            hi = offset + sum(max(0, (n - 1) * s) for n, s in zip(shape, strides))
            if lo < 0 or hi >= size:
                raise self.error(f"view reaches elements {lo}..{hi} of a source of {size} elements ({src})")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return self.host_rule()(interp, args)

    def host_rule(self) -> Callable[[Any, list[Any]], list[Any]]:
        """The interpreter's rule with the attributes read once (runtime/host_plan.py keeps it for every call)."""
        src_t = memref_type(self, self.operands[0], "source")
        offset_attr, shape_attr, strides_attr = self.entries()
        entries = [offset_attr, *shape_attr, *strides_attr]
        dynamic = [k for k, e in enumerate(entries) if e is DYN]
        rank = len(shape_attr)

        def view(interp: Any, args: list[Any]) -> list[Any]:
            src = check_runtime_layout(self, args[0], src_t, "source")
            values = entries.copy()
            for k, v in zip(dynamic, args[1:]):
                values[k] = int(v)
            offset, shape, strides = values[0], tuple(values[1:rank + 1]), tuple(values[rank + 1:])
            if any(d < 0 for d in shape):
                raise runtime_error(self, f"negative size in shape {shape}")
            # A dynamic offset counts from the source's first element, which a view with negative strides (a
            # reversed argument) does not start its memory with: a negative offset is fine while the view stays
            # inside the source's memory span.
            device = not isinstance(src, np.ndarray)  # a device runtime's array (runtime/device.py)
            size = src.itemsize
            if 0 not in shape and src.size:
                # The view must lie inside the memory span of its source (checked statically where
                # the types say enough): else as_strided (or a kernel) would reach outside any allocation.
                if device:
                    low, high, start = src.span()  # bytes from the start of its buffer
                else:
                    (low, high), start = byte_bounds(src), src.__array_interface__["data"][0]
                start += offset * size
                lo = start + size * sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
                hi = start + size * sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + size
                if lo < low or hi > high:
                    raise runtime_error(self, f"view (offset {offset}, shape {fmt_shape(shape)}, strides "
                                              f"{list(strides)}) reaches outside the memory of its source")
            if device:
                return [interp.device_view(src, offset, shape, strides)]
            base = src if offset == 0 else as_strided(src, shape=(2,), strides=(offset * size,))[1:]
            return [as_strided(base, shape=shape, strides=tuple(s * size for s in strides))]

        return view


class LoadOp(Operation):
    """One element: `%x = mem.load %m indices %i, %j : f32`."""

    name = "mem.load"
    operands_def = ("ref", "indices*")

    def infer_types(self) -> list[Type]:
        return [memref_type(self, self.operands[0]).element]

    def verify_(self) -> None:
        _check_indices(self, memref_type(self, self.operands[0]), self.operands[1:])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        ref = args[0]
        if any(np.ndim(i) for i in args[1:]):
            # Inside a generic body the interpreter runs vectorized: the indices are arrays (a gather).
            arrays = [np.asarray(i, dtype=np.int64) for i in args[1:]]
            for k, (a, n) in enumerate(zip(arrays, ref.shape)):
                if a.size and (a.min() < 0 or a.max() >= n):
                    bad = a.min() if a.min() < 0 else a.max()
                    raise runtime_error(self, f"index {bad} is out of bounds for axis {k} of size {n}")
            return [ref[tuple(arrays)]]
        idx = tuple(int(i) for i in args[1:])
        _bounds_error(self, idx, ref.shape)
        return [ref[idx]]


class StoreOp(Operation):
    """Writes one element: `mem.store %x, %m indices %i, %j : f32, memref<?x4xf32>, index, index`."""

    name = "mem.store"
    operands_def = ("value", "ref", "indices*")
    num_results = 0

    def verify_(self) -> None:
        t = memref_type(self, self.operands[1])
        v = self.operands[0].type
        if v != t.element:
            raise self.error(f"stores a {v} value into {t} (element type {t.element})")
        _check_indices(self, t, self.operands[2:])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        value, ref, idx = args[0], args[1], tuple(int(i) for i in args[2:])
        _bounds_error(self, idx, ref.shape)
        check_writable(self, ref)
        ref[idx] = value
        return []


def _check_indices(op: Operation, t: MemRefType, indices: Sequence[Value]) -> None:
    if len(indices) != t.rank:
        raise op.error(f"expects {t.rank} ind{'ex' if t.rank == 1 else 'ices'} for {t}, got {len(indices)}")
    check_index_operands(op, indices, "index operand")


class CopyOp(Operation):
    """Copies every element (either side may be strided):
    `mem.copy %src, %dst : memref<?x4xf32, strides=[1,?]>, memref<?x4xf32>`."""

    name = "mem.copy"
    operands_def = ("source", "target")
    num_results = 0

    def verify_(self) -> None:
        s = memref_type(self, self.operands[0], "source")
        d = memref_type(self, self.operands[1], "target")
        if s.element != d.element:
            raise self.error(f"copies {s.element} elements into a {d.element} buffer")
        if s.rank != d.rank or any(a is not None and b is not None and a != b for a, b in zip(s.shape, d.shape)):
            raise self.error(f"source shape {fmt_shape(s.shape)} does not match target shape {fmt_shape(d.shape)}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        src, dst = args
        if src.shape != dst.shape:
            raise runtime_error(self, f"source shape {src.shape} does not match target shape {dst.shape}")
        check_writable(self, dst)
        dst[...] = src  # numpy copies overlapping memory correctly
        return []


class BufferOfOp(Operation):
    """The memory of a tensor at the function boundary (same shape and element type,
    contiguous, read-only: a tensor is a value): `%m = mem.buffer_of %t : memref<?x4xf32>`."""

    name = "mem.buffer_of"
    operands_def = ("tensor",)
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        t = self.operands[0].type
        if not isinstance(t, TensorType):
            raise self.error(f"operand must be a tensor, got {t}")
        return [MemRefType(t.shape, t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        arr = np.asarray(args[0])
        view = np.ascontiguousarray(arr).reshape(arr.shape)  # (ascontiguousarray makes 0-d arrays 1-d)
        view.flags.writeable = False
        return [view]


class TensorOfOp(Operation):
    """A fresh tensor holding a buffer's current contents (a copy):
    `%t = mem.tensor_of %m : tensor<?x4xf32>`."""

    name = "mem.tensor_of"
    operands_def = ("ref",)

    def infer_types(self) -> list[Type]:
        t = memref_type(self, self.operands[0])
        return [TensorType(t.shape, t.element)]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [np.array(args[0], order="C", copy=True)]


class GenericOp(GenericBase):
    """A generic loop nest on buffers (see dialects/generic_base.py), destination style:
    the last `outputs` operands are the buffers written (their maps follow the inputs').

        mem.generic %x, %y {maps = [[0], [0]], iterators = ["parallel"], outputs = 1} ({
        ^bb0(%v: f32, %o: f32):
          %e = scalar.exp %v : f32
          scalar.yield %e : f32
        }) : memref<?xf32, strides=[?]>, memref<?xf32>
    """

    name = "mem.generic"
    operands_def = ("buffers*",)
    num_results = 0
    attrs = {**GenericBase.attrs, "outputs": AttrDef(int, required=True)}
    traits = frozenset()

    @property
    def inputs(self) -> list[Value]:
        return list(self.operands[:len(self.operands) - self.attributes["outputs"]])

    @property
    def outputs(self) -> list[Value]:
        return list(self.operands[len(self.operands) - self.attributes["outputs"]:])

    def output_types(self) -> list[Type]:
        return [v.type for v in self.outputs]

    def infer_types(self) -> list[Type]:
        return []

    def verify_(self) -> None:
        n_out = self.attributes["outputs"]
        if not 0 < n_out <= len(self.operands):
            raise self.error(f"outputs = {n_out} must be between 1 and the {len(self.operands)} operands")
        for v in self.operands:
            if not isinstance(v.type, MemRefType):
                raise self.error(f"operands must be memrefs, got {v.type}")
        self.check_maps([v.type.rank for v in self.operands], len(self.inputs), size_sources=len(self.operands))
        self.check_body([v.type.element for v in self.inputs], [v.type.element for v in self.outputs])

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        n_out = self.attributes["outputs"]
        ins, outs = args[:len(args) - n_out], args[len(args) - n_out:]
        for buf in outs:
            check_writable(self, buf)
        results = self.evaluate(interp, ins, sizes_from=outs)
        for buf, res in zip(outs, results):
            if buf.shape != res.shape:
                raise runtime_error(self, f"output buffer of shape {buf.shape} for a result of shape {res.shape}")
            np.copyto(buf, res)
        return []


DIALECT = Dialect("mem", "buffers (memrefs), the memory level that bufferize produces")
