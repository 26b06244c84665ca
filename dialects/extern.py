"""Library functions as ops (Theano's `as_op` and COp): a Python function, or a C function, called by name.

    %y = tensor.py_call %x {fn = "mylib.sort_desc"} : tensor<?xf64>
    %y = tensor.py_call %x, %n {fn = "mylib.head", shapes = [[?]]} : tensor<?xf64>
    %y = tensor.extern_c %a, %b {name = "hypot2", signature = "f64(f64, f64)", source = "..."} : tensor<?xf64>

**tensor.py_call** calls a Python (numpy) function that `tensorir.as_op` registered in this process under the
name `fn` (PY_FUNCTIONS): its operands are the function's inputs, then one 0-d integer tensor per `?` entry of
`shapes`, the output shapes that `as_op`'s `infer_shape` gave (absent: the declared output types say all
there is). The registry holds the declared input and output types; the verifier checks the op against
them, so text that names an unregistered function is an error at its line. Bufferize makes it a
`lib.py_call`: into preallocated outputs where every output size is known before the call (static, or from
`shapes`), else with results the call allocates (the callback's arrays copied into fresh buffers). On the C
target the generated code calls back into Python through tir_extern.h's `tir_py_call` (taking the GIL when
the host plan runs without it), which wraps the buffers as numpy arrays and calls `dispatch` below; the
result is checked (count, dtype, shape) against the declared types and sizes, a located ValueError
otherwise.

**tensor.extern_c** calls a C function directly (no Python): an elementwise function over whole arrays in
the convention `void name(const T0* in0, const T1* in1, ..., R* out, int64_t n)`, where n is the number of
elements and every input has the output's shape (the buffers are contiguous). `signature` writes the element
types as `R(T0, T1, ...)` (`f64(f64, f64)`; C's double/float/int32_t/int64_t are accepted too). The
function comes from `source` (C text compiled into the generated module, so it is part of the cache key) or
`library` (the path of a shared library, opened with dlopen the first time the module calls it). The
interpreter calls the same function through ctypes, built as a shared library by the project's compiler
driver through the on-disk cache (runtime/cache.py `get`, once per machine and flags) or loaded from
`library`, so the oracle does not run the generated C.
"""

from __future__ import annotations

import ctypes
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import PURE, AttrDef, Block, NotSupportedError, Operation, TirError, Value
from ..ir.types import MemRefType, ScalarType, TensorType, Type, scalar
from .mem import check_writable, memref_type
from .tensor_common import bind_dynamic, check_size_operands, count_dynamic, fmt_shape, runtime_error, tensor_type
from .tensor_grad import Grads

__all__ = ["PY_FUNCTIONS", "ExternCOp", "LibExternCOp", "LibPyCallOp", "PyCallOp", "PyFunction", "Signature",
           "dispatch", "parse_signature", "register"]


# ---------------------------------------------------------------- Python functions (as_op)


class PyCallError(ValueError):
    """A wrapped function's results do not fit its declaration (raised by `call_checked`)."""


