"""The stream worker: a Faust app whose agents feed Kafka messages through ``Processor.process``.

Inputs: ``reads.batch`` (one Arrow IPC stream per message), ``reads.json`` (single events, taken in small batches)
and ``verifications`` (operator decisions); the hot list follows ``hotlist.events`` in a thread of its own.
Outputs: hits and dead letters to their topics (confluent-kafka, idempotent), aggregates and verifications to
ClickHouse with a de-duplication token made from the input offsets, so a redelivered message changes no count.
A message is acknowledged (its offset committed) only after every output of it is written: at-least-once, with
hits carrying a stable ``hit_id`` for downstream de-duplication.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
import pyarrow as pa
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.config import Settings, load_policy, policy_lut
from streams.core.alerts import hit_payloads
from streams.core.live_hotlist import LiveHotList
from streams.core.pipeline import BatchResult, Processor
from streams.ingest.deadletter import DeadLetter
from streams.ingest.decode import Decoded, decode_arrow, decode_json
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.search import json_rows, search_request
from streams.ingest.verifications import decode_verifications
from streams.retention_verify import verify_store
from streams.store import read_store
from streams.store.clickhouse import migrate, open_store
from streams.store.sink import write_aggregates, write_expiry
from streams.transport.admin import log_starts
from streams.transport.holds_follower import HoldsFollower
from streams.transport.hotlist_follower import HotlistFollower
from streams.transport.producer import make_producer
from streams.transport.topics import topic_name

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Worker:
    """The state and sinks of one worker process; the Faust agents call ``process`` and ``handle``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        policy = load_policy(settings.policy_path)
        self.lock = threading.Lock()  # matching and hot-list updates never interleave
        self.live = LiveHotList(policy, policy_lut(policy))
        if settings.hotlist_path is not None:
            entries, pre = read_hotlist_csv(settings.hotlist_path)
            self.live.load(entries, _now_ms())
            if pre.num_rows:
                self.live.refused["bad_date"] = self.live.refused.get("bad_date", 0) + pre.num_rows
        for rule, n in self.live.refused.items():
            metrics.HOTLIST_REFUSED.labels(rule).inc(n)
        self.processor = Processor(self.live, settings.processor_config(policy), policy_lut(policy))
        self.store = open_store(settings.clickhouse_url, settings.chdb_path)
        migrate(self.store, settings.aggregate_ttl_days)
        self.producer = make_producer(settings, **{"linger.ms": 5})
        self.hits_topic = topic_name(settings, "hits")
        self.dead_topic = topic_name(settings, "deadletter")
        self.batches = 0
        self.last_batch_ms: int | None = None
        self._delivery_errors: list[str] = []
        self.follower = HotlistFollower(settings, self.live, self.lock, self._dead_from_follower)
        self.follower.catch_up()
        self.follower.start()
        metrics.HOTLIST_ENTRIES.set(len(self.live))
        # The read store: what the retention policy keeps, plates as keyed hashes; purged on its own clock.
        self.retention = settings.retention_policy()
        self.keys = settings.load_plate_keys() if self.processor.config.keep_reads != "none" else None
        self.holds = HoldsFollower(settings)
        self.holds.start()
        self.last_purge_ms = 0
        self.last_purge: dict[str, int] = {}
        if not settings.purge:
            # Nothing deletes then, not even the engine's lazy TTL: what the verifier finds is what was left.
            log.warning("purge is off: expired rows stay in the store until it is turned back on")
            self.store.command("SYSTEM STOP TTL MERGES")

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._delivery_errors.append(str(err))

    def _send_dead(self, dead: list[DeadLetter], source: str) -> None:
        """Queue dead letters for the dead-letter topic; ``_flush`` confirms delivery."""
        for d in dead:
            payload = {**d.to_json(), "source": source}
            self.producer.produce(
                self.dead_topic, json.dumps(payload).encode(), key=d.origin.encode(), on_delivery=self._on_delivery
            )

    def _dead_from_follower(self, dead: list[DeadLetter]) -> None:
        self._send_dead(dead, "hotlist.events")
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.reason, "hotlist.events").inc()
        self.producer.flush(10)

    def process(self, decoded: Decoded, source: str) -> BatchResult:
        with self.lock:
            return self.processor.process(decoded, _now_ms(), source=source)

    def _flush(self) -> None:
        remaining = self.producer.flush(30)
        if remaining or self._delivery_errors:
            errors, self._delivery_errors = self._delivery_errors, []
            metrics.SINK_ERRORS.labels("kafka").inc()
            raise RuntimeError(f"{remaining} outputs not delivered; errors: {errors[:3]}")

    def handle(self, result: BatchResult, token: str, source: str, seconds: float) -> None:
        """Write every output of one input batch; raises if any write failed (the batch is then redelivered)."""
        for h in hit_payloads(result.hits):
            self.producer.produce(
                self.hits_topic, json.dumps(h).encode(), key=h["hit_id"].encode(), on_delivery=self._on_delivery
            )
        self._send_dead(result.dead, source)
        self._flush()
        try:
            write_aggregates(self.store, result, token)
            if self.keys is not None:
                read_store.write_reads(self.store, result.stored_reads, self.keys, self.retention, token)
        except Exception:
            metrics.SINK_ERRORS.labels("clickhouse").inc()
            raise
        metrics.record(result, source, seconds)
        self.batches += 1
        self.last_batch_ms = _now_ms()

    def handle_verifications(self, payloads: list[bytes], origins: list[str], token: str) -> None:
        table, dead = decode_verifications(payloads, origins)
        self._send_dead(dead, "verifications")
        self._flush()
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.reason, "verifications").inc()
        if table.num_rows:
            self.store.insert_arrow("verifications", table, dedup_token=token)
            for row in table.select(["decision", "reason"]).to_pylist():
                metrics.VERIFICATIONS.labels(row["decision"], row["reason"] or "none").inc()

    def tick(self) -> None:
        """Every few seconds: the retention clock, and the hot-list sources' freshness clocks."""
        now = _now_ms()
        with self.lock:
            expired = self.processor.expire(now)
        metrics.EXPIRED.labels("processor_state").inc(expired)
        metrics.DEDUP_STATE.set(len(self.processor.reads_dedup))
        stale = self.live.stale_sources(now)
        for source, age in self.live.source_ages_s(now).items():
            metrics.HOTLIST_SOURCE_AGE.labels(source).set(age)
            metrics.HOTLIST_SOURCE_STALE.labels(source).set(1 if source in stale else 0)
        write_expiry(self.store, expired, now, self.processor.config.bucket_ms, f"expire-{now}")
        self.apply_holds(now)
        if now - self.last_purge_ms >= self.settings.purge_every_s() * 1000:
            self.last_purge_ms = now
            self.sample_kafka_deletions(now)
            if self.settings.purge:
                done = read_store.purge(self.store, self.retention, now, self.processor.config.bucket_ms)
                self.last_purge = {f"{t}/{c}": n for (t, c), n in done.deleted.items()}
                metrics.EXPIRED.labels("clickhouse").inc(done.total)

    def apply_holds(self, now: int) -> None:
        """Place and release the holds that arrived since the last tick, then copy what they cover."""
        events, dead = self.holds.drain()
        if dead:
            self._send_dead(dead, "holds")
            self._flush()
            for d in dead:
                metrics.DEAD_LETTERS.labels(d.reason, "holds").inc()
        for e in events:
            ev = e.event
            if ev.op == "place":
                read_store.place_hold(self.store, ev.hold(), version=e.offset + 1)
            else:
                read_store.release_hold(self.store, ev.hold_id, ev.released_by, ev.reason, ev.at, version=e.offset + 1)
        if events:
            read_store.preserve(self.store, self.retention, now)

    def sample_kafka_deletions(self, now: int) -> None:
        """What Kafka deleted shows as the advance of log start offsets: sample them for the deletion counts."""
        try:
            samples = log_starts(self.settings, self.retention)
        except Exception:  # noqa: BLE001 - a missed sample only delays the count; the next one catches up
            metrics.SINK_ERRORS.labels("kafka_admin").inc()
            return
        read_store.write_log_starts(self.store, samples, now)

    def search(self, req: read_store.SearchRequest) -> pa.Table:
        if self.keys is None:
            raise read_store.SearchRefused("this deployment keeps no reads (read store off or policy keeps none)")
        return read_store.search(self.store, self.keys, self.retention, req)

    def retention_findings(self) -> list[dict[str, str]]:
        grace_ms = int(self.settings.purge_every_s() * 1000) + 2 * 5000  # one purge interval and two ticks
        return [f.__dict__ for f in verify_store(self.store, self.retention, grace_ms=grace_ms)]

    def health(self) -> dict[str, Any]:
        now = _now_ms()
        stale = sorted(self.live.stale_sources(now))
        return {
            "status": "degraded" if stale else "ok",
            "warnings": [f"hot-list source {s} is stale: its hits do not alert" for s in stale],
            "hotlist_entries": len(self.live),
            "hotlist_offsets": {str(p): o for p, o in self.follower.applied.items()},
            "hotlist_applied_at_ms": self.follower.applied_at_ms,
            "hotlist_sources_age_s": self.live.source_ages_s(now),
            "dedup_state_reads": len(self.processor.reads_dedup),
            "oldest_state_read_ms": self.processor.reads_dedup.oldest_ms(),
            "batches": self.batches,
            "last_batch_ms": self.last_batch_ms,
            "store": self.store.name,
            "read_store": self.processor.config.keep_reads,
            "holds_events": self.holds.received,
            "last_purge_ms": self.last_purge_ms or None,
            "last_purge_deleted": self.last_purge,
        }


