"""Delivery of one input batch's messages (hits, dead letters): sent at once, confirmed later in the sink thread.

Kafka keys de-duplicate downstream, so a message whose delivery failed is simply sent again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from streams import metrics

__all__ = ["Delivery", "Producer"]


class Producer(Protocol):
    """The part of ``confluent_kafka.Producer`` the worker uses (a fake stands in for it in tests)."""

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]) -> None: ...

    def poll(self, timeout: float) -> int: ...


class Delivery:
    """The messages one input batch produced: sent at once, their delivery confirmed later in the sink thread."""

    def __init__(self, producer: Producer):
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
