"""`tensorir.linalg` (also `T.nlinalg`, `T.slinalg`, `T.linalg`): numpy.linalg's functions on symbolic matrices.

    from tensorir import linalg
    x = linalg.solve(A, b)                    # tensor.solve: LAPACK gesv on the C target
    sign, logdet = linalg.slogdet(A)

solve, inv, det, slogdet, cholesky, eigh, qr and svd are ops of the tensor dialect (dialects/linalg.py) with
gradients; eigvalsh, lstsq, pinv, norm, trace and diag are composed of them and of other ops. The ops take
matrices or stacks of them (leading batch dims, the same in solve's a and b; b may be a vector beside a
matrix); integers are cast to float64 and a float32 operand meeting a float64 one to float64, as
numpy.linalg does. Theano's names are here too: `matrix_inverse`, `extract_diag`,
`alloc_diag`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.core import Location, NotSupportedError, TirError, caller_location
from . import tensor_api as T
from .symbolic import Variable, apply, as_variable, type_str

__all__ = ["alloc_diag", "cholesky", "det", "diag", "eigh", "eigvalsh", "extract_diag", "inv", "lstsq",
           "matrix_inverse", "norm", "pinv", "qr", "slogdet", "solve", "svd", "trace"]


def _floats(values: list[Any], loc: Location, name: str, ranks: Sequence[tuple[int, ...]] = ()) -> list[Variable]:
    """The operands as variables of one float type (numpy.linalg's: float64 unless all are float32), of the
    given ranks where given (the ops check their own)."""
    vs = [as_variable(v, loc=loc) for v in values]
    for v, allowed in zip(vs, ranks):
        if v.ndim not in allowed:
            raise TirError(f"linalg.{name}: expects a {' or '.join(f'{r}-d' for r in allowed)} operand, got "
                           f"{type_str(v.type)}", loc)
    dtype = "float32" if builtins.all(v.dtype == "float32" for v in vs) else "float64"
    return [v if v.dtype == dtype else T.cast(v, dtype) for v in vs]


def _apply(name: str, values: list[Any], nout: int | None = None, **attrs: Any) -> Any:
    loc = caller_location()
    return apply(f"tensor.{name}", _floats(values, loc, name), attrs, loc=loc, nout=nout)


def solve(a: Any, b: Any) -> Variable:
    """The x with a @ x = b; b is a vector or a matrix of right-hand sides. A singular a is a run-time error."""
    return _apply("solve", [a, b])


def inv(a: Any) -> Variable:
    """The inverse of a square matrix (a run-time error where it is singular)."""
    return _apply("inv", [a])


matrix_inverse = inv  # Theano's name


def det(a: Any) -> Variable:
    """The determinant of a square matrix."""
    return _apply("det", [a])


def slogdet(a: Any) -> tuple[Variable, Variable]:
    """(sign, log|det|) of a square matrix: (0, -inf) where it is singular."""
    sign, logdet = _apply("slogdet", [a], nout=2)
    return sign, logdet


def cholesky(a: Any) -> Variable:
    """The lower triangular L with a = L @ L.T, from a's lower triangle; a run-time error where a is not
    positive definite."""
    return _apply("cholesky", [a])


def eigh(a: Any, UPLO: str = "L") -> tuple[Variable, Variable]:  # noqa: N803 (numpy's name)
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, from its lower triangle (the
    upper with UPLO='U')."""
    w, v = _apply("eigh", [_upper_as_lower(a, UPLO)], nout=2, compute_v=True)
    return w, v


def _upper_as_lower(a: Any, uplo: str) -> Any:
    """a, or with UPLO='U' its matrices transposed (eigh reads the lower triangle)."""
    if uplo not in ("L", "U"):
        raise TirError(f"linalg.eigh: UPLO must be 'L' or 'U', got {uplo!r}", caller_location())
    if uplo == "L":
        return a
    av = as_variable(a)
    return T.transpose(av, axes=(*range(av.ndim - 2), av.ndim - 1, av.ndim - 2))


def eigvalsh(a: Any, UPLO: str = "L") -> Variable:  # noqa: N803 (numpy's name)
    """The eigenvalues (ascending) of a symmetric matrix (no eigenvectors computed)."""
    return _apply("eigh", [_upper_as_lower(a, UPLO)], compute_v=False)


def qr(a: Any, mode: str = "reduced") -> Any:
    """The reduced QR factorization (q, r) of an m x n matrix (q m x k, r k x n, k = min(m, n)); mode 'r': r
    only. The gradient needs m >= n."""
    if mode not in ("reduced", "r"):
        raise NotSupportedError(f"linalg.qr: mode {mode!r} is not supported (only 'reduced' and 'r')",
                                caller_location())
    q, r = _apply("qr", [a], nout=2)
    return r if mode == "r" else (q, r)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """Singular values (descending), with compute_uv also (u, s, vt) of the reduced decomposition (a square
    matrix's is also the full one). Gradients flow through the singular values only."""
    loc = caller_location()
    av = as_variable(a, loc=loc)
    if compute_uv and full_matrices and (av.ndim < 2 or None in av.type.shape[-2:] or av.type.shape[-2] !=
                                         av.type.shape[-1]):
        raise NotSupportedError("linalg.svd: full_matrices=True is supported for matrices known to be square "
                                "only (pass full_matrices=False for the reduced u and vt)", loc)
    if not compute_uv:
        return _apply("svd", [av], compute_uv=False)
    u, s, vt = _apply("svd", [av], nout=3, compute_uv=True)
    return u, s, vt


def lstsq(a: Any, b: Any, rcond: Any = None) -> Variable:
    """The least-squares solution x of a @ x ~= b for an a of full column rank, from the normal equations
    solve(a.T @ a, a.T @ b). Unlike numpy, only x (not the residuals, rank and singular values)."""
    loc = caller_location()
    av, bv = _floats([a, b], loc, "lstsq", [(2,), (1, 2)])
    at = T.transpose(av)
    return solve(T.dot(at, av), T.dot(at, bv))


def pinv(a: Any) -> Variable:
    """The pseudo-inverse of a matrix of full column rank: solve(a.T @ a, a.T)."""
    loc = caller_location()
    (av,) = _floats([a], loc, "pinv", [(2,)])
    at = T.transpose(av)
    return solve(T.dot(at, av), at)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Variable:  # noqa: A002
    """numpy.linalg.norm: of a vector (ord None or 2, 1, inf, -inf, 0, any p), of a matrix (None or 'fro', 'nuc',
    1, -1, 2, -2, inf, -inf), of the whole tensor flattened (ord None, axis None) or along `axis`."""
    loc = caller_location()
    xv = as_variable(x, loc=loc)
    if not xv.type.element.is_float:
        xv = T.cast(xv, "float64")
    axes = tuple(range(xv.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    if axis is None and ord is not None and xv.ndim not in (1, 2):
        raise TirError(f"linalg.norm: ord {ord!r} needs a vector or a matrix (or axis), got {type_str(xv.type)}",
                       loc)
    ax = T.abs(xv)
    if len(axes) == 1 or ord in (None, "fro"):
        if ord in (None, "fro", 2):
            return T.sqrt(T.sum(T.sqr(ax), axis=axes, keepdims=keepdims))
        if ord == np.inf:
            return T.max(ax, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return T.min(ax, axis=axes, keepdims=keepdims)
        if ord == 0:
            return T.sum(T.cast(T.neq(ax, 0), xv.dtype), axis=axes, keepdims=keepdims)
        if ord == 1:
            return T.sum(ax, axis=axes, keepdims=keepdims)
        if isinstance(ord, (int, float)):
            return T.sum(ax ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
        raise TirError(f"linalg.norm: ord {ord!r} is not a vector norm", loc)
    if len(axes) != 2 or keepdims:
        raise NotSupportedError("linalg.norm: a matrix norm other than 'fro' needs the two axes of a matrix "
                                "(no keepdims)", loc)
    rows, cols = (a % xv.ndim for a in axes)
    if xv.ndim != 2 or (rows, cols) != (0, 1):
        raise NotSupportedError("linalg.norm: matrix norms of the two dims of a matrix only", loc)
    if ord in (1, -1):
        col_sums = T.sum(ax, axis=0)
        return T.max(col_sums) if ord == 1 else T.min(col_sums)
    if ord in (np.inf, -np.inf):
        row_sums = T.sum(ax, axis=1)
        return T.max(row_sums) if ord == np.inf else T.min(row_sums)
    if ord in ("nuc", 2, -2):
        s = svd(xv, compute_uv=False)
        return T.sum(s) if ord == "nuc" else T.max(s) if ord == 2 else T.min(s)
    raise TirError(f"linalg.norm: ord {ord!r} is not a matrix norm", loc)


def _diagonal_indices(m: Any, n: Any, k: int) -> Variable:
    """The flat positions of diagonal k of an m x n matrix (sizes are ints or 0-d int64 variables)."""
    start, (rows, cols) = (k, (m, n - k)) if k >= 0 else (-k * n, (m + k, n))
    if isinstance(rows, int) and isinstance(cols, int):
        count: Any = builtins.max(builtins.min(rows, cols), 0)
    else:
        count = T.maximum(T.minimum(rows, cols), 0)
    return T.arange(count, dtype="int64") * (n + 1) + start


def extract_diag(a: Any, k: int = 0) -> Variable:
    """Diagonal k of a matrix (a gather: its gradient scatters back)."""
    loc = caller_location()
    av = as_variable(a, loc=loc)
    if av.ndim != 2:
        raise TirError(f"linalg.extract_diag: expects a matrix, got {type_str(av.type)}", loc)
    m, n = (av.type.shape[d] if av.type.shape[d] is not None else T.shape(av)[d] for d in range(2))
    return T.take(T.flatten(av), _diagonal_indices(m, n, k))


def alloc_diag(v: Any) -> Variable:
    """The square matrix with v on its diagonal and zeros elsewhere."""
    loc = caller_location()
    vv = as_variable(v, loc=loc)
    if vv.ndim != 1:
        raise TirError(f"linalg.alloc_diag: expects a vector, got {type_str(vv.type)}", loc)
    n = vv.type.shape[0] if vv.type.shape[0] is not None else T.shape(vv)[0]
    return T.eye(n, dtype=vv.dtype) * T.expand_dims(vv, 0)


def diag(v: Any, k: int = 0) -> Variable:
    """numpy's diag: diagonal k of a matrix, or the square matrix with a vector on its diagonal (k = 0)."""
    loc = caller_location()
    vv = as_variable(v, loc=loc)
    if vv.ndim == 2:
        return extract_diag(vv, k)
    if vv.ndim != 1 or k != 0:
        raise TirError(f"linalg.diag: expects a matrix, or a vector with k = 0, got {type_str(vv.type)} and k = {k}",
                       loc)
    return alloc_diag(vv)


def trace(a: Any) -> Variable:
    """The sum of the diagonal of a matrix."""
    return T.sum(extract_diag(a))
