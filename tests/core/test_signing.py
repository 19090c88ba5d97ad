"""Signed control envelopes: what verifies is applied, anything changed or signed by another key is refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.core.signing import ControlSigner, ControlVerifier, Unauthenticated, canonical
from streams.model.access import Principal

ADMIN = Principal("dana", "metro-pd", ("admin",))
EVENT = {"op": "clear", "entry_id": "HL-42", "reason": "recovered", "at": 1_700_000_000_000}


def pair() -> tuple[ControlSigner, ControlVerifier]:
    key = Ed25519PrivateKey.generate()
    return ControlSigner(key), ControlVerifier([key.public_key()])


def test_a_sealed_event_opens_with_its_principal() -> None:
    signer, verifier = pair()
    opened = verifier.open(signer.seal(EVENT, ADMIN))
    assert opened.event == EVENT and opened.principal == ADMIN and opened.kid == signer.kid


def tampered(raw: bytes, change) -> bytes:  # noqa: ANN001
    doc = json.loads(raw)
    change(doc)
    return canonical(doc)


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d["event"].update(entry_id="HL-43"), "does not verify"),
        (lambda d: d["principal"].update(roles=["admin", "supervisor"]), "does not verify"),
        (lambda d: d["principal"].update(sub="chief"), "does not verify"),
        (lambda d: d.update(sig=d["sig"][:-4] + "AAAA"), "does not verify"),
        (lambda d: d.update(sig="***"), "does not verify"),
        (lambda d: d.pop("sig"), "no sig"),
        (lambda d: d.update(kid="0000000000000000"), "does not trust"),
        (lambda d: d.update(v=2), "version"),
    ],
)
def test_any_change_is_refused(change, says) -> None:  # noqa: ANN001
    signer, verifier = pair()
    with pytest.raises(Unauthenticated, match=says) as refused:
        verifier.open(tampered(signer.seal(EVENT, ADMIN), change))
    assert "HL-4" not in str(refused.value)  # the refusal never quotes the event


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", json.dumps(EVENT).encode(), b'{"event": {}, "sig": 1}'])
def test_unsigned_or_malformed_bytes_are_refused(raw: bytes) -> None:
    _, verifier = pair()
    with pytest.raises(Unauthenticated):
        verifier.open(raw)


def test_another_key_with_a_copied_key_id_does_not_verify() -> None:
    signer, verifier = pair()
    forger = ControlSigner(Ed25519PrivateKey.generate())
    forger.kid = signer.kid  # claims to be the trusted key
    with pytest.raises(Unauthenticated, match="does not verify"):
        verifier.open(forger.seal(EVENT, ADMIN))


def test_during_a_rotation_both_keys_verify() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = ControlVerifier([old.public_key(), new.public_key()])
    for key in (old, new):
        assert verifier.open(ControlSigner(key).seal(EVENT, ADMIN)).principal == ADMIN
