"""Fixtures for the core unit tests: the packaged policy and builders for read and hot-list tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest

from streams.config.settings import load_policy
from streams.core.policy import AdmissionPolicy
from streams.model.decoded import Decoded
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import HEARTBEAT_SCHEMA, READ_SCHEMA

T0 = 1_790_000_000_000  # event time used across the core tests (2026-09-21)
DAY = 86_400_000
LOOSE_READ_SCHEMA = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])


@pytest.fixture(scope="session")
def policy() -> AdmissionPolicy:
    return load_policy()


def reads_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """READ_SCHEMA rows (missing keys become null); ``captured_at`` in integer milliseconds."""
    full = [{name: r.get(name) for name in READ_SCHEMA.names} for r in rows]
    for r in full:
        if r["candidates"] is not None:
            r["candidates"] = [c if isinstance(c, dict) else {"plate": c, "confidence": 50.0} for c in r["candidates"]]
    return pa.Table.from_pylist(full, schema=LOOSE_READ_SCHEMA)


def decoded(rows: Sequence[dict[str, Any]], origins: Sequence[str] | None = None) -> Decoded:
    table = reads_table(rows)
    return Decoded(table, HEARTBEAT_SCHEMA.empty_table(), [], list(origins or [f"t:{i}" for i in range(len(rows))]))


def entries_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """ENTRY_SCHEMA rows with sensible defaults for everything but the plate."""
    defaults: dict[str, Any] = {
        "region": "CA",
        "plate_type": "PC",
        "reason": "stolen_vehicle",
        "legal_basis_type": "record_number",
        "legal_basis": "NCIC0000001",
        "agency": "CA0000000",
        "entered_by": "test",
        "source": "test",
        "valid_from": T0 - DAY,
        "expires_at": T0 + 10 * DAY,
    }
    full = []
    for i, r in enumerate(rows):
        row = {**defaults, "entry_id": f"E{i}", **r}
        full.append({name: row.get(name) for name in ENTRY_SCHEMA.names})
    return pa.Table.from_pylist(full, schema=ENTRY_SCHEMA)


@pytest.fixture(scope="session")
def make_decoded() -> Callable[..., Decoded]:
    return decoded


@pytest.fixture(scope="session")
def make_entries() -> Callable[..., pa.Table]:
    return entries_table
