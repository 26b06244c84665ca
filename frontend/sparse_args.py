"""csr/csc matrices at the boundary of a compiled function (tensorir.sparse).

After `sparse-lower`, a function takes and returns each sparse matrix as its five parts (data, i64 indices,
i64 indptr, 0-d i64 rows and cols: passes/sparse_lower.py). `split` turns a scipy.sparse argument into
them, `join` turns returned parts back into a scipy.sparse matrix of the declared format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.core import Location, TirTypeError
from ..ir.types import TensorType

N_PARTS = 5


def split(value: Any, t: TensorType, label: str, loc: Location | None) -> list[np.ndarray]:
    """The parts of sparse argument `value` for an input of type t: any scipy.sparse matrix (or array),
    converted to t's format, its values to t's dtype where numpy calls that safe."""
    import scipy.sparse as sp

    if not sp.issparse(value):
        raise TirTypeError(f"{label} expects a scipy.sparse {t.encoding} matrix of {t.dtype}, got "
                           f"{type(value).__name__}", loc)
    if value.dtype != t.dtype and not np.can_cast(value.dtype, t.dtype, "safe"):
        raise TirTypeError(f"{label} expects a sparse matrix of {t.dtype}, got {value.dtype}; cast it with "
                           f".astype('{t.dtype}')", loc)
    m = value.asformat(t.encoding)
    if m.ndim != 2:
        raise TirTypeError(f"{label} expects a sparse matrix, got {m.ndim} dimensions", loc)
    return [np.asarray(m.data, t.dtype), np.asarray(m.indices, np.int64), np.asarray(m.indptr, np.int64),
            np.int64(m.shape[0]), np.int64(m.shape[1])]


def join(results: Sequence[Any], types: Sequence[TensorType]) -> list[Any]:
    """The results of a call, each sparse one rebuilt from its parts (the next five results)."""
    import scipy.sparse as sp

    out: list[Any] = []
    it = iter(results)
    for t in types:
        if t.encoding is None:
            out.append(next(it))
            continue
        data, indices, indptr, rows, cols = (next(it) for _ in range(N_PARTS))
        cls = sp.csr_matrix if t.encoding == "csr" else sp.csc_matrix
        out.append(cls((data, indices, indptr), shape=(int(rows), int(cols))))
    return out


def has_sparse(types: Sequence[TensorType]) -> bool:
    return any(t.encoding is not None for t in types)
