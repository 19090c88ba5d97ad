"""A real OIDC-style token issuer for tests: an RSA key made in the test, its JWKS (file and HTTP), signed tokens,
and an OAuth 2.0 client-credentials token endpoint. Nothing here is a mock of the checks under test: tokens are
real JWTs, and the API verifies them with PyJWT against the JWKS this issuer publishes.
"""

from __future__ import annotations

import json
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

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve ``/jwks.json`` and ``POST /token`` (client credentials) on a loopback port; yields the base URL."""
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

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/jwks.json":
                    self._json(200, issuer.jwks)
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/token":
                    return self._json(404, {"error": "not_found"})
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
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
