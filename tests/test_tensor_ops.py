"""Every tensor op (and the scalar dialect): interpreter vs numpy, inferred types, verifier errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from tensorir.dialects import builtin as B
from tensorir.dialects import func as F
from tensorir.dialects import scalar as S
from tensorir.dialects import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.attributes import DYN, Dense, Typed
from tensorir.ir.builder import Builder
from tensorir.ir.core import COMMUTATIVE, OP_REGISTRY, Operation, TirError, VerifyError
from tensorir.ir.printer import print_module
from tensorir.ir.types import FunctionType, ScalarType, TensorType, Type, f32, f64, i1, i32, i64, scalar
from tensorir.ir.verifier import verify
from tensorir.runtime.interpreter import run
from test_generic import GENERIC_OPS

RNG = np.random.default_rng(0)


def _type_of(a: np.ndarray, dynamic: bool) -> TensorType:
    return TensorType(tuple(None if dynamic else d for d in a.shape), scalar(a.dtype))


def build(cls: type[Operation], types: list[Type], attrs: dict[str, Any]) -> tuple[B.ModuleOp, Operation]:
    """A module with @f(args of `types`) returning one `cls` op (result type inferred), verified."""
    m = B.ModuleOp.empty()
    fn = F.FuncOp.create("f", types, [], [f"a{i}" for i in range(len(types))])
    m.body.append(fn)
    b = Builder.at_end(fn.body)
    op = b.create(cls, *fn.args, **attrs)
    fn.attributes["function_type"] = FunctionType(tuple(types), tuple(r.type for r in op.results))
    b.create(F.ReturnOp, *op.results)
    verify(m)
    return m, op


def eval_op(cls: type[Operation], arrays: list[Any], dynamic: bool = False, **attrs: Any) -> np.ndarray:
    """Run one op through the interpreter; check the rule's raw output against the inferred type."""
    arrays = [np.asarray(a) for a in arrays]
    m, op = build(cls, [_type_of(a, dynamic) for a in arrays], attrs)
    rtype = op.result.type
    assert isinstance(rtype, TensorType)
    raw = np.asarray(op.interpret(None, [a.copy() for a in arrays])[0])
    assert raw.dtype == rtype.dtype, f"{cls.name}: rule gives {raw.dtype}, inference says {rtype}"
    assert rtype.accepts(raw.shape), f"{cls.name}: rule gives shape {raw.shape}, inference says {rtype}"
    out = run(m, "f", *arrays)[0]
    # Every op round-trips through text: print -> parse -> print is a fixed point, the
    # generic form reads back to the same IR, and the reparsed function computes the same.
    text = print_module(m)
    again = parse(text)
    assert print_module(again) == text, f"{cls.name}: print(parse(text)) differs:\n{text}"
    assert print_module(parse(print_module(m, generic=True))) == text, f"{cls.name}: generic form differs"
    out2 = run(again, "f", *arrays)[0]
    np.testing.assert_array_equal(out, out2)
    return out


def expect_error(cls: type[Operation], types: list[Type], attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(VerifyError) as info:
        build(cls, types, attrs)
    text = str(info.value)
    assert text.startswith(f"'{cls.name}' op"), text
    assert message in text, text


def close(out: np.ndarray, ref: Any) -> None:
    ref = np.asarray(ref)
    assert out.dtype == ref.dtype, (out.dtype, ref.dtype)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    if out.dtype.kind in "fc":
        tol = 1e-3 if out.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(out, ref)


# ---------------------------------------------------------------- elementwise table

POS = RNG.uniform(0.1, 0.9, (2, 3)).astype(np.float32)
POS_ROW = RNG.uniform(0.1, 0.9, (3,)).astype(np.float32)
INTS = RNG.integers(-5, 6, (2, 3)).astype(np.int32)
INTS_NZ = np.array([3, -2, 4], np.int32)
BOOLS = RNG.random((2, 3)) > 0.5
BOOL_ROW = np.array([True, False, True])

UNARY_FLOAT = ["neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
               "square", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "sigmoid",
               "softplus", "erf", "erfc", "floor", "ceil", "round", "relu"]
BINARY_FLOAT = ["add", "sub", "mul", "true_div", "int_div", "mod", "pow", "arctan2", "maximum", "minimum",
                "eq", "ne", "lt", "le", "gt", "ge", "binary_crossentropy"]

# Independent numpy/scipy references (not the op's own `fn`).
REFS: dict[str, Callable[..., Any]] = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1,
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt,
    "rsqrt": lambda x: (1 / np.sqrt(x)).astype(x.dtype), "square": lambda x: x * x, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "arcsin": np.arcsin,
    "arccos": np.arccos, "arctan": np.arctan, "sigmoid": lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype),
    "softplus": lambda x: np.log1p(np.exp(x)), "erf": scipy.special.erf, "erfc": scipy.special.erfc,
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "relu": lambda x: np.where(x > 0, x, 0).astype(x.dtype),
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "true_div": np.true_divide, "int_div": np.floor_divide,
    "mod": np.mod, "pow": np.power, "arctan2": np.arctan2, "maximum": np.maximum, "minimum": np.minimum,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "binary_crossentropy": lambda o, t: -(t * np.log(o) + (1 - t) * np.log(1 - o)),
    "and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor, "not": np.logical_not,
}


def op_class(name: str) -> type[Operation]:
    return OP_REGISTRY[f"tensor.{name}"]


TESTED: set[str] = set()
ERROR_TESTED: set[str] = set()


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", UNARY_FLOAT)
def test_unary(name: str, dynamic: bool) -> None:
    out = eval_op(op_class(name), [POS - 0.3 if name in ("neg", "abs", "sign", "relu", "round") else POS],
                  dynamic)
    x = POS - 0.3 if name in ("neg", "abs", "sign", "relu", "round") else POS
    close(out, REFS[name](x))


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", BINARY_FLOAT)
def test_binary(name: str, dynamic: bool) -> None:
    out = eval_op(op_class(name), [POS, POS_ROW], dynamic)
    close(out, REFS[name](POS, POS_ROW))


