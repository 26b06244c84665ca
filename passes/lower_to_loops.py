"""`lower-to-loops`: every `mem.generic` becomes an explicit loop nest (docs/lowering.md, section 4).

Legal on entry: verified IR at the memory level (what `bufferize` produces): `func.func` bodies
of `mem.*`, `lib.*`, `scalar.*`, `loop.*` ops and `mem.generic` (whose bodies may use
`tensor.index` and `mem.load` from buffers defined outside). No tensor value is needed.

Legal on exit: the same IR with no `mem.generic` and no `tensor.index` left. Every other op
(`mem.copy`, `lib.gemm`, ...) is kept as it is.

For `mem.generic %x, %b, %o {maps = [[0, 1], [1], [0]], iterators = ["parallel", "reduction"]}`
(a matrix-vector product) the pass emits, at the generic's location:

    %n0 = mem.dim %o {axis = 0}                       iteration sizes: parallel dims from the
    %n1 = <x's dim 1, or b's dim 0 where that is 1>   first output, reduction dims from inputs
    mem.check (dim == 1 || dim == n) {message = "operand shapes do not broadcast"}
    %xb = mem.view %x ... strides = [?, select(dim == 1, 0, stride)]     (run-time broadcasting:
    %bb = mem.view %b ... strides = [select(dim == 1, 0, stride)]         a size-1 dim reads index 0)
    %init = scalar.constant {value = 0.0 : f32}
    loop.parallel %n0 ({                                parallel dims, in the first output's order
    ^bb0(%i0: index):                                   (innermost = the output's last dim)
      %r = loop.for %n1 iter %init ({                   one loop.for per reduction dim,
      ^bb0(%i1: index, %acc: f32):                      accumulators as iter args
        %xv = mem.load %xb indices %i0, %i1             inputs at the indices their maps give
        %bv = mem.load %bb indices %i1                  (-1 entries: index 0)
        ... the body's scalar ops, tensor.index {dim = k} -> %ik ...
        loop.yield %s
      })
      mem.store %r, %o indices %i0                      results stored once per output element
      loop.yield
    })

A generic without parallel dims is the `loop.for` nest alone, at the level of the generic, with
the stores right after it (so a top-level nest's results feed nothing but those stores); one
without any dims runs its body inside a one-trip `loop.for`. Views and checks are only built
where a dim may be 1 at run time while its iteration dim is not: static sizes need neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..dialects import loop as L
from ..dialects import mem as M
from ..dialects import scalar as S
from ..dialects.mem import GenericOp, layout_of
from ..ir.attributes import DYN, Typed
from ..ir.builder import Builder
from ..ir.core import Block, Operation, Value
from ..ir.types import MemRefType, ScalarType, index
from .pass_manager import Pass

BROADCAST_MESSAGE = "operand shapes do not broadcast"


def typed_constant(value: Any, t: ScalarType) -> Typed:
    """An attribute holding `value` as a scalar of type `t` (ints for integer types, floats for floats)."""
    if t == index:
        return Typed(int(value), t)
    v = np.asarray(value).astype(t.dtype)[()]
    if t.dtype.kind == "b":
        return Typed(bool(v), t)
    if t.dtype.kind == "f":
        return Typed(float(v), t)
    return Typed(int(v), t)


@dataclass
class _Host:
    """Builds the host-side values of one generic (sizes, strides, constants) before it, once each."""

    builder: Builder
    consts: dict[tuple[Any, ScalarType], Value] = field(default_factory=dict)
    dims: dict[tuple[Value, int], Value] = field(default_factory=dict)
    strides: dict[tuple[Value, int], Value] = field(default_factory=dict)
    eqs: dict[tuple[Value, Value], Value] = field(default_factory=dict)

    def const(self, value: Any, t: ScalarType = index) -> Value:
        attr = typed_constant(value, t)
        key = (repr(attr.value), t)  # repr: 0.0 and -0.0, NaN keyed apart
        if key not in self.consts:
            v = self.builder.create(S.ConstantOp, value=attr).result
            v.name_hint = f"c{attr.value}" if t == index else "cst"
            self.consts[key] = v
        return self.consts[key]

    def dim(self, buf: Value, axis: int) -> Value:
        t = buf.type
        assert isinstance(t, MemRefType)
        if t.shape[axis] is not None:
            return self.const(t.shape[axis])
        if (buf, axis) not in self.dims:
            self.dims[(buf, axis)] = self._known_dim(buf, axis) or self._new_dim(buf, axis)
        return self.dims[(buf, axis)]

    def _known_dim(self, buf: Value, axis: int) -> Value | None:
        """A value already holding the size: the alloc's (or view's) size operand, or a mem.dim
        of the same axis earlier in this block. Sharing it lets equal sizes skip their checks."""
        owner = getattr(buf, "op", None)
        if isinstance(owner, (M.AllocOp, M.ViewOp)):
            shape = owner.attributes["shape"]
            operands = owner.operands if isinstance(owner, M.AllocOp) else owner.operands[1:]
            if isinstance(owner, M.ViewOp) and owner.attributes.get("offset", 0) is DYN:
                operands = operands[1:]
            if shape[axis] is DYN:
                return operands[sum(d is DYN for d in shape[:axis])]
        block, here = self.builder.block, self.builder.index
        assert block is not None and here is not None
        for use in buf.uses:
            op = use.op
            if isinstance(op, M.DimOp) and op.attributes["axis"] == axis and op.parent is block \
                    and block.index(op) < here:
                return op.result
        return None

    def _new_dim(self, buf: Value, axis: int) -> Value:
        v = self.builder.create(M.DimOp, buf, axis=axis).result
        v.name_hint = f"{buf.name_hint or 'buf'}_d{axis}"
        return v

    def stride(self, buf: Value, axis: int) -> Value:
        t = buf.type
        assert isinstance(t, MemRefType)
        s = layout_of(t)[axis]
        if s is not None:
            return self.const(s)
        if (buf, axis) not in self.strides:
            v = self.builder.create(M.StrideOp, buf, axis=axis).result
            v.name_hint = f"{buf.name_hint or 'buf'}_s{axis}"
            self.strides[(buf, axis)] = v
        return self.strides[(buf, axis)]

    def eq(self, a: Value, b: Value) -> Value:
        if (a, b) not in self.eqs:
            self.eqs[(a, b)] = self.builder.create(S.EqOp, a, b).result
        return self.eqs[(a, b)]

    def select(self, c: Value, a: Value, b: Value) -> Value:
        return self.builder.create(S.SelectOp, c, a, b).result


def _static_dim(v: Value, axis: int) -> int | None:
    t = v.type
    assert isinstance(t, MemRefType)
    return t.shape[axis]


def lower_generic(g: GenericOp) -> None:
    """Replace one mem.generic by its loop nest (see the module docstring)."""
    host = _Host(Builder.before(g))
    ins, outs = g.inputs, g.outputs
    in_maps, out_maps = g.input_maps, g.output_maps
    n_iter = len(g.iterators)

    # ---- iteration sizes: parallel dims from the first output naming them, reduction dims from inputs
    sizes: list[Value | None] = [None] * n_iter
    static: list[int | None] = [None] * n_iter
    sole_source: set[tuple[int, int]] = set()  # (input, axis) that alone sizes its iteration dim
    first_source: set[tuple[int, int]] = set()  # (input, axis) 1 or equal to the size by construction
    for k in g.parallel_dims:
        buf, axis = next((o, m.index(k)) for o, m in zip(outs, out_maps) if k in m)
        static[k] = _static_dim(buf, axis)
        sizes[k] = host.dim(buf, axis)
    for k in g.reduction_dims:
        sources = [(i, m.index(k)) for i, m in enumerate(in_maps) if k in m]
        known = [_static_dim(ins[i], a) for i, a in sources]
        fixed = next((s for s in known if s is not None and s != 1), None)
        dynamic = [(i, a) for (i, a), s in zip(sources, known) if s is None]
        if fixed is not None:
            static[k], sizes[k] = fixed, host.const(fixed)
        elif not dynamic:
            static[k], sizes[k] = 1, host.const(1)
        else:
            size = host.dim(ins[dynamic[0][0]], dynamic[0][1])
            for i, a in dynamic[1:]:
                # numpy's rule: of sizes 1 and n, the iteration runs n times
                d = host.dim(ins[i], a)
                size = host.select(host.eq(size, host.const(1)), d, size)
                size.name_hint = f"n{k}"
            if len(dynamic) == 1:
                sole_source.add(dynamic[0])
            first_source.add(dynamic[0])
            sizes[k] = size
    bounds: list[Value] = [s for s in sizes if s is not None]
    assert len(bounds) == n_iter

    # ---- run-time broadcasting: check each input dim, view size-1 dims with stride 0
    views = [_broadcast_view(host, g, i, sizes, static, sole_source, first_source) for i in range(len(ins))]

    # ---- the nest
    out_elems = [o.type.element for o in outs]
    par_order = [k for k in out_maps[0] if k >= 0] if outs else []
    ivs: dict[int, Value] = {}
    # The nest is built in a detached block and moved before the generic at the end, so host values
    # made while building it (constants) land before it.
    staging = Block()
    nest = Builder.at_end(staging, g.loc)
    outer: Operation | None = None
    if par_order:
        par = nest.insert(L.ParallelOp.create([bounds[k] for k in par_order]))
        assert isinstance(par, L.ParallelOp)
        for k, a in zip(par_order, par.body.args):
            a.name_hint, ivs[k] = f"i{k}", a
        outer, nest = par, Builder.at_end(par.body, g.loc)
    elif not g.reduction_dims:
        once = nest.insert(L.ForOp.create(host.const(1)))
        assert isinstance(once, L.ForOp)
        once.body.args[0].name_hint = "once"
        outer, nest = once, Builder.at_end(once.body, g.loc)

    if g.reduction_dims:
        inits = [host.const(v if v is not None else 0, t) for v, t in zip(g.inits, out_elems)]
        fors: list[L.ForOp] = []
        accs: list[Value] = inits
        inner = nest
        for k in g.reduction_dims:
            f = inner.insert(L.ForOp.create(bounds[k], accs))
            assert isinstance(f, L.ForOp)
            f.body.args[0].name_hint = f"i{k}"
            for a in f.body.args[1:]:
                a.name_hint = "acc"
            ivs[k], accs = f.body.args[0], list(f.body.args[1:])
            fors.append(f)
            inner = Builder.at_end(f.body, g.loc)
        new = _clone_body(g, inner, host, views, ivs, accs)
        inner.create(L.YieldOp, *new)
        for parent, child in zip(fors, fors[1:]):
            Builder.at_end(parent.body, g.loc).create(L.YieldOp, *child.results)
        finals: list[Value] = list(fors[0].results)
        for r in finals:
            r.name_hint = "red"
    else:
        # Without reduction dims the body's output arguments hold the init (0 without one), as in
        # the interpreter's rule; a body rarely reads them.
        out_args = g.body.args[len(ins):]
        inits = [host.const(v if v is not None else 0, t) if a.uses else a
                 for v, t, a in zip(g.inits, out_elems, out_args)]
        finals = _clone_body(g, nest, host, views, ivs, inits)
    for value, buf, m in zip(finals, outs, out_maps):
        nest.create(M.StoreOp, value, buf, *[ivs[k] if k >= 0 else host.const(0) for k in m])
    if outer is not None:
        nest.create(L.YieldOp)
    block = g.parent
    assert block is not None
    for op in list(staging.ops):
        staging.remove(op)
        block.insert(block.index(g), op)
    g.erase()


def _broadcast_view(host: _Host, g: GenericOp, i: int, sizes: list[Value | None], static: list[int | None],
                    sole_source: set[tuple[int, int]], first_source: set[tuple[int, int]]) -> Value:
    """Input i, checked against the iteration sizes and viewed with stride 0 where it broadcasts."""
    buf = g.inputs[i]
    t = buf.type
    assert isinstance(t, MemRefType)
    m = g.input_maps[i]
    bcast: list[int] = []
    for a, k in enumerate(m):
        d = t.shape[a]
        if k < 0 or d == 1 or (i, a) in sole_source:
            continue  # not iterated, statically 1 (read at index 0), or the size itself
        if d is not None and d == static[k]:
            continue
        size = sizes[k]
        assert size is not None
        dim = host.dim(buf, a)
        if dim is size:
            continue  # the same value: equal by construction
        if (i, a) not in first_source:
            if static[k] == 1:
                ok = host.eq(dim, size)
            else:
                ok = host.builder.create(S.OrOp, host.eq(dim, host.const(1)), host.eq(dim, size)).result
            host.builder.create(M.CheckOp, ok, dim, size, message=BROADCAST_MESSAGE + ": size {0} against {1}")
        if d is None and static[k] != 1:
            bcast.append(a)
    if not bcast:
        return buf
    shape: list[Any] = []
    strides: list[Any] = []
    shape_ops: list[Value] = []
    stride_ops: list[Value] = []
    layout = layout_of(t)
    for a, k in enumerate(m):
        if a in bcast:
            size = sizes[k]
            assert size is not None
            shape.append(static[k] if static[k] is not None else DYN)
            if static[k] is None:
                shape_ops.append(size)
            one = host.eq(host.dim(buf, a), host.const(1))
            strides.append(DYN)
            stride_ops.append(host.select(one, host.const(0), host.stride(buf, a)))
            continue
        if t.shape[a] is not None:
            shape.append(t.shape[a])
        else:
            shape.append(DYN)
            shape_ops.append(host.dim(buf, a))
        if t.shape[a] == 1:
            strides.append(0)  # read at index 0 only: the stride does not matter
        elif layout[a] is not None:
            strides.append(layout[a])
        else:
            strides.append(DYN)
            stride_ops.append(host.stride(buf, a))
    view = host.builder.create(M.ViewOp, buf, *shape_ops, *stride_ops, offset=0, shape=shape, strides=strides)
    view.result.name_hint = (buf.name_hint or "in") + "_bc"
    return view.result


def _clone_body(g: GenericOp, b: Builder, host: _Host, views: list[Value], ivs: dict[int, Value],
                accs: list[Value]) -> list[Value]:
    """Loads of the inputs, the body's ops cloned at `b`; returns the values the body yields."""
    body = g.body
    n_in = len(g.inputs)
    mapping: dict[Value, Value] = {}
    for arg, buf, m in zip(body.args[:n_in], views, g.input_maps):
        if not arg.uses:
            continue
        t = buf.type
        assert isinstance(t, MemRefType)
        idx = [ivs[k] if k >= 0 and t.shape[a] != 1 else host.const(0) for a, k in enumerate(m)]
        load = b.create(M.LoadOp, buf, *idx).result
        load.name_hint = arg.name_hint
        mapping[arg] = load
    for arg, acc in zip(body.args[n_in:], accs):
        mapping[arg] = acc
    for op in body.ops[:-1]:
        if op.name == "tensor.index":
            mapping[op.result] = ivs[op.attributes["dim"]]
            continue
        new = b.insert(op.clone(mapping))
        for nested in list(new.walk()):
            if nested is not new and nested.name == "tensor.index":
                nested.result.replace_all_uses_with(ivs[nested.attributes["dim"]])
                nested.erase()
    return [mapping.get(v, v) for v in body.ops[-1].operands]


@dataclass
class LowerToLoopsPass(Pass):
    name: ClassVar[str] = "lower-to-loops"
    summary: ClassVar[str] = "mem.generic -> loop.parallel / loop.for nests of mem.load, scalar ops, mem.store"

    def run(self, module: Operation) -> bool:
        generics = [op for op in module.walk() if isinstance(op, GenericOp)]
        for g in generics:
            lower_generic(g)
        return bool(generics)


__all__ = ["BROADCAST_MESSAGE", "LowerToLoopsPass", "lower_generic", "typed_constant"]
