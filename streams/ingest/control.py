"""The gate every control event (hot-list change, hold, verification) passes before it is decoded: its signed
envelope must verify against a trusted key (``streams.core.signing``), and its principal must hold a role that
grants the action (``streams.model.access``). Who acts is the envelope's principal, never a field of the event.

What fails becomes a ``Rejection``: the dead letter (reason ``unauthenticated`` or ``forbidden``, a detail that
never quotes the event) and, for the audit trail, the action and the principal when it is known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streams.core.signing import ControlVerifier, Unauthenticated
from streams.model import deadletter as dl
from streams.model.access import Access, Principal
from streams.model.audit import AuditEntry
from streams.model.deadletter import DeadLetter

__all__ = ["NO_KEYS", "Authorised", "ControlGate", "Rejection", "rejection"]

NO_KEYS = "no control keys are configured (PLATESTREAM_CONTROL_KEYS_FILE): no control event can be authenticated"


@dataclass(frozen=True)
class Authorised:
    """An authentic event whose principal may do it: who, by which role, from where."""

    event: dict[str, Any]
    principal: Principal
    role: str
    origin: str

    @property
    def actor(self) -> str:
        return self.principal.actor


@dataclass(frozen=True)
class Rejection:
    """A control event not applied: its dead letter, and what the audit trail records of the attempt."""

    dead: DeadLetter
    action: str  # the action it asked for ("control" when that is not known: unauthenticated, undecodable)
    principal: Principal | None = None
    rule: str = ""  # the rule that refused it; the dead letter's reason when empty

    def audit_entry(self, at_ms: int) -> AuditEntry:
        p = self.principal
        return AuditEntry(
            at_ms,
            self.action,
            p.actor if p else "anonymous",
            agency=p.agency if p else "",
            client=self.dead.origin,
            detail=json.dumps({"reason": self.dead.reason, "detail": self.dead.detail[:300]}),
            decision="rejected",
            rule=self.rule or self.dead.reason,
        )


def rejection(
    reason: str,
    detail: str,
    raw: bytes,
    origin: str,
    action: str,
    who: Authorised | Principal | None = None,
    rule: str = "",
) -> Rejection:
    """A rejection of ``raw`` from ``origin``; ``who``: its principal, when the envelope verified."""
    principal = who.principal if isinstance(who, Authorised) else who
    return Rejection(DeadLetter(reason, detail, bytes(raw), origin), action, principal, rule)


class ControlGate:
    """Opens signed envelopes and checks the principal's roles. ``verifier`` None: no keys configured, so every
    event is unauthenticated (a worker without keys applies nothing it cannot trust)."""

    def __init__(self, verifier: ControlVerifier | None, access: Access):
        self.verifier = verifier
        self.access = access

    def open(self, raw: bytes, origin: str, action: str = "control") -> tuple[dict[str, Any], Principal] | Rejection:
        """The event and its principal, or the rejection of an unsigned, forged or unknown-key envelope."""
        if self.verifier is None:
            return rejection(dl.UNAUTHENTICATED, NO_KEYS, raw, origin, action)
        try:
            opened = self.verifier.open(bytes(raw))
        except Unauthenticated as exc:
            return rejection(dl.UNAUTHENTICATED, str(exc), raw, origin, action)
        return opened.event, opened.principal

    def authorise(
        self, event: dict[str, Any], principal: Principal, action: str, raw: bytes, origin: str
    ) -> Authorised | Rejection:
        """``event`` as done by ``principal``, or a ``forbidden`` rejection when none of its roles grants it."""
        role = self.access.granting_role(principal, action)
        if role is None:
            detail = f"{principal.actor} holds no role that grants {action}"
            return rejection(dl.FORBIDDEN, detail, raw, origin, action, principal)
        return Authorised(event, principal, role, origin)
