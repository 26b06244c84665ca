"""`tensorir.sparse`: csr/csc sparse matrices (Theano's `theano.sparse`).

    from tensorir import sparse
    x = sparse.csr_matrix("x")            # a symbolic csr matrix: tensor<?x?xf64, #csr> (floatX by default)
    w = T.dmatrix("w")
    y = sparse.dot(x, w)                  # dense; sparse.structured_dot is the same product
    f = tensorir.function([x, w], [y, sparse.sqrt(abs(x)) * 2.0])
    f(scipy.sparse.random(100, 50, density=0.1, format="csr"), np.ones((50, 3)))  # [ndarray, csr_matrix]

A sparse input takes a scipy.sparse matrix (any format is converted to the declared one; the values cast as
dense inputs are), a sparse output is a fresh scipy.sparse matrix. Elementwise math runs on the stored
values (`map(fn, x)`: zeros stay zeros whatever fn(0) is, as Theano's structured ops), so its gradient, as
that of a product, w.r.t. a sparse matrix is a sparse matrix of the same pattern. The ops are those of
dialects/sparse.py; the `sparse-lower` pass writes them as dense tensor ops and csr kernels on the stored
arrays (docs/lowering.md), so every target runs them in its own code.
"""

from __future__ import annotations

if __name__ == "sparse":  # the checkout's root on sys.path (`python -m pytest` there): not the `sparse` package
    raise ImportError("tensorir's sparse.py is tensorir.sparse, not the top-level 'sparse' package")

from collections.abc import Callable  # noqa: E402
from typing import Any

from tensorir.dialects import sparse as _dialect  # noqa: F401  (declares the sparse.* ops)
from tensorir.frontend import tensor_api as T
from tensorir.frontend.symbolic import Variable, apply, as_variable, input_variable
from tensorir.ir.core import TirError, caller_location
from tensorir.ir.types import TensorType

FORMATS = ("csr", "csc")


class SparseVariable(Variable):
    """A symbolic csr/csc matrix; arithmetic with a number or a dense matrix acts on the stored values."""

    @property
    def format(self) -> str:
        assert self.type.encoding is not None
        return self.type.encoding

    @property
    def T(self) -> SparseVariable:  # noqa: N802 (numpy's name)
        return transpose(self)

    def __mul__(self, o: Any) -> Variable:
        return mul(self, o)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Variable:
        return map(lambda v: v / o, self)

    def __neg__(self) -> Variable:
        return neg(self)

    def __abs__(self) -> Variable:
        return abs_(self)

    def __add__(self, o: Any) -> Variable:
        raise TirError("the sum of a sparse matrix and another value is not supported: add dense_from_sparse(x)")

    __radd__ = __sub__ = __rsub__ = __add__

    def __matmul__(self, o: Any) -> Variable:
        return dot(self, o)

    def __rmatmul__(self, o: Any) -> Variable:
        return dot(o, self)

    def toarray(self) -> Variable:
        return dense_from_sparse(self)

    todense = toarray

    def sum(self, axis: int | None = None) -> Variable:  # type: ignore[override]
        return sum(self, axis)


def _sparse(v: Variable) -> SparseVariable:
    v.__class__ = SparseVariable
    return v  # type: ignore[return-value]


def _check(x: Any, what: str) -> SparseVariable:
    if not (isinstance(x, Variable) and x.type.encoding in FORMATS):
        raise TirError(f"{what} must be a sparse matrix (tensorir.sparse.csr_matrix or csc_matrix), got {x!r}",
                       caller_location())
    return _sparse(x)


# ---------------------------------------------------------------- variables and construction


def _matrix(fmt: str, name: str | None, dtype: Any) -> SparseVariable:
    dense = input_variable(dtype, (None, None), name, caller_location())
    if dense.type.element.name not in ("f32", "f64"):
        raise TirError(f"a sparse matrix holds float32 or float64 values, not {dense.dtype}", dense.loc)
    return _sparse(Variable(TensorType((None, None), dense.type.element, fmt), None, 0, name, dense.loc))


def csr_matrix(name: str | None = None, dtype: Any = None) -> SparseVariable:
    """A symbolic csr matrix input (Theano's `sparse.csr_matrix`), of `dtype` (config.floatX by default)."""
    return _matrix("csr", name, dtype)


def csc_matrix(name: str | None = None, dtype: Any = None) -> SparseVariable:
    """A symbolic csc matrix input (Theano's `sparse.csc_matrix`)."""
    return _matrix("csc", name, dtype)


