"""`tensorir.dask`: compiled functions over `dask.array` inputs (issue 13; extra `[dask]`).

    import dask.array as da
    y = tensorir.dask.map_blocks(f, da.from_array(x, chunks=(1000, 500)))   # lazy
    y.compute()

`map_blocks(f, *arrays)` calls `f` on blocks of its inputs, one dask task per block. Which blocks go
together, and the chunks and dtype of the result, are read from the function's IR as built (the
`tensor` stage): each axis of each value is traced back to the input axes it comes from (`_trace`). An
elementwise op joins the axes its operands broadcast together; a transpose or dimshuffle permutes them;
`tensor.dot` keeps its operands' free axes (`dims_from_operands`). An op that combines values along an axis (a
reduction, the softmax family, a cumulative op, the contracted axis of a product, any op not listed
here) needs that axis whole, as do a shared variable's axes and a constant's: a whole axis split into
several chunks is refused with an error that names the op and the fix (rechunk it to one chunk).
Row-wise functions (a softmax over axis 1, `dot(x, W)` with a shared `W`) therefore run on row chunks.

A function whose result is a sum/max/min/prod (`tensor.sum`, ...) may reduce over split axes: each block
gives its partial reduction (the function itself, on the block), and dask's tree reduction combines the
partials with a compiled function of the same reduction op (`_Combine`).

Data-parallel training (`data_parallel_sgd`, examples/dask_train.py): each worker of a `distributed` cluster
computes the gradients of its shard of each minibatch with one compiled function; a task sums them and steps.
`local_cluster` starts workers on one machine whose compiled code shares its cores (flag `threads`).

dask is imported only when a function here runs, so `import tensorir` never needs it. A graph of `map_blocks`
holds `f` once (`_Shipped`): pickled once when the graph is built (frontend/function.py: its IR and shared
values, not its code), under a key named by the token of those bytes, which every block task references (no
task carries the function). A process unpickles a token's bytes once and keeps the function
(frontend/dask_worker.py `function`): the workers of a `distributed` cluster load its compiled code from their
cache once, whatever the number of tasks and of graphs; the scheduler passes the bytes on unread.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dialects.func import FuncOp, ReturnOp
from ..dialects.tensor import (
    ConstantOp,
    ElementwiseOp,
    LogsumexpOp,
    MaxOp,
    MinOp,
    ProdOp,
    ReductionOp,
    SumOp,
    _AxisOp,
)
from ..dialects.tensor_shape import DimshuffleOp, TransposeOp
from ..ir.core import Operation, OpResult, TirError, TirTypeError, Value
from ..ir.types import TensorType
from . import dask_worker
from .function import Function
from .parser import parse

TREE_REDUCTIONS: dict[type[ReductionOp], str] = {SumOp: "sum", MaxOp: "max", MinOp: "min", ProdOp: "prod"}


def _dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError:
        raise TirError("tensorir.dask needs dask: `pip install 'tensorir[dask]'` (dask[array], distributed)") from None
    return da


def _dask() -> Any:
    _dask_array()
    import dask

    return dask


# ---------------------------------------------------------------- tracing axes through the IR

Label = int | None  # an axis group (below), or None: a dim of static size 1 that broadcasts


@dataclass
class _Group:
    """Axes that must be split alike: the input axes (input, dim) among them, why the group must stay
    whole (an op that combines values along it, a shared variable, a constant) and its size when it
    comes from no input (a shared variable's or a constant's dim)."""

    inputs: list[tuple[int, int]] = field(default_factory=list)
    whole: list[str] = field(default_factory=list)
    size: int | None = None


class _Axes:
    """A union-find of axis groups."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.groups: list[_Group] = []

    def new(self, group: _Group) -> int:
        self.parent.append(len(self.parent))
        self.groups.append(group)
        return len(self.parent) - 1

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def group(self, a: int) -> _Group:
        return self.groups[self.find(a)]

    def union(self, labels: list[Label]) -> Label:
        roots = sorted({self.find(a) for a in labels if a is not None})
        if not roots:
            return None
        keep = self.groups[roots[0]]
        for r in roots[1:]:
            self.parent[r] = roots[0]
            other = self.groups[r]
            keep.inputs += other.inputs
            keep.whole += other.whole
            keep.size = keep.size if keep.size is not None else other.size
        return roots[0]

    def need_whole(self, labels: list[Label], why: str) -> None:
        for a in labels:
            if a is not None:
                self.group(a).whole.append(why)


