"""Pattern rewriting: the rewriter, pattern classes, declarative rules and the greedy driver.

One rewrite API (DESIGN.md section 8), two spellings:

* structural rewrites are `RewritePattern` subclasses whose `match_and_rewrite(op, rewriter)`
  mutates the IR only through the `PatternRewriter` (so use lists and the driver's worklist
  stay right) and returns whether it changed anything;
* algebraic identities are `Rule` rows of a tiny pattern language:

      X = Var("x")
      Rule("tensor.add", (X, ZERO), X)                # x+0 -> x
      Rule("tensor.neg", (Op("tensor.neg", X),), X)   # --x -> x

  An operand sub-pattern is a binder (`Var`: binds any value; the same binder twice means
  the same value), a constant predicate (`ZERO`, `ONE`, `Splat(v)`: a `tensor.constant`
  whose elements all equal v) or a nested `Op(name, *operands)`. The replacement is a bound
  value or a `Replacement` that builds new ops (passes/canonicalize.py's `Build`).

A rule rewrites only when the result keeps its type *and* its run-time shape exactly: `x + 0`
with x: tensor<3xf32> and 0: tensor<f32> becomes x, but not when the zero broadcasts x to a
bigger shape (`x + zeros(4, 3)`) or promotes its dtype (`i32 + 0.0 : f64`).

`apply_patterns_greedily` is MLIR's greedy driver: a worklist of every op; each popped op is
erased when it is trivially dead, folded (op `fold` hooks and constant folding through the
op's interpreter rule), or handed to the patterns rooted at its class; whatever a rewrite
touches goes back on the worklist, until nothing changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .attributes import Dense, Typed
from .builder import Builder
from .core import CONSTANT_LIKE, ELEMENTWISE, OP_REGISTRY, PURE, TERMINATOR, Operation, TirError, Value
from .types import ScalarType, TensorType, Type, scalar

CONSTANT_OP = "tensor.constant"
SCALAR_CONSTANT_OP = "scalar.constant"

# ---------------------------------------------------------------- the rewriter


class RewriteListener:
    """Told about every change a rewriter makes (the greedy driver keeps its worklist with it)."""

    def notify_op_inserted(self, op: Operation) -> None:
        pass

    def notify_op_replaced(self, op: Operation, new_values: Sequence[Value]) -> None:
        pass

    def notify_op_erased(self, op: Operation) -> None:
        pass

    def notify_op_modified(self, op: Operation) -> None:
        pass


class PatternRewriter:
    """The only way patterns mutate IR: every change is reported to the listener."""

    def __init__(self, listener: RewriteListener | None = None) -> None:
        self.listener = listener or RewriteListener()
        self.changed = False

    # ---- creation
    def insert_before(self, op: Operation, new_op: Operation) -> Operation:
        """Insert `new_op` (not yet in a block) right before `op`; it inherits op's location if it has none."""
        if op.parent is None:
            raise ValueError(f"cannot insert before '{op.name}': it is not in a block")
        if new_op.loc is None or str(new_op.loc) == "<unknown>:0":
            new_op.loc = op.loc
        op.parent.insert(op.parent.index(op), new_op)
        self.changed = True
        self.listener.notify_op_inserted(new_op)
        return new_op

    def create_before(self, op: Operation, cls: type[Operation], *operands: Value, **attrs: Any) -> Operation:
        """Build `cls(*operands, **attrs)` (types inferred unless `result_types=` given) before `op`, at op's loc."""
        attrs.setdefault("loc", op.loc)
        return self.insert_before(op, cls.build(*operands, **attrs))

    # ---- replacement
    def replace_op(self, op: Operation, new_values: Value | Sequence[Value]) -> None:
        """Redirect every use of op's results to `new_values`, then erase op."""
        values = [new_values] if isinstance(new_values, Value) else list(new_values)
        if len(values) != len(op.results):
            raise ValueError(f"'{op.name}' replaced with {len(values)} values for {len(op.results)} results")
        self.listener.notify_op_replaced(op, values)
        for old, new in zip(op.results, values):
            old.replace_all_uses_with(new)
        self.erase_op(op)

    def replace_op_with_new(self, op: Operation, cls: type[Operation], *operands: Value, **attrs: Any) -> Operation:
        """Build `cls` before op (at op's location) and replace op by its results."""
        new = self.create_before(op, cls, *operands, **attrs)
        self.replace_op(op, new.results)
        return new

    def replace_all_uses_with(self, old: Value, new: Value) -> None:
        for user in old.users:
            self.listener.notify_op_modified(user)
        old.replace_all_uses_with(new)
        self.changed = True

    def erase_op(self, op: Operation) -> None:
        """Erase op and everything nested in it; its results must be unused."""
        for nested in op.walk(post_order=True):
            if nested is not op:
                self.listener.notify_op_erased(nested)
        self.listener.notify_op_erased(op)
        op.erase()
        self.changed = True

    def modify_op_in_place(self, op: Operation, fn: Callable[[], None]) -> None:
        """Run `fn` (which changes op's operands or attributes) and tell the listener."""
        fn()
        self.changed = True
        self.listener.notify_op_modified(op)


