"""`tensor.if` (Theano's lazy ifelse): the reference interpreter, every stage of the cpu pipeline and the C
target against numpy, for both branches, with `?` dims whose run-time sizes differ between the branches;
only the taken branch runs (the other would fail)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tensorir.backends.c import render_c
from tensorir.frontend.parser import parse
from tensorir.passes import PIPELINES, run_pipeline
from tensorir.runtime import c_module
from tensorir.runtime.interpreter import Interpreter

# @pick: then x * exp(y) (x's length), else y[1:] + 1 (one shorter); the result is also summed after the if
# (a value defined outside, used inside: x; an alloc of the then branch is freed inside it).
# @lazy: the else branch takes y at index 10: out of bounds for the short y of the tests.
# @nested: an if inside a branch, yielding two values of which one is an argument (copied).
IR = """
func.func @pick(%c: tensor<i1>, %x: tensor<?xf32>, %y: tensor<?xf32>) -> (tensor<?xf32>, tensor<f32>) {
  %r = tensor.if %c ({
    %e = tensor.exp %y : tensor<?xf32>
    %m = tensor.mul %x, %e : tensor<?xf32>
    tensor.yield %m : tensor<?xf32>
  }, {
    %s = tensor.subtensor %y {begin = [1], end = [none], step = [none]} : tensor<?xf32>
    %one = tensor.constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
    %p = tensor.add %s, %one : tensor<?xf32>
    tensor.yield %p : tensor<?xf32>
  }) : tensor<?xf32>
  %t = tensor.sum %r {axis = [0]} : tensor<f32>
  func.return %r, %t : tensor<?xf32>, tensor<f32>
}

func.func @lazy(%c: tensor<i1>, %y: tensor<?xf32>) -> tensor<f32> {
  %r = tensor.if %c ({
    %s = tensor.sum %y {axis = [0]} : tensor<f32>
    tensor.yield %s : tensor<f32>
  }, {
    %i = tensor.constant {value = dense<10> : tensor<i64>} : tensor<i64>
    %t = tensor.take %y, %i : tensor<f32>
    tensor.yield %t : tensor<f32>
  }) : tensor<f32>
  func.return %r : tensor<f32>
}

func.func @nested(%c: tensor<i1>, %d: tensor<i1>, %x: tensor<?x3xf64>) -> (tensor<?x3xf64>, tensor<?x3xf64>) {
  %r, %q = tensor.if %c ({
    %a, %b = tensor.if %d ({
      %n = tensor.neg %x : tensor<?x3xf64>
      tensor.yield %n, %x : tensor<?x3xf64>, tensor<?x3xf64>
    }, {
      %s = tensor.mul %x, %x : tensor<?x3xf64>
      tensor.yield %x, %s : tensor<?x3xf64>, tensor<?x3xf64>
    }) : tensor<?x3xf64>, tensor<?x3xf64>
    tensor.yield %a, %b : tensor<?x3xf64>, tensor<?x3xf64>
  }, {
    %t = tensor.transpose %x {perm = [1, 0]} : tensor<3x?xf64>
    %u = tensor.reshape %t {shape = [-1, 3]} : tensor<?x3xf64>
    tensor.yield %u, %x : tensor<?x3xf64>, tensor<?x3xf64>
  }) : tensor<?x3xf64>, tensor<?x3xf64>
  func.return %r, %q : tensor<?x3xf64>, tensor<?x3xf64>
}
"""

rng = np.random.default_rng(0)
X = rng.standard_normal(5).astype(np.float32)
Y = rng.standard_normal(5).astype(np.float32)
M = rng.standard_normal((4, 3))


def expected(name: str, args: list[Any]) -> list[np.ndarray]:
    """numpy's results (the oracle)."""
    if name == "pick":
        c, x, y = args
        r = x * np.exp(y) if c else y[1:] + np.float32(1)
        return [r, np.sum(r, dtype=np.float64).astype(np.float32)]
    if name == "lazy":
        return [np.sum(args[1], dtype=np.float64).astype(np.float32)]
    c, d, x = args
    if c:
        return [-x, x] if d else [x, x * x]
    return [x.T.reshape(-1, 3), x]


CASES = [("pick", [np.bool_(True), X, Y]), ("pick", [np.bool_(False), X, Y]), ("lazy", [np.bool_(True), Y[:3]]),
         *[("nested", [np.bool_(c), np.bool_(d), M]) for c in (True, False) for d in (True, False)]]


def check(got: list[Any], want: list[np.ndarray], where: str) -> None:
    assert len(got) == len(want), where
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert (g.dtype, g.shape) == (w.dtype, w.shape), where
        np.testing.assert_allclose(g, w, rtol=1e-5, err_msg=where)


