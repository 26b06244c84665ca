"""The mid/low-level dialects (mem, loop, lib, kernel) and index arithmetic in scalar:
interpreter vs numpy, verifier errors, text round trips, and a coverage check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from tensorir.dialects import builtin as B
from tensorir.dialects import extern as X
from tensorir.dialects import func as F
from tensorir.dialects import kernel as K
from tensorir.dialects import lib as LB
from tensorir.dialects import linalg as LA
from tensorir.dialects import loop as L
from tensorir.dialects import mem as M
from tensorir.dialects import scalar as S
from tensorir.dialects import sparse as SP
from tensorir.ir.attributes import DYN, SymbolRef, Typed
from tensorir.ir.builder import Builder
from tensorir.ir.core import OP_REGISTRY, Block, Operation, Region, TirError, Value, VerifyError
from tensorir.ir.printer import print_module
from tensorir.ir.types import MemRefType, TensorType, Type, f32, f64, i1, i32, i64, index
from tensorir.ir.verifier import verify
from tensorir.runtime.interpreter import Interpreter, run
from test_generic import GENERIC_OPS

RNG = np.random.default_rng(0)


def MR(shape: Sequence[int | None], el: Any = f32, strides: Sequence[int | None] | None = None,
       space: str = "host") -> MemRefType:
    return MemRefType(tuple(shape), el, tuple(strides) if strides is not None else None, space)


def new_func(name: str, inputs: Sequence[Type], results: Sequence[Type] = (), module: B.ModuleOp | None = None,
             cls: type[F.FuncOp] = F.FuncOp) -> tuple[B.ModuleOp, Builder, list[Value]]:
    """A function (appended to `module`, or a new one) and a builder at the end of its body."""
    m = module if module is not None else B.ModuleOp.empty()
    fn = cls.create(name, list(inputs), list(results), [f"a{k}" for k in range(len(inputs))])
    m.body.append(fn)
    return m, Builder.at_end(fn.body), list(fn.args)


def parallel(b: Builder, bounds: Sequence[Value]) -> tuple[Builder, list[Value]]:
    """A loop.parallel over `bounds`; returns a builder inside it (end the body with loop.yield)."""
    op = b.insert(L.ParallelOp.create(list(bounds)))
    assert isinstance(op, L.ParallelOp)
    return Builder.at_end(op.body), list(op.body.args)


def const(b: Builder, value: Any, t: Any = index) -> Value:
    return b.create(S.ConstantOp, value=Typed(value, t)).result


def rand(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- interpreter: loops + buffers


def test_elementwise_loop_nest() -> None:
    """y[i, j] = exp(x[i, j]) + b[j] with loop.parallel, mem.load/store and scalar ops."""
    m, b, (x, bias, y) = new_func("f", [MR((None, None)), MR((None,)), MR((None, None))])
    d0 = b.create(M.DimOp, x, axis=0).result
    d1 = b.create(M.DimOp, x, axis=1).result
    assert d0.type == index
    ib, (i, j) = parallel(b, [d0, d1])
    e = ib.create(S.ExpOp, ib.create(M.LoadOp, x, i, j).result).result
    s = ib.create(S.AddOp, e, ib.create(M.LoadOp, bias, j).result).result
    ib.create(M.StoreOp, s, y, i, j)
    ib.create(L.YieldOp)
    b.create(F.ReturnOp)
    verify(m)
    xs, bs, ys = rand(3, 5), rand(5), np.zeros((3, 5), np.float32)
    assert run(m, "f", xs, bs, ys) == []
    np.testing.assert_allclose(ys, np.exp(xs) + bs, rtol=1e-6)
    assert "loop.parallel %d0, %d1" not in print_module(m)  # names come from the printer
    assert "mem.store %" in print_module(m) and " indices %" in print_module(m)


def test_for_reduction_with_iter_arg() -> None:
    """sum(v) and (in the same loop) the count of positive elements: two iter args."""
    m, b, (v,) = new_func("f", [MR((None,))], [f32, index])
    n = b.create(M.DimOp, v, axis=0).result
    zero, izero, one = const(b, 0.0, f32), const(b, 0), const(b, 1)
    loop = b.insert(L.ForOp.create(n, [zero, izero]))
    assert [r.type for r in loop.results] == [f32, index]
    lb = Builder.at_end(loop.body)
    i, acc, cnt = loop.body.args
    x = lb.create(M.LoadOp, v, i).result
    pos = lb.create(S.GtOp, x, zero).result
    assert pos.type == i1
    inc = lb.create(S.SelectOp, pos, one, izero).result
    lb.create(L.YieldOp, lb.create(S.AddOp, acc, x).result, lb.create(S.AddOp, cnt, inc).result)
    b.create(F.ReturnOp, *loop.results)
    verify(m)
    vs = rand(7)
    total, count = run(m, "f", vs)
    assert isinstance(total, np.float32) and isinstance(count, np.int64)
    np.testing.assert_allclose(total, vs.sum(), rtol=1e-5)
    assert count == (vs > 0).sum()
    assert run(m, "f", np.zeros(0, np.float32)) == [0.0, 0]  # zero trips: the inits


def test_nested_for_and_if() -> None:
    """A sequential loop nest writing out[i] = max_j a[i, j] via loop.if inside loop.for."""
    m, b, (a, out) = new_func("f", [MR((None, 4)), MR((None,))])
    n0 = b.create(M.DimOp, a, axis=0).result
    n1 = const(b, 4)
    outer = b.insert(L.ForOp.create(n0))
    ob = Builder.at_end(outer.body)
    (i,) = outer.body.args
    first = ob.create(M.LoadOp, a, i, const(ob, 0)).result
    inner = ob.insert(L.ForOp.create(n1, [first]))
    ib = Builder.at_end(inner.body)
    j, best = inner.body.args
    x = ib.create(M.LoadOp, a, i, j).result
    bigger = ib.create(S.GtOp, x, best).result
    pick = ib.insert(L.IfOp([bigger], [f32], {}, [Region([Block()]), Region([Block()])]))
    Builder.at_end(pick.regions[0].block).create(L.YieldOp, x)
    Builder.at_end(pick.regions[1].block).create(L.YieldOp, best)
    ib.create(L.YieldOp, pick.result)
    ob.create(M.StoreOp, inner.result, out, i)
    ob.create(L.YieldOp)
    b.create(F.ReturnOp)
    verify(m)
    av, ov = rand(3, 4), np.zeros(3, np.float32)
    run(m, "f", av, ov)
    np.testing.assert_array_equal(ov, av.max(axis=1))
    # built without result types, loop.if takes those its `then` region yields
    c = Block([i1, f32]).args
    then, other = Block(), Block()
    then.append(L.YieldOp.build(c[1]))
    other.append(L.YieldOp.build(c[1]))
    assert L.IfOp([c[0]], None, {}, [Region([then]), Region([other])]).result.type == f32


def test_transposed_view_reads_back() -> None:
    """x: 3x4 contiguous; its transpose is the view shape [?, ?] strides [1, ?] (no copy)."""
    m, b, (x,) = new_func("f", [MR((None, None))], [TensorType((None, None), f32)])
    d0 = b.create(M.DimOp, x, axis=0).result
    d1 = b.create(M.DimOp, x, axis=1).result
    t = b.create(M.ViewOp, x, d1, d0, d1, offset=0, shape=[DYN, DYN], strides=[1, DYN]).result
    assert t.type == MR((None, None), strides=(1, None))
    assert str(t.type) == "memref<?x?xf32, strides=[1,?]>"
    # copy it elementwise into a fresh buffer with a loop nest, then read that back as a tensor
    out = b.create(M.AllocOp, d1, d0, shape=[DYN, DYN], dtype=f32).result
    ib, (i, j) = parallel(b, [d1, d0])
    ib.create(M.StoreOp, ib.create(M.LoadOp, t, i, j).result, out, i, j)
    ib.create(L.YieldOp)
    b.create(F.ReturnOp, b.create(M.TensorOfOp, out).result)
    verify(m)
    xs = rand(3, 4)
    (res,) = run(m, "f", xs)
    np.testing.assert_array_equal(res, xs.T)
    assert res.flags.c_contiguous


def test_broadcast_slice_and_reshape_views() -> None:
    """Stride 0 broadcasts; an offset slices; a store through a view reaches the buffer;
    static row-major strides give a contiguous type (a reshape)."""
    m, b, (v, buf) = new_func("f", [MR((4,)), MR((3, 4))], [TensorType((None, 4), f32), TensorType((4,), f32)])
    n = const(b, 5)
    bc = b.create(M.ViewOp, v, n, shape=[DYN, 4], strides=[0, 1]).result  # offset defaults to 0
    assert bc.type == MR((None, 4), strides=(0, 1))
    row1 = b.create(M.ViewOp, buf, offset=4, shape=[4], strides=[1]).result  # buf[1, :]
    assert row1.type == MR((4,))  # [1] is row-major for shape [4]: printed contiguous
    flat = b.create(M.ViewOp, buf, shape=[12], strides=[1]).result
    b.create(M.StoreOp, const(b, 7.0, f32), flat, const(b, 11))  # buf[2, 3] = 7 through the reshape
    b.create(F.ReturnOp, b.create(M.TensorOfOp, bc).result, b.create(M.TensorOfOp, row1).result)
    verify(m)
    vs, bufs = rand(4), rand(3, 4)
    before = bufs.copy()
    bres, rres = run(m, "f", vs, bufs)
    np.testing.assert_array_equal(bres, np.broadcast_to(vs, (5, 4)))
    np.testing.assert_array_equal(rres, before[1])
    assert bufs[2, 3] == 7.0 and (bufs.ravel()[:11] == before.ravel()[:11]).all()


def test_view_of_view_dynamic_offset_and_copy() -> None:
    """A view of a (strided) view; a `?` offset; mem.copy between strided and contiguous buffers."""
    m, b, (x, o) = new_func("f", [MR((4, 6)), MR((3, 2))])
    cols = b.create(M.ViewOp, x, offset=1, shape=[4, 3], strides=[6, 2]).result  # x[:, 1::2]
    assert cols.type == MR((4, 3), strides=(6, 2))
    off = const(b, 6)
    rows = b.create(M.ViewOp, cols, off, offset=DYN, shape=[3, 2], strides=[2, 6]).result  # cols[1:3].T
    b.create(M.CopyOp, rows, o)
    b.create(F.ReturnOp)
    verify(m)
    xs, os = rand(4, 6), np.zeros((3, 2), np.float32)
    run(m, "f", xs, os)
    np.testing.assert_array_equal(os, xs[:, 1::2][1:3].T)


def test_views_stay_in_the_span_of_their_source() -> None:
    """A view addresses memory from the start of its source, within the source's span (the gaps
    of a strided source included): a reversal; the odd columns of x[:, 1::2]'s span."""
    m, b, (x,) = new_func("f", [MR((2, 6))], [TensorType((6,), f32), TensorType((5,), f32)])
    rev = b.create(M.ViewOp, x, offset=5, shape=[6], strides=[-1]).result  # x[0, 5::-1]
    assert rev.type == MR((6,), strides=(-1,))
    cols = b.create(M.ViewOp, x, offset=1, shape=[2, 3], strides=[6, 2]).result  # x[:, 1::2]
    gaps = b.create(M.ViewOp, cols, offset=1, shape=[5], strides=[2]).result  # x.flat[2:12:2]
    b.create(F.ReturnOp, b.create(M.TensorOfOp, rev).result, b.create(M.TensorOfOp, gaps).result)
    verify(m)
    xs = rand(2, 6)
    r, g = run(m, "f", xs)
    np.testing.assert_array_equal(r, xs[0, 5::-1])
    np.testing.assert_array_equal(g, xs.ravel()[2:12:2])
    bad = b.insert(M.ViewOp.build(x, offset=2, shape=[6], strides=[2]))
    with pytest.raises(VerifyError, match=r"view reaches elements 2..12 of a source of 12 elements"):
        bad.verify()


