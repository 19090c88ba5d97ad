"""Follows the ``holds`` topic: every worker reads all of it from the start (no consumer group), because with
embedded stores each worker keeps its own copy of the reads a hold covers.

The thread only opens, authorises, decodes and queues (``streams.ingest.control``); the worker applies the queue
on its sink thread (``Worker.tick``), the one thread that writes to the store.
"""

from __future__ import annotations

import queue
import threading

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.config.settings import Settings
from streams.ingest.control import ControlGate, Rejection
from streams.ingest.holds import HoldEvent, decode_hold_events
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import message_origin, topic_name

__all__ = ["HoldsFollower"]


class HoldsFollower:
    def __init__(self, settings: Settings, gate: ControlGate):
        self.gate = gate
        self.topic = topic_name(settings, "holds")
        self.consumer = Consumer(
            client_config(
                settings,
                {
                    "group.id": group_id(settings, "holds", private=True),  # never committed
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 100,
                },
            )
        )
        meta = self.consumer.list_topics(self.topic, timeout=15).topics[self.topic]
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)])
        self.pending: queue.Queue[tuple[list[HoldEvent], list[Rejection]]] = queue.Queue()
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="platestream-holds", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msgs = [m for m in self.consumer.consume(500, 0.2) if m.error() is None]
            if msgs:
                self.pending.put(
                    decode_hold_events(
                        [m.value() or b"" for m in msgs],
                        [message_origin(m) for m in msgs],
                        [m.offset() for m in msgs],
                        self.gate,
                    )
                )
                self.received += len(msgs)

    def drain(self) -> tuple[list[HoldEvent], list[Rejection]]:
        events: list[HoldEvent] = []
        dead: list[Rejection] = []
        while True:
            try:
                e, d = self.pending.get_nowait()
            except queue.Empty:
                return events, dead
            events += e
            dead += d

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.consumer.close()
