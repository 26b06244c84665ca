"""The Python API (`tensorir.tensor` as T, `tensorir.function`, `tensorir.config`) against numpy."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.special
import tensorir
from tensorir import In, TirError, function
from tensorir import tensor as T
from tensorir.config import Config, ConfigError

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _interp_target():
    """The API's semantics don't depend on the target: these tests build on the reference interpreter
    (no C compile per function). tests/test_c_target.py runs every op on the C target (the default)."""
    with tensorir.config.change_flags(target="interp"):
        yield



def rand(*shape: int, dtype: str = "float64", low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape).astype(dtype)


def tensor_ir(f: tensorir.Function) -> str:
    return f.ir("tensor")


def this_line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


# ---------------------------------------------------------------- elementwise

POS = (0.1, 3.0)
UNIT = (-0.9, 0.9)
UNARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("neg", np.negative, (-2, 2)), ("abs", np.abs, (-2, 2)), ("abs_", np.abs, (-2, 2)),
    ("sign", np.sign, (-2, 2)), ("sgn", np.sign, (-2, 2)), ("exp", np.exp, (-2, 2)), ("exp2", np.exp2, (-2, 2)),
    ("expm1", np.expm1, (-2, 2)), ("log", np.log, POS), ("log2", np.log2, POS), ("log10", np.log10, POS),
    ("log1p", np.log1p, POS), ("sqrt", np.sqrt, POS), ("rsqrt", lambda x: 1 / np.sqrt(x), POS),
    ("square", np.square, (-2, 2)), ("sqr", np.square, (-2, 2)), ("sin", np.sin, (-2, 2)),
    ("cos", np.cos, (-2, 2)), ("tan", np.tan, UNIT), ("tanh", np.tanh, (-2, 2)), ("sinh", np.sinh, (-2, 2)),
    ("cosh", np.cosh, (-2, 2)), ("arcsin", np.arcsin, UNIT), ("arccos", np.arccos, UNIT),
    ("arctan", np.arctan, (-2, 2)), ("sigmoid", scipy.special.expit, (-4, 4)),
    ("softplus", lambda x: np.log1p(np.exp(x)), (-4, 4)), ("erf", scipy.special.erf, (-2, 2)),
    ("erfc", scipy.special.erfc, (-2, 2)), ("floor", np.floor, (-3, 3)), ("ceil", np.ceil, (-3, 3)),
    ("round", np.round, (-3, 3)), ("relu", lambda x: np.maximum(x, 0), (-2, 2)),
]
OP_OF = {"abs_": "abs", "sgn": "sign", "sqr": "square"}


@pytest.mark.parametrize("name,ref,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name: str, ref: Callable[..., Any], domain: tuple[float, float]) -> None:
    x = T.dmatrix("x")
    f = function([x], getattr(T, name)(x))
    assert f"tensor.{OP_OF.get(name, name)} " in tensor_ir(f)
    a = rand(3, 4, low=domain[0], high=domain[1])
    np.testing.assert_allclose(f(a), ref(a), rtol=1e-12, atol=1e-14)


BINARY: list[tuple[str, str, Callable[..., Any]]] = [
    ("add", "add", np.add), ("sub", "sub", np.subtract), ("mul", "mul", np.multiply),
    ("true_div", "true_div", np.true_divide), ("true_divide", "true_div", np.true_divide),
    ("int_div", "int_div", np.floor_divide), ("floor_divide", "int_div", np.floor_divide),
    ("mod", "mod", np.mod), ("pow", "pow", np.power), ("power", "pow", np.power),
    ("arctan2", "arctan2", np.arctan2), ("maximum", "maximum", np.maximum), ("minimum", "minimum", np.minimum),
    ("eq", "eq", np.equal), ("neq", "ne", np.not_equal), ("ne", "ne", np.not_equal), ("lt", "lt", np.less),
    ("le", "le", np.less_equal), ("gt", "gt", np.greater), ("ge", "ge", np.greater_equal),
]


@pytest.mark.parametrize("name,op,ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name: str, op: str, ref: Callable[..., Any]) -> None:
    x = T.dmatrix("x")
    y = T.dvector("y")
    f = function([x, y], getattr(T, name)(x, y))
    assert f"tensor.{op} " in tensor_ir(f)
    a = rand(3, 4, low=0.5, high=3)
    b = rand(4, low=0.5, high=3)
    b[0] = a[0, 0]  # an equal pair for the comparisons
    np.testing.assert_allclose(f(a, b), ref(a, b), rtol=1e-12)


@pytest.mark.parametrize("name,op,ref", [("and_", "and", np.bitwise_and), ("bitwise_and", "and", np.bitwise_and),
                                         ("or_", "or", np.bitwise_or), ("xor", "xor", np.bitwise_xor)])
def test_bitwise(name: str, op: str, ref: Callable[..., Any]) -> None:
    x, y = T.ivectors("x", "y")
    f = function([x, y], getattr(T, name)(x, y))
    assert f"tensor.{op} " in tensor_ir(f)
    a = RNG.integers(0, 100, 6).astype(np.int32)
    b = RNG.integers(0, 100, 6).astype(np.int32)
    out = f(a, b)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, ref(a, b))
    g = function([x], [T.invert(x), T.bitwise_not(x), ~x])
    for o in g(a):
        np.testing.assert_array_equal(o, ~a)


def test_logical_ops_on_bools() -> None:
    x = T.dvector("x")
    f = function([x], [(x > 0) & (x < 1), (x > 0) | (x < -1), (x > 0) ^ (x > 1), ~(x > 0)])
    a = np.array([-2.0, -0.5, 0.5, 2.0])
    outs = f(a)
    np.testing.assert_array_equal(outs[0], (a > 0) & (a < 1))
    np.testing.assert_array_equal(outs[1], (a > 0) | (a < -1))
    np.testing.assert_array_equal(outs[2], (a > 0) ^ (a > 1))
    np.testing.assert_array_equal(outs[3], ~(a > 0))
    assert outs[0].dtype == np.bool_


def test_ternary_and_cast() -> None:
    x = T.dmatrix("x")
    a = rand(3, 4)
    f = function([x], [T.clip(x, -0.5, 0.5), T.switch(x > 0, x, 0), T.where(x > 0, 1.0, -1.0), x.clip(0, 1)])
    outs = f(a)
    np.testing.assert_allclose(outs[0], np.clip(a, -0.5, 0.5))
    np.testing.assert_allclose(outs[1], np.where(a > 0, a, 0))
    np.testing.assert_allclose(outs[2], np.where(a > 0, 1.0, -1.0))
    np.testing.assert_allclose(outs[3], np.clip(a, 0, 1))
    assert "tensor.clip" in tensor_ir(f) and "tensor.where" in tensor_ir(f)
    c = T.cast(x, "int32")
    assert c.dtype == "int32"
    g = function([x], [c, x.astype("float32"), T.cast(x, "floatX")])
    o = g(a)
    assert o[0].dtype == np.int32 and o[1].dtype == np.float32
    np.testing.assert_array_equal(o[0], a.astype(np.int32))
    assert "tensor.cast" in tensor_ir(g)


def test_variadic_add_mul() -> None:
    x, y, z = T.dvectors("x", "y", "z")
    f = function([x, y, z], [T.add(x, y, z), T.mul(x, y, z)])
    a, b, c = rand(3), rand(3), rand(3)
    s, p = f(a, b, c)
    np.testing.assert_allclose(s, a + b + c)
    np.testing.assert_allclose(p, a * b * c)


# ---------------------------------------------------------------- operators and dtypes


def test_operators_match_numpy() -> None:
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    a, b = rand(2, 3, low=0.5), rand(2, 3, low=0.5)
    exprs = [x + y, x - y, x * y, x / y, x // y, x % y, x**y, -x, abs(x), +x, x < y, x <= y, x > y, x >= y]
    refs = [a + b, a - b, a * b, a / b, a // b, a % b, a**b, -a, abs(a), a, a < b, a <= b, a > b, a >= b]
    outs = function([x, y], exprs)(a, b)
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(o, r, rtol=1e-12)


def test_reflected_operators_with_python_scalars() -> None:
    x = T.dvector("x")
    a = rand(5, low=0.5)
    exprs = [2 + x, 2 - x, 2 * x, 2 / x, 7 // x, 7 % x, 2**x, x + 1, x - 1.5, x * 3, x / 4, x**2]
    refs = [2 + a, 2 - a, 2 * a, 2 / a, 7 // a, 7 % a, 2**a, a + 1, a - 1.5, a * 3, a / 4, a**2]
    outs = function([x], exprs)(a)
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(o, r, rtol=1e-12)


def test_numpy_array_operands() -> None:
    x = T.dvector("x")
    c = np.arange(3.0)
    f = function([x], [x + c, c + x, c * x, c - x])
    a = rand(3)
    outs = f(a)
    np.testing.assert_allclose(outs[0], a + c)
    np.testing.assert_allclose(outs[1], c + a)
    np.testing.assert_allclose(outs[2], c * a)
    np.testing.assert_allclose(outs[3], c - a)


def test_weak_python_scalars_keep_dtype() -> None:
    fv = T.fvector("fv")
    iv = T.ivector("iv")
    bv = T.bvector("bv")
    assert (fv * 2.0).dtype == "float32"
    assert (2.0 * fv).dtype == "float32"
    assert (fv + 1).dtype == "float32"
    assert (iv + 1).dtype == "int32"
    assert (1 - iv).dtype == "int32"
    assert (bv * 3).dtype == "int8"
    assert (fv > 0).dtype == "bool"
    with tensorir.config.change_flags(floatX="float32"):
        assert (iv * 0.5).dtype == np.result_type(np.int32, np.float32).name
    assert (iv * 0.5).dtype == "float64"
    # numpy arrays and scalars are strong
    assert (fv * np.float64(2.0)).dtype == "float64"
    assert (fv * np.ones(1)).dtype == "float64"
    f = function([fv], fv * 2.0)
    out = f(np.ones(3, np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2 * np.ones(3, np.float32))
    with pytest.raises(TirError, match="does not fit"):
        bv + 1000


def test_equality_is_identity() -> None:
    x = T.dvector("x")
    y = T.dvector("y")
    assert (x == x) is True
    assert (x == y) is False
    assert len({x, y, x}) == 2
    f = function([x, y], [T.eq(x, y), T.neq(x, y)])
    a = np.array([1.0, 2.0])
    b = np.array([1.0, 3.0])
    e, n = f(a, b)
    np.testing.assert_array_equal(e, [True, False])
    np.testing.assert_array_equal(n, [False, True])


def test_symbolic_truth_and_len_refused() -> None:
    x = T.dvector("x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="len"):
        len(x)
    with pytest.raises(TypeError):
        iter(x)


# ---------------------------------------------------------------- constructors


def test_constructors() -> None:
    cases = {"bscalar": ("int8", ()), "wvector": ("int16", (None,)), "imatrix": ("int32", (None, None)),
             "lscalar": ("int64", ()), "fmatrix": ("float32", (None, None)), "dtensor3": ("float64", (None,) * 3),
             "ftensor4": ("float32", (None,) * 4), "row": ("float64", (1, None)), "fcol": ("float32", (None, 1)),
             "iscalar": ("int32", ())}
    for name, (dtype, shape) in cases.items():
        v = getattr(T, name)("v")
        assert v.dtype == dtype, name
        assert v.type.shape == shape, name
        assert v.ndim == len(shape)
        assert v.name == "v"
    with tensorir.config.change_flags(floatX="float32"):
        assert T.matrix().dtype == "float32"
        assert T.vector().dtype == "float32"
    assert T.matrix().dtype == "float64"
    t = T.tensor("float32", shape=(None, 3), name="t")
    assert t.type.shape == (None, 3) and t.dtype == "float32"
    b = T.tensor("int64", broadcastable=(True, False))
    assert b.type.shape == (1, None) and b.broadcastable == (True, False)
    a, c = T.fvectors("a", "c")
    assert a.name == "a" and c.dtype == "float32"
    m = T.dmatrix("m", shape=(2, 3))
    assert m.type.shape == (2, 3)
    with pytest.raises(TirError, match="unknown"):
        T.tensor("float7", shape=(None,))


def test_ssa_names_from_variable_names() -> None:
    x = T.fvector("x")
    y = T.fvector("y")
    s = x + y
    s.name = "total"
    f = function([x, y], s * 2)
    text = f.ir()
    assert "%x: tensor<?xf32>" in text and "%y: tensor<?xf32>" in text
    assert "%total = tensor.add %x, %y" in tensor_ir(f)


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std", "all", "any"])
def test_reductions(name: str) -> None:
    x = T.dtensor3("x")
    a = rand(2, 3, 4, low=0.5, high=1.5)
    if name in ("all", "any"):
        a = (a > 1.0).astype(np.float64)
    ref = getattr(np, name)
    for axis, keepdims in [(None, False), (1, False), ((0, 2), False), (-1, True), (None, True)]:
        fn = function([x], [getattr(T, name)(x, axis=axis, keepdims=keepdims),
                            getattr(x, name)(axis=axis, keepdims=keepdims)])
        assert f"tensor.{name} " in tensor_ir(fn)
        for out in fn(a):
            np.testing.assert_allclose(out, ref(a, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_var_std_ddof_and_dtype() -> None:
    x = T.dmatrix("x")
    a = rand(4, 5)
    f = function([x], [T.var(x, axis=0, ddof=1), T.std(x, ddof=1), x.var(corrected=True)])
    o = f(a)
    np.testing.assert_allclose(o[0], np.var(a, axis=0, ddof=1))
    np.testing.assert_allclose(o[1], np.std(a, ddof=1))
    np.testing.assert_allclose(o[2], np.var(a, ddof=1))
    i = T.imatrix("i")
    g = function([i], [T.sum(i), T.sum(i, dtype="float32"), T.mean(i, axis=1)])
    b = RNG.integers(-5, 5, (3, 4)).astype(np.int32)
    s, sf, m = g(b)
    assert s.dtype == np.sum(b).dtype and sf.dtype == np.float32
    np.testing.assert_allclose(m, b.mean(axis=1))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name: str) -> None:
    x = T.dmatrix("x")
    a = rand(4, 5)
    f = function([x], [getattr(T, name)(x), getattr(T, name)(x, axis=1), getattr(x, name)(axis=0, keepdims=True)])
    outs = f(a)
    ref = getattr(np, name)
    np.testing.assert_array_equal(outs[0], ref(a))
    np.testing.assert_array_equal(outs[1], ref(a, axis=1))
    np.testing.assert_array_equal(outs[2], ref(a, axis=0, keepdims=True))
    assert outs[1].dtype == np.int64
    with pytest.raises(TirError):
        getattr(T, name)(x, axis=(0, 1))


def test_bad_axis_located() -> None:
    x = T.dmatrix("x")
    line = this_line() + 2
    with pytest.raises(TirError) as e:
        T.sum(x, axis=3)
    assert f"test_api.py:{line}" in str(e.value)
    assert "axis" in str(e.value)


def test_softmax_family() -> None:
    x = T.dmatrix("x")
    a = rand(3, 5)
    f = function([x], [T.nnet.softmax(x), T.nnet.log_softmax(x), T.logsumexp(x, axis=1),
                       T.logsumexp(x), T.logsumexp(x, axis=0, keepdims=True), T.softmax(x, axis=0)])
    outs = f(a)
    np.testing.assert_allclose(outs[0], scipy.special.softmax(a, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(outs[1], scipy.special.log_softmax(a, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(outs[2], scipy.special.logsumexp(a, axis=1), rtol=1e-12)
    np.testing.assert_allclose(outs[3], scipy.special.logsumexp(a), rtol=1e-12)
    np.testing.assert_allclose(outs[4], scipy.special.logsumexp(a, axis=0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(outs[5], scipy.special.softmax(a, axis=0), rtol=1e-12)
    for op in ("softmax", "log_softmax", "logsumexp"):
        assert f"tensor.{op} " in tensor_ir(f)


def test_nnet_losses() -> None:
    p = T.dmatrix("p")
    t = T.dmatrix("t")
    idx = T.lvector("idx")
    a = scipy.special.softmax(rand(4, 3), axis=1)
    onehot = np.eye(3)[[0, 2, 1, 1]]
    f = function([p, t, idx], [T.nnet.categorical_crossentropy(p, t), T.nnet.categorical_crossentropy(p, idx),
                               T.nnet.binary_crossentropy(p, t), T.nnet.relu(p - 0.3)])
    cc, ci, bce, r = f(a, onehot, np.array([0, 2, 1, 1]))
    np.testing.assert_allclose(cc, -np.sum(onehot * np.log(a), axis=1), rtol=1e-12)
    np.testing.assert_allclose(ci, cc, rtol=1e-12)
    np.testing.assert_allclose(bce, -(onehot * np.log(a) + (1 - onehot) * np.log(1 - a)), rtol=1e-12)
    np.testing.assert_allclose(r, np.maximum(a - 0.3, 0))
    assert T.nnet.sigmoid is T.sigmoid and T.nnet.softplus is T.softplus


# ---------------------------------------------------------------- linear algebra


def test_dot_matmul_outer() -> None:
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    v = T.dvector("v")
    a, b, c = rand(3, 4), rand(4, 2), rand(4)
    f = function([x, y, v], [T.dot(x, y), x.dot(y), x @ y, T.matmul(x, y), T.dot(x, v), T.dot(v, v),
                             T.outer(v, v)])
    outs = f(a, b, c)
    for o in outs[:4]:
        np.testing.assert_allclose(o, a @ b, rtol=1e-12)
    np.testing.assert_allclose(outs[4], a @ c, rtol=1e-12)
    np.testing.assert_allclose(outs[5], c @ c, rtol=1e-12)
    np.testing.assert_allclose(outs[6], np.outer(c, c), rtol=1e-12)
    text = tensor_ir(f)
    assert "tensor.dot " in text and "tensor.matmul " in text and "tensor.outer " in text


def test_shape_error_names_user_line() -> None:
    x = T.tensor("float32", shape=(3, 4), name="x")
    y = T.tensor("float32", shape=(3, 5), name="y")
    line = this_line() + 2
    with pytest.raises(TirError) as e:
        T.dot(x, y)
    text = str(e.value)
    assert f"test_api.py:{line}: 'tensor.dot' op" in text
    assert "4" in text and "3" in text
    assert e.value.loc is not None and e.value.loc.line == line
    line = this_line() + 2
    with pytest.raises(TirError) as e:
        x + y
    assert f"test_api.py:{line}: 'tensor.add' op" in str(e.value)
    assert "broadcast" in str(e.value)


def test_broadcasting_dynamic_ranks() -> None:
    m = T.matrix()
    t3 = T.tensor3()
    s = m + t3
    assert s.ndim == 3
    r = T.row("r")
    c = T.col("c")
    out = r + c
    assert out.type.shape == (None, None)
    f = function([r, c], out)
    a, b = rand(1, 4), rand(3, 1)
    np.testing.assert_allclose(f(a, b), a + b)


# ---------------------------------------------------------------- shapes


def test_reshape_flatten_shape() -> None:
    x = T.dmatrix("x")
    a = rand(3, 4)
    n = x.shape[0]
    assert n.ndim == 0 and n.dtype == "int64"
    f = function([x], [x.reshape((2, 6)), T.reshape(x, (-1,)), x.reshape((n, 2, -1)), x.flatten(),
                       x.flatten(1), x.shape, T.shape(x), x.reshape(x.shape[::-1])])
    outs = f(a)
    np.testing.assert_array_equal(outs[0], a.reshape(2, 6))
    np.testing.assert_array_equal(outs[1], a.reshape(-1))
    np.testing.assert_array_equal(outs[2], a.reshape(3, 2, -1))
    np.testing.assert_array_equal(outs[3], a.ravel())
    np.testing.assert_array_equal(outs[4], a.ravel())
    np.testing.assert_array_equal(outs[5], [3, 4])
    np.testing.assert_array_equal(outs[6], [3, 4])
    np.testing.assert_array_equal(outs[7], a.reshape(4, 3))
    assert "tensor.reshape " in tensor_ir(f) and "tensor.shape " in tensor_ir(f)
    t = T.dtensor3("t")
    g = function([t], T.flatten(t, 2))
    b = rand(2, 3, 4)
    np.testing.assert_array_equal(g(b), b.reshape(2, 12))
    assert "tensor.flatten " in tensor_ir(g)


def test_static_shape_folds() -> None:
    x = T.tensor("float64", shape=(3, None), name="x")
    assert isinstance(x.shape[0], tensorir.Constant) and x.shape[0].data == 3
    z = T.zeros((x.shape[0], 2))
    assert z.type.shape == (3, 2)
    assert T.zeros((x.shape[1], 2)).type.shape == (None, 2)
    assert T.tensor("float32", shape=(2, 5)).shape.data.tolist() == [2, 5]
    c = T.constant(np.arange(6))
    assert isinstance(c[1:3], tensorir.Constant) and c[1:3].data.tolist() == [1, 2]
    f = function([x], [z, T.zeros_like(x), T.ones_like(x, dtype="int32")])
    a = rand(3, 5)
    zz, zl, ol = f(a)
    np.testing.assert_array_equal(zz, np.zeros((3, 2)))
    np.testing.assert_array_equal(zl, np.zeros_like(a))
    assert ol.dtype == np.int32 and ol.shape == (3, 5)


def test_dimshuffle_transpose_expand_squeeze() -> None:
    x = T.dmatrix("x")
    a = rand(3, 4)
    f = function([x], [x.dimshuffle(1, "x", 0), x.dimshuffle((0, 1)), x.T, T.transpose(x),
                       x.transpose((1, 0)), T.expand_dims(x, 1), T.swapaxes(x, 0, 1)])
    outs = f(a)
    np.testing.assert_array_equal(outs[0], a.T[:, None, :])
    np.testing.assert_array_equal(outs[1], a)
    for o in outs[2:5]:
        np.testing.assert_array_equal(o, a.T)
    np.testing.assert_array_equal(outs[5], a[:, None, :])
    np.testing.assert_array_equal(outs[6], a.T)
    text = tensor_ir(f)
    assert "tensor.dimshuffle " in text and "tensor.transpose " in text and "tensor.expand_dims " in text
    r = T.row("r")
    g = function([r], [r.squeeze(), T.squeeze(r, axis=0), r.dimshuffle(1)])
    b = rand(1, 5)
    for o in g(b):
        np.testing.assert_array_equal(o, b[0])
    assert "tensor.squeeze " in tensor_ir(g)


def test_broadcast_concatenate_stack() -> None:
    x = T.dvector("x")
    y = T.dvector("y")
    m = T.dmatrix("m")
    a, b, c = rand(3), rand(3), rand(2, 3)
    f = function([x, y, m], [T.broadcast_to(x, (2, 3)), T.broadcast_to(x, (m.shape[0], 3)),
                             T.concatenate([x, y]), T.concatenate([m, x[None, :]], axis=0), T.stack([x, y]),
                             T.stack([x, y], axis=1)])
    outs = f(a, b, c)
    np.testing.assert_array_equal(outs[0], np.broadcast_to(a, (2, 3)))
    np.testing.assert_array_equal(outs[1], np.broadcast_to(a, (2, 3)))
    np.testing.assert_array_equal(outs[2], np.concatenate([a, b]))
    np.testing.assert_array_equal(outs[3], np.concatenate([c, a[None, :]]))
    np.testing.assert_array_equal(outs[4], np.stack([a, b]))
    np.testing.assert_array_equal(outs[5], np.stack([a, b], axis=1))
    text = tensor_ir(f)
    assert "tensor.broadcast_to " in text and "tensor.concatenate " in text and "tensor.stack " in text


# ---------------------------------------------------------------- creation


def test_creation_functions() -> None:
    n = T.lscalar("n")
    f = function([n], [T.zeros((n, 2)), T.ones((2, n), dtype="int32"), T.zeros((2, 3), dtype="float32"),
                       T.alloc(1.5, n, 3), T.full((2, n), 7, dtype="int64"), T.eye(n), T.eye(3, 4, k=1),
                       T.arange(5), T.arange(1, n, 2), T.arange(0.0, 1.0, 0.25)])
    outs = f(4)
    refs = [np.zeros((4, 2)), np.ones((2, 4), np.int32), np.zeros((2, 3), np.float32), np.full((4, 3), 1.5),
            np.full((2, 4), 7), np.eye(4), np.eye(3, 4, k=1), np.arange(5), np.arange(1, 4, 2),
            np.arange(0.0, 1.0, 0.25)]
    for k, (o, r) in enumerate(zip(outs, refs)):
        np.testing.assert_array_equal(o, r, err_msg=f"output {k}")
        assert o.dtype == r.dtype, (k, o.dtype, r.dtype)
    text = tensor_ir(f)
    for op in ("zeros", "ones", "alloc", "eye", "arange"):
        assert f"tensor.{op} " in text, op
    x = T.dmatrix("x")
    g = function([x], [T.fill(x, 3.0), T.identity_like(x)])
    a = rand(3, 3)
    fo, io = g(a)
    np.testing.assert_array_equal(fo, np.full((3, 3), 3.0))
    np.testing.assert_array_equal(io, np.eye(3))


def test_constants() -> None:
    c = T.constant(np.arange(6).reshape(2, 3))
    assert c.dtype == "int64" and c.type.shape == (2, 3)
    assert T.constant(1.5).dtype == "float64"
    assert T.constant(2, dtype="float32").dtype == "float32"
    assert T.as_tensor_variable([1.0, 2.0]).type.shape == (2,)
    x = T.dmatrix("x")
    assert T.as_tensor_variable(x) is x
    f = function([x], [x + c, T.constant(3.0)])
    a = rand(2, 3)
    s, k = f(a)
    np.testing.assert_array_equal(s, a + np.arange(6).reshape(2, 3))
    assert k == 3.0 and k.shape == ()
    assert "tensor.constant" in tensor_ir(f)
    with pytest.raises(TirError):
        T.constant(1.5, dtype="int32")
    assert T.arange(3).type.shape == (3,) and T.arange(3).dtype == "int64"
    with tensorir.config.change_flags(floatX="float32"):
        assert T.arange(0.0, 1.0, 0.5).dtype == "float32"


# ---------------------------------------------------------------- indexing


def test_basic_indexing() -> None:
    x = T.dmatrix("x")
    i = T.lscalar("i")
    a = rand(4, 5)
    exprs = [x[1:, ::2], x[0], x[i], x[:, None], x[..., 0], x[-1, 1:3], x[i, i:], x[:, -2], x[::-1], x[None],
             x[:], x[1:-1, i]]
    f = function([x, i], exprs)
    refs = [a[1:, ::2], a[0], a[2], a[:, None], a[..., 0], a[-1, 1:3], a[2, 2:], a[:, -2], a[::-1], a[None],
            a[:], a[1:-1, 2]]
    for k, (o, r) in enumerate(zip(f(a, 2), refs)):
        np.testing.assert_array_equal(o, r, err_msg=f"expression {k}")
    assert "tensor.subtensor " in tensor_ir(f)
    with pytest.raises(TirError, match="too many indices"):
        x[0, 0, 0]


def test_integer_array_indexing() -> None:
    x = T.dmatrix("x")
    idx = T.lvector("idx")
    a = rand(5, 3)
    f = function([x, idx], [x[idx], x[idx, :], x[:, idx[1:]], x[[0, 0, 4]], T.take(x, idx, axis=0), x.take(idx)])
    ia = np.array([4, 0, 2])
    outs = f(a, ia)
    np.testing.assert_array_equal(outs[0], a[ia])
    np.testing.assert_array_equal(outs[1], a[ia, :])
    np.testing.assert_array_equal(outs[2], a[:, ia[1:]])
    np.testing.assert_array_equal(outs[3], a[[0, 0, 4]])
    np.testing.assert_array_equal(outs[4], a[ia])
    np.testing.assert_array_equal(outs[5], np.take(a, ia))
    assert "tensor.take " in tensor_ir(f)


def test_set_and_inc_subtensor() -> None:
    x = T.dmatrix("x")
    y = T.dvector("y")
    i = T.lscalar("i")
    idx = T.lvector("idx")
    a = rand(4, 3)
    b = rand(3)
    f = function([x, y, i, idx], [T.set_subtensor(x[1], y), T.inc_subtensor(x[1:3], y), T.set_subtensor(x[i, 0], 5),
                                  T.inc_subtensor(x[idx], 1.0), T.set_subtensor(x[idx], y)])
    ia = np.array([0, 2, 0])
    outs = f(a, b, 3, ia)
    r0 = a.copy()
    r0[1] = b
    r1 = a.copy()
    r1[1:3] += b
    r2 = a.copy()
    r2[3, 0] = 5
    r3 = a.copy()
    np.add.at(r3, ia, 1.0)
    r4 = a.copy()
    r4[ia] = b
    for k, (o, r) in enumerate(zip(outs, [r0, r1, r2, r3, r4])):
        np.testing.assert_array_equal(o, r, err_msg=f"output {k}")
    text = tensor_ir(f)
    assert "tensor.set_subtensor " in text and "tensor.inc_subtensor " in text
    with pytest.raises(TirError, match="indexed tensor"):
        T.set_subtensor(x, y)


# ---------------------------------------------------------------- methods


def test_methods() -> None:
    x = T.dmatrix("x")
    a = rand(3, 4, low=0.5)
    f = function([x], [x.sum(axis=0), x.prod(), x.max(axis=1, keepdims=True), x.mean(), x.std(), x.round(),
                       x.exp(), x.log(), x.sqrt(), x.ravel(), x.squeeze(), x.abs()])
    refs = [a.sum(axis=0), a.prod(), a.max(axis=1, keepdims=True), a.mean(), a.std(), np.round(a), np.exp(a),
            np.log(a), np.sqrt(a), a.ravel(), a, np.abs(a)]
    for k, (o, r) in enumerate(zip(f(a), refs)):
        np.testing.assert_allclose(o, r, rtol=1e-12, err_msg=f"method {k}")
    assert x.ndim == 2 and x.dtype == "float64" and x.type.shape == (None, None)
    with pytest.raises(AttributeError):
        x.no_such_method()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- tensorir.function


def test_function_outputs_forms() -> None:
    x = T.dvector("x")
    y = T.dvector("y")
    a, b = rand(3), rand(3)
    s = x + y
    f = function([x, y], [s, s, x, T.constant(2.0)])
    o = f(a, b)
    np.testing.assert_allclose(o[0], a + b)
    np.testing.assert_allclose(o[1], a + b)
    assert o[0] is not o[1]
    np.testing.assert_array_equal(o[2], a)
    assert o[2] is not a  # outputs are fresh arrays the caller owns
    o[2][0] = 99.0
    assert a[0] != 99.0
    assert o[3] == 2.0
    o[3][...] = 1.0  # writable even though it came from a constant
    single = function([x], x)
    assert isinstance(single(a), np.ndarray)
    tup = function([x], (x * 2,))
    assert isinstance(tup(a), list)
    assert function([x], [], on_unused_input="ignore")(a) == []  # no outputs: x is unused (Theano raises too)


def test_function_ir_and_module() -> None:
    x = T.fmatrix("x")
    f = function([x], T.exp(x).sum(axis=1), name="rowsum")
    text = f.ir()
    assert "func.func @rowsum" in text
    assert "tensor.exp" in text and "tensor.sum" in text
    assert f.module.name == "builtin.module"
    assert f.module.functions[0].attributes["sym_name"] == "rowsum"
    assert "rowsum" in repr(f)
    with pytest.raises(TirError, match="stage"):
        f.ir("nope")


def test_pipeline_stages_and_deep_graphs() -> None:
    x = T.dvector("x")
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit
        y = y + 1.0
    f = function([x], y * 1)
    assert list(f.stages)[0] == "tensor" and list(f.stages)[-1] == "final"
    assert "tensor.mul" in f.ir("tensor")
    np.testing.assert_allclose(f(np.zeros(2)), [3000.0, 3000.0])


def test_same_graph_compiled_twice() -> None:
    x = T.dvector("x")
    e = T.exp(x) + 1
    f = function([x], e)
    g = function([x], [e, e * 2])
    a = rand(3)
    np.testing.assert_allclose(f(a), np.exp(a) + 1)
    np.testing.assert_allclose(g(a)[1], 2 * (np.exp(a) + 1))


def test_input_dtype_checks() -> None:
    x = T.fmatrix("x")
    f = function([x], x * 2)
    with pytest.raises(TirError) as e:
        f(np.ones((2, 2), dtype=np.float64))
    msg = str(e.value)
    assert "input 'x' (#0)" in msg and "float32" in msg and "float64" in msg and "(2, 2)" in msg
    assert "astype('float32')" in msg
    # lossless upcasts are fine
    np.testing.assert_array_equal(f(np.ones((2, 2), dtype=np.float16)), np.full((2, 2), 2, np.float32))
    np.testing.assert_array_equal(f(np.ones((2, 2), dtype=np.int8)), np.full((2, 2), 2, np.float32))
    # python lists and numbers convert when the values survive
    np.testing.assert_array_equal(f([[1.5, 2.0]]), [[3.0, 4.0]])
    s = T.fscalar("s")
    g = function([s], s + 1)
    assert g(0.1).dtype == np.float32  # a Python float into float32 (Theano allows this)
    i = T.iscalar("i")
    h = function([i], i * 2)
    assert h(3) == 6 and h(np.int16(3)) == 6
    with pytest.raises(TirError, match="input 'i'"):
        h(1.5)
    with pytest.raises(TirError, match="input 'i'"):
        h(2**40)
    with pytest.raises(TirError, match="input 'i'"):
        h(np.int64(3))  # int64 -> int32 may lose data
    relaxed = function([i], i * 2, allow_input_downcast=True)
    assert relaxed(np.int64(3)) == 6


def test_input_rank_and_shape_checks() -> None:
    x = T.dmatrix("x")
    f = function([x], x + 1)
    with pytest.raises(TirError) as e:
        f(np.ones(3))
    assert "input 'x' (#0)" in str(e.value) and "2-d" in str(e.value) and "(3,)" in str(e.value)
    t = T.tensor("float64", shape=(None, 3), name="t")
    g = function([t], t * 2)
    with pytest.raises(TirError) as e:
        g(np.ones((2, 4)))
    assert "input 't' (#0)" in str(e.value) and "(?, 3)" in str(e.value) and "(2, 4)" in str(e.value)


def test_argument_count_and_names() -> None:
    x, y = T.dscalars("x", "y")
    f = function([x, y], x - y)
    with pytest.raises(TirError, match="takes 2 arguments, got 3"):
        f(1, 2, 3)
    with pytest.raises(TirError, match="missing a value for input 'y'"):
        f(1)
    with pytest.raises(TirError, match="no input named 'z'"):
        f(1, z=2)
    with pytest.raises(TirError, match="given twice"):
        f(1, 2, x=3)
    assert f(y=1, x=3) == 2.0


def test_missing_input_and_bad_arguments() -> None:
    x = T.dvector("x")
    y = T.dvector("y")
    with pytest.raises(TirError, match="'y'.*not in the inputs"):
        function([x], x + y)
    with pytest.raises(TirError, match="not a shared variable"):
        function([x], x, updates=[(x, x + 1)])
    with pytest.raises(TirError, match="target 'tpu' is not available"):
        function([x], x, target="tpu")
    with pytest.raises(TirError, match="list of inputs"):
        function(x, x)  # type: ignore[arg-type]


def test_givens_and_intermediate_inputs() -> None:
    x = T.dvector("x")
    y = T.dvector("y")
    z = x * 2
    f = function([y], z + 1, givens={x: y + 10})
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [23.0, 25.0])
    g = function([z], z + 1)  # an intermediate variable as input cuts the graph there
    np.testing.assert_allclose(g(np.array([1.0])), [2.0])


def test_default_target_from_config() -> None:
    x = T.dvector("x")
    with tensorir.config.change_flags(target="tpu"):
        with pytest.raises(TirError, match="target 'tpu' is not available"):
            function([x], x)
    with tensorir.config.change_flags(target="interp"):
        assert function([x], x).target == "interp"
    assert tensorir.config.__class__().target == "c"  # the default of a fresh configuration


def test_in_defaults_are_checked() -> None:
    x = T.fvector("x")
    f = function([In(x, value=[1.0, 2.0])], x * 2)
    np.testing.assert_array_equal(f(), [2.0, 4.0])


# ---------------------------------------------------------------- config


def test_config_assignment_and_change_flags() -> None:
    cfg = tensorir.config
    assert cfg.floatX in ("float16", "float32", "float64")
    old = cfg.floatX
    with cfg.change_flags(floatX="float32", debug=2):
        assert cfg.floatX == "float32" and cfg.debug == 2
        assert T.scalar().dtype == "float32"
    assert cfg.floatX == old
    cfg.floatX = "float32"
    try:
        assert T.vector().dtype == "float32"
    finally:
        cfg.floatX = old
    with pytest.raises(ConfigError, match="floatX"):
        cfg.floatX = "float8"
    with pytest.raises(AttributeError, match="no flag"):
        cfg.nonexistent = 1
    with pytest.raises(ConfigError):
        with cfg.change_flags(debug=-1):
            pass


def test_config_from_environment_parser() -> None:
    cfg = Config()
    cfg.load_env({"TENSORIR_FLAGS": "floatX=float32, target=interp,cflags=-O2", "DEBUG": "3"})
    assert cfg.floatX == "float32" and cfg.cflags == "-O2" and cfg.debug == 3
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        Config().load_env({"TENSORIR_FLAGS": "flaotX=float32"})
    assert any("flaotX" in str(m.message) and "floatX" in str(m.message) for m in w)
    with pytest.raises(ConfigError, match="floatX"):
        Config().load_env({"TENSORIR_FLAGS": "floatX=double"})
    with pytest.raises(ConfigError, match="key=value"):
        Config().load_env({"TENSORIR_FLAGS": "floatX"})


def test_config_from_environment_subprocess() -> None:
    code = ("import tensorir; from tensorir import tensor as T; "
            "print(tensorir.config.floatX, tensorir.config.debug, T.matrix().dtype)")
    env = dict(os.environ, TENSORIR_FLAGS="floatX=float32,target=interp", DEBUG="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["float32", "2", "float32"]
    env = dict(os.environ, TENSORIR_FLAGS="floatX=float32,bogus=1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "bogus" in out.stderr


def test_import_forms() -> None:
    import tensorir.tensor as T2

    assert T2 is T
    assert tensorir.In is In and tensorir.function is function
    assert callable(T.nnet.softmax)


def test_import_tensorir_does_not_import_dask() -> None:
    """tensorir.dask imports dask only when one of its functions runs (extra [dask])."""
    code = ("import sys, tensorir; tensorir.dask.worker_threads(1); "
            "print(sorted({'dask', 'distributed'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
