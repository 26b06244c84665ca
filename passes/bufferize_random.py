"""The bufferize rules of the `random` dialect's draw ops (dialects/random.py), in bufferize's table `RULES`.

A draw becomes one `mem.generic` over its result buffer whose body computes element i (the row-major
index, from `tensor.index` of each dim) with the op's own element formula (`StandardDraw.element` built
with `BuilderMath`: `random.philox` words and scalar math), reading the state's key, stream and position
as host scalars. So the draw is an elementwise loop that lower-to-loops, parallelize and the C renderer
treat like any other.
"""

from __future__ import annotations

from ..dialects import mem as M
from ..dialects import random as R
from ..dialects import tensor as T
from ..dialects.scalar import cast_to
from ..ir.builder import Builder
from ..ir.core import Operation, Value
from ..ir.types import index
from .bufferize import FunctionBufferizer
from .bufferize_rules import _check_sizes, _create, _fill, _sizes, _tt, _typed, rule


@rule(R.UniformOp, R.NormalOp)
def _draw(cx: FunctionBufferizer, op: Operation) -> list[Value]:
    assert isinstance(op, R.StandardDraw)
    tr = _tt(op.results[0])
    state = cx.get(op.operands[0])
    length = cx.dim(state, 0)
    cx.check(cx.cmp("eq", length, R.STATE_SIZE), f"'{op.name}' op {op.STATE_LENGTH}", length)
    stream = [cx.b.create(M.LoadOp, state, cx.ix(k)).result for k in range(R.STATE_SIZE)]
    sizes = _sizes(cx, op.attributes["shape"], op.operands[1:])
    sizes = [d if d is not None else s for d, s in zip(tr.shape, sizes)]
    _check_sizes(cx, sizes)
    out = cx.alloc(sizes, tr.element)
    strides = cx.contiguous_strides(sizes)

    def body(b: Builder, args: list[Value]) -> list[Value]:
        terms = [_create(b, "scalar.mul", b.create(T.IndexOp, dim=d).result, cx.ix(stride))
                 for d, stride in enumerate(strides)]
        flat = terms[0] if terms else _create(b, "scalar.constant", value=_typed(0, index))
        for term in terms[1:]:
            flat = _create(b, "scalar.add", flat, term)
        return [op.element(R.BuilderMath(b, stream), cast_to(b, flat, R.ui64))]
    _fill(cx, out, body)
    return [out]
