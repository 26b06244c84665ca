"""Gradients in the Python API (Theano's `theano.gradient`): `grad`, `Lop`, `Rop`, `jacobian`, `hessian`,
`stop_gradient` (also `disconnected_grad`, Theano's name) and `verify_grad`.

    from tensorir.gradient import verify_grad
    verify_grad(lambda x, y: T.tanh(x) * y, [np.random.rand(3, 4), np.random.rand(4)])

`verify_grad` checks the gradient the `autodiff` pass builds against central finite differences computed in
float64, as Theano's: the output is projected on a random tensor (so every element's gradient counts), and
each input element is moved by +-eps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tensorir.frontend import tensor_api as T
from tensorir.frontend.function import function
from tensorir.frontend.symbolic import Variable
from tensorir.frontend.tensor_api import Lop, Rop, grad, hessian, jacobian, stop_gradient
from tensorir.ir.core import DisconnectedInputError

__all__ = ["DisconnectedInputError", "GradientError", "Lop", "Rop", "disconnected_grad", "grad", "hessian", "jacobian",
           "stop_gradient", "verify_grad"]

disconnected_grad = stop_gradient

# Theano's defaults by the inputs' float type: the step of the differences and the tolerances.
EPS = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 3e-4, np.dtype(np.float16): 1e-1}
ABS_TOL = {np.dtype(np.float64): 1e-4, np.dtype(np.float32): 1e-2, np.dtype(np.float16): 5e-2}
REL_TOL = ABS_TOL


class GradientError(AssertionError):
    """The symbolic gradient and the finite differences disagree: the worst element, where and by how much."""

    def __init__(self, message: str, input_index: int, element: tuple[int, ...], abs_err: float,
                 rel_err: float) -> None:
        super().__init__(message)
        self.input_index, self.element, self.abs_err, self.rel_err = input_index, element, abs_err, rel_err


def _symbolic(values: Sequence[np.ndarray], dtype: Any = None) -> list[Variable]:
    return [T.tensor(dtype or v.dtype, shape=v.shape, name=f"x{k}") for k, v in enumerate(values)]


def verify_grad(fn: Callable[..., Variable], inputs: Sequence[Any], n_tests: int = 2,
                rng: np.random.Generator | np.random.RandomState | None = None, eps: float | None = None,
                abs_tol: float | None = None, rel_tol: float | None = None, target: str | None = None) -> None:
    """Check `tensorir.grad` of `fn` (a function of symbolic inputs, one per value of `inputs`, returning a
    variable) against central finite differences in float64, `n_tests` times, each time projecting the
    output on a new random tensor. Raises GradientError (an AssertionError) naming the input, the element
    and the errors where both the absolute and the relative error pass their tolerances (defaults by the
    inputs' float type, as Theano's). `target` compiles the gradient for that target (default
    `config.target`); the finite differences run on the reference interpreter, the oracle."""
    values = [np.asarray(v) for v in inputs]
    if not values or any(v.dtype.kind != "f" for v in values):
        raise TypeError("verify_grad needs float arrays as inputs")
    rng = rng if rng is not None else np.random.default_rng(42)
    dtype = np.result_type(*values)
    eps = eps if eps is not None else EPS[dtype]
    abs_tol = abs_tol if abs_tol is not None else ABS_TOL[dtype]
    rel_tol = rel_tol if rel_tol is not None else REL_TOL[dtype]

    xs, xs64 = _symbolic(values), _symbolic(values, np.float64)
    out, out64 = fn(*xs), fn(*xs64)
    shape = function(xs, out, target="interp")(*values).shape
    for _ in range(n_tests):
        projection = np.asarray(rng.uniform(-1.0, 1.0, size=shape))
        cost = T.sum(out * projection.astype(out.dtype))
        analytic = function(xs, grad(cost, xs), target=target)(*values)
        cost64 = function(xs64, T.sum(out64 * projection), target="interp")
        _compare(values, [np.asarray(a) for a in analytic], _differences(cost64, values, eps), abs_tol, rel_tol)


def _differences(cost: Callable[..., Any], values: Sequence[np.ndarray], eps: float) -> list[np.ndarray]:
    """The central difference (f(x + eps) - f(x - eps)) / 2 eps of the cost in each input element, in float64."""
    points = [v.astype(np.float64) for v in values]
    grads = []
    for x in points:
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            up = float(cost(*points))
            x[i] = old - eps
            down = float(cost(*points))
            x[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _compare(values: Sequence[np.ndarray], analytic: Sequence[np.ndarray], numeric: Sequence[np.ndarray],
             abs_tol: float, rel_tol: float) -> None:
    worst: tuple[float, int, tuple[int, ...], float, float, float] | None = None
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        if a.shape != n.shape:
            raise GradientError(f"gradient of input #{k} has shape {a.shape}, the input {n.shape}", k, (), np.inf,
                                np.inf)
        abs_err = np.abs(a.astype(np.float64) - n)
        rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
        bad = (abs_err > abs_tol) & (rel_err > rel_tol) | ~np.isfinite(abs_err)
        if bad.any():
            i = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(rel_err, nan=np.inf), -1))), a.shape)
            if worst is None or rel_err[i] > worst[0]:
                worst = (float(rel_err[i]), k, tuple(int(j) for j in i), float(a[i]), float(n[i]), float(abs_err[i]))
    if worst is not None:
        rel, k, i, a_i, n_i, abs_ = worst
        raise GradientError(f"verify_grad: the gradient of input #{k} at {i} is {a_i!r} but finite differences "
                            f"give {n_i!r} (abs error {abs_:.3g}, rel error {rel:.3g})", k, i, abs_, rel)
