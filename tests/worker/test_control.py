"""Control events on a worker (real chDB, real Ed25519 keys, fakes for Kafka): only authentic, authorised events
are applied, each audited with its signed principal; the rest are dead letters with their reason, audited too; a
bad one never stops the worker."""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa
import pytest

from streams import metrics
from streams.clock import ManualClock
from streams.config.secret_files import load_signer, write_control_keypair
from streams.core.signing import ControlSigner
from streams.ingest.holds import place_event, release_event
from streams.ingest.hotlist_events import add_event, clear_event
from streams.ingest.verifications import CHARACTER_CHECK, CHARACTER_CHECK_RULE, outcome_event, verification_event
from streams.model.hold import Hold
from streams.store.holds import list_holds
from tests.support.hotlist import hotlist_entry
from tests.worker.conftest import (
    ADMIN,
    INVESTIGATOR,
    OPERATOR,
    RECORDS_ELSEWHERE,
    SUPERVISOR,
    decoded,
    read,
)
from tests.worker.fakes import FlakyStore, OversizeStore

NEW_PLATE = "5NEW555"
DAY = 86_400_000


def claimed_entry(now: int) -> dict[str, Any]:
    # The entry names someone else as its enterer: not believed, the signed principal is who entered it.
    return hotlist_entry("E9", NEW_PLATE, now, entered_by="someone-else")


def forger(tmp_path) -> ControlSigner:  # noqa: ANN001
    """A signer with a key the worker does not trust."""
    write_control_keypair(tmp_path / "forged.key")
    return load_signer(tmp_path / "forged.key")


def dead_letters(rig) -> list[dict[str, Any]]:  # noqa: ANN001
    return [json.loads(v) for _, v in rig.producer.on("t.deadletter")]


def audit_rows(store, action: str) -> list[dict[str, Any]]:  # noqa: ANN001
    return store.query_arrow(
        "SELECT actor, agency, role, client, reason, decision, rule, detail FROM audit_log "
        f"WHERE action = '{action}' ORDER BY seq"
    ).to_pylist()


def hits_of(rig, clock: ManualClock, *plates: str, token: str = "tok") -> pa.Table:  # noqa: ANN001
    w = rig.worker
    rows = [read(f"r-{token}-{i}", p, clock.now_ms(), camera=f"cam-{token}-{i}") for i, p in enumerate(plates)]
    result = w.process(decoded(rows), "reads.json")
    w.handle(result, token, "reads.json", 0.0, w.publish(result, "reads.json"))
    return result.hits


# --- hot list -------------------------------------------------------------------------------------------------


