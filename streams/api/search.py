"""The search kinds (docs/search-and-audit.md): plate history, near a scene, hit trail and retroactive match. Each
cites a legal-process record and stays inside its scope and the policy's limits (``check_search``); an outside
agency must be on the sharing allow-list with a purpose the policy does not refuse. The audit record (plates as
keyed hashes) is written before any row leaves: by the search itself when it returns rows, by the gate otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Request

from streams import clock
from streams.api.gate import Caller, caller, needs
from streams.api.reads import STORE_DOWN, service_of
from streams.api.refusals import Refused
from streams.api.service import Service
from streams.config.search_policy import KindPolicy
from streams.errors import StoreError
from streams.ingest.search import (
    HitTrailBody,
    KindBody,
    NearSceneBody,
    PlateHistoryBody,
    RetroactiveMatchBody,
    check_process,
    check_search,
    json_rows,
    resolve_cameras,
)
from streams.model.search import KindSearch, ProcessRecord, SearchDenied, SearchRefused
from streams.store.clickhouse import Store
from streams.store.process import get_process
from streams.store.search import audit_plate_keys, find_hit, hit_trail, plate_pseudonyms, read_plate_keys, reads_search
from streams.store.sharing import get_partner

__all__ = ["router"]

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]


@dataclass(frozen=True)
class Cited:
    """What a search has once its caller may search at all: the service, the kind's policy, the record, the time."""

    service: Service
    kind: str
    policy: KindPolicy
    record: ProcessRecord | None
    now_ms: int


def store_call(service: Service, fn: Any, *args: Any) -> Any:
    try:
        return service.with_store(fn, *args)
    except SearchDenied as exc:
        raise Refused(exc.status, exc.rule, exc.message) from None
    except StoreError:
        raise Refused(503, "store_error", STORE_DOWN) from None


def cite(request: Request, who: Caller, kind: str, body: KindBody) -> Cited:
    """The audit detail every search kind has, then the sharing rules: 403 for an outside agency not on the
    allow-list or with a refused (or no) purpose. Returns the record cited (None when there is none)."""
    service = service_of(request)
    policy = service.search_policy
    attempt, p = who.attempt, who.principal
    attempt.reason = body.reason
    attempt.detail = {
        "kind": kind,
        "process_id": body.process_id,
        "purpose": body.purpose,
        "plate_keys": [],
        "cameras": [],
        "area": None,
        "from_ms": getattr(body, "from_ms", None),
        "to_ms": getattr(body, "to_ms", None),
        "hit_id": None,
        "entry_id": None,
    }

    def look(store: Store) -> tuple[bool, ProcessRecord | None]:
        shared = p.agency == policy.home_agency or get_partner(store, p.agency) is not None
        return shared, get_process(store, body.process_id)

    shared, record = store_call(service, look)
    if record is not None:
        attempt.justification = record.kind  # what request_counts counts the search by
    refusal = policy.outside_refusal(p.agency, body.purpose, shared)
    if refusal is not None:
        raise Refused(refusal.status, refusal.rule, refusal.message)
    if record is not None and record.agency == p.agency:
        attempt.case_number = record.case_number
    return Cited(service, kind, policy.kinds[kind], record, clock.now_ms())


def check(cited: Cited, who: Caller, search: KindSearch) -> None:
    kind = cited.policy
    try:
        check_search(search, cited.record, who.principal.agency, kind.requires, kind.limits(), cited.now_ms,
                     cited.service.camera_positions)  # fmt: skip
    except SearchDenied as exc:
        raise Refused(exc.status, exc.rule, exc.message) from None


def plates_or_refuse(service: Service, plates: list[str]) -> tuple[tuple[frozenset[tuple[str, int]], ...], list[str]]:
    """Per distinct plate its keyed hashes under every key, and the audit labels; 400 ``bad_plate``."""
    try:
        per_plate = {frozenset(plate_pseudonyms([p], service.keys)) for p in plates}
        return tuple(per_plate), audit_plate_keys(plates, service.keys)
    except SearchRefused as exc:
        raise Refused(400, "bad_plate", str(exc)) from None


def reads_answer(cited: Cited, who: Caller, search: KindSearch, region: str | None) -> dict[str, Any]:
    """Run a reads search (audited by the search itself before it returns) and answer its rows."""
    check(cited, who, search)
    entry = who.attempt.entry(200, cited.now_ms)
    retention = cited.service.settings.retention_policy()
    rows: pa.Table = store_call(cited.service, reads_search, retention, search, region, cited.policy.max_results,
                                entry, cited.now_ms)  # fmt: skip
    who.attempt.recorded, who.attempt.rows = True, rows.num_rows
    return {"kind": search.kind, "process_id": search.process_id, "rows": json_rows(rows)}


