"""Where generated or replayed reads go: Kafka (Arrow IPC to ``reads.batch``, recorded JSON byte for byte to
``reads.json``) or Parquet files by hour. A sink is called with each table; ``close()`` flushes and returns
``{"errors": ..., ...}`` for the run's result."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from confluent_kafka import KafkaException

from streams.errors import kafka_unreachable
from streams.kafka.producer import make_producer, partition_of, send_reads
from streams.kafka.topics import topic_name
from streams.model.read import READ_SCHEMA

HOUR_MS = 3_600_000


class KafkaSink:
    """Arrow IPC batches to ``reads.batch``, partitioned by camera. Delivery errors are counted, not raised."""

    def __init__(self, settings: Any, max_queued: int = 10_000, probe_s: float = 10.0):
        self.settings = settings
        self.max_queued = max_queued
        self.messages = self.delivered = self.errors = 0
        # A broker lost mid-run fails deliveries in a minute (counted as errors) instead of the default 5 minutes.
        # librdkafka's own connection retries stay off the terminal: failed deliveries are counted instead.
        quiet = {"message.timeout.ms": 60_000, "log_level": 2}
        self.producer = make_producer(settings, on_delivery=self._delivered, **quiet)
        try:  # a broker that is not there is one sentence before the run, not a hang at its end
            self.producer.list_topics(timeout=probe_s)
        except KafkaException as exc:
            raise kafka_unreachable(settings.kafka_bootstrap, exc) from None

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors += 1
        else:
            self.delivered += 1

    def __call__(self, table: pa.Table) -> None:
        while len(self.producer) > self.max_queued:  # back-pressure instead of BufferError
            self.producer.poll(0.05)
        if "raw" in table.column_names:
            self.messages += self._send_json(table)
        else:
            self.messages += send_reads(self.producer, self.settings, table, self.settings.partitions)

    def _send_json(self, table: pa.Table) -> int:
        """Recorded JSON events, byte for byte, to ``reads.json``: by camera like the gateway does, else any."""
        topic = topic_name(self.settings, "reads.json")
        cams = table["camera_id"]
        parts = partition_of(cams, self.settings.partitions).tolist()
        known = pc.is_valid(cams).to_pylist()
        for raw, p, has_camera in zip(table["raw"].to_pylist(), parts, known, strict=True):
            if has_camera:
                self.producer.produce(topic, raw, partition=p)
            else:
                self.producer.produce(topic, raw)
            self.producer.poll(0)
        return table.num_rows

    def close(self) -> dict[str, int]:
        left = self.producer.flush(120)
        return {"errors": self.errors + left, "messages": self.messages, "delivered": self.delivered}


def kafka_sink(settings: Any) -> KafkaSink:
    return KafkaSink(settings)


class ParquetSink:
    """Parquet files by hour of ``captured_at``: ``out_dir/hour=YYYY-MM-DDTHH/part-<worker>-<n>.parquet``.

    One open writer per hour (a row group per batch); writers of hours no longer seen are closed, and a file is
    rolled after ``rows_per_file`` rows, so memory and open files stay bounded.
    """

    def __init__(self, out_dir: str | Path, worker: int = 0, rows_per_file: int = 5_000_000, max_open: int = 8):
        self.out = Path(out_dir)
        self.worker = worker
        self.rows_per_file = rows_per_file
        self.max_open = max_open
        self.n = 0
        self.files: list[str] = []
        self.writers: OrderedDict[int, list[Any]] = OrderedDict()  # hour -> [writer, rows]

    def _writer(self, hour: int) -> list[Any]:
        w = self.writers.get(hour)
        if w is not None and w[1] >= self.rows_per_file:
            w[0].close()
            del self.writers[hour]
            w = None
        if w is None:
            name = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H")
            path = self.out / f"hour={name}" / f"part-{self.worker}-{self.n}.parquet"
            self.n += 1
            path.parent.mkdir(parents=True, exist_ok=True)
            w = [pq.ParquetWriter(path, READ_SCHEMA, compression="zstd"), 0]
            self.writers[hour] = w
            self.files.append(str(path))
        self.writers.move_to_end(hour)
        return w

    def __call__(self, table: pa.Table) -> None:
        hours = pc.divide(table["captured_at"].cast(pa.int64()), HOUR_MS).to_numpy()
        seen = np.unique(hours)
        for h in seen:
            w = self._writer(int(h))
            part = table if len(seen) == 1 else table.filter(pa.array(hours == h))
            w[0].write_table(part)
            w[1] += part.num_rows
        for h in [h for h in self.writers if h not in set(seen.tolist())][: max(0, len(self.writers) - self.max_open)]:
            self.writers.pop(h)[0].close()

    def close(self) -> dict[str, Any]:
        for w, _ in self.writers.values():
            w.close()
        self.writers.clear()
        return {"errors": 0, "files": len(self.files)}


def parquet_sink(out_dir: str | Path, worker: int = 0) -> ParquetSink:
    return ParquetSink(out_dir, worker)
