"""The state and sinks of one worker process: matching, publishing, the writes of the sink stage, the clocks.

The Faust agents (``streams.worker.app``) call ``process`` and ``publish`` on the event loop, then hand
``handle`` and the other writes to the sink stage's thread. Everything the worker talks to is given to it or
built from the settings: the producer, the store, the Kafka feeds and the clock, so its logic is testable
without a broker (see tests/worker/).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from streams import metrics
from streams.clock import SYSTEM, Clock
from streams.config.settings import Settings, load_policy, policy_lut
from streams.core.alerts import hit_payloads
from streams.core.live_hotlist import LiveHotList
from streams.core.pipeline import Processor
from streams.errors import StoreError
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.limits import apply_limits
from streams.ingest.verifications import decode_verifications
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name
from streams.model.batch import BatchResult
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded
from streams.store.aggregates import write_aggregates, write_expiry
from streams.store.clickhouse import Store, migrate, open_store
from streams.store.deletions import write_log_starts
from streams.store.faults import FaultInjectingStore
from streams.store.holds import place_hold, preserve, release_hold
from streams.store.plans import read_plans, write_plans
from streams.store.purge import purge
from streams.store.reads import write_reads
from streams.store.retention_check import verify_store
from streams.worker.alert_window import seed_alert_window
from streams.worker.delivery import Delivery, Producer
from streams.worker.feeds import Feeds, KafkaFeeds
from streams.worker.pieces import Plans

__all__ = ["Worker", "open_worker_store"]

log = logging.getLogger(__name__)


def open_worker_store(settings: Settings) -> Store:
    """The configured store (server or embedded), with the fault hook when configured, migrated."""
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    if settings.store_fault_file is not None:  # test hook, inert unless configured
        store = FaultInjectingStore(store, settings.store_fault_file)
    migrate(store, settings.aggregate_ttl_days)
    return store


class Worker:
    """The state and sinks of one worker process; the Faust agents call ``process`` and ``handle``.

    ``producer``, ``store`` and ``feeds`` are built from ``settings`` when not given (a given store is used as
    it is: migrated by its owner); ``clock`` is read wherever the worker needs the time.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = SYSTEM,
        producer: Producer | None = None,
        store: Store | None = None,
        feeds: Feeds | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.clock = clock
        self.sleep = sleep  # between retries of a failed store write
        self.feeds = feeds if feeds is not None else KafkaFeeds(settings, clock)
        policy = load_policy(settings.policy_path)
        lut = policy_lut(policy)
        self.lock = threading.Lock()  # matching and hot-list updates never interleave
        self.live = LiveHotList(policy, lut)
        if settings.hotlist_path is not None:
            entries, pre = read_hotlist_csv(settings.hotlist_path)
            self.live.load(entries, clock.now_ms())
            if pre.num_rows:
                self.live.refused["bad_date"] = self.live.refused.get("bad_date", 0) + pre.num_rows
        for rule, n in self.live.refused.items():
            metrics.HOTLIST_REFUSED.labels(rule).inc(n)
        self.processor = Processor(self.live, settings.processor_config(policy), lut)
        self.limits = settings.input_limits()
        self.alerts_restored = self._restore_alert_window()
        self.store = store if store is not None else open_worker_store(settings)
        self.store_failing_since_ms: int | None = None
        self.store_error: str | None = None
        self.plans: dict[tuple[str, int], Plans] = defaultdict(Plans)
        self.next_offset: dict[tuple[str, int], int] = {}
        self.producer = producer if producer is not None else make_producer(settings, **{"linger.ms": 5})
        self.hits_topic = topic_name(settings, "hits")
        self.dead_topic = topic_name(settings, "deadletter")
        self.batches = 0
        self.last_batch_ms: int | None = None
        self.follower = self.feeds.hotlist(self.live, self.lock, self._dead_from_follower)
        self.follower.catch_up()
        self.follower.start()
        metrics.HOTLIST_ENTRIES.set(len(self.live))
        # The read store: what the retention policy keeps, plates as keyed hashes; purged on its own clock.
        self.retention = settings.retention_policy()
        self.keys = settings.load_plate_keys() if self.processor.config.keep_reads != "none" else None
        self.holds = self.feeds.holds()
        self.holds.start()
        self.last_purge_ms = 0
        self.last_purge: dict[str, int] = {}
        if not settings.purge:
            # Nothing deletes then, not even the engine's lazy TTL: what the verifier finds is what was left.
            log.warning("purge is off: expired rows stay in the store until it is turned back on")
            self.store.command("SYSTEM STOP TTL MERGES")

    def _restore_alert_window(self) -> int:
        """Seed the alert window from alerts already published, so a restarted worker alerts no passage twice."""
        window_ms = int(self.settings.alert_window_s * 1000)
        if window_ms <= 0:
            return 0
        return seed_alert_window(self.processor, self.feeds.recent_alerts(self.clock.now_ms() - window_ms))

    def _send_dead(self, dead: list[DeadLetter], source: str, delivery: Delivery) -> None:
        """Send dead letters to the dead-letter topic; ``delivery.confirm()`` waits for the broker."""
        for d in dead:
            payload = json.dumps({**d.to_json(), "source": source}).encode()
            delivery.produce(self.dead_topic, payload, d.origin.encode())

    def _send_dead_now(self, dead: list[DeadLetter], source: str) -> None:
        """Dead letters of a control feed (hot list, holds, verifications): counted, and delivered before going on."""
        if not dead:
            return
        delivery = Delivery(self.producer)
        self._send_dead(dead, source, delivery)
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.reason, source).inc()
        delivery.confirm()

    def _dead_from_follower(self, dead: list[DeadLetter]) -> None:
        self._send_dead_now(dead, "hotlist.events")

    def process(self, decoded: Decoded, source: str) -> BatchResult:
        decoded = apply_limits(decoded, self.limits)
        with self.lock:
            return self.processor.process(decoded, self.clock.now_ms(), source=source)

    def publish(self, result: BatchResult, source: str) -> Delivery:
        """Send a batch's hits and dead letters now (alerting does not wait for ClickHouse)."""
        delivery = Delivery(self.producer)
        for h in hit_payloads(result.hits):
            delivery.produce(self.hits_topic, json.dumps(h).encode(), h["hit_id"].encode())
        self._send_dead(result.dead, source, delivery)
        return delivery

    def retrying(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` until the store takes it: a failed write is retried with backoff (same tokens)."""
        delay = 0.05
        while True:
            try:
                result = fn(*args)
            except StoreError as exc:
                metrics.SINK_ERRORS.labels("clickhouse").inc()
                self.store_error = str(exc)[:300]  # engine messages: table and setting names, no row data
                if self.store_failing_since_ms is None:
                    self.store_failing_since_ms = self.clock.now_ms()
                self.sleep(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_s)
                continue
            self.store_failing_since_ms = None
            return result

    def handle(self, result: BatchResult, token: str, source: str, seconds: float, delivery: Delivery) -> None:
        """In the sink thread: confirm a batch's messages, then write its aggregates (retried until written)."""
        delivery.confirm()
        self.retrying(write_aggregates, self.store, result, token)
        if self.keys is not None:
            self.retrying(write_reads, self.store, result.stored_reads, self.keys, self.retention, token)
        metrics.record(result, source, seconds)
        self.batches += 1
        self.last_batch_ms = self.clock.now_ms()

    def record_plans(self, topic: str, plans: list[tuple[int, int, int]]) -> None:
        self.retrying(write_plans, self.store, topic, plans, self.clock.now_ms())

    def load_plans(self, topic: str, partition: int, from_offset: int) -> list[tuple[int, int]]:
        return self.retrying(read_plans, self.store, topic, partition, from_offset, self.settings.worker_batch)

    def handle_verifications(self, payloads: list[bytes], origins: list[str], token: str) -> None:
        table, dead = decode_verifications(payloads, origins)
        self._send_dead_now(dead, "verifications")
        if table.num_rows:
            self.retrying(self.store.insert_arrow, "verifications", table, token)
            for row in table.select(["decision", "reason"]).to_pylist():
                metrics.VERIFICATIONS.labels(row["decision"], row["reason"] or "none").inc()

    def tick(self) -> None:
        """Every few seconds: the retention clock, and the hot-list sources' freshness clocks."""
        now = self.clock.now_ms()
        with self.lock:
            expired = self.processor.expire(now)
        metrics.EXPIRED.labels("processor_state").inc(expired)
        metrics.DEDUP_STATE.set(len(self.processor.reads_dedup))
        stale = self.live.stale_sources(now)
        for source, age in self.live.source_ages_s(now).items():
            metrics.HOTLIST_SOURCE_AGE.labels(source).set(age)
            metrics.HOTLIST_SOURCE_STALE.labels(source).set(1 if source in stale else 0)
        self.retrying(write_expiry, self.store, expired, now, self.processor.config.bucket_ms, f"expire-{now}")
        self.apply_holds(now)
        if now - self.last_purge_ms >= self.settings.purge_every_s() * 1000:
            self.last_purge_ms = now
            self.sample_kafka_deletions(now)
            if self.settings.purge:
                # Retried like every write: a purge is idempotent, and the limit must hold once the store is back.
                done = self.retrying(purge, self.store, self.retention, now, self.processor.config.bucket_ms)
                self.last_purge = {f"{t}/{c}": n for (t, c), n in done.deleted.items()}
                metrics.EXPIRED.labels("clickhouse").inc(done.total)

    def apply_holds(self, now: int) -> None:
        """Place and release the holds that arrived since the last tick, then copy what they cover."""
        events, dead = self.holds.drain()
        self._send_dead_now(dead, "holds")
        for e in events:  # drained from the follower's queue: applied now, retried until the store takes them
            ev = e.event
            if ev.op == "place":
                self.retrying(place_hold, self.store, ev.hold(), e.offset + 1)
            else:
                self.retrying(release_hold, self.store, ev.hold_id, ev.released_by, ev.reason, ev.at, e.offset + 1)
        if events:
            self.retrying(preserve, self.store, self.retention, now)

    def sample_kafka_deletions(self, now: int) -> None:
        """What Kafka deleted shows as the advance of log start offsets: sample them for the deletion counts."""
        try:
            samples = self.feeds.log_starts(self.retention)
        except Exception:  # noqa: BLE001 - a missed sample only delays the count; the next one catches up
            metrics.SINK_ERRORS.labels("kafka_admin").inc()
            return
        self.retrying(write_log_starts, self.store, samples, now)

    def retention_findings(self) -> list[dict[str, str]]:
        grace_ms = self.settings.store_check_grace_ms()
        now = self.clock.now_ms()
        return [f.__dict__ for f in verify_store(self.store, self.retention, now_ms=now, grace_ms=grace_ms)]

    def health(self) -> dict[str, Any]:
        now = self.clock.now_ms()
        stale = sorted(self.live.stale_sources(now))
        warnings = [f"hot-list source {s} is stale: its hits do not alert" for s in stale]
        if self.store_failing_since_ms is not None:
            warnings.append(f"store failing since {self.store_failing_since_ms}: {self.store_error}")
        return {
            "status": "degraded" if warnings else "ok",
            "warnings": warnings,
            "store_failing_since_ms": self.store_failing_since_ms,
            "hotlist_entries": len(self.live),
            "hotlist_offsets": {str(p): o for p, o in self.follower.applied.items()},
            "hotlist_applied_at_ms": self.follower.applied_at_ms,
            "hotlist_sources_age_s": self.live.source_ages_s(now),
            "dedup_state_reads": len(self.processor.reads_dedup),
            "alerts_restored": self.alerts_restored,
            "oldest_state_read_ms": self.processor.reads_dedup.oldest_ms(),
            "batches": self.batches,
            "last_batch_ms": self.last_batch_ms,
            "store": self.store.name,
            "read_store": self.processor.config.keep_reads,
            "holds_events": self.holds.received,
            "last_purge_ms": self.last_purge_ms or None,
            "last_purge_deleted": self.last_purge,
        }
