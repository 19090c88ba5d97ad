"""Replay of recorded reads (Parquet, ``alpr_group`` JSON lines) to a sink at recorded speed, faster, or as fast
as possible (``platestream load replay``). Not the pipeline's own replay of files (``streams.run.replay``): this
one only paces input for live workers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streams.clock import now_ms
from streams.ingest.decode import SchemaMismatch, conform

JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
# A chunk of recorded JSON events: the line as it was, its camera and its event time (ms).
RAW_SCHEMA = pa.schema([("raw", pa.binary()), ("camera_id", pa.string()), ("captured_at", pa.int64())])
# Where each JSON event keeps its time (the first present wins), and what moves with it on --retime.
_TIME_KEYS = ("epoch_start", "captured_at", "timestamp", "epoch_time")
_ALSO_SHIFTED = ("epoch_end",)


class ReplayError(ValueError):
    """Inputs the replay cannot take (no files, mixed kinds, a Parquet file that is not reads)."""


def replay_inputs(paths: Iterable[str | Path]) -> tuple[str, list[list[Path]]]:
    """The kind of input (``parquet`` or ``json``) and its files in groups, in replay order.

    Folders are searched for ``*.parquet`` and JSON lines files. Parquet files in one folder are merged by
    ``captured_at`` (each file in time order, as ``load run --to parquet`` writes them); folders follow each other
    in name order, so ``hour=...`` partitions replay hour by hour. JSON lines files replay one after another.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in JSON_SUFFIXES | {".parquet"})
        elif p.exists():
            files.append(p)
        else:
            raise ReplayError(f"{p} does not exist")
    kinds = {"json" if f.suffix.lower() in JSON_SUFFIXES else "parquet" if f.suffix.lower() == ".parquet" else "?"
             for f in files}  # fmt: skip
    if not files:
        raise ReplayError("no .parquet or JSON lines files found")
    if "?" in kinds:
        raise ReplayError("inputs must be .parquet or JSON lines (.jsonl, .ndjson, .json)")
    if len(kinds) > 1:
        raise ReplayError("give Parquet or JSON lines inputs, not both")
    kind = kinds.pop()
    if kind == "json":
        return kind, [[f] for f in files]
    groups: dict[Path, list[Path]] = {}
    for f in files:
        groups.setdefault(f.parent, []).append(f)
    return kind, [sorted(groups[d]) for d in sorted(groups)]


def count_rows(kind: str, groups: list[list[Path]]) -> int | None:
    """Rows to replay when the files say so cheaply (Parquet footers); None for JSON lines."""
    if kind != "parquet":
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for g in groups for f in g)


def _conformed(batch: pa.RecordBatch, name: str) -> pa.Table:
    try:
        return conform(pa.Table.from_batches([batch]))
    except SchemaMismatch as exc:
        raise ReplayError(f"{name}: {exc}") from None


def _times(table: pa.Table) -> np.ndarray:
    t = table["captured_at"].cast(pa.int64())
    if t.null_count:
        raise ReplayError("a read without captured_at cannot be paced")
    return t.to_numpy()


def parquet_chunks(files: list[Path], batch: int) -> Iterator[pa.Table]:
    """Reads of several files merged by ``captured_at``, ``batch`` rows per file at a time (constant memory).

    Each round emits every buffered row up to the earliest "last time" among the files still being read, so a
    file in time order never needs more than one batch in memory."""
    readers = [(f.name, pq.ParquetFile(f).iter_batches(batch_size=batch)) for f in files]
    bufs: list[tuple[pa.Table, np.ndarray] | None] = [None] * len(readers)
    done = [False] * len(readers)
    while True:
        for i, (name, it) in enumerate(readers):
            while bufs[i] is None and not done[i]:
                b = next(it, None)
                if b is None:
                    done[i] = True
                elif b.num_rows:
                    t = _conformed(b, name)
                    bufs[i] = (t, _times(t))
        live = [i for i, b in enumerate(bufs) if b is not None]
        if not live:
            return
        open_ = [bufs[i][1].max() for i in live if not done[i]]
        bound = min(open_) if open_ else np.iinfo(np.int64).max
        parts, times = [], []
        for i in live:
            t, ts = bufs[i]
            take = ts <= bound
            if take.all():
                parts.append(t)
                times.append(ts)
                bufs[i] = None
            elif take.any():
                parts.append(t.filter(pa.array(take)))
                times.append(ts[take])
                bufs[i] = (t.filter(pa.array(~take)), ts[~take])
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        ts = np.concatenate(times)
        order = np.argsort(ts, kind="stable")
        yield table if len(parts) == 1 and (np.diff(ts) >= 0).all() else table.take(pa.array(order))


