"""Rows of an extract (text columns, one per field) into hot-list entries, vectorised over the table.

What every format shares: the reason (given, or from the list code or category by the policy's table), the legal
basis (warrant number, else record number, else case number; its kind from the column, or for a record number from
the list code), the stable entry id (source + record number, never the row number), the dates, the expiry of an
entry the source gave none, and the free-text legal basis kept as given. A row that cannot be used is refused with
its line number and the rule; the plate is never in what is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.ingest.extracts.rules import ExtractPolicy, ListCode
from streams.model.hotlist import FULL_ENTRY_SCHEMA

__all__ = ["PRE_RULES", "REFUSED_SCHEMA", "Extract", "entries_from_rows", "parse_times"]

# Why an importer could not use a row, in the order checked (the first one wins).
PRE_RULES = (
    "wrong_field_count",  # a delimited line with fewer fields than the layout
    "short_record",  # a fixed-width line that ends before the record number
    "unknown_list_code",  # a list code or category the extract policy does not map to a reason
    "no_record_number",  # no entry id, record, warrant or case number: no stable id
    "bad_date",  # a date that is given but cannot be read (never guessed)
    "legal_basis_text_too_long",
)
REFUSED_SCHEMA = pa.schema([("line", pa.int64()), ("rule", pa.string())])
TEXT_MAX = 1000  # the free-text legal basis, as the hot-list events carry it
_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")
_TS = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Extract:
    """Entries (``FULL_ENTRY_SCHEMA``, with a ``line`` column) and the refused rows (``REFUSED_SCHEMA``)."""

    entries: pa.Table
    refused: pa.Table
    source: str

    def refused_by_rule(self) -> dict[str, int]:
        counts = self.refused["rule"].value_counts().to_pylist() if self.refused.num_rows else []
        return {c["values"]: c["counts"] for c in counts}


def parse_times(col: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Strings -> timestamp[ms, UTC], trying each accepted format; also which non-empty values failed."""
    col = pc.utf8_trim_whitespace(col)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    out = pa.nulls(len(col), _TS)
    for fmt in _FORMATS:
        parsed = pc.strptime(col, format=fmt, unit="ms", error_is_null=True)
        if parsed.type.tz is None:
            parsed = pc.assume_timezone(parsed, "UTC")
        out = pc.coalesce(out, parsed.cast(_TS))
    given = pc.fill_null(pc.greater(pc.utf8_length(col), 0), False).to_numpy(zero_copy_only=False)
    return out, given & out.is_null().to_numpy(zero_copy_only=False)


def _mapped(codes: pa.Array, table: dict[str, ListCode]) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(reason, basis kind, known) of each code by the policy's table."""
    keys = pa.array(list(table), pa.string())
    idx = pc.index_in(codes, value_set=keys)
    reasons = pa.array([c.reason for c in table.values()], pa.string())
    kinds = pa.array([c.basis for c in table.values()], pa.string())
    return pc.take(reasons, idx), pc.take(kinds, idx), idx.is_valid().to_numpy(zero_copy_only=False)


