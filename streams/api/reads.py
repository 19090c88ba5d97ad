"""The API's read endpoints: the hits queue, holds and the audit trail; and the health probes. (The searches of the
read store are the search kinds, ``streams.api.search``: there is no search without a legal-process record.)

Each protected route names its action (``needs``); the ``caller`` dependency checks token, rate and role, and the
gate records the attempt.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from streams.api.gate import Caller, caller, needs
from streams.api.refusals import Refused
from streams.api.service import Service
from streams.errors import StoreError
from streams.ingest.search import json_rows
from streams.store.clickhouse import Store
from streams.store.hits import HIT_COLUMNS
from streams.store.holds import list_holds
from streams.store.sql import sql_literal

__all__ = ["AUDIT_COLUMNS", "router"]

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows, newest first")]
STORE_DOWN = "the store failed, so the request is not answered"
AUDIT_COLUMNS = (
    "toUnixTimestamp64Milli(at) AS at_ms, action, actor, agency, role, client, reason, case_number, detail, "
    "decision, rule, rows, writer, seq"
)


def service_of(request: Request) -> Service:
    return request.app.state.service


def read_store(request: Request, who: Caller, sql: str) -> list[dict[str, Any]]:
    """Rows of one query, counted in the attempt's record."""
    try:
        rows = service_of(request).with_store(lambda store: store.query_arrow(sql))
    except StoreError:
        raise Refused(503, "store_error", STORE_DOWN) from None
    who.attempt.rows = rows.num_rows
    return json_rows(rows)


@router.get("/v1/hits", openapi_extra=needs("hits.read"))
def hits(request: Request, who: Who, limit: Limit = 100) -> dict[str, list[dict[str, Any]]]:
    """The newest hits (no plate text: ids, match kind, the alert's state)."""
    who.attempt.detail = {"limit": limit}
    sql = f"SELECT {', '.join(HIT_COLUMNS)} FROM hits FINAL ORDER BY read_time DESC, hit_id LIMIT {limit}"
    return {"hits": read_store(request, who, sql)}


@router.get("/v1/holds", openapi_extra=needs("holds.read"))
def holds(request: Request, who: Who) -> dict[str, list[dict[str, Any]]]:
    """Every hold's latest version, with how many reads it keeps."""

    def listed(store: Store) -> list[dict[str, Any]]:
        return json_rows(list_holds(store))

    try:
        rows = service_of(request).with_store(listed)
    except StoreError:
        raise Refused(503, "store_error", STORE_DOWN) from None
    who.attempt.rows = len(rows)
    return {"holds": rows}


@router.get("/v1/audit", openapi_extra=needs("audit.read"))
def audit_records(
    request: Request,
    who: Who,
    limit: Limit = 100,
    action: Annotated[str | None, Query(max_length=64, description="only records of this action")] = None,
) -> dict[str, list[dict[str, Any]]]:
    """The newest audit records, of one action or all."""
    who.attempt.detail = {"limit": limit, "action": action}
    where = f"WHERE action = {sql_literal(action)} " if action else ""
    sql = f"SELECT {AUDIT_COLUMNS} FROM audit_log {where}ORDER BY at DESC, seq DESC LIMIT {limit}"
    return {"records": read_store(request, who, sql)}


@router.get("/livez", include_in_schema=True)
def livez() -> dict[str, str]:
    """The process answers."""
    return {"status": "live"}


@router.get("/readyz", response_model=None)
def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """Ready when the store answers, a signing key is loaded and authentication is configured (503 otherwise)."""
    problems = service_of(request).ready()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return {"status": "ready"}
