"""`gemm`: products and the scalings and sums around them become one `tensor.gemm` (Theano's GEMM insertion).

A `tensor.gemm` computes alpha * s * op(a) @ op(b) + beta * c in one BLAS call (dialects/tensor.py GemmOp;
bufferize makes it one `lib.gemm` or `lib.gemv`). The pass runs after `autodiff`, so the forward and the
gradient products of a layer and the SGD updates around them are all in reach:

    %d = tensor.dot %x, %w                  %r = tensor.gemm %x, %w, %b {beta = 1.0}       (dot + bias row)
    %r = tensor.add %d, %b
    %xt = tensor.transpose %x               %r = tensor.gemm %x, %g, %W, %lr
    %d = tensor.dot %xt, %g                     {alpha = -1.0, beta = 1.0, trans_a = true}  (W - lr * x^T g)
    %u = tensor.mul %lr, %d
    %r = tensor.sub %W, %u

The rewrites (PATTERNS; a gemm is absorbed only into the single user of its result, so no product is
computed twice):
- `dot(a, b)` (and `matmul`) of two matrices or a matrix and a vector -> `gemm(a, b)`, a transposed matrix
  operand folded into `trans_a`/`trans_b`;
- `k * G`, `G * k`, `G / k` (k a constant of one element) -> alpha and beta times k (or 1/k); `-G` -> both
  negated; `s * G` with s a 0-d run-time tensor -> the gemm's run-time factor s (while it has no c);
- `G + C`, `C + G`, `G - C`, `C - G` -> c = C with beta = +-1 (`k * C`, k a constant: beta = +-k); where G
  has a c already, the new c is the elementwise `beta * c +- C` (which `fuse-elementwise` fuses);
- `C +- col * row`, an outer product (an (m, 1) times a (1, n) matrix, as decompose writes `outer(x, y)`), also
  times a constant or 0-d run-time factor -> a gemm with an inner dim of 1 into C (BLAS ger's rank-1 update,
  done by gemm); an outer product that only feeds elementwise math stays elementwise (fused, one pass).
Each fires only on f32 or f64 products of one element type (BLAS) and where the new gemm has exactly the
type of the value it replaces, and C's static dims may broadcast into the product's. At run time the gemm
checks that c broadcasts into the product (a product that the original sum would itself have broadcast,
a dynamic dim of 1 against C's larger one, is reported as a shape error, as in Theano's GEMM).

Legal on entry: the tensor dialect after `autodiff` (a function that still holds a `tensor.grad` is left as it
is: `tensor.gemm` has no gradient rule). On exit: the same ops and `tensor.gemm`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..dialects import tensor as T
from ..dialects.func import FuncOp
from ..ir.core import Operation, Value
from ..ir.rewriter import (
    PatternRewriter,
    RewritePattern,
    apply_patterns_greedily,
    constant_array,
    is_trivially_dead,
    make_constant,
)
from ..ir.types import TensorType, f32, f64
from .pass_manager import Pass


def _blas_tensor(v: Value) -> TensorType | None:
    t = v.type
    return t if isinstance(t, TensorType) and t.element in (f32, f64) else None


def _one_element(v: Value) -> float | None:
    """The value of a constant of one element (a 0-d constant or a splat of size 1), else None."""
    arr = constant_array(v)
    return float(arr.reshape(())) if arr is not None and arr.size == 1 and arr.dtype.kind == "f" else None


def _fits(c: Value, product: TensorType) -> bool:
    """Whether c's static shape may broadcast into the product's (c's element type is the product's)."""
    t = _blas_tensor(c)
    if t is None or t.element != product.element or t.rank > product.rank:
        return False
    return all(d in (1, None) or p is None or d == p for d, p in zip(t.shape, product.shape[product.rank - t.rank:]))


@dataclass(frozen=True)
class Gemm:
    """The operands and attributes of a `tensor.gemm` being built."""

    type: TensorType  # the result's
    a: Value
    b: Value
    c: Value | None = None
    scale: Value | None = None
    alpha: float = 1.0
    beta: float = 0.0
    trans_a: bool = False
    trans_b: bool = False
    source: T.GemmOp | None = None  # the gemm this one absorbs

    @staticmethod
    def absorbable(v: Value, root: Operation) -> Gemm | None:
        """v's gemm when v is a `tensor.gemm` result that `root` reads once and nothing else reads but
        `tensor.shape` ops after root (they read the new gemm's shape, the same: absorbing leaves v dead)."""
        g = getattr(v, "op", None)
        if not isinstance(g, T.GemmOp) or sum(use.op is root for use in v.uses) != 1:
            return None
        block = root.parent
        if not all(u is root or (isinstance(u, T.ShapeOp) and u.parent is block and block is not None
                                 and block.index(u) > block.index(root)) for u in v.users):
            return None
        return Gemm(g.result.type, g.operands[0], g.operands[1], g.c, g.scale, float(g.attributes["alpha"]),
                    float(g.attributes["beta"]) if g.c is not None else 0.0, bool(g.attributes["trans_a"]),
                    bool(g.attributes["trans_b"]), g)

    @staticmethod
    def outer(v: Value, root: Operation) -> Gemm | None:
        """v as a gemm with an inner dim of 1 (BLAS ger's work) when v, read by root alone, is an outer product
        `col * row` (an (m, 1) and a (1, n) matrix: `outer(x, y)` as decompose writes it, `x[:, None] *
        y[None, :]`), or a constant or 0-d run-time factor times one."""
        owner = getattr(v, "op", None)
        if not isinstance(owner, T.MulOp) or [u.op for u in v.uses] != [root]:
            return None
        for col, row in (owner.operands, owner.operands[::-1]):
            tc, tr = _blas_tensor(col), _blas_tensor(row)
            if tc is None or tr is None:
                continue
            if tc.rank == tr.rank == 2 and tc.shape[1] == 1 and tr.shape[0] == 1 and \
                    v.type == TensorType((tc.shape[0], tr.shape[1]), tc.element):
                return Gemm(v.type, col, row, source=owner)
            inner = Gemm.outer(row, owner)
            if inner is None or inner.type != v.type:
                continue
            factor = _one_element(col)
            if factor is not None:
                return replace(inner.scaled(factor), source=owner)
            if tc == TensorType((), v.type.element):  # type: ignore[attr-defined]
                return replace(inner, scale=col, source=owner)
        return None

    def scaled(self, k: float) -> Gemm:
        return replace(self, alpha=self.alpha * k, beta=self.beta * k)

    def substitute(self, op: Operation, rewriter: PatternRewriter) -> bool:
        """Replace op's result (of this gemm's type: the patterns check it first, and that c fits, so that
        building cannot fail) by this gemm; erase the gemm it absorbed."""
        has_c = self.c is not None and self.beta != 0
        operands = [self.a, self.b, *([self.c] if has_c else []), *([self.scale] if self.scale is not None else [])]
        new = T.GemmOp.build(*operands, loc=op.loc, alpha=self.alpha, beta=self.beta if has_c else 0.0,
                             trans_a=self.trans_a, trans_b=self.trans_b)
        if new.result.type != op.result.type:
            new.drop_operands()
            return False
        rewriter.insert_before(op, new)
        new.result.name_hint = op.result.name_hint
        stack = list(op.operands) + (list(self.source.operands) if self.source is not None else [])
        rewriter.replace_op(op, new.result)
        if self.source is not None:
            rewriter.replace_op(self.source, new.result)  # the shape queries left read the same shape
        while stack:  # what only the replaced ops read (a folded transpose, a constant factor)
            owner = getattr(stack.pop(), "op", None)
            if owner is not None and owner.parent is not None and is_trivially_dead(owner):
                stack.extend(owner.operands)
                rewriter.erase_op(owner)
        return True


def _untransposed(v: Value) -> tuple[Value, bool]:
    """(x, True) where v is the transpose of a matrix x, else (v, False)."""
    owner = getattr(v, "op", None)
    if isinstance(owner, T.TransposeOp) and owner.result.type.rank == 2 and tuple(owner.perm()) == (1, 0):
        return owner.operands[0], True
    return v, False


class DotToGemm(RewritePattern):
    """dot(op(a), op(b)) -> gemm(a, b) {trans_a, trans_b}: matrices, or a matrix and a vector."""

    root = (T.DotOp, T.MatmulOp)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        ta, tb = (_blas_tensor(v) for v in op.operands)
        if ta is None or tb is None or ta.element != tb.element or (ta.rank, tb.rank) not in ((2, 2), (2, 1), (1, 2)):
            return False
        (a, trans_a), (b, trans_b) = (_untransposed(v) for v in op.operands)
        return Gemm(op.result.type, a, b, trans_a=trans_a, trans_b=trans_b).substitute(op, rewriter)


class Scale(RewritePattern):
    """k * G, G * k, G / k (k a constant of one element), s * G (s a 0-d run-time tensor), -G."""

    root = (T.MulOp, T.TrueDivOp, T.NegOp)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if isinstance(op, T.NegOp):
            g = Gemm.absorbable(op.operands[0], op)
            return g is not None and g.scaled(-1.0).substitute(op, rewriter)
        sides = [(0, 1)] if isinstance(op, T.TrueDivOp) else [(0, 1), (1, 0)]
        for i, j in sides:
            g, k = Gemm.absorbable(op.operands[i], op), op.operands[j]
            if g is None or op.result.type != g.type:
                continue
            factor = _one_element(k)
            if factor is not None and (factor != 0 or not isinstance(op, T.TrueDivOp)):
                return g.scaled(1 / factor if isinstance(op, T.TrueDivOp) else factor).substitute(op, rewriter)
            t = _blas_tensor(k)
            if isinstance(op, T.MulOp) and t == TensorType((), g.type.element) and g.scale is None and g.c is None:
                return replace(g, scale=k).substitute(op, rewriter)
        return False


class AddC(RewritePattern):
    """G + C, C + G, G - C, C - G -> the gemm with c (C's constant factor k into beta: k * C); G a gemm or an
    outer product (a gemm of an (m, 1) and a (1, n) matrix: BLAS's rank-1 update ger, done by gemm)."""

    root = (T.AddOp, T.SubOp)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        sub = isinstance(op, T.SubOp)
        for i in (0, 1):
            g = Gemm.absorbable(op.operands[i], op) or Gemm.outer(op.operands[i], op)
            other = op.operands[1 - i]
            if g is None or op.result.type != g.type or not _fits(other, g.type):
                continue
            if sub and i == 1:  # C - G
                g = g.scaled(-1.0)
            sign = -1.0 if sub and i == 0 else 1.0
            if g.c is None:
                k, base = _factor_of(other)
                return replace(g, c=base, beta=sign * k).substitute(op, rewriter)
            # beta * c +- C as elementwise ops: a sum of values that fit fits
            kb = rewriter.insert_before(op, make_constant(np.asarray(g.beta, g.type.element.dtype), op.loc))
            old = rewriter.create_before(op, T.MulOp, kb.result, g.c).result
            c = rewriter.create_before(op, T.SubOp if sign < 0 else T.AddOp, old, other).result
            return replace(g, c=c, beta=1.0).substitute(op, rewriter)
        return False


def _factor_of(v: Value) -> tuple[float, Value]:
    """(k, x) where v is k * x or x * k of the same type (k a constant of one element), else (1, v)."""
    owner = getattr(v, "op", None)
    if isinstance(owner, T.MulOp):
        for i in (0, 1):
            k = _one_element(owner.operands[i])
            x = owner.operands[1 - i]
            if k is not None and x.type == v.type:
                return k, x
    return 1.0, v


PATTERNS: list[RewritePattern] = [DotToGemm(), Scale(), AddC()]


@dataclass
class GemmPass(Pass):
    name: ClassVar[str] = "gemm"
    summary: ClassVar[str] = "dot/scale/add chains -> tensor.gemm (one BLAS gemm/gemv call)"

    max_iterations: int = 10

    def run(self, module: Operation) -> bool:
        changed = False
        for fn in module.walk():
            if isinstance(fn, FuncOp) and not any(isinstance(o, T.GradOp) for o in fn.walk()):
                changed |= apply_patterns_greedily(fn, PATTERNS, max_iterations=self.max_iterations, fold=False,
                                                   erase_dead=False)
        return changed
