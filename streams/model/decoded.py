"""What wire bytes decode into: a table of reads, a table of camera heartbeats, and the dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from streams.model.deadletter import DeadLetter
from streams.model.read import READ_SCHEMA

__all__ = ["Decoded", "empty_reads"]


@dataclass
class Decoded:
    """What one or more messages decoded into."""

    reads: pa.Table
    heartbeats: pa.Table
    dead: list[DeadLetter] = field(default_factory=list)
    # for each read row: the origin of its message (to point a row-level dead letter at its source)
    origins: list[str] = field(default_factory=list)


def empty_reads() -> pa.Table:
    return READ_SCHEMA.empty_table()
