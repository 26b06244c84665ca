"""The .tir parser: round trips with the printer, inference of omitted types, errors."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from tensorir.dialects.builtin import ModuleOp
from tensorir.dialects.func import FuncOp
from tensorir.dialects.random import StateType
from tensorir.frontend.parser import parse, parse_file
from tensorir.ir.attributes import DYN, Dense, SymbolRef, Typed
from tensorir.ir.core import ISOLATED, Location, Operation, TirError, VerifyError
from tensorir.ir.dialect import Dialect
from tensorir.ir.printer import print_module
from tensorir.ir.types import (
    DialectType,
    FunctionType,
    MemRefType,
    ScalarType,
    TensorType,
    Type,
    TypeParam,
    compatible,
    f32,
    f64,
    i64,
)
from tensorir.ir.verifier import verify

# ---------------------------------------------------------------- test-only ops with regions


class _WrapOp(Operation):
    """`%r = testparser.wrap %a mid %b, %c, %d {..} ({ ^bb0(%x: f32): ... }) : tensor<4xf32>`:
    an op with a region and a variadic segment in the middle, only for these tests."""

    name = "testparser.wrap"
    operands_def = ("head", "mid*", "tail")
    num_results = None
    num_regions = 1

    def infer_types(self) -> list[Type]:
        return [self.operands[0].type]


class _IsolatedOp(Operation):
    """`testparser.isolated ({ ... })`: a region that cannot see enclosing values."""

    name = "testparser.isolated"
    num_results = 0
    num_regions = 1
    traits = frozenset({ISOLATED})


Dialect("testparser", "ops with regions, only for these tests")


def _roundtrip(text: str) -> str:
    """Custom print of `text` after checking the fixed points of every print form."""
    module = parse(text, "rt.tir")
    custom = print_module(module)
    assert print_module(parse(custom)) == custom
    generic = print_module(module, generic=True)
    assert print_module(parse(generic), generic=True) == generic
    assert print_module(parse(generic)) == custom
    debug = print_module(module, debuginfo=True)
    assert print_module(parse(debug), debuginfo=True) == debug
    assert print_module(parse(debug)) == custom
    return custom


SNIPPETS = {
    "several results": """
func.func @step(%x: tensor<?x784xf32>, %w: tensor<784xf32>, %b: tensor<f32>) -> (tensor<?xf32>, tensor<f32>) {
  %z = tensor.dot %x, %w : tensor<?xf32>
  %zb = tensor.add %z, %b : tensor<?xf32>
  %p = tensor.sigmoid %zb : tensor<?xf32>
  %cost = tensor.mean %p {axes = [0]} : tensor<f32>
  func.return %p, %cost : tensor<?xf32>, tensor<f32>
}
""",
    "no results, 0-d and dynamic dims": """
func.func @f(%a: tensor<f32>, %b: tensor<?x?x3xf64>, %c: f32, %d: i1, %e: index, %u: ui16) {
  %0 = tensor.add %a, %b : tensor<?x?x3xf64>
  %1 = tensor.exp %0 : tensor<?x?x3xf64>
  func.return
}

func.func @g() -> tensor<f32> {
  %0 = tensor.constant {value = 1.5 : f32} : tensor<f32>
  func.return %0 : tensor<f32>
}
""",
    "every attribute kind": """