def _assemble(fmt: str, data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:
    rows, cols = (as_variable(s, None) for s in shape)
    parts = [as_variable(data), as_variable(indices), as_variable(indptr), rows, cols]
    return _sparse(apply("sparse.assemble", parts, {"format": fmt}))


def CSR(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:  # noqa: N802 (Theano's name)
    """The csr matrix of these parts (Theano's `sparse.CSR`): data may be any float vector expression, so
    `verify_grad` can differentiate w.r.t. the stored values."""
    return _assemble("csr", data, indices, indptr, shape)


def CSC(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:  # noqa: N802 (Theano's name)
    """The csc matrix of these parts (Theano's `sparse.CSC`)."""
    return _assemble("csc", data, indices, indptr, shape)


def csm_properties(x: Any) -> list[Variable]:
    """[data, indices, indptr, shape] of a sparse matrix (Theano's `csm_properties`); shape is a 2-vector."""
    data, indices, indptr, rows, cols = apply("sparse.parts", [_check(x, "x")], nout=5)
    return [data, indices, indptr, T.stack([rows, cols])]


def csm_data(x: Any) -> Variable:
    """The stored values of a sparse matrix (a dense vector)."""
    return apply("sparse.parts", [_check(x, "x")], nout=5)[0]


def map(fn: Callable[[Variable], Any], x: Any) -> SparseVariable:  # noqa: A001 (the map over stored values)
    """A sparse matrix of x's pattern whose values are fn(x's values): fn is any elementwise function of
    dense tensors (`lambda v: T.sqrt(v) * 2`)."""
    x = _check(x, "x")
    data, indices, indptr, rows, cols = apply("sparse.parts", [x], nout=5)
    values = as_variable(fn(data), data.type.dtype)
    if values.type.rank != 1:
        raise TirError(f"sparse.map: fn must act elementwise on the stored values, got {values.type}",
                       caller_location())
    if values.type.element != data.type.element:
        values = T.cast(values, data.dtype)
    return _sparse(apply("sparse.assemble", [values, indices, indptr, rows, cols], {"format": x.format}))


# ---------------------------------------------------------------- operations


def transpose(x: Any) -> SparseVariable:
    """x.T: a csr matrix's transpose is csc (and back), on the same stored arrays."""
    return _sparse(apply("sparse.transpose", [_check(x, "x")]))


def asformat(x: Any, format: str) -> SparseVariable:  # noqa: A002 (scipy's name)
    """x stored as `format` ('csr' or 'csc')."""
    return _sparse(apply("sparse.convert", [_check(x, "x")], {"format": format}))


def dot(a: Any, b: Any) -> Variable:
    """sparse @ dense or dense @ sparse (a dense matrix or vector), a dense result (Theano's `sparse.dot`)."""
    sa = isinstance(a, Variable) and a.type.encoding is not None
    sb = isinstance(b, Variable) and b.type.encoding is not None
    if sa == sb:
        raise TirError("sparse.dot takes one sparse and one dense operand", caller_location())
    return apply("sparse.dot", [a if sa else as_variable(a), as_variable(b) if sa else b])


structured_dot = dot  # the gradient w.r.t. the sparse operand has its pattern in both (Theano's structured_dot)


def mul(x: Any, y: Any) -> SparseVariable:
    """x * y for sparse x: y a number or 0-d tensor scales the stored values, y a dense matrix of x's shape
    multiplies each by y's element there (the result keeps x's pattern)."""
    x = _check(x, "x")
    yv = as_variable(y, x.type.dtype)
    if yv.type.rank == 0:
        return map(lambda v: v * yv, x)
    if yv.type.encoding is not None or yv.type.rank != 2:
        raise TirError(f"sparse.mul: y must be a number, a 0-d tensor or a dense matrix, got {yv.type}",
                       caller_location())
    sampled = apply("sparse.sample", [x, yv])
    return map(lambda v: v * sampled, x)


def sum(x: Any, axis: int | None = None) -> Variable:  # noqa: A001 (Theano's name)
    """The sum of the stored values: all (a 0-d tensor), down each column (axis=0) or along each row (axis=1)
    as a 1-d tensor (Theano's sparse.sum)."""
    if axis is not None and axis < 0:
        axis += 2
    return apply("sparse.sum", [_check(x, "x")], {"axis": axis})


def dense_from_sparse(x: Any) -> Variable:
    """The dense matrix (Theano's dense_from_sparse; x.toarray())."""
    return apply("sparse.to_dense", [_check(x, "x")])


todense = dense_from_sparse


def _from_dense(fmt: str, x: Any) -> SparseVariable:
    return _sparse(apply("sparse.from_dense", [as_variable(x)], {"format": fmt}))


def csr_from_dense(x: Any) -> SparseVariable:
    """The nonzeros of dense matrix x as a csr matrix (Theano's csr_from_dense)."""
    return _from_dense("csr", x)


def csc_from_dense(x: Any) -> SparseVariable:
    """The nonzeros of dense matrix x as a csc matrix (Theano's csc_from_dense)."""
    return _from_dense("csc", x)


def _structured(fn: Callable[[Variable], Variable], name: str) -> Callable[[Any], SparseVariable]:
    def op(x: Any) -> SparseVariable:
        return map(fn, x)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"{name} of the stored values (zeros stay zeros)."
    return op


# Elementwise math on the stored values (Theano's structured ops); zeros stay zeros.
neg = _structured(T.neg, "neg")
abs_ = _structured(T.abs, "abs_")
sqrt = _structured(T.sqrt, "sqrt")
sqr = _structured(T.sqr, "sqr")
sin = _structured(T.sin, "sin")
tan = _structured(T.tan, "tan")
arcsin = _structured(T.arcsin, "arcsin")
arctan = _structured(T.arctan, "arctan")
sinh = _structured(T.sinh, "sinh")
tanh = _structured(T.tanh, "tanh")
expm1 = _structured(T.expm1, "expm1")
log1p = _structured(T.log1p, "log1p")
structured_exp = _structured(T.exp, "structured_exp")
structured_log = _structured(T.log, "structured_log")
structured_sigmoid = _structured(T.sigmoid, "structured_sigmoid")

__all__ = ["CSC", "CSR", "SparseVariable", "abs_", "arcsin", "arctan", "asformat", "csc_from_dense", "csc_matrix",
           "csm_data", "csm_properties", "csr_from_dense", "csr_matrix", "dense_from_sparse", "dot", "expm1", "log1p",
           "map", "mul", "neg", "sin", "sinh", "sqr", "sqrt", "structured_dot",
           "structured_exp", "structured_log", "structured_sigmoid", "sum", "tan", "tanh", "todense", "transpose"]
