"""Producers on confluent-kafka: idempotent, compressed, batched. Reads are partitioned by camera."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import Producer

from streams.config.settings import Settings
from streams.core.normalise import stable_codes
from streams.ingest.decode import encode_arrow
from streams.kafka.client import client_config
from streams.kafka.topics import topic_name


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    conf = {
        "enable.idempotence": True,  # off by default in librdkafka: no duplicates on retry, order kept
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": 50,  # batch producers: throughput comes from batching
        "message.max.bytes": settings.max_message_bytes + 65536,
    }
    return Producer(client_config(settings, conf, **overrides))


def partition_of(camera: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The partition of each read: by camera, so one worker holds all of a camera's de-duplication state."""
    return (stable_codes(camera) % np.uint64(partitions)).astype(np.int32)


def send_reads(
    producer: Producer, settings: Settings, table: pa.Table, partitions: int, max_rows: int = 100_000
) -> int:
    """One Arrow IPC message per partition (and per ``max_rows``). Returns messages sent."""
    topic = topic_name(settings, "reads.batch")
    part = partition_of(table["camera_id"], partitions)
    sent = 0
    for p in np.unique(part):
        sub = table.filter(pa.array(part == p))
        for start in range(0, sub.num_rows, max_rows):
            producer.produce(topic, encode_arrow(sub.slice(start, max_rows)), partition=int(p))
            sent += 1
            producer.poll(0)
    return sent


def send_json(producer: Producer, settings: Settings, events: Iterable[dict[str, Any] | bytes], partitions: int) -> int:
    topic = topic_name(settings, "reads.json")
    sent = 0
    for ev in events:
        raw = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
        cam = None
        if isinstance(ev, dict) and ev.get("camera_id") is not None:
            cam = str(ev["camera_id"])
        if cam is not None:
            producer.produce(topic, raw, partition=int(partition_of(pa.array([cam]), partitions)[0]))
        else:
            producer.produce(topic, raw)
        sent += 1
        producer.poll(0)
    return sent
