"""What cameras post, turned into the JSON events ``reads.json`` takes (``streams.ingest.decode.decode_json``).

- Rekor Scout / OpenALPR agent: ``alpr_group``, ``heartbeat`` (and ``alpr_results``, which the decoder refuses),
  forwarded as they are, images stripped.
- Plate Recognizer (Snapshot and Stream) and ParkPow webhooks: ``{"hook": {...}, "data": {"camera_id",
  "timestamp", "results": [...]}}``, as JSON or as multipart form data (a ``json`` field and an ``upload`` image,
  which is never read). Each result becomes one read in the project's own read JSON (``schemas/read.schema.json``):
  scores 0-1 become confidences 0-100, ISO times milliseconds, ``region.code`` the region.

Every event is then checked by the workers' own decoder, so the gateway refuses exactly what a worker would
dead-letter. Reasons and details name fields, never their values (no plate text).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.ingest.decode import decode_json, strip_images
from streams.model import deadletter as dl

__all__ = ["Event", "Refusal", "openalpr_events", "platerecognizer_events"]


@dataclass(frozen=True)
class Event:
    """One JSON event for ``reads.json``, without images, and the cameras it speaks for."""

    value: bytes
    cameras: tuple[str, ...]  # the read's camera, or every camera of a heartbeat
    key: str  # the Kafka key: the read's camera; a heartbeat's agent


@dataclass
class Refusal(Exception):
    """A body the gateway refuses (400): a dead-letter reason code, a detail without plate text, and the body
    without its images (what the dead letter keeps)."""

    reason: str
    detail: str
    original: bytes = b""
    events: list[Event] = field(default_factory=list)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refusal(dl.UNDECODABLE, f"not JSON: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise Refusal(dl.WRONG_SCHEMA, "the body must be a JSON object")
    return doc


def _encode(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _checked(values: list[bytes], original: bytes, max_bytes: int, origin: str) -> list[Event]:
    """Decode ``values`` as a worker would; the first dead letter refuses the whole body."""
    decoded = decode_json(values, [origin] * len(values), max_bytes)
    if decoded.dead:
        first = decoded.dead[0]
        raise Refusal(first.reason, first.detail, original)
    events = []
    cams = decoded.reads["camera_id"].to_pylist()
    if decoded.reads.num_rows != len(values):  # a heartbeat: no read row, its cameras are the heartbeat rows
        beats = [c for c in decoded.heartbeats["camera_id"].to_pylist() if c]
        doc = json.loads(values[0])
        agent = doc.get("agent_uid") if isinstance(doc.get("agent_uid"), str) else None
        return [Event(values[0], tuple(sorted(set(beats))), agent or beats[0])]
    for value, cam in zip(values, cams, strict=True):
        if not cam:
            raise Refusal(dl.MISSING_CAMERA, "the event names no camera", original)
        events.append(Event(value, (cam,), cam))
    return events


def openalpr_events(body: bytes, max_bytes: int) -> list[Event]:
    """A Rekor Scout / OpenALPR agent post: one JSON event, forwarded without its images."""
    doc = _json_object(body)
    stripped, _ = strip_images(doc)
    value = _encode(stripped)
    return _checked([value], value, max_bytes, "gateway/openalpr")


def _multipart_json(body: bytes, content_type: str) -> bytes:
    """The ``json`` field of a multipart/form-data webhook (Plate Recognizer's "webhook with image")."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise Refusal(dl.UNDECODABLE, "multipart body without parts")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "json":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise Refusal(dl.WRONG_SCHEMA, "multipart body without a `json` field")


def _ms(value: Any) -> int:
    if not isinstance(value, str):
        raise Refusal(dl.MISSING_TIME, "data.timestamp must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Refusal(dl.MISSING_TIME, "data.timestamp is not an ISO 8601 time") from None
    if when.tzinfo is None:  # Snapshot sends UTC without an offset
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _score(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise Refusal(dl.BAD_CONFIDENCE, f"{name} must be a number from 0 to 1")
    return round(float(value) * 100, 3)


def _read_of(result: Any, index: int, camera: Any, when: int) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise Refusal(dl.WRONG_SCHEMA, "each of data.results must be an object")
    plate = result.get("plate")
    region = result.get("region")
    code = region.get("code") if isinstance(region, dict) else None
    candidates = []
    for c in result.get("candidates") or []:
        if isinstance(c, dict) and isinstance(c.get("plate"), str) and c["plate"] != plate:
            # Stream sends candidates without scores: confidence 0 says "unknown" (read.schema.json needs one).
            conf = _score(c.get("score"), "candidate score")
            candidates.append({"plate": c["plate"], "confidence": conf if conf is not None else 0.0})
    # A stable id from the webhook's own fields: a resent webhook gives the same read id.
    basis = f"pr|{camera}|{when}|{index}|{plate}".encode()
    return {
        "read_id": hashlib.blake2b(basis, digest_size=16).hexdigest(),
        "camera_id": camera,
        "captured_at": when,
        "plate": plate,
        "region": code or None,
        "confidence": _score(result.get("score"), "score"),
        "candidates": candidates or None,
    }


def platerecognizer_events(body: bytes, content_type: str, max_bytes: int) -> list[Event]:
    """A Plate Recognizer / ParkPow webhook: one read per result. A webhook without results (Snapshot sends one
    for every image, plates or not) is no event at all."""
    raw = _multipart_json(body, content_type) if content_type.startswith("multipart/") else body
    doc = _json_object(raw)
    stripped, _ = strip_images(doc)
    original = _encode(stripped)
    data = stripped.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise Refusal(dl.WRONG_SCHEMA, "expected data.results, a list", original)
    results = data["results"]
    if not results:
        return []
    camera = data.get("camera_id")
    if not isinstance(camera, str | int) or isinstance(camera, bool) or not str(camera):
        raise Refusal(dl.MISSING_CAMERA, "data.camera_id is missing", original)
    try:
        when = _ms(data.get("timestamp"))
        reads = [_read_of(r, i, str(camera), when) for i, r in enumerate(results)]
    except Refusal as exc:
        exc.original = original
        raise
    return _checked([_encode(r) for r in reads], original, max_bytes, "gateway/platerecognizer")