@dataclass(eq=False)
class PyFunction:
    """A registered Python function: its declared input and output types and Theano's optional helpers
    (`infer_shape(node, input_shapes)`, `grad(inputs, output_grads)`; see frontend/extern.py)."""

    name: str
    fn: Callable[..., Any]
    itypes: tuple[TensorType, ...]
    otypes: tuple[TensorType, ...]
    infer_shape: Callable[..., Any] | None = None
    grad: Callable[..., Any] | None = None

    def call_checked(self, inputs: Sequence[np.ndarray], shapes: Sequence[Sequence[int | None]] | None = None
                     ) -> list[np.ndarray]:
        """The function's results on `inputs`, each checked against its declared type and (where given) the
        expected shape; PyCallError says what does not fit."""
        out = self.fn(*map(_read_only, inputs))
        results = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(results) != len(self.otypes):
            raise PyCallError(f"\"{self.name}\" returned {len(results)} values, declared {len(self.otypes)} outputs")
        checked = []
        for k, (r, t) in enumerate(zip(results, self.otypes)):
            arr = np.asarray(r)
            if arr.dtype != t.dtype:
                raise PyCallError(f"\"{self.name}\" returned {arr.dtype} as output #{k}, declared {t.dtype} ({t})")
            want = tuple(t.shape) if shapes is None else tuple(shapes[k])
            if arr.ndim != t.rank or any(d is not None and d != s for d, s in zip(want, arr.shape)):
                raise PyCallError(f"\"{self.name}\" returned shape {fmt_shape(arr.shape)} as output #{k}, "
                                  f"expected {fmt_shape(want)} ({t})")
            checked.append(arr)
        return checked


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view: a wrapped function sees its inputs as the compiled code gives them (views of buffers
    it must not write), whichever target runs it."""
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


PY_FUNCTIONS: dict[str, PyFunction] = {}


def register(entry: PyFunction) -> PyFunction:
    """Add (or replace) a function under its name."""
    PY_FUNCTIONS[entry.name] = entry
    return entry


def dispatch(name: str, inputs: tuple[np.ndarray, ...], outputs: tuple[np.ndarray, ...] | None
             ) -> tuple[np.ndarray, ...] | None:
    """The compiled code's callback (tir_extern.h `tir_py_call`): runs function `name` on the input arrays
    (views of the buffers) and copies its checked results into `outputs` (preallocated buffers), or returns
    them as C-contiguous arrays for the caller to copy (outputs None: their sizes were unknown)."""
    entry = PY_FUNCTIONS.get(name)
    if entry is None:
        raise PyCallError(f"calls \"{name}\", which is not registered in this process (tensorir.as_op)")
    results = entry.call_checked(inputs, None if outputs is None else [o.shape for o in outputs])
    if outputs is None:
        return tuple(np.ascontiguousarray(r) for r in results)
    for o, r in zip(outputs, results):
        o[...] = r
    return None


def _entry(op: Operation) -> PyFunction:
    name = op.attributes["fn"]
    entry = PY_FUNCTIONS.get(name)
    if entry is None:
        raise op.error(f"calls \"{name}\", which is not registered in this process (wrap it with tensorir.as_op "
                       "before parsing or running IR that calls it)")
    return entry


def _fits(op: Operation, what: str, t: Type, want: TensorType, rank_dtype_only: bool = False) -> None:
    """`t` (a tensor or memref type) has `want`'s dtype and rank and agrees with its static dims."""
    if not isinstance(t, (TensorType, MemRefType)) or t.element != want.element or len(t.shape) != want.rank:
        raise op.error(f"{what} is {t}, but \"{op.attributes['fn']}\" declares {want}")
    if not rank_dtype_only and any(a is not None and b is not None and a != b for a, b in zip(t.shape, want.shape)):
        raise op.error(f"{what} is {t}, but \"{op.attributes['fn']}\" declares {want}")


