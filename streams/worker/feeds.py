"""What a worker follows on Kafka beside its agents' topics: published alerts (at start), the hot-list and holds
topics (in threads of their own, which open and authorise control events with the worker's ``ControlGate``), and
the topics' log start offsets (what Kafka has deleted).

One seam: the ``Worker`` takes a ``Feeds`` (``KafkaFeeds`` unless told otherwise), so its logic runs without a
broker in tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from streams.clock import SYSTEM, Clock
from streams.config.retention import RetentionPolicy
from streams.config.settings import Settings
from streams.core.live_hotlist import LiveHotList
from streams.ingest.control import ControlGate, Rejection
from streams.ingest.holds import HoldEvent
from streams.ingest.hotlist_changes import HotlistChange
from streams.kafka.admin import log_starts
from streams.kafka.holds_follower import HoldsFollower
from streams.kafka.hotlist_follower import HotlistFollower
from streams.kafka.topics import topic_name
from streams.model.audit import AuditEntry
from streams.model.deadletter import DeadLetter
from streams.worker.alert_window import recent_alerts

__all__ = ["Feeds", "HoldsSource", "HotlistSource", "KafkaFeeds"]


class HotlistSource(Protocol):
    """Applies hot-list events to the live list: ``HotlistFollower``."""

    applied: dict[int, int]
    applied_at_ms: int | None

    def catch_up(self) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None:
        """Stop following and close the consumer (the worker's shutdown)."""
        ...

    def drain_audit(self) -> list[AuditEntry]:
        """The audit records of the events applied or refused since the last call (written by the sink thread)."""
        ...

    def drain_changes(self, now_ms: int) -> list[HotlistChange]:
        """What the hot list's changes count (``hotlist_changes``) since the last call, expiries included."""
        ...


class HoldsSource(Protocol):
    """Queues hold events for the worker's tick: ``HoldsFollower``."""

    received: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def drain(self) -> tuple[list[HoldEvent], list[Rejection]]: ...


class Feeds(Protocol):
    def recent_alerts(self, since_ms: int) -> list[tuple[str, int]]:
        """(entry id, read time in ms) of the alerts published since ``since_ms``."""
        ...

    def hotlist(
        self,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        gate: ControlGate,
    ) -> HotlistSource: ...

    def holds(self, gate: ControlGate) -> HoldsSource: ...

    def log_starts(self, policy: RetentionPolicy) -> list[tuple[str, str, int, int]]:
        """(topic, data class, partition, log start offset) of every retention-bound topic."""
        ...


class KafkaFeeds:
    """The feeds on the broker named by ``settings``."""

    def __init__(self, settings: Settings, clock: Clock = SYSTEM):
        self.settings = settings
        self.clock = clock

    def recent_alerts(self, since_ms: int) -> list[tuple[str, int]]:
        return recent_alerts(self.settings, topic_name(self.settings, "hits"), since_ms)

    def hotlist(
        self,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        gate: ControlGate,
    ) -> HotlistFollower:
        return HotlistFollower(self.settings, live, lock, on_dead, gate, clock=self.clock)

    def holds(self, gate: ControlGate) -> HoldsFollower:
        return HoldsFollower(self.settings, gate)

    def log_starts(self, policy: RetentionPolicy) -> list[tuple[str, str, int, int]]:
        return log_starts(self.settings, policy)
