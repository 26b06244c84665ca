"""The reference interpreter: runs IR of any level op by op with numpy.

It is the oracle of the test suite: every op has an `interpret` rule in its
class, and each result is checked against its declared type (dtype and
static dims), so a wrong rule is caught where it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.core import TERMINATOR, Block, Operation, Region, TirError, Value
from ..ir.types import MemRefType, ScalarType, TensorType, Type


class InterpreterError(TirError):
    pass


def coerce(value: Any, t: Type, what: str, op: Operation | None = None) -> Any:
    """Convert a Python/numpy value to the runtime form of type `t`, checking shape."""
    if isinstance(t, TensorType) and t.encoding is not None:
        return value  # a csr/csc matrix: a scipy.sparse matrix (dialects/sparse.py)
    if isinstance(t, TensorType):
        arr = np.asarray(value)
        if arr.dtype != t.dtype:
            arr = arr.astype(t.dtype)
        if not t.accepts(arr.shape):
            raise InterpreterError(f"{what} has shape {arr.shape}, which does not fit {t}",
                                   op.loc if op is not None else None)
        return arr
    if isinstance(t, ScalarType):
        return t.dtype.type(value)
    if isinstance(t, MemRefType):
        return value
    return value


class Interpreter:
    def __init__(self, module: Operation) -> None:
        self.module = module

    def function(self, name: str) -> Operation:
        for op in self.module.regions[0].block.ops:
            if op.attributes.get("sym_name") == name:
                return op
        names = ", ".join("@" + op.attributes.get("sym_name", "?") for op in self.module.regions[0].block.ops)
        raise InterpreterError(f"no function @{name} in the module (it has {names or 'none'})")

    def call(self, name: str, args: Sequence[Any]) -> list[Any]:
        fn = self.function(name)
        ftype = fn.attributes["function_type"]
        if len(args) != len(ftype.inputs):
            raise InterpreterError(f"@{name} takes {len(ftype.inputs)} arguments, got {len(args)}", fn.loc)
        block = fn.regions[0].block
        vals = [coerce(a, t, f"argument %{arg.name_hint or i} of @{name}", fn)
                for i, (a, t, arg) in enumerate(zip(args, ftype.inputs, block.args))]
        return self.run_function(fn, vals)

    def run_function(self, fn: Operation, args: list[Any]) -> list[Any]:
        """Run function `fn`'s body on `args` (of its argument types)."""
        return self.run_block(fn.regions[0].block, args)

    def run_region(self, region: Region, args: Sequence[Any]) -> list[Any]:
        return self.run_block(region.blocks[0], args)

    def run_block(self, block: Block, args: Sequence[Any], env: dict[Value, Any] | None = None) -> list[Any]:
        """Run a block; returns the operands of its terminator."""
        env = dict(env or {})
        # Values from enclosing regions stay visible.
        env.update(self._outer)
        for a, v in zip(block.args, args):
            env[a] = v
        saved = self._outer
        self._outer = env
        try:
            for op in block.ops:
                ins = [env[v] for v in op.operands]
                if op.has_trait(TERMINATOR) and op.name.endswith(("return", "yield")):
                    return ins
                for r, v in zip(op.results, self.run_op(op, ins)):
                    env[r] = v
            return []
        finally:
            self._outer = saved

    def run_op(self, op: Operation, ins: list[Any]) -> list[Any]:
        """Run one op by its own rule on its operands' values; its results, checked against their types."""
        outs = op.interpret(self, ins)
        if len(outs) != len(op.results):
            raise InterpreterError(f"'{op.name}' rule gave {len(outs)} values for {len(op.results)} results", op.loc)
        return [coerce(v, r.type, f"result of '{op.name}'", op) for r, v in zip(op.results, outs)]

    _outer: dict[Value, Any] = {}

    # ---- device memory (kernel.to_device / to_host): the reference keeps device buffers as numpy copies
    def to_device(self, host: np.ndarray) -> Any:
        return np.array(host, order="C", copy=True)

    def to_host(self, device: Any, host: np.ndarray, deferred: bool = False) -> None:
        host[...] = device

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        from ..dialects.mem import filled_buffer

        return filled_buffer(shape, dtype)

    def alloc_device(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.alloc_host(shape, dtype)


def run(module: Operation, name: str, *args: Any) -> list[Any]:
    return Interpreter(module).call(name, list(args))
