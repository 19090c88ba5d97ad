"""`platestream audit sequence`: the deployment's one audit writer. It reads the ``audit`` topic in order and
writes each record to the store as record ``offset + 1``, linked to the one before (streams/store/audit.py), and
writes a signed checkpoint outside the database every ``audit_checkpoint_interval_s`` when the log has grown.
Restarted, it goes on from the store's head: a record already written is not written twice.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Consumer, TopicPartition

from streams import clock
from streams.config.settings import Settings
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import topic_name
from streams.store import audit
from streams.store.audit import append_signed, log_rows
from streams.store.audit_checkpoints import write_checkpoint
from streams.store.clickhouse import Store

__all__ = ["AuditSequencer"]

log = logging.getLogger(__name__)


class AuditSequencer:
    """Copies the ``audit`` topic into ``store`` in offset order; ``run`` until ``stop``."""

    def __init__(self, settings: Settings, store: Store):
        self.store = store
        self.settings = settings
        self.topic = topic_name(settings, "audit")
        self.checkpointed_seq = 0
        self.last_checkpoint_ms = 0
        self.stopping = threading.Event()
        self.written = 0
        self.last_seq = 0
        self.consumer = Consumer(
            client_config(
                settings,
                {
                    "group.id": group_id(settings, "audit-sequencer"),
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                },
            )  # fmt: skip
        )

    def head(self) -> int:
        rows = log_rows(self.store, 0)
        return rows[-1].seq if rows else 0

    def run(self, idle_exit_s: float | None = None) -> int:
        """Write records as they come; returns how many were written. ``idle_exit_s``: return after that long
        with nothing new (a one-off catch-up), else run until ``stop``."""
        # Start where the store ends, whatever the group committed: the store is the truth of what is written.
        self.last_seq = self.head()
        self.consumer.assign([TopicPartition(self.topic, 0, self.last_seq)])
        idle = 0.0
        try:
            while not self.stopping.is_set():
                self.maybe_checkpoint()
                msg = self.consumer.poll(0.5)
                if msg is None:
                    idle += 0.5
                    if idle_exit_s is not None and idle >= idle_exit_s:
                        break
                    continue
                if msg.error():
                    log.warning("audit sequencer: %s", msg.error())
                    continue
                idle = 0.0
                if append_signed(self.store, msg.offset() + 1, msg.value()):
                    self.written += 1
                self.last_seq = max(self.last_seq, msg.offset() + 1)
                self.consumer.commit(message=msg, asynchronous=True)
        finally:
            self.consumer.close()
        self.maybe_checkpoint(force=True)
        return self.written

    def maybe_checkpoint(self, force: bool = False) -> None:
        """A checkpoint of the log when it grew and the interval has passed (or ``force``)."""
        now = clock.now_ms()
        due = now - self.last_checkpoint_ms >= self.settings.audit_checkpoint_interval_s * 1000
        if self.last_seq > self.checkpointed_seq and (due or force):
            folder = self.settings.audit_checkpoint_dir
            cp = write_checkpoint(self.store, audit.signer(), audit.verifier(), folder, now)
            self.checkpointed_seq, self.last_checkpoint_ms = (cp.seq if cp else self.checkpointed_seq), now

    def stop(self) -> None:
        self.stopping.set()
