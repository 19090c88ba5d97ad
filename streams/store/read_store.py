"""The read store in ClickHouse: pseudonymised reads, preservation holds, the purge job, the gated search path and
the audit trail (docs/retention.md). Every statement here runs on chDB and on a server alike.

Three rules hold for every query on ``reads``:

- it adds the retention bound (``_live``): a row past its limit is never returned, even before it is deleted;
- it never sees plate text (there is none): a plate is found only through its keyed hash (``PlateKeys``);
- a search needs an actor and a reason and lands in ``audit_log`` before its rows are returned.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.config.retention import RetentionPolicy
from streams.core.audit_chain import broken_links, record_hash
from streams.core.normalise import encode_plates, normalise_plates, normalise_regions
from streams.core.pseudonym import PlateKeys
from streams.errors import StoreError
from streams.metrics import AUDIT_RECORDS
from streams.model.hold import Hold
from streams.model.search import SearchRefused, SearchRequest
from streams.store.clickhouse import Store, _literal

# Personal-data tables and aggregate tables the purge job keeps within their limits: table -> (time column,
# data class). ``reads`` and ``held_reads`` have rules of their own (per row class; holds).
TIMED_TABLES = {
    "verifications": ("decided_at", "verifications"),
    "audit_log": ("at", "audit"),
    "read_counts": ("window_start", "aggregates"),
    "hit_counts": ("window_start", "aggregates"),
    "dead_letter_counts": ("window_start", "aggregates"),
    "camera_health": ("window_start", "aggregates"),
    "expiry_counts": ("window_start", "aggregates"),
    "kafka_log_starts": ("sampled_at", "aggregates"),
}


def ts_sql(ms: int) -> str:
    return f"fromUnixTimestamp64Milli(toInt64({int(ms)}), 'UTC')"


def _now_ms() -> int:
    return int(time.time() * 1000)


def due_sql(policy: RetentionPolicy, now_ms: int) -> str:
    """Rows of ``reads`` past their limit: by the expiry written with them, or by the policy in force now."""
    return (
        f"(expires_at <= {ts_sql(now_ms)}"
        f" OR (data_class = 'non_hit_reads' AND captured_at <= {ts_sql(now_ms - policy.limit_ms('non_hit_reads'))})"
        f" OR (data_class = 'hit_reads' AND captured_at <= {ts_sql(now_ms - policy.limit_ms('hit_reads'))}))"
    )


def _live(policy: RetentionPolicy, now_ms: int) -> str:
    """The retention bound every query on ``reads`` adds."""
    return f"NOT {due_sql(policy, now_ms)}"


def active_holds_sql(now_ms: int) -> str:
    return (
        "SELECT hold_id, plate_keys, read_ids, captured_from, captured_to FROM holds FINAL "
        f"WHERE released_at IS NULL AND expires_at > {ts_sql(now_ms)}"
    )


# -- writing -------------------------------------------------------------------------------------------------


def pseudonymised_reads(stored: pa.Table, keys: PlateKeys, policy: RetentionPolicy) -> pa.Table:
    """``BatchResult.stored_reads`` as rows of ``reads``: plate code -> keyed hash, expiry from the policy."""
    hit = stored["hit"].to_numpy(zero_copy_only=False)
    limit_s = np.where(hit, policy.hit_reads, policy.non_hit_reads).astype(np.int64)
    t_ms = stored["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    keep = limit_s > 0
    codes = stored["plate_code"].to_numpy(zero_copy_only=False)
    table = pa.table(
        {
            "read_id": stored["read_id"],
            "captured_at": stored["captured_at"],
            # rounded up to the second: a DateTime expiry must not fall before the limit
            "expires_at": pa.array((t_ms + limit_s * 1000 + 999) // 1000 * 1000, pa.int64()).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "data_class": pa.array(np.where(hit, "hit_reads", "non_hit_reads"), pa.string()),
            "camera_id": stored["camera_id"],
            "site_id": pc.fill_null(stored["site_id"], ""),
            "region": pc.fill_null(stored["region"], ""),
            "plate_key": pa.array(keys.current(codes), pa.uint64()),
            "key_id": pa.array([keys.current_id] * stored.num_rows, pa.string()),
            "confidence": pc.fill_null(stored["confidence"], float("nan")),
            "hit": pa.array(hit.astype(np.uint8)),
        }
    )
    return table if keep.all() else table.filter(pa.array(keep))


def write_reads(store: Store, stored: pa.Table, keys: PlateKeys, policy: RetentionPolicy, token: str) -> int:
    """Insert a batch's reads (idempotent on ``token``); returns the rows written."""
    if stored.num_rows == 0:
        return 0
    rows = pseudonymised_reads(stored, keys, policy)
    store.insert_arrow("reads", rows, dedup_token=f"{token}:reads")
    return rows.num_rows