@pytest.mark.parametrize("name", ["and", "or", "xor"])
def test_logical(name: str) -> None:
    close(eval_op(op_class(name), [BOOLS, BOOL_ROW]), REFS[name](BOOLS, BOOL_ROW))
    close(eval_op(op_class(name), [INTS, INTS_NZ], True), getattr(np, f"bitwise_{name}")(INTS, INTS_NZ))


def test_not() -> None:
    close(eval_op(T.NotOp, [BOOLS]), ~BOOLS)
    close(eval_op(T.NotOp, [INTS], True), np.invert(INTS))


SPECIALS = np.array([[1.5, np.nan, np.inf], [-np.inf, 0.0, -2.0]])


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_predicates(name: str) -> None:
    for a in (SPECIALS, SPECIALS.astype(np.float32), INTS, BOOLS):
        close(eval_op(op_class(name), [a], a.dtype == np.float32), getattr(np, name)(a))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumulative(name: str) -> None:
    for a, axis in ((POS, 1), (POS, -2), (INTS, 0), (BOOLS, 1), (np.zeros((0, 3), np.float32), 0)):
        close(eval_op(op_class(name), [a], True, axis=axis), getattr(np, name)(a, axis=axis))


def test_sorting() -> None:
    ties = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf], [np.nan, 0.0, np.nan, 0.0, np.inf]])
    for a, axis in ((ties, 1), (ties, 0), (INTS, 1), (BOOLS, -1), (np.zeros((0, 3), np.float32), 0)):
        close(eval_op(T.SortOp, [a], True, axis=axis), np.sort(a, axis=axis, kind="stable"))
        order = eval_op(T.ArgsortOp, [a], True, axis=axis)
        close(order, np.argsort(a, axis=axis, kind="stable"))
        close(eval_op(T.TakeAlongAxisOp, [a, order], True, axis=axis), np.take_along_axis(a, order, axis))
    picked = eval_op(T.TakeAlongAxisOp, [POS, np.array([[-1], [0]], np.int32)], axis=1)
    close(picked, np.array([[POS[0, -1]], [POS[1, 0]]]))
    with pytest.raises(TirError, match="index 3 is out of bounds for axis 1 of size 3"):
        eval_op(T.TakeAlongAxisOp, [POS, np.array([[3], [0]])], axis=1)


def test_special_elementwise_values() -> None:
    close(eval_op(T.RoundOp, [np.array([0.5, 1.5, 2.5, -0.5], np.float64)]), np.array([0.0, 2.0, 2.0, -0.0]))
    close(eval_op(T.SoftplusOp, [np.array([-1000.0, 0.0, 1000.0])]), np.array([0.0, np.log(2.0), 1000.0]))
    close(eval_op(T.IntDivOp, [INTS, INTS_NZ]), np.floor_divide(INTS, INTS_NZ))
    close(eval_op(T.ModOp, [np.array([-7, 7], np.int64), np.array([3, -3], np.int64)]), np.array([2, -2]))
    close(eval_op(T.TrueDivOp, [INTS, INTS_NZ]), INTS / INTS_NZ)
    close(eval_op(T.ReluOp, [INTS]), np.maximum(INTS, 0).astype(np.int32))
    close(eval_op(T.SigmoidOp, [np.array([-800.0, 0.0, 800.0])]), np.array([0.0, 0.5, 1.0]))
    close(eval_op(T.ExpOp, [np.array(1.0, np.float32)]), np.exp(np.float32(1.0)))  # 0-d
    assert T.AddOp.traits >= {COMMUTATIVE} and COMMUTATIVE not in T.SubOp.traits
    for name in ("add", "mul", "maximum", "minimum", "eq", "ne", "and", "or", "xor"):
        assert op_class(name).traits >= {COMMUTATIVE}, name


@pytest.mark.parametrize("dynamic", [False, True])
def test_clip_where_cast(dynamic: bool) -> None:
    lo, hi = np.float32(0.3), np.array([0.5, 0.6, 0.7], np.float32)
    close(eval_op(T.ClipOp, [POS, lo, hi], dynamic), np.clip(POS, lo, hi))
    close(eval_op(T.WhereOp, [BOOLS, POS, INTS], dynamic), np.where(BOOLS, POS, INTS))
    close(eval_op(T.CastOp, [POS * 10], dynamic, dtype=i32), (POS * 10).astype(np.int32))
    close(eval_op(T.CastOp, [INTS], dynamic, dtype=i1), INTS.astype(bool))


# ---------------------------------------------------------------- hypothesis: elementwise binary

ALL_BINARY = [*BINARY_FLOAT, "and", "or", "xor"]
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _values(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, nonneg: bool) -> np.ndarray:
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind == "i":
        return rng.integers(0 if nonneg else -4, 5, shape).astype(dtype)
    return rng.uniform(0.05 if nonneg else -2, 2, shape).astype(dtype)


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(ALL_BINARY), shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                                                min_side=0, max_side=3),
       dt=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)), dynamic=st.booleans(), seed=st.integers(0, 99))
def test_binary_hypothesis(name: str, shapes: Any, dt: tuple[Any, Any], dynamic: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cls = op_class(name)
    a = _values(rng, shapes.input_shapes[0], dt[0], name == "pow")
    b = _values(rng, shapes.input_shapes[1], dt[1], name == "pow")
    try:
        with np.errstate(all="ignore"):
            ref = np.asarray(cls.fn(a, b))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        expect_error(cls, [_type_of(a, dynamic), _type_of(b, dynamic)], {}, "is not defined for element types")
        return
    close(eval_op(cls, [a, b], dynamic), ref)


# ---------------------------------------------------------------- reductions

REDUCTIONS = ["sum", "prod", "max", "min", "mean", "var", "std", "all", "any"]
NP_REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean, "var": np.var,
             "std": np.std, "all": np.all, "any": np.any}


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions(name: str, dynamic: bool) -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    f = NP_REDUCE[name]
    close(eval_op(op_class(name), [x], dynamic), f(x))
    close(eval_op(op_class(name), [x], dynamic, axes=[0, -1], keepdims=True), f(x, axis=(0, 2), keepdims=True))
    close(eval_op(op_class(name), [INTS], dynamic, axes=[1]), f(INTS, axis=1))