class _NamesPyFunction(Operation):
    """Base of the ops that call a registered Python function: one that names no such function is refused
    where it is built (so the parser reports it at its line, before any pass runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _entry(self)


class PyCallOp(_NamesPyFunction):
    """A call of a registered Python function: `%y = tensor.py_call %x {fn = "mylib.sort_desc"} : tensor<?xf64>`;
    with `shapes` (from as_op's infer_shape), the output shapes, `?` entries taken from the trailing 0-d integer
    operands: `%y = tensor.py_call %x, %n {fn = "mylib.head", shapes = [[?]]} : tensor<?xf64>`."""

    name = "tensor.py_call"
    operands_def = ("args*",)
    num_results = None
    attrs = {"fn": AttrDef(str, required=True), "shapes": AttrDef(tuple)}
    traits = frozenset({PURE})

    @property
    def n_sizes(self) -> int:
        shapes = self.attributes.get("shapes")
        return count_dynamic(shapes) if shapes is not None else 0

    @property
    def inputs(self) -> list[Value]:
        return self.operands[:len(self.operands) - self.n_sizes]

    @property
    def sizes(self) -> list[Value]:
        return self.operands[len(self.operands) - self.n_sizes:]

    def output_shapes(self, values: Sequence[Any] | None = None) -> list[list[Any]]:
        """Each output's dims: ints where known, DYN, or (with run-time `values` of the size operands) ints."""
        entry = _entry(self)
        shapes = self.attributes.get("shapes")
        if shapes is None:
            return [list(t.shape) for t in entry.otypes]
        if len(shapes) != len(entry.otypes) or not all(isinstance(s, tuple) for s in shapes):
            raise self.error(f"shapes must hold one list per output ({len(entry.otypes)}), got {list(shapes)}")
        for s, t in zip(shapes, entry.otypes):
            if len(s) != t.rank or any(e is not DYN and (not isinstance(e, int) or e < 0) for e in s):
                raise self.error(f"shape {list(s)} does not fit declared output {t} (sizes or ?)")
        check_size_operands(self, self.sizes, count_dynamic(shapes))
        rows = bind_dynamic(shapes, self.sizes if values is None else values)
        return [[None if e is DYN else e for e in row] for row in rows]  # type: ignore[union-attr]

    def infer_types(self) -> list[Type]:
        entry = _entry(self)
        return [TensorType(tuple(d if d is not None else e for d, e in zip(s, t.shape)), t.element)
                for s, t in zip(self.output_shapes(), entry.otypes)]

    def verify_(self) -> None:
        entry = _entry(self)
        if len(self.inputs) != len(entry.itypes):
            raise self.error(f"\"{entry.name}\" takes {len(entry.itypes)} inputs, got {len(self.inputs)}")
        for k, (v, t) in enumerate(zip(self.inputs, entry.itypes)):
            _fits(self, f"input #{k}", tensor_type(self, v), t)
        if len(self.results) != len(entry.otypes):
            raise self.error(f"\"{entry.name}\" has {len(entry.otypes)} outputs, the op {len(self.results)} results")
        for k, (r, t, s) in enumerate(zip(self.results, entry.otypes, self.output_shapes())):
            _fits(self, f"result #{k}", r.type, TensorType(tuple(d if d is not None else e
                                                                 for d, e in zip(s, t.shape)), t.element))

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        n = len(args) - self.n_sizes
        try:
            return _entry(self).call_checked([np.asarray(a) for a in args[:n]], self.output_shapes(args[n:]))
        except PyCallError as e:
            raise runtime_error(self, str(e)) from None

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        """as_op's `grad(inputs, output_grads)`, called on symbolic stand-ins of the operands and output
        gradients; the graph it returns is lowered here (frontend/symbolic.py `lower`)."""
        from ..frontend.symbolic import Variable, as_variable, lower

        entry = _entry(self)
        if entry.grad is None:
            raise NotSupportedError(f"'{self.name}' op: \"{entry.name}\" has no gradient (pass grad= to "
                                    "tensorir.as_op)", self.loc)
        ins = [Variable(v.type) for v in self.inputs]  # type: ignore[arg-type]
        gs = [Variable(g.type) for g in out_grads]  # type: ignore[arg-type]
        grads = [g if g is None else as_variable(g) for g in entry.grad(ins, gs)]
        if len(grads) != len(ins):
            raise TirError(f"'{self.name}' op: the grad of \"{entry.name}\" gave {len(grads)} gradients for "
                           f"{len(ins)} inputs", self.loc)
        block = Block()
        given = [g for g in grads if g is not None]
        values = iter(lower(block, {**dict(zip(ins, self.inputs)), **dict(zip(gs, out_grads))}, given))
        for op in list(block.ops):
            block.remove(op)
            b.insert(op)
        return [next(values) if g is not None else None for g in grads] + [None] * self.n_sizes


class LibPyCallOp(_NamesPyFunction):
    """The buffer form of tensor.py_call. Into preallocated outputs (after the inputs):
    `lib.py_call %x, %out {fn = "mylib.sort_desc"} : memref<?xf64, strides=[?]>, memref<?xf64>`;
    or, where the output sizes are known only once the function ran, results that the call allocates:
    `%r = lib.py_call %x {fn = "mylib.sort_desc"} : memref<?xf64>`."""

    name = "lib.py_call"
    operands_def = ("args*",)
    num_results = None
    attrs = {"fn": AttrDef(str, required=True)}

    @property
    def n_inputs(self) -> int:
        return len(_entry(self).itypes)

    def infer_types(self) -> list[Type]:
        return [r.type for r in self.results]  # as built: none (preallocated outputs) or the allocated ones

    def verify_(self) -> None:
        entry = _entry(self)
        n_in, n_out = len(entry.itypes), len(entry.otypes)
        outs = self.operands[n_in:]
        if len(self.operands) < n_in or (len(outs), len(self.results)) not in ((n_out, 0), (0, n_out)):
            raise self.error(f"\"{entry.name}\" takes {n_in} inputs and {n_out} outputs: give the outputs as "
                             f"operands or as results, got {len(self.operands)} operands and {len(self.results)} "
                             "results")
        for k, (v, t) in enumerate(zip(self.operands, entry.itypes + entry.otypes)):
            _fits(self, f"operand #{k}", memref_type(self, v, f"operand #{k}"), t, rank_dtype_only=True)
        for k, (r, t) in enumerate(zip(self.results, entry.otypes)):
            rt = memref_type(self, r, f"result #{k}")
            if rt.strides is not None:
                raise self.error(f"result #{k} must be a contiguous memref, got {rt}")
            _fits(self, f"result #{k}", rt, t, rank_dtype_only=True)

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        entry = _entry(self)
        n_in = len(entry.itypes)
        outs = args[n_in:]
        for o in outs:
            check_writable(self, o)
        try:
            results = dispatch(entry.name, tuple(args[:n_in]), tuple(outs) if outs else None)
        except PyCallError as e:
            raise runtime_error(self, str(e)) from None
        # buffers of their own, as the C target's copies: a result may be an input's memory (an identity)
        return [np.array(r) for r in results or []]


# ---------------------------------------------------------------- C functions (extern_c)

_C_TYPES = {"double": "f64", "float": "f32", "int32_t": "i32", "int64_t": "i64", "int": "i32"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CTYPES_OF = {"f64": ctypes.c_double, "f32": ctypes.c_float, "i32": ctypes.c_int32, "i64": ctypes.c_int64}


@dataclass(frozen=True)
class Signature:
    """`R(T0, T1, ...)`: the element types of an elementwise C function's inputs and output."""

    result: ScalarType
    inputs: tuple[ScalarType, ...]

    def __str__(self) -> str:
        return f"{self.result}({', '.join(map(str, self.inputs))})"


def parse_signature(text: str) -> Signature:
    """`"f64(f64, f64)"` or `"double(double, double)"` -> Signature; ValueError when it is neither."""
    m = re.fullmatch(r"\s*(\w+)\s*\(([\w\s,]*)\)\s*", text)
    if m is None:
        raise ValueError(f"signature {text!r} is not of the form 'f64(f64, f64)'")
    names = [m.group(1), *(p.strip() for p in m.group(2).split(",") if p.strip())]
    types = []
    for n in names:
        t = scalar(_C_TYPES.get(n, n))
        if t.name not in _CTYPES_OF:
            raise ValueError(f"signature {text!r}: element type {n} is not one of f32, f64, i32, i64")
        types.append(t)
    if len(types) < 2:
        raise ValueError(f"signature {text!r} has no inputs (the output's size is the inputs')")
    return Signature(types[0], tuple(types[1:]))


class _ExternC(Operation):
    """Shared attributes and checks of tensor.extern_c and lib.extern_c."""

    attrs = {"name": AttrDef(str, required=True), "signature": AttrDef(str, required=True),
             "source": AttrDef(str), "library": AttrDef(str)}

    def signature(self) -> Signature:
        if not _IDENT.fullmatch(self.attributes["name"]):
            raise self.error(f"name \"{self.attributes['name']}\" is not a C identifier")
        if ("source" in self.attributes) == ("library" in self.attributes):
            raise self.error("needs exactly one of source and library")
        try:
            return parse_signature(self.attributes["signature"])
        except ValueError as e:
            raise self.error(str(e)) from None

    def check_operands(self, types: Sequence[Type], sig: Signature) -> None:
        if len(types) != len(sig.inputs):
            raise self.error(f"signature {self.attributes['signature']} takes {len(sig.inputs)} inputs, "
                             f"got {len(types)}")
        for k, (t, e) in enumerate(zip(types, sig.inputs)):
            if not isinstance(t, (TensorType, MemRefType)) or t.element != e:
                raise self.error(f"input #{k} is {t}, the signature says {e}")
        shapes = [t.shape for t in types]  # type: ignore[union-attr]
        if any(len(s) != len(shapes[0]) or any(a is not None and b is not None and a != b
                                               for a, b in zip(s, shapes[0])) for s in shapes):
            raise self.error("inputs must have one shape, got " + ", ".join(fmt_shape(s) for s in shapes))

    def call(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """The function on `arrays` (one shape) through ctypes: a fresh result array."""
        sig = self.signature()
        if any(a.shape != arrays[0].shape for a in arrays):
            raise runtime_error(self, "inputs must have one shape, got "
                                + ", ".join(fmt_shape(a.shape) for a in arrays))
        try:
            fn = c_function(self.attributes["name"], self.attributes["signature"], self.attributes.get("source"),
                            self.attributes.get("library"))
        except TirError as e:
            raise runtime_error(self, e.message) from None
        ins = [np.ascontiguousarray(a, dtype=t.dtype) for a, t in zip(arrays, sig.inputs)]
        out = np.empty(arrays[0].shape, sig.result.dtype)
        fn(*(a.ctypes.data for a in ins), out.ctypes.data, out.size)
        return out


class ExternCOp(_ExternC):
    """A C function applied to whole arrays of one shape:
    `%y = tensor.extern_c %a, %b {name = "hypot2", signature = "f64(f64, f64)", source = "..."} : tensor<?xf64>`
    (or `library = "/path/libm2.so"` instead of source)."""

    name = "tensor.extern_c"
    operands_def = ("args*",)
    traits = frozenset({PURE})
    differentiable = False

    def infer_types(self) -> list[Type]:
        sig = self.signature()
        types = [tensor_type(self, v) for v in self.operands]
        self.check_operands(types, sig)
        shape = tuple(next((d for d in dims if d is not None), None) for dims in zip(*(t.shape for t in types)))
        return [TensorType(shape, sig.result)]

    def verify_(self) -> None:
        sig = self.signature()
        self.check_operands([tensor_type(self, v) for v in self.operands], sig)
        t = tensor_type(self, self.result, "result")
        want = self.infer_types()[0]
        if t.element != want.element or t.rank != want.rank:
            raise self.error(f"result is {t}, the signature and inputs give {want}")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [self.call([np.asarray(a) for a in args])]


class LibExternCOp(_ExternC):
    """The buffer form of tensor.extern_c: contiguous inputs of one shape, then the output it writes:
    `lib.extern_c %a, %b, %out {name = "hypot2", signature = "f64(f64, f64)", source = "..."}
    : memref<?xf64>, memref<?xf64>, memref<?xf64>`; the C target calls `hypot2(a, b, out, n)`."""

    name = "lib.extern_c"
    operands_def = ("args*",)
    num_results = 0

    @property
    def output(self) -> Value:
        return self.operands[-1]

    def verify_(self) -> None:
        sig = self.signature()
        types = [memref_type(self, v, f"operand #{k}") for k, v in enumerate(self.operands)]
        if any(t.strides is not None for t in types):
            raise self.error("operands must be contiguous memrefs, got " + ", ".join(map(str, types)))
        if not types:
            raise self.error("needs its inputs and an output")
        self.check_operands(types[:-1], sig)
        out = types[-1]
        if out.element != sig.result:
            raise self.error(f"output is {out}, the signature says {sig.result}")
        if len(out.shape) != len(types[0].shape) or any(a is not None and b is not None and a != b
                                                       for a, b in zip(out.shape, types[0].shape)):
            raise self.error(f"output is {out}, the inputs {types[0]}: they must have one shape")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        out = args[-1]
        check_writable(self, out)
        value = self.call(args[:-1])
        if value.shape != out.shape:
            raise runtime_error(self, f"output of shape {fmt_shape(out.shape)} for inputs of {fmt_shape(value.shape)}")
        out[...] = value
        return []


def c_prototype(name: str, sig: Signature, type_name: Callable[[ScalarType], str]) -> str:
    """`void name(const double*, const double*, double*, int64_t)`."""
    params = [f"const {type_name(t)}*" for t in sig.inputs] + [f"{type_name(sig.result)}*", "int64_t"]
    return f"void {name}({', '.join(params)})"


@functools.cache
def c_function(name: str, signature: str, source: str | None, library: str | None) -> Any:
    """The ctypes function of an extern_c op: `library` loaded, or `source` built as a shared library by the
    compiler driver through the on-disk cache (runtime/cache.py: once per machine and flags)."""
    from ..runtime import cache

    sig = parse_signature(signature)
    if library is None:
        assert source is not None
        # generated code is compiled with hidden visibility: ctypes needs the symbol exported
        text = f"#include <stdint.h>\n#pragma GCC visibility push(default)\n{source}\n"
        library = str(cache.get(text, library=f"tir_extern_{name}")[1])
    try:
        fn = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError) as e:
        raise TirError(f"cannot load \"{name}\" from {library}: {e}") from None
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p] * (len(sig.inputs) + 1) + [ctypes.c_int64]
    return fn