class DetachedBuilder(Builder):
    """A Builder that keeps the ops it creates out of any block (in `ops`), so that a rewrite can build its
    replacement, check it, then `commit` it before the matched op through the rewriter or `discard` it."""

    def __init__(self, loc: Any = None) -> None:
        super().__init__(None, None, loc)
        self.ops: list[Operation] = []

    def insert(self, op: Operation) -> Operation:
        if op.loc is None or str(op.loc) == "<unknown>:0":
            op.loc = self.loc or op.loc
        self.ops.append(op)
        return op

    def commit(self, before: Operation, rewriter: PatternRewriter) -> None:
        for op in self.ops:
            rewriter.insert_before(before, op)
        self.ops = []

    def discard(self) -> None:
        for op in reversed(self.ops):
            op.erase()
        self.ops = []


def build_replacement(op: Operation, make: Callable[[Builder], Value | None],
                      rewriter: PatternRewriter) -> Value | None:
    """The value `make(b)` builds with a DetachedBuilder, inserted before op only where it has the type of
    op's single result (else, or where building fails, nothing is left in the IR and the result is None)."""
    b = DetachedBuilder(op.loc)
    try:
        value = make(b)
    except TirError:
        value = None
    if value is None or value.type != op.result.type:
        b.discard()
        return None
    b.commit(op, rewriter)
    return value


def replace_with_built(op: Operation, make: Callable[[Builder], Value | None], rewriter: PatternRewriter) -> bool:
    """Replace op by the value `make(b)` builds (see `build_replacement`); whether it did."""
    value = build_replacement(op, make, rewriter)
    if value is None:
        return False
    rewriter.replace_op(op, [value])
    return True


class RewritePattern:
    """A structural rewrite rooted at one op. `root` restricts the op classes it is tried on."""

    root: ClassVar[type[Operation] | tuple[type[Operation], ...] | None] = None
    benefit: ClassVar[int] = 1

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        raise NotImplementedError

    def root_names(self) -> tuple[str, ...] | None:
        """Op names this pattern can match (None: any op)."""
        if self.root is None:
            return None
        roots = self.root if isinstance(self.root, tuple) else (self.root,)
        return tuple(r.name for r in roots)


# ---------------------------------------------------------------- helpers on constants and shapes


def constant_array(v: Value) -> np.ndarray | None:
    """The array of a value produced by `tensor.constant`, or None."""
    owner = getattr(v, "op", None)
    if owner is None or owner.name != CONSTANT_OP:
        return None
    try:
        return np.asarray(owner.array)
    except TirError:
        return None


def typed_scalar(array: Any, elem: ScalarType | None = None) -> Typed:
    """A 0-d array as the Typed attribute of a constant (of type `elem`, default the array's dtype)."""
    arr = np.asarray(array)
    elem = elem or scalar(arr.dtype)
    # The shortest decimal that reads back as the same f16/f32 value, not the f64 expansion.
    item = float(str(arr[()])) if arr.dtype.kind == "f" else arr.item()
    return Typed(item, elem)


def make_constant(array: np.ndarray, loc: Any = None) -> Operation:
    """A `tensor.constant` op holding `array` (a typed scalar for 0-d arrays, dense otherwise)."""
    arr = np.asarray(array)
    value = typed_scalar(arr) if arr.ndim == 0 else Dense(arr)
    return OP_REGISTRY[CONSTANT_OP].build(value=value, loc=loc)


