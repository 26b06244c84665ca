"""The Python forms of a host plan's layout arithmetic (each elementwise op's `python`, `python_types`;
runtime/host_plan.py) against the op's own interpreter rule (numpy), with hypothesis, on every typing they
allow. Whole plans on devices: tests/test_host_plan.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorir.dialects import scalar as S
from tensorir.frontend.parser import parse
from tensorir.ir.core import TirError
from tensorir.ir.verifier import verify

TYPES = {"index": st.integers(-2**31, 2**31), "i64": st.integers(-2**63, 2**63 - 1), "i1": st.booleans()}
DTYPES = {"index": np.int64, "i64": np.int64, "i1": np.bool_}


def _op(name: str, ins: list[str], out: str):
    args = ", ".join(f"%a{k}: {t}" for k, t in enumerate(ins))
    attrs = f" {{dtype = {out}}}" if name == "scalar.cast" else ""
    text = (f"func.func @f({args}) -> {out} {{\n  %r = {name} {', '.join(f'%a{k}' for k in range(len(ins)))}{attrs}"
            f" : {out}\n  func.return %r : {out}\n}}")
    module = parse(text)
    verify(module)  # (a typing the op's rules refuse raises)
    return module.regions[0].block.ops[0].regions[0].block.ops[0]


def _forms() -> list[tuple[str, list[str], str]]:
    """(op, operand types, result type) of every form a host plan writes as Python: each scalar op whose class
    declares one (`python`), on every valid typing its `python_types` allow."""
    out = []
    for cls in S.SCALAR_OF_TENSOR.values():
        if cls.python is None:
            continue
        types = sorted(cls.python_types)
        forms = []
        for ins in itertools.product(types, repeat=len(cls.operands_def)):
            for result in types:
                try:
                    op = _op(cls.name, list(ins), result)
                except TirError:  # not a valid typing of the op
                    continue
                if op.python_form() is not None:
                    forms.append((cls.name, list(ins), result))
        assert forms, f"{cls.name} declares a Python form for no valid typing"
        out += forms
    return out


FORMS = _forms()


@pytest.mark.parametrize("name,ins,out", FORMS, ids=[f"{n}:{','.join(i)}" for n, i, _ in FORMS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_python_forms_give_the_scalar_rules_numbers(name: str, ins: list[str], out: str, data) -> None:
    op = _op(name, ins, out)
    template = op.python_form()
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
                                          ("scalar.and", ["index", "index"], "index"),  # numpy: bitwise
                                          ("scalar.add", ["f32", "f32"], "f32"),
                                          ("scalar.cast", ["f32"], "index")])
def test_values_that_are_not_layout_keep_their_rule(name: str, ins: list[str], out: str) -> None:
    assert _op(name, ins, out).python_form() is None


