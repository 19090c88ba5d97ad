"""Per-camera tokens: a file of token hashes, each naming the cameras its holder may post for.

One line per token: the camera ids (comma-separated) and ``sha256:<hex>`` of the token, e.g.
``cam-12,cam-13 sha256:9f86d0...``; ``#`` starts a comment. Only hashes are stored, so the file reveals no token;
tokens are 256-bit random strings (``new_token``), so a plain SHA-256 is enough (no password stretching needed).
A presented token is compared with every hash in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from streams.errors import ConfigError

__all__ = ["CameraTokens", "hash_token", "new_token", "token_line"]

PREFIX = "sha256:"


def hash_token(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe (it may have to go in a camera's upload URL)."""
    return secrets.token_urlsafe(32)


def token_line(token: str, cameras: list[str]) -> str:
    """The tokens-file line for ``token`` allowed to post for ``cameras``."""
    return f"{','.join(cameras)} {hash_token(token)}"


@dataclass(frozen=True)
class CameraTokens:
    """The token hashes of a tokens file and the cameras each one may post for."""

    entries: tuple[tuple[bytes, frozenset[str]], ...]

    @classmethod
    def load(cls, path: Path) -> CameraTokens:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read gateway tokens file {path}: {exc}") from None
        entries = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].startswith(PREFIX) or len(parts[1]) != len(PREFIX) + 64:
                raise ConfigError(f"{path}:{n}: expected `camera[,camera...] sha256:<64 hex>`")
            cameras = frozenset(c for c in parts[0].split(",") if c)
            try:
                digest = bytes.fromhex(parts[1][len(PREFIX) :])
            except ValueError:
                raise ConfigError(f"{path}:{n}: the hash is not hexadecimal") from None
            entries.append((digest, cameras))
        if not entries:
            raise ConfigError(f"gateway tokens file {path} lists no token")
        return cls(tuple(entries))

    def cameras_of(self, token: str) -> frozenset[str] | None:
        """The cameras ``token`` may post for; None for an unknown token. Every entry is compared (constant time)."""
        presented = hashlib.sha256(token.encode()).digest()
        found: frozenset[str] | None = None
        for digest, cameras in self.entries:
            if hmac.compare_digest(presented, digest) and found is None:
                found = cameras
        return found
