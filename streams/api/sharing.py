"""Sharing outside the agency (docs/search-and-audit.md): the allow-list of outside agencies and the protections
each is bound by. Changes need ``sharing.manage`` (``admin``) and are audited; the list is public (the
transparency report publishes it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from streams import clock
from streams.api.bodies import PartnerBody
from streams.api.control import from_store
from streams.api.gate import Caller, caller, needs
from streams.api.reads import service_of
from streams.api.refusals import Refused
from streams.model.search import Partner
from streams.store.sharing import list_partners, put_partner, remove_partner

__all__ = ["partner_json", "router"]

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
Agency = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,128}$")]


def partner_json(p: Partner) -> dict[str, Any]:
    return {
        "agency": p.agency,
        "warrant_rules": p.warrant_rules,
        "retention": p.retention,
        "added_by": p.added_by,
        "added_at": p.added_at_ms,
    }


@router.get("/v1/sharing", openapi_extra=needs("sharing.read"))
def listed(request: Request, who: Who) -> dict[str, Any]:
    """The outside agencies that may search now, and the purposes refused to any of them."""
    policy = service_of(request).search_policy
    partners = from_store(request, list_partners)
    who.attempt.rows = len(partners)
    return {
        "home_agency": policy.home_agency,
        "partners": [partner_json(p) for p in partners],
        "refused_purposes": list(policy.sharing.refused_purposes),
    }


@router.put("/v1/sharing/{agency}", openapi_extra=needs("sharing.manage"))
def put(agency: Agency, body: PartnerBody, request: Request, who: Who) -> dict[str, Any]:
    """Add an outside agency to the allow-list, or change the protections it is recorded as bound by."""
    who.attempt.detail = {"agency": agency, "warrant_rules": body.warrant_rules, "retention": body.retention}
    if agency == service_of(request).search_policy.home_agency:
        raise Refused(400, "home_agency", "the home agency is not an outside agency")
    partner = from_store(request, put_partner, agency, body.warrant_rules, body.retention, who.principal.actor,
                         clock.now_ms())  # fmt: skip
    who.attempt.rows = 1
    return partner_json(partner)


@router.delete("/v1/sharing/{agency}", openapi_extra=needs("sharing.manage"))
def delete(agency: Agency, request: Request, who: Who) -> dict[str, Any]:
    """Take an outside agency off the allow-list: its searches are refused from now on."""
    who.attempt.detail = {"agency": agency}
    if not from_store(request, remove_partner, agency, who.principal.actor, clock.now_ms()):
        raise Refused(404, "unknown_partner", "this agency is not on the sharing allow-list")
    who.attempt.rows = 1
    return {"agency": agency, "removed": True}
