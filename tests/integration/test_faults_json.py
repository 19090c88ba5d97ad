"""Single JSON events (``reads.json``) through a worker SIGKILLed twice mid-stream: every aggregate the JSON path
writes (reads, dead letters, heartbeats, hits) counts each event exactly once, although the restarted worker takes
the redelivered events in batches of a different shape; no hit is lost and none appears that should not; and no
entry alerts twice inside its alert window across the restart.

Expectations come from the generated events alone (plain Python), never from ``streams``' own decoders or core.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import pytest

from streams.kafka.producer import make_producer, send_json
from streams.store.clickhouse import ChdbStore
from tests.integration.helpers import (
    cli,
    fault_env,
    health,
    hot_entries,
    lag,
    metric,
    read_to_end,
    reads_metric,
    settings_for,
    start_worker,
    stop_worker,
    wait_for,
)

pytestmark = pytest.mark.integration

EVENTS = 6_000
ENTRIES = 12
SIGHTINGS = 3
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def _events(now_ms: int, entries: list[dict]) -> tuple[list, dict, set[tuple[str, str]]]:
    """Reads (7-character plates: never a hot plate, which has 8), bad bytes and heartbeats, with hot reads mixed in."""
    rng = random.Random(7)
    events: list = []
    want = Counter()
    hot_at = {EVENTS * (k + 1) // (ENTRIES * SIGHTINGS + 1): k for k in range(ENTRIES * SIGHTINGS)}
    expected = set()
    for i in range(EVENTS):
        cam = f"jcam-{i % 50:02d}"
        when = now_ms - 300_000 + i
        if i in hot_at:
            k = hot_at[i]
            e = entries[k % ENTRIES]
            read_id = f"jhot-{k:03d}"
            events.append(
                {"read_id": read_id, "camera_id": f"jhcam-{k:03d}", "site_id": "hs", "captured_at": when,
                 "plate": e["plate"], "region": e["region"], "confidence": 95.0}
            )  # fmt: skip
            expected.add((read_id, e["entry_id"]))
            want["reads"] += 1
        elif i % 97 == 0:
            events.append(b'{"read_id": "broken", ' + str(i).encode())
            want["dead"] += 1
        elif i % 101 == 0:
            events.append({"data_type": "heartbeat", "camera_id": cam, "timestamp": when})
            want["heartbeats"] += 1
        else:
            plate = "".join(rng.choice(LETTERS) for _ in range(7))
            events.append(
                {"read_id": f"j-{i}", "camera_id": cam, "site_id": "js", "captured_at": when, "plate": plate,
                 "region": "CA", "confidence": 90.0}
            )  # fmt: skip
            want["reads"] += 1
    return events, want, expected


def test_sigkill_on_json_events_counts_every_aggregate_once(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    env = fault_env(
        worker_env,
        tmp_path,
        entries,
        PLATESTREAM_WORKER_BATCH="100",  # many small takes: a redelivery is regrouped,
    )
    settings = settings_for(env)
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    assert cli(env, "topics", "create").returncode == 0

    events, want, expected = _events(int(time.time() * 1000), entries)
    producer = make_producer(settings)
    send_json(producer, settings, events, 3)
    assert producer.flush(60) == 0
    del producer

    processed = []
    worker = start_worker(env)
    try:
        assert health(env)["hotlist_entries"] == ENTRIES
        for fraction in (0.3, 0.6):
            wait_for(
                lambda f=fraction: reads_metric(env) >= f * want["reads"], 120, "the worker to get through the load"
            )
            processed.append(metric(env, "platestream_reads_total"))
            worker.kill()  # SIGKILL: pieces written but not yet committed are redelivered to the next worker
            worker.wait(10)
            worker = start_worker(env)
        wait_for(lambda: lag(bootstrap, f"{prefix}worker", f"{prefix}reads.json") == 0, 120, "every event acknowledged")
        processed.append(metric(env, "platestream_reads_total"))
    finally:
        stop_worker(worker)

    hits = [json.loads(v) for v in read_to_end(bootstrap, f"{prefix}hits")]
    assert {(h["read_id"], h["entry_id"]) for h in hits} == expected
    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        got = {
            "reads": store.query_arrow("SELECT sum(reads) AS n FROM read_counts")["n"][0].as_py(),
            "dead": store.query_arrow(
                "SELECT sum(dead_letters) AS n FROM dead_letter_counts WHERE source = 'reads.json'"
            )["n"][0].as_py(),
            "heartbeats": store.query_arrow("SELECT sum(heartbeats) AS n FROM camera_health")["n"][0].as_py(),
            "hits": store.query_arrow("SELECT sum(hits) AS n FROM hit_counts")["n"][0].as_py(),
        }
    finally:
        store.close()
    assert got == {**want, "hits": len(expected)}, f"reads counted per worker process: {processed}"
    # The kills landed mid-stream (else this test proves nothing about redelivery).
    assert 0 < processed[0] < want["reads"] and processed[1] < want["reads"], processed
    # One alert per entry: its later sightings fall inside the alert window, also those read after the restart
    # (the restarted worker restores the window from the hits topic).
    alerting: dict[str, set[str]] = {}
    for h in hits:
        if h["alert"]:
            alerting.setdefault(h["entry_id"], set()).add(h["hit_id"])
    assert alerting.keys() == {e["entry_id"] for e in entries}
    assert {e: len(ids) for e, ids in alerting.items() if len(ids) > 1} == {}