def test_alloc_dealloc_dim_buffer_of() -> None:
    m, b, (t, n) = new_func("f", [TensorType((None, 3), f64), index], [TensorType((None, 3), f64), index])
    src = b.create(M.BufferOfOp, t).result
    assert src.type == MR((None, 3), f64)
    buf = b.create(M.AllocOp, n, shape=[DYN, 3], dtype=f64).result
    b.create(M.CopyOp, src, buf)
    out = b.create(M.TensorOfOp, buf).result
    rows = b.create(M.DimOp, buf, axis=0).result
    b.create(M.DeallocOp, buf)
    b.create(F.ReturnOp, out, rows)
    verify(m)
    ts = rand(2, 3, dtype=np.float64)
    res, rows_v = run(m, "f", ts, 2)
    np.testing.assert_array_equal(res, ts)
    assert rows_v == 2 and res is not ts
    # fresh buffers hold NaN (floats) or 0, so that reading unwritten memory shows
    alloc = M.AllocOp.build(shape=[2], dtype=f32)
    assert np.isnan(alloc.interpret(None, [])[0]).all()
    assert (M.AllocOp.build(shape=[2], dtype=i32).interpret(None, [])[0] == 0).all()


def test_index_arithmetic_in_scalar() -> None:
    m, b, (p, q) = new_func("f", [index, index], [index] * 5 + [i1, i32, index, f32])
    outs = [b.create(cls, p, q).result for cls in (S.AddOp, S.MulOp, S.SubOp, S.IntDivOp, S.ModOp)]
    assert [v.type for v in outs] == [index] * 5
    lt = b.create(S.LtOp, p, q).result
    assert lt.type == i1  # comparisons stay i1
    as_i32 = b.create(S.CastOp, p, dtype=i32).result
    back = b.create(S.CastOp, as_i32, dtype=index).result
    as_f = b.create(S.CastOp, back, dtype=f32).result
    assert (as_i32.type, back.type, as_f.type) == (i32, index, f32)
    three = b.create(S.ConstantOp, value=Typed(3, index)).result
    assert three.type == index
    assert b.create(S.AddOp, p, b.create(S.CastOp, q, dtype=i64).result).result.type == i64  # mixed: numpy's rule
    b.create(F.ReturnOp, *outs, lt, as_i32, b.create(S.AddOp, back, three).result, as_f)
    verify(m)
    res = run(m, "f", 17, 5)
    assert res[:5] == [22, 85, 12, 3, 2] and all(isinstance(r, np.int64) for r in res[:5])
    assert res[5] == np.bool_(False) and res[6] == np.int32(17) and res[7] == 20 and res[8] == np.float32(17)