def test_a_signed_add_is_applied_with_its_principal_and_audited(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    now = clock.now_ms()
    [origin] = rig.feeds.hotlist_source.publish(seal(add_event(claimed_entry(now), now), ADMIN))
    [hit] = hits_of(rig, clock, NEW_PLATE).to_pylist()
    assert hit["entry_id"] == "E9"
    assert rig.worker.live.main.entries.num_rows + rig.worker.live.delta.entries.num_rows == 2
    assert rig.worker.live.delta.entries["entered_by"].to_pylist() == [ADMIN.actor]
    [row] = audit_rows(store, "hotlist.add")  # written by the sink job that followed
    assert (row["actor"], row["agency"], row["role"], row["client"], row["decision"]) == (
        ADMIN.actor, ADMIN.agency, "admin", origin, "applied",
    )  # fmt: skip
    assert NEW_PLATE not in row["detail"] and json.loads(row["detail"]) == {"entry_id": "E9"}
    rig.worker.tick()
    assert len(audit_rows(store, "hotlist.add")) == 1  # once


def test_unsigned_forged_and_forbidden_adds_are_dead_letters_never_applied(
    make_worker, store, clock, seal, tmp_path
) -> None:  # noqa: ANN001
    rig = make_worker()
    now = clock.now_ms()
    event = add_event(claimed_entry(now), now)
    rig.feeds.hotlist_source.publish(
        json.dumps(event).encode(),  # unsigned
        forger(tmp_path).seal(event, ADMIN),  # signed by a key the worker does not trust
        seal(event, OPERATOR),  # authentic, but an operator may not add
    )
    assert len(rig.worker.live) == 1 and hits_of(rig, clock, NEW_PLATE).num_rows == 0
    dead = dead_letters(rig)
    assert [d["reason"] for d in dead] == ["unauthenticated", "unauthenticated", "forbidden"]
    assert {d["source"] for d in dead} == {"hotlist.events"}
    assert not any(NEW_PLATE in d["detail"] for d in dead)
    rows = audit_rows(store, "hotlist.add") + audit_rows(store, "hotlist")
    assert sorted((r["actor"], r["decision"], r["rule"]) for r in rows) == [
        ("anonymous", "rejected", "unauthenticated"),
        ("anonymous", "rejected", "unauthenticated"),
        (OPERATOR.actor, "rejected", "forbidden"),
    ]


def test_a_signed_clear_stops_matching_and_records_who_cleared_and_why(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    now = clock.now_ms()
    feed = rig.feeds.hotlist_source
    feed.publish(seal(add_event(claimed_entry(now), now), ADMIN))
    with_by = {**clear_event("E9", "recovered", now), "by": "dispatch-7"}
    feed.publish(seal(with_by, ADMIN))  # who cleared is the principal, not a field
    assert [d["reason"] for d in dead_letters(rig)] == ["wrong_schema"]
    assert hits_of(rig, clock, NEW_PLATE, token="t1").num_rows == 1
    [origin] = feed.publish(seal(clear_event("E9", "recovered", now), ADMIN))
    assert hits_of(rig, clock, NEW_PLATE, token="t2").num_rows == 0
    rows = [r for r in audit_rows(store, "hotlist.clear") if r["decision"] == "applied"]
    assert [(r["actor"], r["role"], r["reason"], r["client"]) for r in rows] == [
        (ADMIN.actor, "admin", "recovered", origin)
    ]
    assert json.loads(rows[0]["detail"]) == {"entry_id": "E9", "was_active": True}


def test_without_control_keys_every_control_event_is_unauthenticated(make_worker, store, clock, seal, caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.WARNING, logger="streams.worker.worker"):
        rig = make_worker(control_keys_file=None)
    assert sum("PLATESTREAM_CONTROL_KEYS_FILE" in r.getMessage() for r in caplog.records) == 1
    now = clock.now_ms()
    rig.feeds.hotlist_source.publish(seal(add_event(claimed_entry(now), now), ADMIN))
    [hit] = hits_of(rig, clock, "8XYZ999").to_pylist()
    rig.worker.handle_verifications(
        [seal(verification_event(hit["hit_id"], now), OPERATOR)], ["t.verifications/0/0"], "v0"
    )
    rig.feeds.holds_source.publish(seal(place_event(a_hold(now)), SUPERVISOR))
    rig.worker.tick()
    dead = dead_letters(rig)
    assert [(d["source"], d["reason"]) for d in dead] == [
        ("hotlist.events", "unauthenticated"),
        ("verifications", "unauthenticated"),
        ("holds", "unauthenticated"),
    ]
    assert all("PLATESTREAM_CONTROL_KEYS_FILE" in d["detail"] for d in dead)
    assert len(rig.worker.live) == 1 and store.query_arrow("SELECT count() AS n FROM holds")["n"][0].as_py() == 0
    assert store.query_arrow("SELECT count() AS n FROM verifications")["n"][0].as_py() == 0


# --- verifications --------------------------------------------------------------------------------------------


def test_a_verification_is_written_with_its_signed_operator_and_only_for_a_known_hit(
    make_worker, store, clock, seal, tmp_path
) -> None:  # noqa: ANN001
    rig = make_worker()
    [hit] = hits_of(rig, clock, "8XYZ999").to_pylist()
    assert store.query_arrow("SELECT hit_id FROM hits")["hit_id"].to_pylist() == [hit["hit_id"]]
    now = clock.now_ms()
    good = verification_event(hit["hit_id"], now)
    payloads = [
        seal(good, OPERATOR),
        seal(verification_event("no-such-hit", now, "misread"), OPERATOR),
        seal({**good, "operator": "badge-1"}, OPERATOR),  # the operator is the principal
        seal(good, INVESTIGATOR),  # may not verify
        forger(tmp_path).seal(good, OPERATOR),
        json.dumps(good).encode(),
    ]
    origins = [f"t.verifications/0/{i}" for i in range(len(payloads))]
    before = metrics.REGISTRY.get_sample_value(
        "platestream_verifications_total", {"decision": "confirmed", "reason": "none"}
    ) or 0  # fmt: skip
    rig.worker.handle_verifications(payloads, origins, "v0..v5")
    rows = store.query_arrow("SELECT hit_id, decision, operator FROM verifications").to_pylist()
    assert rows == [{"hit_id": hit["hit_id"], "decision": "confirmed", "operator": OPERATOR.actor}]
    assert sorted((d["origin"], d["reason"]) for d in dead_letters(rig)) == [
        ("t.verifications/0/1", "unknown_hit"),
        ("t.verifications/0/2", "wrong_schema"),
        ("t.verifications/0/3", "forbidden"),
        ("t.verifications/0/4", "unauthenticated"),
        ("t.verifications/0/5", "unauthenticated"),
    ]
    after = metrics.REGISTRY.get_sample_value(
        "platestream_verifications_total", {"decision": "confirmed", "reason": "none"}
    )
    assert after == before + 1
    audited = audit_rows(store, "verify")
    assert [(r["actor"], r["role"], r["client"]) for r in audited if r["decision"] == "applied"] == [
        (OPERATOR.actor, "operator", "t.verifications/0/0")
    ]
    assert len(audited) == 6
    rig.worker.handle_verifications(payloads, origins, "v0..v5")  # redelivered: nothing twice
    assert store.query_arrow("SELECT count() AS n FROM verifications")["n"][0].as_py() == 1
    assert len(audit_rows(store, "verify")) == 6


def test_a_verification_the_store_refuses_for_good_is_a_dead_letter_and_the_worker_goes_on(
    make_worker, store, clock, seal
) -> None:  # noqa: ANN001
    rig = make_worker(store=OversizeStore(store, "verifications"))
    [hit] = hits_of(rig, clock, "8XYZ999").to_pylist()
    doc = seal(verification_event(hit["hit_id"], clock.now_ms()), OPERATOR)
    rig.worker.handle_verifications([doc], ["t.verifications/0/0"], "v0")
    [dead] = dead_letters(rig)
    assert dead["reason"] == "store_rejected" and "SYNTAX_ERROR" in dead["detail"] and rig.sleeps == []
    assert rig.worker.store_failing_since_ms is None


def test_dispositions_keep_their_word_and_outcomes_need_a_confirmed_hit(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    [a, b] = hits_of(rig, clock, "8XYZ999", "8XYZ999").to_pylist()
    now = clock.now_ms()

    def handle(*docs: bytes) -> None:
        handle.n = getattr(handle, "n", 0) + len(docs)
        origins = [f"t.verifications/0/{handle.n - len(docs) + i}" for i in range(len(docs))]
        rig.worker.handle_verifications(list(docs), origins, f"v{handle.n}")

    handle(seal(outcome_event(a["hit_id"], "arrest", now), SUPERVISOR))  # 0: nobody confirmed a yet
    handle(
        seal(verification_event(a["hit_id"], now), OPERATOR),  # 1
        seal(verification_event(b["hit_id"], now, "wrong_region"), OPERATOR),  # 2
        seal(verification_event(b["hit_id"], now, "other"), OPERATOR),  # 3: `other` needs its note
    )
    handle(
        seal(outcome_event(a["hit_id"], "vehicle_recovered", now + 1, note="owner called"), SUPERVISOR),  # 4
        seal(outcome_event(b["hit_id"], "arrest", now), OPERATOR),  # 5: b was rejected
        seal(outcome_event(a["hit_id"], "arrest", now), INVESTIGATOR),  # 6: may not record outcomes
    )
    rows = store.query_arrow("SELECT hit_id, decision, reason, disposition FROM verifications").to_pylist()
    assert sorted(tuple(r.values()) for r in rows) == sorted([
        (a["hit_id"], "confirmed", "", "confirmed"),
        (b["hit_id"], "rejected", "wrong_region", "wrong_region"),
    ])  # fmt: skip
    [outcome] = store.query_arrow("SELECT hit_id, outcome, note, recorded_by FROM hit_outcomes").to_pylist()
    assert outcome == {"hit_id": a["hit_id"], "outcome": "vehicle_recovered", "note": "owner called",
                       "recorded_by": SUPERVISOR.actor}  # fmt: skip
    assert sorted((d["origin"], d["reason"]) for d in dead_letters(rig)) == [
        ("t.verifications/0/0", "refused"),
        ("t.verifications/0/3", "wrong_schema"),
        ("t.verifications/0/5", "refused"),
        ("t.verifications/0/6", "forbidden"),
    ]
    applied = [r for r in audit_rows(store, "outcomes.record") if r["decision"] == "applied"]
    assert [(r["actor"], r["role"], r["reason"]) for r in applied] == [(SUPERVISOR.actor, "supervisor", "owner called")]


def test_a_possible_misread_is_confirmed_only_with_every_character_compared(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    doubtful = {**read("r-low", "8XYZ999", clock.now_ms(), camera="cam-low"), "confidence": 41.0}  # a weak read
    result = w.process(decoded([doubtful]), "reads.json")
    w.handle(result, "low", "reads.json", 0.0, w.publish(result, "reads.json"))
    [hit] = result.hits.to_pylist()
    assert hit["verification_required"]
    now = clock.now_ms()
    ticks = verification_event(hit["hit_id"], now)  # the three checks only
    compared = {**ticks, "checks": {**ticks["checks"], CHARACTER_CHECK: True}}
    rig.worker.handle_verifications(
        [seal(ticks, OPERATOR), seal(compared, OPERATOR)], ["t.verifications/0/0", "t.verifications/0/1"], "v0..v1"
    )
    [dead] = dead_letters(rig)
    assert (dead["origin"], dead["reason"]) == ("t.verifications/0/0", "refused")
    assert CHARACTER_CHECK_RULE in dead["detail"]
    rows = store.query_arrow("SELECT hit_id, disposition FROM verifications").to_pylist()
    assert rows == [{"hit_id": hit["hit_id"], "disposition": "confirmed"}]


# --- holds ----------------------------------------------------------------------------------------------------


def a_hold(now: int, hold_id: str = "H1", **change: Any) -> Hold:
    values: dict[str, Any] = {
        "hold_id": hold_id,
        "requested_by": "defence counsel",
        "case_number": "CR-1",
        "reason": "own location data",
        "plate_keys": (),
        "read_ids": ("r-tok-0",),
        "captured_from_ms": now - 60_000,
        "captured_to_ms": now,
        "expires_at_ms": now + 30 * DAY,
        "placed_at_ms": now,
        "order_ref": "PR-17",
    }
    return Hold(**{**values, **change})


def holds(store) -> list[dict[str, Any]]:  # noqa: ANN001
    return list_holds(store).to_pylist()


def test_a_signed_hold_is_placed_with_its_principal_and_bounded_by_the_rules(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    hits_of(rig, clock, "8XYZ999")  # read r-tok-0, a hit
    now = clock.now_ms()
    feed = rig.feeds.holds_source
    feed.publish(
        seal(place_event(a_hold(now)), SUPERVISOR),
        seal(place_event(a_hold(now, "H2", captured_to_ms=now + DAY)), SUPERVISOR),  # the future: surveillance
        seal(place_event(a_hold(now, "H3", expires_at_ms=now + 400 * DAY)), SUPERVISOR),  # over hold_max
        seal(place_event(a_hold(now, "H1", reason="narrowed", read_ids=("x",))), SUPERVISOR),  # same id again
        seal(place_event(a_hold(now, "H4")), OPERATOR),  # may not place holds
    )
    rig.worker.tick()
    [h] = holds(store)
    assert (h["hold_id"], h["placed_by"], h["agency"], h["order_ref"], h["reason"], h["held_reads"]) == (
        "H1", SUPERVISOR.actor, SUPERVISOR.agency, "PR-17", "own location data", 1,
    )  # fmt: skip
    dead = sorted(dead_letters(rig), key=lambda d: d["origin"])
    assert [(d["origin"], d["reason"]) for d in dead] == [
        ("t.holds/0/1", "refused"),
        ("t.holds/0/2", "refused"),
        ("t.holds/0/3", "refused"),
        ("t.holds/0/4", "forbidden"),
    ]
    assert [d["detail"].split(":")[0] for d in dead[:3]] == [
        "capture_window_in_future",
        "hold_too_long",
        "hold_id_reused",
    ]
    audited = audit_rows(store, "holds.place")
    assert sorted((r["decision"], r["rule"]) for r in audited) == [
        ("applied", ""),
        ("rejected", "capture_window_in_future"),
        ("rejected", "forbidden"),
        ("rejected", "hold_id_reused"),
        ("rejected", "hold_too_long"),
    ]
    applied = [r for r in audited if r["decision"] == "applied"][0]
    assert (applied["actor"], applied["role"], applied["client"]) == (SUPERVISOR.actor, "supervisor", "t.holds/0/0")

    # A restart reads the topic again: the placement is the same event, silently a no-op.
    feed.publish(seal(place_event(a_hold(now)), SUPERVISOR), offset=0)
    rig.worker.tick()
    assert len(dead_letters(rig)) == 4 and len(holds(store)) == 1
    assert len(audit_rows(store, "holds.place")) == 5


def test_a_hold_is_released_only_by_its_placing_agencys_supervisor_or_records(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    now = clock.now_ms()
    feed = rig.feeds.holds_source
    feed.publish(seal(place_event(a_hold(now)), SUPERVISOR))
    feed.publish(
        seal(release_event("H1", "case closed", now + 1), RECORDS_ELSEWHERE),  # another agency
        seal(release_event("H1", "case closed", now + 1), INVESTIGATOR),  # no role for it
        seal({**release_event("H1", "case closed", now + 1), "released_by": "clerk"}, SUPERVISOR),
        seal(release_event("H9", "case closed", now + 1), SUPERVISOR),  # no such hold
    )
    rig.worker.tick()
    assert holds(store)[0]["released_at"] is None
    dead = sorted(dead_letters(rig), key=lambda d: d["origin"])
    assert [d["reason"] for d in dead] == ["forbidden", "forbidden", "wrong_schema", "refused"]
    assert dead[0]["detail"].startswith("hold_release_not_allowed: only the placing agency's")
    assert "grants holds.release" in dead[1]["detail"] and "released_by" in dead[2]["detail"]
    assert dead[3]["detail"].startswith("unknown_hold")
    feed.publish(seal(release_event("H1", "case closed", now + 2), SUPERVISOR))
    rig.worker.tick()
    [h] = holds(store)
    assert h["released_at"] is not None and h["released_by"] == SUPERVISOR.actor
    [released] = [r for r in audit_rows(store, "holds.release") if r["decision"] == "applied"]
    assert (released["actor"], released["agency"], released["role"]) == (
        SUPERVISOR.actor,
        SUPERVISOR.agency,
        "supervisor",
    )


def test_a_20000_id_hold_is_applied_without_huge_sql_and_keeps_its_reads(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    hits_of(rig, clock, "8XYZ999", "7ABC123")  # reads r-tok-0, r-tok-1
    now = clock.now_ms()
    ids = tuple(f"r-tok-{i}" for i in range(20_000))
    rig.feeds.holds_source.publish(seal(place_event(a_hold(now, read_ids=ids)), SUPERVISOR))
    rig.worker.tick()
    [h] = holds(store)
    assert h["read_ids"] == 20_000 and h["held_reads"] == 2
    assert dead_letters(rig) == [] and rig.sleeps == []


@pytest.mark.parametrize("failures", [2])
def test_a_hold_the_store_refuses_for_good_is_a_dead_letter_a_transient_failure_is_retried(
    make_worker, store, clock, seal, failures: int
) -> None:  # noqa: ANN001
    oversize = OversizeStore(store, "holds")
    rig = make_worker(store=oversize)
    now = clock.now_ms()
    rig.feeds.holds_source.publish(seal(place_event(a_hold(now)), SUPERVISOR))
    rig.worker.tick()  # the next tick's work (expiry, purge) is done all the same
    [dead] = dead_letters(rig)
    assert dead["reason"] == "store_rejected" and "SYNTAX_ERROR" in dead["detail"]
    assert holds(store) == [] and rig.sleeps == [] and rig.worker.last_purge_ms == now

    flaky = FlakyStore(store, failures=0)
    rig = make_worker(store=flaky)
    rig.feeds.holds_source.publish(seal(place_event(a_hold(now, "H2")), SUPERVISOR))
    flaky.failures = failures
    rig.worker.tick()
    assert [h["hold_id"] for h in holds(store)] == ["H2"] and rig.sleeps == [0.05, 0.1]
