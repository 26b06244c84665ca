"""The `random` dialect: the state of a counter-based random generator (issue 11, random streams).

    !random.state     an opaque Philox-4x32 generator state: a 2x32-bit key and a 4x32-bit counter

It declares the type only; the ops that draw numbers and advance the state come with RandomStreams.
"""

from __future__ import annotations

from ..ir.dialect import Dialect
from ..ir.types import DialectType


class StateType(DialectType):
    """`!random.state`: a Philox-4x32 key and counter (no parameters)."""

    name = "random.state"


DIALECT = Dialect("random", "random generator state (Philox-4x32 key and counter)")