@pytest.mark.parametrize("stop", ["", "bufferize", "lower-to-loops", "fuse-loops", "outline-kernels"])
def test_interpreter_at_each_stage(stop: str) -> None:
    module = parse(IR)
    if stop:
        passes = PIPELINES["cpu"]
        run_pipeline(module, passes[:passes.index(stop) + 1])
    for name, args in CASES:
        check(Interpreter(module).call(name, args), expected(name, args), f"{name} {args[:2]} after {stop!r}")


def compiled(name: str) -> Any:
    """Function `name` of IR compiled by the cpu pipeline (one C source per function)."""
    module = parse(IR)
    run_pipeline(module, PIPELINES["cpu"][:-1])
    return c_module.load(render_c(module, name), name)


@pytest.mark.parametrize("name", ["pick", "nested"])
def test_c_target(name: str) -> None:
    f = compiled(name)
    for case, args in CASES:
        if case == name:
            check(f.run(*args), expected(name, args), f"{name} {args[:2]} on C")


def test_the_untaken_branch_never_runs() -> None:
    """@lazy's else branch reads y[10] of a 3-element y: taken, it fails (the interpreter and C alike); not
    taken, the call succeeds on both."""
    f = compiled("lazy")
    y = Y[:3]
    for run in (lambda *a: Interpreter(parse(IR)).call("lazy", list(a)), lambda *a: [f.run(*a)]):
        check(run(np.bool_(True), y), expected("lazy", [True, y]), "lazy, then taken")
        with pytest.raises(Exception, match="index"):
            run(np.bool_(False), y)


# ---------------------------------------------------------------- the Python API: tensorir.ifelse

TARGETS = ["interp", "c"]


def _api_inputs() -> tuple[Any, Any, Any]:
    from tensorir import tensor as T

    return T.scalar("c", dtype="bool"), T.vector("x"), T.matrix("m")


@pytest.mark.parametrize("target", TARGETS)
def test_ifelse_one_value_and_lists(target: str) -> None:
    """Both branches against numpy: one value whose length differs between the branches, lists of values (a
    value both branches use, x * 2, is computed once before the if), an if in a branch of another."""
    import tensorir
    from tensorir import tensor as T

    c, x, m = _api_inputs()
    shared_value = x * 2
    one = tensorir.ifelse(c, T.exp(x) + shared_value, shared_value[1:])
    many = tensorir.ifelse(c, [T.dot(m, x), m.sum()], [shared_value - 1, T.max(m)])
    after = T.exp(m).sum()  # used by the inner if's branch and after the outer if: stays outside both
    nested = tensorir.ifelse(c, tensorir.ifelse(x.sum() > 0, after * 2, after), T.min(m)) + after
    f = tensorir.function([c, x, m], [one, *many, nested], target=target)
    xs = np.linspace(-1, 1, 4)
    ms = np.arange(12.0).reshape(3, 4) / 10
    for cond in (True, False):
        got = f(np.bool_(cond), xs, ms)
        after = np.exp(ms).sum()
        inner = after * 2 if xs.sum() > 0 else after
        want = [np.exp(xs) + xs * 2, ms @ xs, ms.sum(), inner + after] if cond else \
            [(xs * 2)[1:], xs * 2 - 1, ms.max(), ms.min() + after]
        check([np.asarray(g) for g in got], [np.asarray(w) for w in want], f"{target} cond={cond}")


@pytest.mark.parametrize("target", TARGETS)
def test_ifelse_is_lazy(target: str) -> None:
    """The else branch reads x[10] of a 3-element x, which raises when it runs: with the condition true the
    call succeeds (the branch never ran); with it false it raises (the same function, so the branch is there)."""
    import tensorir
    from tensorir import tensor as T

    c, x, _ = _api_inputs()
    f = tensorir.function([c, x], tensorir.ifelse(c, T.sum(T.exp(x)), x[10] * 2), target=target)
    xs = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(f(np.bool_(True), xs), np.exp(xs).sum())
    with pytest.raises(Exception, match="out of bounds"):
        f(np.bool_(False), xs)


@pytest.mark.parametrize("target", TARGETS)
def test_gradient_through_ifelse(target: str) -> None:
    """verify_grad (finite differences on the interpreter) through both branches; the condition depends on
    the input (x's sum), each branch reads x and w differently (the else branch reads no w: its cotangent is 0)."""
    import tensorir
    from tensorir import tensor as T
    from tensorir.gradient import verify_grad

    def fn(x: Any, w: Any) -> Any:
        return tensorir.ifelse(T.sum(x) > 0, T.exp(x) * w.sum(), x[1:] ** 2 + x[0])

    w = np.array([0.3, -0.2])
    for xs in (np.array([0.2, 0.4, 0.1]), np.array([-0.5, 0.3, -0.4])):
        verify_grad(fn, [xs, w], target=target)
