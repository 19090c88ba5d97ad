"""Hot-list bulk import from a CSV extract shaped like state NCIC hot-list files.

Columns (header names, case-insensitive): ``plate, state, type, reason, record_number, entry_date`` as NCIC
extracts carry them, plus ``expires_at`` (mandatory for admission) and optionally ``entry_id, warrant_number,
case_number, agency, entered_by, source, valid_from``. The legal basis is the warrant number when there is one,
else the record number, else the case number. Rows whose dates cannot be read are refused (rule ``bad_date``),
never guessed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from streams.errors import HotlistError
from streams.model.hotlist import ENTRY_SCHEMA

_ALIASES = {"state": "region", "type": "plate_type", "offense_code": "reason", "entry_date": "valid_from"}
_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y")


def _parse_time(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Strings -> timestamp[ms, UTC], trying each accepted format; also which non-empty values failed."""
    col = pc.utf8_trim_whitespace(col).combine_chunks()
    out = pa.nulls(len(col), pa.timestamp("ms", tz="UTC"))
    for fmt in _FORMATS:
        parsed = pc.strptime(col, format=fmt, unit="ms", error_is_null=True)
        if parsed.type.tz is None:
            parsed = pc.assume_timezone(parsed, "UTC")
        out = pc.coalesce(out, parsed.cast(pa.timestamp("ms", tz="UTC")))
    given = pc.fill_null(pc.greater(pc.utf8_length(col), 0), False).to_numpy(zero_copy_only=False)
    failed = given & out.is_null().to_numpy(zero_copy_only=False)
    return out, failed


def read_hotlist_csv(path: str | Path, source: str = "ncic_extract") -> tuple[pa.Table, pa.Table]:
    """(entries in ENTRY_SCHEMA, rows refused before policy with a ``rule`` column)."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            names = next(csv.reader(f))
        # Every column as text: a record number like 0123 must keep its leading zero.
        raw = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (OSError, pa.ArrowInvalid, StopIteration) as exc:
        raise HotlistError(f"cannot read hot-list CSV {path}: {exc}") from None
    raw = raw.rename_columns([_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in raw.column_names])
    seen = [c for i, c in enumerate(raw.column_names) if c in raw.column_names[:i]]
    if seen:  # two columns (or a column and its alias, like state and region) would be ambiguous
        raise HotlistError(f"hot-list CSV {path} has the column '{seen[0]}' more than once")
    for need in ("plate", "reason"):
        if need not in raw.column_names:
            raise HotlistError(f"hot-list CSV {path} has no '{need}' column")
    n = raw.num_rows

    def col(name: str, default: str = "") -> pa.ChunkedArray:
        return raw[name] if name in raw.column_names else pa.chunked_array([pa.array([default] * n, pa.string())])

    def given(name: str) -> np.ndarray:
        return pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col(name))), 0).to_numpy(zero_copy_only=False)

    warrant, record, case = given("warrant_number"), given("record_number"), given("case_number")
    basis_type = np.where(warrant, "warrant", np.where(record, "record_number", np.where(case, "case_number", "")))
    basis = pc.if_else(
        pa.array(warrant), col("warrant_number"), pc.if_else(pa.array(record), col("record_number"), col("case_number"))
    )
    valid_from, bad_from = _parse_time(col("valid_from"))
    expires_at, bad_exp = _parse_time(col("expires_at"))
    rows = np.arange(n)
    entry_id = col("entry_id")
    if "entry_id" not in raw.column_names:
        entry_id = pa.array([f"{source}:{i + 1}" for i in rows], pa.string())
    src = col("source", source)
    table = pa.table(
        {
            "entry_id": entry_id,
            "plate": col("plate"),
            "region": col("region"),
            "plate_type": col("plate_type"),
            "reason": pc.utf8_lower(pc.utf8_trim_whitespace(col("reason"))),
            "legal_basis_type": pa.array(basis_type.tolist(), pa.string()),
            "legal_basis": basis,
            "agency": col("agency"),
            "entered_by": col("entered_by"),
            "source": pc.if_else(pc.equal(src, ""), source, src),
            "valid_from": valid_from,
            "expires_at": expires_at,
        },
        schema=ENTRY_SCHEMA,
    )
    bad = bad_from | bad_exp
    refused = table.filter(pa.array(bad)).append_column("rule", pa.array(["bad_date"] * int(bad.sum()), pa.string()))
    return table.filter(pa.array(~bad)), refused
