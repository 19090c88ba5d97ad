"""The API's control endpoints: verifications, holds and hot-list changes, each checked by the rules the workers
apply, then sealed for the caller (``streams.core.signing``) and published to its topic; 202 once the broker has
it. Who acted is the envelope's principal, never a field of the event or of the request body.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError

from streams import clock
from streams.api.bodies import (
    ClearBody,
    EntriesBody,
    EntryBody,
    HoldBody,
    OutcomeBody,
    ReleaseBody,
    SnapshotBody,
    SyncBody,
    VerificationBody,
)
from streams.api.gate import Caller, caller, needs
from streams.api.reads import STORE_DOWN, service_of
from streams.api.refusals import Refused, field_problems
from streams.config.extract_policy import load_extract_policy
from streams.config.settings import load_policy
from streams.core.live_hotlist import cap_expiry
from streams.core.policy import admit
from streams.errors import StoreError
from streams.ingest.holds import PlaceHold, ReleaseHold, hold_rule_broken, place_event
from streams.ingest.hotlist_events import add_event, clear_event, snapshot_events, sync_event
from streams.ingest.verifications import (
    CHARACTER_CHECK,
    CHARACTER_CHECK_RULE,
    character_check_missing,
    outcome_event,
    verification_problem,
)
from streams.model.hold import Hold
from streams.model.hotlist import FULL_ENTRY_SCHEMA
from streams.model.search import SearchRefused
from streams.store.audit import last_details_mentioning
from streams.store.hits import known_hits, possible_misreads
from streams.store.holds import list_holds
from streams.store.search import audit_plate_keys, plate_pseudonyms

__all__ = ["router"]

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
Id = Annotated[str, Path(min_length=1, max_length=128)]
Accepted = dict[str, Any]


def plate_keys_or_refuse(plates: list[str], request: Request) -> tuple[list[tuple[str, int]], list[str]]:
    """(keyed hashes under every key, their audit labels) of ``plates``; 400 ``bad_plate`` for one that is not."""
    keys = service_of(request).keys
    try:
        return plate_pseudonyms(plates, keys), audit_plate_keys(plates, keys)
    except SearchRefused as exc:
        raise Refused(400, "bad_plate", str(exc)) from None


def from_store(request: Request, fn: Any, *args: Any) -> Any:
    try:
        return service_of(request).with_store(fn, *args)
    except StoreError:
        raise Refused(503, "store_error", STORE_DOWN) from None


@router.post("/v1/hits/{hit_id}/verification", status_code=202, openapi_extra=needs("verify"))
def verify(hit_id: Id, body: VerificationBody, request: Request, who: Who) -> Accepted:
    """Record what checking a hit the store has found (its disposition); the operator is the caller. The checks
    are the caller's own, passed as given (``verification_event`` would affirm them all)."""
    who.attempt.detail = {"hit_id": hit_id, "disposition": body.disposition}
    event: dict[str, Any] = {"hit_id": hit_id, "disposition": body.disposition, "at": clock.now_ms()}
    if body.note:
        event["note"] = body.note
    if body.checks is not None:
        event["checks"] = body.checks
    low = service_of(request).low_confidence
    if character_check_missing(event) and hit_id in from_store(request, possible_misreads, [hit_id], low):
        # The rule the workers apply too: a possible misread is never confirmed by the three ticks alone.
        raise Refused(
            400, CHARACTER_CHECK_RULE, f"a possible misread is confirmed only with the check {CHARACTER_CHECK}"
        )
    return publish_on_hit(request, who, hit_id, event, "invalid_verification") | {"disposition": body.disposition}


@router.post("/v1/hits/{hit_id}/outcome", status_code=202, openapi_extra=needs("outcomes.record"))
def record_outcome(hit_id: Id, body: OutcomeBody, request: Request, who: Who) -> Accepted:
    """Record what came of a confirmed hit (the workers refuse it on a hit nobody confirmed)."""
    who.attempt.detail = {"hit_id": hit_id, "outcome": body.outcome}
    event = outcome_event(hit_id, body.outcome, clock.now_ms(), body.note or "")
    return publish_on_hit(request, who, hit_id, event, "invalid_outcome") | {"outcome": body.outcome}


def publish_on_hit(request: Request, who: Caller, hit_id: str, event: dict[str, Any], rule: str) -> Accepted:
    """Check ``event`` by the rule the workers apply, check the hit exists, publish it sealed for the caller."""
    problem = verification_problem(event)
    if problem:
        raise Refused(400, rule, problem)
    if hit_id not in from_store(request, known_hits, [hit_id]):
        raise Refused(404, "unknown_hit", "no hit with this id is in the store")
    service_of(request).publish("verifications", hit_id, event, who.principal)
    return {"hit_id": hit_id}


