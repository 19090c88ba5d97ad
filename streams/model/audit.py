"""One record of the audit trail: who acted, from where, on what, and what was decided."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DECISIONS", "AuditEntry"]

# allowed: the request was let through and answered; refused: a rule said no (401, 403, 400, 429);
# failed: it was allowed but could not be done (a store or broker error); applied: a worker applied a control
# event; rejected: a worker refused a control event (it went to the dead-letter topic).
DECISIONS = ("allowed", "refused", "failed", "applied", "rejected")


@dataclass(frozen=True)
class AuditEntry:
    """What the audit trail records of one attempt. ``detail`` is JSON with the parameters, plates only as
    keyed hashes; ``rule`` names the rule that refused (empty when allowed)."""

    at_ms: int
    action: str
    actor: str  # subject@agency of a verified principal, or "anonymous" for a request without valid credentials
    agency: str = ""
    role: str = ""  # the role that granted the action; empty when refused
    client: str = ""  # client address (API) or the event's origin topic/partition/offset (worker)
    reason: str = ""
    case_number: str = ""
    detail: str = "{}"
    decision: str = "allowed"
    rule: str = ""
    rows: int = 0
