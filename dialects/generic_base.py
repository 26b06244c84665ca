"""The generic op family's shared base: `tensor.generic` (values) and `mem.generic` (buffers).

A generic op is a loop nest over an iteration space, described by data:

    %r = tensor.generic %x, %b {maps = [[0, 1], [1], [0]], iterators = ["parallel", "reduction"],
                                inits = [0.0]} ({
    ^bb0(%xv: f32, %bv: f32, %acc: f32):
      %t = scalar.mul %xv, %bv : f32
      %s = scalar.add %acc, %t : f32
      scalar.yield %s : f32
    }) : tensor<?xf32>

- `iterators`: one entry per iteration dim, "parallel" or "reduction".
- `maps`: one per operand (inputs, then outputs/results): for each dim of the operand,
  the iteration dim it follows, or -1 for a dim of size 1 that is not iterated
  (keepdims results, static broadcasting). An input dim of size 1 whose iteration dim
  is larger broadcasts (numpy's rule, decided at run time as numpy does: stride 0).
- Output maps name every parallel dim exactly once (plus -1 entries) and no reduction dim.
- `inits`: per output, the accumulator's start value (needed when there are reduction
  dims: 0 for sum, 1 for prod, -inf for max; `none` when the output is not reduced).
- `nonempty = true`: reducing over zero elements is an error (max/min/argmax have no
  identity), as numpy's `zero-size array to reduction operation` is.
- The body gets one element per input, then the current accumulator per output, and
  yields the new value of each output. `tensor.index {dim = k}` inside the body is the
  current index along iteration dim k.

The interpreter runs the body vectorized: once over the whole iteration space for
parallel-only ops, or once per point of the reduction dims, with numpy arrays in
place of scalars (every scalar op's rule is a numpy function).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.core import PURE, AttrDef, Operation, TirError
from ..ir.types import Dim, ScalarType, element_of, shape_of

PARALLEL, REDUCTION = "parallel", "reduction"


class GenericBase(Operation):
    """Shared structure, verification and interpretation of the generic ops."""

    num_results = None
    num_regions = 1
    attrs = {"maps": AttrDef(tuple, required=True), "iterators": AttrDef(tuple, required=True),
             "inits": AttrDef(tuple), "nonempty": AttrDef(bool)}
    traits = frozenset({PURE})

    # ---- views of the declaration (subclasses say which operands are inputs / outputs)
    @property
    def inputs(self) -> list:
        raise NotImplementedError

    def output_types(self) -> list:
        """Types of the outputs (results for tensor.generic, out buffers for mem.generic)."""
        raise NotImplementedError

    @property
    def iterators(self) -> tuple[str, ...]:
        return self.attributes["iterators"]

    @property
    def maps(self) -> tuple[tuple[int, ...], ...]:
        return self.attributes["maps"]

    @property
    def input_maps(self) -> tuple[tuple[int, ...], ...]:
        return self.maps[:len(self.inputs)]

    @property
    def output_maps(self) -> tuple[tuple[int, ...], ...]:
        return self.maps[len(self.inputs):]

    @property
    def inits(self) -> tuple[Any, ...]:
        n_out = len(self.maps) - len(self.inputs)
        return self.attributes.get("inits") or (None,) * n_out

    @property
    def body(self) -> Any:
        return self.regions[0].block

    @property
    def reduction_dims(self) -> list[int]:
        return [k for k, it in enumerate(self.iterators) if it == REDUCTION]

    @property
    def parallel_dims(self) -> list[int]:
        return [k for k, it in enumerate(self.iterators) if it == PARALLEL]

    # ---- checks shared by both levels
    def check_maps(self, operand_ranks: Sequence[int], n_in: int, size_sources: int) -> None:
        """Maps against operand ranks; every iteration dim must get its size from one of the
        first `size_sources` operands."""
        iters = self.iterators
        if not all(it in (PARALLEL, REDUCTION) for it in iters):
            raise self.error(f"iterators must be \"parallel\" or \"reduction\", got {list(iters)}")
        maps = self.maps
        if len(maps) != len(operand_ranks):
            raise self.error(f"has {len(operand_ranks)} operands and results but {len(maps)} maps")
        sized: set[int] = set()
        for i, (m, rank) in enumerate(zip(maps, operand_ranks)):
            what = f"map #{i}"
            if not isinstance(m, tuple) or len(m) != rank:
                raise self.error(f"{what} must list one iteration dim per dim of a rank-{rank} operand, got {m}")
            used = [k for k in m if k != -1]
            if any(not isinstance(k, int) or not -1 <= k < len(iters) for k in m) or len(set(used)) != len(used):
                raise self.error(f"{what} {list(m)} must hold distinct iteration dims in [0, {len(iters)}) or -1")
            if i < size_sources:
                sized.update(used)
            if i >= n_in:
                if any(iters[k] == REDUCTION for k in used):
                    raise self.error(f"{what} (an output) uses a reduction dim")
                if sorted(used) != self.parallel_dims:
                    raise self.error(f"{what} (an output) must use every parallel dim once, got {list(m)}")
        missing = [k for k in range(len(iters)) if k not in sized]
        if missing:
            raise self.error(f"iteration dims {missing} take their size from no operand")
        inits = self.attributes.get("inits")
        n_out = len(maps) - n_in
        if inits is not None and len(inits) != n_out:
            raise self.error(f"has {n_out} outputs but {len(inits)} inits")
        if self.reduction_dims and any(v is None for v in self.inits):
            raise self.error("reduces, so every output needs an init value")

    def check_body(self, input_elements: Sequence[ScalarType], output_elements: Sequence[ScalarType]) -> None:
        block = self.regions[0].blocks[0] if self.regions[0].blocks else None
        if block is None or len(self.regions[0].blocks) != 1:
            raise self.error("body must be one block")
        want = list(input_elements) + list(output_elements)
        got = [a.type for a in block.args]
        if got != want:
            raise self.error(f"body arguments ({', '.join(map(str, got))}) must be the element types "
                             f"of the inputs then the outputs ({', '.join(map(str, want))})")
        term = block.ops[-1] if block.ops else None
        if term is None or term.name != "scalar.yield":
            raise self.error("body must end with scalar.yield")
        yielded = [v.type for v in term.operands]
        if yielded != list(output_elements):
            raise self.error(f"body yields ({', '.join(map(str, yielded))}) for outputs of element types "
                             f"({', '.join(map(str, output_elements))})")

    def yield_types(self) -> list[ScalarType]:
        block = self.regions[0].blocks[0]
        return [v.type for v in block.ops[-1].operands] if block.ops else []

    def static_sizes(self, operand_shapes: Sequence[Sequence[Dim]]) -> list[Dim]:
        """Iteration dim sizes known at compile time (None where only run time knows)."""
        sizes: list[Dim] = [None] * len(self.iterators)
        ones: set[int] = set()
        for shape, m in zip(operand_shapes, self.maps):
            for d, k in zip(shape, m):
                if k < 0:
                    continue
                if d == 1:
                    ones.add(k)
                elif d is not None:
                    sizes[k] = d
        # A dim that is 1 in every operand that names it is 1; with a dynamic one it is unknown.
        for k in ones:
            if sizes[k] is None and all(
                    shape[d] == 1 for shape, m in zip(operand_shapes, self.maps) for d, kk in enumerate(m) if kk == k):
                sizes[k] = 1
        return sizes

    # ---- semantics
    def evaluate(self, interp: Any, inputs: Sequence[np.ndarray], sizes_from: Sequence[np.ndarray] = ()) -> list[Any]:
        """Output arrays (in output-map layout) for these inputs; `sizes_from` are extra arrays
        (mem.generic's out buffers) whose maps follow the inputs' and that fix iteration sizes."""
        iters = self.iterators
        n = len(iters)
        sizes = [1] * n
        seen = [False] * n
        for arr, m in zip(list(inputs) + list(sizes_from), self.maps):
            for d, k in enumerate(m):
                if k < 0:
                    continue
                s = arr.shape[d]
                if not seen[k] or sizes[k] == 1:
                    sizes[k], seen[k] = s, True
                elif s not in (1, sizes[k]):
                    raise TirError(f"'{self.name}' op iteration dim {k} has size {sizes[k]} "
                                   f"and {s}, which do not broadcast", self.loc)
        if self.attributes.get("nonempty") and any(sizes[k] == 0 for k in self.reduction_dims):
            raise TirError("reduction over an empty axis has no identity", self.loc)
        full = [_to_iteration_space(np.asarray(a), m, sizes) for a, m in zip(inputs, self.input_maps)]
        out_elems = [element_of(t) for t in self.output_types()]
        red = self.reduction_dims
        par_shape = [1 if k in red else s for k, s in enumerate(sizes)]
        accs = [np.full(par_shape, v if v is not None else 0, dtype=t.dtype)
                for v, t in zip(self.inits, out_elems)]
        grids = np.indices(par_shape, sparse=True) if n else []
        if not red:
            accs = self._run_body(interp, full, accs, list(grids))
        else:
            for point in np.ndindex(*[sizes[k] for k in red]):
                at = dict(zip(red, point))
                ins = [a[tuple(slice(at[k], at[k] + 1) if k in at else slice(None) for k in range(n))] for a in full]
                idx = [np.asarray(at[k]) if k in at else grids[k] for k in range(n)]
                accs = self._run_body(interp, ins, accs, idx)
        outs = []
        for acc, m, t in zip(accs, self.output_maps, out_elems):
            acc = np.broadcast_to(np.asarray(acc, dtype=t.dtype), par_shape)
            acc = acc.reshape([s for k, s in enumerate(par_shape) if k not in red])
            order = [k for k in m if k >= 0]
            par = [k for k in range(n) if k not in red]
            acc = acc.transpose([par.index(k) for k in order])
            # (ascontiguousarray makes 0-d arrays 1-d: reshape after it)
            outs.append(np.ascontiguousarray(acc).reshape([1 if k < 0 else sizes[k] for k in m]))
        return outs

    def _run_body(self, interp: Any, ins: list[np.ndarray], accs: list[np.ndarray], idx: list[Any]) -> list[Any]:
        stack = interp.__dict__.setdefault("generic_indices", [])
        stack.append(idx)
        try:
            with np.errstate(all="ignore"):
                return interp.run_block(self.regions[0].blocks[0], list(ins) + list(accs))
        finally:
            stack.pop()


def _to_iteration_space(arr: np.ndarray, m: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """View `arr` (laid out by map m) with one axis per iteration dim, broadcast to `sizes`."""
    keep = [d for d, k in enumerate(m) if k >= 0]
    arr = arr.reshape([arr.shape[d] for d in keep])
    ks = [m[d] for d in keep]
    order = sorted(range(len(ks)), key=lambda i: ks[i])
    arr = arr.transpose(order)
    shape = [1] * len(sizes)
    for i in order:
        shape[ks[i]] = arr.shape[order.index(i)]
    return np.broadcast_to(arr.reshape(shape), sizes)


def iteration_shape_of(op: GenericBase, shapes: Sequence[Sequence[Dim]], m: Sequence[int]) -> tuple[Dim, ...]:
    """Static shape of an output with map m."""
    sizes = op.static_sizes(shapes)
    return tuple(1 if k < 0 else sizes[k] for k in m)


__all__ = ["GenericBase", "PARALLEL", "REDUCTION", "iteration_shape_of", "shape_of"]
