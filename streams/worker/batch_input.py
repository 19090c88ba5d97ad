"""A read input of the worker: a confluent-kafka consumer that hands over many messages at a time.

``reads.batch`` (Arrow IPC, ``worker_batch_messages`` messages a take) and ``reads.json`` (single events,
``worker_batch`` a take) are read here, not by Faust: Faust's per-message path costs more than the matching of a
JSON event, and one take becomes one sink job whatever its size. Each input is a member of the group
``{prefix}worker``; the control topic (``verifications``) stays with Faust, in a group of its own.

A ``reads.batch`` message is a piece of its own, its offset its de-duplication token (no plan to load: matching
goes on while the store is down). A ``reads.json`` take is cut, per partition, into recorded pieces
(``streams.worker.pieces``): the same offsets are always cut the same way, so a redelivered piece carries the
token it carried the first time and changes no count. One sink
job writes the new pieces' ranges, then each piece's outputs. Offsets are stored once the job is written and
committed every second (librdkafka's auto-commit of stored offsets), before a partition is revoked and at stop:
at-least-once, as on every other path (docs/reliability.md).

The consumer is only ever called from one thread of its own (``consume`` blocks); matching runs on the event loop,
like the agents', and the sink stage's completion callbacks note written offsets under a condition variable. The
next take is fetched while one is matched; a revoke (inside that fetch) waits until the take being matched is
submitted, then until it is written, so the next owner starts after it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streams.config.settings import Settings
from streams.ingest.decode import decode_arrow, decode_json_rows
from streams.kafka.camera_partition import CameraPartitioned, misplaced_rows
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import message_origin, topic_name
from streams.model.decoded import Decoded
from streams.worker.delivery import Delivery
from streams.worker.pieces import Matched, Plans, cut
from streams.worker.sink_stage import SinkStage
from streams.worker.worker import Worker

__all__ = ["ARROW", "JSON", "BatchInput", "write_take"]

log = logging.getLogger(__name__)
ARROW, JSON = "reads.batch", "reads.json"
TP = tuple[str, int]


class Job(NamedTuple):
    """A piece's part of a sink job."""

    matched: Matched
    messages: int  # input messages it was matched from


IDLE_TAKES = 3  # takes without news from a partition before a recorded piece is cut short


def write_take(w: Worker, source: str, plans: dict[str, list[tuple[int, int, int]]], jobs: list[Job]) -> None:
    """In the sink thread, one take: its new pieces' ranges recorded before any of their aggregates (so a
    redelivery is cut the same way), then the pieces' outputs (``Worker.handle_take``)."""
    for name, plans_of_topic in plans.items():
        w.record_plans(name, plans_of_topic)
    w.handle_take([job.matched for job in jobs], source)
    w.input_messages += sum(job.messages for job in jobs)


class TakeAck:
    """Acknowledges a take once the sink stage wrote it (``SinkStage`` calls ``ack``): its offsets may be stored."""

    def __init__(self, owner: BatchInput, next_offsets: dict[TP, int]):
        self.owner, self.next_offsets = owner, next_offsets

    def ack(self) -> None:
        self.owner.written(self.next_offsets)