def _dedup_suffix(ids: pa.Array, plates: pa.Array, regions: pa.Array) -> pa.Array:
    """A record number shared by several rows (a wanted person with two vehicles) gets ``#2``, ``#3``... in order
    of plate and region, so the ids do not depend on the order of the file."""
    n = len(ids)
    if n == 0:
        return ids
    t = pa.table({"id": ids, "plate": plates, "region": regions})
    order = pc.sort_indices(t, sort_keys=[("id", "ascending"), ("plate", "ascending"), ("region", "ascending")])
    order = order.to_numpy()
    sorted_ids = pc.take(ids, pa.array(order)).to_numpy(zero_copy_only=False)
    first = np.ones(n, bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    starts = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - starts + 1
    suffix = pa.array(np.where(rank > 1, np.char.add("#", rank.astype(str)), ""), pa.string())
    return pc.binary_join_element_wise(ids, suffix, "")


def entries_from_rows(
    rows: pa.Table, lines: np.ndarray, policy: ExtractPolicy, source: str, now_ms: int, codes: str | None = None
) -> Extract:
    """Entries from ``rows`` (text columns named as ``FULL_ENTRY_SCHEMA`` plus ``record_number``,
    ``warrant_number``, ``case_number``, and ``list_code`` or ``category``). ``codes``: which of those names the
    reason ("list_code", "category", or None when a ``reason`` column gives it)."""
    n = rows.num_rows
    empty = pa.array([""] * n, pa.string())

    def col(name: str) -> pa.Array:
        if name not in rows.column_names:
            return empty
        c = rows[name]
        return pc.utf8_trim_whitespace(c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c)

    def given(c: pa.Array) -> np.ndarray:
        return pc.greater(pc.utf8_length(c), 0).to_numpy(zero_copy_only=False)

    rule = np.zeros(n, np.uint8)

    def fail(bad: np.ndarray, name: str) -> None:
        rule[(rule == 0) & bad] = PRE_RULES.index(name) + 1

    if "pre_rule" in rows.column_names:  # a reader's own refusal (field count, short line)
        pre = rows["pre_rule"].to_numpy(zero_copy_only=False)
        for r in PRE_RULES[:2]:
            fail(pre == r, r)
    record_kind = pa.array(["record_number"] * n, pa.string())
    if codes is None:
        reason = pc.utf8_lower(col("reason"))
    else:
        table = policy.list_codes if codes == "list_code" else policy.categories
        key = pc.utf8_upper(col(codes)) if codes == "list_code" else pc.utf8_lower(col(codes))
        reason, kind, known = _mapped(key, table)
        fail(~known, "unknown_list_code")
        reason = pc.fill_null(reason, "")
        record_kind = pc.fill_null(kind, "record_number")
    warrant, record, case = col("warrant_number"), col("record_number"), col("case_number")
    has_w, has_r, has_c = given(warrant), given(record), given(case)
    basis_type = pc.if_else(
        pa.array(has_w),
        "warrant",
        pc.if_else(pa.array(has_r), record_kind, pc.if_else(pa.array(has_c), "case_number", "")),
    )
    basis = pc.if_else(pa.array(has_w), warrant, pc.if_else(pa.array(has_r), record, case))
    # the id: the source's own id, else its record number (NIC), else the warrant, else the case number
    number = pc.if_else(pa.array(has_r), record, pc.if_else(pa.array(has_w), warrant, case))
    own_id = col("entry_id")
    has_id = given(own_id)
    fail(~has_id & ~(has_r | has_w | has_c), "no_record_number")
    src = col("source")
    src = pc.if_else(given(src), src, source)
    plates, regions = pc.utf8_upper(col("plate")), pc.utf8_upper(col("region"))
    derived = _dedup_suffix(pc.binary_join_element_wise(src, number, ":"), plates, regions)
    entry_id = pc.if_else(pa.array(has_id), own_id, derived)

    valid_from, bad_from = parse_times(col("valid_from"))
    expires_at, bad_exp = parse_times(col("expires_at"))
    fail(bad_from | bad_exp, "bad_date")
    text = rows["legal_basis_text"] if "legal_basis_text" in rows.column_names else pa.nulls(n, pa.string())
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    fail(
        pc.fill_null(pc.greater(pc.utf8_length(text), TEXT_MAX), False).to_numpy(zero_copy_only=False),
        "legal_basis_text_too_long",
    )

    refresh = policy.refresh(source)
    no_expiry = expires_at.is_null()
    rule_text = (
        f"source_refresh: none given; {source} refreshes every {refresh.refresh_hours:g} h, "
        f"plus {refresh.grace_hours:g} h grace"
    )
    expires_at = pc.fill_null(expires_at, pa.scalar(refresh.expiry_ms(now_ms), _TS))
    table = pa.table(
        {
            "entry_id": entry_id,
            "plate": col("plate"),
            "region": col("region"),
            "plate_type": col("plate_type"),
            "reason": reason,
            "legal_basis_type": basis_type,
            "legal_basis": basis,
            "agency": col("agency"),
            "entered_by": col("entered_by"),
            "source": src,
            "valid_from": valid_from,
            "expires_at": expires_at,
            "legal_basis_text": pc.if_else(pc.equal(pc.fill_null(text, ""), ""), pa.scalar(None, pa.string()), text),
            "expiry_rule": pc.if_else(no_expiry, rule_text, ""),
            "added_at": pa.nulls(n, _TS),
        },
        schema=FULL_ENTRY_SCHEMA,
    ).append_column("line", pa.array(lines, pa.int64()))
    ok = rule == 0
    names = np.array(("",) + PRE_RULES, dtype=object)[rule[~ok]]
    refused = pa.table({"line": pa.array(lines[~ok], pa.int64()), "rule": pa.array(names.tolist(), pa.string())})
    return Extract(table.filter(pa.array(ok)), refused, source)
