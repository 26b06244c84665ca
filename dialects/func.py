"""The `func` dialect: functions, returns and calls.

    func.func @f(%x: tensor<?xf32>, %y: tensor<f32>) -> tensor<?xf32> {
      %0 = tensor.add %x, %y : tensor<?xf32>
      func.return %0 : tensor<?xf32>
    }
    %r = func.call %a, %b {callee = @f} : tensor<?xf32>
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..ir.attributes import SymbolRef
from ..ir.core import ISOLATED, TERMINATOR, AttrDef, Block, Location, Operation, Region
from ..ir.dialect import Dialect
from ..ir.types import FunctionType, MemRefType, TensorType, Type, compatible
from .builtin import enclosing_module
from .tensor_common import fmt_shape


def argument_label(func: str, k: int, name: str | None) -> str:
    """How errors name argument k of @func: `input 'x' (#0) of @main`."""
    return (f"input '{name}' (#{k})" if name else f"input #{k}") + f" of @{func}"


def shape_mismatch(label: str, shape: Sequence[int | None], got: str) -> str:
    """The one wording of a call argument whose static dims do not fit its type, for the Python-side
    check (frontend/function.py) and the C entry (backends/c.py) alike; `got` is the given shape as
    text, `(2, 3)` (a printf format of it in C, which is why it comes last)."""
    return f"{label} expects shape {fmt_shape(shape)}, got an array of shape {got}"


class FuncOp(Operation):
    """A function: a name, a type and a body whose block arguments are its parameters.

    `attributes {tir.tied = [-1, 1]}` ties results to arguments: per result, the argument whose
    storage it may be written into, or -1 (passes/tied.py: who sets it and when it holds).

    Also the base of other function-like ops (`kernel.func`): they change `name` and
    `return_op` and share construction, verification and the custom printed form.
    """

    name = "func.func"
    return_op: ClassVar[str] = "func.return"  # the terminator that must end the body
    num_results = 0
    num_regions = 1
    attrs = {"sym_name": AttrDef(str, required=True),
             "function_type": AttrDef(FunctionType, required=True),
             "tir.tied": AttrDef(tuple)}
    traits = frozenset({ISOLATED})

    @classmethod
    def create(cls, name: str, inputs: Sequence[Type], results: Sequence[Type],
               arg_names: Sequence[str | None] | None = None, loc: Location | None = None) -> FuncOp:
        body = Block(list(inputs), arg_names)
        ftype = FunctionType(tuple(inputs), tuple(results))
        return cls([], [], {"sym_name": name, "function_type": ftype}, [Region([body])], loc)  # type: ignore[return-value]

    @property
    def sym_name(self) -> str:
        return self.attributes["sym_name"]

    @property
    def function_type(self) -> FunctionType:
        return self.attributes["function_type"]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def args(self) -> list:
        return self.body.args

    def infer_types(self) -> list[Type]:
        return []

    def verify_(self) -> None:
        ft = self.function_type
        if len(self.regions[0].blocks) != 1:
            raise self.error("body must have exactly one block")
        args = self.body.args
        if [a.type for a in args] != list(ft.inputs):
            raise self.error("argument types do not match the function type")
        term = self.body.terminator
        if term is None or term.name != self.return_op:
            raise self.error(f"@{self.sym_name} must end with {self.return_op}")
        if "tir.tied" in self.attributes:
            self._verify_tied(self.attributes["tir.tied"])

    def _verify_tied(self, tied: tuple) -> None:
        ft = self.function_type
        if len(tied) != len(ft.results) or not all(type(a) is int for a in tied):
            raise self.error(f"tir.tied needs one integer per result ({len(ft.results)}), got {list(tied)}")
        for r, a in enumerate(tied):
            if a == -1:
                continue
            if not 0 <= a < len(ft.inputs):
                raise self.error(f"tir.tied ties result {r} to argument {a}, which does not exist")
            if tied.count(a) > 1:
                raise self.error(f"tir.tied ties argument {a} to more than one result")
            t, u = ft.results[r], ft.inputs[a]
            if not (isinstance(t, (TensorType, MemRefType)) and isinstance(u, (TensorType, MemRefType))
                    and t.element == u.element and t.rank == u.rank):
                raise self.error(f"tir.tied ties result {r} ({t}) to argument {a} ({u}); a tied pair needs "
                                 "the same element type and rank")

    def print_custom(self, p: Any, depth: int) -> str:
        pad = p.indent_unit * depth
        saved = p.new_scope()
        args = ", ".join(f"{p.declare(a)}: {a.type}" for a in self.body.args)
        res = self.function_type.results
        sig = ""
        if len(res) == 1:
            sig = f" -> {res[0]}"
        elif res:
            sig = " -> (" + ", ".join(map(str, res)) + ")"
        extra = {k: v for k, v in self.attributes.items() if k not in ("sym_name", "function_type")}
        attrs = ""
        if extra:
            from ..ir.attributes import format_attr_dict
            attrs = " attributes " + format_attr_dict(extra)
        lines = [f"{pad}{self.name} @{self.sym_name}({args}){sig}{attrs} {{"]
        lines += p.block_body(self.body, depth + 1)
        lines.append(pad + "}" + p.location(self.loc))
        p.restore_scope(saved)
        return "\n".join(lines)

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return []


class ReturnOp(Operation):
    """Ends a function body: `func.return %a, %b : tensor<f32>, tensor<?xf32>`."""

    name = "func.return"
    operands_def = ("values*",)
    num_results = 0
    traits = frozenset({TERMINATOR})

    def infer_types(self) -> list[Type]:
        return []

    def verify_(self) -> None:
        fn = self.parent_op
        if not isinstance(fn, FuncOp):
            return
        want = fn.function_type.results
        got = [v.type for v in self.operands]
        if len(want) != len(got) or not all(compatible(w, g) for w, g in zip(want, got)):
            raise self.error(f"returns ({', '.join(map(str, got))}) but @{fn.sym_name} "
                             f"declares ({', '.join(map(str, want))})")


class CallOp(Operation):
    """Calls a function of the same module: `%r = func.call %a {callee = @f} : tensor<f32>`."""

    name = "func.call"
    operands_def = ("args*",)
    num_results = None
    attrs = {"callee": AttrDef(SymbolRef, required=True)}
    traits = frozenset()

    def callee_op(self) -> FuncOp | None:
        module = enclosing_module(self)
        fn = module.lookup(self.attributes["callee"].name) if module is not None else None
        return fn if isinstance(fn, FuncOp) and fn.name == FuncOp.name else None  # not a kernel.func

    def infer_types(self) -> list[Type]:
        fn = self.callee_op()
        if fn is None:
            return super().infer_types()
        return list(fn.function_type.results)

    def verify_(self) -> None:
        fn = self.callee_op()
        if fn is None:
            raise self.error(f"calls unknown function @{self.attributes['callee'].name}")
        want = fn.function_type.inputs
        if len(want) != len(self.operands) or not all(
                compatible(w, v.type) for w, v in zip(want, self.operands)):
            raise self.error(f"operand types do not match @{fn.sym_name}'s ({', '.join(map(str, want))})")

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return interp.call(self.attributes["callee"].name, args)


DIALECT = Dialect("func", "functions, returns and calls")
