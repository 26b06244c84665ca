"""The IR data structures: Location, Value, Operation, Block, Region.

An op is declared once, in one class (see dialects/): its `name`, the names
of its operands (one of them may end in `*`: a variadic segment), its
attributes (`attrs`: name -> AttrDef), how many results and regions it has,
its traits, `infer_types`, `verify_`, `interpret` and, where it has them,
`fold` and `grad`. Declaring the class registers it by name.

    class AddOp(ElementwiseBinaryOp):
        '''%c = tensor.add %a, %b : tensor<4xf32>'''
        name = "tensor.add"
        fn = staticmethod(np.add)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .attributes import Attribute, normalize
from .types import Type, compatible, register_class

# ---------------------------------------------------------------- locations


@dataclass(frozen=True)
class Location:
    """Where an op came from: `file:line:col` of a .tir file or `file.py:line` of user code."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.col else f"{self.file}:{self.line}"


UNKNOWN = Location("<unknown>", 0)

_PACKAGE = __name__.split(".")[0]  # `tensorir`


def _internal(frame_globals: dict[str, Any]) -> bool:
    """Is this frame's module part of the package? Decided by module name, not file path: user scripts
    may live inside the checkout (examples/, the repository root, `python -c` run there)."""
    name = frame_globals.get("__name__", "")
    if name == "__main__":  # `python -m tensorir.tools.x`: the module's own name is in its spec
        spec = frame_globals.get("__spec__")
        name = getattr(spec, "name", name) if spec is not None else name
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def caller_location() -> Location:
    """The first stack frame outside this package's modules: the user's `file.py:line`."""
    frame = inspect.currentframe()
    while frame is not None:
        if not _internal(frame.f_globals):
            return Location(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return UNKNOWN


# ---------------------------------------------------------------- errors


class TirError(Exception):
    """A user-facing error: one line that starts with the place it is about."""

    def __init__(self, message: str, loc: Location | None = None, detail: str = "") -> None:
        self.loc = loc
        self.message = message
        self.detail = detail  # extra lines (a source excerpt with a caret), shown after the message
        text = f"{loc}: {message}" if loc is not None and loc != UNKNOWN else message
        super().__init__(text + ("\n" + detail if detail else ""))


class TirTypeError(TirError, TypeError):
    """A value of the wrong kind: a call argument of the wrong dtype or number of dimensions."""


class TirValueError(TirError, ValueError):
    """A value of the right kind but a wrong size: a call argument's static dim, a run-time shape check."""


class NotSupportedError(TirError, NotImplementedError):
    """A Theano feature tensorir does not have yet (the table in frontend/unsupported.py)."""


class DisconnectedInputError(TirError, ValueError):
    """A gradient was asked for with respect to a value the cost does not depend on (Theano's name)."""


class VerifyError(TirError):
    """An op broke a rule of its dialect: `file:3:9: 'tensor.add' op ...`."""

    def __init__(self, op: Operation, message: str) -> None:
        self.op = op
        super().__init__(f"'{op.name}' op {message}", op.loc)


# ---------------------------------------------------------------- values


class Value:
    """An SSA value: the result of an op or an argument of a block."""

    __slots__ = ("type", "uses", "name_hint")

    def __init__(self, type: Type, name_hint: str | None = None) -> None:
        self.type = type
        self.uses: list[Use] = []
        self.name_hint = name_hint

    @property
    def owner(self) -> Operation | Block:
        raise NotImplementedError

    @property
    def users(self) -> list[Operation]:
        seen: dict[int, Operation] = {}
        for use in self.uses:
            seen.setdefault(id(use.op), use.op)
        return list(seen.values())

    def replace_all_uses_with(self, new: Value) -> None:
        if new is self:
            return
        for use in list(self.uses):
            use.op.set_operand(use.index, new)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} %{self.name_hint or '?'}: {self.type}>"


class OpResult(Value):
    __slots__ = ("op", "index")

    def __init__(self, type: Type, op: Operation, index: int) -> None:
        super().__init__(type)
        self.op = op
        self.index = index

    @property
    def owner(self) -> Operation:
        return self.op


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type: Type, block: Block, index: int, name_hint: str | None = None) -> None:
        super().__init__(type, name_hint)
        self.block = block
        self.index = index

    @property
    def owner(self) -> Block:
        return self.block


