"""`autodiff`: expands each `tensor.grad` into ordinary tensor ops by reverse mode.

For `%g = tensor.grad %cost wrt %x`, the ops of the grad's block before it that lie on a path from a
`wrt` value to the cost are visited from the cost backwards; each op's own gradient rule (its `vjp`,
declared with the op in dialects/) builds its operands' cotangents from its results', and cotangents
of a value used several times are added. This pass holds no rule of its own. Gradients only flow
through float values (integer and boolean results give none, as Theano's zero gradient) and never
through ops declared `differentiable = False`; each gradient is cast to its value's element type and
given its value's static dims. Known gradients (`known_grads`) seed their values' cotangents next to the
cost's 1. Grads are expanded in order, so a grad of a graph that holds a grad (a second derivative)
differentiates the inner one's expansion; then each `tensor.stop_gradient` is replaced by its operand.

Legal on entry: tensor-dialect IR, possibly with `tensor.grad` and `tensor.stop_gradient`. On exit: the
same without either (the forward ops stay; dce removes those nothing uses).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

from ..dialects import tensor as T
from ..dialects.tensor_grad import accumulate, backprop, constant, floating, inputs_of, zeros_like
from ..ir.builder import Builder
from ..ir.core import DisconnectedInputError, Operation, Value
from ..ir.types import TensorType
from .pass_manager import Pass


def _tape(grad: T.GradOp) -> tuple[list[Operation], set[Value], set[Value]]:
    """The ops before `grad` in its block through which the cost depends on a wrt value, from the cost
    backwards; the values that depend on a wrt value (those a gradient flows into); and those of them the
    cost depends on."""
    assert grad.parent is not None
    ops = grad.parent.ops[:grad.parent.index(grad)]
    held = set(grad.constants())
    live = {v for v in grad.inputs() if v not in held}  # values that depend on a wrt value
    forward = []
    for op in ops:
        if op.differentiable and any(v in live for v in inputs_of(op)):
            live.update(r for r in op.results if floating(r) and r not in held)
            forward.append(op)
    needed = {grad.operands[0], *(v for v, _ in grad.known())}  # values the cost depends on
    tape = []
    for op in reversed(forward):
        if any(r in needed for r in op.results):
            needed.update(v for v in inputs_of(op) if v in live)
            tape.append(op)
    return tape, live, needed


def expand(grad: T.GradOp) -> None:
    """Replace `grad` by the ops computing its gradients, built just before it."""
    tape, live, needed = _tape(grad)
    policy = grad.attributes.get("disconnected_inputs", "raise")
    for k, v in enumerate(grad.inputs()):
        if v not in needed and policy != "ignore":
            name = f"%{v.name_hint}" if v.name_hint else f"#{k}"
            message = f"'{grad.name}' op: the cost does not depend on input {name} (wrt operand #{k})"
            if policy == "warn":
                warnings.warn(f"{grad.loc}: {message}; its gradient is zero", stacklevel=2)
                continue
            raise DisconnectedInputError(f"{message}; pass disconnected_inputs='ignore' for a zero gradient",
                                         grad.loc)
    b = Builder.before(grad)
    cost = grad.operands[0]
    assert isinstance(cost.type, TensorType)
    adjoints: dict[Value, Value] = {cost: constant(b, 1, cost.type.dtype)}
    for v, g in grad.known():
        if v in live:
            accumulate(b, adjoints, v, g)
    backprop(b, tape, adjoints, live)
    # an input reached only through ops whose rule gives it no gradient gets zeros, as a disconnected one
    grad.replace_with([adjoints[v] if v in adjoints else zeros_like(b, v) for v in grad.inputs()])


@dataclass
class AutodiffPass(Pass):
    name: ClassVar[str] = "autodiff"
    summary: ClassVar[str] = "expand tensor.grad by reverse mode, with each op's gradient rule"

    def run(self, module: Operation) -> bool:
        grads = [op for op in module.walk() if isinstance(op, T.GradOp)]
        for grad in grads:
            expand(grad)
        stops = [op for op in module.walk() if isinstance(op, T.StopGradientOp)]
        for op in stops:
            op.replace_with([op.operands[0]])
        return bool(grads or stops)

