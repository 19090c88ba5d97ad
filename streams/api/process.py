"""Legal process as data (docs/search-and-audit.md): register a record (``supervisor``, ``records``), read the
records of one's agency, and review another's exception (``supervisor``, never one's own). The gate audits every
call; the plates of a record appear in the trail only as keyed hashes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from streams import clock
from streams.api.bodies import ProcessBody
from streams.api.control import from_store, plate_keys_or_refuse
from streams.api.gate import Caller, caller, needs
from streams.api.reads import service_of
from streams.api.refusals import Refused
from streams.core.pseudonym import PlateKeys
from streams.model.search import ProcessRecord
from streams.store.process import get_process, list_processes, register_process, review_process
from streams.store.sharing import get_partner

__all__ = ["process_json", "router"]

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
ProcessIdPath = Annotated[str, Path(pattern=r"^lp-[0-9a-f]{12}$")]
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many records, newest first")]


def process_json(r: ProcessRecord, keys: PlateKeys) -> dict[str, Any]:
    """A record as the API shows it: plates as ``key id:keyed hash`` under the current key, times in ms."""
    labels = sorted(f"{k}:{h:016x}" for k, h in r.plate_keys if k == keys.current_id)
    return {
        "process_id": r.process_id,
        "kind": r.kind,
        "number": r.number,
        "issuer": r.issuer,
        "case_number": r.case_number,
        "offence": r.offence,
        "plate_keys": labels,
        "cameras": list(r.cameras),
        "area": r.area.to_json() if r.area else None,
        "from": r.scope_from_ms,
        "to": r.scope_to_ms,
        "expires_at": r.expires_at_ms,
        "registered_by": r.registered_by,
        "agency": r.agency,
        "registered_at": r.registered_at_ms,
        "review_due": r.review_due_ms,
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at_ms,
    }


def own_record(request: Request, who: Caller, process_id: str) -> ProcessRecord:
    """The caller's agency's record, else 404 (another agency's record is not shown to exist)."""
    record = from_store(request, get_process, process_id)
    if record is None or record.agency != who.principal.agency:
        raise Refused(404, "unknown_process", "no legal-process record with this id is registered for your agency")
    return record


@router.post("/v1/process", status_code=201, openapi_extra=needs("process.register"))
def register(body: ProcessBody, request: Request, who: Who) -> dict[str, Any]:
    """Register a legal-process record; an exception (no warrant) is due for review by another supervisor."""
    service = service_of(request)
    policy = service.search_policy
    p, attempt, now = who.principal, who.attempt, clock.now_ms()
    process_id = f"lp-{uuid.uuid4().hex[:12]}"
    pseudonyms, labels = plate_keys_or_refuse(list(body.plates), request)
    attempt.case_number = body.case_number
    attempt.detail = {
        "process_id": process_id,
        "kind": body.kind,
        "number": body.number,
        "issuer": body.issuer,
        "case_number": body.case_number,
        "offence": body.offence,
        "plate_keys": labels,
        "cameras": list(body.cameras),
        "area": body.area.model_dump() if body.area else None,
        "from_ms": body.from_ms,
        "to_ms": body.to_ms,
        "expires_ms": body.expires_at,
    }
    if p.agency != policy.home_agency and from_store(request, get_partner, p.agency) is None:
        raise Refused(403, "agency_not_shared", "this agency is not on the sharing allow-list")
    if body.offence not in policy.offences:
        raise Refused(400, "unknown_offence", "the offence is not one of the policy's offence codes")
    if not (body.plates or body.cameras or body.area):
        raise Refused(400, "empty_scope", "a record covers plates, cameras or an area")
    if body.from_ms > body.to_ms:
        raise Refused(400, "invalid_window", "the window's start (from) is after its end (to)")
    if body.expires_at <= now:
        raise Refused(400, "already_expired", "the record's expiry (expires_at) has passed")
    record = ProcessRecord(
        process_id=process_id,
        kind=body.kind,
        number=body.number,
        issuer=body.issuer,
        case_number=body.case_number,
        offence=body.offence,
        plate_keys=frozenset(pseudonyms),
        cameras=tuple(sorted(set(body.cameras))),
        area=body.area.area() if body.area else None,
        scope_from_ms=body.from_ms,
        scope_to_ms=body.to_ms,
        expires_at_ms=body.expires_at,
        registered_by=p.actor,
        agency=p.agency,
        registered_at_ms=now,
        review_due_ms=policy.review_due_ms(body.kind, now),
    )
    attempt.detail["review_due_ms"] = record.review_due_ms
    from_store(request, register_process, record)
    attempt.rows = 1
    return process_json(record, service.keys)


@router.get("/v1/process", openapi_extra=needs("process.read"))
def listed(request: Request, who: Who, limit: Limit = 100) -> dict[str, list[dict[str, Any]]]:
    """The caller's agency's records, newest first."""
    who.attempt.detail = {"limit": limit}
    records = from_store(request, list_processes, who.principal.agency, limit)
    who.attempt.rows = len(records)
    return {"records": [process_json(r, service_of(request).keys) for r in records]}


@router.get("/v1/process/{process_id}", openapi_extra=needs("process.read"))
def one(process_id: ProcessIdPath, request: Request, who: Who) -> dict[str, Any]:
    """One record of the caller's agency."""
    who.attempt.detail = {"process_id": process_id}
    record = own_record(request, who, process_id)
    who.attempt.case_number, who.attempt.rows = record.case_number, 1
    return process_json(record, service_of(request).keys)


@router.post("/v1/process/{process_id}/review", openapi_extra=needs("process.review"))
def review(process_id: ProcessIdPath, request: Request, who: Who) -> dict[str, Any]:
    """Review an exception record registered by someone else of the same agency."""
    who.attempt.detail = {"process_id": process_id}
    record = own_record(request, who, process_id)
    who.attempt.case_number = record.case_number
    who.attempt.detail.update(kind=record.kind, registered_by=record.registered_by)
    if record.review_due_ms is None:
        raise Refused(409, "not_an_exception", "only an exception record (no warrant) is reviewed")
    if record.reviewed_at_ms is not None:
        raise Refused(409, "already_reviewed", "this record has been reviewed already")
    if record.registered_by == who.principal.actor:
        raise Refused(403, "self_review", "an exception is reviewed by another supervisor, never its registrar")
    reviewed = from_store(request, review_process, record, who.principal.actor, clock.now_ms())
    who.attempt.rows = 1
    return process_json(reviewed, service_of(request).keys)
