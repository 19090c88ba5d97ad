"""`platestream replay`: recorded input through the embedded pipeline, the same core code as the workers.

Input files by suffix: ``.jsonl``/``.ndjson``/``.json`` (one event per line: alpr_group, heartbeat or the
project's read JSON, mixed), ``.arrow``/``.arrows``/``.ipc`` (Arrow IPC, file or stream format), ``.parquet``.
Event time comes from the reads, so a replay gives the same result every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streams.config.settings import Settings, load_policy, policy_lut
from streams.core.alerts import hit_payloads
from streams.core.hotlist import HotList
from streams.core.pipeline import Processor
from streams.core.policy import admit
from streams.ingest.decode import SchemaMismatch, conform, decode_json
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.limits import apply_limits
from streams.model import deadletter as dl
from streams.model.batch import Totals
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded, empty_reads
from streams.model.read import HEARTBEAT_SCHEMA

JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
ARROW_SUFFIXES = {".arrow", ".arrows", ".ipc"}
REPLAY_SUFFIXES = JSON_SUFFIXES | ARROW_SUFFIXES | {".parquet"}  # what `replay` reads (a folder: these files)
CHUNK = 20_000


@dataclass
class ReplayResult:
    summary: dict[str, object]
    out: Path


def _chunks(path: Path, max_bytes: int) -> Iterator[Decoded]:
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        with path.open("rb") as f:
            lines: list[bytes] = []
            origins: list[str] = []
            for no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                lines.append(line.rstrip(b"\r\n"))
                origins.append(f"{path.name}:{no}")
                if len(lines) >= CHUNK:
                    yield decode_json(lines, origins, max_bytes)
                    lines, origins = [], []
            if lines:
                yield decode_json(lines, origins, max_bytes)
    elif suffix in ARROW_SUFFIXES or suffix == ".parquet":
        try:
            if suffix == ".parquet":
                batches: Iterator[pa.RecordBatch] = pq.ParquetFile(path).iter_batches(batch_size=200_000)
            else:
                batches = _ipc_batches(path)
            for i, b in enumerate(batches):
                table = pa.Table.from_batches([b])
                try:
                    yield Decoded(
                        conform(table), HEARTBEAT_SCHEMA.empty_table(), [], [f"{path.name}#batch{i}"] * table.num_rows
                    )
                except SchemaMismatch as exc:
                    yield _dead(dl.WRONG_SCHEMA, str(exc), path, f"{path.name}#batch{i}")
        except (pa.ArrowInvalid, OSError) as exc:
            yield _dead(dl.UNDECODABLE, f"cannot read {suffix} file: {type(exc).__name__}", path, path.name)
    else:
        yield _dead(dl.UNDECODABLE, f"unknown input type {suffix!r}", path, path.name)


def _ipc_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Arrow IPC in either framing: the file format (``.arrow``, Feather v2) or the stream format."""
    source = pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_file(source)
    except pa.ArrowInvalid:
        source.seek(0)
        yield from pa.ipc.open_stream(source)
        return
    for i in range(reader.num_record_batches):
        yield reader.get_batch(i)


def _dead(reason: str, detail: str, path: Path, origin: str) -> Decoded:
    # The original bytes of a whole unreadable file: capped, the file itself stays where it is.
    original = path.read_bytes()[:1_000_000] if path.exists() else b""
    return Decoded(empty_reads(), HEARTBEAT_SCHEMA.empty_table(), [DeadLetter(reason, detail, original, origin)], [])


def _clock(d: Decoded, watermark: int | None) -> int:
    """Event-time 'now' for a chunk: the later of the watermark and the chunk's median capture time.

    The median keeps one absurd timestamp from moving the clock, so it is refused instead.
    """
    times = d.reads["captured_at"].cast(pa.int64()).drop_null().to_numpy(zero_copy_only=False)
    if len(d.heartbeats):
        beats = pc.drop_null(d.heartbeats["seen_at"].cast(pa.int64())).to_numpy(zero_copy_only=False)
        times = np.concatenate([times, beats])
    if len(times) == 0:
        return watermark or 0
    median = int(np.median(times))
    return median if watermark is None else max(watermark, median)


def replay(
    inputs: list[Path], settings: Settings, out: Path, hotlist: Path | None = None, policy_path: Path | None = None
) -> ReplayResult:
    policy = load_policy(policy_path or settings.policy_path)
    out.mkdir(parents=True, exist_ok=True)
    entries, pre_refused = read_hotlist_csv(hotlist) if hotlist else (None, None)
    totals = Totals()
    refused: dict[str, int] = {}
    if pre_refused is not None and pre_refused.num_rows:
        refused["bad_date"] = pre_refused.num_rows
    processor: Processor | None = None
    watermark: int | None = None
    limits = settings.input_limits()  # the same input limits as the workers (plate length, camera registry)
    with (out / "hits.jsonl").open("w") as hits_f, (out / "dead_letters.jsonl").open("w") as dead_f:
        for path in inputs:
            for d in _chunks(Path(path), settings.max_message_bytes):
                d = apply_limits(d, limits)
                now = _clock(d, watermark)
                if processor is None:
                    # The hot list is admitted as of the replay's first event time.
                    hl = HotList.empty()
                    if entries is not None:
                        adm = admit(entries, policy, now)
                        for k, v in adm.refused_by_rule().items():
                            refused[k] = refused.get(k, 0) + v
                        hl = HotList.build(adm.admitted, policy_lut(policy))
                    processor = Processor(hl, settings.processor_config(policy), policy_lut(policy))
                result = processor.process(d, now, source="replay")
                watermark = now
                totals.add(result)
                totals.expired += processor.expire(now)
                for h in hit_payloads(result.hits):
                    hits_f.write(json.dumps(h, separators=(",", ":")) + "\n")
                for dead in result.dead:
                    dead_f.write(json.dumps(dead.to_json(), separators=(",", ":")) + "\n")
    summary = {
        "reads": totals.reads,
        "heartbeats": totals.heartbeats,
        "duplicates": totals.duplicates,
        "hits": {
            "total": totals.hits,
            "alerts": totals.alerts,
            "by_match_kind": totals.hits_by_kind,
            "by_reason": totals.hits_by_reason,
        },
        "dead_letters": {"total": totals.dead_letters, "by_reason": totals.dead_by_reason},
        "hotlist_admitted": len(processor.hotlist) if processor else 0,
        "hotlist_refused": {"total": sum(refused.values()), "by_rule": refused},
        "expired": totals.expired,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return ReplayResult(summary, out)
