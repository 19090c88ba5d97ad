"""Decoders from wire bytes to Arrow tables of reads (``streams.model.read.READ_SCHEMA``).

Three inputs: Arrow IPC streams (the high-volume path, many reads per Kafka message), single JSON events (the
project's own read JSON, OpenALPR / Rekor Scout ``alpr_group``), and ``heartbeat`` events, which are camera
health and never reads. Nothing here raises on bad input: it comes back as a ``DeadLetter``.

Camera JSON may carry images (``*_jpeg``, base64 crops): ``strip_images`` removes them, and a dead letter of a JSON
event keeps the event without them. GPS positions become coarse area codes (``area_code``), never coordinates.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from streams.ingest.json_columns import FIELD_LIMITS, MAX_CANDIDATES, MAX_MS, PLATE_FIELD_LIMIT, fast_reads
from streams.model import deadletter as dl
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded, empty_reads
from streams.model.read import HEARTBEAT_SCHEMA, READ_SCHEMA

# A heartbeat row: the camera, and whether its video stream is up, and its coarse area (mobile units). The last two
# are optional on the table (batch messages carry no heartbeats); streams.core.aggregate.camera_health reads them.
CAMERA_STATUS_SCHEMA = HEARTBEAT_SCHEMA.append(pa.field("streaming", pa.bool_())).append(pa.field("area", pa.string()))

# Grid cells of this many degrees (about 11 km of latitude): where a mobile unit was, never where exactly.
AREA_CELL_DEGREES = 0.1

# Per-frame results (Rekor Scout `upload_single_plates = 1`): one event per video frame, fifty per passing car.
PER_FRAME_DETAIL = "per-frame alpr_results are not taken: send alpr_group (set upload_single_plates = 0)"

# Fields of READ_SCHEMA that a batch must carry (the rest may be absent and become null).
REQUIRED = [f.name for f in READ_SCHEMA if not f.nullable]


def decode_arrow(payload: bytes, origin: str, max_bytes: int, max_rows: int | None = None) -> Decoded:
    """One Arrow IPC stream (compressed or not) holding any number of record batches (at most ``max_rows`` rows)."""
    if len(payload) > max_bytes:
        return _dead_only(dl.TOO_LARGE, f"message of {len(payload)} bytes exceeds {max_bytes}", payload, origin)
    try:
        batches, rows = [], 0
        reader = pa.ipc.open_stream(payload)
        for batch in reader:  # counted batch by batch: an oversized message is refused before it is all decoded
            rows += batch.num_rows
            if max_rows is not None and rows > max_rows:
                return _dead_only(dl.TOO_MANY_ROWS, f"message holds over {max_rows} rows", payload, origin)
            batches.append(batch)
        table = pa.Table.from_batches(batches, reader.schema)
        table.validate(full=True)  # offsets in bounds, valid UTF-8: bad buffers stop here, not in the core
    except (pa.ArrowException, OSError, ValueError, MemoryError) as exc:  # incl. a decompression bomb
        return _dead_only(dl.UNDECODABLE, f"not a valid Arrow IPC stream: {type(exc).__name__}", payload, origin)
    try:
        table = conform(table)
    except SchemaMismatch as exc:
        return _dead_only(dl.WRONG_SCHEMA, str(exc), payload, origin)
    return Decoded(table, HEARTBEAT_SCHEMA.empty_table(), [], [origin] * table.num_rows)


class SchemaMismatch(Exception):
    """A message decodes but does not fit READ_SCHEMA; becomes a ``wrong_schema`` dead letter."""


def conform(table: pa.Table) -> pa.Table:
    """Bring a table onto READ_SCHEMA: columns in order, optional ones filled with nulls, types cast safely."""
    try:
        names = table.column_names
    except UnicodeDecodeError:
        raise SchemaMismatch("column names are not valid UTF-8") from None
    if len(set(names)) != len(names):
        raise SchemaMismatch("duplicate column names")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise SchemaMismatch(f"missing required column(s): {', '.join(missing)}")
    unknown = sorted(set(names) - set(READ_SCHEMA.names))
    if unknown:
        raise SchemaMismatch(f"unknown column(s): {', '.join(unknown)}")
    cols = []
    for f in READ_SCHEMA:
        if f.name in names:
            col = table[f.name]
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowException, TypeError):
                    raise SchemaMismatch(f"column {f.name} has type {col.type}, expected {f.type}") from None
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    # Nullability is checked row by row in validation (a null plate is a dead letter, not a bad batch).
    loose = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])
    try:
        return pa.Table.from_arrays(cols, schema=loose)
    except pa.ArrowException as exc:
        raise SchemaMismatch(f"columns do not fit the read schema: {type(exc).__name__}") from None


def decode_json(payloads: Sequence[bytes], origins: Sequence[str], max_bytes: int) -> Decoded:
    """Single JSON events, each one read, an ``alpr_group`` or a ``heartbeat``.

    Reads go through msgspec and vectorised checks (``streams.ingest.json_columns``); whatever that path does not
    take exactly (heartbeats, bad or unusual events) is decoded event by event here, which gives every dead letter
    its reason. Read rows come out in event order."""
    return decode_json_rows(payloads, origins, max_bytes)[0]


def decode_json_rows(payloads: Sequence[bytes], origins: Sequence[str], max_bytes: int) -> tuple[Decoded, np.ndarray]:
    """``decode_json``, and for each read row the index of the event it came from (in ``payloads``)."""
    if len(payloads) != len(origins):
        raise ValueError("payloads and origins differ in length")
    fast, fast_at, slow_at = fast_reads(payloads, max_bytes)
    slow = _decode_each([payloads[i] for i in slow_at], [origins[i] for i in slow_at], max_bytes, slow_at)
    rows, rows_at = fast, fast_at
    if slow.reads.num_rows:
        rows = pa.concat_tables([fast, slow.reads])
        rows_at = np.concatenate([fast_at, slow.at])
        order = np.argsort(rows_at, kind="stable")
        rows, rows_at = rows.take(pa.array(order)), rows_at[order]
    return Decoded(rows, slow.heartbeats, slow.dead, [origins[i] for i in rows_at]), rows_at


def decode_json_each(payloads: Sequence[bytes], origins: Sequence[str], max_bytes: int) -> Decoded:
    """The per-event decoder alone: the specification ``decode_json`` must agree with (its tests' oracle)."""
    slow = _decode_each(payloads, origins, max_bytes, np.arange(len(payloads)))
    return Decoded(slow.reads, slow.heartbeats, slow.dead, [origins[i] for i in slow.at])


class _Slow(NamedTuple):
    reads: pa.Table
    at: np.ndarray
    heartbeats: pa.Table
    dead: list[DeadLetter]


def _decode_each(payloads: Sequence[bytes], origins: Sequence[str], max_bytes: int, index: np.ndarray) -> _Slow:
    """The per-event decoder (the specification of the JSON path): each event checked field by field."""
    rows: list[dict[str, Any]] = []
    row_at: list[int] = []
    beats: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for raw, origin, at in zip(payloads, origins, index.tolist(), strict=True):
        if len(raw) > max_bytes:
            dead.append(DeadLetter(dl.TOO_LARGE, f"event of {len(raw)} bytes exceeds {max_bytes}", raw, origin))
            continue
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, a 5000-digit integer
            dead.append(DeadLetter(dl.UNDECODABLE, f"not JSON: {type(exc).__name__}", raw, origin))
            continue
        if not isinstance(doc, dict):
            dead.append(DeadLetter(dl.WRONG_SCHEMA, "a JSON event must be an object", raw, origin))
            continue
        kind = doc.get("data_type")
        try:
            if kind == "heartbeat":
                beats.extend(_heartbeat_rows(doc))
            elif kind == "alpr_group":
                rows.append(_alpr_group_row(doc))
                row_at.append(at)
            elif kind is None:
                rows.append(_own_read_row(doc))
                row_at.append(at)
            elif kind == "alpr_results":
                dead.append(DeadLetter(dl.UNKNOWN_EVENT, PER_FRAME_DETAIL, _without_images(raw, doc), origin))
            else:
                dead.append(DeadLetter(dl.UNKNOWN_EVENT, f"data_type {str(kind)[:40]!r} is not taken", raw, origin))
        except SchemaMismatch as exc:
            dead.append(DeadLetter(dl.WRONG_SCHEMA, str(exc), _without_images(raw, doc), origin))
    heartbeats = pa.Table.from_pylist(beats, schema=CAMERA_STATUS_SCHEMA) if beats else HEARTBEAT_SCHEMA.empty_table()
    return _Slow(_rows_to_table(rows), np.asarray(row_at, np.int64), heartbeats, dead)


def strip_images(doc: Any) -> tuple[Any, int]:
    """``doc`` without image fields (``*_jpeg`` keys, at any depth) and the number removed. Images are never kept:
    not on Kafka, not in a store, not inside a dead letter."""
    if isinstance(doc, dict):
        out, removed = {}, 0
        for key, value in doc.items():
            if isinstance(key, str) and key.endswith("_jpeg"):
                removed += 1
                continue
            out[key], n = strip_images(value)
            removed += n
        return out, removed
    if isinstance(doc, list):
        items = [strip_images(v) for v in doc]
        return [v for v, _ in items], sum(n for _, n in items)
    return doc, 0


def _without_images(raw: bytes, doc: dict[str, Any]) -> bytes:
    """The original bytes of a dead letter, re-encoded without images when it carried any."""
    stripped, removed = strip_images(doc)
    return json.dumps(stripped, separators=(",", ":")).encode() if removed else raw


def area_code(lat: Any, lon: Any) -> str | None:
    """A coarse grid cell (``AREA_CELL_DEGREES``) for a GPS position, e.g. ``"37.6,-122.5"``; None for no fix.

    The cell's south-west corner, so every position inside one cell gives the same code; (0, 0) is "no fix"."""
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not isinstance(lat, int | float)
        or not isinstance(lon, int | float)
    ):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    cell = AREA_CELL_DEGREES
    return f"{math.floor(lat / cell) * cell:.1f},{math.floor(lon / cell) * cell:.1f}"


