"""The dialect modules: importing one declares its Dialect (ir/dialect.py), its ops and its types.

A new dialect is one module in dialects/ that ends with `DIALECT = Dialect("name", "summary")`, plus
its name here; the parser and the tools know it from then on.
"""

from __future__ import annotations

import importlib

DIALECT_MODULES: tuple[str, ...] = ("builtin", "func", "tensor", "scalar", "mem", "loop", "lib", "kernel", "random",
                                    "extern", "sparse")


def load_dialects() -> None:
    """Import every dialect module (a no-op after the first call: Python caches the modules)."""
    for name in DIALECT_MODULES:
        importlib.import_module(f"{__package__}.{name}")
