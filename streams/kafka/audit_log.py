"""The audit log's sequencer topic: with a ClickHouse server shared by the API and the workers, every process sends
its signed records to the one-partition ``audit`` topic, and the broker's order is the log's order (a record's
seq is its offset + 1). One sequencer process (`platestream audit sequence`) writes them to the store in that
order, linking each to the one before. See docs/search-and-audit.md for why.
"""

from __future__ import annotations

import threading

from confluent_kafka import KafkaError

from streams.config.settings import Settings
from streams.core.audit_log import AuditSigner
from streams.errors import StoreError
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name

__all__ = ["KafkaAuditSink", "audit_setup"]

DELIVERY_TIMEOUT_MS = 10_000


class KafkaAuditSink:
    """Sends signed audit records to the ``audit`` topic and waits until the broker has each (``acks=all``)."""

    def __init__(self, settings: Settings):
        self.topic = topic_name(settings, "audit")
        self.bootstrap = settings.kafka_bootstrap
        self.lock = threading.Lock()  # one record in flight at a time: its offset is its place in the log
        # The project's producer (idempotent, acks=all), sending each record at once.
        self.producer = make_producer(settings, **{"linger.ms": 0, "message.timeout.ms": DELIVERY_TIMEOUT_MS})

    def append(self, signed: bytes) -> int:
        """The seq the log gives ``signed``; StoreError (one sentence) when the broker does not take it in time."""
        result: dict[str, object] = {}

        def delivered(err: KafkaError | None, msg: object) -> None:
            result["err"], result["msg"] = err, msg

        with self.lock:
            try:
                self.producer.produce(self.topic, signed, on_delivery=delivered)
            except (BufferError, KafkaError) as exc:
                raise StoreError(f"audit: cannot send to {self.topic}: {exc}") from None
            self.producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 1)
        err, msg = result.get("err"), result.get("msg")
        if err is not None or msg is None:
            raise StoreError(
                f"audit: the broker at {self.bootstrap} did not take the record "
                f"({err or 'no answer'}): check PLATESTREAM_KAFKA_BOOTSTRAP"
            )
        return int(msg.offset()) + 1  # type: ignore[attr-defined]


def audit_setup(settings: Settings) -> tuple[AuditSigner, list, KafkaAuditSink | None]:
    """What ``streams.store.audit.configure`` takes for this process: its signing key, the other writers' public
    keys, and the sequencer's topic when ``audit_via_kafka`` (else the process writes its own store)."""
    sink = KafkaAuditSink(settings) if settings.audit_via_kafka else None
    return settings.audit_signer(), settings.audit_trusted_keys(), sink
