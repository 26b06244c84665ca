"""Tiered execution's second tier: the target's pass pipeline and the C compiler run in a background
thread while the reference interpreter answers a function's first calls (frontend/function.py; flag
`tiered`).

A `BackgroundCompile` runs, on a thread of its own, `produce()` (the pass pipeline down to C source),
then `cache.get` (the compiler, through the disk cache and its lock; a subprocess, so the thread holds
no GIL while it waits), then stores the source under the IR's key (cache.store_source) so the next
process skips the passes too. The caller polls `ready()` on each call and, once it is, loads the module
on its own thread. The thread is not a daemon: a process that ends while a compile runs waits for it, so
the module is in the cache and the next process compiles nothing. A child forked while the work runs has
no such thread, and whatever lock that thread held at the fork (an import's, the cache entry's) stays held
in it: the child never takes the compiled tier (`ready()` stays false and `wait()` returns at once) and
its calls keep running on the interpreter.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from . import cache

THREAD_PREFIX = "tensorir-cc-"


def wait_all(timeout: float | None = None) -> bool:
    """Wait for every background compile of this process, at most `timeout` seconds in all (tir-bench times
    how long they take); whether they all ended."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_PREFIX):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
    return True


class BackgroundCompile:
    """The production and compile of one function's C source, started at construction."""

    def __init__(self, produce: Callable[[], str], source_key: str, name_hint: str) -> None:
        self.produce, self.source_key = produce, source_key
        self.source: str | None = None
        self.key: str | None = None
        self.compile_s = 0.0  # the compiler's seconds (cache.stats, which other threads may add to meanwhile)
        self.error: BaseException | None = None
        self._pid = os.getpid()
        self._done = threading.Event()
        self._sourced = threading.Event()  # the source is produced (or production failed)
        self._thread = threading.Thread(target=self._work, name=THREAD_PREFIX + name_hint)
        self._thread.start()

    def _work(self) -> None:
        try:
            self.compile()
        except BaseException as e:  # noqa: BLE001 (re-raised on the caller's thread by the next call)
            self.error = e
        finally:
            self._sourced.set()
            self._done.set()

    def compile(self) -> None:
        if self.source is None:
            self.source = self.produce()
        self._sourced.set()
        self.key = cache.cache_key(self.source)
        before = cache.stats()["compile_s"]
        cache.get(self.source, key=self.key)
        self.compile_s = cache.stats()["compile_s"] - before
        cache.store_source(self.source_key, self.source, self.key)

    def in_child(self) -> bool:
        """Whether this is a process forked while the work ran (where it never ends)."""
        return os.getpid() != self._pid

    def ready(self) -> bool:
        """Whether the work has ended (never, in a forked child)."""
        return self._done.is_set() and not self.in_child()

    def wait_source(self) -> None:
        """Wait for the source (not for its compile)."""
        if not self.in_child():
            self._sourced.wait()

    def wait(self) -> None:
        """Wait for the work (in a forked child: return at once)."""
        if not self.in_child():
            self._done.wait()
