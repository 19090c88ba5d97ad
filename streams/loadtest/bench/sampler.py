"""The measurement thread: reads sent, reads processed per worker, the group's lag, CPU per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from streams.kafka.client import client_config
from streams.loadtest.bench.procs import cpu_seconds, prom_sum
from streams.loadtest.bench.stack import Stack


class Sampler(threading.Thread):
    """Every ``every`` seconds: reads sent, reads processed per worker, group lag, CPU and RSS per process."""

    def __init__(self, stack: Stack, sent: Callable[[], int], every: float = 0.5, extra_pids: dict | None = None):
        super().__init__(daemon=True)
        self.stack, self.sent, self.every = stack, sent, every
        self.extra_pids = extra_pids or {}
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self.topic = stack.topic("reads.batch")
        # committed() only reads the group's offsets: this consumer never subscribes, so never joins the group
        self.offsets = Consumer(
            client_config(stack.settings(), {"group.id": f"{stack.prefix}worker", "enable.auto.commit": False})
        )
        self.tps = [TopicPartition(self.topic, p) for p in range(stack.partitions)]
        self.dedup_max = [0] * len(stack.workers)

    def lag(self) -> int | None:
        try:
            committed = self.offsets.committed(self.tps, timeout=5)
            lag = 0
            for tp in committed:
                end = self.offsets.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                lag += end - (tp.offset if tp.offset >= 0 else 0)
            return lag
        except Exception:  # noqa: BLE001 - a missed sample, not a failed run
            return None

    def processed(self) -> list[int]:
        out = []
        for i in range(len(self.stack.workers)):
            text = self.stack.metrics(i)
            good = prom_sum(text, "platestream_reads_total")
            dead = prom_sum(text, "platestream_dead_letters_total", 'source="reads.batch"')
            out.append(int(good + dead))
            self.dedup_max[i] = max(self.dedup_max[i], int(prom_sum(text, "platestream_dedup_state_reads")))
        return out

    def sample(self) -> dict:
        t = time.monotonic()
        sent = self.sent()
        processed = self.processed()
        pids = {f"worker{i}": p.pid for i, p in enumerate(self.stack.workers)} | self.extra_pids
        cpu = {k: cpu_seconds(p) for k, p in pids.items()}
        return {"t": t, "sent": sent, "processed": processed, "lag_messages": self.lag(), "cpu": cpu}

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append(self.sample())
            except OSError:
                pass
            self._halt.wait(self.every)

    def stop(self) -> None:
        if not self._halt.is_set():
            self._halt.set()
            if self.is_alive():
                self.join(30)
            self.offsets.close()
