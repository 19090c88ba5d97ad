"""The audit trail as a hash chain: each record carries the hash of the one before it, so a record edited or
deleted in the middle of the trail shows as a broken link.

Each writing process keeps a chain of its own (``writer``: a random id per process), numbered by ``seq``. The
oldest records leave by the audit limit (the purge job counts them); everything after the first record still
present must link up. Deleting the newest records leaves no broken link: the ``platestream_audit_records``
gauge, scraped by Prometheus, keeps an outside record of how far each writer's chain had grown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

# Every column of a record (streams/model/audit.py) is covered by its hash.
FIELDS = (
    "at_ms",
    "action",
    "actor",
    "agency",
    "role",
    "client",
    "reason",
    "case_number",
    "detail",
    "decision",
    "rule",
    "rows",
)


def record_hash(prev_hash: str, writer: str, seq: int, record: dict[str, Any]) -> str:
    body = json.dumps([prev_hash, writer, seq, *(record[f] for f in FIELDS)], separators=(",", ":"))
    return hashlib.blake2b(body.encode(), digest_size=32).hexdigest()


def broken_links(rows: Iterable[dict[str, Any]]) -> list[str]:
    """What is wrong with the chains in ``rows`` (each with writer, seq, prev_hash, hash and FIELDS), ordered by
    writer and seq. Empty when every chain links up from its first record present."""
    problems: list[str] = []
    last: dict[str, tuple[int, str]] = {}
    for r in rows:
        writer, seq = r["writer"], int(r["seq"])
        if record_hash(r["prev_hash"], writer, seq, r) != r["hash"]:
            problems.append(f"writer {writer} record {seq} was changed after it was written")
        if writer in last:
            prev_seq, prev_hash = last[writer]
            if seq != prev_seq + 1:
                problems.append(f"writer {writer}: records {prev_seq + 1}..{seq - 1} are missing")
            elif r["prev_hash"] != prev_hash:
                problems.append(f"writer {writer} record {seq} does not link to record {prev_seq}")
        last[writer] = (seq, r["hash"])
    return problems
