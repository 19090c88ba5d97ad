"""The project's own hot-list CSV: a header row, then one entry per row.

Columns (header names, case-insensitive): ``plate, state, type, reason`` and at least one of ``record_number,
warrant_number, case_number`` (or an ``entry_id``), optionally ``entry_date`` (valid from), ``expires_at``,
``legal_basis`` (free text, kept as given), ``agency, entered_by, source, valid_from``. Without ``entry_id`` an
entry's id is ``<source>:<record number>`` (else warrant, else case number), so a reordered file gives the same
ids. Rows that cannot be used are refused with their line number and rule (``streams.ingest.extracts.entries``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from streams.ingest.extracts.own_csv import read_own_csv
from streams.ingest.extracts.rules import ExtractPolicy

__all__ = ["read_hotlist_csv"]


def read_hotlist_csv(
    path: str | Path, source: str = "ncic_extract", policy: ExtractPolicy | None = None, now_ms: int | None = None
) -> tuple[pa.Table, pa.Table]:
    """(entries, refused rows with ``line`` and ``rule``) of an own CSV; rows without an expiry get none
    unless ``now_ms`` is given (then the source's refresh rule of ``policy`` sets it)."""
    extract = read_own_csv(path, policy or ExtractPolicy(), source, 0 if now_ms is None else now_ms)
    entries = extract.entries.drop_columns(["line"])
    if now_ms is None:  # no clock: an entry without an expiry keeps none, and admission refuses it
        derived = pc.not_equal(entries["expiry_rule"], "")
        at = entries.schema.get_field_index("expires_at")
        entries = entries.set_column(at, "expires_at", pc.if_else(derived, None, entries["expires_at"]))
    return entries, extract.refused