def _what(op: Operation) -> str:
    return f"{op.name} at {op.loc}"


def _rank(v: Value) -> int:
    return v.type.rank if isinstance(v.type, TensorType) else 0


def _fixed(axes: _Axes, t: TensorType, why: str, sizes: tuple[int, ...] | None = None) -> tuple[Label, ...]:
    """Labels of a value that no input axis gives (a shared variable, a constant): whole axes."""
    dims = sizes if sizes is not None else t.shape
    return tuple(None if d == 1 else axes.new(_Group(whole=[why], size=d)) for d in dims)


@dataclass
class _Trace:
    axes: _Axes
    inputs: list[tuple[Label, ...]]
    result: tuple[Label, ...]
    reduction: ReductionOp | None  # the final tree-reducible reduction, whose axes may be split
    operand: tuple[Label, ...] = ()  # its operand's labels


def _trace(f: Function) -> _Trace:
    shared = tuple((var.name, var.get_value(borrow=True).shape) for var in f._shared)
    return _trace_ir(f._ir_text, len(f.inputs), shared)


@functools.lru_cache(maxsize=64)
def _trace_ir(ir: str, n: int, shared: tuple[tuple[str | None, tuple[int, ...]], ...]) -> _Trace:
    """The trace of a function's IR with `n` inputs and shared variables of these names and shapes: once per
    function and shapes (parsing the IR takes milliseconds; map_blocks reads the trace, never changes it)."""
    module = parse(ir)
    fn = module.functions[0]
    assert isinstance(fn, FuncOp)
    axes = _Axes()
    labels: dict[Value, tuple[Label, ...]] = {}
    for k, arg in enumerate(fn.args[:n]):
        labels[arg] = tuple(None if d == 1 else axes.new(_Group(inputs=[(k, i)])) for i, d in enumerate(arg.type.shape))
    for (name, shape), arg in zip(shared, fn.args[n:]):
        labels[arg] = _fixed(axes, arg.type, f"shared variable '{name}'", shape)
    ret = fn.body.ops[-1]
    assert isinstance(ret, ReturnOp)
    last = ret.operands[0].op if len(ret.operands) == 1 and isinstance(ret.operands[0], OpResult) else None
    final = last if type(last) in TREE_REDUCTIONS else None
    for op in fn.body.ops[:-1]:
        ins = [labels.get(v, ()) for v in op.operands]
        if op is final:
            labels[op.results[0]] = ()
            continue
        for r, out in zip(op.results, _rule(op, ins, axes)):
            labels[r] = out
    result = labels[ret.operands[0]] if len(ret.operands) == 1 else ()
    if final is not None:
        return _Trace(axes, [labels[a] for a in fn.args[:n]], result, final, labels[final.operands[0]])
    return _Trace(axes, [labels[a] for a in fn.args[:n]], result, None)


