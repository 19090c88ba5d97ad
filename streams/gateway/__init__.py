"""The ingest gateway (`platestream gateway serve`): cameras that speak HTTP, into ``reads.json``.

``app`` (the FastAPI application and ``serve``), ``formats`` (agent and webhook bodies into the workers' JSON
events, images stripped), ``tokens`` (per-camera token hashes), ``publisher`` (answers only after the broker
confirms). See docs/cameras.md. The package imports none of them: FastAPI and uvicorn load only with ``app``.
"""

__all__ = ["app", "formats", "publisher", "tokens"]
