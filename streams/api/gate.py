"""The one place every request passes: an ASGI middleware that writes the request's audit record *before* the
answer's first byte leaves, and the dependency that turns a bearer token into the caller of an action.

- ``AuditGate`` sees every request except the health probes and the OpenAPI description. It finds the action from
  the route (``x-action`` in the OpenAPI description), caps the body (``Content-Length`` and the bytes actually
  read: 413), and when the answer starts writes an ``AuditEntry``: allowed, refused (4xx) or failed (5xx), with the
  rule. If the record cannot be written the answer is replaced by a 503: never an answer without its record.
- ``caller`` (a FastAPI dependency): verified principal (401), per-principal rate limit (429), the role that grants
  the route's action (403 ``role_lacks_<action>``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import make_asgi_app
from starlette.routing import BaseRoute, Match

from streams import clock, metrics
from streams.api.refusals import Refused
from streams.api.service import Service
from streams.core.report_counts import COUNTED_ACTIONS, NO_JUSTIFICATION, purpose_label, search_kind
from streams.model.access import Principal
from streams.model.audit import AuditEntry
from streams.store.report_counts import RequestCount

__all__ = ["UNAUDITED", "Attempt", "AuditGate", "Caller", "attempt_of", "caller", "needs"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Probes, metrics and the description: no data, no principal, and polled every few seconds.
METRICS_PATH = "/metrics"
UNAUDITED = frozenset({"/livez", "/readyz", "/openapi.json", METRICS_PATH})
# Prometheus text of the shared registry: counts by action, decision and rule, never a plate or a principal.
serve_metrics = make_asgi_app(metrics.REGISTRY)
# The rule of an answer no handler named one for.
STATUS_RULES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
ACTION_KEY = "x-action"


def needs(action: str) -> dict[str, Any]:
    """A route's ``openapi_extra``: the action it needs, read by the gate and shown in the OpenAPI description."""
    return {ACTION_KEY: action}


@dataclass
class Attempt:
    """What the audit record of one request will say, filled in as the request goes."""

    action: str
    route: str
    method: str
    client: str
    actor: str = "anonymous"
    agency: str = ""
    role: str = ""
    reason: str = ""
    case_number: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    rule: str = ""
    rows: int = 0
    failed: bool = False  # allowed, but could not be done (store or broker)
    recorded: bool = False  # already in the audit trail (the gated search records itself)
    justification: str = NO_JUSTIFICATION  # the kind of the legal-process record a search cites
    audit_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # this request's, for its count in request_counts

    def entry(self, status: int, at_ms: int) -> AuditEntry:
        if status >= 500 or self.failed:
            decision = "failed"
        elif status >= 400:
            decision = "refused"
        else:
            decision = "allowed"
        rule = self.rule or ("" if decision == "allowed" else STATUS_RULES.get(status, f"http_{status}"))
        detail = {"method": self.method, "route": self.route, "status": status, **self.detail}
        return AuditEntry(
            at_ms=at_ms,
            action=self.action,
            actor=self.actor,
            agency=self.agency,
            role=self.role if decision != "refused" else "",
            client=self.client,
            reason=self.reason,
            case_number=self.case_number,
            detail=json.dumps(detail, separators=(",", ":"), default=str),
            decision=decision,
            rule=rule,
            rows=self.rows if decision == "allowed" else 0,
        )

    def counted(self, entry: AuditEntry, home_agencies: frozenset[str]) -> RequestCount:
        """What request_counts counts of this request, from its audit record: a partner is an agency (of a verified
        principal) that is not one of the deployment's own; only a partner's declared purpose is kept."""
        partner = bool(entry.agency) and entry.agency not in home_agencies
        purpose = self.detail.get("purpose")
        return RequestCount(
            at_ms=entry.at_ms,
            agency=entry.agency,
            partner=partner,
            action=entry.action,
            kind=search_kind(entry.action, self.route, self.detail.get("kind")),
            justification=self.justification,
            purpose=purpose_label(purpose) if partner and isinstance(purpose, str) else "",
            decision=entry.decision,
            rule=entry.rule,
        )


def attempt_of(request: Request) -> Attempt:
    return request.scope["state"]["attempt"]


