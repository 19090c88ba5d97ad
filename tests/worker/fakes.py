"""Fakes for the worker's unit tests: a producer whose deliveries are confirmed (or failed) on ``poll``, Kafka
feeds held in memory, and a store wrapper that fails its first writes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from streams.clock import Clock
from streams.config.retention import RetentionPolicy
from streams.core.live_hotlist import LiveHotList
from streams.errors import StoreError
from streams.ingest.control import ControlGate, Rejection
from streams.ingest.holds import HoldEvent, decode_hold_events
from streams.kafka.hotlist_follower import HotlistApplier
from streams.model.deadletter import DeadLetter
from streams.store.clickhouse import Store


class FakeProducer:
    """Records every ``produce``; deliveries are reported on ``poll``, failing the first ``fail[key]`` of a key.

    ``buffer_full`` produce calls raise ``BufferError`` first (a full local queue).
    """

    def __init__(self, fail: dict[bytes, int] | None = None, buffer_full: int = 0):
        self.fail = Counter(fail or {})
        self.buffer_full = buffer_full
        self.produced: list[tuple[str, bytes, bytes]] = []  # every send, re-sends included
        self.delivered: list[tuple[str, bytes, bytes]] = []  # acknowledged by the "broker"
        self.polls = 0
        self._in_flight: list[tuple[str, bytes, bytes, Callable[[Any, Any], None]]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]) -> None:
        if self.buffer_full:
            self.buffer_full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, key))
        self._in_flight.append((topic, value, key, on_delivery))

    def poll(self, timeout: float) -> int:
        self.polls += 1
        in_flight, self._in_flight = self._in_flight, []
        for topic, value, key, done in in_flight:
            if self.fail[key] > 0:
                self.fail[key] -= 1
                done("broker: delivery failed", None)
            else:
                self.delivered.append((topic, value, key))
                done(None, None)
        return len(in_flight)

    def on(self, topic: str) -> list[tuple[bytes, bytes]]:
        """(key, value) of every message delivered to ``topic``."""
        return [(k, v) for t, v, k in self.delivered if t == topic]


class FakeHotlist(HotlistApplier):
    """Stands in for ``HotlistFollower`` without a broker: ``publish`` applies events as the follower's thread
    would (the real ``HotlistApplier``); remembers what the worker asked of it."""

    def __init__(
        self, live: LiveHotList, lock: threading.Lock, on_dead: Callable[[list[DeadLetter]], None], gate, clock
    ):  # noqa: ANN001
        super().__init__(live, lock, on_dead, gate, clock)
        self.applied = {0: 0}
        self.calls: list[str] = []

    def publish(self, *values: bytes) -> list[str]:
        """Apply ``values`` as the next offsets of partition 0; their origins."""
        first = self.applied[0]
        origins = [f"t.hotlist.events/0/{first + i}" for i in range(len(values))]
        self.applied[0] = first + len(values)
        self.apply(list(values), origins)
        return origins

    def catch_up(self) -> None:
        self.calls.append("catch_up")

    def start(self) -> None:
        self.calls.append("start")


class FakeHolds:
    """Stands in for ``HoldsFollower``: ``publish`` decodes envelopes with the worker's gate as the follower's
    thread would, ``queue`` takes decoded ones; ``drain`` empties the queue."""

    def __init__(self) -> None:
        self.events: list[HoldEvent] = []
        self.dead: list[Rejection] = []
        self.received = 0
        self.started = False
        self.gate: ControlGate | None = None
        self.next_offset = 0

    def start(self) -> None:
        self.started = True

    def publish(self, *values: bytes, offset: int | None = None) -> None:
        """Decode ``values`` as the next offsets of partition 0 (or from ``offset``: the same events read again)."""
        assert self.gate is not None
        first = self.next_offset if offset is None else offset
        offsets = list(range(first, first + len(values)))
        self.next_offset = max(self.next_offset, first + len(values))
        self.queue(*decode_hold_events(list(values), [f"t.holds/0/{o}" for o in offsets], offsets, self.gate))

    def queue(self, events: list[HoldEvent], dead: list[Rejection]) -> None:
        self.events += events
        self.dead += dead
        self.received += len(events) + len(dead)

    def drain(self) -> tuple[list[HoldEvent], list[Rejection]]:
        out = (self.events, self.dead)
        self.events, self.dead = [], []
        return out


class FakeFeeds:
    """The Kafka feeds of a worker, in memory."""

    def __init__(self, alerts: list[tuple[str, int]] | None = None, clock: Clock | None = None):
        self.clock = clock
        self.alerts = alerts or []
        self.alerts_since: list[int] = []
        self.hotlist_source: FakeHotlist | None = None
        self.holds_source = FakeHolds()
        self.log_start_samples: list[tuple[str, str, int, int]] = []
        self.log_start_calls = 0

    def recent_alerts(self, since_ms: int) -> list[tuple[str, int]]:
        self.alerts_since.append(since_ms)
        return [a for a in self.alerts if a[1] >= since_ms]

    def hotlist(
        self,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        gate: ControlGate,
    ) -> FakeHotlist:
        assert self.clock is not None, "FakeFeeds(clock=...) for a worker"
        self.hotlist_source = FakeHotlist(live, lock, on_dead, gate, self.clock)
        return self.hotlist_source

    def holds(self, gate: ControlGate) -> FakeHolds:
        self.holds_source.gate = gate
        return self.holds_source

    def log_starts(self, policy: RetentionPolicy) -> list[tuple[str, str, int, int]]:
        self.log_start_calls += 1
        return self.log_start_samples


class FlakyStore:
    """A real store whose first ``failures`` inserts raise ``StoreError`` (a server away, then back)."""

    def __init__(self, store: Store, failures: int):
        self._store = store
        self.failures = failures
        self.name = store.name
        self.inserts: list[tuple[str, str | None]] = []  # (table, token) of the inserts that reached the store

    def command(self, sql: str) -> None:
        self._store.command(sql)

    def query_arrow(self, sql: str) -> pa.Table:
        return self._store.query_arrow(sql)

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"{self.name}: unavailable (injected)")
        self.inserts.append((table, dedup_token))
        self._store.insert_arrow(table, data, dedup_token)

    def close(self) -> None:
        self._store.close()


class OversizeStore(FlakyStore):
    """A real store on which inserts into ``table`` run as one statement over the engine's ``max_query_size``, as
    a hold's SQL of 20,000 read ids did: the engine itself refuses it (a real ``StoreRejected``, code 62)."""

    def __init__(self, store: Store, table: str):
        super().__init__(store, 0)
        self.table = table

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        if table == self.table:
            self._store.command("SELECT length('" + "x" * 300_000 + "')")
        super().insert_arrow(table, data, dedup_token)