def folded_operand(v: Value) -> np.ndarray | None:
    """What constant folding reads of an operand: the array of a `tensor.constant`, the 0-d array of a
    `scalar.constant`, or None."""
    owner = getattr(v, "op", None)
    if owner is not None and owner.name == SCALAR_CONSTANT_OP:
        return np.asarray(owner.interpret(None, [])[0])
    return constant_array(v)


def _is_static_shape(t: Type) -> bool:
    return isinstance(t, TensorType) and t.is_static


def _foldable_type(t: Type) -> bool:
    """A result constant folding can materialize: a static tensor or a scalar."""
    return isinstance(t, ScalarType) or _is_static_shape(t)


def _shape(t: Type) -> tuple[int, ...]:
    return t.shape if isinstance(t, TensorType) else ()  # type: ignore[return-value]


def broadcasts_into(v: Value, target: Value, depth: int = 4) -> bool:
    """Whether v's run-time shape certainly broadcasts into target's (so target's shape survives
    an elementwise op of both). Dynamic dims are only trusted where the values are related."""
    if v is target:
        return True
    vt, tt = v.type, target.type
    if not isinstance(vt, TensorType) or not isinstance(tt, TensorType):
        return False
    if vt.rank <= tt.rank and all(_dim_fits(d, t) for d, t in zip(vt.shape, tt.shape[tt.rank - vt.rank:])):
        return True
    # An elementwise op of values that all fit into target fits into target.
    owner = getattr(v, "op", None)
    if depth > 0 and owner is not None and owner.has_trait(ELEMENTWISE) and owner.operands:
        return all(broadcasts_into(o, target, depth - 1) for o in owner.operands)
    return False


def _dim_fits(d: int | None, t: int | None) -> bool:
    if d == 1:
        return True
    if d is None:
        # An unknown dim fits a known non-1 dim (it must be 1 or equal, or the program fails anyway).
        return t is not None and t != 1
    return d == t


def can_replace(op: Operation, new: Value) -> bool:
    """Whether op's single result may be replaced by `new`: identical type and, for elementwise
    ops, every operand broadcasts into `new`, so the run-time shape is the same too."""
    if len(op.results) != 1 or new.type != op.result.type:
        return False
    if op.has_trait(ELEMENTWISE):
        return all(broadcasts_into(o, new) for o in op.operands)
    return True


# ---------------------------------------------------------------- declarative rules


class Pattern:
    """An operand sub-pattern of a rule."""

    def match(self, v: Value, env: dict[str, Value]) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Var(Pattern):
    """Binds any value; the same Var twice in one rule must bind the same value."""

    name: str

    def match(self, v: Value, env: dict[str, Value]) -> bool:
        bound = env.get(self.name)
        if bound is None:
            env[self.name] = v
            return True
        return bound is v


@dataclass(frozen=True)
class Splat(Pattern):
    """A `tensor.constant` whose elements all equal `value` (0 matches -0.0; NaN never matches)."""

    value: float

    def match(self, v: Value, env: dict[str, Value]) -> bool:
        arr = constant_array(v)
        if arr is None or arr.size == 0:
            return False
        with np.errstate(all="ignore"):
            return bool(np.all(arr == self.value))


@dataclass(frozen=True)
class Op(Pattern):
    """A value produced by op `name` whose operands match `operands`."""

    name: str
    operands: tuple[Pattern, ...]

    def __init__(self, name: str, *operands: Pattern) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "operands", tuple(operands))

    def match(self, v: Value, env: dict[str, Value]) -> bool:
        owner = getattr(v, "op", None)
        if owner is None or owner.name != self.name or len(owner.operands) != len(self.operands):
            return False
        return all(p.match(o, env) for p, o in zip(self.operands, owner.operands))


ZERO = Splat(0)
ONE = Splat(1)


