"""Command-line tools: tir-opt (pass debugging), tirc (compile and run .tir files)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable


def cli(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a tool's main: a closed pipe (`tir-opt ... | head`) or Ctrl-C ends it quietly."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except BrokenPipeError:
            # Point stdout at /dev/null so the interpreter's final flush doesn't raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except KeyboardInterrupt:
            return 130

    return wrapper
