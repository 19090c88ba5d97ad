"""The stream worker: a Faust app whose agents feed Kafka messages through ``Processor.process``.

Inputs: ``reads.batch`` (one Arrow IPC stream per message), ``reads.json`` (single events, taken in small batches)
and ``verifications`` (operator decisions); the hot list follows ``hotlist.events`` in a thread of its own.
Outputs: hits and dead letters to their topics (confluent-kafka, idempotent), sent as soon as a batch is matched;
aggregates and verifications to ClickHouse through the sink stage (one thread, bounded, retried with backoff) with
a de-duplication token made from the input offsets, so a redelivered message changes no count (``reads.json``:
along recorded pieces, see ``streams.worker.pieces``). A message is acknowledged (its offset committed) only
after every output of it is written: at-least-once, with hits carrying a stable ``hit_id`` for downstream
de-duplication. See docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.config.settings import Settings, load_policy, policy_lut
from streams.core.alerts import hit_payloads
from streams.core.live_hotlist import LiveHotList
from streams.core.normalise import stable_codes
from streams.core.pipeline import Processor
from streams.errors import StoreError
from streams.ingest.decode import decode_arrow, decode_json
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.limits import apply_limits
from streams.ingest.search import json_rows, search_request
from streams.ingest.verifications import decode_verifications
from streams.kafka.admin import log_starts
from streams.kafka.holds_follower import HoldsFollower
from streams.kafka.hotlist_follower import HotlistFollower
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name
from streams.model.batch import BatchResult
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded
from streams.model.search import SearchRefused, SearchRequest
from streams.store import read_store
from streams.store.clickhouse import migrate, open_store
from streams.store.faults import FaultInjectingStore
from streams.store.retention_check import verify_store
from streams.store.sink import read_plans, write_aggregates, write_expiry, write_plans
from streams.worker.pieces import Plans, cut
from streams.worker.sink_stage import SinkStage

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Delivery:
    """The messages one input batch produced: sent at once, their delivery confirmed later in the sink thread."""

    def __init__(self, producer: Any):
        self.producer = producer
        self.lock = threading.Lock()
        self.pending = 0
        self.failed: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        with self.lock:
            self.pending += 1

        def done(err: Any, _msg: Any) -> None:
            self._done(err, topic, value, key)

        while True:
            try:
                self.producer.produce(topic, value, key=key, on_delivery=done)
                return
            except BufferError:  # the local queue is full (broker away): wait for room, which is back-pressure
                self.producer.poll(0.1)

    def _done(self, err: Any, topic: str, value: bytes, key: bytes) -> None:
        with self.lock:
            self.pending -= 1
            if err is not None:
                self.failed.append((topic, value, key))

    def confirm(self) -> None:
        """Wait until every message is acknowledged by the broker; send again what failed (keys de-duplicate)."""
        while True:
            while self.pending:
                self.producer.poll(0.05)
            with self.lock:
                failed, self.failed = self.failed, []
            if not failed:
                return
            metrics.SINK_ERRORS.labels("kafka").inc()
            for topic, value, key in failed:
                self.produce(topic, value, key)


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
        self.limits = settings.input_limits()
        self.alerts_restored = self._restore_alert_window(topic_name(settings, "hits"))
        self.store = open_store(settings.clickhouse_url, settings.chdb_path)
        if settings.store_fault_file is not None:  # test hook, inert unless configured
            self.store = FaultInjectingStore(self.store, settings.store_fault_file)
        migrate(self.store, settings.aggregate_ttl_days)
        self.store_failing_since_ms: int | None = None
        self.store_error: str | None = None
        self.plans: dict[tuple[str, int], Plans] = defaultdict(Plans)
        self.next_offset: dict[tuple[str, int], int] = {}
        self.producer = make_producer(settings, **{"linger.ms": 5})
        self.hits_topic = topic_name(settings, "hits")
        self.dead_topic = topic_name(settings, "deadletter")
        self.batches = 0
        self.last_batch_ms: int | None = None
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

    def _restore_alert_window(self, hits_topic: str) -> int:
        """Seed the alert window from alerts already published, so a restarted worker alerts no passage twice."""
        window_ms = int(self.settings.alert_window_s * 1000)
        if window_ms <= 0:
            return 0
        alerts = recent_alerts(self.settings, hits_topic, _now_ms() - window_ms)
        if alerts:
            entry = stable_codes(pa.array([e for e, _ in alerts], pa.string()))
            t_ms = np.array([t for _, t in alerts], np.int64)
            zeros = np.zeros(len(alerts), np.uint64)
            self.processor.hits_dedup.observe(entry, zeros.astype(np.uint16), zeros, t_ms)
        return len(alerts)

    def _send_dead(self, dead: list[DeadLetter], source: str, delivery: Delivery) -> None:
        """Send dead letters to the dead-letter topic; ``delivery.confirm()`` waits for the broker."""
        for d in dead:
            payload = json.dumps({**d.to_json(), "source": source}).encode()
            delivery.produce(self.dead_topic, payload, d.origin.encode())

    def _dead_from_follower(self, dead: list[DeadLetter]) -> None:
        delivery = Delivery(self.producer)
        self._send_dead(dead, "hotlist.events", delivery)
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.reason, "hotlist.events").inc()
        delivery.confirm()

    def process(self, decoded: Decoded, source: str) -> BatchResult:
        decoded = apply_limits(decoded, self.limits)
        with self.lock:
            return self.processor.process(decoded, _now_ms(), source=source)

    def publish(self, result: BatchResult, source: str) -> Delivery:
        """Send a batch's hits and dead letters now (alerting does not wait for ClickHouse)."""
        delivery = Delivery(self.producer)
        for h in hit_payloads(result.hits):
            delivery.produce(self.hits_topic, json.dumps(h).encode(), h["hit_id"].encode())
        self._send_dead(result.dead, source, delivery)
        return delivery

    def retrying(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` until the store takes it: a failed write is retried with backoff (same tokens)."""
        delay = 0.05
        while True:
            try:
                result = fn(*args)
            except StoreError as exc:
                metrics.SINK_ERRORS.labels("clickhouse").inc()
                self.store_error = str(exc)[:300]  # engine messages: table and setting names, no row data
                if self.store_failing_since_ms is None:
                    self.store_failing_since_ms = _now_ms()
                time.sleep(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_s)
                continue
            self.store_failing_since_ms = None
            return result

    def handle(self, result: BatchResult, token: str, source: str, seconds: float, delivery: Delivery) -> None:
        """In the sink thread: confirm a batch's messages, then write its aggregates (retried until written)."""
        delivery.confirm()
        self.retrying(write_aggregates, self.store, result, token)
        if self.keys is not None:
            self.retrying(read_store.write_reads, self.store, result.stored_reads, self.keys, self.retention, token)
        metrics.record(result, source, seconds)
        self.batches += 1
        self.last_batch_ms = _now_ms()

    def record_plans(self, topic: str, plans: list[tuple[int, int, int]]) -> None:
        self.retrying(write_plans, self.store, topic, plans, _now_ms())

    def load_plans(self, topic: str, partition: int, from_offset: int) -> list[tuple[int, int]]:
        return self.retrying(read_plans, self.store, topic, partition, from_offset, self.settings.worker_batch)

    def handle_verifications(self, payloads: list[bytes], origins: list[str], token: str) -> None:
        table, dead = decode_verifications(payloads, origins)
        delivery = Delivery(self.producer)
        self._send_dead(dead, "verifications", delivery)
        delivery.confirm()
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.reason, "verifications").inc()
        if table.num_rows:
            self.retrying(self.store.insert_arrow, "verifications", table, token)
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
        self.retrying(write_expiry, self.store, expired, now, self.processor.config.bucket_ms, f"expire-{now}")
        self.apply_holds(now)
        if now - self.last_purge_ms >= self.settings.purge_every_s() * 1000:
            self.last_purge_ms = now
            self.sample_kafka_deletions(now)
            if self.settings.purge:
                # Retried like every write: a purge is idempotent, and the limit must hold once the store is back.
                done = self.retrying(read_store.purge, self.store, self.retention, now, self.processor.config.bucket_ms)
                self.last_purge = {f"{t}/{c}": n for (t, c), n in done.deleted.items()}
                metrics.EXPIRED.labels("clickhouse").inc(done.total)

    def apply_holds(self, now: int) -> None:
        """Place and release the holds that arrived since the last tick, then copy what they cover."""
        events, dead = self.holds.drain()
        if dead:
            delivery = Delivery(self.producer)
            self._send_dead(dead, "holds", delivery)
            for d in dead:
                metrics.DEAD_LETTERS.labels(d.reason, "holds").inc()
            delivery.confirm()
        for e in events:  # drained from the follower's queue: applied now, retried until the store takes them
            ev = e.event
            if ev.op == "place":
                self.retrying(read_store.place_hold, self.store, ev.hold(), e.offset + 1)
            else:
                self.retrying(
                    read_store.release_hold, self.store, ev.hold_id, ev.released_by, ev.reason, ev.at, e.offset + 1
                )
        if events:
            self.retrying(read_store.preserve, self.store, self.retention, now)

    def sample_kafka_deletions(self, now: int) -> None:
        """What Kafka deleted shows as the advance of log start offsets: sample them for the deletion counts."""
        try:
            samples = log_starts(self.settings, self.retention)
        except Exception:  # noqa: BLE001 - a missed sample only delays the count; the next one catches up
            metrics.SINK_ERRORS.labels("kafka_admin").inc()
            return
        self.retrying(read_store.write_log_starts, self.store, samples, now)

    def search(self, req: SearchRequest) -> pa.Table:
        if self.keys is None:
            raise SearchRefused("this deployment keeps no reads (read store off or policy keeps none)")
        return read_store.search(self.store, self.keys, self.retention, req)

    def retention_findings(self) -> list[dict[str, str]]:
        grace_ms = int((self.settings.purge_every_s() + 2 * self.settings.tick_s) * 1000)  # a purge and two ticks
        return [f.__dict__ for f in verify_store(self.store, self.retention, grace_ms=grace_ms)]

    def health(self) -> dict[str, Any]:
        now = _now_ms()
        stale = sorted(self.live.stale_sources(now))
        warnings = [f"hot-list source {s} is stale: its hits do not alert" for s in stale]
        if self.store_failing_since_ms is not None:
            warnings.append(f"store failing since {self.store_failing_since_ms}: {self.store_error}")
        return {
            "status": "degraded" if warnings else "ok",
            "warnings": warnings,
            "store_failing_since_ms": self.store_failing_since_ms,
            "hotlist_entries": len(self.live),
            "hotlist_offsets": {str(p): o for p, o in self.follower.applied.items()},
            "hotlist_applied_at_ms": self.follower.applied_at_ms,
            "hotlist_sources_age_s": self.live.source_ages_s(now),
            "dedup_state_reads": len(self.processor.reads_dedup),
            "alerts_restored": self.alerts_restored,
            "oldest_state_read_ms": self.processor.reads_dedup.oldest_ms(),
            "batches": self.batches,
            "last_batch_ms": self.last_batch_ms,
            "store": self.store.name,
            "read_store": self.processor.config.keep_reads,
            "holds_events": self.holds.received,
            "last_purge_ms": self.last_purge_ms or None,
            "last_purge_deleted": self.last_purge,
        }


def recent_alerts(settings: Settings, topic: str, since_ms: int, timeout: float = 30.0) -> list[tuple[str, int]]:
    """(entry id, read time in ms) of every alerting hit published to ``topic`` since ``since_ms``."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"platestream-alerts-{uuid.uuid4().hex}",  # assigned, never joined nor committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out: list[tuple[str, int]] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return out
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in meta.partitions], timeout=10)
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in starts}
        assign = [tp for tp in starts if 0 <= tp.offset < ends[tp.partition]]
        if not assign:
            return out
        consumer.assign(assign)
        pending = {tp.partition for tp in assign}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                p = msg.partition()
                if msg.error() is not None or p not in pending or msg.offset() >= ends[p]:
                    if msg.error() is not None and msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                    continue
                if msg.offset() >= ends[p] - 1:
                    pending.discard(p)
                try:
                    hit = json.loads(msg.value())
                    if hit.get("alert"):
                        when = datetime.fromisoformat(hit["read_time"])
                        out.append((str(hit["entry_id"]), int(when.timestamp() * 1000)))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # not a hit this pipeline wrote: it cannot have alerted
        return out
    finally:
        consumer.close()


def _commit_before_revoke(app: faust.App) -> None:
    """Acknowledged offsets of revoked partitions are committed before faust-streaming forgets them.

    faust-streaming's ``Consumer.on_partitions_revoked`` drops its record of acknowledged offsets for the revoked
    partitions *before* its revoke handler waits for in-flight events and commits: acknowledgements since the last
    periodic commit are lost, and a rebalance redelivers batches already written. Here the same wait-and-commit
    (stop the flow, wait until every taken event is acknowledged, commit) runs first.
    """
    base = app.transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        async def on_partitions_revoked(self, revoked: set) -> None:
            assignment = self.assignment()
            if assignment:
                self.stop_flow()
                self.app.flow_control.suspend()
                self.pause_partitions(assignment)
                self.app.flow_control.clear()
                await self.app._consumer_wait_empty(self, self.log)
            await super().on_partitions_revoked(revoked)

    app.transport.Consumer = Consumer


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
        # Messages fetched but not yet taken by an agent: with the sink stage's bound, the worker's memory bound.
        stream_buffer_maxsize=settings.stream_buffer_messages,
    )
    _commit_before_revoke(app)
    worker_state: dict[str, Worker] = {}
    # One thread for every sink write: the store and the producer see one batch at a time, in order; at most
    # `sink_queue_batches` wait, then the agents wait too (back-pressure).
    stage = SinkStage(settings.sink_queue_batches)

    def worker() -> Worker:
        if "w" not in worker_state:
            worker_state["w"] = Worker(settings)
        return worker_state["w"]

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            topic_name(settings, name), value_type=bytes, value_serializer="raw", partitions=settings.partitions
        )

    @app.agent(topic("reads.batch"))
    async def batches(stream: faust.StreamT) -> None:
        w = worker()
        # Manual acks: a message is acknowledged by the sink stage once its outputs are written.
        async for event in stream.noack().events():
            msg = event.message
            origin = f"{msg.topic}/{msg.partition}/{msg.offset}"
            t0 = time.perf_counter()
            result = w.process(
                decode_arrow(event.value, origin, settings.max_message_bytes, settings.max_message_rows), "reads.batch"
            )
            delivery = w.publish(result, "reads.batch")
            seconds = time.perf_counter() - t0
            await stage.submit(w.handle, result, origin, "reads.batch", seconds, delivery, ack=[event])

    async def plans_for(w: Worker, tp: tuple[str, int], first: int) -> Plans:
        # Resuming anywhere but where this worker left off (start, crash, rebalance): load the recorded pieces.
        if w.next_offset.get(tp) != first:
            for f, last in await stage.run(w.load_plans, tp[0], tp[1], first):
                w.plans[tp].add(f, last)
        return w.plans[tp]

    @app.agent(topic("reads.json"))
    async def events(stream: faust.StreamT) -> None:
        w = worker()
        # Per partition: events of a recorded piece whose end has not arrived yet, and takes that brought none.
        held: dict[tuple[str, int], list[Any]] = defaultdict(list)
        idle: dict[tuple[str, int], int] = defaultdict(int)
        async for taken in stream.noack_take(settings.worker_batch, within=0.5):
            by_tp: dict[tuple[str, int], list[Any]] = defaultdict(list)
            for e in taken:
                by_tp[(e.message.topic, e.message.partition)].append(e)
            for tp in list(held):
                idle[tp] = 0 if tp in by_tp else idle[tp] + 1
                by_tp[tp] = held.pop(tp) + by_tp[tp]
            new_plans: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
            jobs = []
            for tp, tp_events in by_tp.items():
                offsets = [e.message.offset for e in tp_events]
                plans = await plans_for(w, tp, offsets[0])
                # Stop waiting for the rest of a recorded piece once its partition brought nothing new for a while.
                pieces, used = cut(offsets, plans, complete=idle[tp] >= 3)
                if used < len(tp_events):
                    held[tp] = tp_events[used:]
                else:
                    idle.pop(tp, None)
                if used:
                    w.next_offset[tp] = offsets[used - 1] + 1
                for piece in pieces:
                    if not piece.planned:
                        plans.add(piece.first, piece.last)
                        new_plans[tp[0]].append((tp[1], piece.first, piece.last))
                    part = tp_events[piece.start : piece.stop]
                    origins = [f"{e.message.topic}/{e.message.partition}/{e.message.offset}" for e in part]
                    t0 = time.perf_counter()
                    decoded = decode_json([e.value for e in part], origins, settings.max_message_bytes)
                    result = w.process(decoded, "reads.json")
                    delivery = w.publish(result, "reads.json")
                    jobs.append((result, piece.token(*tp), time.perf_counter() - t0, delivery, part))
            # A piece's range is recorded before its aggregates: the stage runs jobs in order.
            for name, plans_of_topic in new_plans.items():
                await stage.submit(w.record_plans, name, plans_of_topic)
            for result, token, seconds, delivery, part in jobs:
                await stage.submit(w.handle, result, token, "reads.json", seconds, delivery, ack=part)

    @app.agent(topic("verifications"))
    async def verifications(stream: faust.StreamT) -> None:
        w = worker()
        async for evs in stream.take_events(500, within=0.5):
            origins = [f"{e.message.topic}/{e.message.partition}/{e.message.offset}" for e in evs]
            await stage.run(w.handle_verifications, [e.value for e in evs], origins, f"{origins[0]}..{origins[-1]}")

    @app.timer(interval=settings.tick_s)
    async def clocks() -> None:
        # State expires on the wall clock even when no reads arrive.
        await stage.run(worker().tick)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json({**worker().health(), **stage.status()})

    @app.page("/retention")
    async def retention_view(web: Any, request: Any) -> Any:
        # This worker's own store, checked in its process (an embedded store is open in one process only).
        return web.json({"findings": await stage.run(worker().retention_findings)})

    @app.page("/search")
    class SearchView(View):
        """The gated search path: POST a JSON request with who asks and why; it is audited before it answers."""

        async def post(self, request: Any) -> Any:
            try:
                req = search_request(await request.read())
                rows = await stage.run(worker().search, req)
            except SearchRefused as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"rows": json_rows(rows)})

    @app.task
    async def warm_up() -> None:
        worker()

    return app
