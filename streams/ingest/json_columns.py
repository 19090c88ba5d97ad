"""The fast half of ``decode_json``: JSON read events straight to Arrow columns, with msgspec and vectorised checks.

Each event is decoded by msgspec into a typed Struct (an ``alpr_group`` or the project's own read), so types are
checked in C; lengths, ranges and the ``a or b`` field fallbacks are then checked on whole Arrow columns. An event
this path cannot take *exactly* as the per-event decoder would (any other type, a field over its limit, a
heartbeat, bad bytes) is handed back to the caller, which decodes it the slow way: that decoder is the
specification, so every dead letter keeps its reason and detail. This path is only ever stricter, never looser.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.ingest.json_scan import Candidates, ScannedGroups, scan_groups
from streams.model.read import CANDIDATE_TYPE, READ_SCHEMA

__all__ = ["FIELD_LIMITS", "MAX_CANDIDATES", "MAX_MS", "PLATE_FIELD_LIMIT", "fast_reads"]

# The longest plate field a JSON event may carry at all; shorter ones over the configured limit become
# `plate_too_long` dead letters (streams.ingest.limits).
PLATE_FIELD_LIMIT = 1024
# Characters per text field (the per-event decoder's limits, one definition for both halves).
FIELD_LIMITS = {"plate": PLATE_FIELD_LIMIT, "region": 16, "candidate": 32, "id": 64}
MAX_CANDIDATES = 20  # candidates taken per read
MAX_MS = 2**62  # a time field beyond this is not milliseconds

LOOSE_SCHEMA = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])


class Candidate(msgspec.Struct, gc=False):
    plate: str
    confidence: float | None = None


class BestPlate(msgspec.Struct, gc=False):
    plate: str | None = None
    region: str | None = None
    confidence: float | None = None
    candidates: list[Candidate] | None | msgspec.UnsetType = msgspec.UNSET


class AlprGroup(msgspec.Struct, gc=False):
    data_type: Literal["alpr_group"]
    camera_id: str | None = None
    site_id: str | None = None
    agent_uid: str | None = None
    epoch_start: int | None = None
    best_uuid: str | None = None
    uuids: list[str] | None = None
    best_plate_number: str | None = None
    best_region: str | None = None
    best_confidence: float | None = None
    best_plate: BestPlate | None = None
    candidates: list[Candidate] | None = None


class OwnRead(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    read_id: str
    camera_id: str | None = None
    site_id: str | None = None
    captured_at: int | None = None
    plate: str | None = None
    region: str | None = None
    confidence: float | None = None
    candidates: list[Candidate] | None = None


GROUP = msgspec.json.Decoder(AlprGroup)
OWN = msgspec.json.Decoder(OwnRead)


def fast_reads(payloads: Sequence[bytes], max_bytes: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The read rows of the events this path takes (LOOSE_SCHEMA, in event order), the event index of each row,
    and the indexes of the events left for the per-event decoder. The compiled scanner takes the plain
    ``alpr_group`` events; msgspec decodes the ones it declines."""
    scanned, declined = scan_groups(payloads, max_bytes)
    groups: list[AlprGroup] = []
    group_at: list[int] = []
    owns: list[OwnRead] = []
    own_at: list[int] = []
    slow: list[int] = []
    with paused_gc():
        _decode_all(payloads, declined, max_bytes, groups, group_at, owns, own_at, slow)
        decoded = _struct_columns(groups, group_at)
        tables = [(_group_table(cols), cols.at) for cols in (scanned, decoded) if cols is not None]
        tables.append((_own_table(owns), own_at))
    parts, at, refused = [], [], []
    for built, where in tables:
        if built is None:
            continue
        table, bad = built
        where_np = np.asarray(where, np.int64)
        if bad.any():  # decoded, but over a limit: the per-event decoder says why
            refused.append(where_np[bad])
            table, where_np = table.filter(pa.array(~bad)), where_np[~bad]
        parts.append(table)
        at.append(where_np)
    slow_np = np.sort(np.concatenate([np.asarray(slow, np.int64), *refused]))
    if not parts:
        return LOOSE_SCHEMA.empty_table(), np.zeros(0, np.int64), slow_np
    table, rows_at = pa.concat_tables(parts), np.concatenate(at)
    order = np.argsort(rows_at, kind="stable")
    return table.take(pa.array(order)), rows_at[order], slow_np


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is decoded: tens of thousands of fresh lists (no cycles) would
    otherwise trigger collections that scan the worker's whole heap, 2-4x the cost of the decoding itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _decode_all(
    payloads: Sequence[bytes],
    indexes: Iterable[int],
    max_bytes: int,
    groups: list[AlprGroup],
    group_at: list[int],
    owns: list[OwnRead],
    own_at: list[int],
    slow: list[int],
) -> None:
    for i in indexes:
        raw = payloads[i]
        if len(raw) > max_bytes:  # declined by the scanner for its size: the per-event decoder names it
            slow.append(i)
            continue
        try:
            groups.append(GROUP.decode(raw))
            group_at.append(i)
            continue
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        try:
            owns.append(OWN.decode(raw))
            own_at.append(i)
        except (msgspec.ValidationError, msgspec.DecodeError):
            slow.append(i)


