"""Reads on their camera's partition whatever the producer: the worker's check and the producer that re-publishes.

De-duplication holds a camera's state in the worker that owns the camera's partition (``partition_of``). A
third-party producer (kcat, Kafka Connect) may write without a key, or with a partitioner of its own, and spread a
camera over partitions. So a worker checks each ``reads.json`` message: a read on another partition than its
camera's is re-published there, keyed by camera, and not processed where it landed (``misplaced_camera``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from streams.ingest.decode import camera_of
from streams.kafka.producer import partition_of

__all__ = ["CameraPartitioned", "camera_partition", "misplaced_camera"]


def camera_partition(camera: str, partitions: int) -> int:
    """The partition of one camera's reads (the rule of ``streams.kafka.producer.partition_of``)."""
    return int(partition_of(pa.array([camera], pa.string()), partitions)[0])


def misplaced_camera(value: bytes, partition: int, partitions: int) -> str | None:
    """The camera of a read event that is not on its camera's partition; None when it is where it belongs, or is
    not a read (a heartbeat, bad bytes: processed, or dead-lettered, where it landed)."""
    camera = camera_of(value)
    if camera is None or camera_partition(camera, partitions) == partition:
        return None
    return camera


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
