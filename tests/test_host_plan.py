"""The host plans of device targets compiled to Python (runtime/host_plan.py), on a device (OpenCL: PoCL in CI;
CUDA where there is a GPU: .ci/gpu-check runs this file there), against the interpreted host plan of the same
function. The Python forms of its arithmetic: tests/test_host_plan_forms.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.ir.core import TirValueError

DEVICES = ["opencl", "cuda"]


def _device(target: str) -> None:
    if target == "opencl":
        from tensorir.runtime.opencl import unavailable_reason
    else:
        from tensorir.runtime.cuda import unavailable_reason
    why = unavailable_reason()
    if why:
        pytest.skip(f"no {target} device: {why}")


def _step(target: str):
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((12, 16)).astype(np.float32) / 4, "b1": np.zeros(16, np.float32),
              "W2": rng.standard_normal((16, 5)).astype(np.float32) / 4, "b2": np.zeros(5, np.float32)}
    shared = {k: tensorir.shared(v, name=k) for k, v in params.items()}
    x, t = T.fmatrix("x"), T.fmatrix("t")
    z = T.dot(T.tanh(T.dot(x, shared["W1"]) + shared["b1"]), shared["W2"]) + shared["b2"]
    cost = -(t * T.log_softmax(z)).sum(axis=1).mean()
    grads = tensorir.grad(cost, list(shared.values()))
    step = tensorir.function([x, t], cost, updates=[(s, s - 0.1 * g) for s, g in zip(shared.values(), grads)],
                             target=target)
    return step, shared


@pytest.mark.parametrize("target", DEVICES)
def test_a_training_step_runs_its_plan_as_python_and_matches_the_interpreted_plan(target: str) -> None:
    _device(target)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 12)).astype(np.float32)
    t = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 9)]
    results = []
    for compiled in (True, False):
        step, shared = _step(target)
        module = step._run.module
        plan = module.plans["main"]
        assert plan is not None and "def plan(" in plan.source
        if not compiled:
            module.plans["main"] = None  # the reference interpreter runs the same host function
        costs = [float(step(x, t)) for _ in range(3)]
        results.append((costs, {k: s.get_value() for k, s in shared.items()}))
    (costs, weights), (want_costs, want_weights) = results
    assert costs == want_costs and costs[-1] < costs[0]
    for k in weights:
        np.testing.assert_array_equal(weights[k], want_weights[k])


@pytest.mark.parametrize("target", DEVICES)
def test_a_failed_check_in_a_compiled_plan_names_the_users_op(target: str) -> None:
    _device(target)
    x, y = T.fvector("x"), T.fvector("y")
    f = tensorir.function([x, y], T.exp(x) + y, target=target)
    assert all(plan is not None for plan in f._run.module.plans.values())
    with pytest.raises(TirValueError, match="do not broadcast") as info:
        f(np.ones(3, np.float32), np.ones(4, np.float32))
    assert "test_host_plan.py" in str(info.value)


@pytest.mark.parametrize("target", DEVICES)
@pytest.mark.parametrize("backwards", [False, True])
def test_scan_with_until_and_ifelse_run_as_python_loops_and_branches(backwards: bool, target: str) -> None:
    """loop.host_for (scan, reversed, ended by `until`) and loop.if (ifelse) in a compiled plan: both branches and
    the iteration count equal the interpreted plan's."""
    _device(target)
    x, h0, w, c = T.fmatrix("x"), T.fvector("h0"), T.fmatrix("W"), T.fscalar("c")

    def step(xt, h, w):
        new = T.tanh(T.dot(h, w) + xt)
        return new, tensorir.until(xt.sum() > 50.0)

    hs, _ = tensorir.scan(step, sequences=[x], outputs_info=[h0], non_sequences=[w], go_backwards=backwards)
    out = tensorir.ifelse(T.gt(c, 0), hs.sum(), hs.max())
    rng = np.random.default_rng(5)
    args = [rng.standard_normal((40, 8)).astype(np.float32), np.zeros(8, np.float32),
            rng.standard_normal((8, 8)).astype(np.float32) / 2]
    args[0][25] += 10  # the row that ends the loop: after 26 steps forward, 15 backward
    runs = []
    for compiled in (True, False):
        f = tensorir.function([x, h0, w, c], [hs, out], target=target)
        module = f._run.module
        assert module.plans["main"] is not None and "for " in module.plans["main"].source
        if not compiled:
            module.plans["main"] = None
        runs.append([f(*args, np.float32(s)) for s in (1, -1)])
    for (hs_got, out_got), (hs_want, out_want) in zip(*runs):
        assert len(hs_got) == (15 if backwards else 26)
        np.testing.assert_array_equal(hs_got, hs_want)
        assert out_got == out_want
