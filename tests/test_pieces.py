"""Cutting reads.json offsets into recorded pieces: a crash anywhere, a redelivery taken in any other grouping,
and every offset is still counted exactly once (a de-duplication token counts only the first time it is written).

The model of the store and of Kafka's redelivery here is plain Python, independent of ``streams.worker.pieces``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.worker.pieces import Plans, cut


def _run(offsets: list[int], takes: list[int], plans: Plans, recorded: dict, written: dict, stop_after: int | None):
    """Feed ``offsets`` in takes of the given sizes; record plans, then write pieces (until ``stop_after`` writes).

    Returns the offsets acknowledged (written pieces, in order) — a crash can only commit a prefix of those.
    """
    acked: list[int] = []
    held: list[int] = []
    pos = 0
    sizes = iter(takes)
    writes = 0
    while pos < len(offsets) or held:
        size = next(sizes, 7)
        taken = offsets[pos : pos + size]
        pos += len(taken)
        batch = held + taken
        pieces, used = cut(batch, plans, complete=not taken)  # the worker stops waiting when nothing new comes
        held = batch[used:]
        for p in pieces:  # the plans of a take are recorded before any of its aggregates
            if not p.planned:
                plans.add(p.first, p.last)
                recorded[p.first] = p.last
        for p in pieces:
            if stop_after is not None and writes >= stop_after:
                return acked
            token = (p.first, p.last)
            written.setdefault(token, batch[p.start : p.stop])  # the store drops a repeated token
            writes += 1
            acked.extend(batch[p.start : p.stop])
    return acked


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 120),
    takes1=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    takes2=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    stop_after=st.integers(0, 40),
    commit_frac=st.floats(0, 1),
    start=st.integers(0, 10_000),
)
def test_any_crash_and_regrouping_counts_each_offset_once(n, takes1, takes2, stop_after, commit_frac, start):
    offsets = list(range(start, start + n))
    recorded: dict[int, int] = {}
    written: dict[tuple[int, int], list[int]] = {}
    acked = _run(offsets, takes1, Plans(), recorded, written, stop_after)
    # Faust commits some prefix of the acknowledged offsets (it commits contiguous acks only).
    committed = start + int(len(acked) * commit_frac)
    assert acked[: committed - start] == offsets[: committed - start]
    # The next worker loads the recorded pieces that end at or after where it resumes, then takes in its own sizes.
    plans = Plans()
    for first, last in recorded.items():
        if last >= committed:
            plans.add(first, last)
    _run(offsets[committed - start :], takes2, plans, recorded, written, None)
    counted = sorted(o for rows in written.values() for o in rows)
    assert counted == offsets


def test_pieces_follow_a_plan_and_hold_its_unfinished_end():
    plans = Plans()
    plans.add(10, 14)
    pieces, used = cut([8, 9, 10, 11, 12], plans, complete=False)
    assert [(p.first, p.last, p.planned) for p in pieces] == [(8, 9, False)]
    assert used == 2  # 10..12 wait for 13 and 14
    pieces, used = cut([10, 11, 12, 13, 14, 15], plans, complete=False)
    assert [(p.first, p.last, p.planned) for p in pieces] == [(10, 14, True), (15, 15, False)]
    assert used == 6
    pieces, used = cut([12, 13], plans, complete=True)  # resumed inside a plan: same token, the store drops it
    assert [(p.first, p.last, p.token("t", 1)) for p in pieces] == [(10, 14, "t/1/10..14")]
