"""The C target's rendering of library-function calls (dialects/extern.py), mixed into backends/c.py's CRenderer.

    lib.py_call   -> tir_extern.h's `tir_py_call(ctx, where, "mylib.f", nin, ins, in_types, nout, outs, out_types,
                     allocate)`: a call back into Python (the GIL taken if the host plan runs without it)
    lib.extern_c  -> `name(in0, ..., out, n)`: with `source`, the C text is part of the host translation unit
                     (once per name); with `library`, a function pointer that tir_extern.h's `tir_extern_symbol`
                     fills by dlopen/dlsym on the first call
"""

from __future__ import annotations

import numpy as np

from ..dialects import extern as X
from ..ir.core import Operation, TirError
from ..ir.types import MemRefType, ScalarType
from .cstyle import CStyleRenderer, MemRef, c_string, contiguous_strides

__all__ = ["ExternCalls"]

MAX_DIMS = 8  # tir_runtime.h TIR_MAX_DIMS: the rank a tir_buf holds


def _npy_type(t: ScalarType) -> str:
    return f"NPY_{np.dtype(t.dtype).name.upper()}"


class ExternCalls(CStyleRenderer):
    """Host statements of lib.py_call and lib.extern_c; `extern_defs` holds the C text (by function name) that
    the host translation unit starts with, `uses_extern` whether the module includes tir_extern.h."""

    extern_defs: dict[str, str]
    uses_extern: bool

    def _buf_init(self, m: MemRef, op: Operation) -> str:
        if len(m.shape) > MAX_DIMS:
            raise TirError(f"'{op.name}' op: buffers of rank {len(m.shape)} cannot be passed (at most {MAX_DIMS})",
                           op.loc)
        return f"{{(char*){m.data}, {len(m.shape)}, {{{', '.join(m.shape) or '0'}}}, " \
               f"{{{', '.join(m.strides) or '0'}}}}}"

    def _buf_array(self, name: str, bufs: list[str], types: list[ScalarType]) -> tuple[str, str]:
        """Declares `tir_buf name[]` (from initializers) and its numpy type numbers; their C names."""
        arr, typ = self.fresh(name), self.fresh(f"{name}_types")
        n = max(len(types), 1)
        self.emit(f"tir_buf {arr}[{n}] = {{{', '.join(bufs)}}};" if bufs else f"tir_buf {arr}[{n}];")
        self.emit(f"static const int {typ}[{n}] = {{{', '.join(map(_npy_type, types)) or '0'}}};")
        return arr, typ

    def render_py_call(self, op: Operation) -> None:
        assert isinstance(op, X.LibPyCallOp)
        self.uses_extern = True
        ins = [self.memref(v) for v in op.operands[:op.n_inputs]]
        outs = [self.memref(v) for v in op.operands[op.n_inputs:]]
        out_types = [r.type.element for r in op.results] or [m.element for m in outs]
        in_arr, in_typ = self._buf_array("py_in", [self._buf_init(m, op) for m in ins], [m.element for m in ins])
        out_arr, out_typ = self._buf_array("py_out", [self._buf_init(m, op) for m in outs], out_types)
        where = c_string(f"{op.loc}: '{op.name}' op")
        args = [where, c_string(op.attributes["fn"]), str(len(ins)), in_arr, in_typ, str(len(out_types)), out_arr,
                out_typ, str(int(bool(op.results)))]
        self.emit(f"if (tir_py_call(ctx, {', '.join(args)})) return -1;")
        for k, r in enumerate(op.results):
            t = r.type
            assert isinstance(t, MemRefType)
            name = self.fresh(r.name_hint, "py")
            ctype = self.type_name(t.element)
            self.emit(f"{ctype}* {name} = ({ctype}*){out_arr}[{k}].data;")
            shape = []
            for d, size in enumerate(t.shape):
                if size is None:
                    n = self.fresh(f"{name}_n{d}")
                    self.emit(f"const int64_t {n} = {out_arr}[{k}].shape[{d}];")
                    shape.append(n)
                else:
                    shape.append(str(size))
            self.memrefs[r] = MemRef(name, shape, contiguous_strides(shape), t.element, r, "alloc")

    def render_extern_c(self, op: Operation) -> None:
        assert isinstance(op, X.LibExternCOp)
        sig = op.signature()
        fn = op.attributes["name"]
        bufs = [self.memref(v) for v in op.operands]
        source, library = op.attributes.get("source"), op.attributes.get("library")
        text = source if source is not None else self._pointer_decl(fn, sig)
        if self.extern_defs.setdefault(fn, text) != text:
            raise TirError(f"'{op.name}' op: two different definitions of the C function {fn} in one module", op.loc)
        call = fn
        if library is not None:
            self.uses_extern = True
            call = f"tir_ext_{fn}"
            where = c_string(f"{op.loc}: '{op.name}' op")
            self.emit(f"if (!{call} && !({call} = ({call}_t)tir_extern_symbol(ctx, {where}, {c_string(library)}, "
                      f"{c_string(fn)}))) return -1;")
        count = " * ".join(f"(int64_t)({d})" for d in bufs[-1].shape) or "1"
        self.emit(f"{call}({', '.join(m.data for m in bufs)}, {count});")

    def _pointer_decl(self, fn: str, sig: X.Signature) -> str:
        proto = X.c_prototype(f"(*tir_ext_{fn}_t)", sig, self.type_name)
        return f"typedef {proto};\nstatic tir_ext_{fn}_t tir_ext_{fn};"

    def extern_text(self) -> list[str]:
        """The C text of the module's extern_c functions (the start of the host translation unit)."""
        return list(self.extern_defs.values())

