"""Consumer lag of the worker group, per topic partition, for ``platestream_consumer_lag_messages`` and
``platestream_consumer_lag_seconds`` (docs/operations.md).

In messages: the high watermark minus the group's committed offset (the log start when nothing is committed, or
when the committed offset was deleted already). In seconds: the age of the oldest unprocessed message, the one at
the committed offset, by its broker append time; 0 when none waits. That age, against the topic's
``retention.ms`` (``platestream_kafka_topic_retention_seconds``), is how close unread reads are to deletion.

The sampler is its own consumer: it uses the group's id to read the committed offsets but never joins the group
nor commits. Each sample costs one offset fetch for the group, one watermark request per partition, and one fetch
of a single record batch per lagging partition (``max.partition.fetch.bytes`` small, ``queued.max.messages.kbytes``
bounded, ``timeout_s`` at most). It blocks: call it off the event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import OFFSET_INVALID, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, TopicPartition

from streams import clock, metrics
from streams.config.settings import Settings
from streams.kafka.client import client_config
from streams.kafka.topics import declared, topic_name

__all__ = ["LagSampler", "PartitionLag", "publish_topic_retention"]


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    messages: int  # after the committed offset, not yet processed
    seconds: float  # age of the oldest of them; 0 when there is none


class LagSampler:
    """Samples the lag of consumer group ``group`` on ``topics`` (full names, with the deployment prefix)."""

    def __init__(self, settings: Settings, group: str, topics: list[str], timeout_s: float = 5.0):
        self.settings, self.group, self.topics, self.timeout_s = settings, group, list(topics), timeout_s
        self._consumer: Consumer | None = None

    def consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                client_config(
                    self.settings,
                    {
                        "group.id": self.group,  # to read its committed offsets: never subscribed, never committing
                        "enable.auto.commit": False,
                        "enable.auto.offset.store": False,
                        "auto.offset.reset": "earliest",
                        "max.partition.fetch.bytes": 65536,
                        "queued.max.messages.kbytes": 1024,
                    },
                )
            )
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def partitions(self) -> list[TopicPartition]:
        c = self.consumer()
        out: list[TopicPartition] = []
        for t in self.topics:
            md = c.list_topics(t, timeout=self.timeout_s).topics.get(t)
            if md is not None and md.error is None:
                out += [TopicPartition(t, p) for p in sorted(md.partitions)]
        return out

    def sample(self, now_ms: int | None = None) -> list[PartitionLag]:
        """The lag of every partition of the topics now. Raises KafkaException when the broker cannot say."""
        c = self.consumer()
        tps = self.partitions()
        if not tps:
            return []
        committed = {(tp.topic, tp.partition): tp.offset for tp in c.committed(tps, timeout=self.timeout_s)}
        starts: dict[tuple[str, int], tuple[int, int]] = {}  # (first unprocessed offset, high watermark)
        for tp in tps:
            low, high = c.get_watermark_offsets(tp, timeout=self.timeout_s, cached=False)
            done = committed.get((tp.topic, tp.partition), OFFSET_INVALID)
            start = low if done < 0 else max(done, low)
            starts[(tp.topic, tp.partition)] = (start, high)
        waiting = {k: v[0] for k, v in starts.items() if v[1] > v[0]}
        stamps = self._first_timestamps(waiting)
        now = clock.now_ms() if now_ms is None else now_ms
        out = []
        for (t, p), (start, high) in starts.items():
            ts = stamps.get((t, p))
            age = max(0.0, (now - ts) / 1000) if ts is not None else 0.0
            out.append(PartitionLag(t, p, max(0, high - start), age))
        return out

    def _first_timestamps(self, offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The timestamp of the message at each (topic, partition)'s offset: one fetch each, within the timeout."""
        if not offsets:
            return {}
        c = self.consumer()
        c.assign([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        found: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + self.timeout_s
        try:
            while len(found) < len(offsets) and time.monotonic() < deadline:
                msg = c.poll(0.2)
                if msg is None or msg.error():
                    continue
                key = (msg.topic(), msg.partition())
                ts_type, ts = msg.timestamp()
                if key in offsets and key not in found and ts_type != TIMESTAMP_NOT_AVAILABLE:
                    found[key] = ts
                    c.pause([TopicPartition(*key)])
        finally:
            c.unassign()
        return found

    def sample_and_publish(self) -> list[PartitionLag]:
        """Sample and set the lag gauges; a failed sample counts as an error of the ``kafka_admin`` sink, and the
        gauges keep their last values (``platestream_consumer_lag_last_sample_timestamp_seconds`` shows it)."""
        try:
            lags = self.sample()
        except KafkaException:
            metrics.SINK_ERRORS.labels("kafka_admin").inc()
            return []
        for lag in lags:
            metrics.LAG_MESSAGES.labels(lag.topic, str(lag.partition)).set(lag.messages)
            metrics.LAG_SECONDS.labels(lag.topic, str(lag.partition)).set(lag.seconds)
        metrics.LAG_SAMPLED.set(time.time())
        return lags


def publish_topic_retention(settings: Settings) -> None:
    """``platestream_kafka_topic_retention_seconds`` of every topic declared with a ``retention.ms``."""
    for spec in declared(settings):
        if "retention.ms" in spec.configs:
            seconds = int(spec.configs["retention.ms"]) / 1000
            metrics.TOPIC_RETENTION.labels(topic_name(settings, spec.name)).set(seconds)
