"""The gated search path on ``reads`` and ``held_reads`` (docs/retention.md, docs/search-and-audit.md). Three rules
hold for every search:

- it adds the retention bound (``live_sql``): a row past its limit is never returned, even before it is deleted,
  and a row an active hold keeps is (``held`` = 1);
- it never sees plate text (there is none): a plate is found only through its keyed hash (``PlateKeys``);
- it needs a verified principal and a reason and lands in ``audit_log`` before its rows are returned.

The search kinds (``reads_search`` for plate history, near scene and retroactive match; ``hit_trail``) count first
and refuse a result over the kind's ``max_results`` (``SearchDenied`` 400 ``max_results``): never truncated. Their
scope was checked before (``streams.ingest.search.check_search``); their audit record comes ready from the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pyarrow as pa

from streams import clock
from streams.config.retention import RetentionPolicy
from streams.core.normalise import encode_plates, normalise_plates, normalise_regions
from streams.core.pseudonym import PlateKeys
from streams.errors import StoreError
from streams.model.audit import AuditEntry
from streams.model.search import KindSearch, SearchDenied, SearchRefused, SearchRequest
from streams.store.audit import audit
from streams.store.clickhouse import Store, count_rows
from streams.store.hits import HIT_COLUMNS
from streams.store.limits import active_holds_sql, live_sql
from streams.store.sql import sql_literal, ts_sql

__all__ = [
    "SEARCH_COLUMNS",
    "HitTrail",
    "audit_plate_keys",
    "find_hit",
    "hit_trail",
    "plate_pseudonyms",
    "read_plate_keys",
    "reads_search",
    "search",
]

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
    sql = live_or_held_sql(where, policy, now) + " ORDER BY captured_at, read_id"
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


def live_or_held_sql(where: str, policy: RetentionPolicy, now_ms: int) -> str:
    """Reads matching ``where`` that are within their limit, or kept by an active hold (``held`` = 1), once each."""
    active = f"hold_id IN (SELECT hold_id FROM ({active_holds_sql(now_ms)}))"
    return (
        f"SELECT {SEARCH_COLUMNS}, max(held) AS held FROM ("
        f"SELECT {SEARCH_COLUMNS}, 0 AS held FROM reads FINAL WHERE ({where}) AND {live_sql(policy, now_ms)} "
        f"UNION ALL SELECT {SEARCH_COLUMNS}, 1 AS held FROM held_reads FINAL WHERE ({where}) AND {active}"
        f") GROUP BY {SEARCH_COLUMNS}"
    )


def over_max(n: int, max_results: int, kind: str) -> SearchDenied:
    return SearchDenied(
        400, "max_results", f"the search would return {n} rows, over the policy's max_results ({max_results}) for "
        f"{kind}: narrow it (results are never truncated)"
    )  # fmt: skip


def reads_search(
    store: Store,
    policy: RetentionPolicy,
    search: KindSearch,
    region: str | None,
    max_results: int,
    record: AuditEntry,
    now_ms: int,
) -> pa.Table:
    """Reads of ``search``'s plates (every key), or at its cameras, within its window: counted first (SearchDenied
    over ``max_results``), then read, then ``record`` (allowed, with the row count) is written before they return."""
    if search.plates:
        keys = sorted({k for plate in search.plates for k in plate})
        match = "tuple(key_id, plate_key) IN (" + ", ".join(f"({sql_literal(k)}, {h})" for k, h in keys) + ")"
    elif search.cameras:
        match = "camera_id IN (" + ", ".join(sql_literal(c) for c in search.cameras) + ")"
    else:
        match = "0"  # an area with no camera in it: nothing was read there
    where = f"{match} AND captured_at >= {ts_sql(search.from_ms)} AND captured_at <= {ts_sql(search.to_ms)}"
    if region:
        where += f" AND region = {sql_literal(normalise_regions(pa.array([region]))[0].as_py() or '')}"
    union = live_or_held_sql(where, policy, now_ms)
    n = count_rows(store, f"SELECT count() AS n FROM ({union})")
    if n > max_results:
        raise over_max(n, max_results, search.kind)
    rows = store.query_arrow(union + " ORDER BY captured_at, read_id")
    audit(store, replace(record, rows=rows.num_rows))
    return rows


def find_hit(store: Store, policy: RetentionPolicy, hit_id: str, now_ms: int) -> dict | None:
    """A hit still within the ``hits`` limit, else None."""
    rows = store.query_arrow(
        f"SELECT {', '.join(HIT_COLUMNS)}, toUnixTimestamp64Milli(read_time) AS read_ms FROM hits FINAL "
        f"WHERE hit_id = {sql_literal(hit_id)} AND read_time > {ts_sql(now_ms - policy.limit_ms('hits'))}"
    ).to_pylist()
    return rows[0] if rows else None


def read_plate_keys(store: Store, policy: RetentionPolicy, read_id: str, now_ms: int) -> frozenset[tuple[str, int]]:
    """The keyed hash of a read still live or held (empty when it is gone): what a hit's scope is judged by."""
    active = f"hold_id IN (SELECT hold_id FROM ({active_holds_sql(now_ms)}))"
    rows = store.query_arrow(
        f"SELECT key_id, plate_key FROM reads FINAL WHERE read_id = {sql_literal(read_id)} "
        f"AND {live_sql(policy, now_ms)} UNION ALL SELECT key_id, plate_key FROM held_reads FINAL "
        f"WHERE read_id = {sql_literal(read_id)} AND {active}"
    ).to_pylist()
    return frozenset((r["key_id"], int(r["plate_key"])) for r in rows)


@dataclass(frozen=True)
class HitTrail:
    """A hit, its read (when still live or held), the entry as the hit keeps it, and its verifications."""

    hit: dict
    reads: pa.Table
    verifications: pa.Table

    @property
    def rows(self) -> int:
        return 1 + self.reads.num_rows + self.verifications.num_rows


def hit_trail(
    store: Store, policy: RetentionPolicy, hit: dict, max_results: int, record: AuditEntry, now_ms: int
) -> HitTrail:
    """The trail of a hit (``find_hit``): counted first (SearchDenied over ``max_results``), audited before it
    returns. Verifications past their limit are not returned."""
    reads_sql = live_or_held_sql(f"read_id = {sql_literal(hit['read_id'])}", policy, now_ms)
    verifications_sql = (
        "SELECT hit_id, decision, reason, operator, decided_at FROM verifications FINAL "
        f"WHERE hit_id = {sql_literal(hit['hit_id'])} "
        f"AND decided_at > {ts_sql(now_ms - policy.limit_ms('verifications'))}"
    )
    n = 1 + count_rows(store, f"SELECT count() AS n FROM ({reads_sql})")
    n += count_rows(store, f"SELECT count() AS n FROM ({verifications_sql})")
    if n > max_results:
        raise over_max(n, max_results, "hit_trail")
    trail = HitTrail(
        {k: v for k, v in hit.items() if k != "read_ms"},
        store.query_arrow(reads_sql + " ORDER BY captured_at, read_id"),
        store.query_arrow(verifications_sql + " ORDER BY decided_at, operator"),
    )
    audit(store, replace(record, rows=trail.rows))
    return trail