def test_gemm_and_gemv_against_numpy() -> None:
    m, b, (a, bm, c, x, y) = new_func("f", [MR((None, None)), MR((None, None)), MR((None, None)),
                                            MR((None,)), MR((None,))])
    b.create(LB.GemmOp, a, bm, c, alpha=2.0, beta=0.5, trans_a=True)
    b.create(LB.GemvOp, a, x, y, alpha=1, beta=0.0)
    b.create(F.ReturnOp)
    verify(m)
    av, bv, cv, xv = rand(4, 3), rand(4, 5), rand(3, 5), rand(3)
    yv = np.full(4, np.nan, np.float32)  # beta = 0: the old contents (even NaN) are ignored, as in BLAS
    c0 = cv.copy()
    run(m, "f", av, bv, cv, xv, yv)
    np.testing.assert_allclose(cv, 2.0 * av.T @ bv + 0.5 * c0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(yv, av @ xv, rtol=1e-5, atol=1e-5)
    assert "{alpha = 2.0, beta = 0.5, trans_a = true, trans_b = false}" in print_module(m)


def test_gemm_trans_b_and_gemv_trans_f64() -> None:
    m, b, (a, bm, c, x, y) = new_func("f", [MR((2, 3), f64), MR((4, 3), f64), MR((2, 4), f64),
                                            MR((2,), f64), MR((3,), f64)])
    b.create(LB.GemmOp, a, bm, c, trans_b=True)
    b.create(LB.GemvOp, a, x, y, trans=True, beta=1.0)
    b.create(F.ReturnOp)
    verify(m)
    av, bv, xv, yv = (rand(2, 3, dtype=np.float64), rand(4, 3, dtype=np.float64), rand(2, dtype=np.float64),
                      rand(3, dtype=np.float64))
    cv, y0 = np.zeros((2, 4)), yv.copy()
    run(m, "f", av, bv, cv, xv, yv)
    np.testing.assert_allclose(cv, av @ bv.T)
    np.testing.assert_allclose(yv, av.T @ xv + y0)


def test_tiled_gemm_against_numpy_and_its_text() -> None:
    """kernel.tiled_gemm (device-gemm) means lib.gemm: the interpreter computes it so; it prints its tiling and
    parses back."""
    from tensorir.frontend.parser import parse

    m, b, (a, bm, c, s) = new_func("f", [MR((None, None)), MR((None, None)), MR((None, None)), f32])
    b.create(K.TiledGemmOp, a, bm, c, s, alpha=2.0, beta=0.5, trans_a=True, tile_m=32, reg_m=2)
    b.create(F.ReturnOp)
    verify(m)
    av, bv, cv = rand(4, 3), rand(4, 5), rand(3, 5)
    c0 = cv.copy()
    run(m, "f", av, bv, cv, np.float32(3))
    np.testing.assert_allclose(cv, 6.0 * av.T @ bv + 0.5 * c0, rtol=1e-5, atol=1e-5)
    text = print_module(m)
    assert ("kernel.tiled_gemm %a0, %a1, %a2 scale %a3 {alpha = 2.0, beta = 0.5, trans_a = true, tile_m = 32, "
            "reg_m = 2, trans_b = false, tile_n = 64, tile_k = 16, reg_n = 4}") in text
    assert print_module(parse(text)) == text


def test_gemm_batch_against_numpy() -> None:
    """Every batch element's product, through views that broadcast (stride 0) and transpose the operands."""
    m, b, (a, bm, c) = new_func("f", [MR((None, None, None), f64, [None] * 3), MR((2, None, None), f64, [None] * 3),
                                      MR((2, None, None), f64)])
    b.create(LB.GemmBatchOp, a, bm, c, alpha=2.0, beta=0.5)
    b.create(F.ReturnOp)
    verify(m)
    d = np.float64
    pairs = [(np.broadcast_to(rand(1, 3, 4, dtype=d), (2, 3, 4)), rand(2, 5, 4, dtype=d).transpose(0, 2, 1)),
             (rand(2, 4, 3, dtype=d).transpose(0, 2, 1), rand(2, 4, 10, dtype=d)[:, ::-1, ::2])]
    for av, bv in pairs:
        cv = rand(2, 3, 5, dtype=d)
        c0 = cv.copy()
        run(m, "f", av, bv, cv)
        np.testing.assert_allclose(cv, 2.0 * np.matmul(av, bv) + 0.5 * c0)
    assert "lib.gemm_batch %a0, %a1, %a2 {alpha = 2.0, beta = 0.5}" in print_module(m)
    with pytest.raises(TirError, match=r"'lib.gemm_batch' op A \(2, 3, 4\) @ B \(2, 3, 5\) does not fit C"):
        run(m, "f", rand(2, 3, 4, dtype=d), rand(2, 3, 5, dtype=d), np.zeros((2, 3, 5)))


def _kernel_module() -> B.ModuleOp:
    """kernel @k: y[i] = 2 * x[i] for i < n; host @h: tensor -> buffers -> device -> launch -> tensor."""
    dev = MR((None,), space="device")
    m, kb, (x, y, n) = new_func("k", [dev, dev, index], cls=K.KernelFuncOp)
    ib, (i,) = parallel(kb, [n])
    v = ib.create(M.LoadOp, x, i).result
    ib.create(M.StoreOp, ib.create(S.MulOp, v, const(ib, 2.0, f32)).result, y, i)
    ib.create(L.YieldOp)
    kb.create(K.ReturnOp)
    tt = TensorType((None,), f32)
    _, hb, (t,) = new_func("h", [tt], [tt], module=m)
    hx = hb.create(M.BufferOfOp, t).result
    hn = hb.create(M.DimOp, hx, axis=0).result
    hy = hb.create(M.AllocOp, hn, shape=[DYN], dtype=f32).result
    dx = hb.create(K.ToDeviceOp, hx).result
    dy = hb.create(K.ToDeviceOp, hy).result
    hb.create(K.LaunchOp, dx, dy, hn, kernel=SymbolRef("k"))
    hb.create(K.ToHostOp, dy, hy)
    out = hb.create(M.TensorOfOp, hy).result
    hb.create(M.DeallocOp, hy)
    hb.create(F.ReturnOp, out)
    verify(m)
    return m


def test_kernel_func_and_launch() -> None:
    m = _kernel_module()
    xs = rand(6)
    (res,) = run(m, "h", xs)
    np.testing.assert_array_equal(res, 2 * xs)
    text = print_module(m)
    assert text.startswith("kernel.func @k(%a0: memref<?xf32, #device>, %a1: memref<?xf32, #device>, %a2: index) {\n")
    assert "  kernel.return\n}" in text and "kernel.launch %dx" not in text
    assert "{kernel = @k} : memref<?xf32, #device>, memref<?xf32, #device>, index" in text
    from tensorir.frontend import parser
    assert parser.parse(text).body.ops[0].function_type.inputs[0] == MR((None,), space="device")  # round trip
    # to_device copies: writing the device buffer leaves the host one alone until to_host
    host = np.ones(3, np.float32)
    dev = K.ToDeviceOp.build(Block([MR((3,))]).args[0]).interpret(Interpreter(m), [host])[0]
    dev[0] = 5
    assert host[0] == 1


def test_runtime_errors() -> None:
    m, b, (x, t) = new_func("f", [MR((None,)), TensorType((2,), f32)])
    i = const(b, 3)
    b.create(M.LoadOp, x, i)
    b.create(F.ReturnOp)
    verify(m)
    with pytest.raises(TirError, match="'mem.load' op index 3 is out of bounds for axis 0 of size 3"):
        run(m, "f", np.zeros(3, np.float32), np.zeros(2, np.float32))

    m, b, (t,) = new_func("f", [TensorType((2,), f32)])
    buf = b.create(M.BufferOfOp, t).result
    b.create(M.StoreOp, const(b, 1.0, f32), buf, const(b, 0))
    b.create(F.ReturnOp)
    verify(m)
    ts = np.zeros(2, np.float32)
    with pytest.raises(TirError, match="'mem.store' op writes into a read-only buffer"):
        run(m, "f", ts)
    assert ts[0] == 0  # the tensor (the caller's array) is untouched

    m, b, (x, n) = new_func("f", [MR((None,)), index])
    b.create(M.ViewOp, x, n, shape=[DYN], strides=[2])
    b.create(F.ReturnOp)
    verify(m)
    run(m, "f", np.zeros(5, np.float32), 3)  # elements 0, 2, 4: inside
    with pytest.raises(TirError, match="'mem.view' op view .* reaches outside the memory of its source"):
        run(m, "f", np.zeros(5, np.float32), 4)
    with pytest.raises(TirError, match=r"'mem.view' op source has strides \[2\] .* which do not fit memref<\?xf32>"):
        run(m, "f", np.zeros(10, np.float32)[::2], 2)

    # A dynamic offset counts from the source's first element: negative for a source with a negative stride (a
    # reversed argument; OpenCL's host plans met it), fine while the view stays inside the source's memory.
    m, b, (x, off) = new_func("f", [MR((None,), strides=[None]), index], [MR((3,))])
    v = b.create(M.ViewOp, x, off, offset=DYN, shape=[3], strides=[1]).result
    b.create(F.ReturnOp, v)
    verify(m)
    reversed_ = np.arange(5, dtype=np.float32)[::-1]  # memory: 0 1 2 3 4, its first element the 4
    np.testing.assert_array_equal(run(m, "f", reversed_, -2)[0], [2, 3, 4])
    np.testing.assert_array_equal(run(m, "f", reversed_, -4)[0], [0, 1, 2])
    with pytest.raises(TirError, match="'mem.view' op view .* reaches outside the memory of its source"):
        run(m, "f", reversed_, -5)

    m, b, (a, c) = new_func("f", [MR((2, 2)), MR((2, 2))])
    b.create(LB.GemmOp, a, a, c)
    b.create(F.ReturnOp)
    verify(m)
    same = np.eye(2, dtype=np.float32)
    with pytest.raises(TirError, match="'lib.gemm' op output shares memory with an input"):
        run(m, "f", same, same)


# ---------------------------------------------------------------- verifier errors

_ERR_TYPES = [MR((None, 4)), index, f32, i64, TensorType((None, 4), f32), MR((None,)), i1]


def _err_alloc_count(b: Builder, a: list[Value]) -> None:
    b.create(M.AllocOp, shape=[DYN, 4], dtype=f32)


def _err_alloc_type(b: Builder, a: list[Value]) -> None:
    b.create(M.AllocOp, a[3], shape=[DYN, 4], dtype=f32)


def _for_with(b: Builder, a: list[Value], yield_vals: Callable[[Builder, list[Value]], list[Value]],
              upper: Value | None = None, inits: Sequence[Value] = ()) -> None:
    loop = b.insert(L.ForOp.create(upper if upper is not None else a[1], list(inits)))
    lb = Builder.at_end(loop.body)
    lb.create(L.YieldOp, *yield_vals(lb, list(loop.body.args)))


def _parallel_with(b: Builder, bounds: list[Value], arg_types: list[Type], yields: Sequence[Value] = ()) -> None:
    body = Block(arg_types)
    body.append(L.YieldOp.build(*yields))
    b.insert(L.ParallelOp(bounds, [], {}, [Region([body])]))


def _if_with(b: Builder, cond: Value, then: list[Value], other: list[Value], results: list[Type]) -> None:
    t, e = Block(), Block()
    t.append(L.YieldOp.build(*then))
    e.append(L.YieldOp.build(*other))
    b.insert(L.IfOp([cond], results, {}, [Region([t]), Region([e])]))


def _module_of(b: Builder) -> B.ModuleOp:
    assert b.block is not None and b.block.parent_op is not None
    module = b.block.parent_op.parent_op
    assert isinstance(module, B.ModuleOp)
    return module


def _host_for_with(b: Builder, upper: Value, yields: list[Value]) -> None:
    loop = b.insert(L.HostForOp.create(upper))
    Builder.at_end(loop.body).create(L.YieldOp, *yields)


def _misplaced(cls: type[Operation]) -> Callable[[Builder, list[Value]], None]:
    """A terminator at the end of the module's block, where no op expects it."""
    def build(b: Builder, a: list[Value]) -> None:
        _module_of(b).body.append(cls.build())
    return build


def _launch(b: Builder, a: list[Value], args: list[Value], sym: str = "kern") -> None:
    b.create(K.LaunchOp, *args, kernel=SymbolRef(sym))


def _kernel_with(types: list[Type], results: Sequence[Type] = (), term: str = "kernel.return") -> Callable[..., None]:
    def build(b: Builder, a: list[Value]) -> None:
        fn = K.KernelFuncOp.create("k2", types, list(results))
        fn.body.append(OP_REGISTRY[term].build())
        _module_of(b).body.append(fn)
    return build


# (op name, builder of the bad op in @f(%a0: memref<?x4xf32>, %a1: index, %a2: f32, %a3: i64,
#  %a4: tensor<?x4xf32>, %a5: memref<?xf32>, %a6: i1), expected message)
ERRORS: list[tuple[str, Callable[[Builder, list[Value]], Any], str]] = [
    ("mem.alloc", _err_alloc_count, "has 1 '?' entry but 0 dynamic size operands"),
    ("mem.alloc", _err_alloc_type, "dynamic size operand #0 must be index, got i64"),
    ("mem.alloc", lambda b, a: b.create(M.AllocOp, shape=[-1], dtype=f32), "shape entries must be non-negative"),
    ("mem.dealloc", lambda b, a: b.create(M.DeallocOp, a[4]), "operand must be a memref, got tensor<?x4xf32>"),
    ("mem.dim", lambda b, a: b.create(M.DimOp, a[0], axis=2), "axis 2 is out of range for memref<?x4xf32>"),
    ("mem.stride", lambda b, a: b.create(M.StrideOp, a[0], axis=-1), "axis -1 is out of range for memref<?x4xf32>"),
    ("mem.check", lambda b, a: b.create(M.CheckOp, a[3], message="m"), "condition must be i1, got i64"),
    ("mem.check", lambda b, a: b.create(M.CheckOp, a[6], a[1], message="{1}"),
     "message uses {1} but the check has 1 values"),
    ("mem.check", lambda b, a: b.create(M.CheckOp, a[6], a[2], message="{0}"), "values must be integers or index"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[0], shape=[4, 2], strides=[1]),
     "has 2 shape entries but 1 strides"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[0], shape=[DYN], strides=[1]),
     "has 1 '?' entry but 0 dynamic size operands"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[0], a[2], shape=[DYN], strides=[1]),
     "dynamic size operand #0 must be index, got f32"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[0], shape=[4], strides=[1.5]),
     "strides entries must be integers or '?', got 1.5"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[0], offset=-1, shape=[4], strides=[1]),
     "offset must be non-negative, got -1"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, b.create(M.AllocOp, shape=[3, 4], dtype=f32).result,
                                       offset=2, shape=[4, 3], strides=[1, 4]),
     "view reaches elements 2..13 of a source of 12 elements (memref<3x4xf32>)"),
    ("mem.view", lambda b, a: b.create(M.ViewOp, a[4], shape=[4], strides=[1]),
     "source must be a memref, got tensor<?x4xf32>"),
    ("mem.load", lambda b, a: b.create(M.LoadOp, a[0], a[1]), "expects 2 indices for memref<?x4xf32>, got 1"),
    ("mem.load", lambda b, a: b.create(M.LoadOp, a[0], a[1], a[3]), "index operand #1 must be index, got i64"),
    ("mem.store", lambda b, a: b.create(M.StoreOp, b.create(S.CastOp, a[2], dtype=f64).result, a[0], a[1], a[1]),
     "stores a f64 value into memref<?x4xf32> (element type f32)"),
    ("mem.store", lambda b, a: b.create(M.StoreOp, a[2], a[5]), "expects 1 index for memref<?xf32>, got 0"),
    ("mem.copy", lambda b, a: b.create(M.CopyOp, a[0], a[5]), "source shape (?, 4) does not match target shape (?,)"),
    ("mem.copy", lambda b, a: b.create(M.CopyOp, a[0], b.create(M.AllocOp, shape=[2, 4], dtype=f64).result),
     "copies f32 elements into a f64 buffer"),
    ("mem.buffer_of", lambda b, a: b.create(M.BufferOfOp, a[0]), "operand must be a tensor, got memref<?x4xf32>"),
    ("mem.tensor_of", lambda b, a: b.create(M.TensorOfOp, a[4]), "operand must be a memref, got tensor<?x4xf32>"),
    ("loop.for", lambda b, a: _for_with(b, a, lambda lb, args: [lb.create(S.CastOp, args[1], dtype=f64).result],
                                        inits=[a[2]]), "yields (f64) but its iter args are (f32)"),
    ("loop.for", lambda b, a: _for_with(b, a, lambda lb, args: [], upper=a[3]),
     "upper bound #0 must be index, got i64"),
    ("loop.for", lambda b, a: b.insert(L.ForOp([a[1], a[2]], [f32], {}, [Region([Block([index, f64])])])),
     "body arguments (index, f64) must be (index) followed by the iter types (f32)"),
    ("loop.for", lambda b, a: b.insert(L.ForOp([a[1]], [], {}, [Region([Block([index])])])),
     "body must end with loop.yield"),
    ("loop.parallel", lambda b, a: _parallel_with(b, [a[1], a[1]], [index]),
     "has 2 bounds, so its body takes 2 index arguments, got (index)"),
    ("loop.parallel", lambda b, a: _parallel_with(b, [a[3]], [index]), "bound #0 must be index, got i64"),
    ("loop.parallel", lambda b, a: _parallel_with(b, [a[1]], [index], [a[2]]),
     "body yields (f32); a parallel loop has no results"),
    ("loop.parallel", lambda b, a: _parallel_with(b, [], []), "expects at least one bound"),
    ("loop.if", lambda b, a: _if_with(b, a[1], [], [], []), "condition must be i1, got index"),
    ("loop.if", lambda b, a: _if_with(b, a[6], [a[2]], [a[1]], [f32]),
     "else region yields (index) but the results are (f32)"),
    ("loop.host_for", lambda b, a: _host_for_with(b, a[1], [a[2]]),
     "body yields (f32): nothing, or an i1 that goes on when true"),
    ("loop.host_for", lambda b, a: _host_for_with(b, a[3], []), "upper bound #0 must be index, got i64"),
    ("loop.yield", _misplaced(L.YieldOp),
     "must be inside loop.for, loop.host_for, loop.parallel or loop.if, not 'builtin.module'"),
    ("lib.gemm", lambda b, a: b.create(LB.GemmOp, a[0], b.create(M.AllocOp, shape=[3, 4], dtype=f32).result, a[0]),
     "op(A) is (?, 4) and op(B) is (3, 4): inner dimensions differ"),
    ("lib.gemm", lambda b, a: b.create(LB.GemmOp, *[b.create(M.AllocOp, shape=s, dtype=f32).result
                                                    for s in ([2, 3], [3, 5], [2, 4])]),
     "C is (2, 4) but op(A) @ op(B) is (2, 5)"),
    ("lib.gemm", lambda b, a: b.create(LB.GemmOp, a[0], a[0], a[5]),
     "operand C must be a 2-d memref, got memref<?xf32>"),
    ("lib.gemm", lambda b, a: b.create(LB.GemmOp, a[0], a[0], a[0], trans_b=True, alpha=True),
     "attribute 'alpha' must be an integer or a float, got True"),
    ("lib.gemv", lambda b, a: b.create(LB.GemvOp, a[0], b.create(M.AllocOp, shape=[3], dtype=f32).result, a[5]),
     "op(A) is (?, 4) but x is (3,)"),
    ("lib.gemv", lambda b, a: b.create(LB.GemvOp, *[b.create(M.AllocOp, shape=s, dtype=i32).result
                                                    for s in ([2, 3], [3], [2])]),
     "operands must have one element type, f32 or f64, got i32, i32, i32"),
    ("kernel.tiled_gemm", lambda b, a: b.create(K.TiledGemmOp, a[0], a[0], a[0], trans_b=True, reg_m=3),
     "reg_m (3) must divide tile_m (64) and reg_n (4) tile_n (64)"),
    ("kernel.tiled_gemm", lambda b, a: b.create(K.TiledGemmOp, a[0], a[0], a[0], trans_b=True, reg_m=1, reg_n=1),
     "a work-group of 64 x 64 work-items is more than 1024"),
    ("kernel.tiled_gemm", lambda b, a: b.create(K.TiledGemmOp, a[0], a[0], a[0], trans_b=True, tile_k=128),
     "its tiles take 65536 bytes of local memory, more than 49152"),
    ("kernel.tiled_gemm", lambda b, a: b.create(K.TiledGemmOp, a[0], a[0], a[0], trans_b=True, tile_k=0),
     "tile_k must be positive, got 0"),
    ("lib.gemm_batch", lambda b, a: b.create(LB.GemmBatchOp, a[0], a[0], a[0]),
     "operands must have one rank, at least 3, got 2, 2 and 2"),
    ("lib.gemm_batch", lambda b, a: b.create(LB.GemmBatchOp, *[b.create(M.AllocOp, shape=s, dtype=f32).result
                                                               for s in ([2, 3, 4], [3, 4, 5], [2, 3, 5])]),
     "batch dims differ: A (2, 3, 4), B (3, 4, 5), C (2, 3, 5)"),
    ("lib.gemm_batch", lambda b, a: b.create(LB.GemmBatchOp, *[b.create(M.AllocOp, shape=s, dtype=f32).result
                                                               for s in ([2, 3, 4], [2, 3, 5], [2, 3, 5])]),
     "A is (2, 3, 4) and B is (2, 3, 5): inner dimensions differ"),
    ("lib.sort", lambda b, a: b.create(LB.SortOp, a[0], a[0], axis=2), "axis 2 is out of range for a memref of rank 2"),
    ("lib.sort", lambda b, a: b.create(LB.SortOp, a[0], a[0], axis=1, indices=True),
     "output memref<?x4xf32> does not fit input memref<?x4xf32> (element type i64)"),
    ("lib.py_call", lambda b, a: b.create(X.LibPyCallOp, a[0], fn="nowhere.g"),
     'calls "nowhere.g", which is not registered in this process'),
    ("lib.extern_c", lambda b, a: b.create(X.LibExternCOp, a[0], a[0], name="f", signature="f64(f64)", source=""),
     "input #0 is memref<?x4xf32>, the signature says f64"),
    ("lib.csr_mm", lambda b, a: b.create(SP.LibCsrMmOp, a[5], a[5], a[5], a[0], a[1],
                                          b.create(M.AllocOp, shape=[2, 4], dtype=i64).result),
     "output #0 must hold f32, got memref<2x4xi64>"),
    ("lib.csr_row_ids", lambda b, a: b.create(SP.LibRowIdsOp, a[5], a[5], a[0]), "output #0 must hold i64"),
    ("lib.csr_transpose", lambda b, a: b.create(SP.LibCsrTransposeOp, a[5], a[5], a[1], a[5], a[5], a[5]),
     "output #0 must hold i64, got memref<?xf32>"),
    ("lib.csr_dense_pattern", lambda b, a: b.create(SP.LibDensePatternOp, a[0], a[3], a[5], a[5]),
     "operand #1 (nnz) must be an index, got i64"),
    ("lib.inv", lambda b, a: b.create(LB.LAPACK_OF[LA.InvOp], a[0], a[5]),
     "output #0 of shape (?,) does not fit the result, of shape (?, 4)"),
    *[(f"lib.{cls.routine}", lambda b, a, cls=cls: b.create(LB.LAPACK_OF[cls]),
       f"expects {cls.n_inputs} input(s), then one output per result, got 0 operands") for cls in LB.LAPACK_OF],
    ("kernel.func", _kernel_with([TensorType((4,), f32)]),
     "argument #0 of @k2 must be a memref or a scalar, got tensor<4xf32>"),
    ("kernel.func", _kernel_with([index], [f32]),
     "@k2 must have no results (a kernel writes into its buffers), got f32"),
    ("kernel.func", _kernel_with([index], term="func.return"), "@k2 must end with kernel.return"),
    ("kernel.return", _misplaced(K.ReturnOp), "must end a kernel.func, not be inside 'builtin.module'"),
    ("kernel.launch", lambda b, a: _launch(b, a, [a[0], a[1]]),
     "passes (memref<?x4xf32>, index) but @kern takes (memref<?xf32>, index)"),
    ("kernel.launch", lambda b, a: _launch(b, a, [a[5]]),
     "passes (memref<?xf32>) but @kern takes (memref<?xf32>, index)"),
    ("kernel.launch", lambda b, a: _launch(b, a, [a[5], a[3]]),
     "passes (memref<?xf32>, i64) but @kern takes (memref<?xf32>, index)"),
    ("kernel.launch", lambda b, a: _launch(b, a, [a[5], a[1]], "nope"), "launches unknown kernel @nope"),
    ("kernel.launch", lambda b, a: _launch(b, a, [], "f"), "launches @f, which is a 'func.func', not a kernel.func"),
    ("kernel.to_device", lambda b, a: b.create(K.ToDeviceOp, a[4]), "operand must be a memref, got tensor<?x4xf32>"),
    ("kernel.alloc", lambda b, a: b.create(K.AllocOp, shape=[-1], dtype=f32), "shape entries must be non-negative"),
    ("kernel.to_host", lambda b, a: b.create(K.ToHostOp, b.create(K.ToDeviceOp, a[5]).result, a[0]),
     "copies a (?,) f32 buffer into a (?, 4) f32 one"),
    ("kernel.to_host", lambda b, a: b.create(K.ToHostOp, a[5], a[5]), "copies from a #host buffer into a #host one"),
    ("kernel.to_device", lambda b, a: b.create(K.ToDeviceOp, b.create(K.ToDeviceOp, a[5]).result),
     "copies a buffer that is not on the host"),
]


