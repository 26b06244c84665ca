"""Gradients agree with PyTensor's on random expression trees (issue 8).

A seeded generator grows a random graph over 1-3 float64 inputs of small broadcasting shapes from a broad op
set. Each op is written once, as a function of a library namespace (`NP`, `TIR`, `PT` below), so the SAME graph
is built with numpy (which the generator uses to keep every op inside its domain, and off values merely near a
kink), with tensorir's Theano-style API and with pytensor.tensor. The cost is the sum of each unused result
projected on a fixed random tensor; tensorir's gradients with respect to every input, on the "interp" and "c"
targets, must equal `pytensor.grad`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.special
import tensorir
from tensorir import tensor as T

# Before pytensor is first imported: no C compiler and no numba (its default linkers) in this module's
# functions, nor in the graphs PyTensor compiles inside its own ops; the python linker is fast for small graphs.
os.environ.setdefault("PYTENSOR_FLAGS", "cxx=,mode=FAST_COMPILE")
pytensor = pytest.importorskip("pytensor")
pt = pytest.importorskip("pytensor.tensor")
pt_special = pytest.importorskip("pytensor.tensor.special")
PT_MODE = pytensor.compile.mode.Mode(linker="py", optimizer=None)

# The functions the ops below call, in each library; the rest is operators, methods and indexing, the same in all.
_SHARED = ["exp", "log", "tanh", "sigmoid", "softplus", "sin", "cos", "sqrt", "abs", "maximum", "minimum", "switch",
           "clip", "sum", "mean", "max", "prod", "dot", "concatenate", "softmax", "log_softmax", "logsumexp"]


def _np_dimshuffle(x: np.ndarray, pattern: tuple[int | str, ...]) -> np.ndarray:
    kept = [p for p in pattern if p != "x"]
    return np.transpose(x, kept).reshape([1 if p == "x" else x.shape[p] for p in pattern])


NP = SimpleNamespace(
    exp=np.exp, log=np.log, tanh=np.tanh, sigmoid=scipy.special.expit, softplus=lambda x: np.logaddexp(0.0, x),
    sin=np.sin, cos=np.cos, sqrt=np.sqrt, abs=np.abs, maximum=np.maximum, minimum=np.minimum, switch=np.where,
    clip=np.clip, sum=np.sum, mean=np.mean, max=np.max, prod=np.prod, dot=np.dot, concatenate=np.concatenate,
    softmax=scipy.special.softmax, log_softmax=scipy.special.log_softmax, logsumexp=scipy.special.logsumexp,
    dimshuffle=_np_dimshuffle)
TIR = SimpleNamespace(**{n: getattr(T, n) for n in _SHARED}, dimshuffle=lambda x, p: x.dimshuffle(*p))
PT = SimpleNamespace(**{n: getattr(pt, n) for n in _SHARED if n not in ("softmax", "log_softmax")},
                     softmax=pt_special.softmax, log_softmax=pt_special.log_softmax,
                     dimshuffle=lambda x, p: x.dimshuffle(*p))

INPUT_SHAPES = [(3, 4), (4,), (3, 1), (1, 4), (), (2, 3, 4), (4, 3)]
MAX_RANK = 3
# At a kink (a tie of max/maximum, abs at 0, a switch's or clip's boundary) tensorir follows PyTensor's (Theano's)
# conventions, and exact ties (the same value twice, x - x) are tested; values only near one are refused, as the
# libraries' roundings may put them on either side.
GAP = 1e-6
BOUND = 1e3  # results larger than this are refused (exp, pow and prod would otherwise overflow deep graphs)


@dataclass(eq=False)
class Node:
    """One value of the graph: `fn(lib, *operands)` builds it in library `lib`; `value` is numpy's."""

    text: str
    fn: Callable[..., Any] | None  # None: an input
    args: tuple[Node, ...]
    value: np.ndarray
    uses: int = 0


@dataclass
class Case:
    inputs: list[Node]
    nodes: list[Node]  # in order of creation, inputs first
    weights: dict[int, np.ndarray]  # node index -> the projection of an unused result onto the cost
    dynamic: list[tuple[int | None, ...]]  # the shapes of tensorir's input types (PyTensor's are static)

    def listing(self) -> str:
        names = {id(n): f"%{k}" for k, n in enumerate(self.nodes)}
        return "\n".join(f"%{k}{n.value.shape} = {n.text.format(*[names.get(id(a), a.text) for a in n.args])}"
                         for k, n in enumerate(self.nodes))