def _rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    loose = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])
    if not rows:
        return loose.empty_table()
    return pa.Table.from_pylist(rows, schema=loose)


def _str(doc: dict[str, Any], key: str, *, required: bool = False, limit: int = FIELD_LIMITS["id"]) -> str | None:
    v = doc.get(key)
    if v is None:
        if required:
            raise SchemaMismatch(f"missing field {key}")
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise SchemaMismatch(f"field {key} must be a string")
    s = str(v)
    if len(s) > limit:
        raise SchemaMismatch(f"field {key} longer than {limit} characters")
    try:
        s.encode("utf-8")  # a lone surrogate (valid JSON escape) is not text Arrow can hold
    except UnicodeEncodeError:
        raise SchemaMismatch(f"field {key} is not valid Unicode text") from None
    return s


def _int(doc: dict[str, Any], key: str) -> int | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v or abs(v) > MAX_MS:
        raise SchemaMismatch(f"field {key} must be a number of milliseconds")
    return int(v)


def _num(doc: dict[str, Any], key: str) -> float | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SchemaMismatch(f"field {key} must be a number")
    try:
        return float(v)
    except OverflowError:
        raise SchemaMismatch(f"field {key} is out of range") from None


def _candidates(items: Any, best: str | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise SchemaMismatch("candidates must be a list")
    out = []
    for item in items[:MAX_CANDIDATES]:
        if not isinstance(item, dict):
            raise SchemaMismatch("each candidate must be an object")
        plate = _str(item, "plate", required=True, limit=FIELD_LIMITS["candidate"])
        conf = _num(item, "confidence")
        if plate == best:  # agents repeat the best reading as the first candidate
            continue
        out.append({"plate": plate, "confidence": conf if conf is not None else 0.0})
    return out


def _own_read_row(doc: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(doc) - set(READ_SCHEMA.names))
    if unknown:
        raise SchemaMismatch(f"unknown field(s): {', '.join(unknown[:5])}")
    plate = _str(doc, "plate", limit=PLATE_FIELD_LIMIT)
    return {
        "read_id": _str(doc, "read_id", required=True),
        "camera_id": _str(doc, "camera_id"),
        "site_id": _str(doc, "site_id"),
        "captured_at": _int(doc, "captured_at"),
        "plate": plate,
        "region": _str(doc, "region", limit=FIELD_LIMITS["region"]),
        "confidence": _num(doc, "confidence"),
        "candidates": _candidates(doc.get("candidates"), plate),
    }


def _alpr_group_row(doc: dict[str, Any]) -> dict[str, Any]:
    best = doc.get("best_plate") if isinstance(doc.get("best_plate"), dict) else {}
    plate = _str(doc, "best_plate_number", limit=PLATE_FIELD_LIMIT) or _str(best, "plate", limit=PLATE_FIELD_LIMIT)
    region = _str(doc, "best_region", limit=FIELD_LIMITS["region"]) or _str(
        best, "region", limit=FIELD_LIMITS["region"]
    )
    conf = _num(doc, "best_confidence")
    if conf is None:
        conf = _num(best, "confidence")
    cands = best.get("candidates") if "candidates" in best else doc.get("candidates")
    uuids = doc.get("uuids") if isinstance(doc.get("uuids"), list) else []
    read_id = _str(doc, "best_uuid") or (str(uuids[0])[: FIELD_LIMITS["id"]] if uuids else None)
    camera = _str(doc, "camera_id")
    when = _int(doc, "epoch_start")
    if read_id is None:
        # A stable id from the group's own fields, so a replay gives the same id every time.
        basis = f"{camera}|{when}|{plate}|{_str(doc, 'agent_uid')}".encode()
        read_id = hashlib.blake2b(basis, digest_size=16).hexdigest()
    return {
        "read_id": read_id,
        "camera_id": camera,
        "site_id": _str(doc, "site_id") or _str(doc, "agent_uid"),
        "captured_at": when,
        "plate": plate,
        "region": region,
        "confidence": conf,
        "candidates": _candidates(cands, plate),
    }


def _streaming(doc: dict[str, Any], default: bool) -> bool:
    v = doc.get("is_streaming", default)
    if not isinstance(v, bool):
        raise SchemaMismatch("field is_streaming must be true or false")
    return v


def _heartbeat_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per camera of the agent (``video_streams``), or one for the agent itself. A stream reporting
    ``is_streaming: false`` is a camera down; GPS (stream's, else the agent's) only as a coarse area code."""
    when = _int(doc, "timestamp") or _int(doc, "epoch_time")
    site = _str(doc, "site_id") or _str(doc, "agent_uid")
    agent_up = _streaming(doc, True)
    agent_area = area_code(doc.get("gps_latitude"), doc.get("gps_longitude"))
    streams = doc.get("video_streams")
    rows = []
    if isinstance(streams, list) and streams:
        for s in streams:
            if isinstance(s, dict) and (cam := _str(s, "camera_id")):
                area = area_code(s.get("gps_latitude"), s.get("gps_longitude")) or agent_area
                rows.append({"camera_id": cam, "streaming": _streaming(s, agent_up), "area": area})
    elif cam := _str(doc, "camera_id") or site:
        rows.append({"camera_id": cam, "streaming": agent_up, "area": agent_area})
    if not rows:
        raise SchemaMismatch("heartbeat names no camera")
    return [{**r, "site_id": site, "seen_at": when} for r in rows]


def _dead_only(reason: str, detail: str, payload: bytes, origin: str) -> Decoded:
    return Decoded(empty_reads(), HEARTBEAT_SCHEMA.empty_table(), [DeadLetter(reason, detail, payload, origin)], [])


def merge(parts: Iterable[Decoded]) -> Decoded:
    parts = list(parts)
    loose = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])
    reads = pa.concat_tables([p.reads.cast(loose) for p in parts]) if parts else loose.empty_table()
    # Heartbeats of JSON events carry streaming and area, those of batches do not: missing columns become null.
    beats = (
        pa.concat_tables([p.heartbeats for p in parts], promote_options="default")
        if parts
        else HEARTBEAT_SCHEMA.empty_table()
    )
    return Decoded(
        reads,
        beats,
        [d for p in parts for d in p.dead],
        [o for p in parts for o in p.origins],
    )


def encode_arrow(table: pa.Table, compression: str | None = "zstd") -> bytes:
    """Reads -> one Arrow IPC stream message (what batch producers send)."""
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=opts) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