def test_var_std_ddof() -> None:
    x = RNG.standard_normal((4, 5))
    close(eval_op(T.VarOp, [x], axes=[1], ddof=1), np.var(x, axis=1, ddof=1))
    close(eval_op(T.StdOp, [x], True, ddof=1), np.std(x, ddof=1))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(REDUCTIONS), shape=st.lists(st.integers(0, 3), max_size=3).map(tuple),
       data=st.data(), keep=st.booleans(), dtype=st.sampled_from([np.float32, np.float64, np.int32, np.bool_]))
def test_reduction_hypothesis(name: str, shape: tuple[int, ...], data: Any, keep: bool, dtype: Any) -> None:
    axes = data.draw(st.none() | st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True)
                     if shape else st.none())
    x = _values(np.random.default_rng(1), shape, dtype, False)
    cls = op_class(name)
    attrs: dict[str, Any] = {"keepdims": keep}
    ax = None if axes is None else tuple(axes)
    if axes is not None:
        attrs["axes"] = axes
    reduced = range(len(shape)) if ax is None else ax
    if name in ("max", "min") and any(shape[a] == 0 for a in reduced):
        expect_error(cls, [_type_of(x, False)], attrs, "reduction over an empty axis has no identity")
        return
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NP_REDUCE[name](x, axis=ax, keepdims=keep)
    close(eval_op(cls, [x], **attrs), ref)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax(name: str, dynamic: bool) -> None:
    x = RNG.standard_normal((3, 4))
    f = getattr(np, name)
    close(eval_op(op_class(name), [x], dynamic), f(x))
    close(eval_op(op_class(name), [x], dynamic, axes=[1]), f(x, axis=1))
    close(eval_op(op_class(name), [x], dynamic, axes=[0], keepdims=True), f(x, axis=0, keepdims=True))
    close(eval_op(op_class(name), [x], dynamic, keepdims=True), f(x, keepdims=True))


# ---------------------------------------------------------------- softmax family, crossentropy


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return scipy.special.softmax(x, axis=axis).astype(x.dtype)


@pytest.mark.parametrize("dynamic", [False, True])
def test_softmax_family(dynamic: bool) -> None:
    x = (RNG.standard_normal((3, 5)) * 50).astype(np.float32)
    close(eval_op(T.SoftmaxOp, [x], dynamic), _np_softmax(x, -1))
    close(eval_op(T.SoftmaxOp, [x], dynamic, axis=0), _np_softmax(x, 0))
    close(eval_op(T.LogSoftmaxOp, [x], dynamic), scipy.special.log_softmax(x, axis=-1).astype(np.float32))
    close(eval_op(T.LogsumexpOp, [x], dynamic), scipy.special.logsumexp(x, axis=-1).astype(np.float32))
    close(eval_op(T.LogsumexpOp, [x], dynamic, axis=0, keepdims=True),
          scipy.special.logsumexp(x, axis=0, keepdims=True).astype(np.float32))
    big = np.array([1000.0, 1000.0])
    close(eval_op(T.SoftmaxOp, [big]), np.array([0.5, 0.5]))
    close(eval_op(T.LogsumexpOp, [big]), np.array(1000.0 + np.log(2.0)))


@pytest.mark.parametrize("dynamic", [False, True])
def test_categorical_crossentropy(dynamic: bool) -> None:
    p = _np_softmax(RNG.standard_normal((4, 3)).astype(np.float32), -1)
    idx = np.array([0, 2, 1, 2], np.int64)
    onehot = np.eye(3, dtype=np.float32)[idx]
    close(eval_op(T.CategoricalCrossentropyOp, [p, onehot], dynamic), -np.sum(onehot * np.log(p), axis=-1))
    close(eval_op(T.CategoricalCrossentropyOp, [p, idx], dynamic), -np.log(p[np.arange(4), idx]))


# ---------------------------------------------------------------- linear algebra


@pytest.mark.parametrize("dynamic", [False, True])
def test_dot_matmul_outer(dynamic: bool) -> None:
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))
    v, w = RNG.standard_normal(4), RNG.standard_normal(4)
    t3 = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    for x, y in [(a, b), (a, v), (v, b), (v, w), (np.array(2.0), a), (a, np.array(3, np.int32)), (a, t3)]:
        close(eval_op(T.DotOp, [x, y], dynamic), np.dot(x, y))
    for x, y in [(a, b), (a, v), (v, b), (v, w), (RNG.standard_normal((2, 1, 3, 4)), t3)]:
        close(eval_op(T.MatmulOp, [x, y], dynamic), np.matmul(x, y))
    close(eval_op(T.OuterOp, [a, v], dynamic), np.outer(a, v))


# ---------------------------------------------------------------- shape ops