class BatchInput:
    """One read topic, consumed in takes by the group ``{prefix}worker``."""

    def __init__(
        self, settings: Settings, stage: SinkStage, source: str, on_crash: Callable[[BaseException], Any]
    ) -> None:
        if source not in (ARROW, JSON):
            raise ValueError(f"unknown read input {source!r}")
        self.settings, self.stage, self.source, self.on_crash = settings, stage, source, on_crash
        self.topic = topic_name(settings, source)
        self.group = group_id(settings, "worker")
        self.take_size = settings.worker_batch_messages if source == ARROW else settings.worker_batch
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"platestream-{source}")
        self._consumer: Consumer | None = None
        self._changed = threading.Condition()
        self._in_flight: dict[TP, int] = defaultdict(int)  # takes submitted and not yet written, by partition
        self._written: dict[TP, int] = {}  # next offset written and not yet stored, by partition
        self._assigned: set[TP] = set()
        self._held: dict[TP, list[Message]] = {}  # messages of a recorded piece whose end has not arrived yet
        self._idle: dict[TP, int] = defaultdict(int)
        self._handling = False  # a take is matched on the event loop: a revoke waits until it is submitted
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._worker: Worker | None = None

    # -- the input thread: every call on the consumer ------------------------------------------------------------

    def _open(self) -> None:
        s = self.settings
        self._consumer = Consumer(
            client_config(
                s,
                {
                    "group.id": self.group,
                    "client.id": f"{self.group}-{self.source}",
                    "enable.auto.commit": True,  # commits what is stored, every second
                    "auto.commit.interval.ms": 1000,
                    "enable.auto.offset.store": False,  # stored only once written (``written``)
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": int(s.session_timeout_s * 1000),
                    "heartbeat.interval.ms": int(max(1.0, s.session_timeout_s / 5) * 1000),
                    "partition.assignment.strategy": "range",
                    # Fetched and not yet taken: with the sink stage's bound, the input's memory bound.
                    "queued.max.messages.kbytes": 65536,
                },
            )
        )
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _take(self) -> list[Message]:
        assert self._consumer is not None
        self._store_written()
        messages = self._consumer.consume(self.take_size, 0.5)
        kept = []
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("%s: consumer error: %s", self.topic, err.str())
                continue
            # Fetched before a revoke that happened inside this call: another worker owns it now.
            if (m.topic(), m.partition()) in self._assigned:
                kept.append(m)
        return kept

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        # Wait (bounded) until what was taken from them is written, then commit it: the next owner starts there.
        with self._changed:
            self._changed.wait_for(
                lambda: not self._handling and not any(self._in_flight.get(tp) for tp in revoked),
                timeout=self.settings.session_timeout_s,
            )
        self._store_written()
        self._commit(consumer)
        self._assigned -= revoked
        for tp in revoked:  # whoever resumes here, this worker included, loads the recorded pieces again
            self._held.pop(tp, None)
            self._idle.pop(tp, None)
            if self._worker is not None:
                self._worker.next_offset.pop(tp, None)
                self._worker.plans.pop(tp, None)

    def _store_written(self) -> None:
        with self._changed:
            written, self._written = self._written, {}
        offsets = [TopicPartition(t, p, o) for (t, p), o in written.items() if (t, p) in self._assigned]
        if offsets and self._consumer is not None:
            try:
                self._consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:  # revoked meanwhile: the next owner reads them again, tokens dedupe
                log.warning("%s: offsets not stored: %s", self.topic, exc)

    def _commit(self, consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("%s: commit failed (the input is read again from the last commit): %s", self.topic, exc)

    def _finish(self) -> None:
        """At stop: wait until everything taken is written, commit it and leave the group."""
        if self._consumer is None:
            return
        with self._changed:
            self._changed.wait_for(lambda: not any(self._in_flight.values()))
        self._store_written()
        self._commit(self._consumer)
        self._consumer.close()
        self._consumer = None

    # -- the sink thread's acknowledgements (on the event loop) --------------------------------------------------

    def written(self, next_offsets: dict[TP, int]) -> None:
        with self._changed:
            for tp, offset in next_offsets.items():
                self._in_flight[tp] -= 1
                if offset > self._written.get(tp, -1):
                    self._written[tp] = offset
            self._changed.notify_all()

    # -- the event loop ------------------------------------------------------------------------------------------

    def start(self, worker: Worker) -> None:
        self._worker = worker
        self._task = asyncio.get_running_loop().create_task(self._run(worker), name=f"input-{self.source}")

    async def stop(self) -> None:
        """Finish the take in hand (one fetched meanwhile is left to be read again), wait until everything matched is
        written, commit, leave the group."""
        self._stopping = True
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self, w: Worker) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._open)
            pending = loop.run_in_executor(self._pool, self._take)
            while True:
                messages = await pending
                if self._stopping:  # taken, not matched: none of it is stored, so it is read again
                    break
                # The next take is fetched while this one is matched; a revoke inside that fetch waits for this one,
                # so it is marked before the fetch starts.
                self._set_handling(True)
                pending = loop.run_in_executor(self._pool, self._take)
                try:
                    if messages or self._held:
                        await self._handle(w, messages)
                finally:
                    self._set_handling(False)
        except Exception as exc:  # noqa: BLE001 - the worker stops on it, as on a crashed agent
            log.exception("%s: the input stopped", self.topic)
            self.on_crash(exc)
        finally:
            await loop.run_in_executor(self._pool, self._finish)
            self._pool.shutdown(wait=False)

    def _set_handling(self, handling: bool) -> None:
        with self._changed:
            self._handling = handling
            self._changed.notify_all()

    async def _plans_for(self, w: Worker, tp: TP, first: int) -> Plans:
        # Resuming anywhere but where this worker left off (start, crash, rebalance): load the recorded pieces.
        if w.next_offset.get(tp) != first:
            for f, last in await self.stage.run(w.load_plans, tp[0], tp[1], first):
                w.plans[tp].add(f, last)
        return w.plans[tp]

    async def _handle(self, w: Worker, messages: list[Message]) -> None:
        by_tp: dict[TP, list[Message]] = defaultdict(list)
        for m in messages:
            by_tp[(m.topic(), m.partition())].append(m)
        for tp in list(self._held):
            self._idle[tp] = 0 if tp in by_tp else self._idle[tp] + 1
            by_tp[tp] = self._held.pop(tp) + by_tp[tp]
        new_plans: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        jobs: list[Job] = []
        next_offsets: dict[TP, int] = {}
        rerouted = Delivery(CameraPartitioned(w.producer, self.settings.partitions))
        for tp, part_messages in by_tp.items():
            if self.source == ARROW:  # a message is a piece of its own: its offset is its token, no plan needed
                for m in part_messages:
                    jobs.append(self._match(w, [m], tp, message_origin(m), rerouted))
                    await asyncio.sleep(0)  # let /readyz and the timers in between messages, as the agents did
                next_offsets[tp] = part_messages[-1].offset() + 1
                continue
            offsets = [m.offset() for m in part_messages]
            plans = await self._plans_for(w, tp, offsets[0])
            # Stop waiting for the rest of a recorded piece once its partition brought nothing new for a while.
            pieces, used = cut(offsets, plans, complete=self._idle[tp] >= IDLE_TAKES)
            if used < len(part_messages):
                self._held[tp] = part_messages[used:]
            else:
                self._idle.pop(tp, None)
            if not used:
                continue
            w.next_offset[tp] = next_offsets[tp] = offsets[used - 1] + 1
            for piece in pieces:
                if not piece.planned:
                    plans.add(piece.first, piece.last)
                    new_plans[tp[0]].append((tp[1], piece.first, piece.last))
                jobs.append(self._match(w, part_messages[piece.start : piece.stop], tp, piece.token(*tp), rerouted))
                await asyncio.sleep(0)
        if rerouted.pending or rerouted.failed:
            await asyncio.get_running_loop().run_in_executor(None, rerouted.confirm)
        if not jobs:
            return
        with self._changed:
            for tp in next_offsets:
                self._in_flight[tp] += 1
        # One sink job per take, whatever its partitions: the pieces' ranges first, then each piece's outputs.
        await self.stage.submit(write_take, w, self.source, dict(new_plans), jobs, ack=[TakeAck(self, next_offsets)])

    def _match(self, w: Worker, messages: list[Message], tp: TP, token: str, rerouted: Delivery) -> Job:
        """One piece matched and its hits and dead letters sent: the sink job's part for it."""
        t0 = time.perf_counter()
        s = self.settings
        if self.source == ARROW:
            (m,) = messages  # an Arrow piece is one message
            decoded = decode_arrow(m.value() or b"", message_origin(m), s.max_message_bytes, s.max_message_rows)
        else:
            decoded = self._decode_json(messages, tp, rerouted)
        result = w.process(decoded, self.source)
        delivery = w.publish(result, self.source)
        return Job(Matched(result, token, time.perf_counter() - t0, delivery), len(messages))

    def _decode_json(self, messages: list[Message], tp: TP, rerouted: Delivery) -> Decoded:
        s = self.settings
        # Reads not on their camera's partition (a producer that does not key by camera) go there, keyed by
        # camera, and are not processed here: confirmed before any offset of theirs is committed.
        values = [m.value() or b"" for m in messages]
        decoded, rows_at = decode_json_rows(values, [message_origin(m) for m in messages], s.max_message_bytes)
        away = misplaced_rows(decoded.reads, tp[1], s.partitions)
        if not away.any():
            return decoded
        cameras = decoded.reads["camera_id"].to_pylist()
        for row in np.flatnonzero(away).tolist():
            rerouted.produce(tp[0], values[rows_at[row]], cameras[row].encode())
        here = np.flatnonzero(~away).tolist()
        reads = decoded.reads.filter(pa.array(~away))
        return Decoded(reads, decoded.heartbeats, decoded.dead, [decoded.origins[i] for i in here])
