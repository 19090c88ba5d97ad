"""Snapshots and expiry caps on the live list (no broker; the running worker is tests/integration)."""

from __future__ import annotations

import json

import pyarrow as pa

from streams.config.settings import load_policy
from streams.core.live_hotlist import LiveHotList, SnapshotPart
from streams.ingest.hotlist_events import SNAPSHOT_PART_BYTES, snapshot_events
from streams.model.hotlist import FULL_ENTRY_SCHEMA
from tests.support.hotlist import DAY, hotlist_entry

NOW = 1_790_000_000_000
SRC = "ncic_extract"


def entries(ids: list[str], **fields) -> pa.Table:
    rows = [
        {**hotlist_entry(i, f"7ABC{n:03d}", NOW, source=SRC, **fields), "added_at": NOW - 1000}
        for n, i in enumerate(ids)
    ]
    return pa.Table.from_pylist(
        [{k: r.get(k) for k in FULL_ENTRY_SCHEMA.names} for r in rows],
        schema=pa.schema([f.with_type(pa.int64()) if pa.types.is_timestamp(f.type) else f for f in FULL_ENTRY_SCHEMA]),
    ).cast(FULL_ENTRY_SCHEMA)


def part(ids: tuple[str, ...], snap: str, n: int = 0, parts: int = 1, total: int | None = None, **kw) -> SnapshotPart:
    return SnapshotPart(SRC, snap, n, parts, ids, len(ids) if total is None else total, 0.5, kw.get("ok", False), NOW)


def active_ids(live: LiveHotList) -> set[str]:
    return {i for s in live.segments for i, a in zip(s.entries["entry_id"].to_pylist(), s.active, strict=True) if a}


def test_a_snapshot_clears_what_it_no_longer_lists() -> None:
    live = LiveHotList(load_policy())
    live.add(entries(["A", "B", "C"]), NOW)
    first = live.snapshot(part(("A", "B", "C"), "s1"))
    assert first is not None and first.status == "applied" and first.cleared == ()
    second = live.snapshot(part(("A", "B"), "s2"))
    assert second.status == "applied" and second.cleared == ("C",) and second.previous == 3
    assert active_ids(live) == {"A", "B"}
    assert live.last_sync_ms[SRC] == NOW  # a snapshot is the source's refresh


def test_parts_in_any_order_and_only_entries_added_before_the_snapshot() -> None:
    live = LiveHotList(load_policy())
    live.add(entries(["A", "B", "C"]), NOW)
    late = entries(["D"])
    live.add(
        late.set_column(
            late.schema.get_field_index("added_at"),
            "added_at",
            pa.array([NOW + 5], pa.int64()).cast(FULL_ENTRY_SCHEMA.field("added_at").type),
        ),
        NOW,
    )
    assert live.snapshot(part(("B",), "s1", n=1, parts=2, total=2)) is None  # waits for its other part
    done = live.snapshot(part(("A",), "s1", n=0, parts=2, total=2))
    assert done.cleared == ("C",) and active_ids(live) == {"A", "B", "D"}  # D came after the snapshot


def test_a_truncated_snapshot_is_held_until_confirmed() -> None:
    live = LiveHotList(load_policy())
    ids = [f"E{i}" for i in range(10)]
    live.add(entries(ids), NOW)
    live.snapshot(part(tuple(ids), "s1"))
    held = live.snapshot(part(("E0", "E1", "E2"), "s2"))
    assert held.status == "held" and held.cleared == () and len(live) == 10
    confirmed = live.snapshot(part(("E0", "E1", "E2"), "s3", ok=True))
    assert confirmed.status == "applied" and len(confirmed.cleared) == 7 and len(live) == 3


def test_an_expiry_beyond_the_maximum_is_admitted_capped() -> None:
    live = LiveHotList(load_policy())  # stolen_vehicle: max 30 days
    adm = live.add(entries(["A"], expires_at=NOW + 90 * DAY), NOW)
    assert adm.refused.num_rows == 0 and live.capped == 1
    row = adm.admitted.to_pylist()[0]
    assert int(row["expires_at"].timestamp() * 1000) == NOW - DAY + 30 * DAY  # valid_from + 30 days
    assert row["expiry_rule"].startswith("expiry_capped: 30 days for stolen_vehicle (given ")
    assert row["capped"] is True


def test_snapshot_events_fit_a_kafka_message() -> None:
    ids = [f"ncic_extract:V{i:09d}" for i in range(60_000)]
    events = snapshot_events(SRC, "s1", ids, 0.5, False, NOW)
    assert len(events) > 1 and {e["parts"] for _, e in events} == {len(events)}
    assert all(len(json.dumps(e)) < SNAPSHOT_PART_BYTES * 1.1 for _, e in events)
    assert [i for _, e in events for i in e["entry_ids"]] == ids
    assert [k for k, _ in events][:2] == ["snapshot:ncic_extract:0", "snapshot:ncic_extract:1"]