func.func @attrs() -> tensor<1x2xf32> {
  %c = tensor.constant {""" + ", ".join([
        "value = dense<[[1.0, 2.0]]> : tensor<1x2xf32>",
        "ints = [1, -2, 0]",
        "floats = [1.5, -0.002, 1e+16, 1e-07, -0.0]",
        "specials = [nan, inf, -inf]",
        "flags = [true, false]",
        r'text = "a \"quoted\" back\\slash\nnewline"',
        "nested = [[1, [2, []]], []]",
        'dict = {a = 1, "b c" = [2], "7" = {}}',
        "marks = [?, none, 3]",
        "sym = @attrs",
        "dtype = f32",
        "t = tensor<?x3xi64>",
        "m = memref<4x?xf32, strides=[?,1]>",
        "m2 = memref<2xui8>",
        "fn = (tensor<f32>, f32) -> (tensor<f32>, i1)",
        "fn1 = () -> f32",
        "typed = [0.1 : f32, 3 : i64, true : i1, nan : f64, -inf : f16]",
        "splat = dense<0.0> : tensor<3xf32>",
        "bools = dense<[true, false]> : tensor<2xi1>",
        "ints2 = dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>",
        "scalar = dense<-7> : tensor<i8>",
        "empty = dense<[]> : tensor<0xf32>",
        "empty2 = dense<[[], []]> : tensor<2x0xf64>",
        "nans = dense<[nan, nan]> : tensor<2xf32>",
        "k.dotted = 1",
    ]) + """} : tensor<1x2xf32>
  func.return %c : tensor<1x2xf32>
}
""",
    "variadic keyword": """
func.func @r(%x: tensor<2x3xf32>, %n: tensor<i64>) -> tensor<?xf32> {
  %r = tensor.reshape %x sizes %n {shape = [?]} : tensor<?xf32>
  func.return %r : tensor<?xf32>
}
""",
    "calls": """
func.func @callee(%a: tensor<4xf32>) -> tensor<4xf32> {
  func.return %a : tensor<4xf32>
}

func.func @caller(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call %a {callee = @callee} : tensor<4xf32>
  func.call %r {callee = @callee} : tensor<4xf32>
  func.return %r : tensor<4xf32>
}
""",
    "regions and blocks": """
func.func @w(%a: tensor<4xf32>, %b: tensor<4xf32>, %c: f32) -> tensor<4xf32> {
  %0 = testparser.wrap %a mid %b, %b, %a {kind = "x"} ({
    ^bb0(%x: f32, %y: f32):
      %s = scalar.add %x, %c : f32
      scalar.yield %s : f32
    ^bb1:
      scalar.yield %c : f32
  }) : tensor<4xf32>
  %1 = testparser.wrap %0, %a ({
    %t = scalar.mul %c, %c : f32
    scalar.yield %t : f32
  }) : tensor<4xf32>
  testparser.isolated ({
    ^bb0(%a: f32):
      scalar.yield %a : f32
  })
  func.return %1 : tensor<4xf32>
}
""",
    "same names in two functions": """
func.func @one(%x: tensor<f32>) -> tensor<f32> {
  %y = tensor.exp %x : tensor<f32>
  func.return %y : tensor<f32>
}

func.func @two(%x: tensor<f32>) -> tensor<f32> attributes {inline = true, note = "n"} {
  %y = tensor.exp %x : tensor<f32>
  %y_1 = tensor.exp %y : tensor<f32>
  %0 = tensor.exp %y_1 : tensor<f32>
  %1 = tensor.exp %0 : tensor<f32>
  func.return %1 : tensor<f32>
}
""",
}


@pytest.mark.parametrize("key", list(SNIPPETS))
def test_round_trip_is_a_fixed_point(key: str) -> None:
    text = SNIPPETS[key]
    assert _roundtrip(text) == text.lstrip("\n")


def test_generic_form_is_accepted_and_prints_as_custom() -> None:
    text = """
