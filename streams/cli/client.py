"""The CLI as a client of the API service: the bearer token it sends, and one way to call an endpoint.

A person runs `platestream login` once (the token from the identity provider is kept in ``token_file``, mode
0600); a service sets ``auth_token_url``, ``auth_client_id`` and ``auth_client_secret`` and gets its tokens with
the OAuth 2.0 client-credentials grant. Every answer other than success is one sentence, never a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from streams.config.secret_files import read_private_file, write_private_file
from streams.config.settings import Settings
from streams.errors import PlatestreamError

__all__ = ["ApiClient", "client_credentials_token", "store_token", "token_claims"]


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a token, read without checking its signature: only to tell the user what it is and when it
    expires (the API verifies every token it is sent)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise PlatestreamError("that is not a JWT bearer token (three base64url parts separated by dots)") from None
    if not isinstance(claims, dict):
        raise PlatestreamError("that token has no claims")
    return claims


def store_token(settings: Settings, token: str) -> Path:
    """Keep ``token`` in ``token_file`` (mode 0600, replacing an older one)."""
    path = settings.token_file.expanduser()
    path.unlink(missing_ok=True)
    write_private_file(path, token.strip().encode())
    return path


def client_credentials_token(settings: Settings) -> str:
    """A token for a service, from the identity provider's token endpoint (client-credentials grant)."""
    if not (settings.auth_token_url and settings.auth_client_id and settings.auth_client_secret):
        raise PlatestreamError(
            "client credentials need PLATESTREAM_AUTH_TOKEN_URL, PLATESTREAM_AUTH_CLIENT_ID and "
            "PLATESTREAM_AUTH_CLIENT_SECRET"
        )
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.auth_client_id,
        "client_secret": settings.auth_client_secret.get_secret_value(),
    }
    if settings.auth_audience:
        form["audience"] = settings.auth_audience
    try:
        r = httpx.post(settings.auth_token_url, data=form, timeout=15)
    except httpx.HTTPError as exc:
        raise PlatestreamError(
            f"cannot reach the token endpoint {settings.auth_token_url} ({type(exc).__name__}): "
            "check PLATESTREAM_AUTH_TOKEN_URL"
        ) from None
    if r.status_code != 200:
        raise PlatestreamError(f"the identity provider refused the client credentials (HTTP {r.status_code})")
    token = r.json().get("access_token")
    if not isinstance(token, str):
        raise PlatestreamError("the identity provider's answer has no access_token")
    return token


class ApiClient:
    """Calls the API at ``settings.api_url`` with the user's or the service's token."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.api_url.rstrip("/")

    def token(self) -> str:
        if self.settings.auth_client_id:
            return client_credentials_token(self.settings)
        path = self.settings.token_file.expanduser()
        if not path.exists():
            raise PlatestreamError(f"not logged in: run `platestream login` (no token at {path})")
        token = read_private_file(path, "token file").decode().strip()
        exp = token_claims(token).get("exp")
        if isinstance(exp, int | float) and exp < time.time():
            raise PlatestreamError("your token has expired: run `platestream login` again")
        return token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """The JSON answer of ``method path``; PlatestreamError with the API's one-sentence reason otherwise."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        query = {k: v for k, v in params.items() if v is not None}
        try:
            r = httpx.request(method, self.base + path, json=body, params=query, headers=headers, timeout=60)
        except httpx.HTTPError as exc:
            raise PlatestreamError(
                f"cannot reach the API at {self.base} ({type(exc).__name__}): check PLATESTREAM_API_URL"
            ) from None
        try:
            doc = r.json()
        except json.JSONDecodeError:
            doc = {}
        if r.is_success:
            return doc if isinstance(doc, dict) else {"result": doc}
        error = doc.get("error") if isinstance(doc, dict) else None
        if error is None and isinstance(doc, dict) and "detail" in doc:
            error = str(doc["detail"])
        rule = doc.get("rule") if isinstance(doc, dict) else None
        hint = " (run `platestream login`)" if r.status_code == 401 else ""
        rule_text = f" [{rule}]" if rule else ""
        raise PlatestreamError(f"the API refused: HTTP {r.status_code}: {error or r.reason_phrase}{rule_text}{hint}")
