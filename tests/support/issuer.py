"""A real OIDC-style token issuer for tests: an RSA key made in the test, its JWKS (file and HTTP), signed tokens,
an OAuth 2.0 client-credentials token endpoint, and an authorization endpoint with a sign-in form whose codes are
exchanged only with the right PKCE verifier (S256). Nothing here is a mock of the checks under test: tokens are
real JWTs, and the API verifies them with PyJWT against the JWKS this issuer publishes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.platestream.test"
AUDIENCE = "platestream-api"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenIssuer:
    """Mints tokens for ``sub``/``agency``/``roles``; ``jwks_path`` holds its public key for the API to trust."""

    def __init__(self, folder: Path, issuer: str = ISSUER, audience: str = AUDIENCE, kid: str = "test-key-1"):
        self.issuer, self.audience, self.kid = issuer, audience, kid
        self.key = _rsa()
        self.other_key = _rsa()  # signs forged tokens: same kid, a key the API does not know
        self.jwks = {
            "keys": [
                {**json.loads(RSAAlgorithm.to_jwk(self.key.public_key())), "kid": kid, "use": "sig", "alg": "RS256"}
            ]
        }
        self.jwks_path = folder / "jwks.json"
        self.jwks_path.write_text(json.dumps(self.jwks))
        self.clients: dict[str, tuple[str, dict[str, Any]]] = {}  # client id -> (secret, claims)
        self.users: dict[str, dict[str, Any]] = {}  # who may sign in at /authorize -> agency, roles
        self.public_clients: set[str] = set()  # client ids of the authorization-code grant (PKCE, no secret)
        self.codes: dict[str, dict[str, Any]] = {}  # code -> client, redirect, challenge, user (used once)
        self.url: str | None = None  # set while serve() runs

    def token(
        self,
        sub: str = "alice",
        agency: str = "metro-pd",
        roles: tuple[str, ...] | list[str] = ("investigator",),
        *,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: float = 300,
        not_before_in: float = 0,
        forged: bool = False,
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "sub": sub,
            "agency": agency,
            "roles": list(roles),
            "iat": now,
            "nbf": now + int(not_before_in),
            "exp": now + int(expires_in),
            **claims,
        }
        key = self.other_key if forged else self.key
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": self.kid})

    def env(self) -> dict[str, str]:
        """The API's settings that trust this issuer (JWKS from the file)."""
        return {
            "PLATESTREAM_AUTH_JWKS": str(self.jwks_path),
            "PLATESTREAM_AUTH_ISSUER": self.issuer,
            "PLATESTREAM_AUTH_AUDIENCE": self.audience,
        }

    def add_client(self, client_id: str, secret: str, agency: str, roles: tuple[str, ...]) -> None:
        """A service account for the client-credentials grant."""
        self.clients[client_id] = (secret, {"agency": agency, "roles": list(roles)})

    def add_user(self, username: str, agency: str, roles: tuple[str, ...]) -> None:
        """A person who can sign in through ``/authorize`` (the form takes the username)."""
        self.users[username] = {"agency": agency, "roles": list(roles)}

    def add_public_client(self, client_id: str) -> None:
        """A client of the authorization-code grant with PKCE (a browser app: no secret)."""
        self.public_clients.add(client_id)

    def authorize_url(self) -> str:
        assert self.url is not None, "serve() first"
        return f"{self.url}/authorize"

    def token_url(self) -> str:
        assert self.url is not None, "serve() first"
        return f"{self.url}/token"

    def code_token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """The authorization-code grant: the code once, for its client and redirect URI, with the verifier whose
        S256 challenge the authorization request carried."""
        one = {k: v[0] for k, v in form.items() if v}
        grant = self.codes.pop(one.get("code", ""), None)
        if grant is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if one.get("client_id") != grant["client_id"] or one.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "client or redirect_uri differs"}
        verifier = one.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not secrets.compare_digest(digest, grant["challenge"]):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"}
        user = self.users[grant["user"]]
        token = self.token(grant["user"], user["agency"], tuple(user["roles"]))
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 300}

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve ``/jwks.json``, ``/authorize`` (a sign-in form) and ``POST /token`` (client credentials, or an
        authorization code with its PKCE verifier) on a loopback port; yields the base URL."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _html(self, status: int, body: str, location: str | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/jwks.json":
                    self._json(200, issuer.jwks)
                elif url.path == "/authorize":
                    self._sign_in_form(urllib.parse.parse_qs(url.query))
                else:
                    self._json(404, {"error": "not_found"})

            def _sign_in_form(self, query: dict[str, list[str]]) -> None:
                q = {k: v[0] for k, v in query.items() if v}
                if q.get("response_type") != "code" or q.get("client_id") not in issuer.public_clients:
                    return self._html(400, "<p>unknown client or response type</p>")
                if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                    return self._html(400, "<p>PKCE (S256) is required</p>")
                hidden = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items()
                )
                self._html(
                    200,
                    '<!doctype html><html lang="en"><title>Sign in</title><main><h1>Test identity provider</h1>'
                    f'<form method="post" action="/authorize">{hidden}<label for="username">Username</label>'
                    '<input id="username" name="username"><button type="submit">Sign in</button></form></main>',
                )

            def _authorize(self, form: dict[str, list[str]]) -> None:
                q = {k: v[0] for k, v in form.items() if v}
                if q.get("username") not in issuer.users or q.get("client_id") not in issuer.public_clients:
                    return self._html(401, "<p>unknown user or client</p>")
                code = secrets.token_urlsafe(24)
                issuer.codes[code] = {
                    "client_id": q["client_id"],
                    "redirect_uri": q.get("redirect_uri", ""),
                    "challenge": q.get("code_challenge", ""),
                    "user": q["username"],
                }
                back = urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
                self._html(303, "", location=f"{q.get('redirect_uri', '')}?{back}")

            def do_POST(self) -> None:  # noqa: N802
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                if self.path == "/authorize":
                    return self._authorize(form)
                if self.path != "/token":
                    return self._json(404, {"error": "not_found"})
                if (form.get("grant_type") or [""])[0] == "authorization_code":
                    return self._json(*issuer.code_token(form))
                client_id = (form.get("client_id") or [""])[0]
                secret = (form.get("client_secret") or [""])[0]
                if (form.get("grant_type") or [""])[0] != "client_credentials":
                    return self._json(400, {"error": "unsupported_grant_type"})
                known = issuer.clients.get(client_id)
                if known is None or known[0] != secret:
                    return self._json(401, {"error": "invalid_client"})
                claims = known[1]
                token = issuer.token(client_id, claims["agency"], tuple(claims["roles"]))
                self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()
            self.url = None