def _or(a: pa.Array, b: pa.Array) -> pa.Array:
    """Python's ``a or b`` on text columns: ``a`` where it is a non-empty string, else ``b``."""
    return pc.if_else(pc.fill_null(pc.greater(pc.utf8_length(a), 0), False), a, b)


def _struct_columns(groups: list[AlprGroup], at: list[int]) -> ScannedGroups | None:
    """The scanner's columns, from msgspec's Structs."""
    if not groups:
        return None
    best = [g.best_plate for g in groups]
    best_or_empty = [b if b is not None else BestPlate() for b in best]
    s, f64 = pa.string(), pa.float64()
    cands = [
        b.candidates if b is not None and b.candidates is not msgspec.UNSET else g.candidates
        for g, b in zip(groups, best, strict=True)
    ]
    return ScannedGroups(
        np.asarray(at, np.int64),
        best_plate_number=pa.array([g.best_plate_number for g in groups], s),
        best_region=pa.array([g.best_region for g in groups], s),
        best_confidence=pa.array([g.best_confidence for g in groups], f64),
        best_uuid=pa.array([g.best_uuid for g in groups], s),
        first_uuid=pa.array([g.uuids[0] if g.uuids else None for g in groups], s),
        camera_id=pa.array([g.camera_id for g in groups], s),
        epoch_start=pa.array([g.epoch_start for g in groups], pa.int64()),
        agent_uid=pa.array([g.agent_uid for g in groups], s),
        site_id=pa.array([g.site_id for g in groups], s),
        plate=pa.array([b.plate for b in best_or_empty], s),
        region=pa.array([b.region for b in best_or_empty], s),
        confidence=pa.array([b.confidence for b in best_or_empty], f64),
        candidates=_flat_candidates(cands),
    )


def _flat_candidates(cands: list[list[Candidate] | None]) -> Candidates:
    flat = list(chain.from_iterable(c for c in cands if c))
    return Candidates(
        null=np.fromiter((c is None for c in cands), bool, len(cands)),
        counts=np.fromiter((len(c) if c else 0 for c in cands), np.int64, len(cands)),
        plate=pa.array([c.plate for c in flat], pa.string()),
        confidence=pa.array([c.confidence for c in flat], pa.float64()),
    )


def _group_table(cols: ScannedGroups) -> tuple[pa.Table, np.ndarray]:
    plate = _or(cols.best_plate_number, cols.plate)
    region = _or(cols.best_region, cols.region)
    conf = pc.coalesce(cols.best_confidence, cols.confidence)
    read_id = _or(cols.best_uuid, pc.utf8_slice_codeunits(cols.first_uuid, 0, FIELD_LIMITS["id"]))
    camera, when, agent = cols.camera_id, cols.epoch_start, cols.agent_uid
    if read_id.null_count:  # a stable id from the group's own fields, so a replay gives the same id every time
        ids = read_id.to_pylist()
        plates, cams, times, agents = plate.to_pylist(), camera.to_pylist(), when.to_pylist(), agent.to_pylist()
        for i in np.flatnonzero(read_id.is_null().to_numpy(zero_copy_only=False)):
            basis = f"{cams[i]}|{times[i]}|{plates[i]}|{agents[i]}".encode()
            ids[i] = hashlib.blake2b(basis, digest_size=16).hexdigest()
        read_id = pa.array(ids, pa.string())
    site = _or(cols.site_id, agent)
    # Every text field the group carries is held to its limit (stricter than the per-event decoder, which checks
    # the fallback of an `or` only when it is used: such an event goes that way and gets the same answer).
    checks = {
        "best_uuid": cols.best_uuid,
        "agent_uid": agent,
        "best_plate.plate": cols.plate,
        "best_plate.region": cols.region,
        "best_region": cols.best_region,
        "best_plate_number": cols.best_plate_number,
    }
    return _table(read_id, camera, site, when, plate, region, conf, cols.candidates, checks)


