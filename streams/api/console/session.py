"""Signing in to the console: OIDC authorization code with PKCE (S256) at the configured identity provider
(authlib's OAuth 2.0 and PKCE parameters, as a public client), and the server-side sessions that keep each access token.

The browser holds only an opaque session id (HttpOnly, SameSite=Strict, Secure over TLS); the token stays here and
is checked by the API's own ``Authenticator`` on every request, so an expired or revoked token ends the session.
A console action is a call of the API's own route: ``ConsoleBearer`` gives a same-origin request that carries the
session cookie *and* its CSRF token the session's ``Authorization: Bearer`` header, and nothing else, so the audit
gate and the route's ``caller`` treat it exactly as any other authenticated request.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from streams.config.settings import Settings

__all__ = [
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "ConsoleBearer",
    "ConsoleSession",
    "PendingLogin",
    "Sessions",
    "TokenExchangeFailed",
    "authorization_url",
    "console_configured",
    "exchange_code",
]

SESSION_COOKIE = "platestream_console"
LOGIN_COOKIE = "platestream_console_login"  # binds a sign-in's state to the browser that started it
CSRF_HEADER = "x-csrf-token"
LOGIN_TTL_S = 600  # a sign-in not finished in 10 minutes starts again
MAX_SESSIONS = 10_000
# The API routes a console page calls with the session's token: the decisions on a hit, nothing else.
CONSOLE_CALLS = re.compile(r"^/v1/hits/[^/]+/(verification|outcome)$")


def console_configured(settings: Settings) -> bool:
    """True when the identity provider's endpoints and the console's client id are set."""
    return bool(settings.console_authorize_url and settings.console_token_url and settings.console_client_id)


def authorization_url(settings: Settings, redirect_uri: str, state: str, verifier: str) -> str:
    """Where the browser signs in: the provider's authorize endpoint with the code challenge (S256) of
    ``verifier``."""
    assert settings.console_authorize_url and settings.console_client_id  # console_configured
    return prepare_grant_uri(
        settings.console_authorize_url,
        settings.console_client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=settings.console_scope,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )


class TokenExchangeFailed(Exception):
    """The identity provider did not give an access token for the code (its error, never the code itself)."""


def exchange_code(settings: Settings, code: str, redirect_uri: str, verifier: str) -> str:
    """The access token for an authorization code, proved by the PKCE verifier (a public client: no secret)."""
    assert settings.console_token_url  # console_configured
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.console_client_id,
        "code_verifier": verifier,
    }
    try:
        answer = httpx.post(settings.console_token_url, data=form, timeout=10, headers={"Accept": "application/json"})
        doc = answer.json()
    except (httpx.HTTPError, ValueError):
        raise TokenExchangeFailed("the token endpoint cannot be reached or did not answer JSON") from None
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if answer.status_code != 200 or not isinstance(token, str) or not token:
        error = doc.get("error") if isinstance(doc, dict) else None
        raise TokenExchangeFailed(f"the token endpoint answered {answer.status_code} {str(error or '')[:60]}")
    return token


@dataclass(frozen=True)
class PendingLogin:
    """A sign-in sent to the identity provider and not yet back: its PKCE verifier and where it returns."""

    verifier: str
    redirect_uri: str
    started: float


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: the access token (never sent to it) and the CSRF token its pages send back."""

    token: str
    csrf: str


class Sessions:
    """Sign-ins in flight (by state) and sessions (by id), bounded, in this API process's memory."""

    def __init__(self) -> None:
        self.pending: OrderedDict[str, PendingLogin] = OrderedDict()
        self.sessions: OrderedDict[str, ConsoleSession] = OrderedDict()
        self.lock = threading.Lock()

    def begin(self, redirect_uri: str) -> tuple[str, str]:
        """(state, PKCE verifier) of a new sign-in."""
        state, verifier = generate_token(32), generate_token(64)
        with self.lock:
            now = time.monotonic()
            while self.pending and next(iter(self.pending.values())).started < now - LOGIN_TTL_S:
                self.pending.popitem(last=False)
            self.pending[state] = PendingLogin(verifier, redirect_uri, now)
            while len(self.pending) > MAX_SESSIONS:
                self.pending.popitem(last=False)
        return state, verifier

    def finish(self, state: str) -> PendingLogin | None:
        """The sign-in ``state`` names, once only; None when unknown or too old."""
        with self.lock:
            pending = self.pending.pop(state, None)
        if pending is None or pending.started < time.monotonic() - LOGIN_TTL_S:
            return None
        return pending

    def open(self, token: str) -> str:
        """A new session for ``token``; its id (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[sid] = ConsoleSession(token, secrets.token_urlsafe(32))
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> ConsoleSession | None:
        if not sid:
            return None
        with self.lock:
            return self.sessions.get(sid)

    def end(self, sid: str | None) -> None:
        with self.lock:
            self.sessions.pop(sid or "", None)


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def cookie_of(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


class ConsoleBearer:
    """ASGI middleware: a POST to a decision route with the session cookie and the session's CSRF token in
    ``X-CSRF-Token`` gets that session's ``Authorization: Bearer`` header. Without both, the request is left as it
    came (and the route refuses it as unauthenticated, audited by the gate)."""

    def __init__(self, app: ASGIApp, sessions: Sessions):
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and CONSOLE_CALLS.match(scope["path"]):
            headers = dict(scope.get("headers", []))
            session = self.sessions.get(cookie_of(scope, SESSION_COOKIE))
            csrf = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
            if b"authorization" not in headers and session and csrf and hmac.compare_digest(csrf, session.csrf):
                bearer = (b"authorization", f"Bearer {session.token}".encode())
                scope = {**scope, "headers": [*scope["headers"], bearer]}
        await self.app(scope, receive, send)
