"""The worker's listener: ``/metrics`` (Prometheus), ``/livez`` and ``/readyz``, and nothing else.

No data leaves a worker over HTTP: searches and administration are the API service's (``platestream api``), and
Faust's own debug pages (``/router``, ``/table``, ``/graph``, statistics) are switched off in ``create_app``.

``/livez`` answers while the event loop turns, start-up included (the worker is built off the loop).
``/readyz`` is 503 until the worker is built (its store migrated, the hot list caught up to the end of its topic,
the alert window seeded), and then whenever a broker does not answer, the store does not answer or its writes
are failing, or the worker is stopping. Its JSON says the worker's health (counts, offsets, clocks; never plate
text) and ``checks`` which condition failed. ``/readyz?checks=retention`` adds the retention check of this
worker's own store, run on the sink stage's thread after the writes queued before it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.kafka.admin import BrokerProbe
from streams.store.clickhouse import Store, count_rows
from streams.worker.lifecycle import Lifecycle
from streams.worker.sink_stage import SinkStage

__all__ = ["PROBE_TIMEOUT_S", "add_views"]

PROBE_TIMEOUT_S = 3.0  # how long /readyz waits for the broker or the store before calling it unreachable


def store_answers(store: Store) -> bool:
    return count_rows(store, "SELECT 1 AS n") == 1


async def probe(check: Any, *args: Any) -> bool:
    """``check(*args)`` on a thread of the default executor (never the loop, never the sink thread, which may be
    busy with a long write); False when it fails or takes longer than ``PROBE_TIMEOUT_S``."""
    loop = asyncio.get_running_loop()
    try:
        return bool(await asyncio.wait_for(loop.run_in_executor(None, check, *args), PROBE_TIMEOUT_S))
    except Exception:  # noqa: BLE001 - any failure of the probe means "not reachable"
        return False


def add_views(app: faust.App, life: Lifecycle, stage: SinkStage) -> None:
    """Register ``/metrics``, ``/livez`` and ``/readyz`` on ``app``."""
    brokers: list[BrokerProbe] = []  # one admin client, made on the first readiness check

    def broker_answers() -> bool:
        if not brokers:
            brokers.append(BrokerProbe(life.settings))
        return brokers[0].reachable(PROBE_TIMEOUT_S)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/livez")
    async def livez_view(web: Any, request: Any) -> Any:
        # Answering at all is the proof: the event loop that runs the agents is turning.
        return web.json({"status": "live"})

    @app.page("/readyz")
    async def readyz_view(web: Any, request: Any) -> Any:
        if life.stopping:
            return web.json({"status": "stopping"}, status=503)
        w = life.worker
        if w is None:  # migrations, hot-list catch-up, alert-window seed still running
            return web.json({"status": "starting"}, status=503)
        broker_ok, store_ok = await asyncio.gather(probe(broker_answers), probe(store_answers, w.store))
        checks = {
            "hotlist": "caught_up",
            "broker": "reachable" if broker_ok else "unreachable",
            "store": "failing" if w.store_failing_since_ms is not None else "reachable" if store_ok else "unreachable",
        }
        doc = {**w.health(), **stage.status(), "checks": checks}
        if "retention" in request.query.get("checks", "").split(","):
            doc["retention_findings"] = await stage.run(w.retention_findings)
        ready = broker_ok and checks["store"] == "reachable"
        return web.json(doc, status=200 if ready else 503)
