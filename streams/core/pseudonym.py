"""Plates at rest as keyed hashes: SipHash-2-4 of the plate's code under a secret 128-bit key.

The read store never holds plate text. It holds ``plate_key = SipHash-2-4(key, plate_code)``, where
``plate_code`` is the plate's base-37 code (``streams.core.normalise``) as 8 little-endian bytes. SipHash is a
keyed pseudo-random function: without the key, a database user cannot tell which plate a row belongs to, nor
test guesses against it (the plate space is small enough to enumerate, so an unkeyed hash would not do). Only the
gated search path holds the key and can compute the pseudonym of a plate it was asked about.

The result is the same as ClickHouse's ``sipHash64Keyed((k0, k1), toUInt64(plate_code))`` (a test checks it), but
it is computed here, compiled (one pass over the codes, the state in registers; about 10x the whole-array numpy
version ``siphash64_numpy``, which the tests hold it to): a key sent in SQL would sit in the server's query log.

Keys rotate: rows carry the ``key_id`` they were written under; new rows use the first (current) key, searches
try every configured key. Dropping a retired key makes the rows written under it unsearchable for good.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import numpy as np

from streams.core.compiled.jit import inline, jit

_U = np.uint64
_KEY_SPEC = re.compile(r"^([A-Za-z0-9_.-]{1,32}):([0-9a-fA-F]{32})$")


def _rotl(x: np.ndarray, b: int, tmp: np.ndarray) -> None:
    """x = rotate-left(x, b), in place (``tmp`` is scratch of the same shape)."""
    np.left_shift(x, _U(b), out=tmp)
    np.right_shift(x, _U(64 - b), out=x)
    np.bitwise_or(x, tmp, out=x)


def _sip_rounds(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray, n: int, tmp: np.ndarray) -> None:
    # In place on whole arrays: a few passes per step and no temporaries, which is what numpy's speed hangs on.
    for _ in range(n):
        np.add(v0, v1, out=v0)
        _rotl(v1, 13, tmp)
        np.bitwise_xor(v1, v0, out=v1)
        _rotl(v0, 32, tmp)
        np.add(v2, v3, out=v2)
        _rotl(v3, 16, tmp)
        np.bitwise_xor(v3, v2, out=v3)
        np.add(v0, v3, out=v0)
        _rotl(v3, 21, tmp)
        np.bitwise_xor(v3, v0, out=v3)
        np.add(v2, v1, out=v2)
        _rotl(v1, 17, tmp)
        np.bitwise_xor(v1, v2, out=v1)
        _rotl(v2, 32, tmp)


@inline
def _rotl64(x, b):
    return (x << _U(b)) | (x >> _U(64 - b))


@inline
def _sip_round(v0, v1, v2, v3):
    v0 += v1
    v1 = _rotl64(v1, 13) ^ v0
    v0 = _rotl64(v0, 32)
    v2 += v3
    v3 = _rotl64(v3, 16) ^ v2
    v0 += v3
    v3 = _rotl64(v3, 21) ^ v0
    v2 += v1
    v1 = _rotl64(v1, 17) ^ v2
    v2 = _rotl64(v2, 32)
    return v0, v1, v2, v3


@jit
def _siphash_kernel(k0, k1, codes, out):  # pragma: no cover - compiled (the tests compare it with numpy's)
    last = _U(8) << _U(56)  # the final block: message length (8) in the top byte
    for i in range(codes.shape[0]):
        m = codes[i]
        v0 = k0 ^ _U(0x736F6D6570736575)
        v1 = k1 ^ _U(0x646F72616E646F6D)
        v2 = k0 ^ _U(0x6C7967656E657261)
        v3 = k1 ^ _U(0x7465646279746573) ^ m
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= m
        v3 ^= last
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= last
        v2 ^= _U(0xFF)
        for _ in range(4):
            v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        out[i] = v0 ^ v1 ^ v2 ^ v3


def _key_words(key: bytes) -> tuple[np.uint64, np.uint64]:
    if len(key) != 16:
        raise ValueError("a SipHash key is 16 bytes")
    return _U(int.from_bytes(key[:8], "little")), _U(int.from_bytes(key[8:], "little"))


def siphash64(key: bytes, codes: np.ndarray) -> np.ndarray:
    """SipHash-2-4 of each uint64 in ``codes`` (as 8 little-endian bytes) under the 16-byte ``key``."""
    k0, k1 = _key_words(key)
    m = np.ascontiguousarray(codes, dtype=_U).reshape(-1)
    out = np.empty_like(m)
    _siphash_kernel(k0, k1, m, out)
    return out.reshape(np.shape(codes))


def siphash64_numpy(key: bytes, codes: np.ndarray) -> np.ndarray:
    """``siphash64`` in whole-array numpy passes: the reference the compiled one is tested against."""
    k0, k1 = _key_words(key)
    m = np.ascontiguousarray(codes, dtype=_U)
    v0 = np.full(m.shape, k0 ^ _U(0x736F6D6570736575), _U)
    v1 = np.full(m.shape, k1 ^ _U(0x646F72616E646F6D), _U)
    v2 = np.full(m.shape, k0 ^ _U(0x6C7967656E657261), _U)
    v3 = np.full(m.shape, k1 ^ _U(0x7465646279746573), _U)
    tmp = np.empty_like(m)
    v3 ^= m
    _sip_rounds(v0, v1, v2, v3, 2, tmp)
    v0 ^= m
    last = _U(8 << 56)  # the final block: message length (8) in the top byte
    v3 ^= last
    _sip_rounds(v0, v1, v2, v3, 2, tmp)
    v0 ^= last
    v2 ^= _U(0xFF)
    _sip_rounds(v0, v1, v2, v3, 4, tmp)
    v0 ^= v1
    v0 ^= v2
    v0 ^= v3
    return v0


@dataclass(frozen=True)
class PlateKeys:
    """Named 128-bit keys, the first one current. Parsed from ``id:32-hex-digits[,id:hex...]``."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, spec: str) -> PlateKeys:
        parts = [p.strip() for p in spec.replace("\n", ",").split(",") if p.strip()]
        if not parts:
            raise ValueError("no plate key given: expected id:32-hex-digits[,id:32-hex-digits...]")
        keys: list[tuple[str, bytes]] = []
        for i, part in enumerate(parts):
            m = _KEY_SPEC.match(part)
            if not m:  # never echo the part: it may be a mistyped secret
                raise ValueError(f"plate key #{i + 1} is not id:32-hex-digits (id up to 32 of A-Z a-z 0-9 _ . -)")
            keys.append((m.group(1), bytes.fromhex(m.group(2))))
        ids = [k for k, _ in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("plate key ids must be unique")
        return cls(tuple(keys))

    @staticmethod
    def new_spec(key_id: str) -> str:
        """A fresh key as ``id:hex``, from the OS's secure random source."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", key_id):
            raise ValueError("a key id is 1-32 of A-Z a-z 0-9 _ . -")
        return f"{key_id}:{secrets.token_hex(16)}"

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [k for k, _ in self.keys]

    def current(self, codes: np.ndarray) -> np.ndarray:
        """Pseudonyms of ``codes`` under the current key (what new rows are written with)."""
        return siphash64(self.keys[0][1], codes)

    def every(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Pseudonyms of ``codes`` under every key, by key id (what a search looks for)."""
        return {key_id: siphash64(key, codes) for key_id, key in self.keys}

    def __repr__(self) -> str:  # never show key material
        return f"PlateKeys(ids={self.ids})"
