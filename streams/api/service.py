"""What one API process holds: its settings, the store (one lock: chDB is one engine per process and is not to
be entered from two threads at once), the plate keys, the roles, the search policy and the camera positions, the
token checker, the control-event signer and the Kafka producer that publishes signed events, and the
per-principal rate limit."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer

from streams.api.auth import Authenticator
from streams.api.refusals import Refused
from streams.config.access import load_access
from streams.config.review_policy import load_review_policy
from streams.config.search_policy import load_search_policy
from streams.config.secret_files import load_signer
from streams.config.settings import Settings, load_policy
from streams.core.signing import ControlSigner
from streams.ingest.camera_sites import load_camera_positions
from streams.kafka.audit_log import audit_setup
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name
from streams.model.access import Principal
from streams.model.audit import AuditEntry
from streams.store.audit import audit
from streams.store.audit import configure as configure_audit
from streams.store.clickhouse import Store, open_store
from streams.store.faults import FaultInjectingStore
from streams.store.report_counts import RequestCount, write_request_count
from streams.store.schema import prepared_store

__all__ = ["RateLimiter", "Service"]

T = TypeVar("T")
# How long a publish waits for the broker's acknowledgement: the message times out first, so when the answer
# goes out the event is either on the topic or will never be.
MESSAGE_TIMEOUT_MS = 5000
FLUSH_S = 8.0
BROKER_DOWN = "the event was not delivered to Kafka: check PLATESTREAM_KAFKA_BOOTSTRAP and that the broker is up"


class RateLimiter:
    """At most ``per_minute`` requests per principal in any 60 s (a sliding window of request times)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, who: str, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        with self.lock:
            times = self.seen.setdefault(who, deque())
            while times and times[0] <= t - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(t)
            return True


class Service:
    """The API's resources. ``start`` opens and migrates the store; ``close`` flushes and closes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        configure_audit(*audit_setup(settings))  # every record this process writes is signed with its key
        self.auth = Authenticator(settings)
        policy = load_access(settings.access_path)
        self.access = policy.access()
        self.hold_release_roles = frozenset(policy.hold_release_roles)
        self.keys = settings.load_plate_keys()
        self.search_policy = load_search_policy(settings.search_policy_path)
        # Under it a read may be a misread: confirming its hit needs every character compared (the workers' rule).
        self.low_confidence = load_policy(settings.policy_path).low_confidence
        # The deployment's own agencies (search policy, review policy's jurisdiction): any other is a partner.
        self.home_agencies = load_review_policy(None, settings.search_policy_path).home_agencies
        registry = settings.camera_registry_path
        self.camera_positions = load_camera_positions(registry) if registry else {}
        # The registry's area of each camera: a search scoped to cameras is counted in the areas it reaches.
        self.camera_areas = {c: site.area for c, site in settings.camera_sites().items() if site.area}
        self.signer: ControlSigner | None = (
            load_signer(settings.control_signing_key_file) if settings.control_signing_key_file else None
        )
        self.limiter = RateLimiter(settings.api_rate_per_minute)
        self.store: Store | None = None
        self.store_lock = threading.Lock()
        self.producer: Producer | None = None
        self.publish_lock = threading.Lock()

    def start(self) -> None:
        store = prepared_store(open_store(self.settings.clickhouse_url, self.settings.chdb_path), self.settings)
        if self.settings.store_fault_file is not None:  # test hook, inert unless configured
            store = FaultInjectingStore(store, self.settings.store_fault_file)
        self.store = store

    def close(self) -> None:
        with self.publish_lock:
            if self.producer is not None:
                self.producer.flush(FLUSH_S)
        with self.store_lock:
            if self.store is not None:
                self.store.close()
                self.store = None

    def with_store(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` with the store to itself."""
        with self.store_lock:
            if self.store is None:
                raise Refused(503, "store_unavailable", "the API's store is not open")
            return fn(self.store, *args)

    def write_audit(self, entry: AuditEntry) -> None:
        self.with_store(audit, entry)

    def write_request_count(self, count: RequestCount, audit_id: str, cameras: tuple[str, ...] = ()) -> None:
        areas = sorted({self.camera_areas[c] for c in cameras if c in self.camera_areas})
        self.with_store(write_request_count, count, audit_id, self.settings.bucket_s * 1000, areas)

    def ready(self) -> list[str]:
        """What keeps the API from serving: an unreachable store, no signing key."""
        problems = []
        try:
            self.with_store(lambda store: store.query_arrow("SELECT 1 AS one"))
        except Exception as exc:  # any failure: the probe says so rather than raising
            problems.append(f"store: {type(exc).__name__}")
        if self.signer is None:
            problems.append("no control signing key (control_signing_key_file)")
        if not self.auth.configured:
            problems.append("authentication is not configured (auth_jwks, auth_issuer, auth_audience)")
        return problems

    def publish(self, topic: str, key: str, event: dict[str, Any], principal: Principal) -> None:
        """Seal ``event`` for ``principal`` and wait until the broker has it; Refused 503 when it does not."""
        self.publish_many(topic, [(key, event)], principal)

    def publish_many(self, topic: str, items: list[tuple[str, dict[str, Any]]], principal: Principal) -> None:
        """Seal each (key, event) for ``principal`` and wait until the broker has them all; Refused 503 if not."""
        if self.signer is None:
            raise Refused(503, "no_signing_key", "this API has no control signing key (control_signing_key_file)")
        envelopes = [(key, self.signer.seal(event, principal)) for key, event in items]
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                errors.append(err)

        with self.publish_lock:
            if self.producer is None:
                self.producer = make_producer(
                    self.settings, **{"linger.ms": 0, "message.timeout.ms": MESSAGE_TIMEOUT_MS}
                )
            try:
                for key, envelope in envelopes:
                    self.producer.produce(
                        topic_name(self.settings, topic), envelope, key.encode(), on_delivery=delivered
                    )
            except (BufferError, KafkaException) as exc:
                raise Refused(503, "broker_unavailable", BROKER_DOWN) from exc
            left = self.producer.flush(FLUSH_S)
        if left or errors:
            raise Refused(503, "broker_unavailable", BROKER_DOWN)
