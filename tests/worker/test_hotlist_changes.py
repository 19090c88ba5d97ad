"""hotlist_changes: what the hot list's events changed, counted once whichever worker saw them and however often
(docs/aggregates.md): adds, refusals with their rule, capped expiries, clears, snapshot clears, expiries."""

from __future__ import annotations

from streams.ingest.hotlist_events import add_event, clear_event, snapshot_events
from tests.support.hotlist import hotlist_entry
from tests.worker.conftest import ADMIN

DAY = 86_400_000


def changes(store) -> list[tuple[str, str, str, str, int]]:  # noqa: ANN001
    rows = store.query_arrow(
        "SELECT change, source, reason, rule, count() AS n FROM hotlist_changes FINAL "
        "GROUP BY change, source, reason, rule ORDER BY change, source, reason, rule"
    ).to_pylist()
    return [(r["change"], r["source"], r["reason"], r["rule"], r["n"]) for r in rows]


def events(now: int) -> list[dict]:
    adds = [
        add_event(hotlist_entry("A1", "7ABC123", now, source="ncic"), now),
        add_event(hotlist_entry("A2", "8DEF456", now, source="ncic"), now),
        add_event(hotlist_entry("A3", "9GHI789", now, source="ncic", expires_at=now + 90 * DAY), now),  # capped
        add_event(hotlist_entry("A4", "1JKL012", now, source="local", expires_at=now + DAY // 2), now),  # expires
        add_event(hotlist_entry("A5", "2MNO345", now, source="local", legal_basis_type=None), now),  # refused
    ]
    clear = clear_event("A2", "recovered", now + 1)
    # The next ncic extract lists A3 only: A1 is gone from the source.
    [(_, snap)] = snapshot_events("ncic", "s2", ["ncic:A3", "A3"], hold_below=0.0, confirmed=True, at_ms=now + 2)
    return [*adds, clear, snap]


def test_each_change_is_counted_once_across_redelivery_and_a_second_worker(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    now = clock.now_ms()
    docs = [seal(e, ADMIN) for e in events(now)]
    first = make_worker()
    first.feeds.hotlist_source.publish(*docs)
    clock.advance(DAY)  # past A4's expiry
    first.worker.tick()
    expected = [
        ("added", "local", "stolen_vehicle", "", 1),
        ("added", "ncic", "stolen_vehicle", "", 3),
        ("cleared", "ncic", "recovered", "", 1),
        ("cleared_by_snapshot", "ncic", "stolen_vehicle", "", 1),
        ("expired", "local", "stolen_vehicle", "", 1),
        ("expiry_capped", "ncic", "stolen_vehicle", "", 1),
    ]
    got = changes(store)
    refused = [c for c in got if c[0] == "refused"]
    assert [c for c in got if c[0] != "refused"] == expected
    assert len(refused) == 1 and refused[0][1:3] == ("local", "stolen_vehicle") and refused[0][3]
    first.worker.tick()  # nothing new: nothing more
    assert changes(store) == got
    second = make_worker()  # another worker (or a restart) reads the same events from the topic's start
    second.feeds.hotlist_source.publish(*docs)
    second.worker.tick()
    assert changes(store) == got
    plates = store.query_arrow("SELECT * FROM hotlist_changes").to_pylist()
    assert not any(p in str(plates) for p in ("7ABC123", "8DEF456", "A1", "A2"))
