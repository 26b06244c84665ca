"""decompose and fuse-elementwise, checked numerically against the reference interpreter.

Every case builds a small function around one op (or an expression), runs the interpreter on
random inputs (broadcasting, 0-d, empty dims, NaN/inf, int and bool dtypes), runs the passes,
and requires the same results: equal dtypes and shapes, equal values (allclose for floats, NaN
where numpy has NaN). The coverage test checks that every composite op of docs/lowering.md
section 1 and every elementwise/reduction op class is exercised here; a hypothesis test fuses
random elementwise expression DAGs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorir.dialects import scalar as S
from tensorir.dialects import tensor as T
from tensorir.dialects.builtin import ModuleOp
from tensorir.dialects.func import FuncOp, ReturnOp
from tensorir.ir.builder import Builder
from tensorir.ir.core import Location, Operation, TirError, Value
from tensorir.ir.rewriter import make_constant
from tensorir.ir.types import FunctionType, TensorType, scalar
from tensorir.ir.verifier import verify
from tensorir.passes import run_pipeline
from tensorir.passes.decompose import DECOMPOSITIONS
from tensorir.passes.fuse_elementwise import REDUCTIONS
from tensorir.runtime.interpreter import run

EXERCISED: set[type[Operation]] = set()
LOC = Location("case.py", 7)

Build = Callable[[Builder, list[Value]], Sequence[Value]]


def ttype(shape: Sequence[int | None], dtype: str) -> TensorType:
    return TensorType(tuple(shape), scalar(dtype))


def make_module(arg_types: Sequence[TensorType], build: Build) -> ModuleOp:
    module = ModuleOp.empty()
    fn = FuncOp.create("f", list(arg_types), [], [f"a{i}" for i in range(len(arg_types))])
    module.body.append(fn)
    b = Builder.at_end(fn.body, LOC)
    outs = list(build(b, list(fn.body.args)))
    b.create(ReturnOp, *outs)
    fn.attributes["function_type"] = FunctionType(tuple(arg_types), tuple(v.type for v in outs))
    for op in fn.body.ops:
        EXERCISED.add(type(op))
    verify(module)
    return module


def op1(cls: type[Operation], **attrs: Any) -> Build:
    """A function applying one op to all arguments."""
    return lambda b, args: [b.create(cls, *args, **attrs).result]


def const(b: Builder, value: Any, dtype: str) -> Value:
    return b.insert(make_constant(np.array(value, dtype=scalar(dtype).dtype), LOC)).result


def random_array(shape: Sequence[int], dtype: str, rng: np.random.Generator, special: bool = True) -> np.ndarray:
    dt = scalar(dtype).dtype
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        lo = 0 if dt.kind == "u" else -5
        return rng.integers(lo, 6, size=shape).astype(dt)
    a = rng.standard_normal(shape).astype(dt) * 2
    if special and a.size >= 4:
        flat = a.reshape(-1)
        picks = rng.choice(a.size, size=min(3, a.size // 4), replace=False)
        for k, p in enumerate(picks):
            flat[p] = (np.nan, np.inf, -np.inf)[k % 3]
    return a


def assert_same(before: Sequence[Any], after: Sequence[Any], rtol: float = 1e-5) -> None:
    assert len(before) == len(after)
    for x, y in zip(before, after):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, (x.dtype, y.dtype)
        assert x.shape == y.shape, (x.shape, y.shape)
        if x.dtype.kind == "f":
            tol = 2e-3 if x.dtype == np.float16 else rtol
            np.testing.assert_allclose(y, x, rtol=tol, atol=tol, equal_nan=True)
        else:
            np.testing.assert_array_equal(y, x)


def remaining(module: Operation) -> set[str]:
    """Names of the ops outside generic bodies."""
    names = set()

    def walk(op: Operation) -> None:
        names.add(op.name)
        if op.name != "tensor.generic":
            for r in op.regions:
                for blk in r.blocks:
                    for inner in blk.ops:
                        walk(inner)
    walk(module)
    return names


FORBIDDEN_AFTER_DECOMPOSE = {cls.name for cls in DECOMPOSITIONS}
FORBIDDEN_AFTER_FUSE = {cls.name for cls in S.SCALAR_OF_TENSOR} | {cls.name for cls in REDUCTIONS}


def check(arg_types: Sequence[TensorType], build: Build, inputs: Sequence[np.ndarray],
          decompose_alone: bool = True, rtol: float = 1e-5) -> ModuleOp:
    """Interpreter results before == after decompose (alone) == after decompose,fuse-elementwise."""
    module = make_module(arg_types, build)
    with np.errstate(all="ignore"):
        before = run(module, "f", *inputs)
    if decompose_alone:
        m2 = make_module(arg_types, build)
        run_pipeline(m2, "decompose")
        assert not remaining(m2) & FORBIDDEN_AFTER_DECOMPOSE
        with np.errstate(all="ignore"):
            assert_same(before, run(m2, "f", *inputs), rtol)
    run_pipeline(module, "decompose,fuse-elementwise")
    assert not remaining(module) & (FORBIDDEN_AFTER_DECOMPOSE | FORBIDDEN_AFTER_FUSE), remaining(module)
    for op in module.walk():
        if op.name.startswith(("tensor.", "scalar.")):
            assert op.loc == LOC, f"{op.name} lost its location"
    with np.errstate(all="ignore"):
        assert_same(before, run(module, "f", *inputs), rtol)
    return module


RNG = np.random.default_rng(1234)

# ---------------------------------------------------------------- elementwise ops

FLOAT_UNARY = ["neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
               "square", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "sigmoid",
               "softplus", "erf", "erfc", "floor", "ceil", "round", "relu", "isnan", "isinf", "isfinite"]
BINARY = ["add", "sub", "mul", "true_div", "int_div", "mod", "pow", "arctan2", "maximum", "minimum", "eq", "ne",
          "lt", "le", "gt", "ge", "binary_crossentropy"]
BITWISE = ["and", "or", "xor"]
SHAPES = [((3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 3)), ((0, 3), (3,)), ((2, 3), ())]


def cls_of(name: str) -> type[Operation]:
    from tensorir.ir.core import OP_REGISTRY
    return OP_REGISTRY[f"tensor.{name}"]


@pytest.mark.parametrize("name", FLOAT_UNARY)
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_unary_float(name: str, dtype: str) -> None:
    x = random_array((3, 5), dtype, RNG)
    check([ttype((None, 5), dtype)], op1(cls_of(name)), [x])


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square", "relu", "exp", "sqrt", "not", "floor"])
@pytest.mark.parametrize("dtype", ["i32", "i8", "ui8", "i1"])
def test_unary_int_and_bool(name: str, dtype: str) -> None:
    try:
        make_module([ttype((4,), dtype)], op1(cls_of(name)))
    except TirError:
        pytest.skip(f"{name} is not defined for {dtype} (numpy)")
    check([ttype((None,), dtype)], op1(cls_of(name)), [random_array((4,), dtype, RNG)])


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}-{s[1]}")
def test_binary_float_broadcasting(name: str, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    sa, sb = shapes
    a, b = random_array(sa, "f32", RNG), random_array(sb, "f64", RNG)
    # Half the dims dynamic: the runtime broadcasts what the types leave open.
    ta = ttype([None if k % 2 == 0 else d for k, d in enumerate(sa)], "f32")
    check([ta, ttype(sb, "f64")], op1(cls_of(name)), [a, b])


@pytest.mark.parametrize("name", BINARY[:10] + BITWISE)
@pytest.mark.parametrize("dtypes", [("i32", "i64"), ("i1", "i1"), ("ui8", "i8")])
def test_binary_int(name: str, dtypes: tuple[str, str]) -> None:
    types = [ttype((3, 4), dtypes[0]), ttype((4,), dtypes[1])]
    try:
        make_module(types, op1(cls_of(name)))
    except TirError:
        pytest.skip(f"{name} is not defined for {dtypes} (numpy)")
    a, b = random_array((3, 4), dtypes[0], RNG), random_array((4,), dtypes[1], RNG)
    if name == "pow":
        b = np.abs(b)
    if name in ("int_div", "mod", "true_div"):
        b = np.where(b == 0, 1, b).astype(b.dtype)
    check(types, op1(cls_of(name)), [a, b])


def test_where_clip_cast() -> None:
    c = random_array((3, 4), "i1", RNG)
    x, y = random_array((3, 4), "f32", RNG), random_array((4,), "f32", RNG)
    check([ttype((3, 4), "i1"), ttype((None, 4), "f32"), ttype((4,), "f32")], op1(T.WhereOp), [c, x, y])
    lo, hi = np.float32(-0.5), np.float32(0.5)
    check([ttype((3, 4), "f32"), ttype((), "f32"), ttype((), "f32")], op1(T.ClipOp), [x, lo, hi])
    xf = random_array((3, 4), "f32", RNG, special=False) * 10
    for dt in ["i32", "i8", "f64", "f16", "i1"]:
        check([ttype((3, 4), "f32")], op1(T.CastOp, dtype=scalar(dt)), [xf])
    check([ttype((3,), "i1")], op1(T.CastOp, dtype=scalar("f32")), [random_array((3,), "i1", RNG)])


def test_zero_d_constants_are_inlined() -> None:
    def build(b: Builder, args: list[Value]) -> list[Value]:
        m = b.create(T.MulOp, args[0], const(b, 2.0, "f32")).result
        return [b.create(T.AddOp, m, const(b, 1.0, "f32")).result]

    m = check([ttype((None, 4), "f32")], build, [random_array((3, 4), "f32", RNG)])
    fn = m.body.ops[0]
    assert [op.name for op in fn.body.ops] == ["tensor.generic", "func.return"]


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("cls", [T.SumOp, T.ProdOp, T.MaxOp, T.MinOp, T.AllOp, T.AnyOp])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32", "i8", "ui8", "i1"])
@pytest.mark.parametrize("axes, keep", [(None, False), ([1], False), ([0, 2], True), ([-1], True), ([], False)])
def test_reductions(cls: type[Operation], dtype: str, axes: list[int] | None, keep: bool) -> None:
    x = random_array((2, 3, 4), dtype, RNG)
    attrs: dict[str, Any] = {"keepdims": keep}
    if axes is not None:
        attrs["axes"] = axes
    check([ttype((None, 3, None), dtype)], op1(cls, **attrs), [x])


@pytest.mark.parametrize("cls", [T.SumOp, T.ProdOp, T.AllOp, T.AnyOp])
def test_reductions_over_empty_axes(cls: type[Operation]) -> None:
    x = np.zeros((3, 0), np.float32)
    check([ttype((3, 0), "f32")], op1(cls, axes=[1]), [x])
    check([ttype((None, None), "f32")], op1(cls), [x])


def test_reductions_of_0d_and_fused_producers() -> None:
    check([ttype((), "f32")], op1(T.SumOp), [np.float32(2.5)])
    check([ttype((), "i32")], op1(T.MaxOp, axes=[0]), [np.int32(-3)])

    def build(b: Builder, args: list[Value]) -> list[Value]:
        e = b.create(T.ExpOp, args[0]).result
        s = b.create(T.SumOp, e, axes=[1]).result
        return [b.create(T.LogOp, s).result]

    m = check([ttype((None, 6), "f64")], build, [random_array((4, 6), "f64", RNG, special=False)])
    assert [op.name for op in m.body.ops[0].body.ops] == ["tensor.generic", "tensor.generic", "func.return"]


def test_integer_sum_accumulates_in_i64() -> None:
    x = np.full((5, 1000), 2**30, np.int32)  # overflows i32
    m = check([ttype((None, None), "i32")], op1(T.SumOp, axes=[1]), [x])
    (out,) = run(m, "f", x)
    assert out.dtype == np.int64 and out[0] == 1000 * 2**30


@pytest.mark.parametrize("cls", [T.ArgmaxOp, T.ArgminOp])
@pytest.mark.parametrize("dtype", ["f32", "i32", "i1"])
def test_argmax_argmin(cls: type[Operation], dtype: str) -> None:
    x = random_array((4, 6), dtype, RNG, special=False)
    if dtype == "f32":
        x[1, 2] = x[1, 4] = np.nan  # first NaN wins
        x[2, :] = -np.inf
        x[3, :] = 1.0  # ties: the first index
        x[0, 5] = np.nan
    for axes, keep in [([1], False), ([0], True), (None, False), (None, True), ([-1], True)]:
        attrs: dict[str, Any] = {"keepdims": keep}
        if axes is not None:
            attrs["axes"] = axes
        check([ttype((None, 6), dtype)], op1(cls, **attrs), [x])
    check([ttype((6,), dtype)], op1(cls), [x[1]])
    check([ttype((), dtype)], op1(cls), [x[1, 1]])


# ---------------------------------------------------------------- composite ops (decompose)


@pytest.mark.parametrize("cls", [T.MeanOp, T.VarOp, T.StdOp])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32", "i1", "f16"])
@pytest.mark.parametrize("axes, keep", [(None, False), ([1], True), ([0, 2], False)])
def test_mean_var_std(cls: type[Operation], dtype: str, axes: list[int] | None, keep: bool) -> None:
    x = random_array((3, 4, 5), dtype, RNG, special=False)
    attrs: dict[str, Any] = {"keepdims": keep}
    if axes is not None:
        attrs["axes"] = axes
    check([ttype((None, 4, None), dtype)], op1(cls, **attrs), [x])
    check([ttype((3, 4, 5), dtype)], op1(cls, **attrs), [x])
    if cls is not T.MeanOp:
        for ddof in (1, 4, 7):  # ddof >= n: inf/nan as numpy
            check([ttype((None, 4, None), dtype)], op1(cls, ddof=ddof, **attrs), [x])


def test_mean_of_empty_and_special_values() -> None:
    check([ttype((None, None), "f32")], op1(T.MeanOp, axes=[1]), [np.zeros((3, 0), np.float32)])
    x = random_array((4, 6), "f64", RNG)
    for cls in (T.MeanOp, T.VarOp, T.StdOp):
        check([ttype((None, 6), "f64")], op1(cls, axes=[1]), [x])


SOFTMAX_ROWS = np.array([[1.0, 2.0, 3.0, 4.0], [-np.inf] * 4, [np.inf, 1.0, 2.0, np.inf], [np.nan, 1.0, 0.0, 2.0],
                         [1e30, -1e30, 1e30, 0.0], [-np.inf, 0.0, -np.inf, 1.0]])


@pytest.mark.parametrize("cls", [T.SoftmaxOp, T.LogSoftmaxOp, T.LogsumexpOp])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32", "i1"])
def test_softmax_family(cls: type[Operation], dtype: str) -> None:
    x = SOFTMAX_ROWS.astype(scalar(dtype).dtype) if dtype.startswith("f") else random_array((6, 4), dtype, RNG)
    for axis in (-1, 0):
        check([ttype((None, 4), dtype)], op1(cls, axis=axis), [x])
        check([ttype((6, 4), dtype)], op1(cls, axis=axis), [x])
    if cls is T.LogsumexpOp:
        check([ttype((None, None), dtype)], op1(cls, axis=1, keepdims=True), [x])
    y = random_array((2, 3, 4), "f32", RNG, special=False)
    check([ttype((2, None, 4), "f32")], op1(cls, axis=1), [y])


def test_softmax_family_over_empty_axes() -> None:
    x = np.zeros((3, 0), np.float32)
    for cls in (T.SoftmaxOp, T.LogSoftmaxOp, T.LogsumexpOp):
        check([ttype((3, 0), "f32")], op1(cls, axis=1), [x])
        # Dynamic and empty at run time: tensor.max refuses it, the fused max gives numpy's result.
        check([ttype((3, None), "f32")], op1(cls, axis=1), [x], decompose_alone=False)


def test_logsumexp_like_scipy() -> None:
    from scipy.special import logsumexp
    x = SOFTMAX_ROWS[:3]
    m = make_module([ttype((None, 4), "f64")], op1(T.LogsumexpOp, axis=1))
    run_pipeline(m, "decompose,fuse-elementwise")
    (out,) = run(m, "f", x)
    np.testing.assert_allclose(out, logsumexp(x, axis=1))
    assert out[1] == -np.inf and out[2] == np.inf


@pytest.mark.parametrize("shapes", [((5, 4), (5, 4)), ((2, 3, 4), (2, 3, 4)), ((4,), (4,)), ((5, 4), (1, 4))])
def test_categorical_crossentropy_one_hot(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    sp, stt = shapes
    p = RNG.random(sp).astype(np.float32) + 0.01
    t = (RNG.random(stt) < 0.3).astype(np.float32)
    check([ttype([None] * len(sp), "f32"), ttype(stt, "f32")], op1(T.CategoricalCrossentropyOp), [p, t])


@pytest.mark.parametrize("sp", [(5, 4), (2, 3, 4), (4,), (0, 4)])
@pytest.mark.parametrize("dyn", [False, True])
def test_categorical_crossentropy_indices(sp: tuple[int, ...], dyn: bool) -> None:
    p = RNG.random(sp).astype(np.float64) + 0.01
    t = RNG.integers(0, sp[-1], size=sp[:-1]).astype(np.int32)
    tp = ttype([None] * len(sp) if dyn else sp, "f64")
    tt = ttype([None] * (len(sp) - 1) if dyn else sp[:-1], "i32")
    check([tp, tt], op1(T.CategoricalCrossentropyOp), [p, t])


def test_categorical_crossentropy_index_out_of_range_raises() -> None:
    m = make_module([ttype((None, 4), "f32"), ttype((None,), "i64")], op1(T.CategoricalCrossentropyOp))
    run_pipeline(m, "decompose,fuse-elementwise")
    p = np.full((2, 4), 0.25, np.float32)
    with pytest.raises(TirError, match="out of bounds"):
        run(m, "f", p, np.array([0, 4]))
    with pytest.raises(TirError, match="out of bounds"):
        run(m, "f", p, np.array([-1, 0]))


@pytest.mark.parametrize("dtypes", [("f32", "f32"), ("f64", "f32"), ("f32", "i32"), ("f16", "f16")])
def test_binary_crossentropy(dtypes: tuple[str, str]) -> None:
    o = (RNG.random((3, 4)) * 0.98 + 0.01).astype(scalar(dtypes[0]).dtype)
    o[0, 0], o[0, 1] = 0.0, 1.0  # log(0): inf/nan where numpy has them
    t = (RNG.random((4,)) < 0.5).astype(scalar(dtypes[1]).dtype)
    check([ttype((None, 4), dtypes[0]), ttype((4,), dtypes[1])], op1(T.BinaryCrossentropyOp), [o, t])


@pytest.mark.parametrize("dtype", ["f32", "i32", "i1", "ui8"])
def test_relu(dtype: str) -> None:
    check([ttype((None, 3), dtype)], op1(T.ReluOp), [random_array((2, 3), dtype, RNG)])


@pytest.mark.parametrize("sa, sb", [((3,), (4,)), ((), (2,)), ((2, 3), (0,)), ((2, 2), (3, 1))])
@pytest.mark.parametrize("dyn", [False, True])
def test_outer(sa: tuple[int, ...], sb: tuple[int, ...], dyn: bool) -> None:
    a, b = random_array(sa, "f32", RNG), random_array(sb, "i32", RNG)
    ta = ttype([None] * len(sa) if dyn else sa, "f32")
    check([ta, ttype(sb, "i32")], op1(T.OuterOp), [a, b])


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_stack(axis: int) -> None:
    a, b, c = (random_array((3, 2), dt, RNG) for dt in ("f32", "f32", "i32"))
    types = [ttype((None, 2), "f32"), ttype((3, 2), "f32"), ttype((None, None), "i32")]
    check(types, op1(T.StackOp, axis=axis), [a, b, c])
    check([ttype((), "f32"), ttype((), "f32")], op1(T.StackOp, axis=0), [np.float32(1), np.float32(2)])


@pytest.mark.parametrize("shape, ndim", [((2, 3, 4), 1), ((2, 3, 4), 2), ((2, 3, 4), 3), ((), 1), ((3, 0), 2),
                                         ((0, 3), 1)])
@pytest.mark.parametrize("dyn", [False, True])
def test_flatten(shape: tuple[int, ...], ndim: int, dyn: bool) -> None:
    x = random_array(shape, "f32", RNG)
    tx = ttype([None if dyn and k != 1 else d for k, d in enumerate(shape)], "f32")
    check([tx], op1(T.FlattenOp, ndim=ndim), [x])


def test_squeeze_expand_dims_dimshuffle() -> None:
    x = random_array((1, 3, 1, 4), "f32", RNG)
    for tx in ([1, 3, 1, 4], [1, None, 1, None], [None, 3, 1, None]):
        t = ttype(tx, "f32")
        if tx[0] == 1:
            check([t], op1(T.SqueezeOp), [x])
        check([t], op1(T.SqueezeOp, axes=[2]), [x])
        check([t], op1(T.ExpandDimsOp, axes=[0, -1]), [x])
        check([t], op1(T.ExpandDimsOp, axes=[2]), [x])
        check([t], op1(T.DimshuffleOp, pattern=[3, "x", 1, 0]), [x])
        check([t], op1(T.DimshuffleOp, pattern=[0, 1, 2, 3]), [x])
        if tx[0] == 1:
            check([t], op1(T.DimshuffleOp, pattern=["x", 1, 3]), [x])
    check([ttype((), "i32")], op1(T.ExpandDimsOp, axes=[0]), [np.int32(3)])
    check([ttype((), "i32")], op1(T.DimshuffleOp, pattern=["x", "x"]), [np.int32(3)])


# ---------------------------------------------------------------- fusion structure


def test_value_used_by_two_groups_is_computed_once() -> None:
    def build(b: Builder, args: list[Value]) -> list[Value]:
        e = b.create(T.ExpOp, args[0]).result
        sq = b.create(T.MulOp, e, e).result
        return [b.create(T.TanhOp, sq).result, b.create(T.SumOp, sq).result]

    m = check([ttype((None,), "f64")], build, [random_array((5,), "f64", RNG)])
    exps = [op for op in m.walk() if op.name == "scalar.exp"]
    assert len(exps) == 1
    assert sum(op.name == "tensor.generic" for op in m.walk()) == 3  # (f64: a sum that needs no cast)


# ---------------------------------------------------------------- random expression DAGs

UNARY_POOL = [T.ExpOp, T.TanhOp, T.NegOp, T.AbsOp, T.SinOp, T.SqrtOp, T.LogOp, T.SigmoidOp, T.SquareOp]
BINARY_POOL = [T.AddOp, T.SubOp, T.MulOp, T.MaximumOp, T.MinimumOp, T.TrueDivOp, T.Arctan2Op]


@st.composite
def expression_dags(draw: st.DrawFn) -> tuple[list[TensorType], list[np.ndarray], Build]:
    rank = draw(st.integers(0, 3))
    full = [draw(st.sampled_from([1, 2, 3, 0] if k == 0 else [1, 2, 3])) for k in range(rank)]
    n_in = draw(st.integers(1, 3))
    types, arrays = [], []
    for _ in range(n_in):
        r = draw(st.integers(0, rank))
        shape = [draw(st.sampled_from([d, 1])) for d in full[rank - r:]]
        dyn = [draw(st.booleans()) for _ in shape]
        dtype = draw(st.sampled_from(["f32", "f64"]))
        types.append(ttype([None if d else s for s, d in zip(shape, dyn)], dtype))
        arrays.append(random_array(shape, dtype, np.random.default_rng(draw(st.integers(0, 99)))))
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(UNARY_POOL)), [draw(st.integers(0, 50))]))
        else:
            steps.append((draw(st.sampled_from(BINARY_POOL)), [draw(st.integers(0, 50)), draw(st.integers(0, 50))]))
    reduce_last = draw(st.sampled_from([None, T.SumOp, T.MaxOp, T.ArgmaxOp]))
    extra_out = draw(st.integers(0, 50))

    def build(b: Builder, args: list[Value]) -> list[Value]:
        values = list(args)
        for cls, picks in steps:
            values.append(b.create(cls, *[values[p % len(values)] for p in picks]).result)
        outs = [values[-1], values[extra_out % len(values)]]
        if reduce_last is not None and outs[0].type.rank:  # type: ignore[attr-defined]
            outs[0] = b.create(reduce_last, outs[0], axes=[0]).result
        return outs

    return types, arrays, build


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression_dags())
def test_random_expression_dags(case: tuple[list[TensorType], list[np.ndarray], Build]) -> None:
    types, arrays, build = case
    try:
        with np.errstate(all="ignore"):
            run(make_module(types, build), "f", *arrays)
    except TirError:
        return  # max/argmax over an empty axis: refused (statically or at run time) before any pass
    check(types, build, arrays, decompose_alone=False)


# ---------------------------------------------------------------- coverage (keep last)


def test_every_touched_op_is_exercised(request: pytest.FixtureRequest) -> None:
    here = [it for it in request.session.items if it.module is request.module]
    if len(here) < 100:
        pytest.skip("measures what the other tests of this file built: run the whole file")
    composite = {"mean", "var", "std", "softmax", "log_softmax", "logsumexp", "categorical_crossentropy",
                 "binary_crossentropy", "relu", "outer", "stack", "flatten", "expand_dims", "dimshuffle"}
    assert {cls.name.split(".")[1] for cls in DECOMPOSITIONS} == composite
    wanted = set(DECOMPOSITIONS) | set(S.SCALAR_OF_TENSOR) | set(REDUCTIONS)
    missing = sorted(c.name for c in wanted - EXERCISED)
    assert not missing, f"not exercised: {missing}"


def test_a_cast_is_recomputed_only_inside_fused_groups() -> None:
    """A cast read by a dot and a return is stored once; its elementwise and reduction users recompute it."""
    import tensorir
    from tensorir import tensor as TT

    a, w = TT.fmatrix("a"), TT.dmatrix("w")
    c = TT.cast(a, "float64")
    f = tensorir.function([a, w], [c, TT.dot(c, w), TT.exp(c), c.sum()])
    text = f.ir("fuse-elementwise")
    assert text.count("tensor.generic") == 3 and text.count("scalar.cast") == 3, text
    x, y = np.random.default_rng(0).random((3, 4)).astype(np.float32), np.random.default_rng(1).random((4, 2))
    x64 = x.astype(np.float64)
    for got, want in zip(f(x, y), [x64, x64 @ y, np.exp(x64), x64.sum()]):
        np.testing.assert_allclose(got, want)
