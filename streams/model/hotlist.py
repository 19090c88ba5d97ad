"""A hot-list entry as admitted: the columns it carries into matching and into the evidence of a hit."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["ENTRY_DETAILS", "ENTRY_SCHEMA", "FULL_ENTRY_SCHEMA", "add_details", "with_details"]

# The columns an admitted entry carries into matching and into the evidence of a hit.
ENTRY_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("plate", pa.string()),
        ("region", pa.string()),
        ("plate_type", pa.string()),
        ("reason", pa.string()),
        ("legal_basis_type", pa.string()),
        ("legal_basis", pa.string()),
        ("agency", pa.string()),
        ("entered_by", pa.string()),
        ("source", pa.string()),
        ("valid_from", pa.timestamp("ms", tz="UTC")),
        ("expires_at", pa.timestamp("ms", tz="UTC")),
    ]
)

# What an entry also carries, when its source gave it (null otherwise): the legal basis as the source wrote it
# (free text, kept as given, never parsed), how its expiry was set (``expiry_rule``: "" when the source gave one
# within the policy, else the cap or the refresh rule that set it), and when the worker applied its add event
# (a snapshot clears only entries applied before it).
ENTRY_DETAILS = pa.schema(
    [
        ("legal_basis_text", pa.string()),
        ("expiry_rule", pa.string()),
        ("added_at", pa.timestamp("ms", tz="UTC")),
    ]
)
FULL_ENTRY_SCHEMA = pa.schema(list(ENTRY_SCHEMA) + list(ENTRY_DETAILS))


def add_details(entries: pa.Table) -> pa.Table:
    """``entries`` with the detail columns it lacks added as nulls; other columns stay."""
    for f in ENTRY_DETAILS:
        if f.name not in entries.column_names:
            entries = entries.append_column(f, pa.nulls(entries.num_rows, f.type))
    return entries


def with_details(entries: pa.Table) -> pa.Table:
    """``entries`` in ``FULL_ENTRY_SCHEMA`` exactly: missing detail columns null, other columns dropped."""
    return add_details(entries).select(FULL_ENTRY_SCHEMA.names).cast(FULL_ENTRY_SCHEMA)
