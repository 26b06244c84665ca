"""`stabilize`: numerically unstable tensor-dialect forms become stable ones, by the greedy pattern driver.

The RULES table below holds one row per rewrite (`log(1+x) -> log1p(x)`, `log(sigmoid x) -> -softplus(-x)`,
`log(softmax x) -> log_softmax x`, `log(sum(exp x)) -> logsumexp x`, `bce(sigmoid z, t) -> softplus(z) - t*z`
...). The stable ops compute without overflow where the forms they replace give inf, -inf or nan
(`log(sigmoid(-1000))`, `log(1+exp(1000))`); `decompose` later expands the composite ones
(log_softmax, logsumexp) with their max subtracted.

A row fires only where its replacement keeps the replaced op's exact type and run-time shape (x is a float
tensor, the new value's type equals the op's, and every constant of the replaced expression broadcasts into
the new value), and never where a value it would bypass is an operand of a `tensor.grad`. The pass runs
before `autodiff`, so gradients are taken of the stable forms (the gradient of `softplus(z) - t*z` is
`sigmoid(z) - t`, finite where the gradient of the crossentropy of a saturated sigmoid is 0/0); a value a
grad differentiates with respect to must stay on the cost's path.

Legal on entry: any verified IR (rules only touch the tensor dialect). On exit: the same dialects; no row
of RULES that could fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ..dialects.tensor import GradOp
from ..ir.core import OP_REGISTRY, Operation, Value
from ..ir.rewriter import (
    ONE,
    DetachedBuilder,
    Op,
    PatternRewriter,
    Replacement,
    Rule,
    RuleSet,
    Splat,
    Var,
    apply_patterns_greedily,
    broadcasts_into,
    constant_array,
    is_trivially_dead,
)
from ..ir.types import TensorType
from .pass_manager import Pass

X = Var("x")
TARGET = Var("t")


Make = Callable[[Operation, dict[str, Value], DetachedBuilder], Value | None]


def _replaced(op: Operation, env: dict[str, Value]) -> tuple[list[Value], list[Value]]:
    """The values the matched expression under `op` computes (its interior) and the constants it reads.
    The walk stays in the match: every operand of a matched op is bound, a constant or matched itself."""
    bound = set(env.values())
    interior: list[Value] = []
    constants: list[Value] = []
    stack = list(op.operands)
    while stack:
        v = stack.pop()
        if v in bound:
            continue
        if constant_array(v) is not None:
            constants.append(v)
            continue
        interior.append(v)
        stack.extend(v.op.operands)  # type: ignore[attr-defined]
    return interior, constants


@dataclass(frozen=True)
class Stable(Replacement):
    """The value `make(op, env, new)` builds with the DetachedBuilder `new`, inserted before op only
    where it fits (see the module docstring); `make` returns None where the rewrite does not apply."""

    make: Make

    def build(self, op: Operation, env: dict[str, Value], rewriter: PatternRewriter) -> Value | None:
        x = env["x"].type
        if not isinstance(x, TensorType) or not x.element.is_float:
            return None
        interior, constants = _replaced(op, env)
        if any(isinstance(user, GradOp) for v in interior for user in v.users):
            return None
        new = DetachedBuilder(op.loc)
        value = self.make(op, env, new)
        if value is None or value.type != op.result.type or not all(
                any(broadcasts_into(c, v) for v in (value, *env.values())) for c in constants):
            new.discard()
            return None
        new.commit(op, rewriter)
        value.name_hint = op.result.name_hint  # the stable value keeps the replaced one's name in printed IR
        return value


def _chain(*names: str) -> Stable:
    """x through the unary ops `names`, innermost first."""

    def make(op: Operation, env: dict[str, Value], new: DetachedBuilder) -> Value:
        v = env["x"]
        for name in names:
            v = new.create(OP_REGISTRY[name], v).result
        return v

    return Stable(make)


def _log_softmax(op: Operation, env: dict[str, Value], new: DetachedBuilder) -> Value:
    softmax = op.operands[0].op  # type: ignore[attr-defined]
    return new.create(OP_REGISTRY["tensor.log_softmax"], env["x"], axis=softmax.attr("axis", -1)).result


def _logsumexp(op: Operation, env: dict[str, Value], new: DetachedBuilder) -> Value | None:
    """One reduced axis (all axes of a vector): logsumexp's keepdims is the sum's."""
    total = op.operands[0].op  # type: ignore[attr-defined]
    rank = env["x"].type.rank  # type: ignore[attr-defined]
    axes = total.attr("axes")
    axes = tuple(range(rank)) if axes is None else tuple(axes)
    if len(axes) != 1:
        return None
    return new.create(OP_REGISTRY["tensor.logsumexp"], env["x"], axis=axes[0],
                      keepdims=bool(total.attr("keepdims", False))).result


def _bce_logits(op: Operation, env: dict[str, Value], new: DetachedBuilder) -> Value:
    """-(t log sigmoid(z) + (1-t) log(1-sigmoid(z))) = t softplus(-z) + (1-t) softplus(z) = softplus(z) - t z."""
    z, t = env["x"], env["t"]
    sub, softplus, mul = (OP_REGISTRY[f"tensor.{n}"] for n in ("sub", "softplus", "mul"))
    return new.create(sub, new.create(softplus, z).result, new.create(mul, t, z).result).result


SOFTPLUS = _chain("tensor.softplus")
LOG1P = _chain("tensor.log1p")
ABS = _chain("tensor.abs")
SIGMOID = Op("tensor.sigmoid", X)
NEG_SOFTPLUS_NEG = _chain("tensor.neg", "tensor.softplus", "tensor.neg")
NEG_SOFTPLUS = _chain("tensor.softplus", "tensor.neg")

# Rows of one root are tried in order: log(1+exp x) becomes softplus before log1p could take it.
RULES: list[Rule] = [
    Rule("tensor.log", (Op("tensor.add", ONE, Op("tensor.exp", X)),), SOFTPLUS),  # log(1+exp x) -> softplus x
    Rule("tensor.log", (Op("tensor.add", Op("tensor.exp", X), ONE),), SOFTPLUS),  # log(exp x+1) -> softplus x
    Rule("tensor.log1p", (Op("tensor.exp", X),), SOFTPLUS),                       # log1p(exp x) -> softplus x
    Rule("tensor.log", (Op("tensor.add", ONE, X),), LOG1P),                       # log(1+x) -> log1p x
    Rule("tensor.log", (Op("tensor.add", X, ONE),), LOG1P),                       # log(x+1) -> log1p x
    Rule("tensor.sub", (Op("tensor.exp", X), ONE), _chain("tensor.expm1")),       # exp(x)-1 -> expm1 x
    Rule("tensor.log", (SIGMOID,), NEG_SOFTPLUS_NEG),                             # log(sigmoid x) -> -softplus(-x)
    Rule("tensor.log", (Op("tensor.sub", ONE, SIGMOID),), NEG_SOFTPLUS),          # log(1-sigmoid x) -> -softplus x
    Rule("tensor.log", (Op("tensor.softmax", X),), Stable(_log_softmax)),        # log(softmax x) -> log_softmax x
    Rule("tensor.log", (Op("tensor.sum", Op("tensor.exp", X)),), Stable(_logsumexp)),  # log(sum(exp x)) -> logsumexp x
    Rule("tensor.sqrt", (Op("tensor.mul", X, X),), ABS),                          # sqrt(x*x) -> abs x
    Rule("tensor.sqrt", (Op("tensor.square", X),), ABS),                          # sqrt(square x) -> abs x
    Rule("tensor.sqrt", (Op("tensor.pow", X, Splat(2)),), ABS),                   # sqrt(x**2) -> abs x
    Rule("tensor.binary_crossentropy", (SIGMOID, TARGET), Stable(_bce_logits)),  # bce(sigmoid z, t) -> softplus z - t*z
]


class _Stabilizer(RuleSet):
    """RULES, each rewrite followed by erasing the ops of the replaced expression that it left unused
    (other dead ops stay where they are: removing them is canonicalize's and dce's business)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        stack = list(op.operands)
        if not super().match_and_rewrite(op, rewriter):
            return False
        while stack:
            owner = getattr(stack.pop(), "op", None)
            if owner is not None and is_trivially_dead(owner):
                stack.extend(owner.operands)
                rewriter.erase_op(owner)
        return True


@dataclass
class StabilizePass(Pass):
    name: ClassVar[str] = "stabilize"
    summary: ClassVar[str] = "numerically stable forms: log1p, expm1, softplus, log_softmax, logsumexp, abs"

    max_iterations: int = 10

    def run(self, module: Operation) -> bool:
        return apply_patterns_greedily(module, [_Stabilizer(RULES)], max_iterations=self.max_iterations, fold=False,
                                       erase_dead=False)