"builtin.module"() ({
  "func.func"() ({
    ^bb0(%x: tensor<4xf32>, %y: tensor<4xf32>):
      %r = "tensor.add"(%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
      "func.return"(%r) : (tensor<4xf32>) -> ()
  }) {sym_name = "f", function_type = (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>} : () -> ()
}) : () -> ()
"""
    module = parse(text)
    verify(module)
    assert print_module(module, generic=True) == text.lstrip("\n")
    assert print_module(module) == """\
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %r = tensor.add %x, %y : tensor<4xf32>
  func.return %r : tensor<4xf32>
}
"""


def test_generic_ops_mix_with_custom_ones() -> None:
    module = parse("""
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a, %b = "testparser.wrap"(%x, %x) ({
    ^(%e: f32):
      "scalar.yield"(%e) : (f32) -> ()
  }) {k = [1]} : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, f32)
  "func.call"(%a) {callee = @f} : (tensor<4xf32>) -> ()
  func.return %a : tensor<4xf32>
}
""")
    wrap = module.functions[0].body.ops[0]
    assert [r.type for r in wrap.results] == [TensorType((4,), f32), f32]
    assert [r.name_hint for r in wrap.results] == ["a", "b"]
    assert wrap.regions[0].block.args[0].name_hint == "e"


def test_attribute_values() -> None:
    module = parse(SNIPPETS["every attribute kind"])
    a = module.functions[0].body.ops[0].attributes
    assert isinstance(a["value"], Dense) and a["value"].array.dtype == np.float32
    assert a["value"].array.tolist() == [[1.0, 2.0]]
    assert a["ints"] == (1, -2, 0)
    assert a["floats"] == (1.5, -0.002, 1e16, 1e-7, 0.0) and math.copysign(1, a["floats"][-1]) == -1
    assert math.isnan(a["specials"][0]) and a["specials"][1:] == (math.inf, -math.inf)
    assert a["flags"] == (True, False) and all(isinstance(v, bool) for v in a["flags"])
    assert a["text"] == 'a "quoted" back\\slash\nnewline'
    assert a["nested"] == ((1, (2, ())), ())
    assert a["dict"] == {"a": 1, "b c": (2,), "7": {}}
    assert a["marks"] == (DYN, None, 3) and a["marks"][0] is DYN
    assert a["sym"] == SymbolRef("attrs")
    assert a["dtype"] == f32 and a["t"] == TensorType((None, 3), i64)
    assert a["m"] == MemRefType((4, None), f32, (None, 1)) and a["m2"] == MemRefType((2,), ScalarType("ui8"))
    assert a["fn"] == FunctionType((TensorType((), f32), f32), (TensorType((), f32), ScalarType("i1")))
    assert a["fn1"] == FunctionType((), (f32,))
    typed = a["typed"]
    assert typed[:3] == (Typed(0.1, f32), Typed(3, i64), Typed(True, ScalarType("i1")))
    assert isinstance(typed[1].value, int) and math.isnan(typed[3].value) and typed[4].type == ScalarType("f16")
    assert a["splat"] == Dense(np.zeros(3, np.float32))
    assert a["bools"] == Dense(np.array([True, False]))
    assert a["ints2"] == Dense(np.array([[1, 2], [3, 4]], np.int32))
    assert a["scalar"] == Dense(np.array(-7, np.int8))
    assert a["empty"] == Dense(np.zeros(0, np.float32)) and a["empty2"] == Dense(np.zeros((2, 0)))
    assert a["k.dotted"] == 1


def test_printed_attributes_reparse_to_equal_values() -> None:
    values: dict[str, Any] = {
        "f": -0.0, "big": 2**70, "tiny": 5e-324, "s": 'q"\\\n\t', "arr": (1, (2.5, "x"), ()),
        "d": {"x y": {"z": (None, DYN)}}, "ty": TensorType((), f64), "typed": Typed(-2, i64),
        "dense": Dense(np.arange(6, dtype=np.float32).reshape(2, 3) / 7), "f16": Dense(np.array([0.1], np.float16)),
        "u64": Dense(np.array([2**64 - 1], np.uint64)), "sym": SymbolRef("main"),
    }
    module = ModuleOp.empty()
    fn = FuncOp.create("f", [], [])
    fn.attributes.update(values)
    module.body.append(fn)
    text = print_module(module)
    again = parse(text).functions[0].attributes
    for k, v in values.items():
        assert again[k] == v, k
    assert math.copysign(1, again["f"]) == -1
    assert print_module(parse(text)) == text


def test_omitted_result_types_are_inferred() -> None:
    module = parse("""
