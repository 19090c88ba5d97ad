"""The sink stage's writes retry transient store errors with backoff, under the same token, and say so in health."""

from __future__ import annotations

from streams import metrics
from streams.clock import ManualClock
from streams.ingest.verifications import verification_event
from tests.worker.conftest import HOT_PLATE, OPERATOR, decoded, read
from tests.worker.fakes import FlakyStore


def store_errors() -> float:
    return metrics.REGISTRY.get_sample_value("platestream_sink_errors_total", {"sink": "clickhouse"}) or 0.0


def test_a_failed_write_is_retried_with_backoff_until_the_store_takes_it(make_worker, store, clock) -> None:  # noqa: ANN001
    flaky = FlakyStore(store, failures=0)
    seen: list[dict] = []
    rig = make_worker(
        store=flaky, sink_retry_max_s=0.2, sleep=lambda s: (seen.append(rig.worker.health()), clock.advance(1000))
    )
    w = rig.worker
    result = w.process(decoded([read("r1", HOT_PLATE, clock.now_ms())]), "reads.json")
    failed_at = clock.now_ms()
    flaky.failures = 5
    errors = store_errors()
    w.handle(result, "reads.json/0/7..7", "reads.json", 0.0, w.publish(result, "reads.json"))
    assert rig.sleeps == [0.05, 0.1, 0.2, 0.2, 0.2]  # doubled each time, capped at sink_retry_max_s
    assert store_errors() == errors + 5
    # While it failed, health said since when (on the worker's clock) and why.
    assert [h["store_failing_since_ms"] for h in seen] == [failed_at] * 5
    assert all(h["status"] == "degraded" and "unavailable (injected)" in h["warnings"][0] for h in seen)
    # Once written: healthy again, each table written once under the batch's token.
    assert w.health()["status"] == "ok" and w.store_failing_since_ms is None
    tokens = [t for _, t in flaky.inserts]
    assert len(tokens) == len(set(tokens)) and all(t.startswith("reads.json/0/7..7") for t in tokens)
    assert store.query_arrow("SELECT sum(reads) AS n FROM read_counts")["n"][0].as_py() == 1
    assert w.batches == 1


def test_verifications_and_plans_are_retried_too(make_worker, store, clock: ManualClock, seal) -> None:  # noqa: ANN001
    flaky = FlakyStore(store, failures=0)
    rig = make_worker(store=flaky)
    flaky.failures = 1
    rig.worker.record_plans("t.reads.json", [(0, 10, 19)])
    assert rig.sleeps == [0.05]
    assert rig.worker.load_plans("t.reads.json", 0, 12) == [(10, 19)]
    result = rig.worker.process(decoded([read("r1", HOT_PLATE, clock.now_ms())]), "reads.json")
    rig.worker.handle(result, "tok", "reads.json", 0.0, rig.worker.publish(result, "reads.json"))
    hit_id = result.hits["hit_id"][0].as_py()
    flaky.failures = 2
    # a decision of now: the engine's TTL drops rows inserted far in the past
    doc = seal(verification_event(hit_id, clock.now_ms(), "misread"), OPERATOR)
    rig.worker.handle_verifications([doc], ["t.verifications/0/0"], "t.verifications/0/0..t.verifications/0/0")
    assert rig.sleeps == [0.05, 0.05, 0.1]
    assert store.query_arrow("SELECT count() AS n FROM verifications")["n"][0].as_py() == 1
