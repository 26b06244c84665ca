"""A device module's host function compiled to Python (runtime/device.py runs it instead of interpreting it).

The host plan of a device target (sizes, broadcast checks, views, allocations, launches, copies) has hundreds
of scalar ops per call: an MLP step has ~550. Interpreted op by op (a dict of values, numpy scalars, a type
check per result) each costs 10-30 us, which is longer than the GPU takes for most of the step's kernels. Here
the function becomes straight-line Python source, built once per module:

- the layout and index arithmetic is Python on Python ints and bools: `mem.dim`, `mem.stride`, constants, and
  the scalar ops on layout values (sizes, strides, offsets, broadcast conditions: ARITHMETIC);
- `mem.check` is an `if` that runs the op's own rule (its message at the user's line) only when it fails;
  `mem.dealloc` is nothing (the runtime frees a call's buffers when it returns);
- `kernel.launch` calls the runtime's `launch` on the kernel, found once;
- every other op runs its own `interpret` rule, exactly as the interpreter would (results checked against
  their types), given numpy scalars of its operands' types.

A function with regions (`loop.if`, `loop.host_for`) stays interpreted: its regions read the interpreter's
values. `HostPlan.source` is the generated text (what a debugger steps through).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..dialects import kernel as K
from ..dialects import mem as M
from ..dialects.func import FuncOp
from ..ir.core import TERMINATOR, Operation, Value
from ..ir.types import MemRefType, ScalarType, i1, i64, index

__all__ = ["ARITHMETIC", "COMPARISON", "LOGIC", "HostPlan", "compile_host"]

# The scalar ops written as Python on layout values (shapes, strides, offsets, broadcast conditions): `index`
# numbers and `i1` conditions, which give numpy's int64 and bool results for any size a buffer can have (a division
# by zero gives 0, as numpy's does); the comparisons, select, min/max and casts (EXACT_ON_I64) on `i64` too, whose
# results cannot leave int64's range (an `i64` value may be the user's, where numpy's arithmetic would wrap).
ARITHMETIC = {
    "scalar.add": "({0} + {1})", "scalar.sub": "({0} - {1})", "scalar.mul": "({0} * {1})", "scalar.neg": "(-{0})",
    "scalar.abs": "abs({0})", "scalar.int_div": "({0} // {1} if {1} else 0)",
    "scalar.maximum": "max({0}, {1})", "scalar.minimum": "min({0}, {1})",
}
COMPARISON = {"scalar.eq": "({0} == {1})", "scalar.ne": "({0} != {1})", "scalar.lt": "({0} < {1})",
              "scalar.le": "({0} <= {1})", "scalar.gt": "({0} > {1})", "scalar.ge": "({0} >= {1})"}
LOGIC = {"scalar.and": "({0} and {1})", "scalar.or": "({0} or {1})", "scalar.xor": "({0} != {1})",
         "scalar.not": "(not {0})"}
EXACT_ON_I64 = {"scalar.maximum", "scalar.minimum", *COMPARISON}


class HostPlan:
    """A host function as a Python callable: `plan(args)` -> its results, args already of the argument types."""

    def __init__(self, fn: FuncOp, source: str, run: Callable[..., list[Any]]) -> None:
        self.fn, self.source, self.run = fn, source, run

    def __call__(self, args: list[Any]) -> list[Any]:
        return self.run(*args)


def _python_value(op: Operation) -> str | None:
    """A scalar.constant of a layout type as a Python literal (None: another constant)."""
    if op.name != "scalar.constant" or op.results[0].type not in (index, i64, i1):
        return None
    t = op.results[0].type
    value = op.attributes["value"]
    value = getattr(value, "value", value)
    return repr(bool(value)) if t == i1 else repr(int(value))


def _fast_scalar(op: Operation) -> str | None:
    """The Python expression template of a scalar op on layout values (see ARITHMETIC), or None."""
    if len(op.results) != 1 or op.regions or not op.name.startswith("scalar."):
        return None
    ins, out = [v.type for v in op.operands], op.results[0].type
    ints = (index, i64) if op.name in EXACT_ON_I64 else (index,)
    if op.name in ARITHMETIC and all(t in ints for t in [*ins, out]):
        return ARITHMETIC[op.name]
    if op.name in COMPARISON and all(t in (*ints, i1) for t in ins):
        return COMPARISON[op.name]
    if op.name in LOGIC and all(t == i1 for t in [*ins, out]):
        return LOGIC[op.name]
    if op.name == "scalar.select" and ins[0] == i1 and all(t in (index, i64, i1) for t in [*ins[1:], out]):
        return "({1} if {0} else {2})"
    if op.name == "scalar.cast" and all(t in (index, i64, i1) for t in [*ins, out]):
        return "({0} != 0)" if out == i1 else "int({0})"
    return None


def compile_host(fn: FuncOp, interp: Any) -> HostPlan | None:
    """`fn`'s body as Python running on `interp` (a DeviceModule), or None where it has regions."""
    block = fn.regions[0].block
    if any(op.regions for op in block.ops):
        return None
    names: dict[Value, str] = {}
    python: set[Value] = set()  # values held as Python ints/bools (the fast ops' results)
    env: dict[str, Any] = {"_run": interp.run_op, "_launch": interp.launch, "_interp": interp}
    lines = [f"def plan({', '.join(f'a{i}' for i in range(len(block.args)))}):"]
    for i, a in enumerate(block.args):
        names[a] = f"a{i}"

    def bind(name: str, value: Any) -> str:
        env[name] = value
        return name

    def operand(op_k: int, v: Value) -> str:
        """An operand of a rule that runs as the interpreter's: numpy scalars, as the interpreter holds them."""
        if v in python and isinstance(v.type, ScalarType):
            return f"{bind(f'_t{op_k}_{len(env)}', v.type.dtype.type)}({names[v]})"
        return names[v]

    for k, op in enumerate(block.ops):
        outs = [f"v{k}_{j}" for j in range(len(op.results))]
        for r, name in zip(op.results, outs):
            names[r] = name
        ins = [names[v] for v in op.operands]
        literal, template = _python_value(op), _fast_scalar(op)
        if op.has_trait(TERMINATOR):
            rets = [f"{bind(f'_r{k}_{j}', v.type.dtype.type)}({names[v]})" if v in python else names[v]
                    for j, v in enumerate(op.operands)]
            lines.append(f"    return [{', '.join(rets)}]")
            break
        if literal is not None or template is not None:
            lines.append(f"    {outs[0]} = {literal if literal is not None else template.format(*ins)}")
            python.add(op.results[0])
        elif isinstance(op, M.DimOp):
            lines.append(f"    {outs[0]} = {ins[0]}.shape[{op.attributes['axis']}]")
            python.add(op.results[0])
        elif isinstance(op, M.StrideOp):
            lines.append(f"    {outs[0]} = {ins[0]}.strides[{op.attributes['axis']}] // {ins[0]}.itemsize")
            python.add(op.results[0])
        elif isinstance(op, M.DeallocOp):
            continue
        elif isinstance(op, M.CheckOp):
            args = ", ".join(operand(k, v) for v in op.operands)
            lines.append(f"    if not {ins[0]}: _run({bind(f'_op{k}', op)}, [{args}])")
        elif isinstance(op, K.LaunchOp) and op.attributes["kernel"].name in interp.kernels:
            kernel = bind(f"_k{k}", interp.kernels[op.attributes["kernel"].name])
            lines.append(f"    _launch({kernel}, [{', '.join(ins)}])")
        else:
            target = f"{', '.join(outs)}{',' if len(outs) == 1 else ''} = " if outs else ""
            args = ", ".join(operand(k, v) for v in op.operands)
            if hasattr(op, "host_rule") and all(isinstance(r.type, MemRefType) for r in op.results):
                # (a memref result needs no check against its type: coerce passes it through)
                lines.append(f"    {target}{bind(f'_rule{k}', op.host_rule())}(_interp, [{args}])")
            else:
                lines.append(f"    {target}_run({bind(f'_op{k}', op)}, [{args}])")
    else:
        lines.append("    return []")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<host plan of @{fn.sym_name}>", "exec")
    exec(code, env)  # noqa: S102 (the source is generated above from the module's ops)
    return HostPlan(fn, source, env["plan"])