func.func @f(%x: tensor<?x3xf32>, %y: tensor<3xf64>) {
  %0 = tensor.add %x, %y
  %1 = tensor.sum %0 {axes = [1]}
  %c = tensor.constant {value = 0.1 : f32}
  func.return
}
""")
    ops = module.functions[0].body.ops
    assert ops[0].result.type == TensorType((None, 3), f64)
    assert ops[1].result.type == TensorType((None,), f64)
    assert ops[2].result.type == TensorType((), f32)
    verify(module)
    assert "%0 = tensor.add %x, %y : tensor<?x3xf64>" in print_module(module)


SIZES_IN = """\
func.func @f(%n: index, %m: tensor<i64>, %x: tensor<?xf32>) {
  %z = tensor.zeros sizes %n, %m {shape = [?, ?], dtype = f32}
  %o = tensor.ones %n {shape = [?]}
  %e = tensor.eye %m {n = ?}
  %a = tensor.alloc %x sizes %n {shape = [?, 3]}
  %r = tensor.reshape %x, %m {shape = [?, 1]}
  %b = tensor.broadcast_to %x sizes %n, %m {shape = [?, ?]}
  func.return
}
"""

SIZES_OUT = """\
func.func @f(%n: index, %m: tensor<i64>, %x: tensor<?xf32>) {
  %z = tensor.zeros sizes %n, %m {shape = [?, ?], dtype = f32} : tensor<?x?xf32>
  %o = tensor.ones sizes %n {shape = [?], dtype = f64} : tensor<?xf64>
  %e = tensor.eye sizes %m {n = ?, k = 0, dtype = f64} : tensor<?x?xf64>
  %a = tensor.alloc %x sizes %n {shape = [?, 3]} : tensor<?x3xf32>
  %r = tensor.reshape %x sizes %m {shape = [?, 1]} : tensor<?x1xf32>
  %b = tensor.broadcast_to %x sizes %n, %m {shape = [?, ?]} : tensor<?x?xf32>
  func.return
}
"""


def test_size_operands_have_one_form() -> None:
    """Every op with size operands prints them after `sizes` (the keyword may be left out in input);
    a size is an index or a 0-d integer tensor."""
    module = parse(SIZES_IN)
    verify(module)
    assert print_module(module) == SIZES_OUT
    assert print_module(parse(SIZES_OUT)) == SIZES_OUT


def test_names_locations_and_comments() -> None:
    text = """// a comment
