"""Signed control events: hot-list changes, holds and verifications carry an Ed25519 signature made by the API
service, over the event and the verified principal that asked for it. Workers apply only what verifies.

The envelope, as it travels on a control topic (JSON)::

    {"v": 1, "kid": "3f9c0a1b2d4e5f60", "principal": {"sub": "...", "agency": "...", "roles": [...]},
     "event": {...}, "sig": "<base64url of the Ed25519 signature>"}

The signature covers the canonical JSON (sorted keys, no spaces) of ``{"v", "kid", "principal", "event"}``; a
key's id is derived from its public key, so a verifier needs only the public keys. No I/O here: keys are loaded
by ``streams.config.control_keys``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from streams.model.access import Principal

__all__ = ["ControlSigner", "ControlVerifier", "Opened", "Unauthenticated", "canonical", "key_id"]

VERSION = 1


class Unauthenticated(ValueError):
    """A control event without a valid signature from a known key. The message never quotes the event."""


def canonical(doc: Any) -> bytes:
    """The bytes a signature covers: JSON with sorted keys and no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its raw public bytes."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass(frozen=True)
class Opened:
    """A verified envelope: the event and who asked for it."""

    event: dict[str, Any]
    principal: Principal
    kid: str


class ControlSigner:
    """Seals control events with the API's private key."""

    def __init__(self, private: Ed25519PrivateKey):
        self.private = private
        self.kid = key_id(private.public_key())

    def seal(self, event: dict[str, Any], principal: Principal) -> bytes:
        body = {"v": VERSION, "kid": self.kid, "principal": principal.to_json(), "event": event}
        sig = base64.urlsafe_b64encode(self.private.sign(canonical(body))).decode("ascii")
        return canonical({**body, "sig": sig})


class ControlVerifier:
    """Opens envelopes signed by any of the given public keys (several during a key rotation)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]):
        self.keys = {key_id(k): k for k in public_keys}

    def open(self, raw: bytes) -> Opened:
        """The verified event and principal; raises Unauthenticated saying what is wrong."""
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise Unauthenticated("not a signed envelope: not JSON") from None
        if not isinstance(doc, dict) or "sig" not in doc or "event" not in doc:
            raise Unauthenticated("not a signed envelope: no sig or event")
        if doc.get("v") != VERSION:
            raise Unauthenticated(f"envelope version must be {VERSION}")
        key = self.keys.get(doc.get("kid")) if isinstance(doc.get("kid"), str) else None
        if key is None:
            raise Unauthenticated("signed by a key this worker does not trust")
        sig = doc.pop("sig")
        try:
            key.verify(base64.urlsafe_b64decode(sig), canonical(doc))
        except (InvalidSignature, ValueError, TypeError):
            raise Unauthenticated("the signature does not verify") from None
        if not isinstance(doc["event"], dict):
            raise Unauthenticated("the signed event is not an object")
        try:
            principal = Principal.from_json(doc.get("principal"))
        except ValueError as exc:
            raise Unauthenticated(f"signed principal: {exc}") from None
        return Opened(doc["event"], principal, doc["kid"])