def _rule(op: Operation, ins: list[tuple[Label, ...]], axes: _Axes) -> list[tuple[Label, ...]]:
    """The labels of `op`'s results from its operands' (see the module's docstring)."""
    if isinstance(op, ElementwiseOp):
        rank = _rank(op.results[0])
        return [tuple(axes.union([x[len(x) - rank + k] for x in ins if len(x) - rank + k >= 0]) for k in range(rank))]
    if isinstance(op, ReductionOp):
        (x,) = ins
        reduced = op.reduced_axes()
        axes.need_whole([x[k] for k in reduced], _what(op))
        keep = op.attributes.get("keepdims", False)
        return [tuple(None if k in reduced else a for k, a in enumerate(x) if keep or k not in reduced)]
    if isinstance(op, _AxisOp):
        x = ins[0]
        a = op.the_axis()
        axes.need_whole([x[a]], _what(op))
        if isinstance(op, LogsumexpOp):
            return [x[:a] + ((None,) if op.attributes.get("keepdims", False) else ()) + x[a + 1:]]
        return [x]
    if isinstance(op, TransposeOp):
        return [tuple(ins[0][p] for p in op.perm())]
    if isinstance(op, DimshuffleOp):
        return [tuple(None if p == "x" else ins[0][p] for p in op.attributes["pattern"])]
    if isinstance(op, ConstantOp):
        return [_fixed(axes, op.results[0].type, "a constant")]
    if hasattr(op, "dims_from_operands"):  # tensor.dot: the free axes go on, the contracted ones combine
        dims = op.dims_from_operands()
        free = set(dims)
        contracted = [a for i, x in enumerate(ins) for k, a in enumerate(x) if (i, k) not in free]
        axes.need_whole(contracted, _what(op))
        axes.union(contracted)
        return [tuple(ins[i][k] for i, k in dims)]
    # Any other op may combine values along every axis of its operands; its results' axes come from no input.
    axes.need_whole([a for x in ins for a in x], _what(op))
    return [_fixed(axes, r.type, _what(op)) if isinstance(r.type, TensorType) else () for r in op.results]


# ---------------------------------------------------------------- block functions (picklable: they travel)


@dataclass(frozen=True, eq=False)
class _Shipped:
    """A function as a graph of `map_blocks` carries it: pickled once (its IR, signature and shared values, as
    they are when the graph is built) and the token of those bytes. The graph holds it once, under a key of its
    own that every block task references (dask ships it to each worker once per graph, not inside every task);
    a process unpickles the bytes of a token once (`dask_worker.function`), and nowhere else: the scheduler only
    passes the bytes on."""

    token: str
    data: bytes

    def function(self) -> Function:
        return dask_worker.function(self.token, self.data)

    def __sizeof__(self) -> int:  # what dask's memory accounting and task placement see: the bytes
        return len(self.data) + len(self.token) + 64

    def __dask_tokenize__(self) -> str:
        return self.token


def _ship(f: Function) -> _Shipped:
    data = pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL)
    return _Shipped(hashlib.sha1(data).hexdigest(), data)


def _apply(shipped: _Shipped, *blocks: np.ndarray) -> np.ndarray:
    """One block task: the shipped function on its blocks (a dict look-up, then the compiled entry)."""
    return (dask_worker.functions.get(shipped.token) or shipped.function())(*blocks)


def _apply_expand(expand: tuple[int, ...], shipped: _Shipped, *blocks: np.ndarray) -> np.ndarray:
    """A block task of a final reduction: `expand`, the axes the function drops, are kept as size 1."""
    return np.expand_dims(_apply(shipped, *blocks), expand)


@functools.cache
def _reducer(kind: str, dtype: str, rank: int, axes: tuple[int, ...], keepdims: bool) -> Function:
    from . import tensor_api as T

    x = T.tensor(dtype, shape=(None,) * rank, name="partials")
    return Function([x], getattr(T, kind)(x, axis=axes, keepdims=keepdims), name=f"combine_{kind}")