@router.post("/v1/search/plate_history", openapi_extra=needs("search"))
def plate_history(body: PlateHistoryBody, request: Request, who: Who) -> dict[str, Any]:
    """Reads of one plate or a few over a time range; the plates must be the record's."""
    cited = cite(request, who, "plate_history", body)
    plates, labels = plates_or_refuse(cited.service, list(body.plates))
    who.attempt.detail.update(plate_keys=labels, region=body.region)
    search = KindSearch("plate_history", body.process_id, body.purpose, plates, from_ms=body.from_ms, to_ms=body.to_ms)
    return reads_answer(cited, who, search, body.region)


@router.post("/v1/search/near_scene", openapi_extra=needs("search"))
def near_scene(body: NearSceneBody, request: Request, who: Who) -> dict[str, Any]:
    """Every read at the cameras inside an area (by the registry's positions) or named, during a window."""
    cited = cite(request, who, "near_scene", body)
    area = body.area.area() if body.area else None
    cameras = resolve_cameras(list(body.cameras), area, cited.service.camera_positions)
    who.attempt.detail.update(cameras=list(cameras), area=area.to_json() if area else None)
    search = KindSearch(
        "near_scene", body.process_id, body.purpose, cameras=cameras, area=area, from_ms=body.from_ms, to_ms=body.to_ms
    )
    return reads_answer(cited, who, search, None)


@router.post("/v1/search/retroactive_match", openapi_extra=needs("search"))
def retroactive_match(body: RetroactiveMatchBody, request: Request, who: Who) -> dict[str, Any]:
    """A hot-list entry's plate against the reads still within retention (or held)."""
    cited = cite(request, who, "retroactive_match", body)
    plates, labels = plates_or_refuse(cited.service, [body.plate])
    who.attempt.detail.update(plate_keys=labels, entry_id=body.entry_id, region=body.region)
    search = KindSearch(
        "retroactive_match", body.process_id, body.purpose, plates, from_ms=body.from_ms, to_ms=body.to_ms,
        entry_id=body.entry_id,
    )  # fmt: skip
    return reads_answer(cited, who, search, body.region)


@router.post("/v1/search/hit_trail", openapi_extra=needs("search"))
def hit_trail_search(body: HitTrailBody, request: Request, who: Who) -> dict[str, Any]:
    """A hit, its read, the entry as the hit keeps it (id, reason, match kind) and its verifications."""
    cited = cite(request, who, "hit_trail", body)
    service, attempt = cited.service, who.attempt
    attempt.detail["hit_id"] = body.hit_id
    retention = service.settings.retention_policy()
    hit = store_call(service, find_hit, retention, body.hit_id, cited.now_ms)
    if hit is None:
        try:  # the record's own rules first: an unknown hit is no answer to a search without process
            check_process("hit_trail", cited.record, who.principal.agency, cited.policy.requires, cited.now_ms)
        except SearchDenied as exc:
            raise Refused(exc.status, exc.rule, exc.message) from None
        raise Refused(404, "unknown_hit", "no hit with this id is in the store (or it is past its limit)")
    plate = store_call(service, read_plate_keys, retention, hit["read_id"], cited.now_ms)
    when = int(hit["read_ms"])
    attempt.detail.update(
        cameras=[hit["camera_id"]], from_ms=when, to_ms=when, entry_id=hit["entry_id"],
        plate_keys=[f"{k}:{h:016x}" for k, h in sorted(plate) if k == service.keys.current_id],
    )  # fmt: skip
    search = KindSearch(
        "hit_trail", body.process_id, body.purpose, (plate,) if plate else (), (hit["camera_id"],),
        from_ms=when, to_ms=when, hit_id=body.hit_id, entry_id=hit["entry_id"],
    )  # fmt: skip
    check(cited, who, search)
    entry = attempt.entry(200, cited.now_ms)
    trail = store_call(service, hit_trail, retention, hit, cited.policy.max_results, entry, cited.now_ms)
    attempt.recorded, attempt.rows = True, trail.rows
    [hit_json] = json_rows(pa.Table.from_pylist([trail.hit]))
    return {
        "kind": "hit_trail",
        "process_id": body.process_id,
        "hit": hit_json,
        "entry": {k: hit_json[k] for k in ("entry_id", "reason", "match_kind")},
        "reads": json_rows(trail.reads),
        "verifications": json_rows(trail.verifications),
    }
