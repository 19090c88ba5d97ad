"""The state and sinks of one worker process: matching, publishing, the writes of the sink stage, the clocks.

The Faust agents (``streams.worker.app``) call ``process`` and ``publish`` on the event loop, then hand
``handle`` and the other writes to the sink stage's thread. Everything the worker talks to is given to it or
built from the settings: the producer, the store, the Kafka feeds and the clock, so its logic is testable
without a broker (see tests/worker/).

Control events (hot-list changes, holds, verifications) are applied only when signed by a trusted key for a
principal whose role allows them (``streams.ingest.control``); each applied or refused one is audited with that
identity. A refused one is a dead letter; so is one the store refuses for good (``StoreRejected``): a bad control
event never stops the worker, while transient store errors are still retried.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import msgspec
import pyarrow as pa

from streams import metrics
from streams.clock import SYSTEM, Clock
from streams.config.access import load_access
from streams.config.secret_files import load_verifier
from streams.config.settings import Settings, load_policy, policy_lut
from streams.core.alerts import hit_payloads
from streams.core.live_hotlist import LiveHotList
from streams.core.pipeline import Processor
from streams.errors import StoreError
from streams.ingest.control import NO_KEYS, ControlGate, Rejection, rejection
from streams.ingest.holds import HoldEvent, hold_rule_broken
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.limits import apply_limits
from streams.ingest.verifications import (
    Verification,
    decode_verifications,
    outcomes_table,
    verifications_table,
)
from streams.kafka.audit_log import audit_setup
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name
from streams.model import deadletter as dl
from streams.model.audit import AuditEntry
from streams.model.batch import BatchResult
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded
from streams.model.disposition import CONFIRMED
from streams.store.aggregates import write_aggregates, write_expiry
from streams.store.audit import audit
from streams.store.audit import configure as configure_audit
from streams.store.clickhouse import Store, StoreRejected, open_store, start_ttl_merges, stop_ttl_merges
from streams.store.deletions import write_log_starts
from streams.store.faults import FaultInjectingStore
from streams.store.hits import write_hits
from streams.store.holds import known_hold, place_hold, preserve, release_hold
from streams.store.plans import read_plans, write_plans
from streams.store.purge import purge
from streams.store.reads import write_reads
from streams.store.report_counts import (
    HoldChange,
    applied_hold_change,
    count_verifications,
    expired_hold_changes,
    refused_hold_changes,
    write_hold_changes,
    write_hotlist_changes,
)
from streams.store.retention_check import verify_store
from streams.store.schema import prepared_store
from streams.store.sql import sql_literal
from streams.worker.alert_window import seed_alert_window
from streams.worker.decisions import applied_entry, screen
from streams.worker.delivery import Delivery, Producer
from streams.worker.feeds import Feeds, KafkaFeeds
from streams.worker.pieces import Matched, Plans

__all__ = ["Worker", "control_gate", "open_worker_store"]

log = logging.getLogger(__name__)
AUDIT_LOOKUP_CHUNK = 500  # origins per query when checking which audit records are written already


def control_gate(settings: Settings) -> ControlGate:
    """The check every control event passes: the trusted control keys and the roles file. Without keys nothing
    is trusted (and the worker says so once)."""
    if settings.control_keys_file is None:
        log.warning("%s; every hot-list, hold and verification event will be dead-lettered", NO_KEYS)
        verifier = None
    else:
        verifier = load_verifier(settings.control_keys_file)
    return ControlGate(verifier, load_access(settings.access_path).access())


def store_rejected(exc: StoreRejected, raw: bytes, origin: str, action: str, who: object) -> Rejection:
    """The dead letter of a control event the store refused for good: the error's code, never its text (which can
    quote the statement)."""
    detail = f"the store refused it for good (ClickHouse {exc.code}: {exc.code_name}); retrying cannot help"
    return rejection(dl.STORE_REJECTED, detail, raw, origin, action, who)  # type: ignore[arg-type]


def counted_audit(store: Store, entry: AuditEntry) -> int:
    """``audit``, each failure counted (``platestream_audit_write_failures_total{role="worker"}``)."""
    try:
        return audit(store, entry)
    except StoreError:
        metrics.AUDIT_WRITE_FAILURES.labels("worker").inc()
        raise


def take_token(tokens: Sequence[str]) -> str:
    """The token of a take's joint inserts: its pieces' tokens (one piece: its own), hashed when there are several."""
    if len(tokens) == 1:
        return tokens[0]
    return "take:" + hashlib.blake2b("+".join(tokens).encode(), digest_size=16).hexdigest()


def open_worker_store(settings: Settings) -> Store:
    """The configured store (server or embedded), with the fault hook when configured, migrated (or checked)."""
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    if settings.store_fault_file is not None:  # test hook, inert unless configured
        store = FaultInjectingStore(store, settings.store_fault_file)
    return prepared_store(store, settings)  # without store_maintenance: ConfigError unless fully migrated


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
            for rule in pre["rule"].to_pylist():  # rows the reader refused, each by its rule
                self.live.refused[rule] = self.live.refused.get(rule, 0) + 1
        for rule, n in self.live.refused.items():
            metrics.HOTLIST_REFUSED.labels(rule).inc(n)
        self.processor = Processor(self.live, settings.processor_config(policy), lut)
        self.limits = settings.input_limits()
        self.alerts_restored = self._restore_alert_window()
        configure_audit(*audit_setup(settings))  # the worker's audit records are signed with its key
        self.store = store if store is not None else open_worker_store(settings)
        self.store_failing_since_ms: int | None = None
        self.store_error: str | None = None
        self.plans: dict[tuple[str, int], Plans] = defaultdict(Plans)
        self.next_offset: dict[tuple[str, int], int] = {}
        self.producer = producer if producer is not None else make_producer(settings, **{"linger.ms": 5})
        self.hits_topic = topic_name(settings, "hits")
        self.dead_topic = topic_name(settings, "deadletter")
        self.batches = 0
        self.input_messages = 0  # Kafka messages whose outputs are written (a batch holds one or more)
        self.last_batch_ms: int | None = None
        self.gate = control_gate(settings)
        self.hold_release_roles = frozenset(load_access(settings.access_path).hold_release_roles)
        self.follower = self.feeds.hotlist(self.live, self.lock, self._dead_from_follower, self.gate)
        self.follower.catch_up()
        self.follower.start()
        metrics.HOTLIST_ENTRIES.set(len(self.live))
        # The read store: what the retention policy keeps, plates as keyed hashes; purged on its own clock.
        self.retention = settings.retention_policy()
        self.keys = settings.load_plate_keys() if self.processor.config.keep_reads != "none" else None
        self.holds = self.feeds.holds(self.gate)
        self.holds.start()
        self.last_purge_ms = 0
        self.last_purge: dict[str, int] = {}
        self.ttl_stopped: list[str] = []
        if not settings.purge and settings.store_maintenance:
            # Nothing deletes then, not even the engine's lazy TTL (embedded only, per table, undone by `close`).
            log.warning("purge is off: expired rows stay in the store until it is turned back on")
            self.ttl_stopped = stop_ttl_merges(self.store)

    def close(self) -> None:
        """On the sink thread, after the last write: stop the followers, undo the TTL stop, close the store (before
        the interpreter's teardown, where an open embedded store crashes the process)."""
        self.follower.stop()
        self.holds.stop()
        try:
            start_ttl_merges(self.store, self.ttl_stopped)
        finally:
            self.store.close()

    def _restore_alert_window(self) -> int:
        """Seed the alert window from alerts already published, so a restarted worker alerts no passage twice."""
        window_ms = int(self.settings.alert_window_s * 1000)
        if window_ms <= 0:
            return 0
        return seed_alert_window(self.processor, self.feeds.recent_alerts(self.clock.now_ms() - window_ms))

    def _send_dead(self, dead: list[DeadLetter], source: str, delivery: Delivery) -> None:
        """Send dead letters to the dead-letter topic; ``delivery.confirm()`` waits for the broker."""
        for d in dead:
            payload = msgspec.json.encode({**d.to_json(), "source": source})
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
        for h in hit_payloads(result.hits):  # msgspec: a fifth of json.dumps's time, a NaN as null (valid JSON)
            delivery.produce(self.hits_topic, msgspec.json.encode(h), h["hit_id"].encode())
        self._send_dead(result.dead, source, delivery)
        return delivery

    def retrying(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` until the store takes it: a failed write is retried with backoff (same tokens)."""
        return self._retry(partial(fn, *args), give_up_when_rejected=False)

    def applying(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` for a control event: retried while the store fails, but a ``StoreRejected`` is
        raised at once (the caller dead-letters the event and goes on)."""
        return self._retry(partial(fn, *args, **kwargs), give_up_when_rejected=True)

    def _retry(self, call: Callable[[], Any], give_up_when_rejected: bool) -> Any:
        delay = 0.05
        while True:
            try:
                result = call()
            except StoreError as exc:
                metrics.SINK_ERRORS.labels("clickhouse").inc()
                if give_up_when_rejected and isinstance(exc, StoreRejected):
                    raise
                self.store_error = str(exc)[:300]  # engine messages: table and setting names, no row data
                if self.store_failing_since_ms is None:
                    self.store_failing_since_ms = self.clock.now_ms()
                self.sleep(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_s)
                continue
            self.store_failing_since_ms = None
            return result

    def handle(self, result: BatchResult, token: str, source: str, seconds: float, delivery: Delivery) -> None:
        """In the sink thread: one batch's outputs (``handle_take`` of one piece)."""
        self.handle_take([Matched(result, token, seconds, delivery)], source)

    def handle_take(self, pieces: Sequence[Matched], source: str) -> None:
        """In the sink thread: confirm a take's messages, then write its pieces' outputs (retried until written).
        Each piece's aggregates carry its own token (they add up, so a redelivery must be dropped by token); the
        hits and reads of the whole take go in one insert each, as a redelivered row replaces itself (``FINAL``):
        an insert costs chDB milliseconds whatever its size, so the inserts per take do not grow with its pieces."""
        for piece in pieces:
            t0 = time.perf_counter()
            piece.delivery.confirm()
            metrics.SINK_WRITE_DURATION.labels("kafka").observe(time.perf_counter() - t0)
            metrics.observe_capture_to_hit(piece.result.hits, self.clock.now_ms())
        t0 = time.perf_counter()
        for piece in pieces:
            self.retrying(write_aggregates, self.store, piece.result, piece.token)
        token = take_token([piece.token for piece in pieces])
        # The hits, without plate text: what a verification must name.
        self.retrying(write_hits, self.store, pa.concat_tables([p.result.hits for p in pieces]), token)
        if self.keys is not None:
            reads = pa.concat_tables([p.result.stored_reads for p in pieces])
            self.retrying(write_reads, self.store, reads, self.keys, self.retention, token)
        self.write_audits(self.follower.drain_audit())  # the hot-list follower's, written on this thread
        metrics.SINK_WRITE_DURATION.labels("clickhouse").observe(time.perf_counter() - t0)
        for piece in pieces:
            metrics.record(piece.result, source, piece.seconds)
        self.batches += len(pieces)
        self.last_batch_ms = self.clock.now_ms()

    def record_plans(self, topic: str, plans: list[tuple[int, int, int]]) -> None:
        self.retrying(write_plans, self.store, topic, plans, self.clock.now_ms())

    def load_plans(self, topic: str, partition: int, from_offset: int) -> list[tuple[int, int]]:
        return self.retrying(read_plans, self.store, topic, partition, from_offset, self.settings.worker_batch)

    def handle_verifications(self, payloads: list[bytes], origins: list[str], token: str) -> None:
        """People's dispositions of hits and outcomes of confirmed hits, signed by a principal allowed to ``verify``
        (``outcomes.record``) and passing the rules of ``streams.worker.decisions``: each written one is audited with
        who recorded it, each refused one dead-lettered and audited."""
        events, rejected = decode_verifications(payloads, origins, self.gate)
        lookup = lambda query, ids: self.retrying(query, self.store, ids)  # noqa: E731 - retried store reads
        decisions, outcomes, refused = screen(events, lookup, self.processor.config.low_confidence)
        rejected += refused
        written: list[Verification] = []
        for table, rows, build in (
            ("verifications", decisions, verifications_table),
            ("hit_outcomes", outcomes, outcomes_table),
        ):
            if not rows:
                continue
            try:
                self.applying(self.store.insert_arrow, table, build(rows), f"{token}:{table}")
                written += rows
            except StoreRejected as exc:
                rejected += [store_rejected(exc, v.raw, v.who.origin, v.kind, v.who) for v in rows]
        self.reject(rejected, "verifications")
        self.write_audits([applied_entry(v, self.clock.now_ms()) for v in written])
        # After the rows are in: the first disposition (outcome) of each hit counts, once (docs/aggregates.md).
        self.retrying(count_verifications, self.store, written, self.processor.config.bucket_ms)
        for v in written:
            if v.kind == "verify":
                metrics.VERIFICATIONS.labels(v.decision, "none" if v.word == CONFIRMED else v.word).inc()

    def reject(self, rejected: list[Rejection], source: str) -> None:
        """Refused control events: dead letters delivered, then audited (on the sink thread)."""
        if not rejected:
            return
        self._send_dead_now([r.dead for r in rejected], source)
        now = self.clock.now_ms()
        self.write_audits([r.audit_entry(now) for r in rejected])

    def write_audits(self, entries: list[AuditEntry]) -> None:
        """Audit control events, once each: an event read again (a restart re-reads the control topics) is not
        recorded twice; its origin (``client``), action and decision identify it."""
        if not entries:
            return
        written: set[tuple[str, str, str]] = set()
        clients = sorted({e.client for e in entries})
        for i in range(0, len(clients), AUDIT_LOOKUP_CHUNK):
            chunk = ", ".join(sql_literal(c) for c in clients[i : i + AUDIT_LOOKUP_CHUNK])
            found = self.retrying(
                self.store.query_arrow,
                f"SELECT DISTINCT client, action, decision FROM audit_log WHERE client IN ({chunk})",
            )
            written |= {(r["client"], r["action"], r["decision"]) for r in found.to_pylist()}
        for e in entries:
            if (e.client, e.action, e.decision) not in written:
                self.retrying(counted_audit, self.store, e)
                written.add((e.client, e.action, e.decision))

    def tick(self) -> None:
        """Every few seconds: the retention clock, and the hot-list sources' freshness clocks."""
        now = self.clock.now_ms()
        with self.lock:
            expired = self.processor.expire(now)
        metrics.RETENTION_DELETED.labels("processor_state", "non_hit_reads").inc(expired)
        metrics.DEDUP_STATE.set(len(self.processor.reads_dedup))
        stale = self.live.stale_sources(now)
        for source, synced_ms in sorted(self.live.last_sync_ms.items()):
            metrics.observe_hotlist_source(source, synced_ms, source in stale)
        self.retrying(write_expiry, self.store, expired, now, self.processor.config.bucket_ms, f"expire-{now}")
        self.write_audits(self.follower.drain_audit())
        changes = self.follower.drain_changes(now)
        self.retrying(write_hotlist_changes, self.store, changes, self.processor.config.bucket_ms)
        self.apply_holds(now)
        if now - self.last_purge_ms >= self.settings.purge_every_s() * 1000:
            self.last_purge_ms = now
            self.sample_kafka_deletions(now)
            if self.settings.purge and self.settings.store_maintenance:  # without maintenance: the CronJob purges
                # Retried like every write: a purge is idempotent, and the limit must hold once the store is back.
                done = self.retrying(purge, self.store, self.retention, now, self.processor.config.bucket_ms)
                self.last_purge = {f"{t}/{c}": n for (t, c), n in done.deleted.items()}
                for (_, data_class), n in done.deleted.items():
                    metrics.RETENTION_DELETED.labels("clickhouse", data_class).inc(n)
                metrics.PURGE_LAST_SUCCESS.set(self.clock.now_ms() / 1000)

    def apply_holds(self, now: int) -> None:
        """Place and release the holds that arrived since the last tick, then copy what they cover. A hold the
        rules, the roles or the store refuse is a dead letter; the worker goes on with the next."""
        events, rejected = self.holds.drain()
        changes: list[HoldChange] = []  # what each did, for hold_changes (docs/aggregates.md)
        for e in events:  # drained from the follower's queue: applied now, retried while the store is away
            try:
                refused = self.apply_hold(e)
            except StoreRejected as exc:
                refused = store_rejected(exc, e.raw, e.origin, e.action, e.who)
            if refused is not None:
                rejected.append(refused)
            else:
                changes += self.retrying(applied_hold_change, self.store, e)
        self.reject(rejected, "holds")
        if events:
            self.retrying(preserve, self.store, self.retention, now)
        changes += refused_hold_changes(rejected, self.gate)
        changes += self.retrying(expired_hold_changes, self.store, now)
        self.retrying(write_hold_changes, self.store, changes, self.processor.config.bucket_ms)

    def apply_hold(self, e: HoldEvent) -> Rejection | None:
        """Apply one authorised hold event; its rejection when a rule refuses it. An event applied before (the
        same offset, read again after a restart) changes nothing and is no rejection."""
        ev, who, version = e.event, e.who, e.offset + 1
        known = self.applying(known_hold, self.store, ev.hold_id)
        if known is not None and known.version >= version:
            return None  # read again: applied (or superseded) already

        def refuse(rule: str, why: str, reason: str = dl.REFUSED) -> Rejection:
            return rejection(reason, f"{rule}: {why}", e.raw, e.origin, e.action, who, rule)

        if ev.op == "place":
            broken = hold_rule_broken(ev, self.retention.hold_max)
            if broken is not None:
                return refuse(*broken)
            if known is not None:
                return refuse("hold_id_reused", "a hold's id is immutable: place a new hold under a new id")
            hold = ev.hold(placed_by=who.actor, agency=who.principal.agency)
            self.applying(place_hold, self.store, hold, version, who.role, e.origin)
            return None
        if known is None:
            return refuse("unknown_hold", "no hold with this id is in force or on record")
        if known.released:
            return refuse("hold_released_already", "the hold was released already")
        role = next((r for r in who.principal.roles if r in self.hold_release_roles), None)
        if known.agency != who.principal.agency or role is None:
            why = f"only the placing agency's {', '.join(sorted(self.hold_release_roles))} may release a hold"
            return refuse("hold_release_not_allowed", why, dl.FORBIDDEN)
        self.applying(
            release_hold,
            self.store,
            ev.hold_id,
            who.actor,
            ev.reason,
            ev.at,
            version,
            agency=who.principal.agency,
            role=role,
            client=e.origin,
        )
        return None

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
