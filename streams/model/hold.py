"""A preservation hold: keeps the reads it covers past their normal limit, until released or expired."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hold:
    """A preservation hold as stored: plates only as keyed hashes under every configured key."""

    hold_id: str
    requested_by: str
    case_number: str
    reason: str
    plate_keys: tuple[tuple[str, int], ...]
    read_ids: tuple[str, ...]
    captured_from_ms: int
    captured_to_ms: int
    expires_at_ms: int
    placed_at_ms: int
    order_ref: str = ""  # the preservation request or court order it answers
    placed_by: str = ""  # subject@agency of the verified principal that placed it
    agency: str = ""  # the placing agency: only its supervisors or records staff may release the hold
