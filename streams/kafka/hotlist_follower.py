"""Keeps a worker's hot-list replica current from the compacted ``hotlist.events`` topic.

Every worker reads the whole topic (assigned partitions, no consumer group offsets), so the list is replicated,
not partitioned. At start-up the worker catches up to the end before it matches anything; after that a thread
applies new events as they arrive, under the lock that matching holds, so a clear takes effect for the very next
batch.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams import metrics
from streams.clock import SYSTEM, Clock
from streams.config.settings import Settings
from streams.core.live_hotlist import LiveHotList, apply_ops
from streams.ingest.hotlist_events import decode_hotlist_events
from streams.kafka.client import client_config
from streams.kafka.topics import topic_name
from streams.model.deadletter import DeadLetter


class HotlistFollower:
    def __init__(
        self,
        settings: Settings,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        clock: Clock = SYSTEM,
    ):
        self.clock = clock  # when an event is applied: source freshness and the entries' validity
        self.topic = topic_name(settings, "hotlist.events")
        self.live = live
        self.lock = lock
        self.on_dead = on_dead
        self.consumer = Consumer(
            client_config(
                settings,
                {
                    "group.id": f"{settings.topic_prefix}hotlist-{uuid.uuid4().hex[:8]}",  # never committed
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 10,  # clears must arrive quickly; the topic is small
                },
            )
        )
        meta = self.consumer.list_topics(self.topic, timeout=15).topics[self.topic]
        self.partitions = sorted(meta.partitions)
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions])
        self.applied: dict[int, int] = dict.fromkeys(self.partitions, 0)  # next offset to apply, per partition
        self.applied_at_ms: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, timeout: float = 0.05) -> int:
        msgs = [m for m in self.consumer.consume(1000, timeout) if m.error() is None]
        if not msgs:
            return 0
        decoded = decode_hotlist_events(
            [m.value() or b"" for m in msgs], [f"{m.topic()}/{m.partition()}/{m.offset()}" for m in msgs]
        )
        now = self.clock.now_ms()
        with self.lock:
            counts = apply_ops(self.live, decoded.ops, now)
            for m in msgs:
                self.applied[m.partition()] = max(self.applied[m.partition()], m.offset() + 1)
            self.applied_at_ms = now
        metrics.HOTLIST_ENTRIES.set(len(self.live))
        metrics.HOTLIST_CLEARS.inc(counts["cleared"])
        if decoded.dead:
            self.on_dead(decoded.dead)
        return len(msgs)

    def catch_up(self, timeout_s: float = 60) -> None:
        """Apply everything already on the topic before the worker matches its first read."""
        ends = {
            p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
            for p in self.partitions
        }
        deadline = time.monotonic() + timeout_s
        while any(self.applied[p] < ends[p] for p in self.partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"hot list not loaded from {self.topic} within {timeout_s} s")
            self.poll_once(0.2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="platestream-hotlist", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.consumer.close()
