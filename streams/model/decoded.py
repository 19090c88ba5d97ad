"""What wire bytes decode into: a table of reads, a table of camera heartbeats, and the dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from streams.model.deadletter import DeadLetter
from streams.model.read import READ_SCHEMA

__all__ = ["Decoded", "concat_decoded", "empty_reads"]


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


def concat_decoded(parts: list[Decoded]) -> Decoded:
    """Several messages' decodings as one, in order."""
    if len(parts) == 1:
        return parts[0]
    return Decoded(
        # A dead-only message's empty table declares its columns not null; decoded ones may hold nulls.
        pa.concat_tables([p.reads for p in parts], promote_options="default"),
        pa.concat_tables([p.heartbeats for p in parts], promote_options="default"),
        [d for p in parts for d in p.dead],
        [o for p in parts for o in p.origins],
    )