def _route_of(routes: list[BaseRoute], scope: Scope) -> tuple[str, str]:
    """(action, path template) of the route a request goes to; ("none", "") when there is none."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL or (match is Match.PARTIAL and partial is None):
            extra = getattr(route, "openapi_extra", None) or {}
            found = (str(extra.get(ACTION_KEY, "none")), str(getattr(route, "path", "")))
            if match is Match.FULL:
                return found
            partial = found
    return partial or ("none", "")


class AuditGate:
    """ASGI middleware: the audit record before the answer, and the body cap (see the module docstring)."""

    def __init__(self, app: Callable, service: Service, routes: list[BaseRoute]):
        self.app, self.service, self.routes = app, service, routes
        metrics.describe_role("api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            return await serve_metrics(scope, receive, send)
        if scope["type"] != "http" or scope["path"] in UNAUDITED:
            return await self.app(scope, receive, send)
        action, route = _route_of(self.routes, scope)
        client = scope.get("client")
        attempt = Attempt(action, route, scope["method"], client[0] if client else "")
        scope.setdefault("state", {})["attempt"] = attempt
        cap = self.service.settings.api_max_body_bytes
        started = replaced = False

        async def gated_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                if not await self._record(attempt, message["status"]):
                    replaced = True
                    return await send_error(send, 503, "audit_unavailable", AUDIT_DOWN)
            await send(message)

        try:
            length = int(dict(scope["headers"]).get(b"content-length", b"0"))
        except ValueError:
            length = 0
        if length > cap:
            attempt.rule = "body_too_large"
            return await send_error(gated_send, 413, "body_too_large", too_large(cap))
        read = 0

        async def capped_receive() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > cap:
                raise Refused(413, "body_too_large", too_large(cap))
            return message

        try:
            await self.app(scope, capped_receive, gated_send)
        except Exception:
            log.exception("request failed: %s %s", attempt.method, attempt.route or "(no route)")
            if started:
                raise
            attempt.failed, attempt.rule = True, attempt.rule or "internal_error"
            await send_error(gated_send, 500, attempt.rule, "the request failed inside the API")

    async def _record(self, attempt: Attempt, status: int) -> bool:
        """Write the attempt's record, then count it; False when the record could not be written. Counted in
        ``platestream_api_requests_total`` either way (an unrecorded answer is a failed ``audit_unavailable``)."""
        entry = attempt.entry(status, clock.now_ms())
        if not (attempt.recorded and status < 400):
            try:
                await anyio.to_thread.run_sync(self.service.write_audit, entry)
            except Exception:  # any failure of the trail fails the request
                log.exception("audit record not written for %s", attempt.action)
                metrics.AUDIT_WRITE_FAILURES.labels("api").inc()
                metrics.observe_api_request(entry.action, "failed", "audit_unavailable")
                return False
        metrics.observe_api_request(entry.action, entry.decision, entry.rule)
        if attempt.action in COUNTED_ACTIONS:
            await self._count(attempt, entry)
        return True

    async def _count(self, attempt: Attempt, entry: AuditEntry) -> None:
        """Count a recorded request in request_counts. A failure loses the count, never the record or the answer:
        it is logged (the action and the error's type, no values) and counted in the sink-error metric."""
        count = attempt.counted(entry, self.service.home_agencies)
        # A search scoped to cameras (near_scene's, a hit trail's) is counted in the areas of those cameras.
        scoped = attempt.detail.get("cameras") if attempt.action == "search" else None
        cameras = tuple(c for c in scoped if isinstance(c, str)) if isinstance(scoped, list) else ()
        try:
            await anyio.to_thread.run_sync(self.service.write_request_count, count, attempt.audit_id, cameras)
        except Exception as exc:  # noqa: BLE001 - the audit record is written; the answer goes out regardless
            metrics.SINK_ERRORS.labels("request_counts").inc()
            log.warning("request not counted in request_counts for %s: %s", attempt.action, type(exc).__name__)


AUDIT_DOWN = "the audit trail cannot be written, so the request is not answered"


def too_large(cap: int) -> str:
    return f"the request body is larger than the API accepts ({cap} bytes, api_max_body_bytes)"


async def send_error(send: Send, status: int, rule: str, error: str) -> None:
    """An error answer straight from the gate, in the API's error body."""
    body = json.dumps({"error": error, "rule": rule}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Caller:
    """The verified principal of a request and the role that grants its action."""

    principal: Principal
    role: str
    attempt: Attempt


bearer = HTTPBearer(auto_error=False, description="An OIDC access token (JWT) from the configured issuer")


def caller(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Caller:  # noqa: B008
    """The dependency of every protected route: 401 without a valid token, 429 over the rate, 403 without a role
    that grants the route's action."""
    service: Service = request.app.state.service
    attempt = attempt_of(request)
    principal = service.auth.principal(request.headers.get("authorization"))
    attempt.actor, attempt.agency = principal.actor, principal.agency
    if not service.limiter.allow(principal.actor):
        raise Refused(429, "rate_limited", f"more than {service.settings.api_rate_per_minute} requests a minute")
    role = service.access.granting_role(principal, attempt.action)
    if role is None:
        raise Refused(403, f"role_lacks_{attempt.action}", f"none of the token's roles grants {attempt.action}")
    attempt.role = role
    return Caller(principal, role, attempt)
