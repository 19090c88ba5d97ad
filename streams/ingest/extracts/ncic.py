"""The state NCIC-derived extract, as states redistribute the FBI's LPR extract of NCIC: one record per line,
either fixed-width or delimited (``|`` by default), no header. The layout (which field sits where) is in the
extract policy, since states lay their files out differently; the default one is described in docs/hotlists.md.
The list code (the NCIC file: VEH, LIC, WAN, ...) maps to a reason and a basis kind by the policy's table; the
record number is the NIC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.errors import HotlistError
from streams.ingest.extracts.entries import Extract, entries_from_rows
from streams.ingest.extracts.lines import read_lines, split_fields
from streams.ingest.extracts.rules import ExtractPolicy

__all__ = ["read_ncic_delimited", "read_ncic_fixed"]

REQUIRED = ("plate", "list_code", "record_number")  # a record without these is of no use


def read_ncic_fixed(path: str | Path, policy: ExtractPolicy, source: str, now_ms: int) -> Extract:
    """Each field cut from its columns (``policy.fixed_width``: 1-based first column, width), then trimmed."""
    layout = policy.fixed_width
    missing = [f for f in REQUIRED if f not in layout]
    if missing:
        raise HotlistError(f"the fixed-width layout in the extract policy has no {', '.join(missing)}")
    text, numbers = read_lines(path, "NCIC fixed-width extract")
    cols = {f: pc.utf8_slice_codeunits(text, start - 1, start - 1 + width) for f, (start, width) in layout.items()}
    need = max(layout[f][0] for f in REQUIRED)  # the line must reach the first column of each required field
    short = pc.less(pc.utf8_length(text), need).to_numpy(zero_copy_only=False)
    pre = np.where(short, "short_record", "")
    rows = pa.table({**cols, "pre_rule": pa.array(pre, pa.string())})
    return entries_from_rows(rows, numbers, policy, source, now_ms, codes="list_code")


def read_ncic_delimited(path: str | Path, policy: ExtractPolicy, source: str, now_ms: int) -> Extract:
    """Fields in the order of ``policy.delimited_columns``, split on ``policy.delimiter``; a line with fewer
    fields is refused (``wrong_field_count``), never shifted."""
    names = policy.delimited_columns
    missing = [f for f in REQUIRED if f not in names]
    if missing:
        raise HotlistError(f"the delimited layout in the extract policy has no {', '.join(missing)}")
    text, numbers = read_lines(path, "NCIC delimited extract")
    rows, count = split_fields(text, policy.delimiter, names)
    pre = np.where(count < len(names), "wrong_field_count", "")
    rows = rows.append_column("pre_rule", pa.array(pre, pa.string()))
    return entries_from_rows(rows, numbers, policy, source, now_ms, codes="list_code")
