"""Linear algebra of the tensor dialect (issue 11): LAPACK's solvers and factorizations of matrices.

    %x = tensor.solve %a, %b : tensor<?xf64>                          (a x = b; b a vector or a matrix)
    %y = tensor.inv %a : tensor<?x?xf64>
    %d = tensor.det %a : tensor<f64>
    %s, %l = tensor.slogdet %a : tensor<f64>, tensor<f64>             (sign and log|det|)
    %c = tensor.cholesky %a : tensor<?x?xf64>                          (lower: a = c c^T)
    %w, %v = tensor.eigh %a : tensor<?xf64>, tensor<?x?xf64>          (ascending eigenvalues, vectors as columns)
    %q, %r = tensor.qr %a : tensor<?x?xf64>, tensor<?x?xf64>          (reduced: q is m x k, r is k x n, k = min(m, n))
    %s = tensor.svd %a {compute_uv = false} : tensor<?xf64>
    %u, %s, %vt = tensor.svd %a {compute_uv = true} : tensor<?x?xf64>, tensor<?xf64>, tensor<?x?xf64>

Operands are matrices or stacks of them (leading batch dims, the same in every operand: each matrix is
factorized on its own, as numpy.linalg does; b of solve may be a vector beside a matrix) of one element type,
f32 or f64, as LAPACK takes them; results have a's batch dims and that type (the Python API casts integers to
f64 first, as numpy.linalg does). As numpy, eigh and cholesky read the lower triangle of a only. Each op is
declared once here: type inference, the sizes that must agree (`equal_dims`: a square, b's rows those of a,
batch dims), the result sizes (`result_dims`), the numpy rule and the gradient. The `lib` dialect's LAPACK
ops (dialects/lib.py) are made from these classes, one per op with the same operands followed by the output
buffers, so that the sizes and the numpy rule are written once; `bufferize` (passes/bufferize_rules.py) turns
each tensor op into its lib op, which the C target runs through backends/c_runtime/tir_linalg.h (LAPACKE of
scipy-openblas32), matrix by matrix.

A singular matrix (solve, inv) and a matrix that is not positive definite (cholesky) are run-time errors,
ValueErrors whose message names the op, on every target (numpy raises LinAlgError, a ValueError too).
`dot(inv(a), b)` becomes `solve(a, b)` in `canonicalize` (`InvDotToSolve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..ir.attributes import DYN
from ..ir.builder import Builder
from ..ir.core import PURE, AttrDef, NotSupportedError, Operation, OpResult, TirValueError, Value
from ..ir.rewriter import PatternRewriter, RewritePattern, replace_with_built
from ..ir.types import Dim, TensorType, Type, f32, f64
from .tensor_common import fmt_shape, size_check_failed
from .tensor_grad import Grads, Sym, dim, emit, select

__all__ = ["LINALG_OPS", "CholeskyOp", "DetOp", "EighOp", "InvOp", "LinalgError", "LinalgOp", "QrOp", "SlogdetOp",
           "SolveOp", "SvdOp"]

# A result dim: the least of these (operand, axis) sizes (one pair: that size).
Ref = tuple[tuple[int, int], ...]

SQUARE = "expects a square matrix, got {0} x {1}"  # built, run-time (mem.check) and interpreted alike
SINGULAR = "singular matrix"  # the C helpers (tir_linalg.h) say the same
NOT_SPD = "matrix is not positive definite"
NO_CONVERGENCE = "did not converge"


class LinalgError(Exception):
    """A LAPACK failure found by a numpy rule; the op that ran it reports it with its name and location."""


class LinalgOp(Operation):
    """Shared declaration of the linear algebra ops: float matrices in, results of their element type.

    The rules (`allowed_ranks`, `result_dims`, `equal_dims`, `compute`, `evaluate`) read only the first
    `n_inputs` operands, their types' shapes and the attributes: the lib ops of dialects/lib.py derive from
    these classes and keep them, on buffers."""

    traits = frozenset({PURE})
    operands_def: ClassVar[tuple[str, ...]] = ("a",)
    n_inputs: ClassVar[int] = 1
    routine: ClassVar[str] = ""  # the lib op `lib.<routine>` and, by default, the C helper (`c_helper`)
    square: ClassVar[bool] = True

    def inputs(self) -> list[Value]:
        return self.operands[:self.n_inputs]

    def c_helper(self) -> str:
        """tir_linalg.h's function for this op and its attributes: `tir_<c_helper>_<f32|f64>`."""
        return self.routine

    def batch(self) -> int:
        """How many leading (batch) dims a has: a stack of matrices, each factorized on its own."""
        return max(self.operands[0].type.rank - 2, 0)  # type: ignore[attr-defined]

    def core_ranks(self) -> list[tuple[int, ...]]:
        """The ranks each operand may have besides the batch dims."""
        return [(2,)] * self.n_inputs

    def core_dims(self) -> list[list[Ref]]:
        """Each result's dims after the batch dims, as sizes of operands (axes counted from the end)."""
        raise NotImplementedError

    def core_equal_dims(self) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        """Pairs of (operand, axis from the end) sizes that must be equal, with the message (`{0}`, `{1}`: the
        sizes)."""
        return [((0, -2), (0, -1), SQUARE)] if self.square else []

    def allowed_ranks(self) -> list[tuple[int, ...]]:
        return [tuple(r + self.batch() for r in ranks) for ranks in self.core_ranks()]

    def _axis(self, i: int, axis: int) -> int:
        return axis + self.operands[i].type.rank if axis < 0 else axis  # type: ignore[attr-defined]

    def result_dims(self) -> list[list[Ref]]:
        """Each result's dims: a's batch dims, then `core_dims` (axes from the start)."""
        lead: list[Ref] = [((0, k),) for k in range(self.batch())]
        return [lead + [tuple((i, self._axis(i, p)) for i, p in ref) for ref in refs] for refs in self.core_dims()]

    def equal_dims(self) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        """`core_equal_dims` (axes from the start) and the batch dims of the other operands, equal to a's."""
        batch = [((0, k), (i, k), f"batch dim {k} of a ({{0}}) and operand #{i} ({{1}}) differ")
                 for i in range(1, self.n_inputs) for k in range(self.batch())]
        return batch + [((i, self._axis(i, p)), (j, self._axis(j, q)), m) for (i, p), (j, q), m in
                        self.core_equal_dims()]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    # ---- shared by the tensor ops and their lib ops
    def check_operands(self, shapes: Sequence[Sequence[Dim]], elements: Sequence[Type]) -> None:
        for k, (shape, allowed) in enumerate(zip(shapes, self.allowed_ranks())):
            if len(shape) not in allowed:
                what = " or ".join(f"{r}-d" for r in allowed)
                raise self.error(f"operand #{k} must be {what}, got shape {fmt_shape(shape)}")
        if len(set(elements)) != 1 or not set(elements) <= {f32, f64}:
            raise self.error("operands must have one element type, f32 or f64, got "
                             + ", ".join(str(e) for e in elements))
        for (i, p), (j, q), message in self.equal_dims():
            a, c = shapes[i][p], shapes[j][q]
            if a is not None and c is not None and a != c:
                raise self.error(message.format(a, c))

    def static_result_shapes(self, shapes: Sequence[Sequence[Dim]]) -> list[tuple[Dim, ...]]:
        def size(ref: Ref) -> Dim:
            dims = [shapes[i][p] for i, p in ref]
            return None if None in dims else min(d for d in dims if d is not None)
        return [tuple(size(r) for r in refs) for refs in self.result_dims()]

    def size_message(self, message: str) -> str:
        """A failed size check's message template: it names the tensor op (bufferize gives it to mem.check)."""
        return f"'tensor.{self.routine}' op {message}"

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """The numpy rule after the run-time size checks; errors name the tensor op (also from its lib op, as
        the C target's do)."""
        for (i, p), (j, q), message in self.equal_dims():
            if args[i].shape[p] != args[j].shape[q]:
                raise size_check_failed(self, self.size_message(message), args[i].shape[p], args[j].shape[q])
        try:
            with np.errstate(all="ignore"):
                values = self.compute(args)
        except (LinalgError, np.linalg.LinAlgError) as e:
            raise TirValueError(f"'tensor.{self.routine}' op {e}", self.loc) from None
        return [np.asarray(v, dtype=args[0].dtype) for v in values]

    # ---- the tensor op
    def infer_types(self) -> list[Type]:
        types = []
        for k, v in enumerate(self.inputs()):
            if not isinstance(v.type, TensorType):
                raise self.error(f"operand #{k} must be a tensor, got {v.type}")
            types.append(v.type)
        self.check_operands([t.shape for t in types], [t.element for t in types])
        return [TensorType(s, types[0].element) for s in self.static_result_shapes([t.shape for t in types])]

    def interpret(self, interp: Any, args: list[Any]) -> list[Any]:
        return self.evaluate([np.asarray(a) for a in args])