@pytest.mark.parametrize("name, make, message", ERRORS, ids=[f"{e[0]}-{k}" for k, e in enumerate(ERRORS)])
def test_verifier_errors(name: str, make: Callable[[Builder, list[Value]], Any], message: str) -> None:
    m = B.ModuleOp.empty()
    _, kb, _ = new_func("kern", [MR((None,)), index], module=m, cls=K.KernelFuncOp)
    kb.create(K.ReturnOp)
    _, b, args = new_func("f", _ERR_TYPES, module=m)
    with pytest.raises(VerifyError) as info:
        make(b, args)
        b.create(F.ReturnOp)
        verify(m)
    text = str(info.value)
    assert text.startswith(f"'{name}' op"), text
    assert message in text, text


def test_launch_accepts_refined_buffers_and_rejects_strided() -> None:
    m = B.ModuleOp.empty()
    _, kb, _ = new_func("kern", [MR((None, None)), MR((None,), strides=[None])], module=m, cls=K.KernelFuncOp)
    kb.create(K.ReturnOp)
    _, b, (s, t, v) = new_func("f", [MR((3, 4)), MR((4, 3), strides=(1, 4)), MR((5,), strides=(2,))], module=m)
    b.create(K.LaunchOp, s, v, kernel=SymbolRef("kern"))  # static dims fit `?`; any stride fits `?`
    b.create(F.ReturnOp)
    verify(m)
    bad = b.insert(K.LaunchOp.build(t, v, kernel=SymbolRef("kern")), )
    with pytest.raises(VerifyError, match="passes .* but @kern takes"):  # a transposed view is not contiguous
        bad.verify()


