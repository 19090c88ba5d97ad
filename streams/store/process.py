"""Legal-process records in ``legal_process``: register, review and read them (docs/search-and-audit.md). Who
registered or reviewed comes from the verified principal; the API's gate audits every call."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streams.model.search import Area, ProcessRecord
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal, ts_sql

__all__ = ["PROCESS_COLUMNS", "get_process", "list_processes", "register_process", "review_process"]

PROCESS_COLUMNS = (
    "process_id, version, kind, number, issuer, case_number, offence, plate_keys, cameras, centre_lat, centre_lon, "
    "radius_m, scope_from, scope_to, expires_at, registered_by, agency, registered_at, reviewed_by, reviewed_at, "
    "review_due"
)
SELECTED = (
    "process_id, version, kind, number, issuer, case_number, offence, plate_keys, cameras, centre_lat, centre_lon, "
    "radius_m, toUnixTimestamp64Milli(scope_from) AS scope_from_ms, toUnixTimestamp64Milli(scope_to) AS scope_to_ms, "
    "toUnixTimestamp64Milli(expires_at) AS expires_at_ms, registered_by, agency, "
    "toUnixTimestamp64Milli(registered_at) AS registered_at_ms, reviewed_by, "
    "toUnixTimestamp64Milli(reviewed_at) AS reviewed_at_ms, toUnixTimestamp64Milli(review_due) AS review_due_ms"
)


def nullable_ts(ms: int | None) -> str:
    return "NULL" if ms is None else ts_sql(ms)


def nullable_float(v: float | None) -> str:
    return "NULL" if v is None else repr(float(v))


def write_version(store: Store, r: ProcessRecord) -> None:
    keys = ", ".join(f"({sql_literal(k)}, {int(h)})" for k, h in sorted(r.plate_keys))
    cameras = ", ".join(sql_literal(c) for c in r.cameras)
    area = r.area
    store.command(
        f"INSERT INTO legal_process ({PROCESS_COLUMNS}) SELECT {sql_literal(r.process_id)}, {int(r.version)}, "
        f"{sql_literal(r.kind)}, {sql_literal(r.number)}, {sql_literal(r.issuer)}, {sql_literal(r.case_number)}, "
        f"{sql_literal(r.offence)}, CAST([{keys}], 'Array(Tuple(key_id String, plate_key UInt64))'), "
        f"CAST([{cameras}], 'Array(String)'), {nullable_float(area and area.lat)}, "
        f"{nullable_float(area and area.lon)}, {nullable_float(area and area.radius_m)}, "
        f"{ts_sql(r.scope_from_ms)}, {ts_sql(r.scope_to_ms)}, {ts_sql(r.expires_at_ms)}, "
        f"{sql_literal(r.registered_by)}, {sql_literal(r.agency)}, {ts_sql(r.registered_at_ms)}, "
        f"{'NULL' if r.reviewed_by is None else sql_literal(r.reviewed_by)}, {nullable_ts(r.reviewed_at_ms)}, "
        f"{nullable_ts(r.review_due_ms)}"
    )


def register_process(store: Store, record: ProcessRecord) -> None:
    """Write a new record (its first version)."""
    write_version(store, replace(record, version=1))


def review_process(store: Store, record: ProcessRecord, reviewer: str, at_ms: int) -> ProcessRecord:
    """Record the review of ``record`` (a new version naming the reviewer); returns the reviewed record."""
    reviewed = replace(record, reviewed_by=reviewer, reviewed_at_ms=at_ms, version=record.version + 1)
    write_version(store, reviewed)
    return reviewed


def from_row(row: dict[str, Any]) -> ProcessRecord:
    lat, lon, radius = row["centre_lat"], row["centre_lon"], row["radius_m"]
    return ProcessRecord(
        process_id=row["process_id"],
        kind=row["kind"],
        number=row["number"],
        issuer=row["issuer"],
        case_number=row["case_number"],
        offence=row["offence"],
        plate_keys=frozenset((k["key_id"], int(k["plate_key"])) for k in row["plate_keys"]),
        cameras=tuple(row["cameras"]),
        area=Area(lat, lon, radius) if None not in (lat, lon, radius) else None,
        scope_from_ms=int(row["scope_from_ms"]),
        scope_to_ms=int(row["scope_to_ms"]),
        expires_at_ms=int(row["expires_at_ms"]),
        registered_by=row["registered_by"],
        agency=row["agency"],
        registered_at_ms=int(row["registered_at_ms"]),
        review_due_ms=row["review_due_ms"],
        reviewed_by=row["reviewed_by"],
        reviewed_at_ms=row["reviewed_at_ms"],
        version=int(row["version"]),
    )


def get_process(store: Store, process_id: str) -> ProcessRecord | None:
    """The latest version of a record, else None."""
    rows = store.query_arrow(
        f"SELECT {SELECTED} FROM legal_process FINAL WHERE process_id = {sql_literal(process_id)}"
    ).to_pylist()
    return from_row(rows[0]) if rows else None


def list_processes(store: Store, agency: str, limit: int = 1000) -> list[ProcessRecord]:
    """The latest version of an agency's records, newest first."""
    rows = store.query_arrow(
        f"SELECT {SELECTED} FROM legal_process FINAL WHERE agency = {sql_literal(agency)} "
        f"ORDER BY registered_at DESC, process_id LIMIT {int(limit)}"
    ).to_pylist()
    return [from_row(r) for r in rows]
