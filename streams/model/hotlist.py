"""A hot-list entry as admitted: the columns it carries into matching and into the evidence of a hit."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["ENTRY_SCHEMA"]

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