def test_func_call_does_not_call_kernels() -> None:
    m = _kernel_module()
    _, b, args = new_func("g", [MR((None,)), MR((None,)), index], module=m)
    call = b.create(F.CallOp, *args, callee=SymbolRef("k"), result_types=[])
    assert isinstance(call, F.CallOp) and call.callee_op() is None


# ---------------------------------------------------------------- text round trip

ROUND_TRIP = """\
kernel.func @scale(%x: memref<?x4xf32>, %y: memref<?x4xf32, strides=[1,?]>, %n: index) {
  %c4 = scalar.constant {value = 4 : index} : index
  loop.parallel %n, %c4 ({
    ^bb0(%i: index, %j: index):
      %v = mem.load %x indices %i, %j : f32
      %e = scalar.exp %v : f32
      mem.store %e, %y indices %i, %j : f32, memref<?x4xf32, strides=[1,?]>, index, index
      loop.yield
  }) : index, index
  kernel.return
}

func.func @main(%t: tensor<?x4xf32>, %w: tensor<4x3xf32>) -> (tensor<?x4xf32>, tensor<?x3xf32>, f32) {
  %x = mem.buffer_of %t : memref<?x4xf32>
  %n = mem.dim %x {axis = 0} : index
  %sx = mem.stride %x {axis = 1} : index
  %one = scalar.constant {value = 1 : index} : index
  %unit = scalar.eq %sx, %one : i1
  mem.check %unit {message = "x must be contiguous"} : i1
  %steps = loop.host_for %n {reverse = true} ({
    ^bb0(%step: index):
      loop.yield %unit : i1
  }) : index
  %buf = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>
  %yt = mem.view %buf sizes %n, %n {offset = 0, shape = [?, 4], strides = [1, ?]} : memref<?x4xf32, strides=[1,?]>
  %dx = kernel.to_device %x : memref<?x4xf32, #device>
  kernel.launch %x, %yt, %n {kernel = @scale} : memref<?x4xf32>, memref<?x4xf32, strides=[1,?]>, index
  %xc = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>
  kernel.to_host %dx, %xc : memref<?x4xf32, #device>, memref<?x4xf32>
  %da = kernel.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32, #device>
  kernel.to_host %da, %xc {result = true} : memref<?x4xf32, #device>, memref<?x4xf32>
  %wb = mem.buffer_of %w : memref<4x3xf32>
  %o = mem.alloc sizes %n {shape = [?, 3], dtype = f32} : memref<?x3xf32>
  lib.gemm %buf, %wb, %o {alpha = 1.0, beta = 0.0, trans_a = false, trans_b = false} \
: memref<?x4xf32>, memref<4x3xf32>, memref<?x3xf32>
  %o2 = mem.alloc sizes %n {shape = [?, 3], dtype = f32} : memref<?x3xf32>
  kernel.tiled_gemm %buf, %wb, %o2 {alpha = 1.0, beta = 0.0, trans_a = false, trans_b = false, tile_m = 64, \
tile_n = 64, tile_k = 16, reg_m = 4, reg_n = 4} : memref<?x4xf32>, memref<4x3xf32>, memref<?x3xf32>
  %col = mem.alloc {shape = [4], dtype = f32} : memref<4xf32>
  %c0 = scalar.constant {value = 0 : index} : index
  %row = mem.view %wb {offset = 0, shape = [3], strides = [1]} : memref<3xf32>
  lib.gemv %wb, %row, %col {alpha = 1.0, beta = 0.0, trans = false} : memref<4x3xf32>, memref<3xf32>, memref<4xf32>
  %ws = mem.view %wb sizes %n {offset = 0, shape = [?, 4, 3], strides = [0, 3, 1]} : memref<?x4x3xf32, strides=[0,3,1]>
  %wt = mem.view %wb sizes %n {offset = 0, shape = [?, 3, 4], strides = [0, 1, 3]} : memref<?x3x4xf32, strides=[0,1,3]>
  %os = mem.alloc sizes %n {shape = [?, 4, 4], dtype = f32} : memref<?x4x4xf32>
  lib.gemm_batch %ws, %wt, %os {alpha = 1.0, beta = 0.0} \
: memref<?x4x3xf32, strides=[0,3,1]>, memref<?x3x4xf32, strides=[0,1,3]>, memref<?x4x4xf32>
  %order = mem.alloc sizes %n {shape = [?, 4], dtype = i64} : memref<?x4xi64>
  lib.sort %buf, %order {axis = 1, indices = true} : memref<?x4xf32>, memref<?x4xi64>
  %esq = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>
  lib.extern_c %buf, %esq {name = "sq", signature = "f32(f32)", source = "void sq(const float* a, float* o, int64_t n) \
{ for (int64_t i = 0; i < n; ++i) o[i] = a[i] * a[i]; }"} : memref<?x4xf32>, memref<?x4xf32>
  %c12 = scalar.constant {value = 12 : index} : index
  %ind = mem.alloc {shape = [12], dtype = i64} : memref<12xi64>
  %ptr = mem.alloc {shape = [5], dtype = i64} : memref<5xi64>
  lib.csr_dense_pattern %wb, %c12, %ind, %ptr : memref<4x3xf32>, index, memref<12xi64>, memref<5xi64>
  %rid = mem.alloc {shape = [12], dtype = i64} : memref<12xi64>
  lib.csr_row_ids %ind, %ptr, %rid : memref<12xi64>, memref<5xi64>, memref<12xi64>
  %c3 = scalar.constant {value = 3 : index} : index
  %tp = mem.alloc {shape = [4], dtype = i64} : memref<4xi64>
  lib.csr_transpose %ind, %ptr, %c3, %rid, %rid, %tp \
: memref<12xi64>, memref<5xi64>, index, memref<12xi64>, memref<12xi64>, memref<4xi64>
  %flat = mem.view %wb {offset = 0, shape = [12], strides = [1]} : memref<12xf32>
  %sq = mem.view %wb {offset = 0, shape = [3, 3], strides = [3, 1]} : memref<3x3xf32>
  %spmm = mem.alloc {shape = [4, 3], dtype = f32} : memref<4x3xf32>
  lib.csr_mm %flat, %ind, %ptr, %sq, %c3, %spmm \
: memref<12xf32>, memref<12xi64>, memref<5xi64>, memref<3x3xf32>, index, memref<4x3xf32>
  %zero = scalar.constant {value = 0.0 : f32} : f32
  %s = loop.for %n iter %zero ({
    ^bb0(%i: index, %acc: f32):
      %v = mem.load %buf indices %i, %c0 : f32
      %p = scalar.gt %v, %zero : i1
      %a = loop.if %p ({
        loop.yield %v : f32
      }, {
        loop.yield %zero : f32
      }) : f32
      %next = scalar.add %acc, %a : f32
      loop.yield %next : f32
  }) : f32
  %copy = mem.alloc sizes %n {shape = [?, 4], dtype = f32} : memref<?x4xf32>
  mem.copy %yt, %copy : memref<?x4xf32, strides=[1,?]>, memref<?x4xf32>
  %r0 = mem.tensor_of %copy : tensor<?x4xf32>
  %r1 = mem.tensor_of %o : tensor<?x3xf32>
  mem.dealloc %buf : memref<?x4xf32>
  func.return %r0, %r1, %s : tensor<?x4xf32>, tensor<?x3xf32>, f32
}
"""