class Grower:
    """Adds random ops to a pool of nodes, each checked by its numpy value."""

    def __init__(self, rng: np.random.Generator, inputs: list[Node]) -> None:
        self.rng, self.pool = rng, list(inputs)

    def pick(self, ok: Callable[[Node], bool] = lambda n: True) -> Node | None:
        """A node of the pool that `ok` accepts, the newest one half the time (so graphs grow deep)."""
        fits = [n for n in self.pool if ok(n)]
        if not fits:
            return None
        return fits[-1] if self.rng.random() < 0.5 else fits[self.rng.integers(len(fits))]

    def pick_broadcasting(self, *shapes: tuple[int, ...]) -> Node | None:
        """A node (or, sometimes, a Python float) that broadcasts with `shapes` to a rank of at most MAX_RANK."""
        if self.rng.random() < 0.2:
            c = float(np.round(self.rng.uniform(-2, 2), 1))  # 0.0 too: exact zeros for abs, prod, switch
            return Node(repr(c), lambda L: c, (), np.float64(c))
        return self.pick(lambda n: _broadcast(n.value.shape, *shapes) is not None)

    def make(self, text: str, fn: Callable[..., Any], *args: Node) -> Node | None:
        value = np.asarray(fn(NP, *[a.value for a in args]), dtype=np.float64)
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > BOUND or value.ndim > MAX_RANK:
            return None
        return Node(text, fn, args, value)

    def axis(self, x: Node) -> int:
        return int(self.rng.integers(x.value.ndim))


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return None
    return shape if len(shape) <= MAX_RANK else None


def _clear(a: np.ndarray, b: np.ndarray | float) -> bool:
    """Whether a and b are, element by element, equal or at least GAP apart."""
    d = np.abs(np.asarray(a) - b)
    return bool(np.all((d == 0) | (d > GAP)))


def _positive(g: Grower, text: str, fn: Callable[..., Any], x: Node, *more: Node) -> Node | None:
    """fn(x, *more) where x > 0.1, else fn(1 + x * x, *more): log, sqrt and pow's base stay in their domains."""
    if np.min(x.value, initial=np.inf) > 0.1:
        return g.make(text, fn, x, *more)
    return g.make(text.replace("{0}", "(1 + {0}*{0})"), lambda L, a, *r: fn(L, 1.0 + a * a, *r), x, *more)


# ---------------------------------------------------------------- the ops: each returns a new node or None


def unary(g: Grower) -> Node | None:
    x = g.pick()
    assert x is not None
    name = ["neg", "exp", "log", "tanh", "sigmoid", "softplus", "sin", "cos", "sqrt", "abs"][g.rng.integers(10)]
    if name == "neg":
        return g.make("-{0}", lambda L, a: -a, x)
    if name == "exp" and np.max(x.value, initial=0) > 5:
        return None
    if name in ("log", "sqrt"):
        return _positive(g, f"{name}({{0}})", lambda L, a: getattr(L, name)(a), x)
    if name == "abs" and not _clear(x.value, 0.0):
        return None
    return g.make(f"{name}({{0}})", lambda L, a: getattr(L, name)(a), x)


def binary(g: Grower) -> Node | None:
    a = g.pick()
    assert a is not None
    b = g.pick_broadcasting(a.value.shape)
    if b is None:
        return None
    name = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"][g.rng.integers(7)]
    if name == "div" and np.min(np.abs(b.value), initial=np.inf) < 0.1:
        return None
    if name == "pow":
        return _positive(g, "{0} ** {1}", lambda L, x, y: x ** y, a, b)
    if name in ("maximum", "minimum"):
        if not _clear(a.value, b.value):
            return None
        return g.make(f"{name}({{0}}, {{1}})", lambda L, x, y: getattr(L, name)(x, y), a, b)
    symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[name]
    fn = {"add": lambda L, x, y: x + y, "sub": lambda L, x, y: x - y, "mul": lambda L, x, y: x * y,
          "div": lambda L, x, y: x / y}[name]
    return g.make(f"{{0}} {symbol} {{1}}", fn, a, b)


def switch(g: Grower) -> Node | None:
    """switch(a > b, c, d)."""
    a = g.pick()
    assert a is not None
    b = g.pick_broadcasting(a.value.shape)
    if b is None or not _clear(a.value, b.value):
        return None
    c = g.pick_broadcasting(a.value.shape, b.value.shape)
    d = None if c is None else g.pick_broadcasting(a.value.shape, b.value.shape, c.value.shape)
    if c is None or d is None:
        return None
    return g.make("switch({0} > {1}, {2}, {3})", lambda L, w, x, y, z: L.switch(w > x, y, z), a, b, c, d)


def clip(g: Grower) -> Node | None:
    """clip(x, lo, lo + width): the lower bound a node or a number."""
    x = g.pick()
    assert x is not None
    lo = g.pick_broadcasting(x.value.shape)
    width = float(np.round(g.rng.uniform(0.2, 1.5), 2))
    if lo is None or not (_clear(x.value, lo.value) and _clear(x.value, lo.value + width)):
        return None
    return g.make(f"clip({{0}}, {{1}}, {{1}} + {width})", lambda L, v, low: L.clip(v, low, low + width), x, lo)


