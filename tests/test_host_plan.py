"""The host plans of device targets compiled to Python (runtime/host_plan.py).

Oracles: each scalar op's own interpreter rule (numpy) for the Python expressions the plan writes in its place,
and the interpreted host plan for whole functions on the OpenCL device (PoCL in CI).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorir
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorir import tensor as T
from tensorir.frontend.parser import parse
from tensorir.ir.core import TirValueError
from tensorir.runtime import host_plan as H

TYPES = {"index": st.integers(-2**31, 2**31), "i64": st.integers(-2**63, 2**63 - 1), "i1": st.booleans()}
DTYPES = {"index": np.int64, "i64": np.int64, "i1": np.bool_}


def _op(name: str, ins: list[str], out: str):
    args = ", ".join(f"%a{k}: {t}" for k, t in enumerate(ins))
    attrs = f" {{dtype = {out}}}" if name == "scalar.cast" else ""
    text = (f"func.func @f({args}) -> {out} {{\n  %r = {name} {', '.join(f'%a{k}' for k in range(len(ins)))}{attrs}"
            f" : {out}\n  func.return %r : {out}\n}}")
    return parse(text).regions[0].block.ops[0].regions[0].block.ops[0]


# (op, operand types, result type): every form the plan writes as Python
FORMS = ([(n, ["index"] * (1 if n in ("scalar.neg", "scalar.abs") else 2), "index") for n in H.ARITHMETIC]
         + [(n, [t, t], "i64") for n in ("scalar.maximum", "scalar.minimum") for t in ("i64",)]
         + [(n, [t, t], "i1") for n in H.COMPARISON for t in ("index", "i64", "i1")]
         + [(n, ["i1"] * (1 if n == "scalar.not" else 2), "i1") for n in H.LOGIC]
         + [("scalar.select", ["i1", t, t], t) for t in ("index", "i64", "i1")]
         + [("scalar.cast", [a], b) for a in ("index", "i64", "i1") for b in ("index", "i64", "i1") if a != b])


@pytest.mark.parametrize("name,ins,out", FORMS, ids=[f"{n}:{','.join(i)}" for n, i, _ in FORMS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_python_forms_give_the_scalar_rules_numbers(name: str, ins: list[str], out: str, data) -> None:
    op = _op(name, ins, out)
    template = H._fast_scalar(op)
    assert template is not None, f"{name} on {ins} is not written as Python"
    values = [data.draw(TYPES[t]) for t in ins]
    if name == "scalar.mul":  # (sizes times strides: within int64)
        values = [v % 2**31 for v in values]
    want = op.interpret(None, [DTYPES[t](v) for t, v in zip(ins, values)])[0]
    got = eval(template.format(*(f"a{k}" for k in range(len(values)))), {},  # noqa: S307 (the plan's own text)
               {f"a{k}": v for k, v in enumerate(values)})
    assert type(want)(got) == want and np.dtype(type(want)) == np.dtype(DTYPES[out])


@pytest.mark.parametrize("name,ins,out", [("scalar.add", ["i1", "i1"], "i1"),  # numpy: or; Python: 2
                                          ("scalar.add", ["i64", "i64"], "i64"),  # numpy wraps
                                          ("scalar.mul", ["i64", "i64"], "i64"),
                                          ("scalar.neg", ["i1"], "i1"),
                                          ("scalar.add", ["f32", "f32"], "f32"),
                                          ("scalar.cast", ["f32"], "index")])
def test_values_that_are_not_layout_keep_their_rule(name: str, ins: list[str], out: str) -> None:
    assert H._fast_scalar(_op(name, ins, out)) is None


# ---- whole host plans on the OpenCL device against the interpreted plan

def _opencl() -> None:
    from tensorir.runtime.opencl import unavailable_reason

    why = unavailable_reason()
    if why:
        pytest.skip(f"no OpenCL device: {why}")


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


def test_a_training_step_runs_its_plan_as_python_and_matches_the_interpreted_plan() -> None:
    _opencl()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 12)).astype(np.float32)
    t = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 9)]
    results = []
    for compiled in (True, False):
        step, shared = _step("opencl")
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


def test_a_failed_check_in_a_compiled_plan_names_the_users_op() -> None:
    _opencl()
    x, y = T.fvector("x"), T.fvector("y")
    f = tensorir.function([x, y], T.exp(x) + y, target="opencl")
    assert all(plan is not None for plan in f._run.module.plans.values())
    with pytest.raises(TirValueError, match="do not broadcast") as info:
        f(np.ones(3, np.float32), np.ones(4, np.float32))
    assert "test_host_plan.py" in str(info.value)


@pytest.mark.parametrize("backwards", [False, True])
def test_scan_with_until_and_ifelse_run_as_python_loops_and_branches(backwards: bool) -> None:
    """loop.host_for (scan, reversed, ended by `until`) and loop.if (ifelse) in a compiled plan: both branches and
    the iteration count equal the interpreted plan's."""
    _opencl()
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
        f = tensorir.function([x, h0, w, c], [hs, out], target="opencl")
        module = f._run.module
        assert module.plans["main"] is not None and "for " in module.plans["main"].source
        if not compiled:
            module.plans["main"] = None
        runs.append([f(*args, np.float32(s)) for s in (1, -1)])
    for (hs_got, out_got), (hs_want, out_want) in zip(*runs):
        assert len(hs_got) == (15 if backwards else 26)
        np.testing.assert_array_equal(hs_got, hs_want)
        assert out_got == out_want
