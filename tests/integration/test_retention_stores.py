"""Retention across every store on the real stack: a real broker, a real worker, its embedded ClickHouse.

With a policy of seconds: reads go in, the limit passes, and `platestream retention verify` finds nothing left
anywhere (Kafka topics, processor state, the worker's store) except the reads a preservation hold covers, which
are still searchable. With the purge job off, the same verifier catches the leftovers. Under `hit_only`, no
non-hit read is stored anywhere. Expected reads come from the test's own input, not from the pipeline.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from streams.config.settings import load_settings
from streams.core.pseudonym import PlateKeys
from streams.core.signing import ControlSigner
from streams.ingest.holds import place_event
from streams.kafka.producer import make_producer, send_reads
from streams.model.audit import AuditEntry
from streams.model.hold import Hold
from streams.model.read import READ_SCHEMA
from streams.model.search import SearchRequest
from streams.store.clickhouse import open_store
from streams.store.holds import list_holds
from streams.store.search import plate_pseudonyms, search
from tests.integration.helpers import (
    SUPERVISOR,
    cli,
    health,
    metric,
    publish,
    settings_for,
    signed,
    start_worker,
    stop_worker,
    wait_for,
    with_control_keys,
)

pytestmark = pytest.mark.integration

# Non-hit reads 5 s, hit reads and hits 8 s; the rest a day. The worker ticks every second and purges on every
# tick (a tenth of 5 s, at least 0.5 s); the local broker checks retention every 5 s.
SHORT = """source: integration test, not a real policy
non_hit_reads: 5
hit_reads: 8
hits: 8
verifications: 8
aggregates: 86400
audit: 86400
"""
KEYS = "k1:00112233445566778899aabbccddeeff"
HOT = "8XYZ999"  # on the hot list: its read is a hit read
HELD = "5HOLD55"  # a non-hit plate a hold covers
PLAIN = ["1AAA111", "2BBB222", "3CCC333"]  # non-hit reads nobody asked about


def _hotlist(path: Path) -> Path:
    path.write_text(
        "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"
        f"{HOT},CA,PC,arrest_warrant,,W-2026-17,2026-01-01,2099-01-01\n"
    )
    return path


def _reads(prefix: str, now: int) -> pa.Table:
    plates = [HOT, HELD, HELD, *PLAIN]
    rows = [
        {
            "read_id": f"{prefix}{i}",
            "camera_id": f"cam-{i}",  # a camera each: no read is a duplicate of another
            "captured_at": now,
            "plate": p,
            "region": "CA",
            "confidence": 95.0,
        }
        for i, p in enumerate(plates)
    ]
    return pa.Table.from_pylist([{k: r.get(k) for k in READ_SCHEMA.names} for r in rows], schema=READ_SCHEMA)


def _search(env: dict[str, str], plate: str) -> list[dict]:
    """The gated search over the worker's own embedded store, run here once the worker has stopped (an embedded
    store is open in one process; a deployment searches through the API over a ClickHouse server)."""
    settings = load_settings(
        chdb_path=env["PLATESTREAM_CHDB_PATH"], retention=env["PLATESTREAM_RETENTION"], plate_keys=KEYS
    )
    store = open_store(None, settings.chdb_path)
    who = AuditEntry(0, "search", "badge-7@metro-pd", agency="metro-pd", role="investigator")
    try:
        req = SearchRequest(reason="integration test", case_number="CR-1", plates=(plate,))
        return search(store, settings.load_plate_keys(), settings.retention_policy(), req, who).to_pylist()
    finally:
        store.close()


def _env(worker_env: dict[str, str], tmp_path: Path, retention: str) -> dict[str, str]:
    return dict(
        worker_env,
        PLATESTREAM_RETENTION=retention,
        PLATESTREAM_HOTLIST_PATH=str(_hotlist(tmp_path / "hotlist.csv")),
        PLATESTREAM_PLATE_KEYS=KEYS,
        PLATESTREAM_TICK_S="1",
        PLATESTREAM_PURGE_INTERVAL_S="1",
    )


def _send(env: dict[str, str], prefix: str) -> int:
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    producer = make_producer(settings, **{"linger.ms": 0})
    now = int(time.time() * 1000)
    before = metric(env, "platestream_reads_total")
    reads = _reads(prefix, now)
    send_reads(producer, settings, reads, 3)
    assert producer.flush(30) == 0
    wait_for(lambda: metric(env, "platestream_reads_total") >= before + reads.num_rows, 60, "the reads processed")
    return now


def _verify(env: dict[str, str]) -> tuple[int, str]:
    res = cli(env, "retention", "verify", "--worker", f"http://127.0.0.1:{env['PLATESTREAM_WEB_PORT']}", timeout=120)
    return res.returncode, res.stdout + res.stderr


def _place_hold(env: dict[str, str], signer: ControlSigner) -> None:
    """A signed hold (as the API places it) on HELD's reads captured until now."""
    settings = settings_for(env)
    now = int(time.time() * 1000)
    hold = Hold(
        hold_id="hold-1",
        requested_by="defence counsel",
        case_number="CR-2026-1",
        reason="defendant's request for their own location data",
        plate_keys=tuple(plate_pseudonyms([HELD], PlateKeys.parse(KEYS))),
        read_ids=(),
        captured_from_ms=now - 3_600_000,
        captured_to_ms=now,  # preservation keeps what exists
        expires_at_ms=now + 86_400_000,
        placed_at_ms=now,
        order_ref="PR-2026-1",
    )
    producer = make_producer(settings, **{"linger.ms": 0})
    publish(producer, f"{settings.topic_prefix}holds", hold.hold_id, signed(signer, place_event(hold), SUPERVISOR))


