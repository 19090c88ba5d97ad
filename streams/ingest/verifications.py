"""What people decided about hits, from the ``verifications`` topic (JSON, key = hit id). Two kinds of event:

    {"hit_id": "...", "disposition": "confirmed", "at": ms,
     "checks": {"plate_matches_image": true, "region_matches_image": true, "entry_active": true}}
    {"hit_id": "...", "disposition": "misread", "at": ms}                 any word of DISPOSITIONS but confirmed
    {"hit_id": "...", "disposition": "other", "note": "...", "at": ms}    `other` needs its note
    {"hit_id": "...", "outcome": "arrest", "note": "...", "at": ms}       what came of a confirmed hit, later

The words are the fixed vocabularies of ``streams.model.disposition``. Each event travels in a signed envelope
(``streams.ingest.control``): who decided is the envelope's principal, which needs ``verify`` for a disposition and
``outcomes.record`` for an outcome; an event naming an operator of its own is refused. A confirmation must affirm
every check. Anything else is a dead letter. That the hit exists (and, for an outcome, that it was confirmed) is the
worker's check, against its store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from streams.ingest.control import Authorised, ControlGate, Rejection, rejection
from streams.model import deadletter as dl
from streams.model.disposition import (
    CONFIRMED,
    DISPOSITIONS,
    NOTE_MAX_CHARS,
    NOTE_REQUIRED,
    OUTCOMES,
    decision_of,
)

__all__ = [
    "CHARACTER_CHECK",
    "CHARACTER_CHECK_RULE",
    "CONFIRM_CHECKS",
    "character_check_missing",
    "OUTCOME_SCHEMA",
    "VERIFICATION_SCHEMA",
    "Verification",
    "action_of",
    "decode_verifications",
    "outcome_event",
    "outcomes_table",
    "verification_event",
    "verification_problem",
    "verifications_table",
]

CONFIRM_CHECKS = ("plate_matches_image", "region_matches_image", "entry_active")
# A hit that may be a misread (``streams.store.hits.possible_misreads``) is confirmed only with this check too: the
# person compared the image's plate with the entry character by character (the console has them type it).
CHARACTER_CHECK = "each_character_compared"
CHARACTER_CHECK_RULE = "character_check_required"
VERIFICATION_SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
        ("operator", pa.string()),
        ("decided_at", pa.timestamp("ms", tz="UTC")),
        ("disposition", pa.string()),
        ("note", pa.string()),
    ]
)
OUTCOME_SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("outcome", pa.string()),
        ("note", pa.string()),
        ("recorded_by", pa.string()),
        ("recorded_at", pa.timestamp("ms", tz="UTC")),
    ]
)
_COMMON = {"hit_id", "at", "note"}
_KEYS = {"verify": _COMMON | {"disposition", "checks"}, "outcomes.record": _COMMON | {"outcome"}}


@dataclass(frozen=True)
class Verification:
    """A decoded disposition or outcome and who recorded it (the signed principal)."""

    hit_id: str
    kind: str  # "verify" (a disposition) or "outcomes.record" (an outcome): the action it needed
    word: str  # the disposition or the outcome
    note: str
    at_ms: int
    who: Authorised
    raw: bytes
    affirmed: frozenset[str] = frozenset()  # the checks a confirmation affirmed

    @property
    def decision(self) -> str:
        return decision_of(self.word)

    @property
    def characters_compared(self) -> bool:
        return CHARACTER_CHECK in self.affirmed


def action_of(doc: Any) -> str:
    """The action an event needs: an outcome is recorded under ``outcomes.record``, anything else is a ``verify``."""
    return "outcomes.record" if isinstance(doc, dict) and "outcome" in doc else "verify"


def verification_problem(doc: Any) -> str | None:
    """Why ``doc`` is not a disposition or an outcome event; None when it is one."""
    if not isinstance(doc, dict):
        return "an event must be a JSON object"
    if "operator" in doc:
        return "who decided is the signed principal: an event carries no operator"
    kind = action_of(doc)
    extra = sorted(set(doc) - _KEYS[kind])
    if extra:
        return f"unknown field(s): {', '.join(extra)[:100]}"
    if not isinstance(doc.get("hit_id"), str) or not doc["hit_id"] or len(doc["hit_id"]) > 128:
        return "hit_id must be a non-empty string"
    at = doc.get("at")
    if isinstance(at, bool) or not isinstance(at, int) or abs(at) > 2**62:
        return "at must be milliseconds since the epoch"
    note = doc.get("note", "")
    if not isinstance(note, str) or len(note) > NOTE_MAX_CHARS:
        return f"note must be text of at most {NOTE_MAX_CHARS} characters"
    if kind == "outcomes.record":
        if doc["outcome"] not in OUTCOMES:
            return f"outcome must be one of {', '.join(OUTCOMES)}"
        return None
    disposition = doc.get("disposition")
    if disposition not in DISPOSITIONS:
        return f"disposition must be one of {', '.join(DISPOSITIONS)}"
    if disposition in NOTE_REQUIRED and not note.strip():
        return f"a disposition of {disposition} needs a note saying what was found"
    if disposition == CONFIRMED:
        checks = doc.get("checks")
        if not isinstance(checks, dict) or any(checks.get(c) is not True for c in CONFIRM_CHECKS):
            return f"a confirmation must affirm each check: {', '.join(CONFIRM_CHECKS)}"
    elif "checks" in doc:
        return "only a confirmation carries checks"
    return None


def character_check_missing(doc: dict[str, Any]) -> bool:
    """Whether a confirmation lacks the character-by-character check a possible misread needs."""
    checks = doc.get("checks")
    return doc.get("disposition") == CONFIRMED and not (
        isinstance(checks, dict) and checks.get(CHARACTER_CHECK) is True
    )


def decode_verifications(
    payloads: Sequence[bytes], origins: Sequence[str], gate: ControlGate
) -> tuple[list[Verification], list[Rejection]]:
    """Open, authorise and check each event; what fails is a rejection (dead letter + audit)."""
    out: list[Verification] = []
    rejected: list[Rejection] = []
    for raw, origin in zip(payloads, origins, strict=True):
        opened = gate.open(raw, origin, "verify")
        if isinstance(opened, Rejection):
            rejected.append(opened)
            continue
        kind = action_of(opened[0])
        who = gate.authorise(*opened, kind, raw, origin)
        if isinstance(who, Rejection):
            rejected.append(who)
            continue
        doc = who.event
        problem = verification_problem(doc)
        if problem:
            rejected.append(rejection(dl.WRONG_SCHEMA, problem, raw, origin, kind, who))
            continue
        word = doc["outcome"] if kind == "outcomes.record" else doc["disposition"]
        affirmed = frozenset(k for k, v in (doc.get("checks") or {}).items() if v is True)
        out.append(Verification(doc["hit_id"], kind, word, doc.get("note", ""), doc["at"], who, bytes(raw), affirmed))
    return out, rejected


def verifications_table(decisions: Sequence[Verification]) -> pa.Table:
    """The rows of ``verifications`` (dispositions only): the operator is who signed it (``subject@agency``);
    ``decision`` and ``reason`` are the two-way decision and the rejection's word, for older readers."""
    return pa.table(
        {
            "hit_id": [v.hit_id for v in decisions],
            "decision": [v.decision for v in decisions],
            "reason": ["" if v.word == CONFIRMED else v.word for v in decisions],
            "operator": [v.who.actor for v in decisions],
            "decided_at": pa.array([v.at_ms for v in decisions], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "disposition": [v.word for v in decisions],
            "note": [v.note for v in decisions],
        },
        schema=VERIFICATION_SCHEMA,
    )


def outcomes_table(outcomes: Sequence[Verification]) -> pa.Table:
    """The rows of ``hit_outcomes``: who recorded each outcome is who signed it."""
    return pa.table(
        {
            "hit_id": [v.hit_id for v in outcomes],
            "outcome": [v.word for v in outcomes],
            "note": [v.note for v in outcomes],
            "recorded_by": [v.who.actor for v in outcomes],
            "recorded_at": pa.array([v.at_ms for v in outcomes], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        },
        schema=OUTCOME_SCHEMA,
    )


def verification_event(hit_id: str, at_ms: int, disposition: str = CONFIRMED, note: str = "") -> dict[str, Any]:
    """A disposition as the API seals it: a confirmation affirms every check."""
    event: dict[str, Any] = {"hit_id": hit_id, "disposition": disposition, "at": at_ms}
    if note:
        event["note"] = note
    if disposition == CONFIRMED:
        event["checks"] = dict.fromkeys(CONFIRM_CHECKS, True)
    return event


def outcome_event(hit_id: str, outcome: str, at_ms: int, note: str = "") -> dict[str, Any]:
    """An outcome as the API seals it."""
    event: dict[str, Any] = {"hit_id": hit_id, "outcome": outcome, "at": at_ms}
    if note:
        event["note"] = note
    return event
