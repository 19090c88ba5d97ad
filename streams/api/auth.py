"""Bearer tokens to principals: PyJWT against the identity provider's keys (a JWKS file, or an http(s) URL whose
keys are fetched and cached), with the algorithms fixed by configuration — never taken from the token — and
``iss``, ``aud``, ``exp`` and ``nbf`` required and checked. Subject, agency and roles come from claims.

Every refusal is a ``Refused`` 401 with ``WWW-Authenticate: Bearer`` and a rule naming what was wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt

from streams.api.refusals import Refused
from streams.config.settings import Settings
from streams.errors import ConfigError
from streams.model.access import Principal

__all__ = ["Authenticator", "auth_configured", "unauthenticated"]

# Never accepted, whatever the configuration says: no signature, or a shared secret a JWKS cannot publish safely.
REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
REQUIRED_CLAIMS = ["exp", "nbf", "iss", "aud", "sub"]
# PyJWT's errors, most specific first, and the rule each refusal names.
TOKEN_RULES: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired", "the token has expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "the token is not valid yet (nbf)"),
    (jwt.InvalidAudienceError, "wrong_audience", "the token is not for this API (aud)"),
    (jwt.InvalidIssuerError, "wrong_issuer", "the token is not from the configured issuer (iss)"),
    (jwt.MissingRequiredClaimError, "missing_claim", "the token lacks a required claim (exp, nbf, iss, aud, sub)"),
    (jwt.InvalidAlgorithmError, "wrong_algorithm", "the token is signed with an algorithm this API does not accept"),
    (jwt.InvalidSignatureError, "bad_signature", "the token's signature does not verify"),
    (jwt.DecodeError, "malformed_token", "the bearer token is not a well-formed JWT"),
)
FALLBACK_RULE = ("invalid_token", "the token is not valid")


def unauthenticated(rule: str, error: str) -> Refused:
    return Refused(401, rule, error, {"WWW-Authenticate": "Bearer"})


def auth_configured(settings: Settings) -> bool:
    """True when keys, issuer and audience are all set: without them no token can be checked."""
    return bool(settings.auth_jwks and settings.auth_issuer and settings.auth_audience)


class Authenticator:
    """Checks bearer tokens for one API process. Keys from a file are read once; from a URL, fetched on first use
    and cached (PyJWKClient refetches on an unknown ``kid``, so a key rotation needs no restart)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.algorithms = [a for a in settings.auth_algorithms if a not in REFUSED_ALGORITHMS]
        if not self.algorithms:
            raise ConfigError("auth_algorithms: none of the configured algorithms is accepted (none and HMAC never)")
        self.key_set: jwt.PyJWKSet | None = None
        self.client: jwt.PyJWKClient | None = None
        source = settings.auth_jwks
        if not auth_configured(settings) or source is None:
            return
        if source.startswith(("http://", "https://")):
            self.client = jwt.PyJWKClient(source, cache_keys=True, lifespan=300, timeout=10)
        else:
            try:
                self.key_set = jwt.PyJWKSet.from_dict(json.loads(Path(source).read_text()))
            except (OSError, ValueError, jwt.PyJWKSetError) as exc:
                raise ConfigError(f"auth_jwks: cannot read a JWKS from {source}: {type(exc).__name__}") from None

    @property
    def configured(self) -> bool:
        return self.key_set is not None or self.client is not None

    def principal(self, authorization: str | None) -> Principal:
        """The verified principal of an ``Authorization: Bearer`` header; raises Refused (401) saying why not."""
        if not self.configured:
            raise unauthenticated("auth_not_configured", "authentication is not configured on this API")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("no_token", "this endpoint needs an Authorization: Bearer token")
        token = token.strip()
        key = self._signing_key(token)
        if key.algorithm_name not in self.algorithms:
            raise unauthenticated("wrong_algorithm", "the token's key is for an algorithm this API does not accept")
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],  # the key's own algorithm, one of the configured ones
                audience=s.auth_audience,
                issuer=s.auth_issuer,
                leeway=s.auth_leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:  # InvalidKeyError too: a token whose alg does not fit the key
            rule, error = next(((r, e) for kind, r, e in TOKEN_RULES if isinstance(exc, kind)), FALLBACK_RULE)
            raise unauthenticated(rule, error) from None
        return self._principal(claims)

    def _signing_key(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise unauthenticated("malformed_token", "the bearer token is not a well-formed JWT") from None
        if header.get("alg") not in self.algorithms:
            raise unauthenticated("wrong_algorithm", "the token is signed with an algorithm this API does not accept")
        kid = header.get("kid")
        try:
            if self.client is not None:
                return self.client.get_signing_key_from_jwt(token)
            if self.key_set is None or not isinstance(kid, str):
                raise KeyError(kid)
            return self.key_set[kid]
        except jwt.PyJWKClientConnectionError:
            raise Refused(503, "jwks_unavailable", "the identity provider's keys cannot be fetched") from None
        except (KeyError, jwt.PyJWKClientError, jwt.DecodeError):
            raise unauthenticated("unknown_key", "the token names a signing key this API does not know") from None

    def _principal(self, claims: dict) -> Principal:
        s = self.settings
        sub, agency, roles = claims.get("sub"), claims.get(s.auth_agency_claim), claims.get(s.auth_roles_claim, [])
        if not isinstance(sub, str) or not sub or len(sub) > 256:
            raise unauthenticated("bad_claims", "the token's subject must be a non-empty string")
        if not isinstance(agency, str) or not agency or len(agency) > 256:
            raise unauthenticated("bad_claims", f"the token's {s.auth_agency_claim} claim must be a non-empty string")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise unauthenticated("bad_claims", f"the token's {s.auth_roles_claim} claim must be a list of strings")
        return Principal(sub, agency, tuple(roles))
