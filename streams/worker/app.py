"""The stream worker: read inputs and a Faust app that feed Kafka messages through ``Processor.process``.

Inputs: ``reads.batch`` (Arrow IPC streams, ``worker_batch_messages`` a take) and ``reads.json`` (single events,
``worker_batch`` a take), read in takes by confluent-kafka consumers of the group ``{prefix}worker``
(``streams.worker.batch_input``); ``verifications`` (operator decisions) by a Faust agent in the group
``{prefix}worker-control``; the hot list follows ``hotlist.events`` in a thread of its own.
Outputs: hits and dead letters to their topics (confluent-kafka, idempotent), sent as soon as a batch is matched;
aggregates and verifications to ClickHouse through the sink stage (one thread, bounded, retried with backoff) with
a de-duplication token made from the input offsets, so a redelivered message changes no count (cut along
recorded pieces, see ``streams.worker.pieces``). A message is acknowledged (its offset committed) only
after every output of it is written: at-least-once, with hits carrying a stable ``hit_id`` for downstream
de-duplication. See docs/reliability.md.

This module wires the app: its inputs, agents and timers. The worker's logic is ``streams.worker.worker.Worker``; the
web views are in ``streams.worker.http``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust

from streams import metrics
from streams.config.settings import Settings
from streams.kafka.client import faust_broker_options, group_id
from streams.kafka.lag import LagSampler, publish_topic_retention
from streams.kafka.topics import origin, topic_name
from streams.worker.batch_input import ARROW, JSON, BatchInput
from streams.worker.faust_patch import commit_before_revoke
from streams.worker.http import add_views
from streams.worker.lifecycle import Lifecycle, WorkerApp
from streams.worker.sink_stage import SinkStage

__all__ = ["create_app"]


def create_app(settings: Settings) -> faust.App:
    # One consumer group per deployment prefix; Faust's own files live beside the embedded store.
    datadir = Path(settings.chdb_path).resolve().parent / "faust"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(
        group_id(settings, "worker-control"),  # Faust reads the control topic only
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

    # The read inputs: confluent-kafka takes in the group `{prefix}worker` (streams.worker.batch_input).
    def crash(exc: BaseException) -> None:
        asyncio.ensure_future(app.crash(exc))

    inputs = [BatchInput(settings, stage, source, crash) for source in (ARROW, JSON)]
    life.inputs = inputs

    @app.agent(topic("verifications"))
    async def verifications(stream: faust.StreamT) -> None:
        w = await life.ready()
        async for evs in stream.take_events(500, within=0.5):
            origins = [origin(e.message.topic, e.message.partition, e.message.offset) for e in evs]
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
    samplers = [
        LagSampler(settings, group_id(settings, "worker"), [topic_name(settings, t) for t in (ARROW, JSON)]),
        LagSampler(settings, app.conf.id, [topic_name(settings, "verifications")]),
    ]
    life.on_close += [s.close for s in samplers]

    def sample_lag() -> None:
        for sampler in samplers:
            sampler.sample_and_publish()

    @app.timer(interval=max(1.0, settings.tick_s))
    async def consumer_lag() -> None:
        if not life.stopping:
            await asyncio.get_running_loop().run_in_executor(None, sample_lag)

    add_views(app, life, stage)

    @app.task
    async def warm_up() -> None:
        await life.start()
        if not life.stopping:
            for read_input in inputs:
                read_input.start(await life.ready())

    return app
