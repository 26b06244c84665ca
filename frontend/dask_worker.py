"""The worker side of `tensorir.dask`: preloaded into each worker of `tensorir.dask.local_cluster` (distributed's
`preload`), and the per-process cache of the functions that block tasks run (any process: a worker of any
cluster, or the client's own under dask's local schedulers).

A worker process may import tensorir before its nanny sets the worker's environment (a spawned process first
imports the parent's `__main__`, which imports tensorir), and tensorir reads `TENSORIR_FLAGS` once, at
import: so the worker's `threads` flag would be lost and its compiled code would take every core, next to
the other workers. `dask_setup` reads the flags again once the worker runs with its environment.

`function(token, data)`: a graph of `tensorir.dask.map_blocks` holds its function once, as its pickled bytes and
their token (frontend/dask_arrays.py `_Shipped`); every block task of the graph references that one value. A
process unpickles the bytes of a token once (parsing the IR and loading the compiled code from the on-disk
cache: milliseconds) and then finds the function by its token, for every task of that graph and of later graphs
of the same function with the same shared values.
"""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any

from ..config import config

if TYPE_CHECKING:
    from .function import Function

CACHED = 32  # functions kept per process, the first unpickled dropped first (each holds its shared values)

functions: dict[str, Function] = {}
_lock = threading.Lock()
stats = {"unpickled": 0}  # functions this process has unpickled for block tasks (tests/test_dask*.py)


def dask_setup(worker: Any) -> None:
    config.load_env()


def function(token: str, data: bytes) -> Function:
    """The function whose pickled bytes `data` have `token`, unpickled once per process."""
    f = functions.get(token)
    if f is not None:
        return f
    with _lock:  # a worker of several threads: one of them unpickles, the others wait for it
        f = functions.get(token)
        if f is None:
            f = pickle.loads(data)
            stats["unpickled"] += 1
            functions[token] = f
            while len(functions) > CACHED:
                del functions[next(iter(functions))]
        return f
