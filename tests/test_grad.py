"""Gradients: every tensor op declares its rule (or that it has none), the autodiff pass and tensor.grad,
`tensorir.grad` and `verify_grad` against finite differences."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import DisconnectedInputError, TirError
from tensorir import tensor as T
from tensorir.dialects import tensor as D
from tensorir.frontend.parser import parse
from tensorir.gradient import GradientError, verify_grad
from tensorir.ir.core import OP_REGISTRY, NotSupportedError, Operation
from tensorir.ir.printer import print_module
from tensorir.passes import run_pipeline
from tensorir.runtime.interpreter import run


def _has_rule(cls: type[Operation]) -> bool:
    return any("vjp" in c.__dict__ for c in cls.__mro__ if c is not Operation)


def test_every_differentiable_tensor_op_declares_a_gradient_rule() -> None:
    assert D.SinOp.name in OP_REGISTRY  # the dialect is loaded
    ops = sorted((c for n, c in OP_REGISTRY.items() if n.startswith("tensor.")), key=lambda c: c.name)
    missing = [c.name for c in ops if c.differentiable and not _has_rule(c)]
    assert not missing, f"differentiable tensor ops without a gradient rule (vjp): {missing}"
    contradictory = [c.name for c in ops if not c.differentiable and _has_rule(c)]
    assert not contradictory, f"ops declared non-differentiable that have a rule: {contradictory}"
    # the unary math rows carry their rule too, and comparisons say they have none
    assert _has_rule(D.TanhOp) and _has_rule(D.ErfOp) and not D.LtOp.differentiable


# ---------------------------------------------------------------- verify_grad, op by op

R = np.random.default_rng(0)


def _u(*shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return R.uniform(lo, hi, size=shape)


POS = {"lo": 0.5, "hi": 2.0}  # domain of log, sqrt ...
UNIT = {"lo": -0.8, "hi": 0.8}  # arcsin, arccos
UNARY_DOMAIN: dict[str, dict[str, float]] = {
    "log": POS, "log2": POS, "log10": POS, "sqrt": POS, "rsqrt": POS, "log1p": POS, "arcsin": UNIT, "arccos": UNIT}
UNARY = ["neg", "abs", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "square", "sin",
         "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "sigmoid", "softplus", "erf", "erfc",
         "relu", "sign", "floor", "ceil", "round"]


def _away_from_kinks(x: np.ndarray) -> np.ndarray:
    """Values at least 0.1 from integers and zero, where abs, relu, floor ... have a derivative."""
    return np.round(x * 4) / 4 + np.where(x >= 0, 0.125, -0.125)


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients(name: str) -> None:
    x = _away_from_kinks(_u(3, 4, **UNARY_DOMAIN.get(name, {})))
    verify_grad(getattr(T, name), [x], target="interp")


BINARY_CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    # broadcasting: a row, a column, a 0-d operand
    "add": (lambda a, b: a + b, [_u(3, 4), _u(4)]),
    "sub": (lambda a, b: a - b, [_u(3, 1), _u(3, 4)]),
    "mul": (lambda a, b: a * b, [_u(2, 3, 4), _u(3, 1)]),
    "true_div": (lambda a, b: a / b, [_u(3, 4), _u(4, **POS)]),
    "pow": (lambda a, b: a ** b, [_u(3, 4, **POS), _u(4)]),
    "mod": (lambda a, b: T.mod(a, b), [np.array([0.3, 1.4, 2.2, -0.7]), np.array(0.9)]),
    "arctan2": (lambda a, b: T.arctan2(a, b), [_u(3, 4), _u(3, 1, **POS)]),
    "maximum": (lambda a, b: T.maximum(a, b), [_u(3, 4), _u(4)]),
    "minimum": (lambda a, b: T.minimum(a, b), [_u(3, 4), _u(4)]),
    "binary_crossentropy": (lambda o, t: T.binary_crossentropy(o, t), [_u(5, lo=0.2, hi=0.8), _u(5, lo=0, hi=1)]),
    "clip": (lambda x, lo, hi: T.clip(x, lo, hi), [np.array([-0.9, -0.2, 0.1, 0.6, 0.9]), np.array(-0.5),
                                                   np.array([0.5])]),
    "where": (lambda a, b: T.switch(a > 0, a * b, b), [_u(3, 4), _u(4)]),
    "cast": (lambda a: T.cast(a, "float64") * 2.0, [_u(3).astype(np.float32)]),
}


@pytest.mark.parametrize("name", sorted(BINARY_CASES))
def test_elementwise_gradients_undo_broadcasting(name: str) -> None:
    fn, inputs = BINARY_CASES[name]
    verify_grad(fn, inputs, target="interp")


SHAPED_CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    "sum": (lambda x: T.sum(x, axis=1), [_u(3, 4)]),
    "sum_keepdims": (lambda x: T.sum(x, axis=0, keepdims=True) * x, [_u(3, 4)]),
    "prod": (lambda x: T.prod(x, axis=0), [_u(3, 4, **POS)]),
    "mean": (lambda x: T.mean(x, axis=(0, 2)), [_u(2, 3, 4)]),
    "max": (lambda x: T.max(x, axis=1), [_u(3, 4)]),
    "min": (lambda x: T.min(x), [_u(3, 4)]),
    "var": (lambda x: T.var(x, axis=1, ddof=1), [_u(3, 4)]),
    "std": (lambda x: T.std(x, axis=0), [_u(3, 4)]),
    "softmax": (lambda x: T.nnet.softmax(x), [_u(3, 4)]),
    "log_softmax": (lambda x: T.nnet.log_softmax(x, axis=0), [_u(3, 4)]),
    "logsumexp": (lambda x: T.logsumexp(x, axis=1), [_u(3, 4)]),
    "categorical_crossentropy": (lambda p, t: T.nnet.categorical_crossentropy(T.nnet.softmax(p), t),
                                 [_u(3, 4), _u(3, 4, lo=0, hi=1)]),
    "categorical_crossentropy_indexed": (
        lambda p: T.nnet.categorical_crossentropy(T.nnet.softmax(p), np.array([0, 3, 1])), [_u(3, 4)]),
    "dot_mv": (lambda a, b: T.dot(a, b), [_u(3, 4), _u(4)]),
    "dot_vv": (lambda a, b: T.dot(a, b), [_u(4), _u(4)]),
    "dot_mm": (lambda a, b: T.dot(a, b), [_u(3, 4), _u(4, 2)]),
    "dot_vm": (lambda a, b: T.dot(a, b), [_u(4), _u(4, 2)]),
    "dot_3m": (lambda a, b: T.dot(a, b), [_u(2, 3, 4), _u(4, 2)]),
    "dot_3m3": (lambda a, b: T.dot(a, b), [_u(2, 4), _u(3, 4, 2)]),
    "dot_v3": (lambda a, b: T.dot(a, b), [_u(4), _u(2, 4, 3)]),
    "dot_scale": (lambda a, b: T.dot(a, b), [_u(), _u(3)]),
    "matmul_batch": (lambda a, b: T.matmul(a, b), [_u(2, 3, 4), _u(4, 2)]),
    "matmul_vec": (lambda a, b: T.matmul(a, b), [_u(4), _u(2, 4, 3)]),
    "outer": (lambda a, b: T.outer(a, b), [_u(3), _u(2, 2)]),
    "reshape": (lambda x: T.reshape(x, (4, 3)) * np.arange(12.0).reshape(4, 3), [_u(3, 4)]),
    "flatten": (lambda x: T.flatten(x, 2), [_u(2, 3, 2)]),
    "dimshuffle": (lambda x: x.dimshuffle(2, "x", 0), [_u(3, 1, 4)]),
    "transpose": (lambda x: T.transpose(x, (1, 2, 0)), [_u(2, 3, 4)]),
    "expand_dims": (lambda x: T.expand_dims(x, 1), [_u(3, 4)]),
    "squeeze": (lambda x: T.squeeze(x), [_u(3, 1, 4)]),
    "broadcast_to": (lambda x: T.broadcast_to(x, (2, 3, 4)), [_u(3, 1)]),
    "alloc": (lambda x: T.alloc(x, 2, 3), [_u(3)]),
    "concatenate": (lambda a, b: T.concatenate([a, b, a], axis=1), [_u(2, 3), _u(2, 1)]),
    "stack": (lambda a, b: T.stack([a, b], axis=1), [_u(2, 3), _u(2, 3)]),
    "subtensor": (lambda x: x[1:, ::2] * x[0, 1], [_u(3, 4)]),
    "set_subtensor": (lambda x, y: T.set_subtensor(x[1:, 1], y), [_u(3, 4), _u(2)]),
    "inc_subtensor": (lambda x, y: T.inc_subtensor(x[:2], y), [_u(3, 4), _u(4)]),
    "take": (lambda x: T.take(x, np.array([2, 0, 2]), axis=1), [_u(3, 4)]),
    "take_flat": (lambda x: T.take(x, np.array([[5, 1], [5, 0]])), [_u(3, 4)]),
    "set_take": (lambda x, y: T.set_subtensor(x[np.array([0, 2])], y), [_u(3, 4), _u(4)]),
    "inc_take": (lambda x, y: T.inc_subtensor(x[np.array([1, 1])], y), [_u(3, 4), _u(2, 4)]),
}


@pytest.mark.parametrize("name", sorted(SHAPED_CASES))
def test_reduction_linalg_and_shape_gradients(name: str) -> None:
    fn, inputs = SHAPED_CASES[name]
    verify_grad(fn, inputs, target="interp")


# ---------------------------------------------------------------- tensor.grad, autodiff, tensorir.grad

GRAD_TIR = """func.func @f(%x: tensor<3xf64>, %y: tensor<3xf64>) -> tensor<3xf64> {
  %e = tensor.exp %x : tensor<3xf64>
  %c = tensor.sum %e : tensor<f64>
  %g = tensor.grad %c wrt %x : tensor<3xf64>
  func.return %g : tensor<3xf64>
}
"""


def test_grad_op_prints_and_parses_and_the_interpreter_refuses_it_unexpanded() -> None:
    module = parse(GRAD_TIR)
    assert print_module(parse(print_module(module))) == print_module(module)
    assert "%g = tensor.grad %c wrt %x : tensor<3xf64>" in print_module(module)
    with pytest.raises(NotSupportedError, match=r"'tensor.grad' op must be expanded by the autodiff pass"):
        run(module, "f", np.zeros(3), np.zeros(3))
    run_pipeline(module, "autodiff")
    x = np.array([0.0, 1.0, -2.0])
    np.testing.assert_allclose(run(module, "f", x, x)[0], np.exp(x))


def test_grad_must_have_a_0d_float_cost() -> None:
    with pytest.raises(TirError, match=r"cost must be a 0-d float tensor, got tensor<\?xf64>"):
        tensorir.grad(T.dvector("x") * 2.0, T.dvector("y"))


def test_disconnected_input_raises_naming_it_unless_ignored() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    cost = T.sum(T.exp(x))
    with pytest.raises(DisconnectedInputError, match=r"does not depend on input %y"):
        tensorir.function([x, y], tensorir.grad(cost, [x, y]), target="interp")
    f = tensorir.function([x, y], tensorir.grad(cost, [x, y], disconnected_inputs="ignore"), target="interp")
    gx, gy = f(np.array([0.0, 1.0]), np.array([3.0, 4.0, 5.0]))
    np.testing.assert_allclose(gx, np.exp([0.0, 1.0]))
    np.testing.assert_array_equal(gy, np.zeros(3))
    assert isinstance(DisconnectedInputError("m"), TirError)


@pytest.mark.parametrize("target", ["interp", "c"])
def test_grad_of_grad_by_running_the_pass_again(target: str) -> None:
    x = T.dvector("x")
    g = T.grad(T.sum(x ** 3), x)
    h = tensorir.grad(T.sum(g), x)  # d2/dx2 of sum(x^3) = 6x
    xs = np.array([-1.5, 0.0, 2.0, 3.0])
    gx, hx = tensorir.function([x], [g, h], target=target)(xs)
    np.testing.assert_allclose(gx, 3 * xs ** 2)
    np.testing.assert_allclose(hx, 6 * xs)


@pytest.mark.parametrize("target", ["interp", "c"])
def test_dynamic_dims_that_are_one_at_run_time_are_summed(target: str) -> None:
    a, b = T.dmatrix("a"), T.dmatrix("b")  # both ?x?: which one broadcasts is known only at run time
    f = tensorir.function([a, b], tensorir.grad(T.sum(T.tanh(a * b)), [a, b]), target=target)
    for sa, sb in [((1, 4), (3, 4)), ((3, 4), (3, 1)), ((3, 4), (3, 4)), ((1, 1), (2, 3))]:
        av, bv = R.uniform(-1, 1, sa), R.uniform(-1, 1, sb)
        d = 1 - np.tanh(av * bv) ** 2
        ga, gb = f(av, bv)
        np.testing.assert_allclose(ga, np.sum(d * bv, axis=tuple(k for k in range(2) if sa[k] == 1 != sb[k]),
                                              keepdims=True).reshape(sa))
        np.testing.assert_allclose(gb, np.sum(d * av, axis=tuple(k for k in range(2) if sb[k] == 1 != sa[k]),
                                              keepdims=True).reshape(sb))


@pytest.mark.parametrize("target", ["interp", "c"])
def test_a_dim_of_one_next_to_a_dynamic_dim_broadcast_at_run_time(target: str) -> None:
    # m is 1x? and broadcast to 3x2: its gradient is summed along dim 0 (static) and, when x has one column,
    # along dim 1 (found at run time); it once was reshaped to m's shape before that second sum
    x = T.dmatrix("x")
    m = T.mean(x, axis=0, keepdims=True)
    w = R.uniform(-1, 1, (3, 2))
    f = tensorir.function([x], tensorir.grad(T.sum(T.exp(m) * w), x), target=target)
    xv = R.uniform(-1, 1, (3, 1))
    np.testing.assert_allclose(f(xv), np.full((3, 1), np.exp(xv.mean()) * w.sum() / 3))
    xv = R.uniform(-1, 1, (3, 2))
    np.testing.assert_allclose(f(xv), np.broadcast_to(np.exp(xv.mean(axis=0)) * w.sum(axis=0) / 3, (3, 2)))


def test_a_gradient_has_its_values_static_shape() -> None:
    # concatenate's rule slices s's 1x1 gradient from a 1x? one, typed 1x?: dimshuffle's rule, which drops
    # both dims, refused it
    s, x = T.dscalar("s"), T.drow("x")
    c = T.concatenate([s.dimshuffle("x", "x"), x], axis=1)
    f = tensorir.function([s, x], tensorir.grad(T.sum(T.exp(c)), [s, x]), target="interp")
    xv = np.array([[0.1, -0.2, 0.3]])
    gs, gx = f(0.5, xv)
    np.testing.assert_allclose(gs, np.exp(0.5))
    np.testing.assert_allclose(gx, np.exp(xv))


@pytest.mark.parametrize("target", ["interp", "c"])
def test_prod_gradient_with_zeros_is_the_product_of_the_others(target: str) -> None:
    # rows without a zero, with one, with two; it was g * prod / x: nan at a zero
    x = T.dmatrix("x")
    f = tensorir.function([x], tensorir.grad(T.sum(T.prod(x, axis=1) * np.array([1.0, 2.0, 3.0])), x),
                          target=target)
    xv = np.array([[0.5, -2.0, 1.5, 3.0], [0.5, 0.0, 1.5, 3.0], [0.0, -2.0, 0.0, 3.0]])
    others = [[np.prod(np.delete(row, j)) for j in range(4)] for row in xv]
    np.testing.assert_allclose(f(xv), np.array([[1.0], [2.0], [3.0]]) * others)


def test_consider_constant_stops_the_gradient_and_wrt_keeps_its_structure() -> None:
    x = T.dvector("x")
    y = T.exp(x)
    gx = tensorir.grad(T.sum(y * x), x, consider_constant=[y])  # y held constant: d/dx = y
    (g_tuple,) = tensorir.grad(T.sum(y * x), (x,))
    xs = np.array([0.5, -1.0])
    out = tensorir.function([x], [gx, g_tuple], target="interp")(xs)
    np.testing.assert_allclose(out[0], np.exp(xs))
    np.testing.assert_allclose(out[1], np.exp(xs) * (xs + 1))


def test_verify_grad_reports_a_wrong_gradient() -> None:
    # floor's gradient is zero, but its finite differences across a step are not: the check must fail there
    with pytest.raises(GradientError, match=r"gradient of input #0 at \(1,\) is 0.0 but finite differences give"):
        verify_grad(T.floor, [np.array([0.2, 1.0 - 1e-8, 0.5])], n_tests=1, target="interp")
    assert issubclass(GradientError, AssertionError)


def _together(cases: list[tuple[Callable[..., Any], list[np.ndarray]]]) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """One function of all the cases' inputs: the sum of each output weighted by a fixed random tensor (so a
    gradient that is wrong only in where it puts values still shows), to compile one graph for all."""
    inputs = [x for _, ins in cases for x in ins]

    def fn(*xs: Any) -> Any:
        total, k = None, 0
        for i, (f, ins) in enumerate(cases):
            out = f(*xs[k:k + len(ins)])
            k += len(ins)
            weights = np.random.default_rng(i).uniform(0.5, 1.5, size=out.type.shape)
            term = T.sum(out * weights.astype(out.dtype))
            total = term if total is None else total + term
        return total

    return fn, inputs


C_CASES = ["add", "mul", "true_div", "pow", "maximum", "clip", "where", "binary_crossentropy", "cast"]
C_SHAPED = ["sum", "prod", "mean", "max", "var", "std", "softmax", "log_softmax", "logsumexp",
            "categorical_crossentropy_indexed", "dot_mm", "dot_mv", "dot_3m3", "matmul_batch", "outer", "reshape",
            "dimshuffle", "transpose", "broadcast_to", "concatenate", "stack", "subtensor", "set_subtensor",
            "inc_subtensor", "take", "inc_take"]


def test_verify_grad_on_the_c_target() -> None:
    """The expanded gradient graphs compile and run natively: unary ops in one graph, the binary ops in
    another, the reductions, linear algebra and shape ops in a third."""
    x = _away_from_kinks(_u(3, 4, lo=0.3, hi=0.7))  # 0.375 ... 0.875: in every op's domain
    verify_grad(lambda v: sum((getattr(T, n)(v) for n in UNARY), T.zeros_like(v)), [x], n_tests=1, target="c")
    verify_grad(*_together([BINARY_CASES[n] for n in C_CASES]), n_tests=1, target="c")
    verify_grad(*_together([SHAPED_CASES[n] for n in C_SHAPED]), n_tests=1, target="c")


def test_check_numerics_runs_functions_that_hold_a_grad_with_it_expanded(capsys: pytest.CaptureFixture[str]) -> None:
    from tensorir.tools import tir_opt

    path = str(Path(__file__).parent / "ir" / "autodiff.tir")
    assert tir_opt.main([path, "--pipeline", "interp", "--check-numerics"]) == 0
    assert "@dynamic_broadcast, @ignored, @tanh_mul: same results after each of 6 passes" in capsys.readouterr().err


def test_tir_opt_prints_the_gradient_graph_after_autodiff(capsys: pytest.CaptureFixture[str]) -> None:
    from tensorir.tools import tir_opt

    path = str(Path(__file__).parent / "ir" / "autodiff.tir")
    assert tir_opt.main([path, "--pipeline", "interp", "--print-ir-after=autodiff", "-o", os.devnull]) == 0
    dump = capsys.readouterr().out
    assert dump.startswith("// -----// IR Dump After autodiff //----- //\nfunc.func @tanh_mul(")
    assert "tensor.grad" not in dump and "%5 = tensor.sum %4 {axes = [0], keepdims = false} : tensor<3xf32>" in dump


@pytest.mark.parametrize("target", ["interp", "c"])
def test_logistic_regression_gradient_matches_its_closed_form(target: str) -> None:
    x, y, w, b = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.dscalar("b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = T.mean(T.nnet.binary_crossentropy(p, y)) + 0.01 * T.sum(w ** 2)
    gw, gb = tensorir.grad(cost, [w, b])
    f = tensorir.function([x, y, w, b], [gw, gb], target=target)
    rng = np.random.default_rng(5)
    xv, yv, wv = rng.standard_normal((20, 6)), (rng.random(20) < 0.5).astype(np.float64), rng.standard_normal(6)
    pv = 1 / (1 + np.exp(-(xv @ wv + 0.3)))
    got_w, got_b = f(xv, yv, wv, 0.3)
    np.testing.assert_allclose(got_w, xv.T @ (pv - yv) / 20 + 0.02 * wv, rtol=1e-9)
    np.testing.assert_allclose(got_b, np.mean(pv - yv), rtol=1e-9)


def test_the_gradient_of_a_matrix_vector_product_is_a_blas_product_too() -> None:
    """d/dw of dot(x, w) is x^T g: a gemv of x's transpose (no float64 sum over a temporary of x's size), as the
    forward product is; its value equals numpy's on C-order and transposed inputs."""
    x, w = T.matrix("x", dtype="float32"), T.vector("w", dtype="float32")
    cost = (T.tanh(T.dot(x, w)) ** 2).sum()
    f = tensorir.function([x, w], tensorir.grad(cost, w), target="c")
    assert f.ir("lower-to-loops").count("lib.gemv") == 2
    rng = np.random.default_rng(11)
    for xv in (rng.standard_normal((300, 40)), rng.standard_normal((40, 300)).T):
        xv = xv.astype(np.float32)
        wv = (rng.standard_normal(40) * 0.1).astype(np.float32)
        z = np.tanh(xv.astype(np.float64) @ wv)
        np.testing.assert_allclose(f(xv, wv), xv.T.astype(np.float64) @ (2 * z * (1 - z * z)), rtol=1e-4, atol=1e-5)
