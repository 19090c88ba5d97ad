"""Reads on their camera's partition whatever the producer: the worker's check and the producer that re-publishes.

De-duplication holds a camera's state in the worker that owns the camera's partition (``partition_of``). A
third-party producer (kcat, Kafka Connect) may write without a key, or with a partitioner of its own, and spread a
camera over partitions. So a worker checks each ``reads.json`` message: a read on another partition than its
camera's is re-published there, keyed by camera, and not processed where it landed (``misplaced_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.kafka.producer import partition_of

__all__ = ["CameraPartitioned", "camera_partition", "misplaced_rows"]


def camera_partition(camera: str, partitions: int) -> int:
    """The partition of one camera's reads (the rule of ``streams.kafka.producer.partition_of``)."""
    return int(partition_of(pa.array([camera], pa.string()), partitions)[0])


def misplaced_rows(reads: pa.Table, partition: int, partitions: int) -> np.ndarray:
    """Which decoded read rows belong to another partition than ``partition`` (by camera); rows without a camera
    (and whatever is not a read: heartbeats, dead letters) stay where they landed."""
    if not reads.num_rows:
        return np.zeros(0, bool)
    cameras = reads["camera_id"]
    home = partition_of(pc.fill_null(cameras, ""), partitions)
    return (home != partition) & ~cameras.is_null().to_numpy(zero_copy_only=False)


class CameraPartitioned:
    """A producer whose messages go to the partition of their key, a camera id: for ``streams.worker.delivery``,
    whose ``Delivery`` confirms and re-sends what failed."""

    def __init__(self, producer: Any, partitions: int):
        self.producer = producer
        self.partitions = partitions

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]) -> None:
        part = camera_partition(key.decode(), self.partitions)
        self.producer.produce(topic, value, key=key, partition=part, on_delivery=on_delivery)

    def poll(self, timeout: float) -> int:
        return self.producer.poll(timeout)
