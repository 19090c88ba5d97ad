"""Operator decisions on hits, from the ``verifications`` topic (JSON, key = hit id):

    {"hit_id": "...", "decision": "confirmed", "operator": "badge-123", "at": ms,
     "checks": {"plate_matches_image": true, "region_matches_image": true, "entry_active": true}}
    {"hit_id": "...", "decision": "rejected", "reason": "misread", "operator": "badge-123", "at": ms}

A confirmation must affirm every check; a rejection must name a reason. Anything else is a dead letter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from streams.model import deadletter as dl
from streams.model.deadletter import DeadLetter

REJECT_REASONS = ("misread", "wrong_state", "entry_cleared", "entry_expired", "plate_not_visible", "other")
CONFIRM_CHECKS = ("plate_matches_image", "region_matches_image", "entry_active")
VERIFICATION_SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
        ("operator", pa.string()),
        ("decided_at", pa.timestamp("ms", tz="UTC")),
    ]
)


def _problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "a verification must be a JSON object"
    for key in ("hit_id", "operator"):
        if not isinstance(doc.get(key), str) or not doc[key] or len(doc[key]) > 128:
            return f"{key} must be a non-empty string"
    at = doc.get("at")
    if isinstance(at, bool) or not isinstance(at, int) or abs(at) > 2**62:
        return "at must be milliseconds since the epoch"
    decision = doc.get("decision")
    if decision == "confirmed":
        checks = doc.get("checks")
        if not isinstance(checks, dict) or any(checks.get(c) is not True for c in CONFIRM_CHECKS):
            return f"a confirmation must affirm each check: {', '.join(CONFIRM_CHECKS)}"
    elif decision == "rejected":
        if doc.get("reason") not in REJECT_REASONS:
            return f"a rejection needs a reason: one of {', '.join(REJECT_REASONS)}"
    else:
        return "decision must be confirmed or rejected"
    return None


def decode_verifications(payloads: Sequence[bytes], origins: Sequence[str]) -> tuple[pa.Table, list[DeadLetter]]:
    rows: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for raw, origin in zip(payloads, origins, strict=True):
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, a 5000-digit integer
            dead.append(DeadLetter(dl.UNDECODABLE, f"not JSON: {type(exc).__name__}", raw, origin))
            continue
        problem = _problem(doc)
        if problem:
            dead.append(DeadLetter(dl.WRONG_SCHEMA, problem, raw, origin))
            continue
        rows.append(
            {
                "hit_id": doc["hit_id"],
                "decision": doc["decision"],
                "reason": doc.get("reason") or "",
                "operator": doc["operator"],
                "decided_at": doc["at"],
            }
        )
    cols = {k: pa.array([r[k] for r in rows], pa.string()) for k in ("hit_id", "decision", "reason", "operator")}
    cols["decided_at"] = pa.array([r["decided_at"] for r in rows], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    return pa.table(cols, schema=VERIFICATION_SCHEMA), dead


def verification_event(hit_id: str, operator: str, at_ms: int, reject_reason: str | None = None) -> dict[str, Any]:
    """What an operator's tool publishes: a rejection with its reason, or a confirmation of every check."""
    if reject_reason:
        return {"hit_id": hit_id, "decision": "rejected", "reason": reject_reason, "operator": operator, "at": at_ms}
    return {
        "hit_id": hit_id,
        "decision": "confirmed",
        "operator": operator,
        "at": at_ms,
        "checks": dict.fromkeys(CONFIRM_CHECKS, True),
    }