def test_text_round_trip_custom_and_generic() -> None:
    from tensorir.frontend import parser
    m = parser.parse(ROUND_TRIP)
    verify(m)
    text = print_module(m)
    assert text == ROUND_TRIP
    names = {op.name for op in m.walk()}
    # lib.py_call names a function registered in the process: its round trip is in tests/test_extern.py
    lapack = {f"lib.{cls.routine}" for cls in LB.LAPACK_OF}  # round trips in tests/ir/linalg.tir
    assert _lower_ops() - {"lib.py_call"} - lapack <= names, "round trip misses an op"
    generic = print_module(m, generic=True)
    assert '"kernel.func"() ({' in generic and '"loop.for"(%n, %zero) ({' in generic
    g = parser.parse(generic)
    verify(g)
    assert print_module(g, generic=True) == generic
    assert print_module(g) == text
    # and it runs: the kernel writes exp(t) through %yt, a column-major view of %buf
    ts, ws = rand(3, 4), rand(4, 3)
    r0, r1, s = run(m, "main", ts, ws)
    np.testing.assert_allclose(r0, np.exp(ts), rtol=1e-6)
    buf = _buf_rowmajor(ts)
    np.testing.assert_allclose(r1, buf @ ws, rtol=1e-5)
    np.testing.assert_allclose(s, np.maximum(buf[:, 0], 0).sum(), rtol=1e-6)


