"""Operator decisions on hits, from the ``verifications`` topic (JSON, key = hit id):

    {"hit_id": "...", "decision": "confirmed", "at": ms,
     "checks": {"plate_matches_image": true, "region_matches_image": true, "entry_active": true}}
    {"hit_id": "...", "decision": "rejected", "reason": "misread", "at": ms}

Each travels in a signed envelope (``streams.ingest.control``): the operator is the envelope's principal, which
needs ``verify``; an event naming an operator of its own is refused. A confirmation must affirm every check; a
rejection must name a reason. Anything else is a dead letter. That the hit exists is the worker's check (its store).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from streams.ingest.control import Authorised, ControlGate, Rejection, rejection
from streams.model import deadletter as dl

__all__ = [
    "CONFIRM_CHECKS",
    "REJECT_REASONS",
    "VERIFICATION_SCHEMA",
    "Verification",
    "decode_verifications",
    "verification_event",
    "verification_problem",
    "verifications_table",
]

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
_KEYS = {"hit_id", "decision", "reason", "at", "checks"}


@dataclass(frozen=True)
class Verification:
    """A decoded decision and who made it (the signed principal)."""

    hit_id: str
    decision: str
    reason: str
    at_ms: int
    who: Authorised
    raw: bytes


def verification_problem(doc: Any) -> str | None:
    if "operator" in doc:
        return "the operator is the signed principal: a verification carries no operator"
    extra = sorted(set(doc) - _KEYS)
    if extra:
        return f"unknown field(s): {', '.join(extra)[:100]}"
    if not isinstance(doc.get("hit_id"), str) or not doc["hit_id"] or len(doc["hit_id"]) > 128:
        return "hit_id must be a non-empty string"
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


def decode_verifications(
    payloads: Sequence[bytes], origins: Sequence[str], gate: ControlGate
) -> tuple[list[Verification], list[Rejection]]:
    """Open, authorise and check each decision; what fails is a rejection (dead letter + audit)."""
    out: list[Verification] = []
    rejected: list[Rejection] = []
    for raw, origin in zip(payloads, origins, strict=True):
        opened = gate.open(raw, origin, "verify")
        if isinstance(opened, Rejection):
            rejected.append(opened)
            continue
        who = gate.authorise(*opened, "verify", raw, origin)
        if isinstance(who, Rejection):
            rejected.append(who)
            continue
        doc = who.event
        problem = verification_problem(doc)
        if problem:
            rejected.append(rejection(dl.WRONG_SCHEMA, problem, raw, origin, "verify", who))
            continue
        out.append(Verification(doc["hit_id"], doc["decision"], doc.get("reason") or "", doc["at"], who, bytes(raw)))
    return out, rejected


def verifications_table(decisions: Sequence[Verification]) -> pa.Table:
    """The rows of ``verifications``: the operator is who signed it (``subject@agency``)."""
    return pa.table(
        {
            "hit_id": pa.array([v.hit_id for v in decisions], pa.string()),
            "decision": pa.array([v.decision for v in decisions], pa.string()),
            "reason": pa.array([v.reason for v in decisions], pa.string()),
            "operator": pa.array([v.who.actor for v in decisions], pa.string()),
            "decided_at": pa.array([v.at_ms for v in decisions], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        },
        schema=VERIFICATION_SCHEMA,
    )


def verification_event(hit_id: str, at_ms: int, reject_reason: str | None = None) -> dict[str, Any]:
    """What an operator's decision is, before the API seals it: a rejection with its reason, or a confirmation of
    every check."""
    if reject_reason:
        return {"hit_id": hit_id, "decision": "rejected", "reason": reject_reason, "at": at_ms}
    return {"hit_id": hit_id, "decision": "confirmed", "at": at_ms, "checks": dict.fromkeys(CONFIRM_CHECKS, True)}
