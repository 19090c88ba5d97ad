"""The worker's web views: Prometheus metrics, health, the retention verifier and the gated search path.

Store work runs on the sink stage's thread, after the writes queued before it (an embedded store is open in
one process, and one thread writes to it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.ingest.search import json_rows, search_request
from streams.model.search import SearchRefused
from streams.worker.sink_stage import SinkStage
from streams.worker.worker import Worker

__all__ = ["add_views"]


def add_views(app: faust.App, worker: Callable[[], Worker], stage: SinkStage) -> None:
    """Register ``/metrics``, ``/health``, ``/retention`` and ``/search`` on ``app``."""

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        return web.json({**worker().health(), **stage.status()})

    @app.page("/retention")
    async def retention_view(web: Any, request: Any) -> Any:
        # This worker's own store, checked in its process (an embedded store is open in one process only).
        return web.json({"findings": await stage.run(worker().retention_findings)})

    @app.page("/search")
    class SearchView(View):
        """The gated search path: POST a JSON request with who asks and why; it is audited before it answers."""

        async def post(self, request: Any) -> Any:
            try:
                req = search_request(await request.read())
                rows = await stage.run(worker().search, req)
            except SearchRefused as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"rows": json_rows(rows)})
