"""Key files on disk: refused when others may read them, written with mode 0600.

Control-event keys (Ed25519, PEM): the API holds the private key (``control_signing_key_file``); workers hold
the public keys they trust (``control_keys_file``, one or more PEM blocks).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from streams.core.audit_log import AuditSigner
from streams.core.signing import ControlSigner, ControlVerifier
from streams.errors import ConfigError

__all__ = [
    "load_audit_signer",
    "load_public_keys",
    "load_signer",
    "load_verifier",
    "read_private_file",
    "write_control_keypair",
    "write_private_file",
]


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of a secret file; ConfigError when it is missing or readable by group or others."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never overwriting one that exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_control_keypair(private_path: Path) -> Path:
    """A fresh Ed25519 key: private PEM at ``private_path`` (0600), public PEM beside it (``.pub``)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_private_file(private_path, pem)
    public_path = private_path.with_name(private_path.name + ".pub")
    public_path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return public_path


def _private_key(path: Path, what: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(read_private_file(path, what), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{what} {path} is not an Ed25519 key")
    return key


def load_signer(path: Path) -> ControlSigner:
    return ControlSigner(_private_key(path, "control signing key"))


def load_audit_signer(path: Path, create: bool) -> AuditSigner:
    """The audit signing key at ``path``; made (with ``path``.pub) when missing and ``create`` is set."""
    if create and not path.exists():
        try:
            write_control_keypair(path)
        except FileExistsError:  # another process made it first
            pass
    return AuditSigner(_private_key(path, "audit signing key"))


def load_verifier(path: Path) -> ControlVerifier:
    """Every PEM public key in ``path`` (several while a key is rotated)."""
    return ControlVerifier(load_public_keys(path, "control keys file"))


def load_public_keys(path: Path, what: str) -> list[Ed25519PublicKey]:
    """Every PEM public key in ``path``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    end = "-----END PUBLIC KEY-----"
    blocks = [b + end for b in text.split(end) if "-----BEGIN PUBLIC KEY-----" in b]
    keys = []
    for block in blocks:
        key = load_pem_public_key(block.strip().encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{what} {path}: only Ed25519 public keys are accepted")
        keys.append(key)
    if not keys:
        raise ConfigError(f"{what} {path} holds no PEM public key")
    return keys
