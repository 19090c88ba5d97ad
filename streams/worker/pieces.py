"""Deterministic pieces of a partition's offsets, so that a redelivered ``reads.json`` range is counted once.

JSON events are taken in batches whose boundaries depend on timing. An aggregate insert is de-duplicated by its
token, so a redelivered range must be cut into exactly the pieces (and tokens) it was cut into the first time.
Before a piece's aggregates are written its range is recorded as a *plan* (``sink_plans``); after a crash or a
rebalance the worker loads the plans from where it resumes and cuts the redelivered offsets along them.

Pure: no I/O. Offsets of one partition arrive in ascending order. A piece once matched is a ``Matched``, what the
sink writes for it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from streams.model.batch import BatchResult
from streams.worker.delivery import Delivery


@dataclass(frozen=True)
class Piece:
    """Offsets ``first``..``last`` (inclusive) of one partition, whose events are ``start``..``stop`` of the input."""

    first: int
    last: int
    start: int
    stop: int
    planned: bool  # an existing plan: nothing to record before writing

    def token(self, topic: str, partition: int) -> str:
        return f"{topic}/{partition}/{self.first}..{self.last}"


class Matched(NamedTuple):
    """A piece matched, its hits and dead letters sent: what the sink writes for it."""

    result: BatchResult
    token: str  # its aggregates' de-duplication token
    seconds: float  # spent matching it
    delivery: Delivery  # its hits and dead letters, confirmed before anything is written


@dataclass
class Plans:
    """The recorded pieces of one partition, sorted by first offset (non-overlapping)."""

    firsts: list[int] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)
    keep: int = 10_000  # enough to cover any redelivery from the last commit; older ones are dropped

    def add(self, first: int, last: int) -> None:
        i = bisect_left(self.firsts, first)
        if i < len(self.firsts) and self.firsts[i] == first:
            return
        self.firsts.insert(i, first)
        self.lasts.insert(i, last)
        if len(self.firsts) > self.keep:
            del self.firsts[: len(self.firsts) - self.keep]
            del self.lasts[: len(self.lasts) - self.keep]

    def covering(self, offset: int) -> tuple[int, int] | None:
        """The plan whose range holds ``offset``, if any."""
        i = bisect_right(self.firsts, offset) - 1
        if i >= 0 and self.lasts[i] >= offset:
            return self.firsts[i], self.lasts[i]
        return None

    def next_first(self, offset: int) -> int | None:
        """The first offset of the earliest plan starting after ``offset``."""
        i = bisect_right(self.firsts, offset)
        return self.firsts[i] if i < len(self.firsts) else None


def cut(offsets: Sequence[int], plans: Plans, complete: bool) -> tuple[list[Piece], int]:
    """Cut ascending ``offsets`` into pieces that follow ``plans``; returns the pieces and how many are cut.

    An offset inside a plan goes into a piece ending at the plan's last offset (and carrying its token).
    Offsets outside every plan form new pieces, which end before the next plan. When the input ends inside a
    plan whose last offset has not arrived, those events are left uncut (held for the next batch) unless
    ``complete`` says no more will come.
    """
    pieces: list[Piece] = []
    i, n = 0, len(offsets)
    while i < n:
        start = offsets[i]
        plan = plans.covering(start)
        if plan is not None:
            j = bisect_right(offsets, plan[1], lo=i)
            if j == n and offsets[-1] < plan[1] and not complete:
                break  # the rest of the planned range is still to come
            pieces.append(Piece(plan[0], plan[1], i, j, True))
            i = j
            continue
        nxt = plans.next_first(start)
        j = n if nxt is None else bisect_left(offsets, nxt, lo=i)
        pieces.append(Piece(start, offsets[j - 1], i, j, False))
        i = j
    return pieces, i
