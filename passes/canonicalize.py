"""`canonicalize`: algebraic simplification and constant folding, by the greedy pattern driver
(Theano's canonicalize and specialize lists, PyTensor's `local_*` rewrites).

* Constant folding, at every level: a pure op whose operands are all constants (`tensor.constant`,
  or `scalar.constant` inside bodies) and whose results are static with at most `fold-limit` elements
  is evaluated by its interpreter rule and replaced by a constant at the op's location. Ops may also
  define a `fold(operands)` hook (`tensor.shape` of a static shape, a static dim read from it).
* Algebraic identities: the RULES table below, one row per identity, and the patterns of this module
  (`CollectConstants`, `SumOfScaled`). A rewrite fires only when the result keeps its exact type and
  run-time shape (no broadcasting, no dtype promotion).
* Patterns declared by op classes (a `canonicalization_patterns` class attribute holding
  RewritePattern instances or Rules) are added to the set: cheap powers (tensor.pow), shape queries
  (tensor.shape), chains of transposes/dimshuffles and of reshapes, useless reshapes, broadcasts and
  allocs, allocs cut where their value suffices, subtensors of subtensors (tensor_shape.py).
* Trivially dead pure ops are erased.

Canonical forms: constants are the right operand of `+` and `*` (`2*x -> x*2`) and are collected
(`(x+1)+2 -> x+3`, `(x*2)/4 -> x*0.5`); a negation moves into the numerator (`-(a/b) -> (-a)/b`,
`a/(-b) -> (-a)/b`, `-(x*c) -> x*(-c)`) and into subtraction (`x+(-y) -> x-y`, `x-(-y) -> x+y`).

Real-number algebra, as Theano and PyTensor: `x-x -> 0`, `x/x -> 1` and `x*y/x -> y` also for floats,
where an inf or nan x (or a zero x, for the divisions) would give nan; collected constants round once
instead of twice. `exp(log x)` becomes `where(x >= 0, x, nan)` (exact: log of a negative number is nan),
not x.

Legal on entry: any verified IR (rules only touch the tensor dialect; folding any pure op). On exit:
the same dialects; no pure op with only constant operands (within the size limit), no identity of
RULES left that could fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..dialects.tensor import AddOp, MulOp, SubOp, SumOp, TrueDivOp
from ..dialects.tensor_grad import emit, ones_like, zeros_like
from ..ir.builder import Builder
from ..ir.core import COMMUTATIVE, OP_REGISTRY, Operation, Value
from ..ir.rewriter import (
    ONE,
    ZERO,
    FoldOptions,
    Op,
    PatternRewriter,
    Replacement,
    RewritePattern,
    Rule,
    RuleSet,
    Var,
    apply_patterns_greedily,
    build_replacement,
    constant_array,
    make_constant,
    replace_with_built,
)
from ..ir.types import TensorType
from .pass_manager import Pass

A, B, X, Y = Var("a"), Var("b"), Var("x"), Var("y")

Make = Callable[[Builder, dict[str, Value]], Value]


@dataclass(frozen=True)
class Build(Replacement):
    """The value `make(b, env)` builds (see `build_replacement`). The rule's row must keep the run-time shape."""

    make: Make

    def build(self, op: Operation, env: dict[str, Value], rewriter: PatternRewriter) -> Value | None:
        return build_replacement(op, lambda b: self.make(b, env), rewriter)


def _float(name: str) -> Callable[[dict[str, Value]], bool]:
    """A `where` clause: the value bound to `name` is a float tensor."""
    return lambda env: isinstance(env[name].type, TensorType) and env[name].type.element.is_float


def _is_constant(v: Value) -> bool:
    return constant_array(v) is not None


def _nan_unless_nonnegative(b: Builder, env: dict[str, Value]) -> Value:
    x = env["x"]
    zero = b.insert(make_constant(np.zeros((), x.type.dtype), b.loc)).result  # type: ignore[attr-defined]
    nan = b.insert(make_constant(np.full((), np.nan, x.type.dtype), b.loc)).result  # type: ignore[attr-defined]
    return emit(b, "where", emit(b, "ge", x, zero), x, nan)


RULES: list[Rule] = [
    Rule("tensor.add", (X, ZERO), X),                                          # x+0 -> x
    Rule("tensor.add", (ZERO, X), X),                                          # 0+x -> x
    Rule("tensor.add", (X, Op("tensor.neg", Y)), Build(lambda b, e: emit(b, "sub", e["x"], e["y"]))),  # x+(-y)
    Rule("tensor.add", (Op("tensor.neg", Y), X), Build(lambda b, e: emit(b, "sub", e["x"], e["y"]))),  # (-y)+x
    Rule("tensor.sub", (X, ZERO), X),                                          # x-0 -> x
    Rule("tensor.sub", (X, X), Build(lambda b, e: zeros_like(b, e["x"]))),     # x-x -> zeros (of x's shape)
    Rule("tensor.sub", (X, Op("tensor.neg", Y)), Build(lambda b, e: emit(b, "add", e["x"], e["y"]))),  # x-(-y)
    Rule("tensor.mul", (X, ONE), X),                                           # x*1 -> x
    Rule("tensor.mul", (ONE, X), X),                                           # 1*x -> x
    Rule("tensor.true_div", (X, ONE), X),                                      # x/1 -> x
    Rule("tensor.true_div", (X, X), Build(lambda b, e: ones_like(b, e["x"])), where=_float("x")),  # x/x -> 1
    Rule("tensor.true_div", (Op("tensor.mul", X, Y), X), Y),                   # x*y/x -> y
    Rule("tensor.true_div", (Op("tensor.mul", Y, X), X), Y),                   # y*x/x -> y
    Rule("tensor.true_div", (Op("tensor.neg", A), Op("tensor.neg", B)),        # (-a)/(-b) -> a/b
         Build(lambda b, e: emit(b, "true_div", e["a"], e["b"]))),
    Rule("tensor.true_div", (A, Op("tensor.neg", B)),                          # a/(-b) -> (-a)/b
         Build(lambda b, e: emit(b, "true_div", emit(b, "neg", e["a"]), e["b"])), where=_float("a")),
    Rule("tensor.neg", (Op("tensor.true_div", A, B),),                         # -(a/b) -> (-a)/b
         Build(lambda b, e: emit(b, "true_div", emit(b, "neg", e["a"]), e["b"])), where=_float("a")),
    Rule("tensor.neg", (Op("tensor.mul", X, Y),),                              # -(x*c) -> x*(-c)
         Build(lambda b, e: emit(b, "mul", e["x"], emit(b, "neg", e["y"]))), where=lambda e: _is_constant(e["y"])),
    Rule("tensor.neg", (Op("tensor.neg", X),), X),                             # --x -> x
    Rule("tensor.pow", (X, ONE), X),                                           # x**1 -> x
    Rule("tensor.log", (Op("tensor.exp", X),), X),                             # log(exp x) -> x
    Rule("tensor.exp", (Op("tensor.log", X),), Build(_nan_unless_nonnegative), where=_float("x")),  # exp(log x)
    Rule("tensor.cast", (X,), X),                                              # cast to x's own type -> x
]


