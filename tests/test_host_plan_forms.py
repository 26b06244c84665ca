"""The Python forms of a host plan's layout arithmetic (runtime/host_plan.py) against each scalar op's own
interpreter rule (numpy), with hypothesis. Whole plans on devices: tests/test_host_plan.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorir.frontend.parser import parse
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


