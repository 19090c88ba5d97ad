"""The stream worker: a Faust app whose agents feed Kafka messages through ``Processor.process``.

Inputs: ``reads.batch`` (one Arrow IPC stream per message), ``reads.json`` (single events, taken up to
``worker_batch`` at a time) and ``verifications`` (operator decisions); the hot list follows ``hotlist.events`` in a
thread of its own.
Outputs: hits and dead letters to their topics (confluent-kafka, idempotent), sent as soon as a batch is matched;
aggregates and verifications to ClickHouse through the sink stage (one thread, bounded, retried with backoff) with
a de-duplication token made from the input offsets, so a redelivered message changes no count (``reads.json``:
along recorded pieces, see ``streams.worker.pieces``). A message is acknowledged (its offset committed) only
after every output of it is written: at-least-once, with hits carrying a stable ``hit_id`` for downstream
de-duplication. See docs/reliability.md.

This module wires the app: its agents and timers. The worker's logic is ``streams.worker.worker.Worker``; the
web views are in ``streams.worker.http``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import faust
import numpy as np
import pyarrow as pa

from streams import metrics
from streams.config.settings import Settings
from streams.ingest.decode import decode_arrow, decode_json_rows
from streams.kafka.camera_partition import CameraPartitioned, misplaced_rows
from streams.kafka.client import faust_broker_options, group_id
from streams.kafka.lag import LagSampler, publish_topic_retention
from streams.kafka.topics import topic_name
from streams.model.batch import BatchResult
from streams.model.decoded import Decoded
from streams.worker.delivery import Delivery
from streams.worker.faust_patch import commit_before_revoke
from streams.worker.http import add_views
from streams.worker.lifecycle import Lifecycle, WorkerApp
from streams.worker.pieces import Plans, cut
from streams.worker.sink_stage import SinkStage
from streams.worker.worker import Worker

__all__ = ["create_app"]


def origin(message: Any) -> str:
    """Where an input came from, as dead letters and de-duplication tokens name it: ``topic/partition/offset``."""
    return f"{message.topic}/{message.partition}/{message.offset}"


def write_take(w: Worker, plans: dict[str, list[tuple[int, int, int]]], jobs: list[tuple[Any, ...]]) -> None:
    """In the sink thread, one ``reads.json`` take: its new pieces' ranges recorded before any of their aggregates
    (so a redelivery is cut the same way), then each piece's outputs under the piece's own token."""
    for name, plans_of_topic in plans.items():
        w.record_plans(name, plans_of_topic)
    for result, token, seconds, delivery in jobs:
        w.handle(result, token, "reads.json", seconds, delivery)


def create_app(settings: Settings) -> faust.App:
    # One consumer group per deployment prefix; Faust's own files live beside the embedded store.
    datadir = Path(settings.chdb_path).resolve().parent / "faust"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(
        group_id(settings, "worker"),
        datadir=str(datadir),
        **faust_broker_options(settings),  # broker and credentials: the one client factory
        value_serializer="raw",
        key_serializer="raw",
        web_host=settings.web_host,
        web_bind=settings.web_host,  # listen where the setting says (loopback by default), not on every interface
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
        # The listener serves /metrics, /livez and /readyz only (streams.worker.http): none of Faust's own pages.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
    )
    commit_before_revoke(app)
    # One thread for every sink write: the store and the producer see one batch at a time, in order; at most
    # `sink_queue_batches` wait, then the agents wait too (back-pressure). The worker is built and closed there.
    stage = SinkStage(settings.sink_queue_batches)
    life = app.lifecycle = Lifecycle(settings, stage)

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            topic_name(settings, name), value_type=bytes, value_serializer="raw", partitions=settings.partitions
        )

    @app.agent(topic("reads.batch"))
    async def batches(stream: faust.StreamT) -> None:
        w = await life.ready()
        # Manual acks: a message is acknowledged by the sink stage once its outputs are written.
        async for event in stream.noack().events():
            where = origin(event.message)
            t0 = time.perf_counter()
            result = w.process(
                decode_arrow(event.value, where, settings.max_message_bytes, settings.max_message_rows), "reads.batch"
            )
            delivery = w.publish(result, "reads.batch")
            seconds = time.perf_counter() - t0
            await stage.submit(w.handle, result, where, "reads.batch", seconds, delivery, ack=[event])

    async def plans_for(w: Worker, tp: tuple[str, int], first: int) -> Plans:
        # Resuming anywhere but where this worker left off (start, crash, rebalance): load the recorded pieces.
        if w.next_offset.get(tp) != first:
            for f, last in await stage.run(w.load_plans, tp[0], tp[1], first):
                w.plans[tp].add(f, last)
        return w.plans[tp]

    def decode_here(part: list[Any], tp: tuple[str, int], rerouted: Delivery) -> Decoded:
        # Reads not on their camera's partition (a producer that does not key by camera) go there, keyed by
        # camera, and are not processed here: confirmed before any offset of theirs is committed.
        values = [e.value for e in part]
        decoded, rows_at = decode_json_rows(values, [origin(e.message) for e in part], settings.max_message_bytes)
        away = misplaced_rows(decoded.reads, tp[1], settings.partitions)
        if not away.any():
            return decoded
        cameras = decoded.reads["camera_id"].to_pylist()
        for row in np.flatnonzero(away).tolist():
            rerouted.produce(tp[0], values[rows_at[row]], cameras[row].encode())
        here = np.flatnonzero(~away).tolist()
        reads = decoded.reads.filter(pa.array(~away))
        return Decoded(reads, decoded.heartbeats, decoded.dead, [decoded.origins[i] for i in here])

    @app.agent(topic("reads.json"))
    async def events(stream: faust.StreamT) -> None:
        w = await life.ready()
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
            jobs: list[tuple[BatchResult, str, float, Delivery]] = []
            acks: list[Any] = []
            rerouted = Delivery(CameraPartitioned(w.producer, settings.partitions))
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
                    t0 = time.perf_counter()
                    result = w.process(decode_here(part, tp, rerouted), "reads.json")
                    delivery = w.publish(result, "reads.json")
                    jobs.append((result, piece.token(*tp), time.perf_counter() - t0, delivery))
                    acks += part
            if rerouted.pending or rerouted.failed:
                await asyncio.get_running_loop().run_in_executor(None, rerouted.confirm)
            # One sink job per take, whatever its partitions: the pieces' ranges first, then each piece's outputs.
            if jobs:
                await stage.submit(write_take, w, dict(new_plans), jobs, ack=acks)

    @app.agent(topic("verifications"))
    async def verifications(stream: faust.StreamT) -> None:
        w = await life.ready()
        async for evs in stream.take_events(500, within=0.5):
            origins = [origin(e.message) for e in evs]
            await stage.run(w.handle_verifications, [e.value for e in evs], origins, f"{origins[0]}..{origins[-1]}")

    @app.timer(interval=settings.tick_s)
    async def clocks() -> None:
        # State expires on the wall clock even when no reads arrive.
        if life.worker is not None and not life.stopping:
            await stage.run(life.worker.tick)

    # Consumer lag of this group on its inputs, in a thread of the default executor (never the sink stage's: lag
    # matters most while the store is slow). One sample at a time: Faust awaits a timer before its next run.
    metrics.describe_role("worker")
    publish_topic_retention(settings)
    inputs = [topic_name(settings, t) for t in ("reads.batch", "reads.json", "verifications")]
    lag = LagSampler(settings, app.conf.id, inputs)
    life.on_close.append(lag.close)

    @app.timer(interval=max(1.0, settings.tick_s))
    async def consumer_lag() -> None:
        if not life.stopping:
            await asyncio.get_running_loop().run_in_executor(None, lag.sample_and_publish)

    add_views(app, life, stage)

    @app.task
    async def warm_up() -> None:
        await life.start()

    return app
