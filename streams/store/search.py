"""The gated search path on ``reads`` and ``held_reads`` (docs/retention.md). Three rules hold for every search:

- it adds the retention bound (``live_sql``): a row past its limit is never returned, even before it is deleted;
- it never sees plate text (there is none): a plate is found only through its keyed hash (``PlateKeys``);
- it needs a verified principal and a reason and lands in ``audit_log`` before its rows are returned.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow as pa

from streams import clock
from streams.config.retention import RetentionPolicy
from streams.core.normalise import encode_plates, normalise_plates, normalise_regions
from streams.core.pseudonym import PlateKeys
from streams.errors import StoreError
from streams.model.audit import AuditEntry
from streams.model.search import SearchRefused, SearchRequest
from streams.store.audit import audit
from streams.store.clickhouse import Store
from streams.store.limits import active_holds_sql, live_sql
from streams.store.sql import sql_literal, ts_sql

__all__ = ["SEARCH_COLUMNS", "audit_plate_keys", "plate_pseudonyms", "search"]

SEARCH_COLUMNS = "read_id, captured_at, camera_id, site_id, region, confidence, hit, data_class"


def plate_pseudonyms(plates: list[str], keys: PlateKeys) -> list[tuple[str, int]]:
    """(key id, keyed hash) of each plate under every key; raises SearchRefused for a plate that is not one."""
    if not plates:
        return []
    codes, ok = encode_plates(normalise_plates(pa.array(plates, pa.string())))
    if not ok.all():
        raise SearchRefused(f"{int((~ok).sum())} plate(s) are not 1-12 letters and digits after normalisation")
    return [(kid, int(h)) for kid, hashes in keys.every(codes).items() for h in hashes]


def audit_plate_keys(plates: list[str], keys: PlateKeys) -> list[str]:
    """Plates as the audit trail names them: ``key id:keyed hash`` under the current key. Enough to answer "was my
    plate searched?" for someone who shows their plate, useless to anyone reading the log for plates."""
    return [f"{k}:{h:016x}" for k, h in plate_pseudonyms(plates, keys) if k == keys.current_id]


def search(
    store: Store,
    keys: PlateKeys,
    policy: RetentionPolicy,
    req: SearchRequest,
    who: AuditEntry,
    now_ms: int | None = None,
) -> pa.Table:
    """Reads of the given plates or read ids, live or under an active hold; audited before anything is returned.

    ``who`` is the audit record's identity (actor, agency, role, client) from a verified credential. Raises
    SearchRefused when the reason is missing, or nothing is asked for. The result has no plate text; ``held``
    says a row is there only because a hold keeps it. ``now_ms`` defaults to the wall clock.
    """
    if not who.actor.strip() or not req.reason.strip():
        raise SearchRefused("a search needs a verified principal and why (reason)")
    if not req.plates and not req.read_ids:
        raise SearchRefused("a search names plates or read ids: there is no search for everything")
    now = clock.now_ms() if now_ms is None else now_ms
    pseudonyms = plate_pseudonyms(list(req.plates), keys)
    match = []
    if pseudonyms:
        match.append(
            "tuple(key_id, plate_key) IN (" + ", ".join(f"({sql_literal(k)}, {h})" for k, h in pseudonyms) + ")"
        )
    if req.read_ids:
        match.append("read_id IN (" + ", ".join(sql_literal(r) for r in req.read_ids) + ")")
    span = f"captured_at >= {ts_sql(req.captured_from_ms)} AND captured_at <= {ts_sql(req.captured_to_ms)}"
    where = f"({' OR '.join(match)}) AND {span}"
    if req.region:
        region = normalise_regions(pa.array([req.region]))[0].as_py()
        where += f" AND region = {sql_literal(region or '')}"
    active = f"hold_id IN (SELECT hold_id FROM ({active_holds_sql(now)}))"
    sql = (
        f"SELECT {SEARCH_COLUMNS}, max(held) AS held FROM ("
        f"SELECT {SEARCH_COLUMNS}, 0 AS held FROM reads FINAL WHERE {where} AND {live_sql(policy, now)} "
        f"UNION ALL SELECT {SEARCH_COLUMNS}, 1 AS held FROM held_reads FINAL WHERE {where} AND {active}"
        f") GROUP BY {SEARCH_COLUMNS} ORDER BY captured_at, read_id"
    )
    record = replace(
        who,
        at_ms=now,
        action="search",
        reason=req.reason,
        case_number=req.case_number,
        detail=_search_detail(req, keys),
    )
    try:
        rows = store.query_arrow(sql)
    except StoreError:
        audit(store, replace(record, decision="failed", rule="store_error"))
        raise
    audit(store, replace(record, decision="allowed", rows=rows.num_rows))
    return rows


def _search_detail(req: SearchRequest, keys: PlateKeys) -> str:
    # What was asked, plates only as their keyed hashes.
    return json.dumps(
        {
            "plate_keys": audit_plate_keys(list(req.plates), keys),
            "read_ids": list(req.read_ids),
            "region": req.region,
            "from_ms": req.captured_from_ms,
            "to_ms": req.captured_to_ms,
        },
        separators=(",", ":"),
    )
