"""The alert window across restarts: a worker seeds it from the alerts already published to the hits topic, so a
restarted worker alerts no passage twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.config.settings import Settings
from streams.core.normalise import stable_codes
from streams.core.pipeline import Processor
from streams.kafka.client import client_config, group_id

__all__ = ["recent_alerts", "seed_alert_window"]


def recent_alerts(settings: Settings, topic: str, since_ms: int, timeout: float = 30.0) -> list[tuple[str, int]]:
    """(entry id, read time in ms) of every alerting hit published to ``topic`` since ``since_ms``."""
    consumer = Consumer(
        client_config(
            settings,
            {
                # assigned, never joined nor committed; under the prefix, so one group ACL covers a deployment
                "group.id": group_id(settings, "alerts", private=True),
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    out: list[tuple[str, int]] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return out
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in meta.partitions], timeout=10)
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in starts}
        assign = [tp for tp in starts if 0 <= tp.offset < ends[tp.partition]]
        if not assign:
            return out
        consumer.assign(assign)
        pending = {tp.partition for tp in assign}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                p = msg.partition()
                if msg.error() is not None or p not in pending or msg.offset() >= ends[p]:
                    if msg.error() is not None and msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                    continue
                if msg.offset() >= ends[p] - 1:
                    pending.discard(p)
                try:
                    hit = json.loads(msg.value())
                    if hit.get("alert"):
                        when = datetime.fromisoformat(hit["read_time"])
                        out.append((str(hit["entry_id"]), int(when.timestamp() * 1000)))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # not a hit this pipeline wrote: it cannot have alerted
        return out
    finally:
        consumer.close()


def seed_alert_window(processor: Processor, alerts: Sequence[tuple[str, int]]) -> int:
    """Mark each (entry id, read time in ms) as alerted in the processor's alert window; how many were seeded."""
    if alerts:
        entry = stable_codes(pa.array([e for e, _ in alerts], pa.string()))
        t_ms = np.array([t for _, t in alerts], np.int64)
        zeros = np.zeros(len(alerts), np.uint64)
        processor.hits_dedup.observe(entry, zeros.astype(np.uint16), zeros, t_ms)
    return len(alerts)