def _numpy(fn: Any, *args: Any, error: str, **kw: Any) -> Any:
    """fn(*args) with numpy's LinAlgError as ours (one wording on every target)."""
    try:
        return fn(*args, **kw)
    except np.linalg.LinAlgError:
        raise LinalgError(error) from None


# ---------------------------------------------------------------- gradient helpers (matrices or stacks of them)


def _rank(x: Sym) -> int:
    return x.v.type.rank  # type: ignore[attr-defined]


def _t(x: Sym) -> Sym:
    """Each matrix transposed (the last two dims swapped)."""
    r = _rank(x)
    return x.op("transpose") if r == 2 else x.op("transpose", perm=(*range(r - 2), r - 1, r - 2))


def _dot(x: Sym, y: Sym) -> Sym:
    """The matrix product (of each pair of a stack)."""
    return x.op("dot", y) if _rank(x) == _rank(y) == 2 else x.op("matmul", y)


def _trailing(x: Sym, n: int) -> Sym:
    """x with n dims of size 1 appended (a batch of scalars against a batch of matrices)."""
    return x.op("expand_dims", axes=tuple(range(_rank(x), _rank(x) + n))) if n else x


def _index_grid(b: Builder, x: Value) -> tuple[Sym, Sym]:
    """Row and column indices (i64, shaped n x 1 and 1 x m) of the matrices of x."""
    out = []
    rank = x.type.rank  # type: ignore[attr-defined]
    for k, axes in ((rank - 2, (1,)), (rank - 1, (0,))):
        n = dim(b, x, k)
        r = emit(b, "arange", start=0, stop=n, step=1) if isinstance(n, int) else \
            emit(b, "arange", n, start=0, stop=DYN, step=1)
        out.append(Sym(b, emit(b, "expand_dims", r, axes=axes)))
    return out[0], out[1]