class Replacement:
    """Builds the value that replaces a matched op (None: do not rewrite after all)."""

    def build(self, op: Operation, env: dict[str, Value], rewriter: PatternRewriter) -> Value | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Rule:
    """One algebraic identity: op `root` with operands matching `operands` becomes `result`."""

    root: str
    operands: tuple[Pattern, ...]
    result: Var | Replacement
    where: Callable[[dict[str, Value]], bool] | None = field(default=None, compare=False)

    def apply(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.name != self.root or len(op.operands) != len(self.operands) or len(op.results) != 1:
            return False
        env: dict[str, Value] = {}
        if not all(p.match(v, env) for p, v in zip(self.operands, op.operands)):
            return False
        if self.where is not None and not self.where(env):
            return False
        if isinstance(self.result, Var):
            new = env[self.result.name]
            if not can_replace(op, new):
                return False
            rewriter.replace_op(op, [new])
            return True
        value = self.result.build(op, env, rewriter)
        if value is None:
            return False
        rewriter.replace_op(op, [value])
        return True


class RuleSet(RewritePattern):
    """A RewritePattern that tries a table of Rules, indexed by root op name."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.by_root: dict[str, list[Rule]] = {}
        for r in rules:
            self.by_root.setdefault(r.root, []).append(r)

    def root_names(self) -> tuple[str, ...] | None:
        return tuple(self.by_root)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        return any(rule.apply(op, rewriter) for rule in self.by_root.get(op.name, ()))


# ---------------------------------------------------------------- folding


@dataclass
class FoldOptions:
    """What the greedy driver folds: op `fold` hooks and constant operands (up to `max_elements`)."""

    hooks: bool = True
    constants: bool = True
    max_elements: int = 1_000_000


def _materialize(op: Operation, index: int, value: Any, rewriter: PatternRewriter) -> Value | None:
    """A fold result as a value of exactly op.results[index]'s type (None if it cannot be)."""
    want = op.results[index].type
    if isinstance(value, Value):
        return value if value.type == want else None
    if not _foldable_type(want):
        return None
    arr = np.asarray(value)
    if arr.shape != _shape(want):
        return None
    if isinstance(want, ScalarType):
        new = OP_REGISTRY[SCALAR_CONSTANT_OP].build(value=typed_scalar(arr.astype(want.dtype), want), loc=op.loc)
    else:
        new = make_constant(arr.astype(want.dtype), op.loc)
    result = rewriter.insert_before(op, new).result
    result.name_hint = op.results[index].name_hint  # the folded value keeps its name in printed IR
    return result


def _replace_with_fold(op: Operation, values: Sequence[Any], rewriter: PatternRewriter) -> bool:
    if len(values) != len(op.results):
        return False
    # Check everything before creating anything, so a failed fold leaves no stray constants.
    for v, r in zip(values, op.results):
        if isinstance(v, Value):
            if v.type != r.type:
                return False
        elif not _foldable_type(r.type) or np.shape(v) != _shape(r.type):
            return False
    new = [_materialize(op, i, v, rewriter) for i, v in enumerate(values)]
    rewriter.replace_op(op, [v for v in new if v is not None])
    return True


def fold_op(op: Operation, rewriter: PatternRewriter, options: FoldOptions | None = None) -> bool:
    """Fold op: first its own `fold(operands)` hook (operands: constant arrays or None; returns
    values or arrays, or None), then, for a pure op whose operands are all constants, its
    interpreter rule, at every level: `tensor.constant` operands give a `tensor.constant`, `scalar.constant`
    operands a `scalar.constant`. The folded constants carry op's location."""
    options = options or FoldOptions()
    if op.has_trait(CONSTANT_LIKE) or op.regions or not op.results:
        return False
    consts = [folded_operand(v) for v in op.operands]
    hook = getattr(op, "fold", None)
    if options.hooks and hook is not None:
        try:
            folded = hook(consts)
        except (TirError, ArithmeticError, ValueError, TypeError):
            folded = None
        if folded is not None and _replace_with_fold(op, list(folded), rewriter):
            return True
    if not options.constants or not op.has_trait(PURE) or any(c is None for c in consts):
        return False
    if not all(_foldable_type(r.type) for r in op.results):
        return False
    if sum(int(np.prod(_shape(r.type))) for r in op.results) > options.max_elements:
        return False
    try:
        with np.errstate(all="ignore"):
            outs = op.interpret(None, [c for c in consts if c is not None])
    except Exception:  # noqa: BLE001 - a rule that cannot run on these constants simply does not fold
        return False
    return _replace_with_fold(op, [np.asarray(o) for o in outs], rewriter)


# ---------------------------------------------------------------- the greedy driver


def is_trivially_dead(op: Operation) -> bool:
    """A pure op none of whose results is used (terminators and ops in no block never are)."""
    return (op.parent is not None and op.has_trait(PURE) and not op.has_trait(TERMINATOR)
            and all(not r.uses for r in op.results))


class _Worklist(RewriteListener):
    def __init__(self) -> None:
        self.queue: deque[Operation] = deque()
        self.members: set[int] = set()
        self.erased: set[int] = set()

    def push(self, op: Operation) -> None:
        if id(op) not in self.members and op.parent is not None:
            self.members.add(id(op))
            self.queue.append(op)

    def pop(self) -> Operation | None:
        while self.queue:
            op = self.queue.popleft()
            self.members.discard(id(op))
            if id(op) not in self.erased and op.parent is not None:
                return op
        return None

    def push_producers(self, op: Operation) -> None:
        for v in op.operands:
            owner = getattr(v, "op", None)
            if owner is not None:
                self.push(owner)

    # ---- listener
    def notify_op_inserted(self, op: Operation) -> None:
        self.erased.discard(id(op))
        for nested in op.walk():
            self.push(nested)

    def notify_op_replaced(self, op: Operation, new_values: Sequence[Value]) -> None:
        for r in op.results:
            for user in r.users:
                self.push(user)
        for v in new_values:
            owner = getattr(v, "op", None)
            if owner is not None:
                self.push(owner)

    def notify_op_erased(self, op: Operation) -> None:
        # Producers of its operands may have just lost their last use.
        self.push_producers(op)
        self.erased.add(id(op))
        self.members.discard(id(op))

    def notify_op_modified(self, op: Operation) -> None:
        self.push(op)
        self.push_producers(op)


def apply_patterns_greedily(root_op: Operation, patterns: Sequence[RewritePattern], *,
                            max_iterations: int = 10, fold: FoldOptions | bool = True,
                            erase_dead: bool = True, max_rewrites: int | None = None) -> bool:
    """Rewrite everything nested in root_op with `patterns` (plus folding and dead-op erasure)
    until nothing changes or `max_iterations` full sweeps ran. Returns whether anything changed.
    `max_rewrites` bounds the ops one sweep processes (default: 50 per op, at least 10000), so
    patterns that undo each other cannot loop forever."""
    fold_options = FoldOptions() if fold is True else (fold or None)
    any_root: list[RewritePattern] = []
    by_name: dict[str, list[RewritePattern]] = {}
    for p in sorted(patterns, key=lambda p: -p.benefit):
        names = p.root_names()
        if names is None:
            any_root.append(p)
        else:
            for n in names:
                by_name.setdefault(n, []).append(p)

    changed_any = False
    for _ in range(max(1, max_iterations)):
        worklist = _Worklist()
        rewriter = PatternRewriter(worklist)
        for op in root_op.walk():
            if op is not root_op:
                worklist.push(op)
        budget = max_rewrites if max_rewrites is not None else max(10_000, 50 * len(worklist.queue))
        while budget > 0 and (op := worklist.pop()) is not None:
            budget -= 1
            if erase_dead and is_trivially_dead(op):
                rewriter.erase_op(op)
                continue
            if fold_options is not None and fold_op(op, rewriter, fold_options):
                continue
            for p in by_name.get(op.name, []) + any_root:
                if p.match_and_rewrite(op, rewriter):
                    break
        if not rewriter.changed:
            break
        changed_any = True
    return changed_any


__all__ = [
    "ONE", "ZERO", "DetachedBuilder", "FoldOptions", "Op", "Pattern", "PatternRewriter", "Replacement",
    "RewriteListener", "RewritePattern", "Rule", "RuleSet", "Splat", "Var", "apply_patterns_greedily",
    "broadcasts_into", "build_replacement", "can_replace", "constant_array", "fold_op", "folded_operand",
    "is_trivially_dead", "make_constant", "replace_with_built", "typed_scalar",
]