def create_app(settings: Settings) -> faust.App:
    # One consumer group per deployment prefix; Faust's own files live beside the embedded store.
    datadir = Path(settings.chdb_path).resolve().parent / "faust"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}worker",
        datadir=str(datadir),
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_host=settings.web_host,
        web_port=settings.web_port,
        topic_allow_declare=False,  # topics come from `platestream topics create`, with their configs
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 5),
    )
    worker_state: dict[str, Worker] = {}
    # One thread for every sink write: the store and the producer see one batch at a time, in order.
    sink_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platestream-sink")

    def worker() -> Worker:
        if "w" not in worker_state:
            worker_state["w"] = Worker(settings)
        return worker_state["w"]

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            topic_name(settings, name), value_type=bytes, value_serializer="raw", partitions=settings.partitions
        )

    async def in_sink_thread(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(sink_thread, fn, *args)

    @app.agent(topic("reads.batch"))
    async def batches(stream: faust.StreamT) -> None:
        w = worker()
        async for event in stream.events():
            msg = event.message
            origin = f"{msg.topic}/{msg.partition}/{msg.offset}"
            t0 = time.perf_counter()
            result = w.process(decode_arrow(event.value, origin, settings.max_message_bytes), "reads.batch")
            await in_sink_thread(w.handle, result, origin, "reads.batch", time.perf_counter() - t0)

    @app.agent(topic("reads.json"))
    async def events(stream: faust.StreamT) -> None:
        w = worker()
        async for evs in stream.take_events(settings.worker_batch, within=0.5):
            origins = [f"{e.message.topic}/{e.message.partition}/{e.message.offset}" for e in evs]
            t0 = time.perf_counter()
            decoded = decode_json([e.value for e in evs], origins, settings.max_message_bytes)
            result = w.process(decoded, "reads.json")
            # One token per taken range: the first and last offset identify the batch on redelivery.
            token = f"{origins[0]}..{origins[-1]}"
            await in_sink_thread(w.handle, result, token, "reads.json", time.perf_counter() - t0)

    @app.agent(topic("verifications"))
    async def verifications(stream: faust.StreamT) -> None:
        w = worker()
        async for evs in stream.take_events(500, within=0.5):
            origins = [f"{e.message.topic}/{e.message.partition}/{e.message.offset}" for e in evs]
            await in_sink_thread(
                w.handle_verifications, [e.value for e in evs], origins, f"{origins[0]}..{origins[-1]}"
            )

    @app.timer(interval=settings.tick_s)
    async def clocks() -> None:
        # State expires on the wall clock even when no reads arrive.
        await in_sink_thread(worker().tick)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json(worker().health())

    @app.page("/retention")
    async def retention_view(web: Any, request: Any) -> Any:
        # This worker's own store, checked in its process (an embedded store is open in one process only).
        return web.json({"findings": await in_sink_thread(worker().retention_findings)})

    @app.page("/search")
    class SearchView(View):
        """The gated search path: POST a JSON request with who asks and why; it is audited before it answers."""

        async def post(self, request: Any) -> Any:
            try:
                req = search_request(await request.read())
                rows = await in_sink_thread(worker().search, req)
            except read_store.SearchRefused as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"rows": json_rows(rows)})

    @app.task
    async def warm_up() -> None:
        worker()

    return app