# -- holds ---------------------------------------------------------------------------------------------------

HOLD_COLUMNS = (
    "hold_id, version, requested_by, case_number, reason, plate_keys, read_ids, captured_from, captured_to, "
    "expires_at, placed_at, released_at, released_by, release_reason"
)


def plate_pseudonyms(plates: list[str], keys: PlateKeys) -> list[tuple[str, int]]:
    """(key id, keyed hash) of each plate under every key; raises SearchRefused for a plate that is not one."""
    if not plates:
        return []
    codes, ok = encode_plates(normalise_plates(pa.array(plates, pa.string())))
    if not ok.all():
        raise SearchRefused(f"{int((~ok).sum())} plate(s) are not 1-12 letters and digits after normalisation")
    return [(kid, int(h)) for kid, hashes in keys.every(codes).items() for h in hashes]


def _hold_version(store: Store, hold_id: str) -> tuple[int, bool] | None:
    """(version, released) of a known hold, else None."""
    rows = store.query_arrow(
        f"SELECT version, released_at IS NOT NULL AS released FROM holds FINAL WHERE hold_id = {_literal(hold_id)}"
    ).to_pylist()
    return (int(rows[0]["version"]), bool(rows[0]["released"])) if rows else None


def place_hold(store: Store, hold: Hold, version: int) -> bool:
    """Record a hold and audit it; False (and nothing written) when this version or a later one is known, as when
    a restarted worker reads the holds topic again."""
    known = _hold_version(store, hold.hold_id)
    if known is not None and known[0] >= version:
        return False
    keys = ", ".join(f"({_literal(k)}, {int(h)})" for k, h in hold.plate_keys)
    ids = ", ".join(_literal(r) for r in hold.read_ids)
    store.command(
        f"INSERT INTO holds ({HOLD_COLUMNS}) SELECT {_literal(hold.hold_id)}, {int(version)}, "
        f"{_literal(hold.requested_by)}, {_literal(hold.case_number)}, {_literal(hold.reason)}, "
        f"CAST([{keys}], 'Array(Tuple(key_id String, plate_key UInt64))'), CAST([{ids}], 'Array(String)'), "
        f"{ts_sql(hold.captured_from_ms)}, {ts_sql(hold.captured_to_ms)}, "
        f"{ts_sql(hold.expires_at_ms)}, {ts_sql(hold.placed_at_ms)}, "
        "NULL, '', ''"
    )
    detail = {
        "hold_id": hold.hold_id,
        "plate_keys": len(hold.plate_keys),
        "read_ids": len(hold.read_ids),
        "from_ms": hold.captured_from_ms,
        "to_ms": hold.captured_to_ms,
        "expires_ms": hold.expires_at_ms,
    }
    audit(
        store, "hold_placed", hold.requested_by, hold.reason, hold.case_number, json.dumps(detail), 0, hold.placed_at_ms
    )
    return True


def release_hold(store: Store, hold_id: str, released_by: str, reason: str, at_ms: int, version: int) -> bool:
    """Mark a hold released (a new version of its row) and audit it; False when no such hold is known or it was
    released already."""
    known = _hold_version(store, hold_id)
    if known is None or known[1] or known[0] >= version:
        return False
    store.command(
        f"INSERT INTO holds ({HOLD_COLUMNS}) SELECT hold_id, {int(version)}, requested_by, case_number, reason, "
        f"plate_keys, read_ids, captured_from, captured_to, expires_at, placed_at, {ts_sql(at_ms)}, "
        f"{_literal(released_by)}, {_literal(reason)} FROM holds FINAL WHERE hold_id = {_literal(hold_id)}"
    )
    case = store.query_arrow(f"SELECT case_number FROM holds FINAL WHERE hold_id = {_literal(hold_id)}")
    detail = json.dumps({"hold_id": hold_id})
    audit(store, "hold_released", released_by, reason, case["case_number"][0].as_py(), detail, 0, at_ms)
    return True


