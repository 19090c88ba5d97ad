"""The console's pages (docs/console.md): sign-in and sign-out, the queue of unverified hits of the operator's
agency with its server-sent updates, a hit's detail with the decision and outcome forms, the supervisor's list of
overdue hits, and the static files. Every page passes the audit gate like any API request (action ``hits.read``);
only the ``operator`` and ``supervisor`` roles may use it. Plate text appears only in these pages' bodies, never in
a URL, a log line or an audit record. The decisions themselves are calls of the API's own routes
(``POST /v1/hits/{hit_id}/verification`` and ``/outcome``) from the page's script."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from streams import clock
from streams.api.console.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleSession,
    Sessions,
    TokenExchangeFailed,
    authorization_url,
    exchange_code,
)
from streams.api.console.view import HitView, agency_of
from streams.api.gate import Caller, attempt_of, needs
from streams.api.refusals import Refused
from streams.api.service import Service
from streams.config.hit_review import HitReviewPolicy
from streams.kafka.hits_feed import HitsFeed
from streams.model.disposition import CONFIRMED, NOTE_MAX_CHARS, OUTCOMES, REJECTIONS

__all__ = ["CONSOLE_ROLES", "Console", "router"]

router = APIRouter(include_in_schema=False)
CONSOLE_ROLES = ("operator", "supervisor")
SUPERVISOR = "supervisor"
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
# Pages with plate text: not cached, not framed, no script or font from anywhere but this API.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
SSE_TICK_S = 0.2
SSE_REFRESH_S = 10  # the queue is sent again this often even without a change (overdue flags, a lapsed session)
templates = Environment(loader=PackageLoader("streams.api.console", "templates"), autoescape=select_autoescape())


@dataclass
class Console:
    """What the console holds in an API process: the feed of hits, the sessions, the review policy."""

    feed: HitsFeed
    sessions: Sessions
    review: HitReviewPolicy
    low_confidence: float
    home_agency: str


def console_of(request: Request) -> Console:
    console = getattr(request.app.state, "console", None)
    if console is None:
        raise Refused(404, "console_not_configured", "the console is not configured on this API (docs/console.md)")
    return console


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status, headers=PAGE_HEADERS)


def refused_page(request: Request, status: int, rule: str, message: str, sign_in: bool = False) -> HTMLResponse:
    attempt_of(request).rule = rule
    return page("refused.html", status, message=message, sign_in=sign_in)


def signed_in(request: Request) -> tuple[Caller, ConsoleSession] | HTMLResponse:
    """The verified caller of a console page, as ``streams.api.gate.caller`` makes it but from the session's token;
    else the refusal page (401: sign in; 403: not a console role), its rule on the audit record."""
    console, service = console_of(request), request.app.state.service
    assert isinstance(service, Service)
    attempt = attempt_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    if session is None:
        return refused_page(request, 401, "not_signed_in", "Sign in to use the console.", sign_in=True)
    try:
        principal = service.auth.principal(f"Bearer {session.token}")
    except Refused as exc:
        console.sessions.end(sid)
        return refused_page(request, 401, exc.rule, "Your sign-in has ended. Sign in again.", sign_in=True)
    attempt.actor, attempt.agency = principal.actor, principal.agency
    if not service.limiter.allow(principal.actor):
        return refused_page(request, 429, "rate_limited", "Too many requests: wait a minute.")
    grants = service.access.roles
    role = next((r for r in principal.roles if r in CONSOLE_ROLES and attempt.action in grants.get(r, ())), None)
    if role is None:
        return refused_page(request, 403, "console_role_required", "The console is for operators and supervisors.")
    attempt.role = role
    return Caller(principal, role, attempt), session


def views(console: Console, who: Caller, now_ms: int) -> list[HitView]:
    """The hits of the caller's agency that nobody has decided, newest capture first."""
    agency = who.principal.agency
    out = [
        HitView(h, now_ms, console.review.verify_within_ms, console.low_confidence)
        for h in console.feed.snapshot()
        if h.decision is None and agency_of(h.payload, console.home_agency) == agency
    ]
    return sorted(out, key=lambda v: v.captured_ms or 0, reverse=True)


def common(who: Caller, session: ConsoleSession, console: Console, now_ms: int) -> dict[str, Any]:
    return {
        "who": who.principal,
        "role": who.role,
        "csrf": session.csrf,
        "now_ms": now_ms,
        "verify_within_s": console.review.verify_within_seconds,
        "supervisor": who.role == SUPERVISOR,
    }


@router.get("/console", openapi_extra=needs("hits.read"), response_class=HTMLResponse)
def queue(request: Request) -> Response:
    """The queue of unverified hits of the caller's agency."""
    got = signed_in(request)
    if isinstance(got, Response):
        return got
    who, session = got
    console, now = console_of(request), clock.now_ms()
    hits = views(console, who, now)
    who.attempt.rows = len(hits)
    return page("queue.html", hits=hits, **common(who, session, console, now))


