"""Gradients: every tensor op declares its rule (or that it has none), the autodiff pass and tensor.grad,
`tensorir.grad` and `verify_grad` against finite differences."""

from __future__ import annotations

from tensorir.dialects import tensor as T
from tensorir.ir.core import OP_REGISTRY, Operation


def _has_rule(cls: type[Operation]) -> bool:
    return any("vjp" in c.__dict__ for c in cls.__mro__ if c is not Operation)


def test_every_differentiable_tensor_op_declares_a_gradient_rule() -> None:
    assert T.SinOp.name in OP_REGISTRY  # the dialect is loaded
    ops = sorted((c for n, c in OP_REGISTRY.items() if n.startswith("tensor.")), key=lambda c: c.name)
    missing = [c.name for c in ops if c.differentiable and not _has_rule(c)]
    assert not missing, f"differentiable tensor ops without a gradient rule (vjp): {missing}"
    contradictory = [c.name for c in ops if not c.differentiable and _has_rule(c)]
    assert not contradictory, f"ops declared non-differentiable that have a rule: {contradictory}"
    # the unary math rows carry their rule too, and comparisons say they have none
    assert _has_rule(T.TanhOp) and _has_rule(T.ErfOp) and not T.LtOp.differentiable
