"""Capture-to-hit latency: probe reads of hot-list plates stamped at send time, the thread that sees their
hits, and HDR percentiles of what it measured."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer
from hdrh.histogram import HdrHistogram

from streams.kafka.client import client_config
from streams.loadtest.bench.stack import Stack

PROBE_PREFIX = "bench-p"


def probe_rows(template: pa.Table, hot: list[dict], first: int, n: int, level: int, now_ms: int) -> pa.Table:
    """``n`` reads of hot-list plates stamped ``now_ms``, each from a camera of its own (so never a duplicate).

    Read ids are ``bench-p<level>-<serial>``: the hits they cause are how capture-to-hit latency is measured.
    """
    rows = template.slice(0, 1).take(pa.array(np.zeros(n, np.int32)))
    serial = range(first, first + n)
    values = {
        "read_id": [f"{PROBE_PREFIX}{level:02d}-{k:07d}" for k in serial],
        "camera_id": [f"bench-probe-{k}" for k in serial],
        "plate": [hot[k % len(hot)]["plate"] for k in serial],
        "region": [hot[k % len(hot)]["region"] for k in serial],
    }
    for name, value in values.items():
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, rows.schema.field(i), pa.array(value, pa.string()))
    i = rows.schema.get_field_index("confidence")
    rows = rows.set_column(i, rows.schema.field(i), pa.array(np.full(n, 95.0), rows.schema.field(i).type))
    i = rows.schema.get_field_index("captured_at")
    t = pa.array(np.full(n, now_ms, np.int64)).cast(rows.schema.field(i).type)
    return rows.set_column(i, rows.schema.field(i), t)


class HitWatcher(threading.Thread):
    """Reads the hits topic; for every probe read's hit, receive time minus the read's ``read_time``."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.consumer = Consumer(
            client_config(
                stack.settings(),
                {
                    "group.id": f"{stack.prefix}bench-hits-{time.time_ns()}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    # the broker answers a fetch as soon as data is there; a longer wait only spares it idle polls
                    "fetch.wait.max.ms": 100,
                },
            )
        )
        self.consumer.subscribe([stack.topic("hits")])
        self.latency_us: dict[str, int] = {}  # probe read id -> capture-to-hit microseconds
        self.hits = 0
        self._halt = threading.Event()
        self._needle = f'"{PROBE_PREFIX}'.encode()

    def run(self) -> None:
        while not self._halt.is_set():
            for m in self.consumer.consume(500, 0.05):
                if m.error():
                    continue
                now = time.time()
                self.hits += 1
                value = m.value()
                if self._needle not in value:
                    continue
                h = json.loads(value)
                rid = h["read_id"]
                if rid.startswith(PROBE_PREFIX) and rid not in self.latency_us:
                    cap = datetime.fromisoformat(h["read_time"]).timestamp()
                    self.latency_us[rid] = int((now - cap) * 1e6)

    def stop(self) -> None:
        if not self._halt.is_set():
            self._halt.set()
            if self.is_alive():
                self.join(10)
            self.consumer.close()


def percentiles_ms(values_us: list[int]) -> dict[str, Any]:
    """p50 / p90 / p99 / p99.9 / max of microsecond values through an HDR histogram (3 significant digits), in ms."""
    hist = HdrHistogram(1, 3_600_000_000, 3)  # 1 us .. 1 h
    for v in values_us:
        hist.record_value(max(1, min(int(v), 3_600_000_000)))
    if not values_us:
        return {"count": 0}
    q = {k: round(hist.get_value_at_percentile(p) / 1000, 1) for k, p in (("p50", 50), ("p90", 90), ("p99", 99))}
    q["p99.9"] = round(hist.get_value_at_percentile(99.9) / 1000, 1)
    q["max"] = round(hist.get_max_value() / 1000, 1)
    return {"count": len(values_us), **q}