@dataclass(frozen=True)
class _Combine:
    """The combine and aggregate steps of a tree reduction: the reduction op itself, compiled (once per
    process, from the cache after the first), over the partial results."""

    kind: str
    dtype: str

    def __call__(self, x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        f = _reducer(self.kind, self.dtype, x.ndim, tuple(sorted(axis)), bool(keepdims))
        return np.asarray(f(x), dtype=self.dtype)


def _keep(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return x


# ---------------------------------------------------------------- map_blocks


def map_blocks(f: Function, *arrays: Any) -> Any:
    """`f` applied block-wise to dask arrays (numpy arrays and numbers are wrapped): a lazy `dask.array`
    whose chunks follow the inputs' (see the module's docstring). Refused: a function with updates or
    several results, inputs of the wrong count or dtype, and a split axis the function needs whole."""
    da = _dask_array()
    if not isinstance(f, Function):
        raise TirTypeError(f"tensorir.dask.map_blocks takes a tensorir.function, got {type(f).__name__}")
    if f._updates:
        raise TirError(f"@{f.name} updates shared variables; map_blocks runs it once per block, so it takes "
                       "functions without updates")
    if len(f.outputs) != 1:
        raise TirError(f"@{f.name} has {len(f.outputs)} results; map_blocks takes functions of one result")
    if len(arrays) != len(f.inputs):
        raise TirTypeError(f"@{f.name} takes {len(f.inputs)} inputs, map_blocks got {len(arrays)} arrays")
    xs = [da.asarray(a) for a in arrays]
    for k, (x, v) in enumerate(zip(xs, f.inputs)):
        if x.ndim != v.type.rank or not np.can_cast(x.dtype, v.type.dtype, "safe"):
            raise TirTypeError(f"input #{k} of @{f.name} expects a {v.type.rank}-d {v.type.dtype} array "
                               f"({v.type}), got a {x.ndim}-d {x.dtype} dask array")
    trace = _trace(f)
    axes = trace.axes
    for k, labels in enumerate(trace.inputs):
        for d, a in enumerate(labels):
            group = axes.group(a) if a is not None else None
            if group is not None and group.whole and len(xs[k].chunks[d]) > 1:
                name = f.inputs[k].name or f"#{k}"
                raise TirError(f"@{f.name} cannot run block-wise: {group.whole[0]} combines values along axis {d} "
                               f"of input '{name}', which is split into {len(xs[k].chunks[d])} chunks; rechunk that "
                               f"axis to one chunk (x.rechunk({{{d}: -1}})) or split another axis")
    letters = iter(string.ascii_letters)
    letter: dict[int, str] = {}
    new_axes: dict[str, int] = {}

    def index(labels: tuple[Label, ...], result: bool = False) -> str:
        out = ""
        for d, a in enumerate(labels):
            root = axes.find(a) if a is not None else None
            if root is None or (result and not axes.groups[root].inputs):
                out += (c := next(letters))  # a size-1 dim, or one the result has from no input
                if result:
                    size = 1 if root is None else axes.groups[root].size
                    if size is None:
                        raise TirError(f"@{f.name}: the size of axis {d} of its result is known only at run time")
                    new_axes[c] = size
            else:
                out += letter.setdefault(root, next(letters))
        return out

    args = [(x, index(labels)) for x, labels in zip(xs, trace.inputs)]
    dtype = f.outputs[0].type.dtype

    def meta(ndim: int) -> np.ndarray:  # so that dask does not call the block functions to learn the type
        return np.empty((0,) * ndim, dtype)

    # The function, pickled once: one value of the graph (its key names its bytes' token), which every block
    # task references; dask's key of the blocks derives from that key, not from pickling the function again.
    shipped = _ship(f)
    fn = _dask().delayed(shipped, name=f"tensorir-{f.name}-{shipped.token}", pure=True)

    def blockwise(out_ind: str, expand: tuple[int, ...], **kw: Any) -> Any:
        apply = functools.partial(_apply_expand, expand) if expand else _apply
        return da.blockwise(apply, out_ind, fn, None, *[a for pair in args for a in pair], token=f.name, dtype=dtype,
                            new_axes=new_axes, concatenate=True, meta=meta(len(out_ind)), **kw)

    if trace.reduction is None:
        return blockwise(index(trace.result, result=True), ())
    op = trace.reduction
    reduced = op.reduced_axes()
    keepdims = bool(op.attributes.get("keepdims", False))
    out_ind = index(trace.operand, result=True)
    adjust = {c: 1 for d, c in enumerate(out_ind) if d in reduced and c not in new_axes}
    new_axes.update({c: 1 for d, c in enumerate(out_ind) if d in reduced and c in new_axes})
    partials = blockwise(out_ind, () if keepdims else reduced, adjust_chunks=adjust)
    combine = _Combine(TREE_REDUCTIONS[type(op)], str(dtype))
    return da.reduction(partials, _keep, combine, axis=reduced, keepdims=keepdims, dtype=dtype, combine=combine,
                        concatenate=True, meta=meta(_rank(op.results[0])))


# ---------------------------------------------------------------- data-parallel training on a distributed cluster

Weights = list[np.ndarray]


def worker_threads(n_workers: int) -> int:
    """Threads of each worker's compiled code when `n_workers` share this machine: its cores shared out (N
    workers x threads <= cores), at least one."""
    return max(1, (os.cpu_count() or 1) // n_workers)


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A `distributed.LocalCluster` of `n_workers` processes of one task thread each, whose compiled code (the
    `threads` flag, through TENSORIR_FLAGS, read again once each worker starts: frontend/dask_worker.py) and
    BLAS use `worker_threads(n_workers)` cores; `kwargs` go to LocalCluster."""
    from distributed import LocalCluster

    k = str(worker_threads(n_workers))
    flags = ",".join(filter(None, [os.environ.get("TENSORIR_FLAGS", ""), f"threads={k}"]))
    env = {"TENSORIR_FLAGS": flags, "OMP_NUM_THREADS": k, "OPENBLAS_NUM_THREADS": k}
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=env,
                        preload=["tensorir.frontend.dask_worker"], **kwargs)


def _shard_gradients(gradients: Function, x: np.ndarray, y: np.ndarray, idx: np.ndarray, scale: float,
                     weights: Weights) -> Weights:
    return gradients(x[idx], y[idx], np.float32(scale), *weights)


def _sgd_step(lr: float, weights: Weights, *shard_grads: Weights) -> Weights:
    return [w - np.asarray(lr, w.dtype) * np.sum([g[k] for g in shard_grads], axis=0, dtype=w.dtype)
            for k, w in enumerate(weights)]


def data_parallel_sgd(client: Any, gradients: Function, x: np.ndarray, y: np.ndarray, weights: Weights,
                      steps: list[np.ndarray], lr: float) -> Weights:
    """SGD on the workers of `client` (a `distributed.Client`), data-parallel: `steps` holds each minibatch's
    example indices, split into one shard per worker; the worker computes `gradients(x[shard], y[shard],
    float32(1 / minibatch size), *weights)` (the gradients of its shard's summed cost, scaled: the shards'
    gradients add up to the minibatch's), one task sums them and steps `w - lr * g`, and the new weights reach
    every worker, through Dask, for the next step. The function, x and y go to each worker once (the function
    as its IR: workers load its compiled code from the cache); returns the final weights."""
    workers = sorted(client.scheduler_info()["workers"])
    gradients.wait()  # compiled here, once: the workers find it in the cache
    # hash=False: keys of this call's own (a content key's release by an earlier call could drop them under us)
    fn, xs, ys = (client.scatter(v, broadcast=True, hash=False) for v in (gradients, x, y))
    state = client.submit(list, client.scatter(weights, broadcast=True, hash=False))
    for idx in steps:
        grads = [client.submit(_shard_gradients, fn, xs, ys, shard, 1.0 / len(idx), state, workers=[w], pure=False)
                 for w, shard in zip(workers, np.array_split(idx, len(workers)))]
        state = client.submit(_sgd_step, lr, state, *grads, pure=False)
    return state.result()