@dataclass(frozen=True)
class Use:
    op: Operation
    index: int


# ---------------------------------------------------------------- op declaration


@dataclass(frozen=True)
class AttrDef:
    """Declares one attribute: the Python kinds it may hold and its default.

    A required attribute has `required=True`; an optional one without default is
    simply absent (`op.attributes.get(name)` is None).
    """

    kinds: tuple[type, ...] | type = object
    default: Any = None
    required: bool = False
    doc: str = ""


# Traits are plain strings checked with `op.has_trait(...)`.
PURE = "pure"                # no side effects: CSE and DCE may merge or drop it
COMMUTATIVE = "commutative"
ELEMENTWISE = "elementwise"  # numpy broadcasting over its tensor operands
TERMINATOR = "terminator"    # must end its block
CONSTANT_LIKE = "constant"   # produces a constant from attributes alone
ISOLATED = "isolated"        # regions don't see values defined outside (func.func)

OP_REGISTRY: dict[str, type[Operation]] = {}


class Operation:
    """Base of every op. Subclasses declare their structure with class fields."""

    name: ClassVar[str] = ""
    operands_def: ClassVar[tuple[str, ...]] = ()  # e.g. ("lhs", "rhs"), ("cost", "wrt*")
    attrs: ClassVar[dict[str, AttrDef]] = {}
    num_results: ClassVar[int | None] = 1  # None: variadic
    num_regions: ClassVar[int] = 0
    traits: ClassVar[frozenset[str]] = frozenset()

    # ---- registration
    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        register_class(OP_REGISTRY, cls, "op ")
        names = [n.rstrip("*") for n in cls.operands_def]
        if sum(n.endswith("*") for n in cls.operands_def) > 1:
            raise TypeError(f"{cls.__name__}: at most one variadic operand segment")
        for i, n in enumerate(names):
            if n and n not in cls.__dict__ and not hasattr(Operation, n):
                setattr(cls, n, property(lambda self, i=i: self._segment(i)))

    # ---- construction
    def __init__(self, operands: Sequence[Value] = (), result_types: Sequence[Type] | None = None,
                 attributes: dict[str, Attribute] | None = None,
                 regions: Sequence[Region] | None = None, loc: Location | None = None) -> None:
        self.operands: list[Value] = []
        self.attributes: dict[str, Attribute] = {}
        self.parent: Block | None = None
        self.loc: Location = loc if loc is not None else UNKNOWN
        for k, v in (attributes or {}).items():
            self.attributes[k] = normalize(v)
        for k, d in self.attrs.items():
            if k not in self.attributes and d.default is not None:
                self.attributes[k] = normalize(d.default)
        for v in operands:
            self._add_operand(v)
        self.regions: list[Region] = []
        for r in regions or ():
            self.add_region(r)
        self.results: list[OpResult] = []
        if result_types is None:
            self._check_arity()
            result_types = self.infer_types()
        for i, t in enumerate(result_types):
            self.results.append(OpResult(t, self, i))

    @classmethod
    def build(cls, *operands: Value, loc: Location | None = None,
              result_types: Sequence[Type] | None = None, regions: Sequence[Region] | None = None,
              **attributes: Attribute) -> Operation:
        """Create an op (not inserted anywhere); result types inferred unless given."""
        return cls(list(operands), result_types, attributes, regions, loc)

    def _add_operand(self, v: Value) -> None:
        if not isinstance(v, Value):
            raise TypeError(f"'{self.name}' operand {len(self.operands)} is {type(v).__name__}, not an IR value")
        v.uses.append(Use(self, len(self.operands)))
        self.operands.append(v)

    def add_region(self, region: Region) -> Region:
        region.parent = self
        self.regions.append(region)
        return region

    # ---- accessors
    @property
    def result(self) -> OpResult:
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not one")
        return self.results[0]

    @classmethod
    def named_segment(cls) -> tuple[int, str] | None:
        """(position, name) of the variadic operand segment when the text writes its name before it:
        when it follows other operands (`tensor.grad %c wrt %w`), and always for size operands, so that
        every op with sizes reads the same (`tensor.zeros sizes %n`, `tensor.reshape %x sizes %n`)."""
        var = next((k for k, n in enumerate(cls.operands_def) if n.endswith("*")), None)
        if var is None:
            return None
        seg = cls.operands_def[var][:-1]
        return (var, seg) if var > 0 or seg == "sizes" else None

    def _segment(self, i: int) -> Value | list[Value]:
        """Operand segment i of operands_def (a list for the variadic one)."""
        defs = self.operands_def
        var = next((k for k, n in enumerate(defs) if n.endswith("*")), None)
        n_var = len(self.operands) - (len(defs) - 1) if var is not None else 0
        if var is None or i < var:
            return self.operands[i]
        if i == var:
            return self.operands[var:var + n_var]
        return self.operands[i - 1 + n_var]

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)

    def has_trait(self, trait: str) -> bool:
        return trait in self.traits

    @property
    def dialect(self) -> str:
        return self.name.split(".", 1)[0]

    # ---- use-def maintenance
    def set_operand(self, index: int, value: Value) -> None:
        old = self.operands[index]
        old.uses.remove(Use(self, index))
        value.uses.append(Use(self, index))
        self.operands[index] = value

    def drop_operands(self) -> None:
        for i, v in enumerate(self.operands):
            v.uses.remove(Use(self, i))
        self.operands = []

    def erase(self) -> None:
        """Remove this op (and everything nested in it) from its block and all use lists."""
        for r in self.regions:
            for b in r.blocks:
                for op in reversed(list(b.ops)):
                    op.erase()
        if any(r.uses for r in self.results):
            raise TirError(f"'{self.name}' op erased while its results are still used", self.loc)
        self.drop_operands()
        if self.parent is not None:
            self.parent.remove(self)

    def replace_with(self, values: Sequence[Value]) -> None:
        """Redirect every use of this op's results to `values`, then erase the op."""
        if len(values) != len(self.results):
            raise ValueError(f"'{self.name}' replaced with {len(values)} values for {len(self.results)} results")
        for r, v in zip(self.results, values):
            r.replace_all_uses_with(v)
        self.erase()

    # ---- traversal
    def walk(self, post_order: bool = False) -> Iterator[Operation]:
        """Every op nested in this one (and this one), pre-order unless post_order."""
        if not post_order:
            yield self
        for r in self.regions:
            for b in r.blocks:
                for op in list(b.ops):
                    yield from op.walk(post_order)
        if post_order:
            yield self

    def is_within(self, ancestor: Operation) -> bool:
        """Whether this op is `ancestor` or nested (at any depth) in its regions."""
        cur: Operation | None = self
        while cur is not None:
            if cur is ancestor:
                return True
            cur = cur.parent_op
        return False

    @property
    def parent_op(self) -> Operation | None:
        if self.parent is None or self.parent.parent is None:
            return None
        return self.parent.parent.parent

    def clone(self, mapping: dict[Value, Value] | None = None) -> Operation:
        """Deep copy; operands are looked up in `mapping` (which receives the new results)."""
        mapping = {} if mapping is None else mapping
        new = type(self).__new__(type(self))
        Operation.__init__(new, [mapping.get(v, v) for v in self.operands],
                           [r.type for r in self.results], dict(self.attributes), None, self.loc)
        for r in self.regions:
            new.add_region(r.clone(mapping))
        for old, res in zip(self.results, new.results):
            res.name_hint = old.name_hint
            mapping[old] = res
        return new

    # ---- verification
    def error(self, message: str) -> VerifyError:
        return VerifyError(self, message)

    def _check_arity(self) -> None:
        defs = self.operands_def
        fixed = sum(not n.endswith("*") for n in defs)
        variadic = any(n.endswith("*") for n in defs)
        n = len(self.operands)
        if (n < fixed) if variadic else (n != fixed):
            want = f"at least {fixed}" if variadic else str(fixed)
            raise self.error(f"expects {want} operand{'s' if fixed != 1 else ''}, got {n}")
        if len(self.regions) != self.num_regions:
            raise self.error(f"expects {self.num_regions} regions, got {len(self.regions)}")
        for k, d in self.attrs.items():
            v = self.attributes.get(k)
            if v is None:
                if d.required:
                    raise self.error(f"requires attribute '{k}'")
            elif d.kinds is not object and not isinstance(v, d.kinds) or (
                    isinstance(v, bool) and d.kinds in (int, float, (int, float))):
                kinds = d.kinds if isinstance(d.kinds, tuple) else (d.kinds,)
                names = " or ".join(_KIND_NAMES.get(t, t.__name__) for t in kinds)
                raise self.error(f"attribute '{k}' must be {names}, got {v!r}")

    def verify(self) -> None:
        """Structural checks, result types against inference, then the op's own rules."""
        self._check_arity()
        if self.num_results is not None and len(self.results) != self.num_results:
            raise self.error(f"expects {self.num_results} results, got {len(self.results)}")
        inferred = self.infer_types()
        if len(inferred) != len(self.results):
            raise self.error(f"expects {len(inferred)} results, got {len(self.results)}")
        for i, (r, t) in enumerate(zip(self.results, inferred)):
            if not compatible(r.type, t):
                which = "result type" if len(self.results) == 1 else f"result #{i} type"
                raise self.error(f"{which} {r.type} does not match the inferred type {t}")
        self.verify_()

    def infer_types(self) -> list[Type]:
        """Result types from operands and attributes. Ops with results override it."""
        if self.num_results == 0:
            return []
        if self.results:
            return [r.type for r in self.results]
        raise self.error("needs explicit result types")

    def verify_(self) -> None:
        """Extra checks of one op class (beyond arity and types)."""

    # ---- gradient (tensor ops): the rule the autodiff pass reads, declared with the op
    differentiable: ClassVar[bool] = True  # False: declared without a gradient (comparisons, integer ops)

    def vjp(self, b: Any, out_grads: list[Value]) -> list[Value | None]:
        """Build (with Builder `b`) the cotangent of each operand from those of the results (reverse
        mode); None where no gradient flows (integer operands, sizes, indices)."""
        raise NotSupportedError(f"'{self.name}' op has no gradient rule", self.loc)

    # ---- semantics
    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        raise NotImplementedError(f"'{self.name}' has no interpreter rule")

    def __repr__(self) -> str:
        from .printer import print_op
        return print_op(self).strip()

    __str__ = __repr__


