"""The `.tir` text parser: text -> IR (DESIGN.md section 3).

It reads exactly what ir/printer.py writes, in the custom and the generic form,
so `print_module(parse(text))` is a fixed point, plus what people write by hand:
result types left out where the op infers them, an explicit `module { ... }`.

    from tensorir.frontend.parser import parse, parse_file
    module = parse(open("model.tir").read(), "model.tir")

Parsing runs in two steps: lark (LALR, grammar.lark) turns the text into a tree,
then `_IRBuilder` walks that tree top-down, keeping the SSA names in scopes,
and builds each op through its class in OP_REGISTRY:
`cls(operands, result_types_or_None, attributes, regions, loc)`, and each `!dialect.name<params>`
type through its class in TYPE_REGISTRY. The dialects are those that dialects/registry.py loads (or
a test declares); a name whose prefix is none of them is an error that lists them.

Every user error is a TirError whose message starts with `file:line:col:` and
whose `detail` shows the source line with a caret under the column.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..dialects.builtin import ModuleOp
from ..dialects.func import FuncOp
from ..dialects.registry import load_dialects
from ..ir.attributes import DYN, Attribute, Dense, SymbolRef, Typed
from ..ir.core import ISOLATED, OP_REGISTRY, Block, Location, Operation, Region, TirError, Value
from ..ir.dialect import DIALECTS, unknown_dialect
from ..ir.types import MEMORY_SPACES, TYPE_REGISTRY, FunctionType, MemRefType, ScalarType, TensorType, Type, TypeParam

# ---------------------------------------------------------------- lark

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_lark_parser: Lark | None = None


def _lark() -> Lark:
    global _lark_parser
    if _lark_parser is None:
        # cache=True keeps the built LALR tables in a temp file keyed by the grammar's hash:
        # building them costs ~0.4 s per process otherwise.
        _lark_parser = Lark(_GRAMMAR.read_text(), parser="lalr", lexer="contextual", maybe_placeholders=True,
                            cache=True)
    return _lark_parser


# ---------------------------------------------------------------- entry points


def parse(text: str, filename: str = "<string>") -> ModuleOp:
    """Parse `.tir` text into a module (the top-level ops, or the one module written); a leading UTF-8
    byte order mark is skipped."""
    load_dialects()
    text = text.removeprefix("\ufeff")
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _IRBuilder(text, filename).syntax_error(e) from None
    try:
        return _IRBuilder(text, filename).module(tree)
    except RecursionError:
        raise TirError("regions or attributes are nested too deeply to parse", Location(filename, 1, 1)) from None


def read_source(path: str | Path) -> str:
    """The text of a .tir file; a missing, unreadable or non-UTF-8 file is a one-line TirError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TirError(f"cannot read '{path}': {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise TirError(f"cannot read '{path}': not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x}); "
                       ".tir files are UTF-8 text") from None


def parse_file(path: str | Path) -> ModuleOp:
    return parse(read_source(path), str(path))


# ---------------------------------------------------------------- syntax error wording

_TYPE_START = {"SCALAR_TYPE", "TENSOR_TYPE", "TENSOR", "MEMREF", "DIALECT_TYPE"}
_ATTR_START = {"DENSE", "NONE", "QMARK", "TRUE", "FALSE", "NAN", "INF", "NEG_INF"}

# terminal -> (rank, words); lower ranks are listed first, at most _MAX_EXPECTED of them.
_TERMINAL_WORDS: dict[str, tuple[int, str]] = {
    "VALUE_ID": (1, "an SSA value such as %x"),
    "SHAPE": (1, "a shape and element type such as 4x?xf32"),
    "SYMBOL": (1, "a symbol such as @f"),
    "ENCODING": (1, "a tensor encoding such as #csr"),
    "NUMBER": (2, "a number"),
    "TRUE": (2, "a number"), "FALSE": (2, "a number"), "NAN": (2, "a number"),
    "INF": (2, "a number"), "NEG_INF": (2, "a number"),
    "QMARK": (2, "'?'"),
    "STRING": (2, "a string"),
    "RESULTS": (4, "an op"), "OPNAME": (4, "an op"), "MODULE": (4, "an op"),
    "CARET_ID": (5, "a block label such as ^bb1"),
    "$END": (6, "end of input"),
}
_MAX_EXPECTED = 4


