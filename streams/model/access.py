"""Who is acting, and what each role may do. The principal always comes from a verified credential (a bearer
token checked by the API, or the signature on a control event), never from a field of a request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "Access", "Principal"]

# Every action a principal can be allowed. The roles that grant each are configuration (policies/access.yaml).
ACTIONS = (
    "search",  # read the read store through the gated search
    "hits.read",  # list hits and their evidence (the operator's queue)
    "verify",  # confirm or reject a hit
    "outcomes.record",  # record what came of a confirmed hit
    "holds.place",
    "holds.release",
    "holds.read",
    "hotlist.add",
    "hotlist.clear",
    "hotlist.sync",
    "audit.read",  # read audit and review output
    "policy.manage",
    "sharing.manage",
    "records.discover",  # discovery exports for a case
    "process.register",  # register a legal-process record (warrant, court order, or an exception)
    "process.review",  # review another's exception record (never one's own)
    "process.read",  # read the legal-process records of one's agency
    "sharing.read",  # list the outside agencies on the sharing allow-list
)


@dataclass(frozen=True)
class Principal:
    """A verified identity: the token's subject, its agency and the roles it claims."""

    subject: str
    agency: str
    roles: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """How the audit trail names this principal: ``subject@agency``."""
        return f"{self.subject}@{self.agency}"

    def to_json(self) -> dict[str, object]:
        return {"sub": self.subject, "agency": self.agency, "roles": list(self.roles)}

    @classmethod
    def from_json(cls, doc: object) -> Principal:
        """The principal of a signed envelope; raises ValueError when it is not one."""
        if not isinstance(doc, dict):
            raise ValueError("principal must be an object")
        sub, agency, roles = doc.get("sub"), doc.get("agency"), doc.get("roles", [])
        if not isinstance(sub, str) or not sub or not isinstance(agency, str) or not agency:
            raise ValueError("principal needs sub and agency")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("principal roles must be a list of strings")
        return cls(sub, agency, tuple(roles))


@dataclass(frozen=True)
class Access:
    """Roles and the actions each grants. A role not named here grants nothing."""

    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def granting_role(self, principal: Principal, action: str) -> str | None:
        """The first of the principal's roles that grants ``action``, else None."""
        for role in principal.roles:
            if action in self.roles.get(role, frozenset()):
                return role
        return None

    def allows(self, principal: Principal, action: str) -> bool:
        return self.granting_role(principal, action) is not None
