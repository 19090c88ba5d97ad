"""The worker's listener: ``/metrics`` (Prometheus), ``/livez`` and ``/readyz``, and nothing else.

No data leaves a worker over HTTP: searches and administration are the API service's (``platestream api``), and
Faust's own debug pages (``/router``, ``/table``, ``/graph``, statistics) are switched off in ``create_app``.
``/readyz`` is JSON with the worker's health (counts, offsets, clocks; never plate text), 503 while the store is
failing; ``/readyz?checks=retention`` adds the retention check of this worker's own store, run on the sink
stage's thread after the writes queued before it (an embedded store is open in one process, one thread writes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.worker.sink_stage import SinkStage
from streams.worker.worker import Worker

__all__ = ["add_views"]


def add_views(app: faust.App, worker: Callable[[], Worker], stage: SinkStage, built: Callable[[], bool]) -> None:
    """Register ``/metrics``, ``/livez`` and ``/readyz`` on ``app``. ``built`` says the worker has started."""

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/livez")
    async def livez_view(web: Any, request: Any) -> Any:
        # Answering at all is the proof: the event loop that runs the agents is turning.
        return web.json({"status": "live"})

    @app.page("/readyz")
    async def readyz_view(web: Any, request: Any) -> Any:
        if not built():
            return web.json({"status": "starting"}, status=503)
        w = worker()
        doc = {**w.health(), **stage.status()}
        if "retention" in request.query.get("checks", "").split(","):
            doc["retention_findings"] = await stage.run(w.retention_findings)
        return web.json(doc, status=503 if w.store_failing_since_ms is not None else 200)