func.func @f(%x_1: tensor<f32>, %a.b: tensor<f32>) -> tensor<f32> {  // trailing
  %0 = tensor.add %x_1, %a.b
  %sum$ = tensor.exp %0 loc("other.py":12:0)
  func.return %sum$ : tensor<f32>
}
"""
    module = parse(text, "file.tir")
    fn = module.functions[0]
    assert [a.name_hint for a in fn.args] == ["x_1", "a.b"]
    add, exp, ret = fn.body.ops
    assert add.loc == Location("file.tir", 3, 3)
    assert exp.loc == Location("other.py", 12, 0) and exp.result.name_hint == "sum$"
    assert ret.loc == Location("file.tir", 5, 3)
    assert fn.loc == Location("file.tir", 2, 1)
    assert 'loc("file.tir":3:3)' in print_module(module, debuginfo=True)
    assert print_module(module).startswith("func.func @f(%x_1: tensor<f32>, %a.b: tensor<f32>)")


def test_module_forms() -> None:
    inner = "func.func @f() {\n  func.return\n}\n"
    for text in (inner, "module {\n" + inner + "}", '"builtin.module"() ({\n' + inner + "}) : () -> ()", ""):
        module = parse(text)
        assert isinstance(module, ModuleOp)
        assert print_module(module) == (inner if text else "\n")
    named = parse("module @m attributes {x = 1} {\n" + inner + "}")
    assert named.attributes == {"sym_name": "m", "x": 1}
    nested = parse("module {\n  module {\n" + inner + "  }\n}")
    assert isinstance(nested.body.ops[0], ModuleOp)
    two = parse("module {\n}\nmodule {\n}")
    assert len(two.body.ops) == 2


def test_parse_file(tmp_path: Any) -> None:
    path = tmp_path / "m.tir"
    path.write_text(SNIPPETS["variadic keyword"])
    module = parse_file(path)
    assert module.functions[0].loc == Location(str(path), 2, 1)
    with pytest.raises(TirError, match="cannot read"):
        parse_file(tmp_path / "missing.tir")


def test_verify_reports_contradicting_written_type_at_its_line() -> None:
    module = parse("func.func @f(%x: tensor<4xf32>) {\n  %0 = tensor.exp %x : tensor<5xf32>\n  func.return\n}",
                   "v.tir")
    with pytest.raises(VerifyError) as info:
        verify(module)
    assert str(info.value).startswith("v.tir:2:3: 'tensor.exp' op result type tensor<5xf32>")


def test_parsing_2000_ops_is_fast() -> None:
    lines = ["func.func @big(%x: tensor<?x784xf32>, %y: tensor<784xf32>) -> tensor<?x784xf32> {"]
    prev = "%x"
    for i in range(2000):
        if i % 2:
            lines.append(f"  %v{i} = tensor.add {prev}, %y : tensor<?x784xf32>  // note")
        else:
            lines.append(f"  %v{i} = tensor.exp {prev} {{k = [1, 2.5, \"s\"]}}")
        prev = f"%v{i}"
    lines += [f"  func.return {prev} : tensor<?x784xf32>", "}"]
    text = "\n".join(lines)
    parse("")  # build the lark parser outside the timing
    start = time.perf_counter()
    module = parse(text)
    elapsed = time.perf_counter() - start
    assert len(module.functions[0].body.ops) == 2001
    assert elapsed < 2.5, f"parsing 2000 ops took {elapsed:.2f} s"


# ---------------------------------------------------------------- errors

_HEAD = "func.func @f(%x: tensor<4xf32>, %y: tensor<3xf32>, %n: tensor<i64>) {\n"

ERRORS = [
    # (text, line, col, words the message contains)
    (_HEAD + "  %0 = tensor.sigmod %x\n}", 2, 8, "unknown op 'tensor.sigmod'; did you mean 'tensor.sigmoid'"),
    (_HEAD + '  %0 = "tensor.nope"(%x) : (tensor<4xf32>) -> tensor<4xf32>\n}', 2, 8, "unknown op 'tensor.nope'"),
    (_HEAD + "  %0 = tensor.exp %q\n}", 2, 19, "use of undefined value %q"),
    (_HEAD + "  %0 = tensor.exp %x\n  %0 = tensor.exp %x\n}", 3, 3, "redefinition of value %0"),
    (_HEAD + "  %y = tensor.exp %x\n}", 2, 3, "redefinition of value %y"),
    (_HEAD + "  %a, %a = testparser.wrap %x ({\n}) : f32, f32\n}", 2, 7, "redefinition of value %a"),
    (_HEAD + "  %a, %b = tensor.exp %x\n}", 2, 3, "'tensor.exp' op has 1 result but 2 result names are given"),
    (_HEAD + "  %a = tensor.exp %x : tensor<4xf32>, f32\n}", 2, 3, "1 result name but 2 result types"),
    (_HEAD + "  tensor.exp %x : tensor<4xf32>\n}", 2, 3, "has 1 result but 0 result names are given"),
    (_HEAD + "  %a = func.return %x : tensor<4xf32>\n}", 2, 3, "has 0 results but 1 result name is given"),
    (_HEAD + "  func.return %x : tensor<3xf32>\n}", 2, 20, "type tensor<3xf32> does not match the type tensor<4xf32>"),
    (_HEAD + "  func.return %x, %y : tensor<4xf32>\n}", 2, 24, "has 2 operands but 1 operand type is listed"),
    (_HEAD + '  %0 = "tensor.exp"(%x) : (tensor<3xf32>) -> tensor<4xf32>\n}', 2, 28, "does not match the type"),
    (_HEAD + "  %0 = tensor.reshape %x wrt %n {shape = [?]}\n}", 2, 26, "expected keyword 'sizes'"),
    (_HEAD + "  %0 = tensor.add %x wrt %y\n}", 2, 22, "'tensor.add' has no variadic operand group"),
    (_HEAD + "  %0 = testparser.wrap %x, %x mid %y ({\n}) : f32\n}", 2, 31, "must follow the first 1 operand"),
    (_HEAD + "  %0 = tensor.zeros %n sizes %n {shape = [?, ?]}\n}", 2, 24, "keyword 'sizes' must come first"),
    (_HEAD + "  %0 = tensor.reshape sizes %x, %n {shape = [?]}\n}", 2, 23, "must follow the first 1 operand"),
    (_HEAD + "  %0 = tensor.zeros sizes %n sizes %n {shape = [?, ?]}\n}", 2, 30, "names one operand group"),
    (_HEAD + "  %0 = tensor.add %x, %y\n}", 2, 3, "'tensor.add' op operand shapes (4,) and (3,) do not broadcast"),
    (_HEAD + "  %0 = tensor.constant\n}", 2, 3, "requires attribute 'value'"),
    (_HEAD + "  %0 = tensor.exp %x : tensor<4xfoo>\n}", 2, 33, "unknown element type 'foo'"),
    (_HEAD + "  %0 = tensor.exp %x : foo\n}", 2, 24, "unexpected 'foo'; expected a type such as f32 or tensor<4xf32>"),
    (_HEAD + "  %0 = tensor.exp %x : tensor<4xf32\n}", 3, 1, "unexpected '}'; expected ',' or '>'"),
    (_HEAD + "  %0 = tensor.exp %x # x\n}", 2, 22, "unexpected character '#'"),
    (_HEAD + "  %0 = tensor.exp %x %y\n}", 2, 22, "unexpected '%y'; expected ','"),
    (_HEAD + "  %0 = tensor.exp %x\n", 2, 21, "unexpected end of input; expected '}'"),
    (_HEAD + "  %0 = tensor.exp %x {a = b}\n}", 2, 27, "expected an attribute value"),
    (_HEAD + "  %0 = tensor.exp %x {a = 1, a = 2}\n}", 2, 30, "duplicate attribute 'a'"),
    (_HEAD + '  %0 = tensor.exp %x {s = "abc}\n}', 2, 27, "unterminated string"),
    (_HEAD + '  %0 = tensor.exp %x {s = "a\\qc"}\n}', 2, 29, "unknown escape '\\q'"),
    (_HEAD + "  %0 = tensor.exp %x {s = 1.5 : i32}\n}", 2, 27, "a float is not a value of the integer type i32"),
    (_HEAD + "  %0 = tensor.exp %x {s = [1, 2}\n}", 2, 32, "unexpected '}'; expected ',' or ']'"),
    (_HEAD + "  %0 = tensor.constant {value = dense<[1.0, 2.0]> : tensor<3xf32>}\n}", 2, 33,
     "dense literal has 2 elements in shape (2,) but its type tensor<3xf32> has 3"),
    (_HEAD + "  %0 = tensor.constant {value = dense<[[1.0], [2.0, 3.0]]> : tensor<2x2xf32>}\n}", 2, 33,
     "not rectangular"),
    (_HEAD + "  %0 = tensor.constant {value = dense<300> : tensor<2xi8>}\n}", 2, 39, "300 does not fit in i8"),
    (_HEAD + "  %0 = tensor.constant {value = dense<1.0> : tensor<?xf32>}\n}", 2, 46, "static shape"),
    (_HEAD + "  %0 = tensor.constant {value = dense<1> : tensor<2xi1>}\n}", 2, 39, "written true or false"),
    (_HEAD + "  testparser.isolated ({\n    scalar.yield %x : tensor<4xf32>\n  })\n}", 3, 18,
     "use of undefined value %x (it is defined outside an isolated op"),
    (_HEAD + "  testparser.isolated ({\n  ^bb0:\n  ^bb0:\n  })\n}", 4, 3, "redefinition of block ^bb0"),
    ("func.func @f(%x: f32, %x: f32) {\n}", 1, 23, "redefinition of value %x"),
    ("func.func @f() attributes {sym_name = \"g\"} {\n}", 1, 28, "'sym_name' of 'func.func' is given by its signature"),
    ("tensor.exp @f() {\n}", 1, 12, "'tensor.exp' is not a function op"),
    ("func.func @f() {\n} loc(\"x\":1.5)", 2, 11, "expected a line or column number"),
]


@pytest.mark.parametrize(("text", "line", "col", "words"), ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_errors_name_the_place(text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(TirError) as info:
        parse(text, "bad.tir")
    e = info.value
    first = str(e).split("\n")[0]
    assert first.startswith(f"bad.tir:{line}:{col}: "), first
    assert words in first
    source, caret = e.detail.split("\n")
    assert source == text.split("\n")[line - 1]
    assert caret == " " * (col - 1) + "^"
    assert "Unexpected" not in str(e) and "Token(" not in str(e)  # no raw lark wording


def test_no_raw_exception_escapes_on_damaged_text() -> None:
    text = SNIPPETS["regions and blocks"] + SNIPPETS["every attribute kind"]
    for cut in range(0, len(text), 31):
        for damaged in (text[:cut], text[:cut] + text[cut + 1:], text[:cut] + "@" + text[cut:]):
            try:
                parse(damaged, "d.tir")
            except TirError as e:
                assert str(e).startswith("d.tir:"), str(e)


# ---------------------------------------------------------------- a test-only dialect: types and an op


class PairType(DialectType):
    """`!test.pair<f32, 3>`: an element type and a count."""

    name = "test.pair"
    syntax = "!test.pair<element type, count>"

    def verify(self) -> str | None:
        if len(self.params) != 2:
            return f"it takes 2 parameters, got {len(self.params)}"
        elem, count = self.params
        if not isinstance(elem, ScalarType):
            return f"its element type must be a scalar type, got {elem}"
        if not isinstance(count, int) or count < 0:
            return f"its count must be an integer >= 0, got {count!r}"
        return None


class BagType(DialectType):
    """`!test.bag<...>`: any parameters (shows what the generic form reads)."""

    name = "test.bag"

    def verify(self) -> str | None:
        return None


class _FirstOp(Operation):
    """`%e = test.first %p`: the element type of a pair."""

    name = "test.first"
    operands_def = ("pair",)

    def infer_types(self) -> list[Type]:
        t = self.operands[0].type
        if not isinstance(t, PairType):
            raise self.error(f"operand must be a !test.pair, got {t}")
        return [t.params[0]]


@pytest.fixture
def test_dialect() -> Any:
    """The `test` dialect, registered for one test: without it the parser does not know `test.` names."""
    dialect = Dialect("test", "a type and an op declared by tests/test_parser.py")
    yield dialect
    dialect.unregister()


_PAIR = """func.func @f(%p: !test.pair<f32, 3>) -> f32 {
  %e = test.first %p : f32
  func.return %e : f32
}
"""


def test_dialect_type_round_trips_and_types_the_op(test_dialect: Dialect) -> None:
    assert _roundtrip(_PAIR) == _PAIR
    func = parse(_PAIR).functions[0]
    pair = func.body.args[0].type
    assert pair == PairType((f32, 3)) and hash(pair) == hash(PairType((f32, 3))) and pair != PairType((f64, 3))
    first = func.body.ops[0]
    assert isinstance(first, _FirstOp) and first.result.type == f32
    verify(parse(_PAIR))
    # its ops are every op class under `test.` (tests/test_passes.py declares some too)
    assert _FirstOp in test_dialect.ops and all(c.name.startswith("test.") for c in test_dialect.ops)
    assert test_dialect.types == [BagType, PairType]


def test_dialect_type_params_of_every_kind(test_dialect: Dialect) -> None:
    text = 'func.func @f(%b: !test.bag<-2, ?, "a \\"q\\"", tensor<2x?xf32, #csr>, <f64, <!random.state>>, 1.5>) {\n'
    text += "  func.return\n}\n"
    want: tuple[TypeParam, ...] = (-2, None, 'a "q"', TensorType((2, None), f32, "csr"), (f64, (StateType(),)), 1.5)
    assert parse(text).functions[0].body.args[0].type == BagType(want)
    assert _roundtrip(text) == text


@pytest.mark.parametrize(("text", "line", "col", "words"), [
    ("func.func @f(%p: !test.pair<f32, \"x\">) {\n  func.return\n}", 1, 18,
     'invalid type !test.pair<f32, "x">: its count must be an integer >= 0, got \'x\'; '
     "expected !test.pair<element type, count>"),
    ("func.func @f(%p: !test.pair<3>) {\n  func.return\n}", 1, 18,
     "invalid type !test.pair<3>: it takes 2 parameters, got 1; expected !test.pair<element type, count>"),
    ("func.func @f(%p: !test.pear<f32, 3>) {\n  func.return\n}", 1, 18,
     "unknown type '!test.pear'; types of dialect 'test': !test.bag, !test.pair<element type, count>"),
    ("func.func @f(%x: f32) -> f32 {\n  %e = test.first %x\n  func.return %e : f32\n}", 2, 3,
     "'test.first' op operand must be a !test.pair, got f32"),
])
def test_dialect_type_errors_are_located(test_dialect: Dialect, text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(TirError) as info:
        parse(text, "bad.tir")
    first = str(info.value).split("\n")[0]
    assert first == f"bad.tir:{line}:{col}: {words}"
    assert info.value.detail.split("\n")[1] == " " * (col - 1) + "^"


def test_unregistered_dialect_is_unknown() -> None:
    for text, col, name in [(_PAIR, 18, "!test.pair"), ("%e = test.first %p", 6, "test.first")]:
        with pytest.raises(TirError) as info:
            parse(text, "bad.tir")
        first = str(info.value).split("\n")[0]
        assert first.startswith(f"bad.tir:1:{col}: unknown dialect 'test' in '{name}'; known dialects: builtin, ")
        assert "random" in first and "tensor" in first and "test," not in first


def test_tensor_encoding_is_part_of_the_type() -> None:
    dense, csr = TensorType((None, 4), f32), TensorType((None, 4), f32, "csr")
    assert dense.encoding is None and str(dense) == "tensor<?x4xf32>" and str(csr) == "tensor<?x4xf32, #csr>"
    assert csr != dense and csr != TensorType((None, 4), f32, "csc")
    assert hash(csr) == hash(TensorType((None, 4), f32, "csr"))
    assert csr.with_shape((3, 4)) == TensorType((3, 4), f32, "csr") and csr.with_element(f64).encoding == "csr"
    assert compatible(csr, TensorType((3, 4), f32, "csr")) and not compatible(csr, dense)
    func = parse("func.func @f(%x: tensor<?x4xf32, #csr>) {\n  func.return\n}").functions[0]
    assert func.body.args[0].type == csr


def test_random_state_type() -> None:
    text = "func.func @f(%s: !random.state) -> !random.state {\n  func.return %s : !random.state\n}\n"
    assert parse(text).functions[0].body.args[0].type == StateType()
    assert _roundtrip(text) == text


def test_an_op_or_a_type_declared_twice_is_refused() -> None:
    from tensorir.ir.core import Operation
    from tensorir.ir.types import DialectType

    with pytest.raises(TypeError, match=r"op tensor.add declared twice"):
        type("Again", (Operation,), {"name": "tensor.add"})
    with pytest.raises(TypeError, match=r"type !random.state declared twice"):
        type("Again", (DialectType,), {"name": "random.state"})
