"""The project's own hot-list CSV (docs/hotlists.md): a header row, then one entry per row, columns by name."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from streams.errors import HotlistError
from streams.ingest.extracts.entries import Extract, entries_from_rows
from streams.ingest.extracts.rules import ExtractPolicy

__all__ = ["read_own_csv"]

_ALIASES = {
    "state": "region",
    "type": "plate_type",
    "offense_code": "reason",
    "entry_date": "valid_from",
    "legal_basis": "legal_basis_text",
}


def read_own_csv(path: str | Path, policy: ExtractPolicy, source: str, now_ms: int) -> Extract:
    """A row with the wrong number of fields is refused by line number (pyarrow's own message would quote it,
    plate and all); blank lines are not rows."""
    wrong: list[int] = []
    blank: list[int] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        (blank if not row.text.strip() else wrong).append(row.number)
        return "skip"

    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            names = next(csv.reader(f))
        # Every column as text: a record number like 0123 must keep its leading zero.
        raw = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),  # line numbers of invalid rows, in order
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (OSError, pa.ArrowInvalid, StopIteration) as exc:
        raise HotlistError(f"cannot read hot-list CSV {path}: {type(exc).__name__}") from None
    raw = raw.rename_columns([_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in raw.column_names])
    seen = [c for i, c in enumerate(raw.column_names) if c in raw.column_names[:i]]
    if seen:  # two columns (or a column and its alias, like state and region) would be ambiguous
        raise HotlistError(f"hot-list CSV {path} has the column '{seen[0]}' more than once")
    for need in ("plate", "reason"):
        if need not in raw.column_names:
            raise HotlistError(f"hot-list CSV {path} has no '{need}' column")
    # line 1 is the header; values hold no line breaks, so the rows kept are the other lines in order
    skipped = set(wrong) | set(blank)
    every = np.arange(2, raw.num_rows + len(skipped) + 2, dtype=np.int64)
    lines = every[~np.isin(every, list(skipped))]
    extract = entries_from_rows(raw, lines, policy, source, now_ms)
    bad = pa.table({"line": pa.array(sorted(wrong), pa.int64()), "rule": ["wrong_field_count"] * len(wrong)})
    refused = pa.concat_tables([extract.refused, bad.cast(extract.refused.schema)]).sort_by("line")
    return Extract(extract.entries, refused, source)