def _expected_words(expected: set[str], lark: Lark) -> list[str]:
    """Readable words for a set of lark terminal names (a short list, most useful first)."""
    ranked: list[tuple[int, str]] = []
    names = set(expected)
    if names & _ATTR_START:
        ranked.append((1, "an attribute value"))
        names -= _ATTR_START | _TYPE_START | {"NUMBER", "STRING", "SYMBOL", "LSQB", "LBRACE", "LPAR"}
    elif names & _TYPE_START:
        ranked.append((1, "a type such as f32 or tensor<4xf32>"))
        names -= _TYPE_START | {"LPAR"}
    if "OPNAME" in names and "WORD" in names and "RESULTS" not in names:
        ranked.append((1, "an attribute name"))
        names -= {"OPNAME", "WORD", "STRING"}
    if "OPNAME" in names:
        names.discard("STRING")  # the name of a generic op: "an op" says it
    names -= {"WORD", "LOC"}  # a segment keyword or a location: optional, and noise in a list
    for name in names:
        if name in _TERMINAL_WORDS:
            ranked.append(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            continue
        if isinstance(pattern, PatternStr):
            rank = 3 if pattern.value in ("{", "(", "}", "[") else 1
            ranked.append((rank, f"'{pattern.value}'"))
    words: list[str] = []
    for _, w in sorted(set(ranked)):
        if w not in words:
            words.append(w)
    return words[:_MAX_EXPECTED]


def _join_or(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# ---------------------------------------------------------------- text helpers

_NAME = re.compile(r"%([A-Za-z0-9_$.]+)")
_SHAPE = re.compile(r"((?:(?:\d+|\?)x)*)([A-Za-z][A-Za-z0-9]*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_HEX = re.compile(r"[0-9a-fA-F]{2}")


def _first_token(tree: Tree | Token | None) -> Token | None:
    if tree is None or isinstance(tree, Token):
        return tree
    return next(tree.scan_values(lambda v: isinstance(v, Token)), None)


def _scalar_literal(tok: Token) -> int | float | bool:
    kind = tok.type
    if kind == "NUMBER":
        text = tok.value
        return float(text) if any(c in text for c in ".eE") else int(text)
    return {"TRUE": True, "FALSE": False, "NAN": math.nan, "INF": math.inf, "NEG_INF": -math.inf}[kind]


def _literal_kind(value: int | float | bool) -> str:
    return "a boolean" if isinstance(value, bool) else "an integer" if isinstance(value, int) else "a float"


# ---------------------------------------------------------------- tree -> IR


class _IRBuilder:
    """Walks one parse tree top-down and builds the IR, resolving SSA names in scopes."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.lines = text.split("\n")
        # One dict of names per region being built; an isolated region (func.func) raises
        # `floor`, so that values of enclosing regions are not visible inside it.
        self.scopes: list[dict[str, Value]] = []
        self.floor = 0
        self.tensor_types: dict[str, TensorType] = {}

    # ---- errors
    def caret(self, line: int, col: int) -> str:
        source = self.lines[line - 1].rstrip("\r") if 0 < line <= len(self.lines) else ""
        pad = "".join("\t" if c == "\t" else " " for c in source[:max(col - 1, 0)])
        return f"{source}\n{pad}^"

    def error_at(self, line: int, col: int, message: str) -> TirError:
        return TirError(message, Location(self.filename, line, col), self.caret(line, col))

    def error(self, where: Tree | Token | Location | None, message: str, fallback: Location | None = None) -> TirError:
        if isinstance(where, Location):
            return self.error_at(where.line, where.col, message)
        tok = _first_token(where)
        if tok is not None:
            return self.error_at(tok.line, tok.column, message)
        if fallback is not None:
            return self.error_at(fallback.line, fallback.col, message)
        return TirError(message, Location(self.filename, 1, 1))

    def add_detail(self, e: TirError) -> TirError:
        """Give an error raised by an op class (inference) the caret excerpt of its location."""
        loc = e.loc
        if not e.detail and loc is not None and loc.file == self.filename and 0 < loc.line <= len(self.lines):
            e.detail = self.caret(loc.line, loc.col or 1)
            e.args = (f"{e.args[0]}\n{e.detail}",) if e.args else (e.detail,)
        return e

    def syntax_error(self, e: UnexpectedInput) -> TirError:
        lark = _lark()
        if isinstance(e, UnexpectedCharacters):
            char = self.text[e.pos_in_stream] if e.pos_in_stream < len(self.text) else ""
            message = "unterminated string" if char == '"' else f"unexpected character {char!r}"
            line, col, expected = e.line, e.column, set(e.allowed or ()) if char != '"' else set()
        elif isinstance(e, UnexpectedToken) and e.token.type != "$END":
            tok = e.token
            shown = _NAME.match(tok.value).group(0) if tok.type == "RESULTS" else tok.value  # type: ignore[union-attr]
            message = f"unexpected '{shown}'"
            line, col, expected = tok.line, tok.column, set(e.accepts or e.expected or ())
        else:
            message = "unexpected end of input"
            line, col = self.end_position()
            expected = set(getattr(e, "accepts", None) or getattr(e, "expected", None) or ())
        words = _expected_words(expected, lark)
        if words:
            message += "; expected " + _join_or(words)
        return self.error_at(line, col, message)

    def end_position(self) -> tuple[int, int]:
        """Just after the last character that is not white space."""
        stripped = self.text.rstrip()
        line = stripped.count("\n") + 1
        return line, len(stripped) - (stripped.rfind("\n") + 1) + 1

    # ---- scopes
    def push(self, isolated: bool) -> int:
        saved = self.floor
        self.scopes.append({})
        if isolated:
            self.floor = len(self.scopes) - 1
        return saved

    def pop(self, saved_floor: int) -> None:
        self.scopes.pop()
        self.floor = saved_floor

    def lookup(self, tok: Token) -> Value:
        name = tok.value[1:]
        for k in range(len(self.scopes) - 1, self.floor - 1, -1):
            value = self.scopes[k].get(name)
            if value is not None:
                return value
        if any(name in s for s in self.scopes[:self.floor]):
            raise self.error(tok, f"use of undefined value %{name} (it is defined outside an isolated op "
                                  "such as func.func, whose body cannot see it)")
        raise self.error(tok, f"use of undefined value %{name}")

    def define(self, name: str, line: int, col: int, value: Value) -> None:
        for k in range(len(self.scopes) - 1, self.floor - 1, -1):
            if name in self.scopes[k]:
                raise self.error_at(line, col, f"redefinition of value %{name}")
        self.scopes[-1][name] = value
        value.name_hint = name

    # ---- module and ops
    def module(self, tree: Tree) -> ModuleOp:
        saved = self.push(isolated=True)
        ops = [self.op(t) for t in tree.children]
        self.pop(saved)
        if len(ops) == 1 and isinstance(ops[0], ModuleOp):
            return ops[0]
        module = ModuleOp([], [], {}, [Region([Block()])], Location(self.filename, 1, 1))
        for op in ops:
            module.body.append(op)
        return module

    def op(self, tree: Tree) -> Operation:
        kind = tree.data
        if kind == "custom_op":
            return self.custom_op(tree)
        if kind == "generic_op":
            return self.generic_op(tree)
        if kind == "func_op":
            return self.func_op(tree)
        return self.module_op(tree)

    def op_class(self, tok: Token) -> type[Operation]:
        name = self.string(tok) if tok.type == "STRING" else tok.value
        if name.split(".", 1)[0] not in DIALECTS:
            raise self.error(tok, unknown_dialect(name))
        cls = OP_REGISTRY.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, list(OP_REGISTRY), n=3, cutoff=0.6)
            hint = "; did you mean " + _join_or([f"'{c}'" for c in close]) + "?" if close else ""
            raise self.error(tok, f"unknown op '{name}'{hint}")
        return cls

    def loc(self, tree: Tree | None, first: Token) -> Location:
        if tree is None:
            return Location(self.filename, first.line, first.column)
        file_tok, line_tok, col_tok = tree.children
        nums = []
        for tok in (line_tok, col_tok):
            if tok is not None and not tok.value.isdigit():
                raise self.error(tok, f"expected a line or column number in loc(...), got '{tok.value}'")
            nums.append(int(tok.value) if tok is not None else 0)
        return Location(self.string(file_tok), nums[0], nums[1])

    def result_names(self, tok: Token | None) -> list[tuple[str, int, int]]:
        """(name, line, col) of each name in a RESULTS token such as `%a, %b =`."""
        if tok is None:
            return []
        out = []
        text = tok.value
        for m in _NAME.finditer(text):
            newline = text.rfind("\n", 0, m.start())
            if newline < 0:
                out.append((m.group(1), tok.line, tok.column + m.start()))
            else:
                out.append((m.group(1), tok.line + text.count("\n", 0, m.start()), m.start() - newline))
        return out

    def construct(self, cls: type[Operation], operands: list[Value], result_types: list[Type] | None,
                  attrs: dict[str, Attribute], regions: list[Region], loc: Location) -> Operation:
        try:
            return cls(operands, result_types, attrs, regions, loc)
        except TirError as e:  # a VerifyError of type inference: it names the op's location already
            raise self.add_detail(e) from None
        except Exception as e:  # an op class rejecting its attributes or operands in some other way
            raise self.error(loc, f"'{cls.name}' op {e}") from e

    def bind_results(self, op: Operation, names: list[tuple[str, int, int]], first: Token,
                     types_written: bool) -> None:
        n, m = len(op.results), len(names)
        if n != m:
            if types_written and n and m:
                message = (f"'{op.name}' op is given {m} result name{'s' if m != 1 else ''} "
                           f"but {n} result type{'s' if n != 1 else ''}")
            else:
                message = (f"'{op.name}' op has {n} result{'s' if n != 1 else ''} "
                           f"but {m} result name{'s are' if m != 1 else ' is'} given")
            raise self.error(first, message)
        for r, (name, line, col) in zip(op.results, names):
            self.define(name, line, col, r)

    def check_operand_types(self, op_name: str, operand_toks: list[Token], operands: list[Value],
                            types: list[Type], type_trees: list[Any], where: Tree) -> None:
        """The types listed for an op's operands must be the types of those values."""
        if len(types) != len(operands):
            raise self.error(where, f"'{op_name}' op has {len(operands)} operand{'s' if len(operands) != 1 else ''} "
                                    f"but {len(types)} operand type{'s are' if len(types) != 1 else ' is'} listed")
        for tok, v, t, tt in zip(operand_toks, operands, types, type_trees):
            if v.type != t:
                raise self.error(tt if _first_token(tt) is not None else where,
                                 f"type {t} does not match the type {v.type} of operand {tok.value}")

    def custom_op(self, tree: Tree) -> Operation:
        res_tok, name_tok, operands_t, attrs_t, regions_t, types_t, loc_t = tree.children
        names = self.result_names(res_tok)
        first = res_tok or name_tok
        cls = self.op_class(name_tok)
        operand_toks = self.operand_tokens(cls, operands_t)
        operands = [self.lookup(tok) for tok in operand_toks]
        attrs = self.attr_dict(attrs_t) if attrs_t is not None else {}
        regions = [self.region(r, cls) for r in regions_t.children] if regions_t is not None else []
        loc = self.loc(loc_t, first)
        result_types: list[Type] | None
        if types_t is None:
            # No names bound to an op with a variable number of results: it has none.
            result_types = [] if cls.num_results is None and not names else None
        else:
            types = [self.type(t) for t in types_t.children]
            if cls.num_results == 0 or (cls.num_results is None and not names):
                # An op without results lists the types of its operands (`func.return %x : f32`).
                self.check_operand_types(cls.name, operand_toks, operands, types, types_t.children, types_t)
                result_types = []
            else:
                result_types = types
        op = self.construct(cls, operands, result_types, attrs, regions, loc)
        self.bind_results(op, names, first, types_t is not None)
        return op

    def operand_tokens(self, cls: type[Operation], tree: Tree | None) -> list[Token]:
        """The operand names, checking the keyword before a variadic segment (`wrt` in tensor.grad,
        `sizes`); the keyword may be left out."""
        if tree is None:
            return []
        lead_kw, head_t, kw, tail_t = tree.children
        if lead_kw is not None and kw is not None:
            raise self.error(kw, f"unexpected '{kw.value}': '{cls.name}' names one operand group")
        toks = list(head_t.children) + (list(tail_t.children) if kw is not None else [])
        kw, before = (lead_kw, 0) if lead_kw is not None else (kw, len(head_t.children))
        if kw is None:
            return toks
        defs = cls.operands_def
        var = next((k for k, n in enumerate(defs) if n.endswith("*")), None)
        if var is None:
            raise self.error(kw, f"unexpected '{kw.value}': '{cls.name}' has no variadic operand group to name")
        seg = defs[var].rstrip("*")
        if kw.value != seg:
            raise self.error(kw, f"expected keyword '{seg}' (the name of the variadic operands of '{cls.name}'), "
                                 f"got '{kw.value}'")
        if before != var:
            where = "come first" if var == 0 else f"follow the first {var} operand{'s' if var != 1 else ''}"
            raise self.error(kw, f"keyword '{seg}' must {where} in '{cls.name}', not after {before}")
        return toks

    def generic_op(self, tree: Tree) -> Operation:
        res_tok, name_tok, values_t, regions_t, attrs_t, ftype_t, loc_t = tree.children
        names = self.result_names(res_tok)
        first = res_tok or name_tok
        cls = self.op_class(name_tok)
        operand_toks = list(values_t.children) if values_t is not None else []
        operands = [self.lookup(tok) for tok in operand_toks]
        regions = [self.region(r, cls) for r in regions_t.children] if regions_t is not None else []
        attrs = self.attr_dict(attrs_t) if attrs_t is not None else {}
        loc = self.loc(loc_t, first)
        ins_t, results_t = ftype_t.children
        in_trees = list(ins_t.children) if ins_t is not None else []
        self.check_operand_types(cls.name, operand_toks, operands, [self.type(t) for t in in_trees], in_trees,
                                 ftype_t if ins_t is None else ins_t)
        op = self.construct(cls, operands, self.func_results(results_t), attrs, regions, loc)
        self.bind_results(op, names, first, True)
        return op

    def func_op(self, tree: Tree) -> Operation:
        name_tok, sym_tok, args_t, results_t, attrs_t, body_t, loc_t = tree.children
        cls = self.op_class(name_tok)
        if not issubclass(cls, FuncOp):
            raise self.error(sym_tok, f"unexpected '{sym_tok.value}': '{cls.name}' is not a function op; "
                                      "expected its operands")
        args = [(a.children[0], self.type(a.children[1])) for a in args_t.children] if args_t is not None else []
        results = self.func_results(results_t) if results_t is not None else []
        loc = self.loc(loc_t, name_tok)
        try:
            op = cls.create(sym_tok.value[1:], [t for _, t in args], results,
                            arg_names=[tok.value[1:] for tok, _ in args], loc=loc)
        except TirError as e:
            raise self.add_detail(e) from None
        if attrs_t is not None:
            extra = self.attr_dict(attrs_t)
            for entry, key in zip(attrs_t.children, extra):
                if key in op.attributes:
                    raise self.error(entry, f"attribute '{key}' of '{cls.name}' is given by its signature")
            op.attributes.update(extra)
        saved = self.push(ISOLATED in cls.traits)
        for (tok, _), arg in zip(args, op.body.args):
            self.define(tok.value[1:], tok.line, tok.column, arg)
        self.fill_region(body_t, op.regions[0])
        self.pop(saved)
        return op

    def module_op(self, tree: Tree) -> Operation:
        kw_tok, sym_tok, attrs_t, region_t, loc_t = tree.children
        cls = OP_REGISTRY["builtin.module"]
        attrs: dict[str, Attribute] = {"sym_name": sym_tok.value[1:]} if sym_tok is not None else {}
        if attrs_t is not None:
            attrs.update(self.attr_dict(attrs_t))
        region = self.region(region_t, cls)
        return self.construct(cls, [], [], attrs, [region], self.loc(loc_t, kw_tok))

    # ---- regions
    def region(self, tree: Tree, cls: type[Operation]) -> Region:
        saved = self.push(ISOLATED in cls.traits)
        region = self.fill_region(tree, Region())
        self.pop(saved)
        return region

    def fill_region(self, tree: Tree, region: Region) -> Region:
        """Blocks and ops of `{ ops ^bb1(%a: f32): ops }` into `region` (whose entry block may exist)."""
        entry_t, *block_ts = tree.children
        entry = region.blocks[0] if region.blocks else None
        if entry is None and (entry_t.children or not block_ts):
            entry = region.add_block(Block())
        if entry is not None:
            self.ops_into(entry_t.children, entry)
        labels: set[str] = set()
        for bt in block_ts:
            label_tok, args_t, *op_ts = bt.children
            if label_tok.value != "^":
                if label_tok.value in labels:
                    raise self.error(label_tok, f"redefinition of block {label_tok.value}")
                labels.add(label_tok.value)
            block = region.add_block(Block())
            for arg_t in args_t.children if args_t is not None else ():
                tok, type_t = arg_t.children
                arg = block.add_arg(self.type(type_t))
                self.define(tok.value[1:], tok.line, tok.column, arg)
            self.ops_into(op_ts, block)
        return region

    def ops_into(self, trees: list[Tree], block: Block) -> None:
        for t in trees:
            block.append(self.op(t))

    # ---- types
    def type(self, tree: Tree | Token) -> Type:
        if isinstance(tree, Token):
            if tree.type == "TENSOR_TYPE":  # `tensor<4x?xf32>` lexed whole
                cached = self.tensor_types.get(tree.value)
                if cached is None:
                    shape, elem = self.shape(tree, len("tensor<"))
                    cached = self.tensor_types[tree.value] = TensorType(shape, elem)
                return cached
            return ScalarType(tree.value)  # SCALAR_TYPE (the lexer only accepts known names)
        kind = tree.data
        if kind == "tensor_type":
            shape_tok, encoding_tok = tree.children
            shape, elem = self.shape(shape_tok)
            return TensorType(shape, elem, encoding_tok.value[1:] if encoding_tok is not None else None)
        if kind == "dialect_type":
            return self.dialect_type(tree)
        if kind == "memref_type":
            shape_tok, strides_t, space_t = tree.children
            shape, elem = self.shape(shape_tok)
            strides = None
            if strides_t is not None:
                strides = tuple(None if s.type == "QMARK" else self.integer(s, "a stride")
                                for s in strides_t.children)
                if len(strides) != len(shape):
                    raise self.error(strides_t, f"memref of rank {len(shape)} has {len(strides)} strides")
            space = space_t.value[1:] if space_t is not None else "host"
            if space not in MEMORY_SPACES:
                raise self.error(space_t, f"unknown memory space #{space} (known: "
                                 f"{', '.join('#' + s for s in MEMORY_SPACES)})")
            return MemRefType(shape, elem, strides, space)
        ins_t, results_t = tree.children  # function_type
        ins = tuple(self.type(t) for t in ins_t.children) if ins_t is not None else ()
        return FunctionType(ins, tuple(self.func_results(results_t)))

    def dialect_type(self, tree: Tree) -> Type:
        """`!dialect.name<params>`, built and checked by the type's class."""
        name_tok, params_t = tree.children
        name = name_tok.value[1:]
        if name.split(".", 1)[0] not in DIALECTS:
            raise self.error(name_tok, unknown_dialect(name_tok.value))
        cls = TYPE_REGISTRY.get(name)
        if cls is None:
            dialect = DIALECTS[name.split(".", 1)[0]]
            known = ", ".join(t.syntax for t in dialect.types) or "none"
            raise self.error(name_tok, f"unknown type '{name_tok.value}'; types of dialect '{dialect.name}': {known}")
        params = self.type_params(params_t) if params_t is not None else ()
        try:
            return cls(params)
        except ValueError as e:
            raise self.error(name_tok, str(e)) from None

    def type_params(self, tree: Tree) -> tuple[TypeParam, ...]:
        return tuple(self.type_param(t) for t in tree.children)

    def type_param(self, tree: Tree | Token) -> TypeParam:
        if isinstance(tree, Token) and tree.type in ("NUMBER", "QMARK", "STRING"):
            if tree.type == "QMARK":
                return None
            return self.string(tree) if tree.type == "STRING" else _scalar_literal(tree)
        if isinstance(tree, Tree) and tree.data == "nested_params":
            return self.type_params(tree.children[0])
        return self.type(tree)

    def func_results(self, tree: Tree) -> list[Type]:
        """`-> t` or `-> (t, u)` or `-> ()`."""
        child = tree.children[0]
        if child is None:
            return []
        if isinstance(child, Tree) and child.data == "type_list":
            return [self.type(t) for t in child.children]
        return [self.type(child)]

    def shape(self, tok: Token, start: int = 0) -> tuple[tuple[int | None, ...], ScalarType]:
        """`4x?xf32` (from `start` in the token) -> ((4, None), f32)."""
        m = _SHAPE.match(tok.value, start)
        assert m is not None  # the SHAPE and TENSOR_TYPE terminals have this pattern
        dims = tuple(None if d == "?" else int(d) for d in m.group(1).split("x")[:-1])
        try:
            elem = ScalarType(m.group(2))
        except ValueError:
            raise self.error_at(tok.line, tok.column + m.start(2),
                                f"unknown element type '{m.group(2)}'; expected one such as f32, i64 or i1") from None
        return dims, elem

    def integer(self, tok: Token, what: str) -> int:
        value = _scalar_literal(tok) if tok.type == "NUMBER" else None
        if not isinstance(value, int):
            raise self.error(tok, f"expected {what} (an integer), got '{tok.value}'")
        return value

    # ---- attributes
    def string(self, tok: Token) -> str:
        body = tok.value[1:-1]
        if "\\" not in body:
            return body
        out: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif _HEX.match(body, i + 1):
                out.append(chr(int(body[i + 1:i + 3], 16)))
                i += 3
            else:
                raise self.error_at(tok.line, tok.column + 1 + i, f"unknown escape '\\{nxt}' in a string")
        return "".join(out)

    def attr_dict(self, tree: Tree) -> dict[str, Attribute]:
        out: dict[str, Attribute] = {}
        for entry in tree.children:
            key_tok, value_t = entry.children
            key = self.string(key_tok) if key_tok.type == "STRING" else key_tok.value
            if key in out:
                raise self.error(key_tok, f"duplicate attribute '{key}'")
            out[key] = self.attr(value_t)
        return out

    def attr(self, tree: Tree | Token) -> Attribute:
        if isinstance(tree, Token):
            kind = tree.type
            if kind == "STRING":
                return self.string(tree)
            if kind == "SYMBOL":
                return SymbolRef(tree.value[1:])
            if kind == "QMARK":
                return DYN
            if kind == "NONE":
                return None
            return self.type(tree)  # SCALAR_TYPE or TENSOR_TYPE
        kind = tree.data
        if kind == "scalar_attr":
            lit, type_t = tree.children
            value = _scalar_literal(lit)
            if type_t is None:
                return value
            return Typed(value, self.scalar_type_of(lit, value, type_t))
        if kind == "array_attr":
            return tuple(self.attr(c) for c in tree.children)
        if kind == "attr_dict":
            return self.attr_dict(tree)
        if kind == "dense_attr":
            return self.dense(tree)
        return self.type(tree)  # a type as a value: tensor<2xf32>, (f32) -> f32

    def scalar_type_of(self, lit: Token, value: int | float | bool, type_t: Tree | Token) -> ScalarType:
        """The type of `value : type`, checking that the literal fits it."""
        t = self.type(type_t)
        if not isinstance(t, ScalarType):
            raise self.error(type_t, f"a typed scalar needs a scalar type such as f32 or i64, got {t}")
        self.check_element(lit, value, t)
        return t

    def check_element(self, tok: Token, value: int | float | bool, t: ScalarType) -> None:
        dt = t.dtype
        if dt.kind == "b":
            if not isinstance(value, bool):
                raise self.error(tok, f"{t} values are written true or false, got {_literal_kind(value)}")
        elif isinstance(value, bool):
            raise self.error(tok, f"true/false is not a value of type {t}")
        elif dt.kind in "iu":
            if not isinstance(value, int):
                raise self.error(tok, f"{_literal_kind(value)} is not a value of the integer type {t}")
            info = np.iinfo(dt)
            if not info.min <= value <= info.max:
                raise self.error(tok, f"{value} does not fit in {t} ([{info.min}, {info.max}])")

    def dense(self, tree: Tree) -> Dense:
        dense_tok, elem_t, type_t = tree.children
        t = self.type(type_t)
        if not isinstance(t, TensorType):
            raise self.error(type_t, f"a dense literal needs a tensor type such as tensor<2xf32>, got {t}")
        if not t.is_static:
            raise self.error(type_t, f"a dense literal needs a static shape, got {t}")
        if t.encoding is not None:
            raise self.error(type_t, f"a dense literal needs a tensor type without an encoding, got {t}")
        value = self.dense_elem(elem_t, t.element)
        with np.errstate(all="ignore"):
            if not isinstance(value, list):  # a splat: every element has this value
                return Dense(np.full(t.shape, value, dtype=t.dtype))
            try:
                arr = np.array(value, dtype=t.dtype)
            except ValueError:
                raise self.error(dense_tok, "dense literal is not rectangular (its rows differ in length)") from None
        if arr.shape != t.shape:
            raise self.error(dense_tok, f"dense literal has {arr.size} element{'s' if arr.size != 1 else ''} "
                                     f"in shape {arr.shape} but its type {t} has {math.prod(t.shape)} "  # type: ignore[arg-type]
                                     f"in shape {t.shape}")
        return Dense(arr)

    def dense_elem(self, tree: Tree, elem: ScalarType) -> Any:
        children = tree.children
        if len(children) == 1 and isinstance(children[0], Token):
            value = _scalar_literal(children[0])
            self.check_element(children[0], value, elem)
            return value
        return [self.dense_elem(c, elem) for c in children]
