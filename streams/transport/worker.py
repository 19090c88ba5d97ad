"""The stream worker: a Faust app whose agents feed Kafka messages through ``Processor.process``.

Inputs: ``reads.batch`` (one Arrow IPC stream per message) and ``reads.json`` (single events, taken in small
batches). Outputs: hits and dead letters to their topics (confluent-kafka, idempotent), aggregates to ClickHouse
with a de-duplication token made from the input offset, so a redelivered message changes no count. A message is
acknowledged (its offset committed) only after every output of it is written: at-least-once, with hits carrying a
stable ``hit_id`` for downstream de-duplication.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.config import Settings, load_policy, policy_lut
from streams.core import aggregate
from streams.core.alerts import hit_payloads
from streams.core.hotlist import HotList
from streams.core.pipeline import BatchResult, Processor
from streams.core.policy import admit
from streams.ingest.decode import decode_arrow, decode_json, merge
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.store.clickhouse import migrate, open_store
from streams.store.sink import write_aggregates, write_expiry
from streams.transport.producer import make_producer
from streams.transport.topics import topic_name

log = logging.getLogger("platestream.worker")


def _now_ms() -> int:
    return int(time.time() * 1000)


def load_hotlist(settings: Settings) -> tuple[HotList, dict[str, int]]:
    policy = load_policy(settings.policy_path)
    if settings.hotlist_path is None:
        return HotList.empty(), {}
    entries, pre = read_hotlist_csv(settings.hotlist_path)
    adm = admit(entries, policy, _now_ms())
    refused = adm.refused_by_rule()
    if pre.num_rows:
        refused["bad_date"] = refused.get("bad_date", 0) + pre.num_rows
    return HotList.build(adm.admitted, policy_lut(policy)), refused


class Worker:
    """The state and sinks of one worker process; the Faust agents call ``handle``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        policy = load_policy(settings.policy_path)
        hotlist, refused = load_hotlist(settings)
        for rule, n in refused.items():
            metrics.HOTLIST_REFUSED.labels(rule).inc(n)
        metrics.HOTLIST_ENTRIES.set(len(hotlist))
        self.processor = Processor(hotlist, settings.processor_config(policy), policy_lut(policy))
        self.store = open_store(settings.clickhouse_url, settings.chdb_path)
        migrate(self.store, settings.aggregate_ttl_days)
        self.producer = make_producer(settings, **{"linger.ms": 5})
        self.hits_topic = topic_name(settings, "hits")
        self.dead_topic = topic_name(settings, "deadletter")
        self.batches = 0
        self.last_batch_ms: int | None = None
        self._delivery_errors: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._delivery_errors.append(str(err))

    def handle(self, result: BatchResult, token: str, source: str, seconds: float) -> None:
        """Write every output of one input batch; raises if any write failed (the batch is then redelivered)."""
        for h in hit_payloads(result.hits):
            self.producer.produce(
                self.hits_topic, json.dumps(h).encode(), key=h["hit_id"].encode(), on_delivery=self._on_delivery
            )
        for d in result.dead:
            payload = {**d.to_json(), "source": source}
            self.producer.produce(
                self.dead_topic, json.dumps(payload).encode(), key=d.origin.encode(), on_delivery=self._on_delivery
            )
        remaining = self.producer.flush(30)
        if remaining or self._delivery_errors:
            errors, self._delivery_errors = self._delivery_errors, []
            metrics.SINK_ERRORS.labels("kafka").inc()
            raise RuntimeError(f"{remaining} outputs not delivered; errors: {errors[:3]}")
        try:
            write_aggregates(self.store, result, token)
        except Exception:
            metrics.SINK_ERRORS.labels("clickhouse").inc()
            raise
        metrics.record(result, source, seconds)
        self.batches += 1
        self.last_batch_ms = _now_ms()

    def expire(self) -> int:
        now = _now_ms()
        expired = self.processor.expire(now)
        metrics.EXPIRED.labels("processor_state").inc(expired)
        metrics.DEDUP_STATE.set(len(self.processor.reads_dedup))
        write_expiry(
            self.store,
            aggregate.expiry_counts(now, "processor_state", "non_hit_reads", expired, self.processor.config.bucket_ms),
            f"expire-{now}",
        )
        return expired

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "hotlist_entries": len(self.processor.hotlist),
            "dedup_state_reads": len(self.processor.reads_dedup),
            "batches": self.batches,
            "last_batch_ms": self.last_batch_ms,
            "store": self.store.name,
        }


def create_app(settings: Settings) -> faust.App:
    # One consumer group per deployment prefix; Faust's own files live beside the embedded store.
    app = faust.App(
        f"{settings.topic_prefix}worker",
        datadir=str(Path(settings.chdb_path).resolve().parent / "faust"),
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
    )
    worker_state: dict[str, Worker] = {}
    # One thread for every sink write: the store and the producer see one batch at a time, in order.
    sink_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platestream-sink")

    def worker() -> Worker:
        if "w" not in worker_state:
            worker_state["w"] = Worker(settings)
        return worker_state["w"]

    batch_topic = app.topic(
        topic_name(settings, "reads.batch"), value_type=bytes, value_serializer="raw", partitions=settings.partitions
    )
    json_topic = app.topic(
        topic_name(settings, "reads.json"), value_type=bytes, value_serializer="raw", partitions=settings.partitions
    )

    @app.agent(batch_topic)
    async def batches(stream: faust.StreamT) -> None:
        w = worker()
        async for event in stream.events():
            msg = event.message
            origin = f"{msg.topic}/{msg.partition}/{msg.offset}"
            t0 = time.perf_counter()
            decoded = decode_arrow(event.value, origin, settings.max_message_bytes)
            result = w.processor.process(decoded, _now_ms(), source="reads.batch")
            await asyncio.get_running_loop().run_in_executor(
                sink_thread, w.handle, result, origin, "reads.batch", time.perf_counter() - t0
            )

    @app.agent(json_topic)
    async def events(stream: faust.StreamT) -> None:
        w = worker()
        async for evs in stream.take_events(settings.worker_batch, within=0.5):
            origins = [f"{e.message.topic}/{e.message.partition}/{e.message.offset}" for e in evs]
            t0 = time.perf_counter()
            decoded = merge([decode_json([e.value for e in evs], origins, settings.max_message_bytes)])
            result = w.processor.process(decoded, _now_ms(), source="reads.json")
            # One token per taken range: the first and last offset identify the batch on redelivery.
            token = f"{origins[0]}..{origins[-1]}"
            await asyncio.get_running_loop().run_in_executor(
                sink_thread, w.handle, result, token, "reads.json", time.perf_counter() - t0
            )

    @app.timer(interval=5.0)
    async def retention_clock() -> None:
        # State expires on the wall clock even when no reads arrive.
        await asyncio.get_running_loop().run_in_executor(sink_thread, worker().expire)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json(worker().health())

    @app.task
    async def warm_up() -> None:
        worker()

    return app
