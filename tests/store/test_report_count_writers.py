"""The report-count writers on a real store: a request counted with the same audit id twice is counted once; hold
changes written again are the same rows under FINAL; an expired hold is found once."""

from __future__ import annotations

import time
import uuid

from streams.model.hold import Hold
from streams.store.clickhouse import Store, migrate
from streams.store.holds import place_hold
from streams.store.report_counts import (
    HoldChange,
    RequestCount,
    expired_hold_changes,
    write_hold_changes,
    write_request_count,
)

HOUR = 3_600_000


def test_a_request_counted_twice_with_its_audit_id_counts_once(store: Store) -> None:
    migrate(store)
    now = int(time.time() * 1000)
    count = RequestCount(now, "far-pd", True, "search", "near_scene", "warrant", "theft", "refused", "purpose_refused")
    audit_id = uuid.uuid4().hex
    for _ in range(2):  # a retried insert
        write_request_count(store, count, audit_id, HOUR)
    write_request_count(store, count, uuid.uuid4().hex, HOUR)  # another request
    rows = store.query_arrow(
        f"SELECT sum(requests) AS n FROM request_counts WHERE agency = 'far-pd' AND kind = 'near_scene' "
        f"AND window_start = toDateTime({(now - now % HOUR) // 1000}, 'UTC')"
    ).to_pylist()
    assert rows == [{"n": 2}]


def test_hold_changes_and_expiries_are_counted_once(store: Store) -> None:
    migrate(store)
    now = int(time.time() * 1000)
    hold_id = f"H-{uuid.uuid4().hex[:8]}"
    place_hold(store, Hold(hold_id, "defence", "CR-1", "why", (), ("r1",), now - 10, now - 5, now - 1, now - 2,
                           agency="metro-pd"), version=1)  # fmt: skip
    [expired] = [c for c in expired_hold_changes(store, now) if c.change_id == f"hold:{hold_id}:expired"]
    placed = HoldChange(f"t.holds/0/{hold_id}:placed", now - 2, "metro-pd", "placed")
    for _ in range(2):  # a second worker, or a re-read
        write_hold_changes(store, [placed, expired], HOUR)
    assert not [c for c in expired_hold_changes(store, now) if c.change_id == expired.change_id]
    ids = ", ".join(f"'{c.change_id}'" for c in (placed, expired))
    rows = store.query_arrow(
        f"SELECT change, agency, count() AS n FROM hold_changes FINAL WHERE change_id IN ({ids}) GROUP BY ALL "
        "ORDER BY change"
    ).to_pylist()
    assert rows == [{"change": "expired", "agency": "metro-pd", "n": 1}, {"change": "placed", "agency": "metro-pd",
                                                                          "n": 1}]  # fmt: skip
