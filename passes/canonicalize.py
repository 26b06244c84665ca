"""`canonicalize`: algebraic simplification and constant folding, by the greedy pattern driver.

* Constant folding: a pure op whose operands are all `tensor.constant` and whose results are
  static with at most `fold-limit` elements is evaluated by its interpreter rule and replaced
  by a `tensor.constant` at the op's location. Ops may also define a `fold(operands)` hook.
* Algebraic identities: the RULES table below, one row per identity. A row fires only when
  the result keeps its exact type and run-time shape (no broadcasting, no dtype promotion).
* Patterns declared by op classes (a `canonicalization_patterns` class attribute holding
  RewritePattern instances or Rules) are added to the set.
* Trivially dead pure ops are erased.

Legal on entry: any verified IR (rules only touch the tensor dialect). On exit: the same
dialects; no pure op with only constant operands (within the size limit), no identity of
RULES left that could fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.core import OP_REGISTRY, Operation
from ..ir.rewriter import (
    ONE,
    ZERO,
    FoldOptions,
    Op,
    RewritePattern,
    Rule,
    RuleSet,
    Var,
    ZerosLike,
    apply_patterns_greedily,
)
from .pass_manager import Pass

X = Var("x")

RULES: list[Rule] = [
    Rule("tensor.add", (X, ZERO), X),                        # x+0 -> x
    Rule("tensor.add", (ZERO, X), X),                        # 0+x -> x
    Rule("tensor.sub", (X, ZERO), X),                        # x-0 -> x
    Rule("tensor.sub", (X, X), ZerosLike(X)),                # x-x -> zeros
    Rule("tensor.mul", (X, ONE), X),                         # x*1 -> x
    Rule("tensor.mul", (ONE, X), X),                         # 1*x -> x
    Rule("tensor.true_div", (X, ONE), X),                    # x/1 -> x
    Rule("tensor.pow", (X, ONE), X),                         # x**1 -> x
    Rule("tensor.neg", (Op("tensor.neg", X),), X),           # --x -> x
    Rule("tensor.log", (Op("tensor.exp", X),), X),           # log(exp x) -> x
]


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
            patterns = [RuleSet(RULES), *op_patterns()]
        fold = FoldOptions(max_elements=self.fold_limit) if self.fold else False
        return apply_patterns_greedily(module, patterns, max_iterations=self.max_iterations, fold=fold)
