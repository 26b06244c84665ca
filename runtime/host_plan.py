"""A device module's host function compiled to Python (runtime/device.py runs it instead of interpreting it).

The host plan of a device target (sizes, broadcast checks, views, allocations, launches, copies) has hundreds
of scalar ops per call: an MLP step has ~550. Interpreted op by op (a dict of values, numpy scalars, a type
check per result) each costs 10-30 us, which is longer than the GPU takes for most of the step's kernels. Here
the function becomes straight-line Python source, built once per module:

- the layout and index arithmetic is Python on Python ints and bools: `mem.dim`, `mem.stride`, constants, and
  the scalar ops whose class gives a Python form for their types (`python`, `python_types`: declared with each
  op in dialects/tensor.py; sizes, strides, offsets, broadcast conditions);
- `mem.check` is an `if` that runs the op's own rule (its message at the user's line) only when it fails;
  `mem.dealloc` is nothing (the runtime frees a call's buffers when it returns);
- `kernel.launch` calls the runtime's `launch` on the kernel, found once;
- every other op runs its own `interpret` rule, exactly as the interpreter would (results checked against
  their types), given numpy scalars of its operands' types.

`loop.if` becomes a Python `if`, `loop.host_for` (scan) a Python `for` that the body's i1 may end; a function with
any other region op stays interpreted. `HostPlan.source` is the generated text (what a debugger steps through;
`DEBUG=4` prints it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..dialects import kernel as K
from ..dialects import loop as LP
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects.func import FuncOp
from ..ir.core import TERMINATOR, Operation, Value
from ..ir.types import MemRefType, ScalarType, i1, i64, index

__all__ = ["HostPlan", "compile_host"]


class HostPlan:
    """A host function as a Python callable: `plan(args)` -> its results, args already of the argument types."""

    def __init__(self, fn: FuncOp, source: str, run: Callable[..., list[Any]]) -> None:
        self.fn, self.source, self.run = fn, source, run

    def __call__(self, args: list[Any]) -> list[Any]:
        return self.run(*args)


def _python_value(op: Operation) -> str | None:
    """A scalar.constant of a layout type as a Python literal (None: another constant)."""
    if not isinstance(op, S.ConstantOp) or op.results[0].type not in (index, i64, i1):
        return None
    t = op.results[0].type
    value = op.attributes["value"]
    value = getattr(value, "value", value)
    return repr(bool(value)) if t == i1 else repr(int(value))


def _fast_scalar(op: Operation) -> str | None:
    """The Python expression template of a scalar op on layout values (tensor.ElementwiseOp.python), or None."""
    return op.python_form() if isinstance(op, S.ScalarElementwiseOp) else None


def compile_host(fn: FuncOp, interp: Any) -> HostPlan | None:
    """`fn`'s body as Python running on `interp` (a DeviceModule), or None where it has a region op other than
    `loop.if` and `loop.host_for` (it stays interpreted)."""
    block = fn.regions[0].block
    if any(op.regions and not isinstance(op, (LP.IfOp, LP.HostForOp)) for op in fn.walk() if op is not fn):
        return None
    writer = _Writer(interp)
    for i, a in enumerate(block.args):
        writer.names[a] = f"a{i}"
    writer.lines.append(f"def plan({', '.join(writer.names[a] for a in block.args)}):")
    writer.block(block, 1)
    source = "\n".join(writer.lines) + "\n"
    code = compile(source, f"<host plan of @{fn.sym_name}>", "exec")
    exec(code, writer.env)  # noqa: S102 (the source is generated above from the module's ops)
    return HostPlan(fn, source, writer.env["plan"])


class _Writer:
    """The Python text of host blocks: each value a local variable (`v<n>`), the objects the text calls bound
    in `env` (its globals)."""

    def __init__(self, interp: Any) -> None:
        self.interp = interp
        self.names: dict[Value, str] = {}
        self.python: set[Value] = set()  # values held as Python ints/bools (the layout values)
        self.env: dict[str, Any] = {"_run": interp.run_op, "_launch": interp.launch, "_interp": interp}
        self.lines: list[str] = []
        self.count = 0

    def bind(self, value: Any, hint: str) -> str:
        """A global name of the text for `value`, made of `hint` (an op's or a kernel's name, a type's)."""
        name = f"_{re.sub(r'[^0-9A-Za-z]', '_', hint)}_{len(self.env)}"
        self.env[name] = value
        return name

    def numpy(self, v: Value) -> str:
        """Value `v` as the interpreter holds it (a layout value as a numpy scalar of its type)."""
        if v in self.python and isinstance(v.type, ScalarType):
            return f"{self.bind(v.type.dtype.type, v.type.name)}({self.names[v]})"
        return self.names[v]

    def block(self, block: Any, depth: int) -> list[str]:
        """Write `block`'s ops at indent `depth`; the names of its terminator's operands, as the interpreter
        holds them (a func.return returns them)."""
        pad = "    " * depth
        for op in block.ops:
            if op.has_trait(TERMINATOR):
                values = [self.numpy(v) for v in op.operands]
                if isinstance(op.parent_op, FuncOp):
                    self.lines.append(f"{pad}return [{', '.join(values)}]")
                return values
            self.op(op, pad, depth)
        self.lines.append(f"{pad}return []")  # (a function body without a terminator)
        return []

    def op(self, op: Operation, pad: str, depth: int) -> None:
        self.count += 1
        outs = [f"v{self.count}_{j}" for j in range(len(op.results))]
        for r, name in zip(op.results, outs):
            self.names[r] = name
        ins = [self.names[v] for v in op.operands]
        literal, template = _python_value(op), _fast_scalar(op)
        layout = True  # whether the results are layout values (Python ints and bools)
        if literal is not None or template is not None:
            self.lines.append(f"{pad}{outs[0]} = {literal if literal is not None else template.format(*ins)}")
        elif isinstance(op, M.DimOp):
            self.lines.append(f"{pad}{outs[0]} = {ins[0]}.shape[{op.attributes['axis']}]")
        elif isinstance(op, M.StrideOp):
            self.lines.append(f"{pad}{outs[0]} = {ins[0]}.strides[{op.attributes['axis']}] // {ins[0]}.itemsize")
        elif isinstance(op, M.DeallocOp):
            pass  # (a call's buffers go back to the pool when it returns)
        elif isinstance(op, M.CheckOp):
            args = ", ".join(self.numpy(v) for v in op.operands)
            self.lines.append(f"{pad}if not {ins[0]}: _run({self.bind(op, op.name)}, [{args}])")
        elif isinstance(op, K.LaunchOp) and op.attributes["kernel"].name in self.interp.kernels:
            name = op.attributes["kernel"].name
            self.lines.append(f"{pad}_launch({self.bind(self.interp.kernels[name], name)}, [{', '.join(ins)}])")
        elif isinstance(op, LP.IfOp):
            layout = False
            self.lines.append(f"{pad}if {ins[0]}:")
            for k, region in enumerate(op.regions):
                if k:
                    self.lines.append(f"{pad}else:")
                values = self.block(region.block, depth + 1)
                self.lines.append(f"{pad}    {''.join(f'{o}, ' for o in outs)}= {''.join(f'{v}, ' for v in values)}"
                                  if outs else f"{pad}    pass")
        elif isinstance(op, LP.HostForOp):
            body = op.body
            step = self.names[body.args[0]] = f"t{self.count}"
            self.python.add(body.args[0])
            self.lines += [f"{pad}{outs[0]} = {ins[0]} = int({ins[0]})", f"{pad}for {step} in range({ins[0]}):"]
            if op.attributes.get("reverse", False):
                self.lines.append(f"{pad}    {step} = {ins[0]} - 1 - {step}")
            go = self.block(body, depth + 1)
            if go:  # the body's i1 ends the loop when false, after that iteration
                done = f"{step} + 1" if not op.attributes.get("reverse", False) else f"{ins[0]} - {step}"
                self.lines.append(f"{pad}    if not {go[0]}: {outs[0]} = {done}; break")
        else:
            layout = False
            target = f"{''.join(f'{o}, ' for o in outs)}= " if outs else ""
            args = ", ".join(self.numpy(v) for v in op.operands)
            if hasattr(op, "host_rule") and all(isinstance(r.type, MemRefType) for r in op.results):
                # (a memref result needs no check against its type: coerce passes it through)
                self.lines.append(f"{pad}{target}{self.bind(op.host_rule(), op.name)}(_interp, [{args}])")
            else:
                self.lines.append(f"{pad}{target}_run({self.bind(op, op.name)}, [{args}])")
        if layout:
            self.python.update(op.results)
