"""Text printer for every level of the IR.

Custom form (one uniform syntax for every op, DESIGN.md section 3):

    %r = dialect.op %a, %b kw %c, %d {attr = 1} ({ ^bb0(%x: f32): ... }) : tensor<?xf32>

Operands of a variadic segment that is not first, and size operands, are
preceded by the segment's name (`tensor.grad %cost wrt %w, %b`,
`tensor.zeros sizes %n`). Ops without results list
their operand types after the colon (`func.return %x : tensor<f32>`).

Generic form (`generic=True`), which MLIR-family tools read:

    %r = "dialect.op"(%a, %b) ({...}) {attr = 1} : (tensor<?xf32>, f32) -> tensor<?xf32>
"""

from __future__ import annotations

import re

from .attributes import format_attr_dict
from .core import ISOLATED, UNKNOWN, Block, Location, Operation, Region, Value

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]*\Z")


class Printer:
    def __init__(self, generic: bool = False, debuginfo: bool = False, indent: str = "  ") -> None:
        self.generic = generic
        self.debuginfo = debuginfo
        self.indent_unit = indent
        self.names: dict[Value, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    # ---- names
    def new_scope(self) -> tuple[dict[Value, str], set[str], int]:
        saved = (self.names, self.used, self.counter)
        self.names, self.used, self.counter = dict(self.names), set(), 0
        return saved

    def restore_scope(self, saved: tuple[dict[Value, str], set[str], int]) -> None:
        self.names, self.used, self.counter = saved

    def declare(self, v: Value) -> str:
        hint = v.name_hint
        if hint is not None and _IDENT.match(hint):
            name = hint
            k = 1
            while name in self.used:
                name = f"{hint}_{k}"
                k += 1
        else:
            while str(self.counter) in self.used:
                self.counter += 1
            name = str(self.counter)
            self.counter += 1
        self.used.add(name)
        self.names[v] = name
        return "%" + name

    def name(self, v: Value) -> str:
        if v not in self.names:
            # A value used but not defined in the printed scope (e.g. printing one op alone).
            return "%<" + (v.name_hint or "?") + ">"
        return "%" + self.names[v]

    # ---- ops
    def op(self, op: Operation, depth: int = 0) -> str:
        custom = getattr(op, "print_custom", None)
        if custom is not None and not self.generic:
            return custom(self, depth)
        pad = self.indent_unit * depth
        lhs = ", ".join(self.declare(r) for r in op.results)
        text = pad + (lhs + " = " if lhs else "")
        if self.generic:
            text += f'"{op.name}"(' + ", ".join(self.name(v) for v in op.operands) + ")"
            if op.regions:
                text += self.regions(op, depth)
            if op.attributes:
                text += " " + format_attr_dict(op.attributes)
            ins = ", ".join(str(v.type) for v in op.operands)
            outs = [str(r.type) for r in op.results]
            out = outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ")"
            text += f" : ({ins}) -> {out}"
        else:
            text += op.name + self.operand_list(op)
            if op.attributes:
                text += " " + format_attr_dict(op.attributes)
            if op.regions:
                text += self.regions(op, depth)
            types = op.results if op.results else op.operands
            if types:
                text += " : " + ", ".join(str(v.type) for v in types)
        return text + self.location(op.loc)

    def operand_list(self, op: Operation) -> str:
        if not op.operands:
            return ""
        named = op.named_segment()
        if named is None:
            return " " + ", ".join(self.name(v) for v in op.operands)
        var, keyword = named
        n_var = len(op.operands) - (len(op.operands_def) - 1)
        groups = [op.operands[:var], op.operands[var:var + n_var], op.operands[var + n_var:]]
        head, seg, tail = (", ".join(self.name(v) for v in g) for g in groups)
        parts = [head] if head else []
        if seg:
            parts.append(f"{keyword} {seg}")
        text = " " + " ".join(parts)
        return text + (", " + tail if tail else "")

    def location(self, loc: Location) -> str:
        if not self.debuginfo or loc == UNKNOWN:
            return ""
        file = loc.file.replace("\\", "\\\\").replace('"', '\\"')
        return f' loc("{file}":{loc.line}:{loc.col})'

    def regions(self, op: Operation, depth: int) -> str:
        # An isolated op (func.func in generic form) names its values afresh, as MLIR does.
        saved = self.new_scope() if op.has_trait(ISOLATED) else None
        text = " (" + ", ".join(self.region(r, depth) for r in op.regions) + ")"
        if saved is not None:
            self.restore_scope(saved)
        return text

    def region(self, region: Region, depth: int) -> str:
        lines = ["{"]
        for i, block in enumerate(region.blocks):
            if block.args or i > 0 or len(region.blocks) > 1:
                lines.append(self.indent_unit * (depth + 1) + self.block_header(block, i))
            for op in block.ops:
                lines.append(self.op(op, depth + 2 if (block.args or len(region.blocks) > 1) else depth + 1))
        lines.append(self.indent_unit * depth + "}")
        return "\n".join(lines)

    def block_header(self, block: Block, index: int) -> str:
        args = ", ".join(f"{self.declare(a)}: {a.type}" for a in block.args)
        return f"^bb{index}({args}):" if block.args else f"^bb{index}:"

    def block_body(self, block: Block, depth: int) -> list[str]:
        return [self.op(op, depth) for op in block.ops]


def print_op(op: Operation, generic: bool = False, debuginfo: bool = False) -> str:
    """Text of one op (values defined outside it print as `%<name>`)."""
    return Printer(generic, debuginfo).op(op) + "\n"


def print_module(module: Operation, generic: bool = False, debuginfo: bool = False) -> str:
    """Text of a module: its top-level ops one after the other (the module itself is implicit)."""
    p = Printer(generic, debuginfo)
    if generic:
        return p.op(module) + "\n"
    chunks = [p.op(op) for op in module.regions[0].block.ops]
    return "\n\n".join(chunks) + "\n"
