"""Genetec AutoVu hot-list text: one vehicle per line, fields separated by ``;``:
``PlateNumber;PlateState;Category;EffectiveDate;ExpiryDate`` and then the attributes a list carries. Only the
plate is mandatory in AutoVu (``ABC123;`` is a valid line); here a line also needs a category the extract policy
maps to a reason, and a record number among its attributes, so that its id is stable and it has a legal basis.
A first line whose first field is ``PlateNumber`` is a header naming the fields; otherwise they are positional,
in the order of ``policy.genetec_columns``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from streams.ingest.extracts.entries import Extract, entries_from_rows
from streams.ingest.extracts.lines import read_lines, split_fields
from streams.ingest.extracts.rules import ExtractPolicy

__all__ = ["GENETEC_FIELDS", "read_genetec"]

# Genetec attribute names (lower-case) -> entry fields
GENETEC_FIELDS = {
    "platenumber": "plate",
    "platestate": "region",
    "category": "category",
    "effectivedate": "valid_from",
    "expirydate": "expires_at",
    "recordnumber": "record_number",
    "nic": "record_number",
    "warrantnumber": "warrant_number",
    "casenumber": "case_number",
    "legalbasis": "legal_basis_text",
    "agency": "agency",
    "ori": "agency",
}


def read_genetec(path: str | Path, policy: ExtractPolicy, source: str, now_ms: int) -> Extract:
    text, numbers = read_lines(path, "Genetec hot-list file")
    names = policy.genetec_columns
    if len(text) and text[0].as_py().split(";")[0].strip().lower() == "platenumber":
        header = [h.strip().lower() for h in text[0].as_py().split(";")]
        names = tuple(GENETEC_FIELDS.get(h, f"ignored_{i}") for i, h in enumerate(header))
        text, numbers = text[1:], numbers[1:]
    rows, count = split_fields(text, ";", names)
    # AutoVu needs only the plate; the fields after it may be left off
    pre = np.where(count < 1, "wrong_field_count", "")
    rows = rows.append_column("pre_rule", pa.array(pre, pa.string()))
    return entries_from_rows(rows, numbers, policy, source, now_ms, codes="category")