@router.get("/console/events", openapi_extra=needs("hits.read"))
async def events(request: Request) -> Response:
    """Server-sent events: the queue's rows again whenever the feed changes (and every few seconds)."""
    got = await anyio.to_thread.run_sync(signed_in, request)
    if isinstance(got, Response):
        return got
    who, session = got
    console = console_of(request)
    rows = templates.get_template("queue_rows.html")

    async def stream() -> AsyncIterator[str]:
        seen, sent = -1, 0.0
        while not await request.is_disconnected():
            if console.sessions.get(request.cookies.get(SESSION_COOKIE)) is not session:
                yield "event: signed-out\ndata: \n\n"
                return
            version = console.feed.version
            if version != seen or time.monotonic() - sent > SSE_REFRESH_S:
                now = clock.now_ms()
                html = rows.render(hits=views(console, who, now), now_ms=now)
                data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
                yield f"event: queue\nid: {version}\n{data}\n"
                seen, sent = version, time.monotonic()
            await anyio.sleep(SSE_TICK_S)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get("/console/hits/{hit_id}", openapi_extra=needs("hits.read"), response_class=HTMLResponse)
def hit_detail(request: Request, hit_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Response:
    """One hit, everything the person must check side by side, and the decision and outcome forms."""
    got = signed_in(request)
    if isinstance(got, Response):
        return got
    who, session = got
    console, now = console_of(request), clock.now_ms()
    who.attempt.detail = {"hit_id": hit_id}
    hit = console.feed.get(hit_id)
    if hit is None or agency_of(hit.payload, console.home_agency) != who.principal.agency:
        return refused_page(request, 404, "unknown_hit", "No such hit in this console's recent hits.")
    who.attempt.rows = 1
    view = HitView(hit, now, console.review.verify_within_ms, console.low_confidence)
    return page(
        "hit.html",
        hit=view,
        confirmed=CONFIRMED,
        rejections=REJECTIONS,
        outcomes=OUTCOMES,
        note_max=NOTE_MAX_CHARS,
        **common(who, session, console, now),
    )


@router.get("/console/overdue", openapi_extra=needs("hits.read"), response_class=HTMLResponse)
def overdue(request: Request) -> Response:
    """The supervisor's view: hits of the agency unverified past the policy's deadline, longest waiting first."""
    got = signed_in(request)
    if isinstance(got, Response):
        return got
    who, session = got
    if who.role != SUPERVISOR:
        return refused_page(request, 403, "supervisor_required", "The overdue list is for supervisors.")
    console, now = console_of(request), clock.now_ms()
    late = sorted((v for v in views(console, who, now) if v.overdue), key=lambda v: v.captured_ms or 0)
    who.attempt.rows = len(late)
    return page("overdue.html", hits=late, **common(who, session, console, now))


def redirect_uri(request: Request) -> str:
    return request.app.state.service.settings.console_redirect_uri or str(request.url_for("callback"))


@router.get("/console/login", openapi_extra=needs("hits.read"))
def login(request: Request) -> Response:
    """Send the browser to the identity provider: authorization code with PKCE (S256) and a one-time state."""
    console, settings = console_of(request), request.app.state.service.settings
    uri = redirect_uri(request)
    state, verifier = console.sessions.begin(uri)
    url = authorization_url(settings, uri, state, verifier)
    response = RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})
    # Lax, not Strict: the identity provider's redirect back is a cross-site navigation.
    secure = request.url.scheme == "https"
    response.set_cookie(LOGIN_COOKIE, state, max_age=600, httponly=True, secure=secure, samesite="lax")
    return response


@router.get("/console/callback", openapi_extra=needs("hits.read"), name="callback")
def callback(
    request: Request,
    code: Annotated[str, Query(min_length=1, max_length=2048)] = "",
    state: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """The identity provider's redirect back: the state must be this browser's, the code is exchanged with the
    PKCE verifier, and the access token must pass the API's own check before a session opens."""
    console, service = console_of(request), request.app.state.service
    if not code or not state or request.cookies.get(LOGIN_COOKIE) != state:
        return refused_page(request, 400, "bad_sign_in", "This sign-in was not started here. Sign in again.", True)
    pending = console.sessions.finish(state)
    if pending is None:
        return refused_page(request, 400, "bad_sign_in", "This sign-in has expired. Sign in again.", True)
    try:
        access = exchange_code(service.settings, code, pending.redirect_uri, pending.verifier)
    except TokenExchangeFailed:
        return refused_page(request, 502, "token_exchange_failed", "The identity provider refused the sign-in.", True)
    try:
        principal = service.auth.principal(f"Bearer {access}")
    except Refused as exc:
        return refused_page(request, 401, exc.rule, "The identity provider's token is not valid here.", True)
    attempt = attempt_of(request)
    attempt.actor, attempt.agency = principal.actor, principal.agency
    grants = service.access.roles
    if not any(r in CONSOLE_ROLES and "hits.read" in grants.get(r, ()) for r in principal.roles):
        return refused_page(request, 403, "console_role_required", "The console is for operators and supervisors.")
    sid = console.sessions.open(access)
    # A page, not a redirect: the Strict session cookie goes with the next, same-site navigation.
    response = page("signed_in.html")
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, secure=secure, samesite="strict", path="/")
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/console/logout", openapi_extra=needs("hits.read"))
async def logout(request: Request) -> Response:
    """End the session (the form carries its CSRF token)."""
    console = console_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    if session is not None and form.get("csrf", [""])[0] == session.csrf:
        console.sessions.end(sid)
    response = page("refused.html", message="You are signed out.", sign_in=True)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    """The console's style sheet and script (package data): no external scripts or fonts."""
    if name not in STATIC:
        raise Refused(404, "not_found", "no such file")
    body = resources.files("streams.api.console").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})
