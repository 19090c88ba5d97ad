"""A hot-list entry as a test sends it in an add event: an active stolen-vehicle record with a legal basis."""

from __future__ import annotations

from typing import Any

DAY = 86_400_000


def hotlist_entry(entry_id: str, plate: str, now: int, source: str = "local", **fields: Any) -> dict[str, Any]:
    """Valid from a day ago for five days; ``fields`` change or add any field."""
    return {
        "entry_id": entry_id,
        "plate": plate,
        "region": "CA",
        "reason": "stolen_vehicle",
        "legal_basis_type": "record_number",
        "legal_basis": f"NCIC-{entry_id}",
        "source": source,
        "agency": "CA0000001",
        "valid_from": now - DAY,
        "expires_at": now + 5 * DAY,
        **fields,
    }