def _buf_rowmajor(ts: np.ndarray) -> np.ndarray:
    """%buf's contents: the kernel stored exp(t)[i, j] at element i + j * n (strides [1, n])."""
    n = ts.shape[0]
    flat = np.empty(ts.size, np.float32)
    for i in range(n):
        for j in range(4):
            flat[i + j * n] = np.exp(ts[i, j])
    return flat.reshape(n, 4)


def test_hand_written_text_infers_types() -> None:
    from tensorir.frontend import parser
    m = parser.parse("""
func.func @f(%v: memref<?xf32>) -> f32 {
  %n = mem.dim %v {axis = 0}
  %z = scalar.constant {value = 0.0 : f32}
  %s = loop.for %n iter %z ({
    ^bb0(%i: index, %acc: f32):
      %x = mem.load %v indices %i
      %t = scalar.add %acc, %x
      loop.yield %t : f32
  })
  func.return %s : f32
}
""")
    verify(m)
    assert "%s = loop.for %n iter %z ({" in print_module(m) and "}) : f32" in print_module(m)
    assert run(m, "f", np.arange(4, dtype=np.float32))[0] == 6.0


def test_lib_sort_against_numpy() -> None:
    """Rows along the axis sorted stably (nan last) into the output: values, or their positions."""
    m, b, (x, vals, pos) = new_func("f", [MR((None, None), f64, [None, None]), MR((None, None), f64),
                                          MR((None, None), i64)])
    b.create(LB.SortOp, x, vals, axis=0)
    b.create(LB.SortOp, x, pos, axis=0, indices=True)
    b.create(F.ReturnOp)
    verify(m)
    xv = np.array([[2.0, np.nan, 1.0], [np.nan, 1.0, 1.0], [2.0, -np.inf, 0.5]])[:, ::-1]
    vv, pv = np.zeros((3, 3)), np.zeros((3, 3), np.int64)
    run(m, "f", xv, vv, pv)
    np.testing.assert_array_equal(vv, np.sort(xv, axis=0))
    np.testing.assert_array_equal(pv, np.argsort(xv, axis=0, kind="stable"))
    assert "lib.sort %a0, %a2 {axis = 0, indices = true} : memref<?x?xf64, strides=[?,?]>, memref<?x?xi64>" \
        in print_module(m)
    with pytest.raises(TirError, match=r"'lib.sort' op output of shape \(2, 3\) for a sort of \(3, 3\)"):
        run(m, "f", xv, np.zeros((2, 3)), pv)


