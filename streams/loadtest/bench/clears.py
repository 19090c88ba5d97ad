"""Hot-list clear propagation: clears published one at a time during the load, signed with the stack's control
key as the API would sign them, and how long until every worker shows each applied."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from streams.clock import now_ms
from streams.ingest.hotlist_events import clear_event
from streams.loadtest.bench.stack import Stack
from streams.model.access import Principal

BENCH = Principal("platestream-bench", "bench", ("admin",))  # who the bench's clears are signed for


class ClearWatcher(threading.Thread):
    """Publishes one hot-list clear at a time; for each, the time until every worker's /readyz shows it applied.

    ``applied_ms``: the worker's own clock when its follower applied the event (``hotlist_applied_at_ms``) minus
    the publish time, the slowest worker; ``observed_ms``: until this process saw it on every /readyz.
    """

    def __init__(self, stack: Stack, entry_ids: list[str], interval_s: float, level: Callable[[], int]):
        super().__init__(daemon=True)
        self.stack, self.entry_ids, self.interval_s, self.level = stack, entry_ids, interval_s, level
        self.producer = Producer({"bootstrap.servers": stack.bootstrap, "enable.idempotence": True, "linger.ms": 0})
        self.results: list[dict] = []
        self._halt = threading.Event()

    def clear_one(self, entry_id: str) -> dict:
        delivered: list[Any] = []
        at_ms = now_ms()
        value = self.stack.signer.seal(clear_event(entry_id, "recovered", at_ms), BENCH)
        level = self.level()
        t0 = time.perf_counter()
        self.producer.produce(
            self.stack.topic("hotlist.events"),
            value,
            key=entry_id.encode(),
            on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())),
        )
        self.producer.flush(10)
        if not delivered or delivered[0][0] is not None:
            return {"level": level, "error": f"not delivered: {delivered}"}
        _, part, offset = delivered[0]
        pending = set(range(len(self.stack.workers)))
        applied_at: list[int] = []
        deadline = t0 + 30
        while pending and time.perf_counter() < deadline:  # a clear already published is seen through
            for i in list(pending):
                try:
                    h = self.stack.health(i)
                except OSError:
                    continue
                if h["hotlist_offsets"].get(str(part), 0) > offset:
                    pending.discard(i)
                    applied_at.append(int(h.get("hotlist_applied_at_ms") or 0))
            if pending:
                time.sleep(0.005)
        observed_ms = (time.perf_counter() - t0) * 1000
        if pending:
            return {"level": level, "error": f"not applied by {len(pending)} worker(s) within 30 s"}
        return {"level": level, "observed_ms": round(observed_ms, 1), "applied_ms": max(applied_at) - at_ms}

    def run(self) -> None:
        for entry_id in self.entry_ids:
            if self._halt.is_set():
                break
            self.results.append(self.clear_one(entry_id))
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(60)
