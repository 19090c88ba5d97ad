"""Where a JSON take's decoding time goes: the worker's decoder stage by stage, beside parsers that do less.

One take of ``alpr_group`` events (the JSON bench's, about 1 KB each) is decoded again and again in one process:

* ``worker`` - ``decode_json_rows``, what the worker calls on a take;
* ``fast path`` - ``fast_reads`` alone: the compiled scanner (``streams.ingest.json_scan``) straight to Arrow
  columns, msgspec for the events it declines, then the vectorised checks;
* ``typed msgspec`` - only msgspec's decoding into the declined events' Structs, for every event (the floor of the
  design before the scanner);
* ``untyped msgspec`` and ``json.loads`` - each event to Python dicts, nothing checked, nothing built;
  the three msgspec / json stages take only the ``alpr_group`` events (they would stop at a bad one);
* ``per-event decoder`` - ``decode_json_each``, the specification, field by field in Python: the baseline.

Each stage's best of ``rounds`` rounds is reported, in microseconds per event and against the per-event decoder.
The worker's reads must equal the per-event decoder's (``agree``), or the figures mean nothing.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence

import msgspec

from streams.ingest.decode import decode_json_each, decode_json_rows
from streams.ingest.json_columns import GROUP, fast_reads

__all__ = ["BUDGET_US", "decode_stages"]

MAX_BYTES = 1 << 20
# One worker at 250,000 JSON reads/s (issue #15) has 4 microseconds per event for everything: decode, match, store.
BUDGET_US = 1e6 / 250_000


def _is_group(payload: bytes) -> bool:
    try:
        GROUP.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


def _best(run: Callable[[], object], rounds: int, events: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best / events * 1e6


def decode_stages(payloads: Sequence[bytes], rounds: int = 5) -> dict:
    """Microseconds per event of each stage on ``payloads``, the ratios to the per-event decoder, and the check."""
    n = len(payloads)
    if not n:
        raise ValueError("no events to decode")
    origins = [f"bench@{i}" for i in range(n)]
    untyped = msgspec.json.Decoder()
    groups = [p for p in payloads if _is_group(p)]
    if not groups:
        raise ValueError("no alpr_group events to decode")
    stages: dict[str, tuple[Callable[[], object], int]] = {
        "worker": (lambda: decode_json_rows(payloads, origins, MAX_BYTES), n),
        "fast path": (lambda: fast_reads(payloads, MAX_BYTES), n),
        "typed msgspec": (lambda: [GROUP.decode(p) for p in groups], len(groups)),
        "untyped msgspec": (lambda: [untyped.decode(p) for p in groups], len(groups)),
        "json.loads": (lambda: [json.loads(p) for p in groups], len(groups)),
        "per-event decoder": (lambda: decode_json_each(payloads, origins, MAX_BYTES), n),
    }
    worker, _ = decode_json_rows(payloads, origins, MAX_BYTES)
    spec = decode_json_each(payloads, origins, MAX_BYTES)
    agree = (
        worker.reads.equals(spec.reads)
        and [d.reason for d in worker.dead] == [d.reason for d in spec.dead]
        and worker.heartbeats.num_rows == spec.heartbeats.num_rows
    )
    us = {name: _best(run, rounds, events) for name, (run, events) in stages.items()}
    baseline = us["per-event decoder"]
    return {
        "events": n,
        "alpr_group_events": len(groups),
        "bytes_per_event": round(sum(map(len, payloads)) / n, 1),
        "reads": worker.reads.num_rows,
        "dead_letters": len(worker.dead),
        "agree": agree,
        "rounds": rounds,
        "us_per_event": {k: round(v, 3) for k, v in us.items()},
        "events_per_s": {k: round(1e6 / v) for k, v in us.items()},
        "vs_per_event_decoder": {k: round(baseline / v, 2) for k, v in us.items()},
        "budget_us_at_250k": BUDGET_US,
    }