def list_holds(store: Store) -> pa.Table:
    return store.query_arrow(
        "SELECT hold_id, requested_by, case_number, reason, length(plate_keys) AS plate_keys, "
        "length(read_ids) AS read_ids, captured_from, captured_to, expires_at, placed_at, released_at, "
        "released_by, release_reason, coalesce(n, 0) AS held_reads "
        "FROM (SELECT * FROM holds FINAL) AS h "
        "LEFT JOIN (SELECT hold_id, count() AS n FROM held_reads FINAL GROUP BY hold_id) AS c "
        "ON c.hold_id = h.hold_id ORDER BY placed_at"
    )


def preserve(store: Store, policy: RetentionPolicy, now_ms: int) -> int:
    """Copy the live reads every active hold covers into ``held_reads`` (once per hold and read)."""
    before = _count(store, "SELECT count() AS n FROM held_reads FINAL")
    store.command(
        "INSERT INTO held_reads (hold_id, read_id, captured_at, data_class, camera_id, site_id, region, plate_key, "
        "key_id, confidence, hit, held_at) "
        "SELECT h.hold_id, r.read_id, r.captured_at, r.data_class, r.camera_id, r.site_id, r.region, r.plate_key, "
        f"r.key_id, r.confidence, r.hit, {ts_sql(now_ms)} "
        f"FROM (SELECT * FROM reads WHERE {_live(policy, now_ms)}) AS r CROSS JOIN ({active_holds_sql(now_ms)}) AS h "
        "WHERE r.captured_at >= h.captured_from AND r.captured_at <= h.captured_to "
        "AND (has(h.read_ids, r.read_id) OR has(h.plate_keys, tuple(r.key_id, r.plate_key))) "
        "AND (h.hold_id, r.read_id) NOT IN (SELECT hold_id, read_id FROM held_reads)"
    )
    return _count(store, "SELECT count() AS n FROM held_reads FINAL") - before


# -- the purge job -------------------------------------------------------------------------------------------


def _count(store: Store, sql: str) -> int:
    return int(store.query_arrow(sql)["n"][0].as_py() or 0)


