"""The console's live view of hits: a consumer thread on the ``hits`` and ``verifications`` topics that keeps the
recent hits in memory, marks each one decided when its disposition arrives, and counts changes so that a page
can ask "anything new since change N?".

It starts from the offsets of ``window_ms`` ago (no consumer group commits: every API process reads the same
recent window), holds at most ``max_hits`` hits (the oldest go first) and as many decisions, and trusts a
disposition only in a signed envelope from a key it knows whose principal may ``verify`` (the gate the workers
use). A message that is not a hit or not an authentic disposition is counted and skipped, never quoted in a log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from streams import clock
from streams.config.settings import Settings
from streams.ingest.control import ControlGate
from streams.ingest.verifications import decode_verifications
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import message_origin, topic_name

__all__ = ["Decision", "FeedHit", "HitsFeed"]

log = logging.getLogger(__name__)
POLL_S = 0.1
BATCH = 500


@dataclass(frozen=True)
class Decision:
    """A disposition on the verifications topic: the word, who decided (``subject@agency``) and when."""

    disposition: str
    actor: str
    at_ms: int


@dataclass(frozen=True)
class FeedHit:
    """A hit as the hits topic carries it (``streams.core.alerts.hit_payloads``) and its decision, if any."""

    payload: dict[str, Any]
    decision: Decision | None

    @property
    def hit_id(self) -> str:
        return self.payload["hit_id"]


class HitsFeed:
    """Recent hits and their decisions, fed by a consumer thread (``start``/``close``)."""

    def __init__(self, settings: Settings, gate: ControlGate, now_ms: Callable[[], int] = clock.now_ms):
        self.settings, self.gate, self.now_ms = settings, gate, now_ms
        self.max_hits = settings.console_max_hits
        self.window_ms = int(settings.console_window_s * 1000)
        self.hits_topic = topic_name(settings, "hits")
        self.verifications_topic = topic_name(settings, "verifications")
        self.hits: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.decisions: OrderedDict[str, Decision] = OrderedDict()
        self.skipped = 0  # messages that were not a hit or not an authentic disposition
        self.version = 0  # grows with every change a page would show
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.assigned = threading.Event()  # set once the consumer reads from its start offsets
        self.thread: threading.Thread | None = None

    # --- what pages read --------------------------------------------------------------------------------------
    def snapshot(self) -> list[FeedHit]:
        """Every hit held, newest arrival first, with its decision."""
        with self.lock:
            return [FeedHit(p, self.decisions.get(h)) for h, p in reversed(self.hits.items())]

    def get(self, hit_id: str) -> FeedHit | None:
        with self.lock:
            payload = self.hits.get(hit_id)
            return None if payload is None else FeedHit(payload, self.decisions.get(hit_id))

    # --- what the consumer writes -----------------------------------------------------------------------------
    def add_hit(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("hit_id"), str) or not doc["hit_id"]:
            self._skip("hits")
            return
        with self.lock:
            self.hits[doc["hit_id"]] = doc
            self.hits.move_to_end(doc["hit_id"])
            while len(self.hits) > self.max_hits:
                self.hits.popitem(last=False)
            self.version += 1

    def add_verification(self, raw: bytes, origin: str) -> None:
        decided, rejected = decode_verifications([raw], [origin], self.gate)
        if rejected:
            self._skip("verifications")
        with self.lock:
            for v in decided:
                if v.kind != "verify":
                    continue  # an outcome: the hit was decided already
                self.decisions[v.hit_id] = Decision(v.word, v.who.actor, v.at_ms)
                self.decisions.move_to_end(v.hit_id)
                while len(self.decisions) > self.max_hits:
                    self.decisions.popitem(last=False)
                self.version += 1

    def _skip(self, topic: str) -> None:
        with self.lock:
            self.skipped += 1
        log.warning("console feed skipped a message on %s that is not what the topic carries", topic)

    # --- the consumer thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="console-hits-feed", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _run(self) -> None:
        conf = client_config(
            self.settings,
            {
                "group.id": group_id(self.settings, "console", private=True),  # never committed: assign() only
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            },
        )
        consumer = Consumer(conf)
        try:
            self._assign(consumer)
            while not self.stopping.is_set():
                for msg in consumer.consume(BATCH, timeout=POLL_S):
                    if msg.error() is not None:
                        continue  # transient broker errors: librdkafka retries
                    if msg.topic() == self.hits_topic:
                        self.add_hit(msg.value() or b"")
                    else:
                        self.add_verification(msg.value() or b"", message_origin(msg))
        except Exception:  # the console shows a stale queue rather than taking the API down
            log.exception("console feed stopped")
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> None:
        """Assign every partition of both topics at the first offset of ``window_ms`` ago (the end when none)."""
        since = self.now_ms() - self.window_ms
        wanted: list[TopicPartition] = []
        for topic in (self.hits_topic, self.verifications_topic):
            while not self.stopping.is_set():
                try:
                    meta = consumer.list_topics(topic, timeout=5).topics[topic]
                except KafkaException:
                    continue
                if meta.error is None and meta.partitions:
                    wanted += [TopicPartition(topic, p, since) for p in sorted(meta.partitions)]
                    break
                self.stopping.wait(1)  # the topic is not there yet (`platestream topics create`)
        if self.stopping.is_set():
            return
        found = consumer.offsets_for_times(wanted, timeout=10)
        consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_END if tp.offset < 0 else tp.offset)
                         for tp in found])  # fmt: skip
        self.assigned.set()