def _masked(x: Sym, cmp: str) -> Sym:
    """x where `row cmp column` holds (cmp: gt, ge, eq), else 0: the strict lower triangle, the lower one, the
    diagonal."""
    i, j = _index_grid(x.b, x.v)
    return select(i.op(cmp, j), x, 0.0)


def _lower_only(g: Sym) -> Sym:
    """The gradient with respect to a matrix of which only the lower triangle is read (eigh, cholesky) from
    `g`, the one with respect to the symmetric matrix it stands for: g + g^T below the diagonal, g on it."""
    return _masked(g + _t(g), "gt") + _masked(g, "eq")


# ---------------------------------------------------------------- the ops


class SolveOp(LinalgOp):
    """The x with a x = b (LAPACK gesv): `%x = tensor.solve %a, %b : tensor<?x?xf64>`; b is a matrix (n x k, k
    right-hand sides; a stack beside a stack of a) or, beside one matrix a, a vector; x has b's shape."""

    name = "tensor.solve"
    operands_def = ("a", "b")
    n_inputs = 2
    routine = "solve"

    def core_ranks(self) -> list[tuple[int, ...]]:
        return [(2,), (1, 2) if self.batch() == 0 else (2,)]  # as numpy: a vector b only beside a matrix

    def vector_b(self) -> bool:
        return self.operands[1].type.rank == 1  # type: ignore[attr-defined]

    def core_dims(self) -> list[list[Ref]]:
        return [[((1, -1),)] if self.vector_b() else [((1, -2),), ((1, -1),)]]

    def core_equal_dims(self) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        rows = (1, -1 if self.vector_b() else -2)
        return [*super().core_equal_dims(), ((0, -2), rows, "rows of a ({0}) and b ({1}) differ")]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        a, b = args
        if a.size == 0 or b.size == 0:
            return [np.zeros(b.shape, a.dtype)]
        return [_numpy(np.linalg.solve, a, b, error=SINGULAR)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # gb = solve(a^T, g); ga = -gb x^T (an outer product for vector b)
        a, x, g = (Sym(b, v) for v in (self.operands[0], self.results[0], out_grads[0]))
        gb = Sym(b, emit(b, "solve", _t(a).v, g.v))
        if self.vector_b():
            ga = -(gb.op("expand_dims", axes=(1,)) * x.op("expand_dims", axes=(0,)))
        else:
            ga = -_dot(gb, _t(x))
        return [ga.v, gb.v]


class InvDotToSolve(RewritePattern):
    """`dot(inv(a), b) -> solve(a, b)` (b a vector or a matrix of a's element type) where the inverse has no
    other use and solve's type is the product's: one LU solve instead of an inverse and a product, and more
    accurate."""

    def root_names(self) -> tuple[str, ...] | None:
        from .tensor import DotOp  # tensor.py imports this module before it declares DotOp
        return (DotOp.name,)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inv, rhs = op.operands
        if not (isinstance(inv, OpResult) and isinstance(inv.op, InvOp) and len(inv.uses) == 1):
            return False
        a = inv.op.operands[0]
        if not (isinstance(rhs.type, TensorType) and rhs.type.rank in (1, 2) and rhs.type.element == a.type.element):
            return False
        return replace_with_built(op, lambda b: emit(b, "solve", a, rhs), rewriter)  # where the types agree


class InvOp(LinalgOp):
    """The inverse of a square matrix (LAPACK gesv of the identity, as numpy):
    `%y = tensor.inv %a : tensor<?x?xf64>`."""

    name = "tensor.inv"
    routine = "inv"
    canonicalization_patterns = (InvDotToSolve(),)

    def core_dims(self) -> list[list[Ref]]:
        return [[((0, -2),), ((0, -1),)]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [_numpy(np.linalg.inv, args[0], error=SINGULAR)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        yt, g = _t(Sym(b, self.results[0])), Sym(b, out_grads[0])  # ga = -y^T g y^T
        return [(-_dot(_dot(yt, g), yt)).v]


class DetOp(LinalgOp):
    """The determinant (from LAPACK getrf's LU): `%d = tensor.det %a : tensor<f64>`."""

    name = "tensor.det"
    routine = "det"

    def core_dims(self) -> list[list[Ref]]:
        return [[]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [np.linalg.det(args[0])]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        a, d, g = (Sym(b, v) for v in (self.operands[0], self.results[0], out_grads[0]))
        return [(_trailing(g * d, 2) * _t(Sym(b, emit(b, "inv", a.v)))).v]  # ga = g det(a) inv(a)^T


class SlogdetOp(LinalgOp):
    """The sign and the log of the absolute value of the determinant (from LAPACK getrf's LU; a singular
    matrix gives sign 0 and -inf): `%s, %l = tensor.slogdet %a : tensor<f64>, tensor<f64>`."""

    name = "tensor.slogdet"
    routine = "slogdet"
    num_results = 2

    def core_dims(self) -> list[list[Ref]]:
        return [[], []]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return list(np.linalg.slogdet(args[0]))

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        a, g = Sym(b, self.operands[0]), Sym(b, out_grads[1])  # the sign is piecewise constant
        return [(_trailing(g, 2) * _t(Sym(b, emit(b, "inv", a.v)))).v]


class CholeskyOp(LinalgOp):
    """The lower triangular c with a = c c^T of a symmetric positive definite a, read from its lower triangle
    (LAPACK potrf): `%c = tensor.cholesky %a : tensor<?x?xf64>`."""

    name = "tensor.cholesky"
    routine = "cholesky"

    def core_dims(self) -> list[list[Ref]]:
        return [[((0, -2),), ((0, -1),)]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return [_numpy(np.linalg.cholesky, args[0], error=NOT_SPD)]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # Murray (2016): s = c^-T Phi(c^T gc) c^-1, Phi the lower triangle with its diagonal halved; then the
        # symmetric part, as a gradient with respect to the lower triangle only
        c, gc = Sym(b, self.results[0]), Sym(b, out_grads[0])
        ct = _t(c)
        phi = _dot(ct, gc)
        p = _masked(phi, "gt") + _masked(phi, "eq") * 0.5
        s = _t(Sym(b, emit(b, "solve", ct.v, _t(Sym(b, emit(b, "solve", ct.v, p.v))).v)))
        return [_lower_only((s + _t(s)) * 0.5).v]


class EighOp(LinalgOp):
    """Eigenvalues (ascending) and, with `compute_v`, eigenvectors (the columns of v) of a symmetric matrix,
    read from its lower triangle (LAPACK syevd): `%w, %v = tensor.eigh %a {compute_v = true} : tensor<?xf64>,
    tensor<?x?xf64>`, `%w = tensor.eigh %a {compute_v = false} : tensor<?xf64>` (eigvalsh: about twice as fast).
    The gradient assumes distinct eigenvalues."""

    name = "tensor.eigh"
    routine = "eigh"
    num_results = None
    attrs = {"compute_v": AttrDef(bool, default=True)}

    def c_helper(self) -> str:
        return "eigh" if self.attributes["compute_v"] else "eigvalsh"

    def core_dims(self) -> list[list[Ref]]:
        return [[((0, -1),)], [((0, -1),), ((0, -1),)]] if self.attributes["compute_v"] else [[((0, -1),)]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        fn = np.linalg.eigh if self.attributes["compute_v"] else np.linalg.eigvalsh
        out = _numpy(fn, args[0], error=f"eigenvalues {NO_CONVERGENCE}")
        return list(out) if self.attributes["compute_v"] else [out]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # ga = v (diag(gw) + f * (v^T gv)) v^T with f[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (the
        # eigenvalues alone: v diag(gw) v^T, the vectors from an eigh that computes them)
        if self.attributes["compute_v"]:
            w, v = (Sym(b, r) for r in self.results)
            gw, gv = (Sym(b, g) for g in out_grads)
        else:
            w, v = (Sym(b, r) for r in b.create(EighOp, self.operands[0]).results)
            gw, gv = Sym(b, out_grads[0]), v * 0.0
        last = _rank(w) - 1
        diff = w.op("expand_dims", axes=(last,)) - _trailing(w, 1)
        i, j = _index_grid(b, v.v)
        vtg = _dot(_t(v), gv)
        inner = select(i.op("eq", j), gw.op("expand_dims", axes=(last,)), vtg / diff)
        return [_lower_only(_dot(_dot(v, inner), _t(v))).v]


class QrOp(LinalgOp):
    """The reduced QR factorization a = q r (LAPACK geqrf, orgqr): q (m x k) has orthonormal columns, r (k x n)
    is upper triangular, k = min(m, n): `%q, %r = tensor.qr %a : tensor<?x?xf64>, tensor<?x?xf64>`. The
    gradient needs m >= n."""

    name = "tensor.qr"
    routine = "qr"
    num_results = 2
    square = False

    def core_dims(self) -> list[list[Ref]]:
        k = ((0, -2), (0, -1))
        return [[((0, -2),), k], [k, ((0, -1),)]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return list(np.linalg.qr(args[0], mode="reduced"))

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        # m >= n: M = r gr^T - gq^T q; ga = (gq + q copyltu(M)) r^-T, copyltu(M) = M's lower triangle mirrored
        q, r = (Sym(b, v) for v in self.results)
        gq, gr = (Sym(b, g) for g in out_grads)
        m = _dot(r, _t(gr)) - _dot(_t(gq), q)
        rhs = gq + _dot(q, _masked(m, "ge") + _t(_masked(m, "gt")))
        return [_t(Sym(b, emit(b, "solve", r.v, _t(rhs).v))).v]


class SvdOp(LinalgOp):
    """Singular values (descending), with `compute_uv` also u and v^T of the reduced decomposition
    a = u diag(s) v^T (LAPACK gesdd): `%s = tensor.svd %a {compute_uv = false} : tensor<?xf64>`,
    `%u, %s, %vt = tensor.svd %a {compute_uv = true} : tensor<?x?xf64>, tensor<?xf64>, tensor<?x?xf64>`.
    The gradient is that of the singular values (compute_uv = false)."""

    name = "tensor.svd"
    routine = "svd"
    num_results = None
    square = False
    attrs = {"compute_uv": AttrDef(bool, default=False)}

    def c_helper(self) -> str:
        return "svd_uv" if self.attributes["compute_uv"] else "svd"

    def core_dims(self) -> list[list[Ref]]:
        k = ((0, -2), (0, -1))
        if not self.attributes["compute_uv"]:
            return [[k]]
        return [[((0, -2),), k], [k], [k, ((0, -1),)]]

    def compute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        uv = bool(self.attributes["compute_uv"])
        out = _numpy(np.linalg.svd, args[0], full_matrices=False, compute_uv=uv, error=f"SVD {NO_CONVERGENCE}")
        return list(out) if uv else [out]

    def vjp(self, b: Builder, out_grads: list[Value]) -> Grads:
        if self.attributes["compute_uv"]:
            raise NotSupportedError(f"'{self.name}' op: the gradient through u and v^T is not supported "
                                    "(take it of the singular values: compute_uv = false)", self.loc)
        u, _, vt = b.create(SvdOp, self.operands[0], compute_uv=True).results  # ga = u diag(gs) v^T
        g = Sym(b, out_grads[0])
        gs = g.op("expand_dims", axes=(_rank(g) - 1,))
        return [_dot(Sym(b, u) * gs, Sym(b, vt)).v]


LINALG_OPS: tuple[type[LinalgOp], ...] = (SolveOp, InvOp, DetOp, SlogdetOp, CholeskyOp, EighOp, QrOp, SvdOp)
