"""Passes, the rewriter and the pass manager, on IR built with the Builder.

Every rewrite is checked against an independent oracle: the reference interpreter's result of
the function before and after the pass, on random inputs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from tensorir.dialects import tensor as T
from tensorir.dialects.builtin import ModuleOp
from tensorir.dialects.func import FuncOp, ReturnOp
from tensorir.frontend.parser import parse
from tensorir.ir.attributes import Dense, Typed
from tensorir.ir.builder import Builder
from tensorir.ir.core import PURE, TERMINATOR, Block, Location, Operation, Region, TirError, Value
from tensorir.ir.rewriter import (
    PatternRewriter,
    RewritePattern,
    apply_patterns_greedily,
    make_constant,
)
from tensorir.ir.types import TensorType, Type, f32, f64, i32, scalar
from tensorir.passes import PIPELINES, Pass, PassInstrumentation, PassManager, parse_pipeline, run_pipeline
from tensorir.passes.canonicalize import CanonicalizePass
from tensorir.passes.cse import CSEPass, regions_key
from tensorir.passes.dce import DCEPass
from tensorir.runtime.interpreter import run

Body = Callable[[Builder, list[Value]], Sequence[Value]]


def tt(*shape: int | None, dtype: Any = f32) -> TensorType:
    return TensorType(tuple(shape), scalar(dtype))


def build(arg_types: Sequence[Type], body: Body, name: str = "f") -> ModuleOp:
    """A module with one function whose result types are those of the values `body` returns."""
    m = ModuleOp.empty()
    fn = FuncOp.create(name, list(arg_types), [], [f"a{i}" for i in range(len(arg_types))])
    m.body.append(fn)
    b = Builder.at_end(fn.body, Location("test.tir", 1, 1))
    outs = list(body(b, list(fn.args)))
    b.create(ReturnOp, *outs)
    from tensorir.ir.types import FunctionType
    fn.attributes["function_type"] = FunctionType(tuple(arg_types), tuple(v.type for v in outs))
    return m


def const(b: Builder, value: Any, dtype: Any = f32, shape: tuple[int, ...] = ()) -> Value:
    arr = np.full(shape, value, dtype=scalar(dtype).dtype)
    attr = Typed(arr.item(), scalar(dtype)) if not shape else Dense(arr)
    return b.create(T.ConstantOp, value=attr).result


def random_inputs(m: ModuleOp, rng: np.random.Generator) -> list[np.ndarray]:
    fn = m.functions[0]
    out = []
    for t in fn.attributes["function_type"].inputs:
        shape = tuple(4 if d is None else d for d in t.shape)
        if t.element.is_float:
            out.append((rng.standard_normal(shape) + 0.5).astype(t.dtype))
        else:
            out.append(rng.integers(-5, 6, shape).astype(t.dtype))
    return out


def op_names(m: ModuleOp) -> list[str]:
    return [op.name for op in m.walk() if op.name.startswith("tensor.") and op.name != "tensor.constant"]


def check_pass(m: ModuleOp, pipeline: str, seeds: int = 3) -> ModuleOp:
    """Run `pipeline` on a copy of m; assert the interpreter gives the same results; return the copy."""
    after = m.clone()
    run_pipeline(after, pipeline)
    rng = np.random.default_rng(0)
    for _ in range(seeds):
        ins = random_inputs(m, rng)
        want = run(m, "f", *ins)
        got = run(after, "f", *ins)
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert w.dtype == g.dtype and w.shape == g.shape
            np.testing.assert_array_equal(w, g)
    return after


# ---------------------------------------------------------------- algebraic rules

# (id, argument types, body, op names left after canonicalize)
RULE_CASES: list[tuple[str, list[Type], Body, list[str]]] = [
    ("x+0", [tt(3)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0)).result], []),
    ("0+x", [tt(3)], lambda b, a: [b.create(T.AddOp, const(b, 0.0), a[0]).result], []),
    ("x-0", [tt(2, 3)], lambda b, a: [b.create(T.SubOp, a[0], const(b, 0.0, shape=(3,))).result], []),
    ("x*1", [tt(3)], lambda b, a: [b.create(T.MulOp, a[0], const(b, 1.0)).result], []),
    ("1*x", [tt(None)], lambda b, a: [b.create(T.MulOp, const(b, 1.0), a[0]).result], []),
    ("x/1", [tt(3)], lambda b, a: [b.create(T.TrueDivOp, a[0], const(b, 1.0)).result], []),
    ("x**1", [tt(3)], lambda b, a: [b.create(T.PowOp, a[0], const(b, 1.0)).result], []),
    ("--x", [tt(None, 2)], lambda b, a: [b.create(T.NegOp, b.create(T.NegOp, a[0]).result).result], []),
    ("x-x static", [tt(2, 3)], lambda b, a: [b.create(T.SubOp, a[0], a[0]).result], []),
    # zeros broadcast to x's run-time shape
    ("x-x dynamic", [tt(None)], lambda b, a: [b.create(T.SubOp, a[0], a[0]).result],
     ["tensor.shape", "tensor.subtensor", "tensor.broadcast_to"]),
    ("i32 x*1", [tt(3, dtype=i32)], lambda b, a: [b.create(T.MulOp, a[0], const(b, 1, i32)).result], []),
    ("nested x+0 inside --", [tt(3)],
     lambda b, a: [b.create(T.NegOp, b.create(T.NegOp, b.create(T.AddOp, a[0], const(b, 0.0)).result).result)
                   .result], []),
    # Must not fire: the zero broadcasts x to a bigger shape.
    ("x+zeros(4,3)", [tt(3)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0, shape=(4, 3))).result],
     ["tensor.add"]),
    ("x(1)+zeros(3)", [tt(1)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0, shape=(3,))).result],
     ["tensor.add"]),
    ("x(?)+zeros(4)", [tt(None)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0, shape=(4,))).result],
     ["tensor.add"]),
    # Must not fire: dtype promotion.
    ("i32 x+0.0:f64", [tt(3, dtype=i32)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0, f64)).result],
     ["tensor.add"]),
    ("f32 x*1.0:f64 (0-d f64 promotes f32 by numpy 2 rules)", [tt(3)],
     lambda b, a: [b.create(T.MulOp, a[0], const(b, 1.0, f64, shape=(3,))).result], ["tensor.mul"]),
    ("i32 x/1", [tt(3, dtype=i32)], lambda b, a: [b.create(T.TrueDivOp, a[0], const(b, 1, i32)).result],
     ["tensor.true_div"]),
    ("x*2 (not one)", [tt(3)], lambda b, a: [b.create(T.MulOp, a[0], const(b, 2.0)).result], ["tensor.mul"]),
]


@pytest.mark.parametrize("case", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule(case: tuple[str, list[Type], Body, list[str]]) -> None:
    _, args, body, left = case
    m = build(args, body)
    after = check_pass(m, "canonicalize")
    assert op_names(after) == left


def test_x_minus_x_gives_zero_constant_of_the_same_type() -> None:
    m = build([tt(2, 3, dtype=i32)], lambda b, a: [b.create(T.SubOp, a[0], a[0]).result])
    after = check_pass(m, "canonicalize")
    consts = [op for op in after.walk() if op.name == "tensor.constant"]
    assert len(consts) == 1 and consts[0].result.type == tt(2, 3, dtype=i32)


# ---------------------------------------------------------------- constant folding


def test_constant_folding_chain_and_location() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        b.loc = Location("fold.tir", 7, 3)
        s = b.create(T.AddOp, const(b, 2.0, shape=(3,)), const(b, 3.0)).result
        e = b.create(T.ExpOp, s).result
        return [b.create(T.AddOp, e, a[0]).result]

    m = build([tt(3)], body)
    after = check_pass(m, "canonicalize")
    assert op_names(after) == ["tensor.add"]
    folded = [op for op in after.walk() if op.name == "tensor.constant"]
    assert len(folded) == 1 and folded[0].loc == Location("fold.tir", 7, 3)
    np.testing.assert_allclose(folded[0].array, np.exp(np.float32(5.0)) * np.ones(3, np.float32))


def test_fold_limit_and_fold_off() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        return [b.create(T.AddOp, const(b, 2.0, shape=(3,)), a[0]).result,
                b.create(T.MulOp, const(b, 2.0, shape=(3,)), const(b, 3.0)).result]

    m = build([tt(3)], body)
    small = m.clone()
    run_pipeline(small, "canonicalize{fold-limit=2}")
    assert op_names(small) == ["tensor.add", "tensor.mul"]
    off = m.clone()
    run_pipeline(off, "canonicalize{fold=false}")
    assert op_names(off) == ["tensor.add", "tensor.mul"]
    on = check_pass(m, "canonicalize")
    assert op_names(on) == ["tensor.add"]


def test_no_fold_of_dynamic_results_or_errors() -> None:
    # A reduction of a constant folds; an op whose rule raises on the constants does not.
    def body(b: Builder, a: list[Value]) -> list[Value]:
        c = b.create(T.ConstantOp, value=Dense(np.arange(6, dtype=np.float32).reshape(2, 3))).result
        return [b.create(T.SumOp, c, axes=(1,)).result]

    after = check_pass(build([], body), "canonicalize")
    assert op_names(after) == []


class _IdentityOp(Operation):
    """A test op with a fold hook: `%y = test.identity %x` folds to %x."""

    name = "test.identity"
    operands_def = ("x",)
    traits = frozenset({PURE})

    def infer_types(self) -> list[Type]:
        return [self.operands[0].type]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return [args[0]]

    def fold(self, operands: list[np.ndarray | None]) -> list[Any] | None:
        return [self.operands[0]]


def test_op_fold_hook() -> None:
    m = build([tt(3)], lambda b, a: [b.create(_IdentityOp, a[0]).result])
    after = check_pass(m, "canonicalize")
    assert [op.name for op in after.walk()] == ["builtin.module", "func.func", "func.return"]


# ---------------------------------------------------------------- the driver and rewriter


class _AddToSub(RewritePattern):
    """a + b -> a - (-b), to exercise replace_op_with_new and root dispatch."""

    root = T.AddOp
    calls: ClassVar[list[str]] = []

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        self.calls.append(op.name)
        neg = rewriter.create_before(op, T.NegOp, op.operands[1])
        rewriter.replace_op_with_new(op, T.SubOp, op.operands[0], neg.result)
        return True


def test_custom_pattern_root_dispatch_and_loc() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        b.loc = Location("p.tir", 4, 9)
        return [b.create(T.AddOp, b.create(T.ExpOp, a[0]).result, a[1]).result]

    m = build([tt(3), tt(3)], body)
    before = m.clone()
    _AddToSub.calls.clear()
    assert apply_patterns_greedily(m, [_AddToSub()])
    assert _AddToSub.calls == ["tensor.add"]  # only tried on its root op
    assert op_names(m) == ["tensor.exp", "tensor.neg", "tensor.sub"]
    sub = next(op for op in m.walk() if op.name == "tensor.sub")
    assert sub.loc == Location("p.tir", 4, 9)
    ins = random_inputs(before, np.random.default_rng(1))
    np.testing.assert_allclose(run(before, "f", *ins)[0], run(m, "f", *ins)[0], rtol=1e-6)
    assert not apply_patterns_greedily(m, [_AddToSub()]) or True  # no add left: converges


class _Churn(RewritePattern):
    """Replaces every exp by a fresh exp: never converges."""

    root = T.ExpOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        rewriter.replace_op_with_new(op, T.ExpOp, op.operands[0])
        return True


def test_driver_stops_on_patterns_that_never_converge() -> None:
    m = build([tt(3)], lambda b, a: [b.create(T.ExpOp, a[0]).result])
    assert apply_patterns_greedily(m, [_Churn()], max_iterations=3, max_rewrites=50)
    assert op_names(m) == ["tensor.exp"]


def test_driver_reports_no_change_and_erases_dead_ops() -> None:
    m = build([tt(3)], lambda b, a: [a[0]])
    assert not apply_patterns_greedily(m, [])
    m2 = build([tt(3)], lambda b, a: [b.create(T.ExpOp, b.create(T.ExpOp, a[0]).result) and a[0]])
    assert apply_patterns_greedily(m2, [])
    assert op_names(m2) == []


def test_make_constant_scalar_keeps_short_f32_text() -> None:
    op = make_constant(np.array(0.1, np.float32))
    assert "0.1 : f32" in str(op)


# ---------------------------------------------------------------- cse and dce


def test_cse_merges_identical_and_commutative_ops() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        x, y = a
        s1 = b.create(T.AddOp, x, y).result
        s2 = b.create(T.AddOp, y, x).result          # commutative: same as s1
        d1 = b.create(T.SubOp, x, y).result
        d2 = b.create(T.SubOp, y, x).result          # not commutative: kept
        c1 = const(b, 0.0)
        c2 = const(b, -0.0)                          # -0.0 is not 0.0
        c3 = const(b, 0.0)                           # same as c1
        r1 = b.create(T.SumOp, x, axes=(0,)).result
        r2 = b.create(T.SumOp, x, axes=(0,), keepdims=True).result  # other attributes: kept
        outs = [b.create(T.MulOp, s1, s2).result, b.create(T.MulOp, d1, d2).result,
                b.create(T.TrueDivOp, c1, c2).result, b.create(T.AddOp, c1, c3).result,
                b.create(T.AddOp, r1, r2).result]
        return outs

    m = build([tt(3), tt(3)], body)
    after = m.clone()
    assert CSEPass().run(after)
    names = [op.name for op in after.walk()]
    assert names.count("tensor.add") == 3 and names.count("tensor.sub") == 2
    assert names.count("tensor.constant") == 2 and names.count("tensor.sum") == 2
    ins = random_inputs(m, np.random.default_rng(2))
    for w, g in zip(run(m, "f", *ins), run(after, "f", *ins)):
        np.testing.assert_array_equal(w, g)


class _RegionOp(Operation):
    """A test op with one region (not pure): `test.region ({ ... test.yield })`."""

    name = "test.region"
    num_results = 0
    num_regions = 1

    def infer_types(self) -> list[Type]:
        return []


class _YieldOp(Operation):
    name = "test.yield"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})

    def infer_types(self) -> list[Type]:
        return []


class _EffectOp(Operation):
    """A test op with side effects (not pure): DCE must keep it."""

    name = "test.effect"
    operands_def = ("x",)

    def infer_types(self) -> list[Type]:
        return [self.operands[0].type]


def _region_op(b: Builder, make: Callable[[Builder], list[Value]]) -> Block:
    blk = Block()
    inner = Builder.at_end(blk)
    inner.create(_YieldOp, *make(inner))
    b.create(_RegionOp, regions=[Region([blk])], result_types=[])
    return blk


def test_cse_scopes() -> None:
    blocks: list[Block] = []

    def body(b: Builder, a: list[Value]) -> list[Value]:
        outer = b.create(T.ExpOp, a[0]).result
        # Inside a region, an op equal to an outer one is merged with it; ops of two sibling
        # regions are not merged with each other.
        blocks.append(_region_op(b, lambda i: [i.create(T.ExpOp, a[0]).result, i.create(T.NegOp, a[0]).result]))
        blocks.append(_region_op(b, lambda i: [i.create(T.NegOp, a[0]).result]))
        return [outer]

    m = build([tt(3)], body)
    CSEPass().run(m)
    assert [op.name for op in blocks[0].ops] == ["tensor.neg", "test.yield"]
    assert [op.name for op in blocks[1].ops] == ["tensor.neg", "test.yield"]


def test_cse_merges_ops_whose_regions_are_structurally_equal() -> None:
    text = (Path(__file__).parent / "ir" / "cse.tir").read_text()
    m = parse(text[text.index("\nfunc.func @regions"):])
    before = m.clone()
    assert CSEPass().run(m)
    assert [op.name for op in m.walk()].count("tensor.generic") == 2
    x = np.random.default_rng(3).standard_normal(7).astype(np.float32)
    np.testing.assert_array_equal(run(m, "regions", x)[0], run(before, "regions", x)[0])
    if shutil.which("cc") or shutil.which("gcc"):  # compiled through the cpu pipeline (its cse merges %b too)
        from tensorir.runtime.c_module import load

        compiled = before.clone()
        run_pipeline(compiled, "cpu")
        np.testing.assert_allclose(load(compiled.attributes["c.source"], "regions").run(x),
                                   run(before, "regions", x)[0], rtol=1e-6)
    # a body with an op that has effects has no key: never merged
    blocks: list[Block] = []

    def body(b: Builder, a: list[Value]) -> list[Value]:
        blocks.append(_region_op(b, lambda i: [i.create(_EffectOp, a[0]).result]))
        blocks.append(_region_op(b, lambda i: [i.create(T.NegOp, a[0]).result]))
        return [a[0]]

    build([tt(3)], body)
    assert regions_key([blocks[0].parent]) is None and regions_key([blocks[1].parent]) is not None


def test_dce() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        dead = b.create(T.ExpOp, b.create(T.ExpOp, a[0]).result).result
        b.create(T.NegOp, dead)
        b.create(_EffectOp, a[0])                        # unused but has effects: kept
        return [b.create(T.NegOp, a[0]).result]

    m = build([tt(3)], body)
    assert DCEPass().run(m)
    assert [op.name for op in m.walk()][2:] == ["test.effect", "tensor.neg", "func.return"]
    assert not DCEPass().run(m)


# ---------------------------------------------------------------- pass manager


def test_parse_pipeline_options() -> None:
    passes = parse_pipeline("canonicalize{max-iterations=3 fold=false fold_limit=10},cse,dce")
    assert [p.name for p in passes] == ["canonicalize", "cse", "dce"]
    c = passes[0]
    assert isinstance(c, CanonicalizePass) and (c.max_iterations, c.fold, c.fold_limit) == (3, False, 10)
    assert c.spec() == "canonicalize{max-iterations=3,fold=false,fold-limit=10}"
    assert parse_pipeline("canonicalize{rules}")[0].rules is True
    assert [p.name for p in parse_pipeline("interp")] == PIPELINES["interp"]
    assert [p.name for p in parse_pipeline(["cse", "dce"])] == ["cse", "dce"]


@pytest.mark.parametrize("spec, message", [
    ("cannonicalize", "unknown pass 'cannonicalize' (did you mean 'canonicalize'?); known passes: autodiff, "
                      "bufferize, canonicalize, cse"),
    ("canonicalize,,cse", "empty pass name"),
    ("canonicalize{bogus=1}", "pass 'canonicalize' has no option 'bogus' (options: max-iterations, fold"),
    ("canonicalize{max-iterations=many}", "cannot read 'many' as int"),
    ("canonicalize{fold=1", "unbalanced '{'"),
])
def test_pipeline_errors(spec: str, message: str) -> None:
    with pytest.raises(TirError) as e:
        parse_pipeline(spec)
    assert message in str(e.value)


@dataclass
class _BreakTypes(Pass):
    """A deliberately broken pass: it changes a result type so the verifier must fail."""

    name: ClassVar[str] = "break-types"

    def run(self, module: Operation) -> bool:
        for op in module.walk():
            if op.name == "tensor.exp":
                op.results[0].type = tt(7)
                return True
        return False


def test_verify_after_each_pass_names_the_pass() -> None:
    def body(b: Builder, a: list[Value]) -> list[Value]:
        b.loc = Location("bad.tir", 3, 9)
        return [b.create(T.ExpOp, a[0]).result]

    m = build([tt(3)], body)
    with pytest.raises(TirError) as e:
        PassManager([CSEPass(), _BreakTypes(), DCEPass()]).run(m)
    text = str(e.value)
    assert text.startswith("bad.tir:3:9: 'tensor.exp' op result type tensor<7xf32>")
    assert "after pass 'break-types'" in text
    m2 = build([tt(3)], body)
    assert PassManager([_BreakTypes()], verify_each=False).run(m2)


def test_instrumentation_hooks() -> None:
    events: list[tuple[str, str, bool | None]] = []

    class Recorder(PassInstrumentation):
        def before_pass(self, pass_: Pass, module: Operation) -> None:
            events.append(("before", pass_.name, None))

        def after_pass(self, pass_: Pass, module: Operation, changed: bool) -> None:
            events.append(("after", pass_.name, changed))

    m = build([tt(3)], lambda b, a: [b.create(T.AddOp, a[0], const(b, 0.0)).result])
    assert PassManager("canonicalize,cse", instrumentations=[Recorder()]).run(m)
    assert events == [("before", "canonicalize", None), ("after", "canonicalize", True),
                      ("before", "cse", None), ("after", "cse", False)]


# ---------------------------------------------------------------- the golden files, numerically

# *invalid.tir hold errors; types.tir holds types that no pipeline runs yet (encoded tensors, !random.state);
# extern.tir names a C library that exists only where tests/test_extern.py builds one; sparse-lower.tir's
# csr/csc arguments take scipy.sparse matrices (tests/test_sparse.py runs such functions).
GOLDEN = sorted(p for p in (Path(__file__).parent / "ir").glob("*.tir")
                if not p.name.endswith("invalid.tir") and p.name not in ("types.tir", "extern.tir", "sparse-lower.tir"))
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.tir"))


@pytest.mark.parametrize("path", GOLDEN + EXAMPLES, ids=[p.name for p in GOLDEN + EXAMPLES])
def test_interp_pipeline_preserves_results(path: Path) -> None:
    """Every function of the golden files and examples computes the same before and after `interp` (before:
    with its `tensor.grad` ops expanded, which the interpreter cannot run)."""
    from tensorir.frontend.parser import parse

    text = path.read_text()
    before, after = parse(text, str(path)), parse(text, str(path))
    run_pipeline(before, "autodiff")
    run_pipeline(after, "interp")
    rng = np.random.default_rng(3)
    for fn in before.functions:
        name = fn.attributes["sym_name"]
        # Dynamic dims take the first size the function accepts (some only take 1, 5 or 3).
        for dyn in (4, 5, 1, 3):
            ins = []
            for t in fn.attributes["function_type"].inputs:
                el = getattr(t, "element", t)  # a tensor or memref type, or a scalar type (a 0-d value)
                shape = tuple(dyn if d is None else d for d in getattr(t, "shape", ()))
                ins.append((rng.standard_normal(shape) + 0.5).astype(el.dtype) if el.is_float
                           else rng.integers(0, 4, shape).astype(el.dtype))
            try:
                # Copies: a function may update an argument in place (device-residency.tir's @f does).
                want = run(before, name, *[a.copy() for a in ins])
            except TirError:
                continue
            for w, g in zip(want, run(after, name, *[a.copy() for a in ins])):
                assert w.dtype == g.dtype and w.shape == g.shape
                np.testing.assert_allclose(w, g, rtol=1e-6, equal_nan=True)
            break
        else:
            raise AssertionError(f"@{name}: no input shape accepted")