X234 = RNG.standard_normal((2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("dynamic", [False, True])
def test_shape_ops(dynamic: bool) -> None:
    n = np.array(4, np.int64)
    close(eval_op(T.ShapeOp, [X234], dynamic), np.array([2, 3, 4]))
    close(eval_op(T.ReshapeOp, [X234], dynamic, shape=[6, -1]), X234.reshape(6, -1))
    close(eval_op(T.ReshapeOp, [X234, n], dynamic, shape=[DYN, -1]), X234.reshape(4, -1))
    close(eval_op(T.TransposeOp, [X234], dynamic), X234.transpose())
    close(eval_op(T.TransposeOp, [X234], dynamic, perm=[1, 0, 2]), X234.transpose(1, 0, 2))
    close(eval_op(T.ExpandDimsOp, [X234], dynamic, axes=[0, -1]), np.expand_dims(X234, (0, -1)))
    close(eval_op(T.SqueezeOp, [X234[:, :1]], dynamic, axes=[1]), X234[:, 0])
    close(eval_op(T.BroadcastToOp, [POS_ROW, np.array(2)], dynamic, shape=[4, DYN, 3]),
          np.broadcast_to(POS_ROW, (4, 2, 3)))
    close(eval_op(T.AllocOp, [np.float32(1.5), np.array(2)], dynamic, shape=[DYN, 3]), np.full((2, 3), 1.5, np.float32))
    close(eval_op(T.FlattenOp, [X234], dynamic), X234.reshape(-1))
    close(eval_op(T.FlattenOp, [X234], dynamic, ndim=2), X234.reshape(2, 12))
    close(eval_op(T.ConcatenateOp, [X234, X234[:, :1].astype(np.float64)], dynamic, axis=1),
          np.concatenate([X234, X234[:, :1].astype(np.float64)], axis=1))
    close(eval_op(T.StackOp, [X234, X234], dynamic, axis=-1), np.stack([X234, X234], axis=-1))
    close(eval_op(T.DimshuffleOp, [X234], dynamic, pattern=[2, "x", 0, 1]), X234.transpose(2, 0, 1)[:, None])


def test_static_only_shape_ops() -> None:
    y = X234[:, :1]
    close(eval_op(T.DimshuffleOp, [y], pattern=["x", 2, 0]), y[:, 0].T[None])
    close(eval_op(T.SqueezeOp, [y]), y[:, 0])
    close(eval_op(T.DimshuffleOp, [np.float32(2.0)], pattern=["x", "x"]), np.full((1, 1), 2.0, np.float32))


def test_static_sizes_from_constants() -> None:
    m = B.ModuleOp.empty()
    fn = F.FuncOp.create("f", [TensorType((None,), f32)], [TensorType((3, 2), f32)], ["x"])
    m.body.append(fn)
    b = Builder.at_end(fn.body)
    n = b.create(T.ConstantOp, value=Typed(3, i64)).result
    assert T.static_int(n) == 3 and T.static_int(fn.args[0]) is None
    z = b.create(T.ZerosOp, n, shape=[DYN, 2], dtype=f32).result
    assert z.type == TensorType((3, 2), f32)
    r = b.create(T.ReshapeOp, fn.args[0], n, shape=[DYN, 2]).result
    assert r.type == TensorType((3, 2), f32)
    b.create(F.ReturnOp, b.create(T.AddOp, z, r).result)
    verify(m)
    close(run(m, "f", np.arange(6, dtype=np.float32))[0], np.arange(6, dtype=np.float32).reshape(3, 2))
    assert "tensor.reshape %x sizes %0 {shape = [?, 2]}" in print_module(m)


# ---------------------------------------------------------------- indexing


@pytest.mark.parametrize("dynamic", [False, True])
def test_subtensor(dynamic: bool) -> None:
    x = RNG.standard_normal((5, 6, 7)).astype(np.float32)
    i = np.array(3, np.int64)
    close(eval_op(T.SubtensorOp, [x, i], dynamic, begin=[1, None, DYN], end=[None, None, None],
                  step=[None, 2, None], index_dims=[2]), x[1:, ::2, 3])
    close(eval_op(T.SubtensorOp, [x], dynamic, begin=[None], end=[None], step=[-2]), x[::-2])
    close(eval_op(T.SubtensorOp, [x, np.array(-2, np.int32), np.array(1)], dynamic, begin=[DYN, 4], end=[None, DYN],
                  step=[None, -1]), x[-2:, 4:1:-1])
    close(eval_op(T.SubtensorOp, [x], dynamic, begin=[0, 1, -1], index_dims=[0, 1, 2]), x[0, 1, -1])
    close(eval_op(T.SubtensorOp, [x], dynamic), x)


def test_subtensor_static_shape() -> None:
    _, op = build(T.SubtensorOp, [TensorType((5, None, 7), f32)],
                  {"begin": [1, None, 2], "end": [None, None, -1], "step": [None, 2, 3]})
    assert op.result.type.shape == (4, None, 2)


@pytest.mark.parametrize("dynamic", [False, True])
def test_set_inc_subtensor(dynamic: bool) -> None:
    x = RNG.standard_normal((4, 3))
    y = RNG.standard_normal(3).astype(np.float32)
    ref = x.copy()
    ref[1:3] = y
    close(eval_op(T.SetSubtensorOp, [x, y], dynamic, begin=[1], end=[3]), ref)
    ref = x.copy()
    ref[np.int64(2)] += 5.0
    close(eval_op(T.IncSubtensorOp, [x, np.array(5.0), np.array(2)], dynamic, begin=[DYN], index_dims=[0]), ref)
    ref = x.copy()
    ref[::2, 1:] += 1.0
    close(eval_op(T.IncSubtensorOp, [x, np.ones((2, 2))], dynamic, begin=[None, 1], end=[None, None], step=[2, None]),
          ref)


@pytest.mark.parametrize("dynamic", [False, True])
def test_take_family(dynamic: bool) -> None:
    x = RNG.standard_normal((5, 3))
    idx = np.array([[0, 4], [-1, 1]])
    close(eval_op(T.TakeOp, [x, idx], dynamic, axis=0), np.take(x, idx, axis=0))
    close(eval_op(T.TakeOp, [x, idx % 3], dynamic, axis=1), np.take(x, idx % 3, axis=1))
    close(eval_op(T.TakeOp, [x, idx], dynamic), np.take(x, idx))
    rep = np.array([0, 2, 0], np.int32)
    y = RNG.standard_normal((3, 3))
    ref = x.copy()
    np.add.at(ref, rep, y)
    close(eval_op(T.IncTakeOp, [x, rep, y], dynamic), ref)
    ref = x.copy()
    np.add.at(ref, (slice(None), rep), 1.0)
    close(eval_op(T.IncTakeOp, [x, rep, np.array(1.0)], dynamic, axis=1), ref)
    ref = x.copy()
    ref[[1, 3]] = y[0]
    close(eval_op(T.SetTakeOp, [x, np.array([1, 3]), y[0]], dynamic), ref)


def test_runtime_errors() -> None:
    m, _ = build(T.PowOp, [TensorType((2,), i64), TensorType((2,), i64)], {})
    with pytest.raises(TirError, match="'tensor.pow' op integers to negative integer powers are not allowed"):
        run(m, "f", np.array([2, 3]), np.array([1, -1]))
    m, _ = build(T.ReshapeOp, [TensorType((None,), f64)], {"shape": [4]})
    with pytest.raises(TirError, match="^cannot reshape 3 elements into a shape of 4 elements$"):  # as on C
        run(m, "f", np.zeros(3))


def test_runtime_index_errors() -> None:
    m, _ = build(T.TakeOp, [TensorType((None,), f64), TensorType((None,), i64)], {"axis": 0})
    with pytest.raises(TirError, match="'tensor.take' op index 5 is out of bounds for axis 0 of size 3"):
        run(m, "f", np.zeros(3), np.array([0, 5]))
    m, _ = build(T.SubtensorOp, [TensorType((None,), f64)], {"begin": [4], "index_dims": [0]})
    with pytest.raises(TirError, match="^'tensor.subtensor' op index 4 is out of bounds for axis 0 of size 3$"):
        run(m, "f", np.zeros(3))


# ---------------------------------------------------------------- creation


@pytest.mark.parametrize("dynamic", [False, True])
def test_creation(dynamic: bool) -> None:
    n = np.array(2, np.int64)
    close(eval_op(T.ZerosOp, [n], dynamic, shape=[DYN, 3], dtype=f32), np.zeros((2, 3), np.float32))
    close(eval_op(T.OnesOp, [], dynamic, shape=[2, 0]), np.ones((2, 0)))
    close(eval_op(T.EyeOp, [np.array(3)], dynamic, n=DYN, m=4, k=1, dtype=i32), np.eye(3, 4, 1, dtype=np.int32))
    close(eval_op(T.EyeOp, [], dynamic, n=3), np.eye(3))
    close(eval_op(T.ArangeOp, [np.array(7, np.int32)], dynamic, stop=DYN, step=2), np.arange(0, np.int32(7), 2))
    close(eval_op(T.ArangeOp, [], dynamic, start=0.5, stop=3, step=0.5), np.arange(0.5, 3, 0.5))
    close(eval_op(T.ArangeOp, [], dynamic, start=5, stop=0, step=-2, dtype=f32), np.arange(5, 0, -2, dtype=np.float32))
    _, op = build(T.ArangeOp, [], {"start": 0.5, "stop": 3, "step": 0.5})
    assert op.result.type.shape == (5,)
    close(eval_op(T.ConstantOp, [], dynamic, value=Dense(np.arange(3.0))), np.arange(3.0))


# ---------------------------------------------------------------- verifier errors

TF = TensorType
ERRORS: list[tuple[str, list[Type], dict[str, Any], str]] = [
    ("add", [TF((3, 4), f32), TF((5,), f32)], {}, "operand shapes (3, 4) and (5,) do not broadcast"),
    ("grad", [TF((3,), f32), TF((3,), f32)], {}, "cost must be a 0-d float tensor, got tensor<3xf32>"),
    ("grad", [TF((), i32), TF((3,), f32)], {}, "cost must be a 0-d float tensor, got tensor<i32>"),
    ("grad", [TF((), f32), TF((3,), i32)], {}, "cannot differentiate with respect to a tensor of i32"),
    ("grad", [TF((), f32), TF((3,), f32)], {"disconnected_inputs": "loud"},
     "disconnected_inputs must be one of ['raise', 'warn', 'ignore'], got 'loud'"),
    ("grad", [TF((), f32), TF((3,), f32)], {"consider_constant": 2},
     "consider_constant 2 and known_grads 0 need 2 + 2*0 of the 1 wrt operands"),
    ("grad", [TF((), f32), TF((3,), f32), TF((3,), f32), TF((2,), f32)], {"known_grads": 1},
     "known gradient #0 has type tensor<2xf32>, its value tensor<3xf32>"),
    ("stop_gradient", [f32], {}, "must be a tensor"),
    ("gemm", [TF((2, 3), f32), TF((3, 4), f64)], {}, "operands must have one element type, f32 or f64, got f32, f64"),
    ("and", [TF((3,), f32), TF((3,), f32)], {}, "is not defined for element types (f32, f32)"),
    ("or", [TF((3,), f64), TF((3,), i1)], {}, "is not defined for element types (f64, i1)"),
    ("xor", [TF((3,), f32), TF((3,), i32)], {}, "is not defined for element types"),
    ("not", [TF((3,), f32)], {}, "is not defined for element types (f32)"),
    ("neg", [TF((3,), i1)], {}, "is not defined for element types (i1)"),
    ("isnan", [f32], {}, "operand must be a tensor, got f32"),
    ("isinf", [TF((3,), f32), TF((3,), f32)], {}, "expects 1 operand, got 2"),
    ("isfinite", [TF((3,), f32), TF((3,), f32)], {}, "expects 1 operand, got 2"),
    ("sign", [TF((3,), i1)], {}, "is not defined for element types (i1)"),
    ("sub", [TF((3,), i1), TF((3,), i1)], {}, "is not defined for element types (i1, i1)"),
    ("clip", [TF((3,), f32), TF((2,), f32), TF((), f32)], {}, "do not broadcast"),
    ("where", [TF((2,), i1), TF((3,), f32), TF((3,), f32)], {}, "do not broadcast"),
    ("cast", [TF((3,), f32)], {}, "requires attribute 'dtype'"),
    ("cast", [TF((3,), f32)], {"dtype": 3}, "attribute 'dtype' must be"),
    ("sum", [TF((3, 4), f32)], {"axes": [2]}, "axis 2 is out of range for a tensor of rank 2"),
    ("sum", [TF((3, 4), f32)], {"axes": [1, -1]}, "repeated axis in [1, -1]"),
    ("max", [TF((0, 4), f32)], {"axes": [0]}, "reduction over an empty axis has no identity"),
    ("min", [TF((3, 0), f32)], {}, "reduction over an empty axis has no identity"),
    ("argmax", [TF((3, 0), f32)], {"axes": [1]}, "reduction over an empty axis has no identity"),
    ("argmin", [TF((3, 4), f32)], {"axes": [0, 1]}, "reduces over exactly one axis, got axes [0, 1]"),
    ("prod", [TF((3,), f32)], {"axes": [1]}, "axis 1 is out of range for a tensor of rank 1"),
    ("all", [TF((3,), f32)], {"axes": 0}, "attribute 'axes' must be an array"),
    ("any", [TF((2, 3), f32)], {"axes": [0, 0]}, "repeated axis in [0, 0]"),
    ("var", [TF((3,), f32)], {"ddof": -1}, "ddof must be non-negative"),
    ("std", [TF((3,), f32)], {"axes": [-2]}, "axis -2 is out of range"),
    ("mean", [TF((3,), f32)], {"keepdims": 1}, "attribute 'keepdims' must be a boolean"),
    ("softmax", [TF((), f32)], {}, "requires a tensor of rank at least 1"),
    ("cumsum", [TF((), f32)], {}, "requires a tensor of rank at least 1"),
    ("sort", [TF((3, 4), f32)], {"axis": -3}, "axis -3 is out of range for a tensor of rank 2"),
    ("argsort", [TF((), i32)], {}, "requires a tensor of rank at least 1"),
    ("take_along_axis", [TF((3, 4), f32), TF((3, 2), f32)], {"axis": 1}, "indices must be integers, got f32"),
    ("take_along_axis", [TF((3, 4), f32), TF((2, 2), i64)], {"axis": 1},
     "indices and x differ in dimension 0: sizes 2 and 3"),
    ("take_along_axis", [TF((3, 4), f32), TF((3,), i64)], {"axis": 0}, "indices of rank 1 for a tensor of rank 2"),
    ("cumprod", [TF((3, 4), f32)], {"axis": 2}, "axis 2 is out of range for a tensor of rank 2"),
    ("log_softmax", [TF((3, 4), f32)], {"axis": 2}, "axis 2 is out of range for a tensor of rank 2"),
    ("logsumexp", [TF((3, 4), f32)], {"axis": "a"}, "attribute 'axis' must be an integer"),
    ("categorical_crossentropy", [TF((4, 3), f32), TF((4,), f32)], {}, "must hold integer class indices"),
    ("categorical_crossentropy", [TF((4, 3), f32), TF((5,), i64)], {}, "do not match coding_dist"),
    ("dot", [TF((2, 3), f32), TF((4, 5), f32)], {}, "contraction dims 3 and 4 do not match"),
    ("matmul", [TF((2, 3), f32), TF((), f32)], {}, "operands must have rank at least 1"),
    ("matmul", [TF((2, 2, 3), f32), TF((3, 3, 4), f32)], {}, "do not broadcast"),
    ("outer", [TF((3,), f32), TF((3,), ScalarType("f16"))], {"x": 1}, ""),  # see test_outer_error
    ("shape", [TF((3,), f32)], {"x": 1}, ""),  # see test_shape_error
    ("reshape", [TF((2, 3), f32)], {"shape": [4, -1]}, "cannot reshape a tensor of shape (2, 3) into shape (4, -1)"),
    ("reshape", [TF((2, 3), f32)], {"shape": [4, 2]}, "(6 elements) into shape (4, 2) (8 elements)"),
    ("reshape", [TF((2, 3), f32)], {"shape": [-1, -1]}, "has more than one -1"),
    ("reshape", [TF((2, 3), f32), TF((), f32)], {"shape": [DYN, 3]},
     "dynamic operand #0 must be an index or a 0-d integer tensor"),
    ("reshape", [TF((2, 3), f32)], {"shape": [DYN, 3]}, "has 1 '?' entry but 0 dynamic operands"),
    ("dimshuffle", [TF((2, 3), f32)], {"pattern": [1, "x"]}, "dimension 0 of size 2 is dropped by the pattern"),
    ("dimshuffle", [TF((2, None), f32)], {"pattern": [0]}, "dimension 1 of size ? is dropped"),
    ("dimshuffle", [TF((2, 3), f32)], {"pattern": [0, 0, 1]}, "repeats dim 0"),
    ("transpose", [TF((2, 3), f32)], {"perm": [0, 0]}, "perm [0, 0] is not a permutation of the 2 dims"),
    ("expand_dims", [TF((2, 3), f32)], {"axes": [3]}, "axis 3 is out of range for a tensor of rank 3"),
    ("squeeze", [TF((2, 3), f32)], {"axes": [0]}, "cannot squeeze dimension 0 of size 2"),
    ("broadcast_to", [TF((3,), f32)], {"shape": [2, 4]}, "operand shape (3,) does not broadcast to (2, 4)"),
    ("alloc", [TF((2, 3), f32)], {"shape": [3]}, "operand shape (2, 3) does not broadcast to (3,)"),
    ("flatten", [TF((2, 3), f32)], {"ndim": 3}, "ndim 3 must be in [1, 2] for a tensor of rank 2"),
    ("concatenate", [TF((2, 3), f32), TF((2, 4), f32)], {}, "differ in dimension 1"),
    ("concatenate", [TF((2, 3), f32), TF((3,), f32)], {}, "inputs have ranks [2, 1], not all equal"),
    ("concatenate", [], {}, "needs at least one input"),
    ("stack", [TF((2, 3), f32), TF((2, 4), f32)], {}, "input shapes (2, 3), (2, 4) differ"),
    ("stack", [TF((2,), f32)], {"axis": 2}, "axis 2 is out of range for a tensor of rank 2"),
    ("subtensor", [TF((5, 6), f32)], {"begin": [7], "index_dims": [0]}, "index 7 is out of bounds for axis 0"),
    ("subtensor", [TF((5, 6), f32)], {"begin": [1, 2], "end": [3]}, "begin, end and step have different lengths"),
    ("subtensor", [TF((5, 6), f32)], {"begin": [None], "step": [0]}, "slice step of dim 0 is zero"),
    ("subtensor", [TF((5,), f32)], {"begin": [1, 2]}, "slices 2 dims of a tensor of rank 1"),
    ("subtensor", [TF((5,), f32)], {"begin": [1], "end": [2], "index_dims": [0]}, "must have none as end and step"),
    ("set_subtensor", [TF((5, 3), f32), TF((2,), f32)], {"begin": [1], "end": [3]},
     "value shape (2,) does not broadcast to (2, 3)"),
    ("inc_subtensor", [TF((5, 3), i32), TF((3,), f32)], {"begin": [1], "index_dims": [0]},
     "cannot store f32 values into a tensor of i32"),
    ("take", [TF((5, 3), f32), TF((2,), f32)], {"axis": 0}, "indices must be integers, got f32"),
    ("take", [TF((5, 3), f32), TF((2,), i64)], {"axis": 2}, "axis 2 is out of range"),
    ("set_take", [TF((5, 3), f32), TF((2,), i64), TF((3, 3), f32)], {}, "value shape (3, 3) does not broadcast to"),
    ("inc_take", [TF((5, 3), i64), TF((2,), i64), TF((), f64)], {}, "cannot store f64 values into a tensor of i64"),
    ("zeros", [], {"shape": [2, -1]}, "shape entries must be non-negative sizes or ?, got -1"),
    ("ones", [], {"shape": [2], "dtype": "float32"}, "attribute 'dtype' must be"),
    ("eye", [], {"n": -3}, "n must be a non-negative size, got -3"),
    ("arange", [], {"stop": 5, "step": 0}, "step must not be zero"),
    ("arange", [], {"start": 1}, "requires attribute 'stop'"),
    ("constant", [], {"value": 3}, "value must be a dense array or a typed scalar"),
    ("py_call", [TF((3,), f64)], {"fn": "nowhere.f"}, 'calls "nowhere.f", which is not registered in this process'),
    ("extern_c", [TF((3,), f32)], {"name": "f", "signature": "f64(f64)", "source": ""},
     "input #0 is tensor<3xf32>, the signature says f64"),
    ("solve", [TF((3, 3), f64), TF((4,), f64)], {}, "rows of a (3) and b (4) differ"),
    ("solve", [TF((3, 3), f32), TF((3,), f64)], {}, "operands must have one element type, f32 or f64, got f32, f64"),
    ("inv", [TF((2, 3), f64)], {}, "expects a square matrix, got 2 x 3"),
    ("det", [TF((3, 3), i64)], {}, "operands must have one element type, f32 or f64, got i64"),
    ("slogdet", [TF((2, 3, 4), f64)], {}, "expects a square matrix, got 3 x 4"),
    ("solve", [TF((2, 3, 3), f64), TF((3,), f64)], {}, "operand #1 must be 3-d, got shape (3,)"),
    ("solve", [TF((2, 3, 3), f64), TF((4, 3, 1), f64)], {}, "batch dim 0 of a (2) and operand #1 (4) differ"),
    ("cholesky", [TF((3,), f32)], {}, "operand #0 must be 2-d, got shape (3,)"),
    ("eigh", [TF((3, 4), f32)], {}, "expects a square matrix, got 3 x 4"),
    ("qr", [TF((3, 4), f32), TF((3, 4), f32)], {}, "expects 1 operand"),
    ("svd", [TF((3, 4), ScalarType("f16"))], {}, "f32 or f64, got f16"),
]
for _name in UNARY_FLOAT + BINARY_FLOAT:
    if not any(e[0] == _name for e in ERRORS):
        arity = len(op_class(_name).operands_def)
        ERRORS.append((_name, [TF((3,), f32)] * (arity + 1), {}, f"expects {arity} operand"))


@pytest.mark.parametrize("name,types,attrs,message", [e for e in ERRORS if e[3]],
                         ids=[f"{e[0]}-{k}" for k, e in enumerate(ERRORS) if e[3]])
def test_verifier_errors(name: str, types: list[Type], attrs: dict[str, Any], message: str) -> None:
    expect_error(op_class(name), types, attrs, message)


def test_outer_and_shape_errors() -> None:
    expect_error(T.OuterOp, [TF((3,), f32)], {}, "expects 2 operands, got 1")
    expect_error(T.ShapeOp, [TF((3,), f32), TF((3,), f32)], {}, "expects 1 operand, got 2")


def test_result_type_mismatch_is_reported() -> None:
    m, op = build(T.AddOp, [TF((3,), f32), TF((3,), f32)], {})
    op.results[0].type = TF((3,), f64)
    with pytest.raises(VerifyError, match="'tensor.add' op result type tensor<3xf64> does not match"):
        op.verify()


# ---------------------------------------------------------------- coverage


def test_every_tensor_op_is_tested() -> None:
    # The generic family (tensor.generic, tensor.index) is tested in tests/test_generic.py.
    tensor_ops = {n[len("tensor."):] for n in OP_REGISTRY if n.startswith("tensor.") and n not in GENERIC_OPS}
    run_tested = set(UNARY_FLOAT + BINARY_FLOAT + REDUCTIONS) | {
        "and", "or", "xor", "not", "clip", "where", "cast", "argmax", "argmin", "softmax", "log_softmax",
        "logsumexp", "categorical_crossentropy", "dot", "matmul", "outer", "shape", "reshape", "transpose",
        "expand_dims", "squeeze", "broadcast_to", "alloc", "flatten", "concatenate", "stack", "dimshuffle",
        "subtensor", "set_subtensor", "inc_subtensor", "take", "inc_take", "set_take", "zeros", "ones", "eye",
        "arange", "constant", "isnan", "isinf", "isfinite", "cumsum", "cumprod",
        "sort", "argsort", "take_along_axis",
        # linear algebra: tests/test_linalg.py
        "solve", "inv", "det", "slogdet", "cholesky", "eigh", "qr", "svd"}
    error_tested = {e[0] for e in ERRORS}
    # tensor.grad runs only once autodiff expanded it (its refusal and its expansion: tests/test_grad.py);
    # tensor.stop_gradient runs on the interpreter in tests/test_grad_api.py; tensor.gemm's rule against numpy
    # in tests/test_gemm.py; tensor.if, tensor.scan and their tensor.yield (ops with regions) in
    # tests/test_ifelse.py and tests/test_scan.py, their verifier errors in tests/ir/invalid.tir;
    # tensor.py_call and tensor.extern_c (library functions) run in tests/test_extern.py
    regions = {"if", "scan", "yield"}
    assert tensor_ops - run_tested - regions - {"grad", "stop_gradient", "gemm", "py_call", "extern_c"} == set(), \
        "ops without an interpreter test"
    assert tensor_ops - error_tested - regions == set(), "ops without a verifier-error test"


# ---------------------------------------------------------------- scalar dialect


def _scalar_fn(cls: type[Operation], types: list[ScalarType], attrs: dict[str, Any]) -> tuple[B.ModuleOp, Operation]:
    m = B.ModuleOp.empty()
    fn = F.FuncOp.create("f", types, [], None)
    m.body.append(fn)
    b = Builder.at_end(fn.body)
    op = b.create(cls, *fn.args, **attrs)
    fn.attributes["function_type"] = FunctionType(tuple(types), (op.result.type,))
    b.create(F.ReturnOp, op.result)
    verify(m)
    return m, op


def test_scalar_dialect_mirrors_tensor_elementwise() -> None:
    for tcls in S.SCALAR_OF_TENSOR:
        assert OP_REGISTRY[S.SCALAR_OF_TENSOR[tcls].name] is S.SCALAR_OF_TENSOR[tcls]
    elementwise = {n for n, c in OP_REGISTRY.items() if n.startswith("tensor.") and issubclass(c, T.ElementwiseOp)}
    assert {c.name for c in S.SCALAR_OF_TENSOR} == elementwise
    assert OP_REGISTRY["scalar.select"] is S.SelectOp and "scalar.where" not in OP_REGISTRY


@pytest.mark.parametrize("name", UNARY_FLOAT + BINARY_FLOAT + ["and", "or", "xor", "not", "clip", "select"])
def test_scalar_ops(name: str) -> None:
    cls = OP_REGISTRY[f"scalar.{name}"]
    arity = len(cls.operands_def)
    if name in ("and", "or", "xor", "not"):
        vals = [np.int32(6), np.int32(3)][:arity]
    elif name == "select":
        vals = [np.bool_(False), np.float32(0.25), np.float64(0.5)]
    else:
        vals = [np.float32(0.3), np.float32(0.7), np.float32(0.9)][:arity]
    m, op = _scalar_fn(cls, [scalar(np.asarray(v).dtype) for v in vals], {})
    out = run(m, "f", *vals)[0]
    tensor_out = eval_op(S.TENSOR_OF_SCALAR[type(op)], [np.asarray(v) for v in vals])
    assert op.result.type == scalar(tensor_out.dtype)
    assert isinstance(out, np.generic) and out.dtype == tensor_out.dtype
    np.testing.assert_allclose(out, tensor_out[()], rtol=1e-6)


def test_scalar_cast_constant_yield_and_errors() -> None:
    m, op = _scalar_fn(S.CastOp, [f32], {"dtype": i64})
    assert op.result.type == i64 and run(m, "f", np.float32(3.7))[0] == np.int64(3)
    c = S.ConstantOp.build(value=Typed(1.0, f32))
    assert c.result.type == f32 and c.interpret(None, [])[0].dtype == np.float32
    y = S.YieldOp.build(c.result)
    assert y.results == [] and y.has_trait("terminator")
    assert "scalar.add" in OP_REGISTRY and OP_REGISTRY["scalar.add"].traits >= {COMMUTATIVE}
    with pytest.raises(VerifyError, match="'scalar.and' op is not defined for element types"):
        _scalar_fn(S.AndOp, [f32, f32], {})
    with pytest.raises(VerifyError, match="'scalar.exp' op operand must be a scalar, got tensor<3xf32>"):
        _scalar_fn(S.ExpOp, [TF((3,), f32)], {})  # type: ignore[list-item]
    module = B.ModuleOp.empty()
    fn = F.FuncOp.create("g", [f32, f32], [f32])
    module.body.append(fn)
    b = Builder.at_end(fn.body)
    s = b.create(S.AddOp, *fn.args).result
    one = b.create(S.ConstantOp, value=Typed(1.0, f32)).result
    b.create(F.ReturnOp, b.create(S.MulOp, s, one).result)
    verify(module)
    assert "scalar.add" in print_module(module)
    assert run(module, "g", 1.5, 2.0)[0] == np.float32(3.5)


def test_scipy_special_ops_know_their_result_type_without_importing_scipy() -> None:
    """sigmoid/erf/erfc take numpy's loop choice of scipy's ufuncs from a table; building a graph with them
    does not import scipy (0.4-0.5 s of every process's start)."""
    import subprocess
    import sys

    for cls, ufunc in ((T.SigmoidOp, scipy.special.expit), (T.ErfOp, scipy.special.erf),
                       (T.ErfcOp, scipy.special.erfc)):
        for dt in "?bBhHiIlLqQefd":
            try:
                want = np.asarray(ufunc(np.ones(1, dt))).dtype
            except TypeError:
                want = None
            try:
                got = cls.fn.result_type((np.dtype(dt),))
            except TypeError:
                got = None
            assert got == want, (cls.name, dt)
    code = ("import sys, tensorir\nfrom tensorir import tensor as T\nx = T.fmatrix('x')\n"
            "y = T.erf(T.sigmoid(x))\nassert y.dtype == 'float32'\nassert 'scipy.special' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