def test_every_store_keeps_the_limit_except_what_a_hold_covers(worker_env, tmp_path):
    policy = tmp_path / "short.yaml"
    policy.write_text(SHORT)
    env, signer = with_control_keys(_env(worker_env, tmp_path, str(policy)), tmp_path / "keys")
    assert cli(env, "topics", "create").returncode == 0
    worker = start_worker(env)
    try:
        assert health(env)["read_store"] == "all"
        # The reads first, then the hold (it keeps what exists, never reads of the future); each purge copies what
        # a hold covers before it deletes anything, and the 5 s limit leaves a few ticks for the hold to arrive.
        captured = _send(env, "a")
        _place_hold(env, signer)
        wait_for(lambda: health(env)["holds_events"] >= 1, 30, "the hold to reach the worker")

        # past every limit (hits 8 s) and the broker's bound (+5 s check) and a purge
        time.sleep(max(0.0, captured / 1000 + 8 + 5 + 2 - time.time()))
        wait_for(lambda: _verify(env)[0] == 0, 40, "the verifier to pass")
        code, out = _verify(env)
        assert code == 0, out
        assert "2 read(s) kept by 1 active hold(s)" in out
        assert "FAIL" not in out and not any(p in out for p in (HOT, HELD, *PLAIN))

        deleted = health(env)["last_purge_deleted"]
        assert deleted or health(env)["last_purge_ms"]  # purges ran
    finally:
        stop_worker(worker)

    # What the gated search finds now: the held reads (there only because the hold keeps them), nothing else.
    held = _search(env, HELD)
    assert sorted(r["read_id"] for r in held) == ["a1", "a2"] and {r["held"] for r in held} == {1}
    assert _search(env, HOT) == [] and _search(env, PLAIN[0]) == []

    # The held reads' hold is listed, with who asked and the reads it keeps (the store is free again).
    store = open_store(None, env["PLATESTREAM_CHDB_PATH"])
    try:
        listed = list_holds(store).to_pylist()
    finally:
        store.close()
    assert [(h["requested_by"], h["case_number"], h["held_reads"]) for h in listed] == [
        ("defence counsel", "CR-2026-1", 2)
    ]
    per_day = cli(env, "retention", "deletions")
    assert per_day.returncode == 0, per_day.stderr
    rows = {tuple(line.split()[1:3]): int(line.split()[3]) for line in per_day.stdout.splitlines()[1:]}
    assert rows[("clickhouse", "non_hit_reads")] >= 4 and rows[("clickhouse", "hit_reads")] >= 1  # a3..a5, a1/a2; a0
    assert rows[("kafka", "non_hit_reads")] >= 1  # the reads topic's deleted batch

    # The same again with the purge job off: the verifier catches what is left behind.
    env_off = dict(env, PLATESTREAM_PURGE="false")
    worker = start_worker(env_off)
    try:
        captured = _send(env_off, "b")
        time.sleep(max(0.0, captured / 1000 + 8 + 2.5 + 2 - time.time()))  # past the limit and the grace
        code, out = _verify(env_off)
        assert code == 1, out
        assert "read(s) past their limit" in out and "FAIL clickhouse" in out
        assert not any(p in out for p in (HOT, HELD, *PLAIN))
    finally:
        stop_worker(worker)


def test_hit_only_stores_no_non_hit_read_anywhere(worker_env, tmp_path):
    env = _env(worker_env, tmp_path, "hit_only")
    assert cli(env, "topics", "create").returncode == 0
    worker = start_worker(env)
    try:
        assert health(env)["read_store"] == "hits"
        _send(env, "h")
        assert health(env)["dedup_state_reads"] == 0
        code, out = _verify(env)
        assert code == 0, out
        assert "no non-hit read stored (policy hit_only keeps hits only)" in out
    finally:
        stop_worker(worker)
    assert [r["read_id"] for r in _search(env, HOT)] == ["h0"]
    assert _search(env, HELD) == [] and _search(env, PLAIN[0]) == []
