"""Tiered execution's second tier: the C compiler runs in a background thread while the reference
interpreter answers a function's first calls (frontend/function.py; flag `tiered`).

A `BackgroundCompile` runs `cache.get` (the compiler, through the disk cache and its lock) on a thread of
its own; the compiler is a subprocess, so the thread holds no GIL while it waits. The caller polls `ready()`
on each call and, once it is, loads the module on its own thread (importing an extension is not done off
the main thread). The thread is not a daemon: a process that ends while a compile runs waits for it, so
the module is in the cache and the next process compiles nothing. A forked child has no such thread: in
it `ready()` is true at once and the load compiles (or waits for the parent's compile, through the lock).
"""

from __future__ import annotations

import os
import threading

from . import cache


class BackgroundCompile:
    """The compile of one C source (its cache key computed by the caller, which finds the compiler and
    checks the flags, so those errors come at once), started at construction; once built, the source is
    stored under `source_key` too (the IR's key: cache.store_source), so the next process skips the passes."""

    def __init__(self, source: str, key: str, source_key: str, name_hint: str) -> None:
        self.source, self.key, self.source_key = source, key, source_key
        self.error: BaseException | None = None
        self._pid = os.getpid()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"tensorir-cc-{name_hint}")
        self._thread.start()

    def _work(self) -> None:
        try:
            cache.get(self.source, key=self.key)
            cache.store_source(self.source_key, self.source, self.key)
        except BaseException as e:  # noqa: BLE001 (re-raised on the caller's thread by the next call)
            self.error = e
        finally:
            self._done.set()

    def ready(self) -> bool:
        """Whether the compile has ended (or this is a forked child, where it never will)."""
        return self._done.is_set() or os.getpid() != self._pid

    def wait(self) -> None:
        if os.getpid() == self._pid:
            self._done.wait()