def reduce(g: Grower) -> Node | None:
    """sum, mean, max, prod or logsumexp over all dims, one, or two of them; keepdims or not."""
    x = g.pick(lambda n: n.value.ndim > 0)
    if x is None:
        return None
    name = ["sum", "mean", "max", "prod", "logsumexp"][g.rng.integers(5)]
    rank, kind = x.value.ndim, g.rng.integers(4)
    axis: int | tuple[int, ...] | None = None if kind == 0 else g.axis(x) if kind < 3 or rank < 2 else tuple(
        sorted(int(a) for a in g.rng.choice(rank, size=2, replace=False)))
    keepdims = bool(g.rng.random() < 0.5)
    if name == "max":
        axes = range(rank) if axis is None else np.atleast_1d(axis)
        top2 = np.sort(np.moveaxis(x.value, axes, range(-len(axes), 0)).reshape(-1, np.prod(
            [x.value.shape[a] for a in axes], dtype=int)), axis=-1)[:, -2:]
        if top2.shape[-1] == 2 and not _clear(top2[:, 0], top2[:, 1]):
            return None
    return g.make(f"{name}({{0}}, axis={axis}, keepdims={keepdims})",
                  lambda L, v: getattr(L, name)(v, axis=axis, keepdims=keepdims), x)


def softmax(g: Grower) -> Node | None:
    x = g.pick(lambda n: n.value.ndim > 0)
    if x is None:
        return None
    name, axis = ["softmax", "log_softmax"][g.rng.integers(2)], g.axis(x)
    return g.make(f"{name}({{0}}, axis={axis})", lambda L, v: getattr(L, name)(v, axis=axis), x)


def dot(g: Grower) -> Node | None:
    a = g.pick(lambda n: n.value.ndim in (1, 2))
    if a is None:
        return None
    b = g.pick(lambda n: n.value.ndim in (1, 2) and n.value.shape[0] == a.value.shape[-1])
    return None if b is None else g.make("dot({0}, {1})", lambda L, x, y: L.dot(x, y), a, b)


def dimshuffle(g: Grower) -> Node | None:
    """A permutation of the dims with broadcastable dims ('x') inserted; `.T` when that is all it does."""
    x = g.pick()
    assert x is not None
    pattern: list[int | str] = [int(k) for k in g.rng.permutation(x.value.ndim)]
    for _ in range(g.rng.integers(MAX_RANK - x.value.ndim + 1)):
        pattern.insert(int(g.rng.integers(len(pattern) + 1)), "x")
    if x.value.ndim == 2 and pattern == [1, 0]:
        return g.make("{0}.T", lambda L, v: v.T, x)
    p = tuple(pattern)
    return g.make(f"dimshuffle({{0}}, {p})", lambda L, v: L.dimshuffle(v, p), x)