@router.post("/v1/holds", status_code=202, openapi_extra=needs("holds.place"))
def place_hold(body: HoldBody, request: Request, who: Who) -> Accepted:
    """Place a preservation hold: what exists now, for at most the policy's ``hold_max``."""
    service = service_of(request)
    now = clock.now_ms()
    pseudonyms, labels = plate_keys_or_refuse(list(body.plates), request)
    p = who.principal
    hold = Hold(
        hold_id=f"hold-{uuid.uuid4().hex[:12]}",
        requested_by=body.requested_by,
        case_number=body.case_number,
        reason=body.reason,
        plate_keys=tuple(pseudonyms),
        read_ids=tuple(body.read_ids),
        captured_from_ms=body.from_ms,
        captured_to_ms=now if body.to_ms is None else body.to_ms,
        expires_at_ms=now + int(body.days * 86_400_000),
        placed_at_ms=now,
        order_ref=body.order_ref,
        placed_by=p.actor,
        agency=p.agency,
    )
    attempt = who.attempt
    attempt.reason, attempt.case_number = hold.reason, hold.case_number
    attempt.detail = {
        "hold_id": hold.hold_id,
        "order_ref": hold.order_ref,
        "requested_by": hold.requested_by,
        "plate_keys": labels,
        "read_ids": len(hold.read_ids),
        "from_ms": hold.captured_from_ms,
        "to_ms": hold.captured_to_ms,
        "expires_ms": hold.expires_at_ms,
    }
    event = place_event(hold)
    try:
        placed = PlaceHold.model_validate(event)  # the workers' own check
    except ValidationError as exc:
        raise Refused(400, "invalid_hold", field_problems(exc.errors(), "invalid hold")) from None
    broken = hold_rule_broken(placed, service.settings.retention_policy().hold_max)
    if broken:
        raise Refused(400, *broken)
    service.publish("holds", hold.hold_id, event, p)
    return {"hold_id": hold.hold_id}


@router.post("/v1/holds/{hold_id}/release", status_code=202, openapi_extra=needs("holds.release"))
def release_hold(hold_id: Id, body: ReleaseBody, request: Request, who: Who) -> Accepted:
    """Release a hold: only a holder of a release role (``hold_release_roles``) in the placing agency may."""
    service = service_of(request)
    p = who.principal
    who.attempt.reason, who.attempt.detail = body.reason, {"hold_id": hold_id}
    grants = service.access.roles
    role = next((r for r in p.roles if r in service.hold_release_roles and "holds.release" in grants.get(r, ())), None)
    if role is None:
        raise Refused(403, "role_cannot_release", "only the roles in hold_release_roles may release a hold")
    who.attempt.role = role
    rows = from_store(request, lambda store: list_holds(store).to_pylist())
    hold = next((r for r in rows if r["hold_id"] == hold_id), None)
    if hold is None:
        raise Refused(404, "unknown_hold", "no hold with this id is known")
    who.attempt.case_number = hold.get("case_number") or ""
    if not hold.get("agency"):
        raise Refused(403, "agency_unknown", "the store does not say which agency placed this hold")
    if hold["agency"] != p.agency:
        raise Refused(403, "other_agency", "a hold is released only by the agency that placed it")
    if hold.get("released_at") is not None:
        raise Refused(409, "hold_released", "this hold is released already")
    event = {"op": "release", "hold_id": hold_id, "reason": body.reason, "at": clock.now_ms()}
    ReleaseHold.model_validate(event)
    service.publish("holds", hold_id, event, p)
    return {"hold_id": hold_id, "released": True}


@router.post("/v1/hotlist/entries", status_code=202, openapi_extra=needs("hotlist.add"))
def add_entry(body: EntryBody, request: Request, who: Who) -> Accepted:
    """Add a hot-list entry, entered by the caller (``agency`` defaults to the caller's)."""
    _, labels = plate_keys_or_refuse([body.plate], request)
    p = who.principal
    entry = {**body.model_dump(), "agency": body.agency or p.agency, "entered_by": p.actor}
    detail = {k: entry[k] for k in ("entry_id", "region", "reason", "legal_basis_type", "source", "expires_at")}
    who.attempt.reason, who.attempt.detail = body.reason, {**detail, "plate_keys": labels}
    service_of(request).publish("hotlist.events", body.entry_id, add_event(entry, clock.now_ms()), p)
    return {"entry_id": body.entry_id}


@router.post("/v1/hotlist/entries:batch", status_code=202, openapi_extra=needs("hotlist.add"))
def add_entries(body: EntriesBody, request: Request, who: Who) -> Accepted:
    """Add many hot-list entries at once (``platestream hotlist add FILE``), all entered by the caller. The answer
    says what the admission policy this API runs with would admit, capped or refuse: the workers decide by their
    own policy file when the events arrive (the audit trail records each decision)."""
    p = who.principal
    _, labels = plate_keys_or_refuse([e.plate for e in body.entries], request)
    now = clock.now_ms()
    items, docs = [], []
    for e in body.entries:
        entry = {**e.model_dump(), "agency": e.agency or p.agency, "entered_by": p.actor}
        items.append((e.entry_id, add_event(entry, now)))
        docs.append(entry)
    who.attempt.detail = {"entry_ids": [e.entry_id for e in body.entries], "plate_keys": labels}
    who.attempt.rows = len(items)
    service_of(request).publish_many("hotlist.events", items, p)
    return {"published": len(items), "expected": expected_admission(docs, request, now)}


