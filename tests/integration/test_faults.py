"""A worker SIGKILLed twice mid-stream and restarted on the same consumer group and embedded store: no hit is lost,
no unexpected hit appears, and the reads aggregate counts every good read exactly once.

The expectations come from the generated input alone (plain pyarrow and Python), never from ``streams.core``.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from streams.config import load_settings
from streams.schema import READ_SCHEMA
from streams.synth import Synth, SynthConfig
from streams.transport.producer import make_producer, send_reads
from tests.integration.helpers import (
    cli,
    health,
    hot_entries,
    hotlist_csv,
    lag,
    metric,
    read_to_end,
    reads_metric,
    start_worker,
    stop_worker,
    wait_for,
)

pytestmark = pytest.mark.integration

BATCHES = 40
BATCH_READS = 5_000
ENTRIES = 24  # hot-list entries
SIGHTINGS = 3  # hot reads per entry, each at a camera of its own


def _load(start_ms: int, entries: list[dict]) -> tuple[list[pa.Table], set[tuple[str, str]]]:
    """Synthetic background traffic plus hot reads; the (read_id, entry_id) pairs the hot reads must hit."""
    synth = Synth(
        SynthConfig(
            seed=23,
            vehicles=20_000,
            cameras=60,
            sites=6,
            hot_traffic=0.0,  # the synthetic hot list is not loaded: its vehicles are ordinary traffic here
            bad_rate=0.0,  # every read is a good one (checked below, independently)
            start_ms=start_ms,
        )
    )
    tables = list(synth.batches(BATCHES * BATCH_READS, BATCH_READS))
    hot: list[list[dict]] = [[] for _ in tables]
    expected = set()
    for k in range(ENTRIES * SIGHTINGS):
        e = entries[k % ENTRIES]
        b = k % len(tables)
        t0 = tables[b]["captured_at"][0].value
        read_id = f"hot-{k:04d}"
        hot[b].append(
            {
                "read_id": read_id,
                "camera_id": f"hcam-{k:03d}",  # a camera per hot read: never a duplicate, whatever the dedup state
                "site_id": "hsite",
                "captured_at": t0 + k,
                "plate": e["plate"],
                "region": e["region"],
                "confidence": 95.0,
                "candidates": None,
            }
        )
        expected.add((read_id, e["entry_id"]))
    out = [
        pa.concat_tables([t, pa.Table.from_pylist(h, schema=READ_SCHEMA)]) if h else t
        for t, h in zip(tables, hot, strict=True)
    ]
    return out, expected


def _assert_all_good(tables: list[pa.Table], now_ms: int) -> None:
    """Independent of the validator: every row passes the documented checks, and no background plate is 8 long."""
    for t in tables:
        plate_len = pc.utf8_length(t["plate"])
        assert pc.all(pc.and_(pc.greater(plate_len, 0), pc.less_equal(plate_len, 12))).as_py()
        assert pc.all(pc.match_substring_regex(t["plate"], r"^[A-Z0-9]+$")).as_py()
        assert t["read_id"].null_count == 0 and t["camera_id"].null_count == 0
        ms = t["captured_at"].cast(pa.int64())
        assert pc.min(ms).as_py() > now_ms - 3_600_000 and pc.max(ms).as_py() < now_ms
        conf = t["confidence"]
        assert pc.min(conf).as_py() >= 0 and pc.max(conf).as_py() <= 100
        region = pc.drop_null(t["region"])
        assert pc.all(pc.is_in(region, pa.array(["CA", "NV", "AZ", "OR", "MT", "CO"]))).as_py()
        background = pc.invert(pc.starts_with(t["read_id"], "hot-"))
        bg = t.filter(background)
        assert not pc.any(pc.equal(pc.utf8_length(bg["plate"]), 8)).as_py()
        cands = pc.list_flatten(bg["candidates"].combine_chunks())
        if len(cands):
            assert not pc.any(pc.equal(pc.utf8_length(pc.struct_field(cands, "plate")), 8)).as_py()


def test_sigkill_mid_stream_loses_no_hit_and_counts_reads_once(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    env = dict(
        worker_env,
        PLATESTREAM_HOTLIST_PATH=str(hotlist_csv(tmp_path / "hotlist.csv", entries)),
        # After each SIGKILL the group waits this long for the dead member before a restarted worker gets its
        # partitions; 6 s is the broker's minimum and keeps the test short.
        PLATESTREAM_SESSION_TIMEOUT_S="6",
    )
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr

    now = int(time.time() * 1000)
    tables, expected = _load(now - 600_000, entries)
    _assert_all_good(tables, now)
    total_reads = sum(t.num_rows for t in tables)
    reason_of = {e["entry_id"]: e["reason"] for e in entries}
    expected_by_reason = Counter(reason_of[entry] for _, entry in expected)
    assert len(expected) == ENTRIES * SIGHTINGS

    producer = make_producer(settings)
    messages = sum(send_reads(producer, settings, t, 3) for t in tables)
    assert producer.flush(60) == 0
    del producer

    group = f"{prefix}worker"
    processed = []  # reads each worker process counted before it died or stopped (redeliveries included)
    worker = start_worker(env)
    try:
        assert health(env)["hotlist_entries"] == ENTRIES
        for fraction in (1 / 3, 1 / 3):
            wait_for(
                lambda f=fraction: reads_metric(env) >= f * total_reads,
                90,
                "the worker to get through a third of the load",
            )
            processed.append(metric(env, "platestream_reads_total"))
            worker.kill()  # SIGKILL: no shutdown, no final commit, no flush
            worker.wait(10)
            worker = start_worker(env)
        wait_for(lambda: lag(bootstrap, group, f"{prefix}reads.batch") == 0, 120, "every input batch acknowledged")
        processed.append(metric(env, "platestream_reads_total"))
    finally:
        stop_worker(worker)
    assert sum(processed) >= total_reads, (processed, total_reads)

    # -- hits: every expected (read, entry) pair at least once, and after de-duplication by hit_id no other ---------
    raw_hits = [json.loads(v) for v in read_to_end(bootstrap, f"{prefix}hits")]
    by_id: dict[str, tuple[str, str]] = {}
    for h in raw_hits:
        pair = (h["read_id"], h["entry_id"])
        assert by_id.setdefault(h["hit_id"], pair) == pair, "one hit_id for two different (read, entry) pairs"
        assert h["match_kind"] == "exact" and h["status"] == "unverified"
    assert set(by_id.values()) == expected, (
        f"missing {sorted(expected - set(by_id.values()))[:5]}, unexpected {sorted(set(by_id.values()) - expected)[:5]}"
    )
    assert len(by_id) == len(expected)

    # -- aggregates: each good read counted once, each distinct hit counted once ---------------------------------
    from streams.store.clickhouse import ChdbStore

    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        counts = store.query_arrow("SELECT sum(reads) AS r, sum(duplicates) AS d FROM read_counts").to_pylist()[0]
        hits = store.query_arrow(
            "SELECT reason, match_kind, sum(hits) AS h FROM hit_counts GROUP BY reason, match_kind ORDER BY reason"
        ).to_pylist()
    finally:
        store.close()
    assert counts["r"] == total_reads, (
        f"read_counts.reads = {counts['r']}, expected {total_reads} good reads "
        f"({messages} messages; reads counted per worker process: {processed})"
    )
    assert {(h["reason"], h["match_kind"]): h["h"] for h in hits} == {
        (reason, "exact"): n for reason, n in expected_by_reason.items()
    }
