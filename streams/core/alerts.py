"""The hit payload sent downstream: what was matched, how sure it is, and what a person must check first."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa


def _iso(ms: int | None) -> str | None:
    """UTC milliseconds as ``datetime.isoformat`` writes them, with ``Z``: microseconds only when there are any."""
    if ms is None:
        return None
    seconds, milli = divmod(ms, 1000)
    t = time.gmtime(seconds)
    day = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"{day}.{milli:03d}000Z" if milli else f"{day}Z"


def _rows(hits: pa.Table) -> list[dict[str, Any]]:
    """The hit rows as dicts, times as integer milliseconds: ``Table.to_pylist`` makes a timezone-aware datetime
    per value, half the cost of a payload."""
    for i, field in enumerate(hits.schema):
        if pa.types.is_timestamp(field.type):  # HIT_SCHEMA's are milliseconds
            hits = hits.set_column(i, field.name, hits[field.name].cast(pa.int64()))
    columns = hits.to_pydict()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def hit_payloads(hits: pa.Table) -> list[dict[str, Any]]:
    """One JSON-ready dict per hit row. Hits are few per batch (a fraction of a percent of reads)."""
    out = []
    for h in _rows(hits):
        kind = h["match_kind"]
        checks = ["plate characters in the image match the entry", "issuing region in the image matches the entry"]
        checks.append(f"entry is still active: reason {h['reason']}, expires {_iso(h['entry_expires_at'])}")
        if h.get("entry_expiry_rule"):
            checks.append(f"entry's expiry was capped by policy: {h['entry_expiry_rule']}")
        if h["source_stale"]:
            checks.insert(0, f"hot-list source {h['entry_source']} has not synced recently: the entry may be stale")
        if kind != "exact":
            checks.insert(0, f"{kind} match: this is a POSSIBLE match only, not a confirmed one")
        notice = "UNVERIFIED HIT: do not act before a person has confirmed the checks below."
        out.append(
            {
                "hit_id": h["hit_id"],
                "read_id": h["read_id"],
                "camera_id": h["camera_id"],
                "site_id": h["site_id"],
                "read_time": _iso(h["read_time"]),
                "read_plate": h["read_plate"],
                "read_region": h["read_region"],
                "entry_id": h["entry_id"],
                "entry_plate": h["entry_plate"],
                "entry_region": h["entry_region"],
                "reason": h["reason"],
                "legal_basis": h["legal_basis"],
                "entry_expires_at": _iso(h["entry_expires_at"]),
                "entry_source": h["entry_source"],
                "entry_agency": h.get("entry_agency") or "",
                "source_stale": h["source_stale"],
                "match_kind": kind,
                "possible_match": kind != "exact",
                "alert": h["alert"],
                "repeat_passage": h["repeat_passage"],
                "status": h["status"],
                "verification_required": h["verification_required"],
                "ocr_confidence": round(float(h["ocr_confidence"]), 2),
                "evidence": {
                    "differing_positions": h["differing_positions"],
                    "matched_candidate": h["matched_candidate"],
                    "candidate_rank": h["candidate_rank"] if h["candidate_rank"] >= 0 else None,
                    "region_unknown": h["region_unknown"],
                    "candidates": [
                        {"plate": c["plate"], "confidence": round(float(c["confidence"] or 0), 2)}
                        for c in h.get("candidates") or []
                    ],
                },
                "notice": notice,
                "checks": checks,
            }
        )
    return out
