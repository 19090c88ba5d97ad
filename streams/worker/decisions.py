"""What the worker accepts of people's decisions on hits (the ``verifications`` topic), by the rules that need its
store: the hit must be one the store has; a possible misread is confirmed only with every character compared; an
outcome belongs to a hit someone confirmed (in the store, or in the same batch). What fails a rule is a rejection:
a dead letter and an audit record, never applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from streams.ingest.control import Rejection, rejection
from streams.ingest.verifications import CHARACTER_CHECK, CHARACTER_CHECK_RULE, Verification
from streams.model import deadletter as dl
from streams.model.audit import AuditEntry
from streams.model.disposition import CONFIRMED
from streams.store.hits import confirmed_hits, known_hits, possible_misreads

__all__ = ["Lookup", "applied_entry", "screen"]

# ``lookup(query, hit_ids)``: the hit ids the query finds in the store (retried while the store fails).
Lookup = Callable[[Callable[..., set[str]], list[str]], set[str]]


def _refused(v: Verification, reason: str, detail: str) -> Rejection:
    return rejection(reason, detail, v.raw, v.who.origin, v.kind, v.who)


def screen(
    events: list[Verification], lookup: Lookup, low_confidence: float
) -> tuple[list[Verification], list[Verification], list[Rejection]]:
    """(dispositions, outcomes, rejections) of decoded ``events``, each rule applied in turn; ``low_confidence``: the
    admission policy's, under which a read may be a misread."""
    rejected: list[Rejection] = []
    known = lookup(known_hits, sorted({v.hit_id for v in events})) if events else set()
    rejected += [
        _refused(v, dl.UNKNOWN_HIT, "no hit with this hit_id in the store") for v in events if v.hit_id not in known
    ]
    events = [v for v in events if v.hit_id in known]

    unchecked = [v for v in events if v.word == CONFIRMED and not v.characters_compared]
    query = partial(possible_misreads, low_confidence=low_confidence)
    misreads = lookup(query, sorted({v.hit_id for v in unchecked})) if unchecked else set()
    why = f"{CHARACTER_CHECK_RULE}: a possible misread is confirmed only with the check {CHARACTER_CHECK}"
    refuse = {id(v) for v in unchecked if v.hit_id in misreads}
    rejected += [_refused(v, dl.REFUSED, why) for v in events if id(v) in refuse]
    events = [v for v in events if id(v) not in refuse]

    decisions = [v for v in events if v.kind == "verify"]
    outcomes = [v for v in events if v.kind == "outcomes.record"]
    if outcomes:
        # A confirmation in this same batch counts: an operator may confirm and record the outcome together.
        confirmed = lookup(confirmed_hits, sorted({v.hit_id for v in outcomes}))
        confirmed |= {v.hit_id for v in decisions if v.word == CONFIRMED}
        why = "outcome_unconfirmed: an outcome is recorded on a hit someone confirmed only"
        rejected += [_refused(v, dl.REFUSED, why) for v in outcomes if v.hit_id not in confirmed]
        outcomes = [v for v in outcomes if v.hit_id in confirmed]
    return decisions, outcomes, rejected


def applied_entry(v: Verification, now_ms: int) -> AuditEntry:
    """The audit record of a disposition or outcome written: who (the signed principal), what, on which hit."""
    p = v.who.principal
    word = "outcome" if v.kind == "outcomes.record" else "disposition"
    detail = json.dumps({"hit_id": v.hit_id, "decision": v.decision, word: v.word})
    return AuditEntry(now_ms, v.kind, p.actor, p.agency, v.who.role, v.who.origin, v.note[:256], "", detail, "applied")
