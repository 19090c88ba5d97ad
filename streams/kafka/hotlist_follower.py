"""Keeps a worker's hot-list replica current from the compacted ``hotlist.events`` topic.

Every worker reads the whole topic (assigned partitions, no consumer group offsets), so the list is replicated,
not partitioned. At start-up the worker catches up to the end before it matches anything; after that a thread
applies new events as they arrive, under the lock that matching holds, so a clear takes effect for the very next
batch. Only signed events of an authorised principal are applied (``streams.ingest.control``); the rest are dead
letters. What it applied or refused is queued as audit records (``drain_audit``): the thread never writes to the
store, the worker's sink thread does.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client import Counter

from streams import metrics
from streams.clock import SYSTEM, Clock
from streams.config.settings import Settings
from streams.core.live_hotlist import LiveHotList, apply_ops
from streams.ingest.control import ControlGate
from streams.ingest.hotlist_changes import HotlistChange, expired_changes, hotlist_changes
from streams.ingest.hotlist_events import audit_entries, decode_hotlist_events
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import message_origin, topic_name
from streams.model.audit import AuditEntry
from streams.model.deadletter import DeadLetter

__all__ = ["EXPIRY_CAPPED", "SNAPSHOT_CLEARED", "SNAPSHOT_HELD", "HotlistApplier", "HotlistFollower"]

log = logging.getLogger(__name__)
_P = "platestream_hotlist"
EXPIRY_CAPPED = Counter(
    f"{_P}_expiry_capped_total",
    "Entries admitted with their expiry capped at the policy's maximum",
    registry=metrics.REGISTRY,
)
SNAPSHOT_CLEARED = Counter(
    f"{_P}_cleared_by_snapshot_total",
    "Entries cleared because a newer snapshot of their source did not list them",
    registry=metrics.REGISTRY,
)
SNAPSHOT_HELD = Counter(
    f"{_P}_snapshots_held_total",
    "Snapshots held back: much smaller than the source's last, not confirmed",
    registry=metrics.REGISTRY,
)


class HotlistApplier:
    """Applies hot-list events to the live list under the matching lock: only signed events of an authorised
    principal; the rest go to ``on_dead``. What it applied or refused waits in ``drain_audit`` for the sink thread.
    """

    def __init__(
        self,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        gate: ControlGate,
        clock: Clock = SYSTEM,
    ):
        self.clock = clock  # when an event is applied: source freshness and the entries' validity
        self.live = live
        self.lock = lock
        self.on_dead = on_dead
        self.gate = gate
        self.audits: queue.Queue[AuditEntry] = queue.Queue()
        self.changes: queue.Queue[HotlistChange] = queue.Queue()  # for hotlist_changes, like the audits
        self.expiry_checked_ms: int | None = None  # when expiries were last taken (None: not since the start)
        self.applied_at_ms: int | None = None

    def apply(self, values: list[bytes], origins: list[str], done: Callable[[], None] = lambda: None) -> None:
        """Open, authorise, decode and apply ``values``; ``done`` runs under the lock once they are applied."""
        decoded = decode_hotlist_events(values, origins, self.gate)
        now = self.clock.now_ms()
        clears = [entry_id for op, items in decoded.ops if op == "clear" for entry_id, _, _ in items]
        with self.lock:
            before = self.live.facts(clears)
            applied = apply_ops(self.live, decoded.ops, now)
            snapshot_cleared = [i for snap, _ in applied.snapshots for i in snap.cleared]
            facts = {**self.live.facts(snapshot_cleared), **before}
            done()
            self.applied_at_ms = now
        for change in hotlist_changes(decoded, applied, facts, now):
            self.changes.put(change)
        metrics.HOTLIST_ENTRIES.set(len(self.live))
        counts = applied.counts()
        metrics.HOTLIST_CLEARS.inc(counts["cleared"] + counts["cleared_by_snapshot"])
        EXPIRY_CAPPED.inc(counts["expiry_capped"])
        SNAPSHOT_CLEARED.inc(counts["cleared_by_snapshot"])
        SNAPSHOT_HELD.inc(counts["snapshots_held"])
        for snap, _ in applied.snapshots:
            if snap.status == "held":
                log.warning(
                    "snapshot %s of hot-list source %s held back: %d entries against %d in its last one; nothing "
                    "cleared until a person confirms it (platestream hotlist add ... --snapshot --confirm-shrink)",
                    snap.snapshot,
                    snap.source,
                    snap.entries,
                    snap.previous,
                )
        for entry in audit_entries(decoded, applied, now):
            self.audits.put(entry)
        if decoded.dead:
            self.on_dead(decoded.dead)

    def drain_changes(self, now_ms: int) -> list[HotlistChange]:
        """The changes queued since the last call, and the entries whose expiry passed since (each once)."""
        out: list[HotlistChange] = []
        while True:
            try:
                out.append(self.changes.get_nowait())
            except queue.Empty:
                break
        # Only what expired since the last call: no entry is admitted already past its expiry, so the window is
        # complete. The first call (a start) takes every expired entry again; their change ids keep each once.
        with self.lock:
            expired = self.live.expired(now_ms, self.expiry_checked_ms)
        self.expiry_checked_ms = now_ms
        return out + expired_changes(expired)

    def drain_audit(self) -> list[AuditEntry]:
        """The audit records queued since the last call (applied and refused events), for the sink thread."""
        out: list[AuditEntry] = []
        while True:
            try:
                out.append(self.audits.get_nowait())
            except queue.Empty:
                return out


class HotlistFollower(HotlistApplier):
    """Follows ``hotlist.events`` on the broker: catches up at start, then applies new events in a thread."""

    def __init__(
        self,
        settings: Settings,
        live: LiveHotList,
        lock: threading.Lock,
        on_dead: Callable[[list[DeadLetter]], None],
        gate: ControlGate,
        clock: Clock = SYSTEM,
    ):
        super().__init__(live, lock, on_dead, gate, clock)
        self.topic = topic_name(settings, "hotlist.events")
        self.consumer = Consumer(
            client_config(
                settings,
                {
                    "group.id": group_id(settings, "hotlist", private=True),  # never committed
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 10,  # clears must arrive quickly; the topic is small
                },
            )
        )
        meta = self.consumer.list_topics(self.topic, timeout=15).topics[self.topic]
        self.partitions = sorted(meta.partitions)
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions])
        self.applied: dict[int, int] = dict.fromkeys(self.partitions, 0)  # next offset to apply, per partition
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, timeout: float = 0.05) -> int:
        msgs = [m for m in self.consumer.consume(1000, timeout) if m.error() is None]
        if not msgs:
            return 0

        def mark_applied() -> None:
            for m in msgs:
                self.applied[m.partition()] = max(self.applied[m.partition()], m.offset() + 1)

        self.apply([m.value() or b"" for m in msgs], [message_origin(m) for m in msgs], mark_applied)
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
