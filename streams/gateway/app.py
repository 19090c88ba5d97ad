"""The ingest gateway as a FastAPI application: cameras post over HTTP, reads go to ``reads.json`` keyed (and
partitioned) by camera, answered only once the broker has confirmed them.

Routes: ``POST /v1/openalpr`` (Rekor Scout / OpenALPR agent), ``POST /v1/platerecognizer`` (Plate Recognizer,
ParkPow), ``GET /livez``. Answers: 202 accepted (delivered), 400 refused (with a dead letter), 401 no valid token,
403 a camera the token does not cover, 413 body too large, 503 broker unavailable (retry). Field by field:
docs/cameras.md.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pyarrow as pa
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streams.config.network import is_loopback
from streams.config.settings import Settings
from streams.errors import ConfigError
from streams.gateway.formats import Event, Refusal, openalpr_events, platerecognizer_events
from streams.gateway.publisher import BrokerUnavailable, Message, Publisher
from streams.gateway.tokens import CameraTokens
from streams.kafka.producer import make_producer, partition_of
from streams.kafka.topics import topic_name
from streams.model import deadletter as dl
from streams.model.deadletter import DeadLetter

__all__ = ["DEAD_LETTER_SOURCE", "check_authentication", "create_app", "serve"]

log = logging.getLogger("platestream.gateway")

DEAD_LETTER_SOURCE = "gateway"  # the `source` of the gateway's dead letters


def check_authentication(settings: Settings) -> None:
    """Refuse a gateway without camera authentication (tokens or mTLS), except explicitly insecure on loopback."""
    s = settings
    if s.gateway_ssl_client_ca_file and not (s.gateway_ssl_certfile and s.gateway_ssl_keyfile):
        raise ConfigError("gateway_ssl_client_ca_file (mTLS) needs gateway_ssl_certfile and gateway_ssl_keyfile")
    if s.gateway_tokens_file or s.gateway_ssl_client_ca_file:
        return
    if s.gateway_insecure and is_loopback(s.gateway_host):
        return
    raise ConfigError(
        "refusing to start the gateway without camera authentication: set PLATESTREAM_GATEWAY_TOKENS_FILE "
        "(per-camera tokens) and/or PLATESTREAM_GATEWAY_SSL_CLIENT_CA_FILE (mTLS); PLATESTREAM_GATEWAY_INSECURE "
        "is allowed on a loopback address only"
    )


def _error(status: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status)


class TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


def create_app(settings: Settings, publisher: Publisher | None = None) -> FastAPI:
    """The gateway over ``publisher`` (a producer on the configured broker when not given)."""
    check_authentication(settings)
    tokens = CameraTokens.load(settings.gateway_tokens_file) if settings.gateway_tokens_file else None
    pub = publisher or Publisher(
        make_producer(
            settings,
            **{
                "linger.ms": 5,  # a camera waits for its answer: send at once
                "message.timeout.ms": int(settings.gateway_delivery_timeout_s * 1000),
                "message.max.bytes": settings.gateway_max_body_bytes + 65536,
            },
        ),
        settings.gateway_delivery_timeout_s,
    )
    reads_topic = topic_name(settings, "reads.json")
    dead_topic = topic_name(settings, "deadletter")
    max_bytes = settings.gateway_max_body_bytes

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pub.start()
        try:
            yield
        finally:
            pub.close()

    app = FastAPI(title="platestream ingest gateway", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)

    def message(event: Event) -> Message:
        # Keyed by camera and on the camera's partition (the one rule, streams.kafka.producer.partition_of).
        part = int(partition_of(pa.array([event.key]), settings.partitions)[0])
        return Message(reads_topic, event.value, event.key.encode(), part)

    async def accept(request: Request, route: str, parse: Callable[[bytes, Request], list[Event]]) -> JSONResponse:
        allowed: frozenset[str] | None = None
        if tokens is not None:
            token = _token(request)
            allowed = tokens.cameras_of(token) if token else None
            if allowed is None:
                return _error(401, "unauthenticated", "a valid camera token is required (Authorization: Bearer)")
        try:
            body = await _body(request, max_bytes)
        except TooLarge:
            return _error(413, dl.TOO_LARGE, f"the body is over {max_bytes} bytes")
        try:
            events = parse(body, request)
        except Refusal as refusal:
            letter = DeadLetter(refusal.reason, refusal.detail, refusal.original, f"gateway/{route}")
            payload = json.dumps({**letter.to_json(), "source": DEAD_LETTER_SOURCE}).encode()
            try:
                await pub.publish([Message(dead_topic, payload, letter.origin.encode())])
            except BrokerUnavailable:
                return _error(503, "broker_unavailable", "the broker did not confirm the dead letter: retry")
            log.info("gateway refused a %s post: %s", route, refusal.reason)  # the reason code only
            return _error(400, refusal.reason, refusal.detail)
        if allowed is not None:
            for event in events:
                if not set(event.cameras) <= allowed:
                    return _error(403, "forbidden", "this token does not cover the event's camera")
        try:
            await pub.publish([message(e) for e in events])
        except BrokerUnavailable:
            log.warning("gateway: broker unavailable, %d event(s) not accepted", len(events))
            return _error(503, "broker_unavailable", "the broker did not confirm delivery: retry")
        return JSONResponse({"accepted": len(events)}, status_code=202)

    @app.post("/v1/openalpr", status_code=202)
    async def openalpr(request: Request) -> JSONResponse:
        """A Rekor Scout / OpenALPR agent's post: ``alpr_group`` or ``heartbeat`` JSON."""
        return await accept(request, "openalpr", lambda body, _r: openalpr_events(body, max_bytes))

    @app.post("/v1/platerecognizer", status_code=202)
    async def platerecognizer(request: Request) -> JSONResponse:
        """A Plate Recognizer / ParkPow webhook (JSON, or multipart with a ``json`` field)."""

        def parse(body: bytes, r: Request) -> list[Event]:
            return platerecognizer_events(body, r.headers.get("content-type", "application/json"), max_bytes)

        return await accept(request, "platerecognizer", parse)

    @app.get("/livez")
    async def livez() -> dict[str, Any]:
        return {"status": "ok"}

    return app


def serve(settings: Settings) -> None:
    """Run the gateway under uvicorn until interrupted (HTTPS, and mTLS, when configured). No access log: a URL
    may carry a camera's token."""
    app = create_app(settings)
    options: dict[str, Any] = {}
    if settings.gateway_ssl_certfile:
        options.update(ssl_certfile=str(settings.gateway_ssl_certfile), ssl_keyfile=str(settings.gateway_ssl_keyfile))
    if settings.gateway_ssl_client_ca_file:
        options.update(ssl_ca_certs=str(settings.gateway_ssl_client_ca_file), ssl_cert_reqs=ssl.CERT_REQUIRED)
    uvicorn.run(
        app, host=settings.gateway_host, port=settings.gateway_port, access_log=False, log_level="info", **options
    )