def _delete(store: Store, table: str, where: str) -> None:
    # A mutation, waited for: the rows are rewritten out of their parts, not only hidden.
    store.command(f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 1")


@dataclass
class PurgeResult:
    deleted: dict[tuple[str, str], int]  # (table, data class) -> rows deleted
    held: int  # reads newly copied under a hold

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def purge(store: Store, policy: RetentionPolicy, now_ms: int | None = None, bucket_ms: int = 3_600_000) -> PurgeResult:
    """Delete everything past its limit from every table, after copying what holds cover; count the deletions.

    Order matters: holds are applied first, so a read a hold covers is copied before its original is deleted.
    The deletions are counted in ``expiry_counts`` (store ``clickhouse``) and recorded in ``audit_log``.
    """
    now = _now_ms() if now_ms is None else now_ms
    held = preserve(store, policy, now)
    deleted: dict[tuple[str, str], int] = {}

    due = due_sql(policy, now)
    by_class = store.query_arrow(
        f"SELECT data_class, uniqExact(read_id) AS n FROM reads WHERE {due} GROUP BY data_class"
    )
    if by_class.num_rows:
        # Whole hours of expiry that have passed go as partitions (cheap); the rest of what is due by a mutation.
        whole = store.query_arrow(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() AND table = 'reads' "
            f"AND active AND toUInt64(partition_id) + 3600 <= {now // 1000}"
        )["partition_id"].to_pylist()
        for partition in whole:
            store.command(f"ALTER TABLE reads DROP PARTITION ID {_literal(partition)}")
        if _count(store, f"SELECT count() AS n FROM reads WHERE {due}"):
            _delete(store, "reads", due)
        for cls, n in zip(by_class["data_class"].to_pylist(), by_class["n"].to_pylist(), strict=True):
            deleted[("reads", cls)] = int(n)

    released = f"hold_id NOT IN (SELECT hold_id FROM ({active_holds_sql(now)}))"
    by_class = store.query_arrow(
        f"SELECT data_class, count() AS n FROM held_reads FINAL WHERE {released} GROUP BY data_class"
    )
    if by_class.num_rows:
        _delete(store, "held_reads", released)
        for cls, n in zip(by_class["data_class"].to_pylist(), by_class["n"].to_pylist(), strict=True):
            deleted[("held_reads", cls)] = int(n)

    # A hold's own record is an audit record: kept for the audit limit after it ended.
    ended = f"coalesce(released_at, expires_at) <= {ts_sql(now - policy.limit_ms('audit'))}"
    n = _count(store, f"SELECT count() AS n FROM holds FINAL WHERE {ended}")
    if n:
        _delete(store, "holds", ended)
        deleted[("holds", "audit")] = n

    for table, (column, cls) in TIMED_TABLES.items():
        old = f"{column} <= {ts_sql(now - policy.limit_ms(cls))}"
        n = _count(store, f"SELECT count() AS n FROM {table} WHERE {old}")
        if n:
            _delete(store, table, old)
            deleted[(table, cls)] = n

    if deleted:
        _record_purge(store, deleted, now, bucket_ms)
    return PurgeResult(deleted, held)


def _record_purge(store: Store, deleted: dict[tuple[str, str], int], now_ms: int, bucket_ms: int) -> None:
    by_class: dict[str, int] = {}
    for (_, cls), n in deleted.items():
        by_class[cls] = by_class.get(cls, 0) + n
    window = now_ms // bucket_ms * bucket_ms
    counts = pa.table(
        {
            "window_start": pa.array([window] * len(by_class), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "store": ["clickhouse"] * len(by_class),
            "data_class": list(by_class),
            "expired": pa.array(list(by_class.values()), pa.uint64()),
        }
    )
    store.insert_arrow("expiry_counts", counts, dedup_token=f"purge-{now_ms}:expiry_counts")
    detail = json.dumps({f"{t}/{c}": n for (t, c), n in sorted(deleted.items())}, separators=(",", ":"))
    audit(store, "purge", "platestream-purge", "retention policy", "", detail, sum(deleted.values()), now_ms)


# -- the audit trail and the gated search path ------------------------------------------------------------------


# One chain per writing process: records of two processes writing to one server never race for a link.
AUDIT_WRITER = uuid.uuid4().hex[:16]


def audit(
    store: Store, action: str, actor: str, reason: str, case_number: str, detail: str, rows: int, at_ms: int
) -> None:
    """Append a record to the audit trail, linked to this writer's previous record by its hash."""
    last = store.query_arrow(
        f"SELECT seq, hash FROM audit_log WHERE writer = {_literal(AUDIT_WRITER)} ORDER BY seq DESC LIMIT 1"
    ).to_pylist()
    seq, prev = (int(last[0]["seq"]) + 1, last[0]["hash"]) if last else (1, "")
    record = {
        "at_ms": int(at_ms),
        "action": action,
        "actor": actor,
        "reason": reason,
        "case_number": case_number,
        "detail": detail,
        "rows": int(rows),
    }
    digest = record_hash(prev, AUDIT_WRITER, seq, record)
    store.command(
        "INSERT INTO audit_log (at, action, actor, reason, case_number, detail, rows, writer, seq, prev_hash, hash) "
        f"SELECT {ts_sql(at_ms)}, {_literal(action)}, {_literal(actor)}, {_literal(reason)}, {_literal(case_number)}, "
        f"{_literal(detail)}, {int(rows)}, {_literal(AUDIT_WRITER)}, {seq}, {_literal(prev)}, {_literal(digest)}"
    )
    AUDIT_RECORDS.labels(AUDIT_WRITER).set(seq)


def audit_chain_problems(store: Store) -> list[str]:
    """Broken links in the audit trail: records changed, or missing between the first and last of a writer."""
    rows = store.query_arrow(
        "SELECT writer, seq, prev_hash, hash, toUnixTimestamp64Milli(at) AS at_ms, action, actor, reason, "
        "case_number, detail, rows FROM audit_log ORDER BY writer, seq"
    ).to_pylist()
    return broken_links(rows)


SEARCH_COLUMNS = "read_id, captured_at, camera_id, site_id, region, confidence, hit, data_class"


def search(
    store: Store, keys: PlateKeys, policy: RetentionPolicy, req: SearchRequest, now_ms: int | None = None
) -> pa.Table:
    """Reads of the given plates or read ids, live or under an active hold; audited before anything is returned.

    Raises SearchRefused when the actor or reason is missing, or nothing is asked for. The result has no plate
    text; ``held`` says a row is there only because a hold keeps it.
    """
    if not req.actor.strip() or not req.reason.strip():
        raise SearchRefused("a search needs who asks (actor) and why (reason)")
    if not req.plates and not req.read_ids:
        raise SearchRefused("a search names plates or read ids: there is no search for everything")
    now = _now_ms() if now_ms is None else now_ms
    pseudonyms = plate_pseudonyms(list(req.plates), keys)
    match = []
    if pseudonyms:
        match.append("tuple(key_id, plate_key) IN (" + ", ".join(f"({_literal(k)}, {h})" for k, h in pseudonyms) + ")")
    if req.read_ids:
        match.append("read_id IN (" + ", ".join(_literal(r) for r in req.read_ids) + ")")
    span = f"captured_at >= {ts_sql(req.captured_from_ms)} AND captured_at <= {ts_sql(req.captured_to_ms)}"
    where = f"({' OR '.join(match)}) AND {span}"
    if req.region:
        region = normalise_regions(pa.array([req.region]))[0].as_py()
        where += f" AND region = {_literal(region or '')}"
    active = f"hold_id IN (SELECT hold_id FROM ({active_holds_sql(now)}))"
    sql = (
        f"SELECT {SEARCH_COLUMNS}, max(held) AS held FROM ("
        f"SELECT {SEARCH_COLUMNS}, 0 AS held FROM reads FINAL WHERE {where} AND {_live(policy, now)} "
        f"UNION ALL SELECT {SEARCH_COLUMNS}, 1 AS held FROM held_reads FINAL WHERE {where} AND {active}"
        f") GROUP BY {SEARCH_COLUMNS} ORDER BY captured_at, read_id"
    )
    try:
        rows = store.query_arrow(sql)
    except StoreError:
        audit(store, "search_failed", req.actor, req.reason, req.case_number, _search_detail(req, keys), 0, now)
        raise
    audit(store, "search", req.actor, req.reason, req.case_number, _search_detail(req, keys), rows.num_rows, now)
    return rows


def _search_detail(req: SearchRequest, keys: PlateKeys) -> str:
    # What was asked, with plates as their keyed hashes under the current key: enough to answer "was my plate
    # searched?" for someone who shows their plate, useless to anyone reading the log for plates.
    current = [h for k, h in plate_pseudonyms(list(req.plates), keys) if k == keys.current_id]
    return json.dumps(
        {
            "plate_keys": [f"{keys.current_id}:{h:016x}" for h in current],
            "read_ids": list(req.read_ids),
            "region": req.region,
            "from_ms": req.captured_from_ms,
            "to_ms": req.captured_to_ms,
        },
        separators=(",", ":"),
    )


# -- Kafka deletions ---------------------------------------------------------------------------------------------


def write_log_starts(store: Store, samples: list[tuple[str, str, int, int]], now_ms: int) -> None:
    """Record (topic, data class, partition, log start offset) samples; the deletions view diffs them per day."""
    if not samples:
        return
    topic, cls, part, start = zip(*samples, strict=True)
    table = pa.table(
        {
            "topic": list(topic),
            "data_class": list(cls),
            "partition": pa.array(part, pa.uint32()),
            "sampled_at": pa.array([now_ms // 1000 * 1000] * len(samples), pa.int64()).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "log_start": pa.array(start, pa.uint64()),
        }
    )
    store.insert_arrow("kafka_log_starts", table, dedup_token=f"logstart-{now_ms}")


def deletions_per_day(store: Store) -> pa.Table:
    """Records deleted per day, store and data class: processor state, ClickHouse (purge job) and Kafka."""
    return store.query_arrow(
        "SELECT day, store, data_class, deleted FROM deletions_per_day ORDER BY day, store, data_class"
    )
