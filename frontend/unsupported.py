"""What tensorir does not have yet, in one table: using it raises NotSupportedError naming the feature.

`tensorir.jacobian`, `T.nlinalg`, `x.eval()` ... say "<name> is not supported yet (see README)" instead of an
AttributeError on some internal module. A feature that lands deletes its entries here.

    UNSUPPORTED["T"]["nlinalg"]  ->  "T.nlinalg (linear algebra) is not supported yet (see README)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np

from ..ir.core import NotSupportedError

# namespace -> name -> the feature it belongs to
UNSUPPORTED: dict[str, dict[str, str]] = {
    "tensorir": {
        "printing": "pretty-printing", "pp": "pretty-printing",
        "sandbox": "MRG random streams",
    },
    "T": {
        "random": "PyTensor's random variables; use tensorir.RandomStreams",
    },
    "Variable": {"eval": "evaluation without tensorir.function"},
}


def not_supported(what: str, feature: str | None = None) -> NotSupportedError:
    # Not an AttributeError: `from tensorir import shared` must show this message, and Python turns an
    # AttributeError there into "cannot import name".
    return NotSupportedError(f"{what}{f' ({feature})' if feature else ''} is not supported yet (see README)")


def missing_attribute(namespace: str, prefix: str, name: str, public: Iterable[str]) -> Exception:
    """The error for `<prefix><name>` that does not exist: not supported yet when the table (or, for the T
    module, numpy) has the name, else an AttributeError with the closest public names as a hint."""
    feature = UNSUPPORTED.get(namespace, {}).get(name)
    if feature is not None:
        return not_supported(prefix + name, feature)
    if namespace == "T" and not name.startswith("_") and hasattr(np, name):
        return not_supported(prefix + name)
    close = difflib.get_close_matches(name, list(public), n=3)
    hint = f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""
    return AttributeError(f"{prefix}{name} does not exist{hint}")
