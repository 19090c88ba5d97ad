"""The report's aggregates as a worker writes them (real chDB, real Ed25519 keys, fakes for Kafka): hit_counts by
list, verification_counts, outcome_counts and hold_changes are right after a batch, unchanged when the same events
are read again (the same batch, cut differently, or by a new worker on the same store after a restart), and carry
no plate and no read id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams.clock import ManualClock
from streams.ingest.holds import place_event, release_event
from streams.ingest.verifications import outcome_event, verification_event
from streams.store.clickhouse import Store
from tests.worker.conftest import HOT_PLATE, OPERATOR, RECORDS_ELSEWHERE, SUPERVISOR, decoded, read
from tests.worker.test_control import DAY, a_hold

MINUTE = 60_000


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    return store.query_arrow(sql).to_pylist()


def no_plate_or_read_id(store: Store, table: str, read_ids: list[str]) -> None:
    text = str(rows(store, f"SELECT * FROM {table}"))
    assert HOT_PLATE not in text and not any(r in text for r in read_ids), f"{table} names a plate or a read"


def hits(rig, clock: ManualClock, n: int, token: str = "tok") -> list[dict[str, Any]]:  # noqa: ANN001
    """``n`` reads of the hot plate at different cameras, through process and handle: ``n`` hits."""
    w = rig.worker
    batch = [read(f"r-{token}-{i}", HOT_PLATE, clock.now_ms(), camera=f"cam-{i}") for i in range(n)]
    result = w.process(decoded(batch), "reads.json")
    w.handle(result, token, "reads.json", 0.0, w.publish(result, "reads.json"))
    return result.hits.to_pylist()


def hour_of(ms: int) -> int:
    return ms - ms % 3_600_000


# --- hit_counts -----------------------------------------------------------------------------------------------


def test_hit_counts_carry_the_entrys_list_source_and_a_redelivered_batch_changes_nothing(
    make_worker, store, clock
) -> None:  # noqa: ANN001
    batch = [read(f"r{i}", HOT_PLATE, clock.now_ms(), camera=f"cam-{i % 2}") for i in range(3)]
    for _ in range(2):  # a restart: a new worker (fresh state) reads the same batch, the same offsets, again
        w = make_worker().worker
        result = w.process(decoded(batch), "reads.json")
        for _ in range(2):  # its sink redelivered: the same token
            w.handle(result, "t.reads.json/0/0-2", "reads.json", 0.0, w.publish(result, "reads.json"))
    counted = rows(store, "SELECT camera_id, reason, match_kind, list_source, sum(hits) AS hits FROM hit_counts "
                          "GROUP BY ALL ORDER BY ALL")  # fmt: skip
    assert counted == [
        {"camera_id": f"cam-{i}", "reason": "arrest_warrant", "match_kind": "exact", "list_source": "ncic_extract",
         "hits": 1} for i in (0, 1)
    ]  # fmt: skip
    no_plate_or_read_id(store, "hit_counts", ["r0", "r1", "r2"])


# --- verification_counts and outcome_counts -------------------------------------------------------------------


@pytest.fixture
def post(seal) -> Callable[..., tuple[list[bytes], list[str]]]:  # noqa: ANN001
    """``post(worker, (event, principal, offset), ...)``: handle the sealed events as one batch of the verifications
    topic at those offsets; returns (payloads, origins)."""

    def handle(worker, *items: tuple[dict, Any, int]) -> tuple[list[bytes], list[str]]:  # noqa: ANN001
        payloads = [seal(event, who) for event, who, _ in items]
        origins = [f"t.verifications/0/{offset}" for _, _, offset in items]
        worker.handle_verifications(payloads, origins, f"{origins[0]}..{origins[-1]}")
        return payloads, origins

    return handle


VERIFICATION_SQL = (
    "SELECT toUnixTimestamp(window_start) * 1000 AS window_ms, camera_id, list_source, reason, match_kind, "
    "disposition, delay_bucket, sum(verifications) AS n, sum(delay_seconds_sum) AS delay "
    "FROM verification_counts GROUP BY ALL ORDER BY ALL"
)
OUTCOME_SQL = (
    "SELECT toUnixTimestamp(window_start) * 1000 AS window_ms, camera_id, list_source, reason, match_kind, outcome, "
    "sum(outcomes) AS n "
    "FROM outcome_counts GROUP BY ALL ORDER BY ALL"
)


def test_the_first_disposition_of_a_hit_counts_once_by_its_capture_hour_camera_list_and_delay(
    make_worker, store, clock, post
) -> None:  # noqa: ANN001
    rig = make_worker()
    a, b = hits(rig, clock, 2)
    captured = clock.now_ms()
    events = [
        (verification_event(a["hit_id"], captured + 90_000), OPERATOR, 0),  # 90 s after capture
        (verification_event(b["hit_id"], captured + 2 * 3_600_000, "misread"), OPERATOR, 1),  # 2 h after
    ]
    post(rig.worker, *events)
    window = hour_of(captured)
    expected = [
        {"window_ms": window, "camera_id": "cam-0", "list_source": "ncic_extract", "reason": "arrest_warrant",
         "match_kind": "exact", "disposition": "confirmed", "delay_bucket": "1m_5m", "n": 1, "delay": 90.0},
        {"window_ms": window, "camera_id": "cam-1", "list_source": "ncic_extract", "reason": "arrest_warrant",
         "match_kind": "exact", "disposition": "misread", "delay_bucket": "1h_1d", "n": 1, "delay": 7200.0},
    ]  # fmt: skip
    assert rows(store, VERIFICATION_SQL) == expected

    post(rig.worker, *events)  # the same batch again
    post(rig.worker, events[1])  # cut differently: one event alone
    post(rig.worker, events[0])
    assert rows(store, VERIFICATION_SQL) == expected

    # A correction: stored as the hit's latest disposition, but the first is what counts (docs/aggregates.md).
    post(rig.worker, (verification_event(a["hit_id"], captured + 10 * MINUTE, "vehicle_mismatch"), OPERATOR, 2))
    latest = rows(store, "SELECT argMax(disposition, decided_at) AS d FROM verifications "
                         f"WHERE hit_id = '{a['hit_id']}'")  # fmt: skip
    assert latest == [{"d": "vehicle_mismatch"}]
    assert rows(store, VERIFICATION_SQL) == expected

    # A restart: a new worker on the same store reads every event again, in one batch.
    again = make_worker()
    post(again.worker, *events, (verification_event(a["hit_id"], captured + 10 * MINUTE, "vehicle_mismatch"),
                                 OPERATOR, 2))  # fmt: skip
    assert rows(store, VERIFICATION_SQL) == expected
    no_plate_or_read_id(store, "verification_counts", [a["read_id"], b["read_id"]])


def test_a_decision_stamped_before_one_already_counted_does_not_count_the_hit_twice(
    make_worker, store, clock, post
) -> None:  # noqa: ANN001
    rig = make_worker()
    [a] = hits(rig, clock, 1)
    now = clock.now_ms()
    post(rig.worker, (verification_event(a["hit_id"], now + MINUTE), OPERATOR, 0))
    post(rig.worker, (verification_event(a["hit_id"], now + 1, "misread"), OPERATOR, 1))  # another API's clock
    assert [r["n"] for r in rows(store, VERIFICATION_SQL)] == [1]


def test_one_outcome_counts_per_confirmed_hit_the_first_recorded(make_worker, store, clock, post) -> None:  # noqa: ANN001
    rig = make_worker()
    a, b = hits(rig, clock, 2)
    now = clock.now_ms()
    first = [
        (verification_event(a["hit_id"], now + MINUTE), OPERATOR, 0),
        (outcome_event(a["hit_id"], "arrest", now + 2 * MINUTE), SUPERVISOR, 1),  # with its confirmation
        (outcome_event(b["hit_id"], "arrest", now + 2 * MINUTE), SUPERVISOR, 2),  # b is not confirmed: refused
    ]
    post(rig.worker, *first)
    window = hour_of(now)
    expected = [
        {"window_ms": window, "camera_id": "cam-0", "list_source": "ncic_extract", "reason": "arrest_warrant",
         "match_kind": "exact", "outcome": "arrest", "n": 1}
    ]  # fmt: skip
    assert rows(store, OUTCOME_SQL) == expected

    later = (outcome_event(a["hit_id"], "wrongful_stop", now + DAY), SUPERVISOR, 3)
    post(rig.worker, later)  # stored, as what came of it later, but the hit's outcome counted already
    stored = rows(store, f"SELECT outcome FROM hit_outcomes WHERE hit_id = '{a['hit_id']}' ORDER BY recorded_at")
    assert [r["outcome"] for r in stored] == ["arrest", "wrongful_stop"]
    assert rows(store, OUTCOME_SQL) == expected

    post(rig.worker, *first)  # redelivered
    again = make_worker()  # restarted, reading everything again
    post(again.worker, *first, later)
    assert rows(store, OUTCOME_SQL) == expected
    assert [r["n"] for r in rows(store, VERIFICATION_SQL)] == [1]
    no_plate_or_read_id(store, "outcome_counts", [a["read_id"], b["read_id"]])


# --- hold_changes ---------------------------------------------------------------------------------------------

HOLD_SQL = "SELECT agency, change, rule, count() AS n FROM hold_changes FINAL GROUP BY ALL ORDER BY ALL"


def test_hold_changes_count_placed_refused_released_and_expired_once_each(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    hits(rig, clock, 1)  # read r-tok-0
    now = clock.now_ms()
    envelopes = [
        seal(place_event(a_hold(now)), SUPERVISOR),  # 0 placed
        seal(place_event(a_hold(now, "H2", captured_to_ms=now + DAY)), SUPERVISOR),  # 1 refused: future window
        seal(place_event(a_hold(now, "H3", expires_at_ms=now + 10_000)), SUPERVISOR),  # 2 placed, expires soon
        seal(release_event("H1", "case closed", now + 1), RECORDS_ELSEWHERE),  # 3 refused: another agency
        seal(release_event("H1", "case closed", now + 2), SUPERVISOR),  # 4 released
        b"not an envelope",  # 5 a dead letter, nobody's hold change
    ]
    feed = rig.feeds.holds_source
    feed.publish(*envelopes)
    rig.worker.tick()
    expected = [
        {"agency": "county-so", "change": "refused", "rule": "hold_release_not_allowed", "n": 1},
        {"agency": "metro-pd", "change": "placed", "rule": "", "n": 2},
        {"agency": "metro-pd", "change": "refused", "rule": "capture_window_in_future", "n": 1},
        {"agency": "metro-pd", "change": "released", "rule": "", "n": 1},
    ]
    assert rows(store, HOLD_SQL) == expected

    clock.advance(20_000)  # H3 runs out
    rig.worker.tick()
    rig.worker.tick()
    expired = {"agency": "metro-pd", "change": "expired", "rule": "", "n": 1}
    assert rows(store, HOLD_SQL) == sorted([*expected, expired], key=lambda r: tuple(r.values()))

    feed.publish(*envelopes, offset=0)  # read again
    rig.worker.tick()
    restarted = make_worker()  # a new worker on the same store reads the whole topic again
    restarted.feeds.holds_source.publish(*envelopes)
    restarted.worker.tick()
    assert rows(store, HOLD_SQL) == sorted([*expected, expired], key=lambda r: tuple(r.values()))
    windows = rows(store, "SELECT DISTINCT change, toUnixTimestamp(window_start) * 1000 AS w FROM hold_changes "
                          "ORDER BY change")  # fmt: skip
    assert {r["change"]: r["w"] for r in windows} == {
        "expired": hour_of(now + 10_000), "placed": hour_of(now), "refused": hour_of(now), "released": hour_of(now),
    }  # fmt: skip
    no_plate_or_read_id(store, "hold_changes", ["r-tok-0"])