# ---------------------------------------------------------------- coverage

_DIALECTS = ("mem", "loop", "lib", "kernel")

# ops each interpreter test above runs (checked against numpy)
RUN_TESTED = {
    "mem.alloc", "mem.dealloc", "mem.dim", "mem.stride", "mem.check", "mem.view", "mem.load", "mem.store",
    "mem.copy", "mem.buffer_of",
    "mem.tensor_of", "loop.for", "loop.parallel", "loop.if", "loop.yield", "lib.gemm", "lib.gemv", "lib.gemm_batch",
    "lib.sort", *(f"lib.{cls.routine}" for cls in LB.LAPACK_OF),  # LAPACK's: tests/test_linalg.py
    "kernel.func", "kernel.return", "kernel.launch", "kernel.to_device", "kernel.to_host",
    "kernel.alloc",  # run in tests/test_opencl.py (device-residency makes it)
    "kernel.tiled_gemm",  # interpreted above, run on a device in tests/test_opencl.py (device-gemm makes it)
    "lib.py_call", "lib.extern_c",  # run in tests/test_extern.py (a registered Python function, a C function)
    "loop.host_for",  # run in tests/test_scan.py (every stage of the cpu pipeline of a scan)
} | {c.name for c in SP.LibKernelOp.__subclasses__()}  # the csr kernels: run in tests/test_sparse.py


def _lower_ops() -> set[str]:
    # The generic family (mem.generic) is tested in tests/test_generic.py.
    return {n for n in OP_REGISTRY if n.split(".")[0] in _DIALECTS} - GENERIC_OPS


def test_every_lower_op_is_tested() -> None:
    ops = _lower_ops()
    assert ops - RUN_TESTED == set(), "ops without an interpreter test"
    assert ops - {e[0] for e in ERRORS} == set(), "ops without a verifier-error test"
    for n in ops:
        cls = OP_REGISTRY[n]
        assert cls.__doc__ and n in cls.__doc__, f"{n}: the docstring shows the printed op"
        assert cls.interpret is not Operation.interpret, f"{n} has no interpreter rule"


STRIDE_CHECK = """
func.func @f(%x: memref<?x?xf32, strides=[?,?]>) -> (index, index) {
  %s0 = mem.stride %x {axis = 0} : index
  %s1 = mem.stride %x {axis = 1} : index
  %one = scalar.constant {value = 1 : index} : index
  %unit = scalar.eq %s1, %one : i1
  mem.check %unit {message = "the last axis must be contiguous"} : i1
  func.return %s0, %s1 : index, index
}
"""


def test_stride_and_check() -> None:
    from tensorir.frontend import parser
    m = parser.parse(STRIDE_CHECK, "strides.tir")
    verify(m)
    x = np.zeros((4, 6), np.float32)
    assert [int(v) for v in run(m, "f", x)] == [6, 1]
    assert [int(v) for v in run(m, "f", x[::2, :3])] == [12, 1]
    with pytest.raises(TirError, match=r"^strides.tir:7:3: the last axis must be contiguous"):
        run(m, "f", x.T)