def reshape(g: Grower) -> Node | None:
    x = g.pick(lambda n: n.value.size > 1)
    if x is None:
        return None
    n = x.value.size
    shapes = [(n,), *[(d, n // d) for d in range(1, n + 1) if n % d == 0], *[
        (d, e, n // (d * e)) for d in range(1, n + 1) for e in range(1, n + 1) if n % (d * e) == 0]]
    shape = shapes[g.rng.integers(len(shapes))]
    return g.make(f"{{0}}.reshape({shape})", lambda L, v: v.reshape(shape), x)


def subtensor(g: Grower) -> Node | None:
    """x[key]: per dim an int (negative too), a slice with a step of 1, 2 or -1, or all of it; or x[int array]."""
    x = g.pick(lambda n: n.value.ndim > 0)
    if x is None:
        return None
    shape = x.value.shape
    if g.rng.random() < 0.2:
        indices = g.rng.integers(shape[0], size=int(g.rng.integers(1, 5)))
        return g.make(f"{{0}}[{indices.tolist()}]", lambda L, v: v[indices], x)
    key: list[int | slice] = []
    for n in shape:
        kind = g.rng.integers(3)
        if kind == 0:
            key.append(int(g.rng.integers(-n, n)))
        elif kind == 1:
            lo, hi = sorted(int(s) for s in g.rng.integers(0, n + 1, size=2))
            step = int(g.rng.choice([1, 2, -1]))
            key.append(slice(lo, hi, step) if step > 0 else slice(hi - 1, lo - 1 if lo else None, -1))
        else:
            key.append(slice(None))
    k = tuple(key)
    if x.value[k].size == 0:
        return None
    return g.make(f"{{0}}[{k}]", lambda L, v: v[k], x)


def concatenate(g: Grower) -> Node | None:
    a = g.pick(lambda n: n.value.ndim > 0)
    if a is None:
        return None
    axis = g.axis(a)

    def fits(n: Node) -> bool:
        s, t = n.value.shape, a.value.shape
        return len(s) == len(t) and all(i == j for k, (i, j) in enumerate(zip(s, t)) if k != axis)

    b = g.pick(fits)
    assert b is not None  # a itself fits
    return g.make(f"concatenate([{{0}}, {{1}}], axis={axis})", lambda L, x, y: L.concatenate([x, y], axis=axis), a, b)


OPS: list[Callable[[Grower], Node | None]] = [unary, binary, switch, clip, reduce, softmax, dot, dimshuffle, reshape,
                                              subtensor, concatenate]
OP_WEIGHTS = np.array([3, 3, 1, 1, 2, 1, 1, 1, 1, 1, 1], dtype=np.float64) / 16


def random_case(seed: int, max_ops: int) -> Case:
    rng = np.random.default_rng(seed)
    inputs = []
    for k in range(rng.integers(1, 4)):
        shape = INPUT_SHAPES[rng.integers(len(INPUT_SHAPES))]
        inputs.append(Node(f"input x{k}", None, (), rng.uniform(-1.5, 1.5, size=shape)))
    g = Grower(rng, inputs)
    n_ops = int(rng.integers(2, max_ops + 1))
    while len(g.pool) < len(inputs) + n_ops:
        node = OPS[rng.choice(len(OPS), p=OP_WEIGHTS)](g)
        if node is not None:
            for a in node.args:
                a.uses += 1
            g.pool.append(node)
    weights = {k: rng.standard_normal(n.value.shape) for k, n in enumerate(g.pool) if not n.uses and n.fn is not None}
    # tensorir's input types: every dim dynamic (broadcasting found at run time), only dims of 1 static (as
    # Theano's broadcastable pattern), or all static
    style = rng.integers(3)
    dynamic = [tuple(None if style == 0 or (style == 1 and d != 1) else d for d in x.value.shape) for x in inputs]
    return Case(inputs, g.pool, weights, dynamic)


def build(case: Case, lib: SimpleNamespace, variables: list[Any]) -> Any:
    """The case's cost in library `lib`, over its input variables."""
    built: dict[int, Any] = {id(x): v for x, v in zip(case.inputs, variables)}

    def of(n: Node) -> Any:  # numbers (operands that are not in the pool) are built at each use
        if id(n) not in built:
            assert n.fn is not None
            built[id(n)] = n.fn(lib, *[of(a) for a in n.args])
        return built[id(n)]

    terms = [lib.sum(of(case.nodes[k]) * w) for k, w in case.weights.items()]
    return sum(terms[1:], terms[0])


def pytensor_grads(case: Case) -> list[np.ndarray]:
    # static shapes: PyTensor refuses to broadcast a dim that is 1 only at run time
    xs = [pt.tensor(f"x{k}", dtype="float64", shape=x.value.shape) for k, x in enumerate(case.inputs)]
    cost = build(case, PT, xs)
    grads = pytensor.grad(cost, xs, disconnected_inputs="ignore")
    f = pytensor.function(xs, [cost, *grads], mode=PT_MODE, on_unused_input="ignore")
    return [np.asarray(r) for r in f(*[x.value for x in case.inputs])]


def tensorir_grads(case: Case, target: str) -> list[np.ndarray]:
    xs = [T.tensor("float64", shape=s, name=f"x{k}") for k, s in enumerate(case.dynamic)]
    cost = build(case, TIR, xs)
    grads = tensorir.grad(cost, xs, disconnected_inputs="ignore")
    f = tensorir.function(xs, [cost, *grads], target=target)
    return [np.asarray(r) for r in f(*[x.value for x in case.inputs])]


def check(seed: int, target: str, max_ops: int) -> None:
    case = random_case(seed, max_ops)
    expected = pytensor_grads(case)
    got = tensorir_grads(case, target)
    cost = build(case, NP, [x.value for x in case.inputs])
    where = f"seed {seed}, tensorir inputs {case.dynamic}:\n{case.listing()}"
    np.testing.assert_allclose(expected[0], cost, rtol=1e-12, err_msg=f"PyTensor's cost is not numpy's, {where}")
    for k, (e, r) in enumerate(zip(expected, got)):
        scale = np.max(np.abs(e), initial=1.0)
        np.testing.assert_allclose(r, e, rtol=1e-7, atol=1e-12 * scale,
                                   err_msg=f"{'cost' if k == 0 else f'gradient of x{k - 1}'} differs, {where}")


@pytest.mark.parametrize("seed", range(60))
def test_gradients_agree_with_pytensor_on_the_interpreter(seed: int) -> None:
    check(seed, "interp", max_ops=8)


@pytest.mark.parametrize("seed", range(1000, 1008))
def test_gradients_agree_with_pytensor_compiled(seed: int) -> None:
    check(seed, "c", max_ops=4)  # smaller graphs: compiling a gradient graph takes seconds
