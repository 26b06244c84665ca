"""Preloaded into each worker of `tensorir.dask.local_cluster` (distributed's `preload`).

A worker process may import tensorir before its nanny sets the worker's environment (a spawned process first
imports the parent's `__main__`, which imports tensorir), and tensorir reads `TENSORIR_FLAGS` once, at
import: so the worker's `threads` flag would be lost and its compiled code would take every core, next to
the other workers. `dask_setup` reads the flags again once the worker runs with its environment.
"""

from __future__ import annotations

from typing import Any

from ..config import config


def dask_setup(worker: Any) -> None:
    config.load_env()