_KIND_NAMES = {int: "an integer", float: "a float", bool: "a boolean", str: "a string",
               tuple: "an array", dict: "a dictionary", Type: "a type"}


# ---------------------------------------------------------------- blocks and regions


class Block:
    def __init__(self, arg_types: Sequence[Type] = (), arg_names: Sequence[str | None] | None = None) -> None:
        names = list(arg_names) if arg_names is not None else [None] * len(arg_types)
        self.args: list[BlockArgument] = [BlockArgument(t, self, i, n)
                                          for i, (t, n) in enumerate(zip(arg_types, names))]
        self.ops: list[Operation] = []
        self.parent: Region | None = None

    def add_arg(self, type: Type, name: str | None = None) -> BlockArgument:
        arg = BlockArgument(type, self, len(self.args), name)
        self.args.append(arg)
        return arg

    def append(self, op: Operation) -> Operation:
        return self.insert(len(self.ops), op)

    def insert(self, index: int, op: Operation) -> Operation:
        if op.parent is not None:
            raise ValueError(f"'{op.name}' is already in a block")
        op.parent = self
        self.ops.insert(index, op)
        return op

    def remove(self, op: Operation) -> None:
        for i, o in enumerate(self.ops):
            if o is op:
                del self.ops[i]
                op.parent = None
                return
        raise ValueError(f"'{op.name}' is not in this block")

    def index(self, op: Operation) -> int:
        for i, o in enumerate(self.ops):
            if o is op:
                return i
        raise ValueError(f"'{op.name}' is not in this block")

    @property
    def terminator(self) -> Operation | None:
        return self.ops[-1] if self.ops and self.ops[-1].has_trait(TERMINATOR) else None

    @property
    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent is not None else None


class Region:
    def __init__(self, blocks: Sequence[Block] = ()) -> None:
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block

    @property
    def block(self) -> Block:
        """The entry block (most regions have exactly one)."""
        return self.blocks[0]

    def clone(self, mapping: dict[Value, Value]) -> Region:
        new = Region()
        for b in self.blocks:
            nb = Block([a.type for a in b.args], [a.name_hint for a in b.args])
            for old, arg in zip(b.args, nb.args):
                mapping[old] = arg
            new.add_block(nb)
        for b, nb in zip(self.blocks, new.blocks):
            for op in b.ops:
                nb.append(op.clone(mapping))
        return new