class CollectConstants(RewritePattern):
    """Constants of `+`/`-` chains and of `*`/`/` chains are collected into one, the right operand:
    `c + x -> x + c`, `c * x -> x * c`, `(x + c1) + c2 -> x + (c1 + c2)`, `(x - c1) + c2 -> x - (c1 - c2)`,
    `(x + c1) - c2 -> x + (c1 - c2)`, `(x - c1) - c2 -> x - (c1 + c2)`, and the same with `*` and `/`
    (float results only, and no zero among the constants of a `*`/`/` chain). The new constant folds."""

    root: ClassVar[tuple[type[Operation], ...]] = (AddOp, SubOp, MulOp, TrueDivOp)
    # each op's (same-kind, inverse-kind) ops: the inner op of kind K under an outer op of kind K collects
    # its constants with `same`, under the inverse kind with `inverse`
    FAMILY: ClassVar[dict[type[Operation], tuple[type[Operation], type[Operation]]]] = {
        AddOp: (AddOp, SubOp), SubOp: (AddOp, SubOp), MulOp: (MulOp, TrueDivOp), TrueDivOp: (MulOp, TrueDivOp),
    }

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        lhs, rhs = op.operands
        if op.has_trait(COMMUTATIVE) and _is_constant(lhs) and not _is_constant(rhs):
            return replace_with_built(op, lambda b: b.create(type(op), rhs, lhs).result, rewriter)
        inner = getattr(lhs, "op", None)
        if inner is None or self.FAMILY.get(type(inner)) != self.FAMILY[type(op)]:
            return False
        x, c1 = inner.operands
        c2 = rhs
        if not _is_constant(c1) or not _is_constant(c2) or _is_constant(x):
            return False
        same, inverse = self.FAMILY[type(op)]
        if same is MulOp and not (op.result.type.element.is_float  # type: ignore[attr-defined]
                                  and all(np.all(constant_array(c) != 0) for c in (c1, c2))):
            return False
        combine = same if type(inner) is type(op) else inverse
        return replace_with_built(op, lambda b: b.create(type(inner), x, b.create(combine, c1, c2).result).result,
                                  rewriter)


class SumOfScaled(RewritePattern):
    """`sum(x * c) -> sum(x) * c` (and `sum(c * x)`) for a float x and a constant c of one element that
    neither broadcasts x nor changes its type: one multiplication per result element, not per input."""

    root: ClassVar[type[Operation]] = SumOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        prod = getattr(op.operands[0], "op", None)
        if not isinstance(prod, MulOp) or len(prod.result.uses) != 1:
            return False
        scaled = [(x, arr.reshape(())) for x, c in (prod.operands, reversed(prod.operands))
                  if (arr := constant_array(c)) is not None and arr.size == 1 and arr.ndim <= x.type.rank
                  and x.type == prod.result.type and x.type.element.is_float]  # type: ignore[attr-defined]
        if not scaled:
            return False
        x, scale = scaled[0]
        return replace_with_built(op, lambda b: emit(b, "mul", emit(b, "sum", x, **op.attributes),
                                                     b.insert(make_constant(scale, b.loc)).result), rewriter)


def op_patterns() -> list[RewritePattern]:
    """Canonicalization patterns declared by op classes (`canonicalization_patterns`)."""
    patterns: list[RewritePattern] = []
    rules: list[Rule] = []
    for cls in OP_REGISTRY.values():
        for p in cls.__dict__.get("canonicalization_patterns", ()):
            (rules if isinstance(p, Rule) else patterns).append(p)
    if rules:
        patterns.append(RuleSet(rules))
    return patterns


@dataclass
class CanonicalizePass(Pass):
    name: ClassVar[str] = "canonicalize"
    summary: ClassVar[str] = "algebraic simplification, constant folding, dead op removal"

    max_iterations: int = 10
    fold: bool = True
    fold_limit: int = 1_000_000
    rules: bool = True

    def run(self, module: Operation) -> bool:
        patterns: list[RewritePattern] = []
        if self.rules:
            patterns = [RuleSet(RULES), CollectConstants(), SumOfScaled(), *op_patterns()]
        fold = FoldOptions(max_elements=self.fold_limit) if self.fold else False
        return apply_patterns_greedily(module, patterns, max_iterations=self.max_iterations, fold=fold)