def expected_admission(docs: list[dict[str, Any]], request: Request, now_ms: int) -> dict[str, Any]:
    """What the admission policy (the API's ``policy_path``, the workers' by default) makes of these entries."""
    ts = pa.timestamp("ms", tz="UTC")
    cols = {f.name: [d.get(f.name) for d in docs] for f in FULL_ENTRY_SCHEMA}
    table = pa.table(
        {
            k: pa.array(v, pa.int64()).cast(ts) if FULL_ENTRY_SCHEMA.field(k).type == ts else pa.array(v, pa.string())
            for k, v in cols.items()
        }
    )
    policy = load_policy(service_of(request).settings.policy_path)
    capped_entries, capped = cap_expiry(table, policy, now_ms)
    adm = admit(capped_entries, policy, now_ms)
    return {
        "admitted": adm.admitted.num_rows,
        "expiry_capped": int(capped.sum()),
        "refused_by_rule": adm.refused_by_rule(),
        "refused": [
            {"entry_id": r["entry_id"], "rule": r["rule"]} for r in adm.refused.select(["entry_id", "rule"]).to_pylist()
        ],
    }


@router.post("/v1/hotlist/snapshot", status_code=202, openapi_extra=needs("hotlist.clear"))
def snapshot(body: SnapshotBody, request: Request, who: Who) -> Accepted:
    """A full snapshot of ``source``: the workers clear its entries not listed. Held (409) when much smaller than
    the source's last snapshot, unless a person confirms it (``confirm_shrink``)."""
    policy = load_extract_policy(service_of(request).settings.extract_policy_path)
    snap_id = uuid.uuid4().hex[:12]
    n = len(set(body.entry_ids))
    who.attempt.detail = {"source": body.source, "snapshot": snap_id, "entries": n, "confirmed": body.confirm_shrink}
    # the last snapshot of this source this API sent (its audit record: action hotlist.clear, route, source)
    source_key = json.dumps({"source": body.source}, separators=(",", ":"))[1:-1]
    needles = ('"route":"/v1/hotlist/snapshot"', source_key)
    last = from_store(request, last_details_mentioning, "hotlist.clear", needles, ("allowed",))
    previous = next((d["entries"] for d in map(json.loads, last) if d.get("source") == body.source), None)
    if previous and n < policy.hold_shrink_below * previous and not body.confirm_shrink:
        raise Refused(
            409,
            "snapshot_shrunk",
            f"this snapshot of {body.source} lists {n} entries, under {policy.hold_shrink_below:g} of the last one "
            f"({previous}): a truncated file? Nothing was sent. If it is right, send it again with --confirm-shrink",
        )
    at = clock.now_ms()
    parts = snapshot_events(
        body.source, snap_id, sorted(set(body.entry_ids)), policy.hold_shrink_below, body.confirm_shrink, at
    )
    service_of(request).publish_many("hotlist.events", parts, who.principal)
    return {"source": body.source, "snapshot": snap_id, "entries": n, "previous": previous, "parts": len(parts)}


@router.post("/v1/hotlist/entries/{entry_id}/clear", status_code=202, openapi_extra=needs("hotlist.clear"))
def clear_entry(entry_id: Id, body: ClearBody, request: Request, who: Who) -> Accepted:
    """Clear a hot-list entry: who cleared it (the caller) and why travel with the event."""
    who.attempt.reason, who.attempt.detail = body.reason, {"entry_id": entry_id}
    added = ("allowed", "applied")  # an add this API published, or one a worker applied
    if not from_store(request, last_details_mentioning, "hotlist.add", (json.dumps(entry_id),), added):
        raise Refused(404, "unknown_entry", "no hot-list entry with this id has been added (per the audit trail)")
    event = clear_event(entry_id, body.reason, clock.now_ms())  # who cleared it: the envelope's principal
    service_of(request).publish("hotlist.events", entry_id, event, who.principal)
    return {"entry_id": entry_id, "cleared": body.reason}


@router.post("/v1/hotlist/sync", status_code=202, openapi_extra=needs("hotlist.sync"))
def sync_source(body: SyncBody, request: Request, who: Who) -> Accepted:
    """A hot-list source synced at ``at`` (default now): its freshness clock."""
    at = clock.now_ms() if body.at is None else body.at
    who.attempt.detail = {"source": body.source, "at": at}
    service_of(request).publish("hotlist.events", f"sync:{body.source}", sync_event(body.source, at), who.principal)
    return {"source": body.source, "at": at}
