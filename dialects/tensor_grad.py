"""What the gradient rules of tensor ops are written with (each rule lives in its op's class: `vjp`).

A rule builds tensor IR with the same `Builder` the passes use. `Sym` wraps a value and its builder so
that a rule reads as the math it builds, Python numbers becoming 0-d constants of the tensor's dtype:

    grad=lambda x, y, g: g * (1.0 - y * y)        # tanh: builds tensor.mul, tensor.sub, tensor.mul

Undoing numpy broadcasting is one helper for every op (`unbroadcast`): sum over the dims an operand was
broadcast along, dynamic dims included (a `?` dim that is 1 at run time). Ops are found by name in the
registry, so this module sits below the dialect modules that use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import OP_REGISTRY, Operation, OpResult, Value
from ..ir.rewriter import make_constant
from ..ir.types import TensorType

Grads = list[Value | None]


def emit(b: Builder, name: str, *operands: Value, **attrs: Any) -> Value:
    """Build op `tensor.<name>` (types inferred) at b's insertion point; its result."""
    return b.create(OP_REGISTRY[f"tensor.{name}"], *operands, **attrs).result


def constant(b: Builder, value: Any, dtype: Any) -> Value:
    return b.insert(make_constant(np.asarray(value, dtype), b.loc)).result


def _type(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type


def dim(b: Builder, x: Value, k: int) -> int | Value:
    """Dim k of x: its static size, or a 0-d i64 read from `tensor.shape` at run time."""
    d = _type(x).shape[k]
    if d is not None:
        return d
    return emit(b, "subtensor", emit(b, "shape", x), begin=(k,), end=(None,), step=(None,), index_dims=(0,))


def sized(b: Builder, name: str, v: Value, sizes: Sequence[int | Value], **attrs: Any) -> Value:
    """`tensor.<name> %v sizes ... {shape = [...]}` with static entries where sizes are ints."""
    shape = tuple(s if isinstance(s, int) else DYN for s in sizes)
    return emit(b, name, v, *[s for s in sizes if not isinstance(s, int)], shape=shape, **attrs)


def shape_of(b: Builder, x: Value) -> list[int | Value]:
    return [dim(b, x, k) for k in range(_type(x).rank)]


def reshape_like(b: Builder, v: Value, x: Value) -> Value:
    """v (as many elements as x) reshaped to x's shape; v itself when the types already agree."""
    if _type(v).shape == _type(x).shape and None not in _type(x).shape:
        return v
    return sized(b, "reshape", v, shape_of(b, x))


def broadcast_like(b: Builder, v: Value, x: Value) -> Value:
    """v broadcast to x's shape (numpy's broadcast_to)."""
    if _type(v).shape == _type(x).shape and None not in _type(x).shape:
        return v
    return sized(b, "broadcast_to", v, shape_of(b, x))


def zeros_like(b: Builder, x: Value) -> Value:
    return broadcast_like(b, constant(b, 0, _type(x).dtype), x)


def ones_like(b: Builder, x: Value) -> Value:
    return broadcast_like(b, constant(b, 1, _type(x).dtype), x)


def unbroadcast(b: Builder, g: Value, x: Value, others: Sequence[Value] | None = None) -> Value:
    """g (the gradient of a result x was broadcast into) summed down to x's shape: over the leading dims x
    lacks and the dims where x is 1. Along a dynamic dim of x that may be 1 at run time, g and its sum
    (broadcast back) are selected by whether x's size is 1, then sliced to x's size; not where x's size is
    the result's for sure: when `others` (the operands broadcast with x) are all 1 or absent along it."""
    gt, xt = _type(g), _type(x)
    lead = gt.rank - xt.rank
    ones = tuple(lead + k for k, d in enumerate(xt.shape) if d == 1 and gt.shape[lead + k] != 1)
    if ones:  # summed keeping the dims: reshaping to x's shape would fail where x's `?` dims are still wider
        g = emit(b, "sum", g, axes=ones, keepdims=True)
    if lead:
        g = emit(b, "sum", g, axes=tuple(range(lead)), keepdims=False)
    for k, d in enumerate(xt.shape):
        if d is None and _type(g).shape[k] != 1 and (others is None or _widened_by(others, k - xt.rank)):
            n = dim(b, x, k)
            assert isinstance(n, Value)
            summed = emit(b, "sum", g, axes=(k,), keepdims=True)  # where broadcasts it: fused with its cast
            chosen = emit(b, "where", emit(b, "eq", n, constant(b, 1, np.int64)), summed, g)
            g = emit(b, "subtensor", chosen, n, begin=(None,) * (k + 1), end=(None,) * k + (DYN,),
                     step=(None,) * (k + 1))
    return g


def _widened_by(others: Sequence[Value], k: int) -> bool:
    """Whether one of `others` may be wider than 1 along dim k (negative: from the right)."""
    return any(isinstance(o.type, TensorType) and o.type.rank >= -k and o.type.shape[k] != 1 for o in others)


def count(b: Builder, x: Value, axes: Sequence[int], dtype: Any) -> Value:
    """The number of elements of x over `axes`, a 0-d tensor of `dtype`."""
    sizes = [dim(b, x, a) for a in axes]
    n: Value = constant(b, math.prod(s for s in sizes if isinstance(s, int)), dtype)
    for s in sizes:
        if not isinstance(s, int):
            n = emit(b, "mul", n, emit(b, "cast", s, dtype=_type(n).element))
    return n


def keep_reduced(b: Builder, g: Value, op: Operation, axes: Sequence[int]) -> Value:
    """A reduction's result gradient g with its reduced dims back as 1s (numpy keepdims)."""
    if op.attributes.get("keepdims", False) or not axes:
        return g
    return emit(b, "expand_dims", g, axes=tuple(axes))


class Sym:
    """A value and the builder rules build with: arithmetic on Syms and Python numbers builds tensor ops."""

    __slots__ = ("b", "v")

    def __init__(self, b: Builder, v: Value) -> None:
        self.b, self.v = b, v

    def _lift(self, o: Sym | float | int) -> Value:
        return o.v if isinstance(o, Sym) else constant(self.b, o, _type(self.v).dtype)

    def op(self, name: str, *others: Sym | float | int, **attrs: Any) -> Sym:
        """`tensor.<name>` of this value and `others`."""
        return Sym(self.b, emit(self.b, name, self.v, *[self._lift(o) for o in others], **attrs))

    def __add__(self, o: Sym | float) -> Sym: return self.op("add", o)
    def __sub__(self, o: Sym | float) -> Sym: return self.op("sub", o)
    def __rsub__(self, o: float) -> Sym: return Sym(self.b, self._lift(o)).op("sub", self)
    def __mul__(self, o: Sym | float) -> Sym: return self.op("mul", o)
    def __truediv__(self, o: Sym | float) -> Sym: return self.op("true_div", o)
    def __neg__(self) -> Sym: return self.op("neg")


def select(cond: Sym, a: Sym | float, c: Sym | float) -> Sym:
    """`tensor.where cond, a, c`; a Python number takes the other branch's dtype."""
    like = a if isinstance(a, Sym) else c
    assert isinstance(like, Sym)
    return cond.op("where", Sym(like.b, like._lift(a)), Sym(like.b, like._lift(c)))


def floating(v: Value) -> bool:
    return isinstance(v.type, TensorType) and v.type.element.is_float


def inputs_of(op: Operation) -> list[Value]:
    """What an op's gradient rule gives cotangents for: its operands, then the values its regions use from
    outside it (a tensor.if's branches), in the order of their first use."""
    out = list(op.operands)
    inside = {id(o) for o in op.walk()}
    seen = set(out)
    for inner in op.walk():
        if inner is op:
            continue
        for v in inner.operands:
            owner = v.op if isinstance(v, OpResult) else v.block.parent_op  # type: ignore[attr-defined]
            if v not in seen and (owner is None or id(owner) not in inside):
                seen.add(v)
                out.append(v)
    return out


def accumulate(b: Builder, adjoints: dict[Value, Value], v: Value, g: Value) -> None:
    """adjoints[v] += g, g cast to v's dtype and given v's static dims."""
    assert isinstance(v.type, TensorType) and isinstance(g.type, TensorType)
    if g.type.element != v.type.element:
        g = emit(b, "cast", g, dtype=v.type.element)
    if any(d is not None and e is None for d, e in zip(v.type.shape, g.type.shape)):
        # a rule may build a less static type (a slice of a `?` dim); the rules of v's users rely on v's
        g = reshape_like(b, g, v)
    adjoints[v] = emit(b, "add", adjoints[v], g) if v in adjoints else g


def forward_tape(ops: Sequence[Operation], live: set[Value]) -> list[Operation]:
    """The differentiable ops of `ops` (in order) that read a `live` value, their own operands or the outer
    values their regions read (`inputs_of`); their floating results join `live`."""
    tape = []
    for op in ops:
        if op.differentiable and any(v in live for v in inputs_of(op)):
            live.update(r for r in op.results if floating(r))
            tape.append(op)
    return tape


def backprop(b: Builder, tape: Sequence[Operation], adjoints: dict[Value, Value], live: set[Value]) -> None:
    """Reverse mode over `tape` (ops from the cost backwards): each op's rule turns the adjoints of its
    results into cotangents of its inputs (`inputs_of`), accumulated into `adjoints` for the `live` ones."""
    for op in tape:
        outs = [adjoints.get(r) for r in op.results]
        if all(g is None for g in outs):
            continue
        cotangents = op.vjp(b, [g if g is not None else zeros_like(b, r) for g, r in zip(outs, op.results)])
        for v, g in zip(inputs_of(op), cotangents):
            if g is not None and v in live:
                accumulate(b, adjoints, v, g)
