"""tensorir: define, optimize and evaluate array expressions through an MLIR-style IR (Theano, rebuilt).

    import tensorir
    from tensorir import tensor as T

    x = T.dmatrix("x")
    f = tensorir.function([x], 1 / (1 + T.exp(-x)))
    f([[0.0, 1.0], [-1.0, -2.0]])

`tensorir.config` holds the flags (env `TENSORIR_FLAGS`, see config.py).
"""

from __future__ import annotations

import sys as _sys
from typing import Any as _Any

from tensorir import sparse  # csr/csc matrices, Theano's theano.sparse

# Absolute imports: pytest collects the repository root (this file) as a package named after the
# checkout's folder, or as a bare `__init__` module when that name is not an identifier
# (`tensorir-main`); relative imports would fail there, absolute ones resolve the installed package.
# Modules that read flags at import import tensorir.config themselves (sparse, first here, does too).
from tensorir.config import config  # noqa: I001  (the object replaces the submodule attribute `tensorir.config`)
from tensorir.frontend import dask_arrays as dask  # tensorir.dask: imports dask itself only when used
from tensorir.frontend import linalg
from tensorir.frontend import random as _random_streams
from tensorir.frontend import tensor_api as tensor
from tensorir.frontend.extern import as_op, extern_c
from tensorir.frontend.function import Function, In, function
from tensorir.frontend.random import RandomStreams
from tensorir.frontend.scan import scan, until
from tensorir.frontend.shared import SharedVariable, shared
from tensorir.frontend.symbolic import Constant, Variable
from tensorir.frontend.tensor_api import ifelse
from tensorir.frontend.unsupported import missing_attribute as _missing_attribute
from tensorir.gradient import Lop, Rop, grad, hessian, jacobian
from tensorir.ir.core import DisconnectedInputError, NotSupportedError, TirError, TirTypeError, TirValueError

# `import tensorir.tensor as T` works too (there is no tensor.py: the module object lives in frontend/).
_sys.modules[__name__ + ".tensor"] = tensor
_sys.modules[__name__ + ".dask"] = dask
# Theano's `T.shared_randomstreams.RandomStreams` (frontend/random.py).
tensor.shared_randomstreams = _random_streams
_sys.modules[__name__ + ".tensor.shared_randomstreams"] = _random_streams
# numpy.linalg's functions: `tensorir.linalg`, and Theano's `T.nlinalg` / `T.slinalg` (`T.linalg` too).
_sys.modules[__name__ + ".linalg"] = linalg
tensor.nlinalg = tensor.slinalg = tensor.linalg = linalg  # type: ignore[attr-defined]

__version__ = "0.1.0"

__all__ = ["Constant", "DisconnectedInputError", "Function", "In", "Lop", "NotSupportedError", "RandomStreams", "Rop",
           "SharedVariable", "TirError", "TirTypeError", "TirValueError", "Variable", "as_op", "config", "dask",
           "extern_c", "function", "grad", "gradient", "hessian", "ifelse", "jacobian", "linalg", "scan", "shared",
           "sparse", "tensor", "until"]


def __getattr__(name: str) -> _Any:
    # Theano's names that are not built yet (jacobian, shared, scan ...) say so (frontend/unsupported.py).
    raise _missing_attribute("tensorir", "tensorir.", name, __all__)