def _own_table(owns: list[OwnRead]) -> tuple[pa.Table, np.ndarray] | None:
    if not owns:
        return None
    s = pa.string()
    plate = pa.array([r.plate for r in owns], s)
    return _table(
        pa.array([r.read_id for r in owns], s),
        pa.array([r.camera_id for r in owns], s),
        pa.array([r.site_id for r in owns], s),
        pa.array([r.captured_at for r in owns], pa.int64()),
        plate,
        pa.array([r.region for r in owns], s),
        pa.array([r.confidence for r in owns], pa.float64()),
        _flat_candidates([r.candidates for r in owns]),
        {},
    )


def _candidates(cands: Candidates, plate: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The candidate lists (the first MAX_CANDIDATES of each, without the best reading, which agents repeat), and
    whether each row has a candidate plate over its limit."""
    null, counts, cand_plates, confs = cands
    position = np.arange(len(cand_plates)) - np.repeat(np.cumsum(counts) - counts, counts)
    if (counts > MAX_CANDIDATES).any():
        first = pa.array(position < MAX_CANDIDATES)
        cand_plates, confs = cand_plates.filter(first), confs.filter(first)
        counts = np.minimum(counts, MAX_CANDIDATES)
    rows = len(null)
    parent = np.repeat(np.arange(rows), counts)
    keep = ~pc.fill_null(pc.equal(cand_plates, plate.take(pa.array(parent))), False).to_numpy(zero_copy_only=False)
    kept = np.bincount(parent[keep], minlength=rows)
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int32)
    values = pa.StructArray.from_arrays(
        [
            cand_plates.filter(pa.array(keep)),
            pc.fill_null(
                pc.cast(confs, CANDIDATE_TYPE.value_type.field("confidence").type, safe=False).filter(pa.array(keep)),
                0.0,
            ),
        ],
        fields=list(CANDIDATE_TYPE.value_type),
    )
    mask = pa.array(null)
    lists = pa.ListArray.from_arrays(pa.array(offsets), values, type=CANDIDATE_TYPE, mask=mask)
    long = np.zeros(rows, bool)
    if len(cand_plates):
        over = pc.greater(pc.utf8_length(cand_plates), FIELD_LIMITS["candidate"]).to_numpy(zero_copy_only=False)
        long = np.bincount(parent[over], minlength=rows) > 0
    return lists, long


def _table(read_id, camera, site, when, plate, region, conf, cands, checks) -> tuple[pa.Table, np.ndarray]:  # noqa: ANN001
    """The rows on LOOSE_SCHEMA, and which of them break a limit."""
    lists, long_candidate = _candidates(cands, plate)
    limits = {"read_id": (read_id, "id"), "camera_id": (camera, "id"), "site_id": (site, "id")}
    limits |= {"plate": (plate, "plate"), "region": (region, "region")}
    limits |= {k: (v, "region" if "region" in k else "plate" if "plate" in k else "id") for k, v in checks.items()}
    over = [pc.greater(pc.utf8_length(col), FIELD_LIMITS[kind]) for col, kind in limits.values()]
    over.append(pc.greater(pc.abs(when), MAX_MS))
    over.append(pa.array(long_candidate))
    table = pa.Table.from_arrays(
        [read_id, camera, site, when.cast(LOOSE_SCHEMA.field("captured_at").type), plate, region, conf, lists],
        names=["read_id", "camera_id", "site_id", "captured_at", "plate", "region", "confidence", "candidates"],
    )
    cols = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in LOOSE_SCHEMA
    ]
    return pa.Table.from_arrays(cols, schema=LOOSE_SCHEMA), _any(over, len(table))


def _any(masks: list[pa.Array], n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    for m in masks:
        out |= pc.fill_null(m, False).to_numpy(zero_copy_only=False)
    return out
