"""The API as a FastAPI application: the routes, the audit gate around all of them, and one error body for every
refusal (``{"error", "rule"}``). ``serve`` runs it under uvicorn, refusing an address off loopback without
authentication configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from streams.api import audit, control, process, reads, search, sharing
from streams.api.auth import auth_configured
from streams.api.console import routes as console_routes
from streams.api.console.session import ConsoleBearer
from streams.api.console.wiring import build_console
from streams.api.gate import STATUS_RULES, AuditGate
from streams.api.refusals import Refused, error_response, field_problems
from streams.api.service import Service
from streams.config.network import is_loopback
from streams.config.settings import Settings
from streams.errors import ConfigError

__all__ = ["IDENTITY_FIELDS", "create_app", "serve"]

# Body fields that would name who acts: refused with their own rule, the identity is the token's.
IDENTITY_FIELDS = frozenset({"actor", "operator", "entered_by", "placed_by", "released_by", "by", "principal"})
HTTP_ERRORS = {404: "no such endpoint", 405: "this method is not allowed here"}


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The application over ``service`` (made from ``settings`` when not given); the store opens at start-up."""
    svc = service or Service(settings)
    console = build_console(svc)  # None unless the console's sign-in is configured

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.start()
        if console is not None:
            console.feed.start()
        try:
            yield
        finally:
            if console is not None:
                console.feed.close()
            svc.close()

    app = FastAPI(
        title="platestream API",
        summary="Search and administration: every request authenticated by a bearer token and audited first.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = svc
    app.state.console = console
    routers = [reads.router, audit.router, search.router, control.router, process.router, sharing.router]
    routers.append(console_routes.router)
    for router in routers:
        app.include_router(router)
    # The gate matches requests against the routers' own routes (no prefixes: the paths are the same).
    app.add_middleware(AuditGate, service=svc, routes=[route for router in routers for route in router.routes])
    if console is not None:  # outside the gate: a console page's decision call is audited as any other
        app.add_middleware(ConsoleBearer, sessions=console.sessions)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        rule = exc.rule if isinstance(exc, Refused) else STATUS_RULES.get(exc.status_code, f"http_{exc.status_code}")
        error = exc.error if isinstance(exc, Refused) else HTTP_ERRORS.get(exc.status_code, "the request is refused")
        attempt = request.scope.get("state", {}).get("attempt")
        if attempt is not None:
            attempt.rule = rule
        return error_response(exc.status_code, rule, error, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        named = [e for e in errors if e.get("type") == "extra_forbidden" and e.get("loc", ())[-1:] in IDENTITY_TAILS]
        if named:
            rule, error = "identity_in_body", "who acts comes from the bearer token, never from a field of the body"
        else:
            rule, error = "invalid_request", field_problems(errors, "invalid request")
        attempt = request.scope.get("state", {}).get("attempt")
        if attempt is not None:
            attempt.rule = rule
        return error_response(400, rule, error)

    return app


IDENTITY_TAILS = {(f,) for f in IDENTITY_FIELDS}


def serve(settings: Settings) -> None:
    """Run the API under uvicorn until interrupted. Raises ConfigError for a non-loopback address without
    authentication configured. No access log: the audit trail records every request, without plate text."""
    if not is_loopback(settings.api_host) and not auth_configured(settings):
        raise ConfigError(
            f"refusing to serve on {settings.api_host} without authentication: set PLATESTREAM_AUTH_JWKS, "
            "PLATESTREAM_AUTH_ISSUER and PLATESTREAM_AUTH_AUDIENCE, or use a loopback address"
        )
    app = create_app(settings)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, access_log=False, log_level="info")
