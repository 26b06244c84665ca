"""Dialects: named groups of ops and types that register themselves.

Each dialect module declares its dialect once, at its end:

    DIALECT = Dialect("mem", "buffers (memrefs), the level that bufferize produces")

The dialect's ops and types are the classes declared under its prefix (an op `mem.alloc`, a type
`!random.state`): declaring a class registers it (OP_REGISTRY, TYPE_REGISTRY), so a module that adds
an op changes nothing else. dialects/registry.py lists the dialect modules and loads them; the parser
resolves `foo.bar` and `!foo.t` through DIALECTS, so an unknown prefix is an error that lists the
known dialects. A test may declare a dialect of its own and `unregister` it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import OP_REGISTRY, Operation
from .types import TYPE_REGISTRY, DialectType

DIALECTS: dict[str, Dialect] = {}


@dataclass(frozen=True)
class Dialect:
    name: str
    summary: str = ""

    def __post_init__(self) -> None:
        if self.name in DIALECTS:
            raise TypeError(f"dialect '{self.name}' declared twice")
        DIALECTS[self.name] = self

    @property
    def ops(self) -> list[type[Operation]]:
        return [cls for name, cls in sorted(OP_REGISTRY.items()) if name.startswith(self.name + ".")]

    @property
    def types(self) -> list[type[DialectType]]:
        return [cls for name, cls in sorted(TYPE_REGISTRY.items()) if name.startswith(self.name + ".")]

    def unregister(self) -> None:
        """Forget this dialect (one a test declared): the parser refuses its prefix again. Its op and type
        classes stay declared, so that a test module may declare them once and the dialect per test."""
        del DIALECTS[self.name]


def unknown_dialect(name: str) -> str:
    """The message for `foo.bar` or `!foo.t` whose prefix is no dialect."""
    prefix = name.lstrip("!").split(".", 1)[0]
    return f"unknown dialect '{prefix}' in '{name}'; known dialects: {', '.join(sorted(DIALECTS))}"