def _event_time(doc: Any) -> int | None:
    if not isinstance(doc, dict):
        return None
    for key in _TIME_KEYS:
        v = doc.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) < 2**62:
            return int(v)
    return None


def json_chunks(path: Path, lines_per_chunk: int = 20_000) -> Iterator[pa.Table]:
    """Recorded JSON events (``alpr_group``, heartbeats, the project's own reads), one per line, as RAW_SCHEMA
    chunks. Every line is kept as it was, even one that is not JSON: the pipeline dead-letters it, as it would
    from a camera. A line without a time goes with the line before it."""
    last: int | None = None

    def chunk(raws: list[bytes], cams: list[str | None], times: list[int | None]) -> pa.Table:
        return pa.Table.from_arrays([pa.array(raws, pa.binary()), pa.array(cams, pa.string()),
                                     pa.array(times, pa.int64())], schema=RAW_SCHEMA)  # fmt: skip

    raws: list[bytes] = []
    cams: list[str | None] = []
    times: list[int | None] = []
    with path.open("rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                doc = None
            t = _event_time(doc)
            if t is None:
                t = last  # None before the first timed line: it goes with that one
            last = t if t is not None else last
            cam = doc.get("camera_id") if isinstance(doc, dict) else None
            raws.append(line)
            cams.append(None if cam is None or isinstance(cam, dict | list) else str(cam)[:64])
            times.append(t)
            if len(raws) >= lines_per_chunk and last is not None:
                first = next(x for x in times if x is not None)
                yield chunk(raws, cams, [first if x is None else x for x in times])
                raws, cams, times = [], [], []
    if raws:
        if last is None:
            raise ReplayError(f"{path.name}: no line has a time ({', '.join(_TIME_KEYS)})")
        first = next(x for x in times if x is not None)
        yield chunk(raws, cams, [first if x is None else x for x in times])


def _retime_json(raw: bytes, shift_ms: int) -> bytes:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    if not isinstance(doc, dict) or _event_time(doc) is None:
        return raw
    for key in (*_TIME_KEYS, *_ALSO_SHIFTED):
        v = doc.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            doc[key] = int(v) + shift_ms
    return json.dumps(doc, separators=(",", ":")).encode()


def retimed(table: pa.Table, new_ms: np.ndarray) -> pa.Table:
    """The same reads (or JSON events) with their event time set to ``new_ms``."""
    old = _times(table)
    i = table.column_names.index("captured_at")
    field = table.schema.field(i)
    if "raw" in table.column_names:
        shifts = (new_ms - old).tolist()
        raws = [_retime_json(r, s) for r, s in zip(table["raw"].to_pylist(), shifts, strict=True)]
        table = table.set_column(0, "raw", pa.array(raws, pa.binary()))
        return table.set_column(i, field, pa.array(new_ms, pa.int64()))
    return table.set_column(i, field, pa.array(new_ms, pa.int64()).cast(field.type))


def _schedule(times: np.ndarray, clock_ms: int, sched: float, max_gap_ms: float) -> tuple[np.ndarray, int, float, int]:
    """Each read's place on the replay schedule (recorded ms since the first read), vectorised between jumps.

    The recording's clock is the latest ``captured_at`` so far; the schedule advances as it does. A read behind the
    clock (frames of one passage arrive interleaved) goes at the clock's time. A read more than ``max_gap_ms``
    ahead of or behind the clock is a jump: the schedule does not advance and the clock restarts there. Returns
    (places, clock, schedule, jumps)."""
    at = np.empty(len(times), np.float64)
    i, jumps, n = 0, 0, len(times)
    while i < n:  # one round per jump (rare)
        seg = times[i:]
        run = np.maximum.accumulate(np.concatenate([[clock_ms], seg]))
        off = np.abs(seg - run[:-1]) > max_gap_ms
        k = int(off.argmax()) if off.any() else len(seg)
        if k:
            at[i : i + k] = sched + np.cumsum(np.diff(run[: k + 1]))
            sched, clock_ms = float(at[i + k - 1]), int(run[k])
        if k < len(seg):
            at[i + k] = sched
            clock_ms = int(seg[k])
            jumps += 1
        i += k + 1
    return at, clock_ms, sched, jumps


def replay(
    chunks: Iterable[pa.Table],
    sink: Callable[[pa.Table], Any],
    *,
    speedup: float | None,
    retime: bool = False,
    max_gap_s: float = 600.0,
    max_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_ms: Callable[[], float] = now_ms,
) -> dict[str, Any]:
    """Send recorded reads paced by their ``captured_at``: a read ``d`` ms after the one before goes ``d / speedup``
    ms after it (``speedup=None``: as fast as the sink takes them). Two cases are not waited for: a read earlier
    than the one before (it goes at once: never back in time) and a jump of more than ``max_gap_s`` (a quiet night,
    or a camera whose clock is years ahead: the replay does not sleep through it).

    With ``retime`` each batch sent moves to the moment it is due, so a live worker sees current reads (as fast as
    possible: the schedule of the recorded speed, starting now); each read keeps its offset from its batch's median
    time, so clock errors in the recording stay errors (a read a day ahead is still a day ahead).

    Returns reads, messages/errors (from the sink's ``close()``), seconds, rate, the recording's span, the gaps not
    waited for, and how far behind its schedule the replay fell at worst (the sink or the machine was too slow)."""
    if speedup is not None and speedup <= 0:
        raise ValueError("speedup must be positive")
    max_gap_ms = max_gap_s * 1000.0
    sent = gaps = 0
    behind = 0.0
    t_first: int | None = None
    t_last = clock_ms = 0  # the recording's clock: the latest captured_at so far (reset by a jump)
    sched = 0.0  # ms of recorded time the schedule has advanced (jumps left out)
    start = wall0 = 0.0
    for table in chunks:
        n = table.num_rows
        if not n:
            continue
        times = _times(table)
        if t_first is None:
            t_first = t_last = clock_ms = int(times[0])
            start, wall0 = clock(), wall_ms()
        at, clock_ms, sched, jumps = _schedule(times, clock_ms, sched, max_gap_ms)
        gaps += jumps
        t_last = max(t_last, int(times.max()))
        due = at / 1000.0 / (speedup or 1.0)
        i = 0
        while i < n:
            if speedup is None:
                j = min(n, i + max_rows)
            else:
                now = clock() - start
                if due[i] > now:
                    sleep(due[i] - now)
                    continue
                behind = max(behind, now - due[i])
                j = min(int(np.searchsorted(due, now, side="right")), i + max_rows)
            part = table.slice(i, j - i)
            if retime:
                # Each read keeps its offset from its batch's time: the batch moves to now, a camera's bad clock
                # (a read a day ahead) stays as bad as it was.
                batch_times = times[i:j]
                base = int(np.median(batch_times))
                now_ms_ = int(round(wall0 + float(np.median(due[i:j])) * 1000.0))
                part = retimed(part, (batch_times - base + now_ms_).astype(np.int64))
            sink(part)
            sent += j - i
            i = j
            if progress is not None:
                progress(sent)
    close = getattr(sink, "close", None)
    stats = dict(close() or {}) if callable(close) else {}
    seconds = clock() - start if t_first is not None else 0.0
    return {
        "reads": sent,
        "seconds": seconds,
        "rate": sent / seconds if seconds > 0 else 0.0,
        "errors": int(stats.pop("errors", 0)),
        **stats,
        "recorded_seconds": (t_last - t_first) / 1000.0 if t_first is not None else 0.0,
        "gaps_not_waited": gaps,
        "max_behind_seconds": float(behind),
        "parameters": {"speedup": speedup, "retime": retime, "max_gap_s": max_gap_s, "max_rows": max_rows},
    }
