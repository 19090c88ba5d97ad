"""Micro-benchmark of the core, both engines side by side, against a plain per-read Python baseline. Not a test.

    .venv/bin/python load_tests/bench_core.py            # what `make bench` runs
    .venv/bin/python load_tests/bench_core.py --reads 2000000 --baseline-reads 200000 --big-hotlist 0

What it does, in one process:

1. Pre-generates ``--reads`` synthetic reads (``streams.loadtest.synth.Synth``, default ``SynthConfig``) in batches of
   ``--batch`` rows, and the synthetic hot list admitted with the packaged policy. Generation is not timed.
2. Times ``Processor.process(...)`` + ``Processor.expire(now)`` per batch, for each engine: ``kernel`` (the compiled
   core, the default) and ``reference`` (the numpy implementation): validate, normalise, dedup, match (exact,
   candidate, confusable, region mismatch), hit rows, aggregates. ``now`` is the batch's latest event time, as in
   ``platestream run``. ``--repeat`` rounds, the engines taking turns within a round; the best round of each
   engine is reported (the machine is shared). The first round's outputs of the two engines must be equal
   (reads, duplicates, dead letters, hits by kind, exact and region-mismatch pairs, read counts per cell).
3. Times the same work again stage by stage: the kernel through ``Processor.stopwatch``, the reference by calling
   its core functions the way ``Processor.process`` does (``--no-stages`` skips both).
4. Runs a plain per-read Python baseline on the first ``--baseline-reads`` reads (str methods, dicts; exact and
   region-mismatch matching only) and checks it against both engines on the same reads with fresh Processors:
   dead letters, duplicates, exact hits, region-mismatch hits and read counts per (hour bucket, camera) must be
   equal, or the script prints MISMATCH and exits 1.
5. Unless ``--big-hotlist 0``: builds a hot list of N (default 1,000,000) random entries plus the synthetic
   ones, times both engines over all reads with it, and repeats the baseline and the checks with that list.
6. cProfile of ``process`` + ``expire`` (kernel) over the baseline's reads (``--no-profile`` skips it); compiled
   functions show as one frame each, which is why step 3 exists.

Results go to stdout and, as JSON, to ``--out`` (default ``out/bench/core.json``; the published figures in
docs/bench are written only when asked, with ``--out docs/bench/core.json``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.config.settings import load_policy, policy_lut
from streams.core import aggregate
from streams.core.dedup import Deduplicator
from streams.core.hotlist import HotList
from streams.core.match import ReadKeys, match
from streams.core.normalise import (
    MAX_PLATE_LEN,
    encode_plates,
    encode_regions,
    normalise_plates,
    normalise_regions,
    stable_codes,
    symbol_matrix,
)
from streams.core.pipeline import Processor, ProcessorConfig
from streams.core.policy import admit
from streams.core.stopwatch import Stopwatch
from streams.core.validate import row_reasons
from streams.loadtest.synth import REGIONS, Synth, SynthConfig
from streams.model.decoded import Decoded
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import HEARTBEAT_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("out/bench/core.json")  # the published figures take an explicit --out docs/bench/core.json
STAGES = ("normalise+encode", "validate", "dedup", "read keys (candidates)", "match", "aggregate", "expire")

# The separators ``normalise_plates`` removes (RE2 ``[\s\-\.·_/]``; RE2's \s is ASCII whitespace).
_SEP = str.maketrans("", "", " \t\n\f\r-._/·")


# -- data ------------------------------------------------------------------------------------------------


@dataclass
class Batch:
    table: pa.Table
    now_ms: int


def generate(synth: Synth, total: int, size: int) -> list[Batch]:
    """Exactly ``total`` reads in batches of about ``size``; ``now`` is each batch's latest plausible event time."""
    out: list[Batch] = []
    made = 0
    while made < total:
        t = synth.batch(size)
        t = t.slice(0, min(t.num_rows, total - made))
        ms = t["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        # The synthetic "broken camera" rows are years ahead: they must not set the clock.
        now = int(ms[ms <= int(synth.t_ms) + 60_000].max())
        out.append(Batch(t, now))
        made += t.num_rows
    return out


def subset(batches: list[Batch], n: int) -> list[Batch]:
    out: list[Batch] = []
    left = n
    for b in batches:
        if left <= 0:
            break
        out.append(Batch(b.table.slice(0, min(left, b.table.num_rows)), b.now_ms))
        left -= out[-1].table.num_rows
    return out


def _fixed_strings(chars: np.ndarray) -> pa.Array:
    """An (n, w) uint8 matrix of ASCII bytes -> n strings of w characters, from buffers."""
    n, w = chars.shape
    offsets = np.arange(0, n * w + 1, w, dtype=np.int32)
    data = np.ascontiguousarray(chars).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def random_hotlist(n: int, now_ms: int, seed: int = 11) -> pa.Table:
    """``n`` random entries that all pass the default policy: 7-character plates in the synthetic formats."""
    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("A"), ord("Z") + 1, size=(n, 4), dtype=np.uint8)
    digits = rng.integers(ord("0"), ord("9") + 1, size=(n, 4), dtype=np.uint8)
    chars = np.empty((n, 7), np.uint8)
    ca = rng.random(n) < 0.6
    chars[ca, 0], chars[ca, 1:4], chars[ca, 4:7] = digits[ca, 0], letters[ca, :3], digits[ca, 1:4]
    chars[~ca, 0:3], chars[~ca, 3:7] = letters[~ca, :3], digits[~ca, :4]
    reasons = np.array(["stolen_vehicle", "stolen_plate", "arrest_warrant", "felony_vehicle", "missing_person"])
    reason = reasons[rng.integers(0, len(reasons), n)]
    basis_type = np.where(np.isin(reason, ["arrest_warrant", "felony_vehicle"]), "warrant", "record_number")
    ts = pa.timestamp("ms", tz="UTC")
    return pa.table(
        {
            "entry_id": pa.array([f"BIG{i:08d}" for i in range(n)], pa.string()),
            "plate": _fixed_strings(chars),
            "region": pa.array(REGIONS[rng.integers(0, len(REGIONS), n)], pa.string()),
            "plate_type": pa.array(np.full(n, "PC"), pa.string()),
            "reason": pa.array(reason, pa.string()),
            "legal_basis_type": pa.array(basis_type, pa.string()),
            "legal_basis": pa.array(np.full(n, "REC0000000"), pa.string()),
            "agency": pa.array(np.full(n, "CA0000000"), pa.string()),
            "entered_by": pa.array(np.full(n, "import"), pa.string()),
            "source": pa.array(np.full(n, "bench_random"), pa.string()),
            "valid_from": pa.array(np.full(n, now_ms - 86_400_000), pa.int64()).cast(ts),
            "expires_at": pa.array(now_ms + rng.integers(1, 25, n) * 86_400_000, pa.int64()).cast(ts),
        },
        schema=ENTRY_SCHEMA,
    )


# -- the core --------------------------------------------------------------------------------------------


@dataclass
class CoreRun:
    reads_in: int = 0
    reads: int = 0  # good reads
    duplicates: int = 0
    dead: int = 0
    hits_by_kind: dict[str, int] = field(default_factory=dict)
    exact: set[tuple[str, str]] = field(default_factory=set)
    region_mismatch: set[tuple[str, str]] = field(default_factory=set)
    counts: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, r: Any, keep_pairs: bool) -> None:
        """Tally one BatchResult (outside the timed section)."""
        self.reads += r.reads
        self.duplicates += r.duplicates
        self.dead += len(r.dead)
        if r.hits.num_rows:
            for c in r.hits["match_kind"].value_counts().to_pylist():
                self.hits_by_kind[c["values"]] = self.hits_by_kind.get(c["values"], 0) + c["counts"]
        if not keep_pairs:
            return
        for kind, rid, eid in zip(
            r.hits["match_kind"].to_pylist(), r.hits["read_id"].to_pylist(), r.hits["entry_id"].to_pylist(), strict=True
        ):
            if kind == "exact":
                self.exact.add((rid, eid))
            elif kind == "region_mismatch":
                self.region_mismatch.add((rid, eid))
        rc = r.read_counts
        for w, cam, n, d in zip(
            (rc["window_start"].cast(pa.int64()).to_numpy() * 1000).tolist(),
            rc["camera_id"].to_pylist(),
            rc["reads"].to_pylist(),
            rc["duplicates"].to_pylist(),
            strict=True,
        ):
            c = self.counts.setdefault((w, cam), [0, 0])
            c[0] += n
            c[1] += d


def run_core(batches: list[Batch], make: Any, keep_pairs: bool = False) -> CoreRun:
    """``Processor.process`` + ``expire`` per batch; only those two calls are inside the timer."""
    proc = make()
    run = CoreRun()
    empty = HEARTBEAT_SCHEMA.empty_table()
    gc.collect()
    for b in batches:
        d = Decoded(b.table, empty)
        t0 = time.perf_counter()
        r = proc.process(d, b.now_ms, "bench")
        proc.expire(b.now_ms)
        run.seconds += time.perf_counter() - t0
        run.reads_in += b.table.num_rows
        run.add(r, keep_pairs)
    return run


def read_keys(
    reads: pa.Table,
    plate: pa.Array,
    plate_code: np.ndarray,
    region_code: np.ndarray,
    t_ms: np.ndarray,
    fresh: np.ndarray,
) -> ReadKeys:
    """What ``match`` needs of the fresh reads, best plate and camera candidates (as ``Processor`` builds it)."""
    sym, _ = symbol_matrix(plate.take(pa.array(fresh)), MAX_PLATE_LEN)
    cands = reads["candidates"].take(pa.array(fresh))
    cands = cands.combine_chunks() if isinstance(cands, pa.ChunkedArray) else cands
    lengths = pc.fill_null(pc.list_value_length(cands), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(cands)
    cand_read = np.zeros(0, np.int64)
    cand_rank = np.zeros(0, np.int16)
    cand_code = np.zeros(0, np.uint64)
    if len(flat):
        cand_code, cand_ok = encode_plates(normalise_plates(flat.field("plate")))
        cand_read = np.repeat(np.arange(len(fresh)), lengths)
        cand_rank = (np.arange(len(cand_read)) - np.repeat(np.cumsum(lengths) - lengths, lengths)).astype(np.int16)
        sel = cand_ok & (cand_code != plate_code[fresh][cand_read])
        cand_read, cand_rank, cand_code = cand_read[sel], cand_rank[sel], cand_code[sel]
    return ReadKeys(plate_code[fresh], sym, region_code[fresh], t_ms[fresh], cand_read, cand_rank, cand_code)


def run_stages(batches: list[Batch], hl: HotList, lut: np.ndarray, cfg: ProcessorConfig) -> CoreRun:
    """The core functions called one by one, in the order ``Processor.process`` calls them, each timed.

    Not timed here (they are in ``process``): dead-letter rows for bad reads, hit rows and the alert-per-passage
    rule, hit / dead-letter / camera-health aggregates. Hits are few, so these are small (see the profile).
    """
    run = CoreRun(stage_seconds=dict.fromkeys(STAGES, 0.0))
    st = run.stage_seconds
    dedup = Deduplicator(cfg.dedup_window_ms)
    keep_ms = min(cfg.dedup_window_ms, cfg.nonhit_state_ms)
    matches = 0
    gc.collect()
    for b in batches:
        now_ms = b.now_ms
        t0 = time.perf_counter()
        reads = b.table
        plate = normalise_plates(reads["plate"])
        region = normalise_regions(reads["region"])
        plate_code, plate_ok = encode_plates(plate)
        region_code, region_ok = encode_regions(region)
        empty_plate = pc.fill_null(pc.equal(pc.utf8_length(plate), 0), True).to_numpy(zero_copy_only=False)
        t1 = time.perf_counter()
        st["normalise+encode"] += t1 - t0

        reason = row_reasons(reads, plate_ok, empty_plate, region_ok, now_ms, cfg.limits)
        keep = reason == 0
        n_dead = int((~keep).sum())
        if n_dead:
            good = pa.array(keep)
            reads, plate, region = reads.filter(good), plate.filter(good), region.filter(good)
            plate_code, region_code = plate_code[keep], region_code[keep]
        t2 = time.perf_counter()
        st["validate"] += t2 - t1

        t_ms = reads["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        duplicate = dedup.observe(plate_code, region_code, stable_codes(reads["camera_id"]), t_ms)
        t3 = time.perf_counter()
        st["dedup"] += t3 - t2

        fresh = np.flatnonzero(~duplicate)
        rk = read_keys(reads, plate, plate_code, region_code, t_ms, fresh)
        t4 = time.perf_counter()
        st["read keys (candidates)"] += t4 - t3
        m = match(hl, rk, lut)
        t5 = time.perf_counter()
        st["match"] += t5 - t4

        window = aggregate.bucket(t_ms, cfg.bucket_ms)
        aggregate.read_counts(window, reads["camera_id"], reads["site_id"], duplicate)
        t6 = time.perf_counter()
        st["aggregate"] += t6 - t5

        dedup.expire(now_ms - keep_ms)
        t7 = time.perf_counter()
        st["expire"] += t7 - t6

        run.seconds += t7 - t0
        run.reads_in += b.table.num_rows
        run.reads += reads.num_rows
        run.duplicates += int(duplicate.sum())
        run.dead += n_dead
        matches += len(m)
    run.hits_by_kind["all"] = matches
    return run


# -- the baseline ----------------------------------------------------------------------------------------


@dataclass
class BaselineRun:
    reads_in: int = 0
    reads: int = 0
    duplicates: int = 0
    dead: int = 0
    exact: set[tuple[str, str]] = field(default_factory=set)
    region_mismatch: set[tuple[str, str]] = field(default_factory=set)
    counts: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    convert_seconds: float = 0.0
    hotlist_seconds: float = 0.0


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def baseline_hotlist(admitted: pa.Table) -> dict[str, list[tuple[str, str, int, int]]]:
    """plate -> [(entry_id, region, valid_from_ms, expires_ms)], normalised with str methods."""
    hot: dict[str, list[tuple[str, str, int, int]]] = {}
    cols = [
        admitted["entry_id"].to_pylist(),
        admitted["plate"].to_pylist(),
        admitted["region"].to_pylist(),
        admitted["valid_from"].cast(pa.int64()).to_pylist(),
        admitted["expires_at"].cast(pa.int64()).to_pylist(),
    ]
    for eid, plate, region, vf, ex in zip(*cols, strict=True):
        p = plate.upper().translate(_SEP)
        r = region.upper().strip().rpartition("-")[2] if region is not None else ""
        hot.setdefault(p, []).append((eid, r, _I64_MIN if vf is None else vf, _I64_MAX if ex is None else ex))
    return hot


def to_lists(table: pa.Table) -> tuple[list[Any], ...]:
    return (
        table["read_id"].to_pylist(),
        table["camera_id"].to_pylist(),
        table["captured_at"].cast(pa.int64()).to_pylist(),
        table["plate"].to_pylist(),
        table["region"].to_pylist(),
        table["confidence"].to_pylist(),
    )


def run_baseline(batches: list[Batch], admitted: pa.Table, cfg: ProcessorConfig) -> BaselineRun:
    """Per read, in plain Python: validate, normalise, dedup (dict), exact match (dict), count per bucket/camera."""
    run = BaselineRun()
    t0 = time.perf_counter()
    hot = baseline_hotlist(admitted)
    run.hotlist_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    columns = [(to_lists(b.table), b.now_ms) for b in batches]
    run.convert_seconds = time.perf_counter() - t0
    run.reads_in = sum(b.table.num_rows for b in batches)

    window, bucket = cfg.dedup_window_ms, cfg.bucket_ms
    keep_ms = min(cfg.dedup_window_ms, cfg.nonhit_state_ms)
    skew, max_age = cfg.limits.max_future_skew_ms, cfg.limits.max_age_ms
    last: dict[tuple[str, str, str], int] = {}
    counts = run.counts
    exact, mismatch = run.exact, run.region_mismatch
    good = dups = dead = 0
    gc.collect()
    t0 = time.perf_counter()
    for (ids, cams, times, plates, regions, confs), now in columns:
        hi, lo = now + skew, now - max_age
        for rid, cam, t, plate, region, conf in zip(ids, cams, times, plates, regions, confs):  # noqa: B905
            if not cam or t is None or t > hi or t < lo or plate is None:
                dead += 1
                continue
            p = plate.upper().translate(_SEP)
            if not p or len(p) > 12 or not (p.isascii() and p.isalnum()):
                dead += 1
                continue
            r = region.upper().strip().rpartition("-")[2] if region is not None else ""
            if len(r) > 3 or (r and not (r.isascii() and r.isalnum())):
                dead += 1
                continue
            c = 0.0 if conf is None else conf
            if not (0.0 <= c <= 100.0):  # NaN fails too
                dead += 1
                continue
            good += 1
            key = (p, r, cam)
            prev = last.get(key)
            if prev is None:
                dup = False
                last[key] = t
            else:
                dup = abs(t - prev) < window
                if t > prev:
                    last[key] = t
            ck = (t - t % bucket, cam)
            cnt = counts.get(ck)
            if cnt is None:
                counts[ck] = [1, 1 if dup else 0]
            else:
                cnt[0] += 1
                if dup:
                    cnt[1] += 1
            if dup:
                dups += 1
                continue
            entries = hot.get(p)
            if entries:
                for eid, er, vf, ex in entries:
                    if vf <= t < ex:
                        if not r or not er or r == er:
                            exact.add((rid, eid))
                        else:
                            mismatch.add((rid, eid))
        # retention, as Processor.expire: forget keys last seen before the cutoff
        cutoff = now - keep_ms
        last = {k: v for k, v in last.items() if v >= cutoff}
    run.seconds = time.perf_counter() - t0
    run.reads, run.duplicates, run.dead = good, dups, dead
    return run


def compare(core: CoreRun, base: BaselineRun) -> list[str]:
    problems = []
    for name in ("reads_in", "reads", "duplicates", "dead"):
        a, b = getattr(core, name), getattr(base, name)
        if a != b:
            problems.append(f"{name}: core {a:,} baseline {b:,}")
    for name in ("exact", "region_mismatch"):
        a, b = getattr(core, name), getattr(base, name)
        if a != b:
            problems.append(
                f"{name} hits: core {len(a):,} baseline {len(b):,} "
                f"(core only {sorted(a - b)[:3]}, baseline only {sorted(b - a)[:3]})"
            )
    if core.counts != base.counts:
        diff = [k for k in core.counts.keys() | base.counts.keys() if core.counts.get(k) != base.counts.get(k)]
        k = sorted(diff)[0]
        problems.append(
            f"read counts differ in {len(diff)} (bucket, camera) cells, e.g. {k}: "
            f"core {core.counts.get(k)} baseline {base.counts.get(k)}"
        )
    return problems


# -- report ----------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def profile_core(batches: list[Batch], make: Any, top: int = 15) -> dict[str, Any]:
    """cProfile of ``process`` + ``expire`` (fresh Processor): top functions by own time, and streams/ by total."""
    proc = make()
    empty = HEARTBEAT_SCHEMA.empty_table()
    prof = cProfile.Profile()
    for b in batches:
        d = Decoded(b.table, empty)
        prof.enable()
        proc.process(d, b.now_ms, "bench")
        proc.expire(b.now_ms)
        prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, func): (cc, nc, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values())

    def name(k: tuple[str, int, str]) -> str:
        f, line, fn = k
        if f == "~":
            return fn
        f = f.split("site-packages/")[-1] if "site-packages/" in f else os.path.relpath(f, ROOT)
        return f"{f}:{line}({fn})"

    def rows(keys: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "function": name(k),
                "calls": stats[k][1],
                "tottime": round(stats[k][2], 3),
                "cumtime": round(stats[k][3], 3),
                "share_of_total": round(stats[k][3] / total, 3) if total else None,
            }
            for k in keys
        ]

    by_own = sorted(stats, key=lambda k: -stats[k][2])[:top]
    ours = [k for k in stats if "/streams/" in k[0]]
    by_cum = sorted(ours, key=lambda k: -stats[k][3])[:top]
    return {"total_seconds": round(total, 3), "by_own_time": rows(by_own), "streams_by_cumulative": rows(by_cum)}


def print_profile(prof: dict[str, Any]) -> None:
    for title, key, col in (
        ("own time (tottime)", "by_own_time", "tottime"),
        ("streams/ functions, cumulative", "streams_by_cumulative", "cumtime"),
    ):
        print(f"\nprofile, {title}, of {prof['total_seconds']:.2f} s:")
        for r in prof[key][:12]:
            print(f"  {r[col]:7.2f} s  {r['calls']:>6}  {r['function']}")


def git_state() -> dict[str, Any]:
    """The commit, and which files under streams/ differ from it (what was measured is the working tree)."""

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "streams").splitlines()]
    return {"commit": git("rev-parse", "HEAD"), "streams_uncommitted": changed}


def row(stage: str, reads: int, seconds: float, base_rate: float | None, note: str = "") -> dict[str, Any]:
    rate = reads / seconds if seconds else 0.0
    return {
        "stage": stage,
        "reads": reads,
        "seconds": round(seconds, 3),
        "reads_per_s": round(rate),
        "ratio_vs_baseline": round(rate / base_rate, 1) if base_rate else None,
        "note": note,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    w = max(len(r["stage"]) for r in rows)
    print(f"\n{'stage':<{w}}  {'reads':>11}  {'seconds':>8}  {'reads/s':>11}  {'core/baseline':>13}")
    for r in rows:
        ratio = f"{r['ratio_vs_baseline']:.1f}x" if r["ratio_vs_baseline"] is not None else "-"
        print(f"{r['stage']:<{w}}  {r['reads']:>11,}  {r['seconds']:>8.2f}  {r['reads_per_s']:>11,}  {ratio:>13}")


ENGINES = ("kernel", "reference")
ENGINE_LABEL = {"kernel": "kernel (compiled, default)", "reference": "reference (numpy)"}


def compare_engines(a: CoreRun, b: CoreRun) -> list[str]:
    """Everything both engines report on the same reads must be equal."""
    problems = []
    for name in ("reads_in", "reads", "duplicates", "dead", "hits_by_kind", "exact", "region_mismatch", "counts"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            problems.append(f"{name}: kernel and reference differ")
    return problems


@dataclass
class Check:
    label: str
    base: BaselineRun
    cores: dict[str, CoreRun]
    problems: list[str]

    @property
    def base_rate(self) -> float:
        return self.base.reads_in / self.base.seconds

    def summary(self) -> dict[str, Any]:
        c = self.cores["kernel"]
        return {
            "hotlist": self.label,
            "reads": c.reads_in,
            "agree": not self.problems,
            "problems": self.problems,
            "engines_compared": list(self.cores),
            "good_reads": c.reads,
            "dead": c.dead,
            "duplicates": c.duplicates,
            "exact_hits": len(c.exact),
            "region_mismatch_hits": len(c.region_mismatch),
            "bucket_camera_cells": len(c.counts),
            "core_hits_not_compared": {k: v for k, v in c.hits_by_kind.items() if k in ("candidate", "confusable")},
            "baseline_reads_per_s": round(self.base_rate),
            "baseline_convert_seconds": round(self.base.convert_seconds, 3),
            "baseline_hotlist_dict_seconds": round(self.base.hotlist_seconds, 3),
        }


def baseline_check(label: str, sub: list[Batch], admitted: pa.Table, make: Any, cfg: ProcessorConfig) -> Check:
    """The baseline on ``sub``, then each engine on the same reads with a fresh Processor, and the comparisons."""
    n = sum(b.table.num_rows for b in sub)
    print(f"baseline: plain Python on the first {n:,} reads, {label} hot list ...", flush=True)
    base = run_baseline(sub, admitted, cfg)
    cores = {eng: run_core(sub, lambda e=eng: make(e), keep_pairs=True) for eng in ENGINES}
    problems = [f"{eng} vs baseline: {p}" for eng, core in cores.items() for p in compare(core, base)]
    problems += compare_engines(cores["kernel"], cores["reference"])
    chk = Check(label, base, cores, problems)
    core = cores["kernel"]
    print(
        f"  {chk.base_rate:,.0f} reads/s (conversion to Python lists {base.convert_seconds:.2f} s and hot-list dict"
        f" {base.hotlist_seconds:.2f} s not included)"
    )
    print(
        f"  check (fresh Processors): good reads {core.reads:,}, dead {core.dead:,}, duplicates {core.duplicates:,},"
        f" exact hits {len(core.exact):,}, region_mismatch hits {len(core.region_mismatch):,},"
        f" (bucket, camera) cells {len(core.counts):,}; the core also found"
        f" {core.hits_by_kind.get('candidate', 0):,} candidate and {core.hits_by_kind.get('confusable', 0):,}"
        " confusable hits (kernel = reference; not compared with the baseline, which does not look for them)"
    )
    for p in chk.problems:
        print(f"  MISMATCH: {p}")
    if not chk.problems:
        print("  kernel, reference and baseline agree")
    return chk


def timed_runs(batches: list[Batch], makers: dict[str, Any], repeat: int) -> dict[str, list[CoreRun]]:
    """``repeat`` rounds, the engines taking turns inside each round, so machine load hits both alike."""
    runs: dict[str, list[CoreRun]] = {eng: [] for eng in makers}
    for i in range(repeat):
        for eng, make in makers.items():
            r = run_core(batches, make, keep_pairs=i == 0)
            runs[eng].append(r)
            print(f"  round {i + 1}, {ENGINE_LABEL[eng]}: {r.reads_in / r.seconds:,.0f} reads/s", flush=True)
    return runs


def best(runs: list[CoreRun]) -> CoreRun:
    return min(runs, key=lambda r: r.seconds)


def kernel_stages(batches: list[Batch], make: Any) -> dict[str, float]:
    """The compiled path, stage by stage (``Processor.stopwatch``), over all batches."""
    proc = make()
    proc.stopwatch = Stopwatch()
    empty = HEARTBEAT_SCHEMA.empty_table()
    gc.collect()
    for b in batches:
        proc.process(Decoded(b.table, empty), b.now_ms, "bench")
        proc.expire(b.now_ms)
    return proc.stopwatch.seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reads", type=int, default=10_000_000, help="synthetic reads through the core")
    ap.add_argument("--baseline-reads", type=int, default=1_000_000, help="first N reads for baseline and check")
    ap.add_argument("--batch", type=int, default=500_000, help="rows per batch")
    ap.add_argument("--big-hotlist", type=int, default=1_000_000, help="random extra hot-list entries (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each engine; the best run is reported")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage passes")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile pass over the baseline subset")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = ap.parse_args(argv)
    base_n = min(args.baseline_reads, args.reads)

    wall0 = time.perf_counter()
    load_start = os.getloadavg()
    git_at_start = git_state()  # the code imported and measured is the working tree as it is now
    print(f"load average at start (1/5/15 min): {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    policy = load_policy()
    scfg = SynthConfig(seed=args.seed)
    synth = Synth(scfg)
    start = scfg.start_ms
    pcfg = ProcessorConfig(alert_kinds=policy.alert_kinds, low_confidence=policy.low_confidence)
    lut = policy_lut(policy)
    admission = admit(synth.hotlist(start), policy, start)
    hl = HotList.build(admission.admitted, lut)

    def make(engine: str = "kernel", h: HotList = hl) -> Processor:
        return Processor(h, replace(pcfg, engine=engine), lut)

    print(f"generating {args.reads:,} reads in batches of {args.batch:,} (not timed) ...", flush=True)
    t0 = time.perf_counter()
    batches = generate(synth, args.reads, args.batch)
    gen_s = time.perf_counter() - t0
    print(f"  {len(batches)} batches, {sum(b.table.nbytes for b in batches) / 1e9:.2f} GB, {gen_s:.1f} s")
    print(f"hot list: {len(hl):,} admitted, refused {admission.refused_by_rule()}")

    # warm-up (compiled kernels loaded or compiled, first calls into Arrow and numpy), not timed
    t0 = time.perf_counter()
    warm = subset(batches, min(args.batch, 100_000))
    for eng in ENGINES:
        run_core(warm, lambda e=eng: make(e))
    warm_s = time.perf_counter() - t0

    print(f"core: Processor.process + expire, {args.repeat} round(s) ...", flush=True)
    runs = timed_runs(batches, {eng: (lambda e=eng: make(e)) for eng in ENGINES}, args.repeat)
    core = {eng: best(rs) for eng, rs in runs.items()}
    engine_problems = compare_engines(runs["kernel"][0], runs["reference"][0])
    for p in engine_problems:
        print(f"  MISMATCH: {p}")
    print(f"  best: kernel {core['kernel'].reads_in / core['kernel'].seconds:,.0f} reads/s, reference"
          f" {core['reference'].reads_in / core['reference'].seconds:,.0f} reads/s; hits by kind"
          f" {core['kernel'].hits_by_kind}")  # fmt: skip

    stages = k_stages = None
    stage_warning = None
    if not args.no_stages:
        print("core, stage by stage (kernel, then reference) ...", flush=True)
        k_stages = kernel_stages(batches, make)
        stages = run_stages(batches, hl, lut, pcfg)
        ref = core["reference"]
        same = (stages.reads, stages.duplicates, stages.dead, stages.hits_by_kind["all"]) == (
            ref.reads,
            ref.duplicates,
            ref.dead,
            sum(ref.hits_by_kind.values()),
        )
        if not same:
            stage_warning = "the stage pass did not reproduce Processor.process counts: stage figures are suspect"
            print(f"  WARNING: {stage_warning}")

    sub = subset(batches, base_n)
    checks = [baseline_check("synthetic", sub, admission.admitted, make, pcfg)]

    big: dict[str, CoreRun] = {}
    big_info: dict[str, Any] = {}
    if args.big_hotlist > 0:
        print(f"big hot list: {args.big_hotlist:,} random entries + the synthetic ones ...", flush=True)
        t0 = time.perf_counter()
        entries = pa.concat_tables([synth.hotlist(start), random_hotlist(args.big_hotlist, start)])
        big_adm = admit(entries, policy, start)
        t1 = time.perf_counter()
        big_hl = HotList.build(big_adm.admitted, lut)
        t2 = time.perf_counter()
        big_info = {
            "entries": entries.num_rows,
            "admitted": len(big_hl),
            "admit_seconds": round(t1 - t0, 3),
            "build_seconds": round(t2 - t1, 3),
        }
        print(f"  admitted {len(big_hl):,} (admit {t1 - t0:.2f} s, HotList.build {t2 - t1:.2f} s)")
        big_runs = timed_runs(
            batches, {eng: (lambda e=eng: make(e, big_hl)) for eng in ENGINES}, max(1, min(args.repeat, 2))
        )
        big = {eng: best(rs) for eng, rs in big_runs.items()}
        engine_problems += [
            f"big hot list: {p}" for p in compare_engines(big_runs["kernel"][0], big_runs["reference"][0])
        ]
        checks.append(baseline_check("big", sub, big_adm.admitted, lambda e="kernel": make(e, big_hl), pcfg))
        del big_hl, entries, big_adm

    prof = None
    if not args.no_profile:
        print(
            f"cProfile of process+expire (kernel) over the first {base_n:,} reads, synthetic hot list ...", flush=True
        )
        prof = profile_core(sub, make)

    base_rate = checks[0].base_rate
    rows = []
    for eng in ENGINES:
        rows.append(
            row(
                f"core, {ENGINE_LABEL[eng]}: process+expire",
                core[eng].reads_in,
                core[eng].seconds,
                base_rate,
                f"synthetic hot list, {len(hl):,} entries; best of {len(runs[eng])}",
            )
        )
    if k_stages is not None:
        total = sum(k_stages.values())
        for s, sec in k_stages.items():
            rows.append(row(f"  kernel stage: {s}", core["kernel"].reads_in, sec, None))
        rows.append(row("  kernel stages total", core["kernel"].reads_in, total, base_rate))
    if stages is not None:
        for s in STAGES:
            rows.append(row(f"  reference stage: {s}", stages.reads_in, stages.stage_seconds[s], None))
        rows.append(row("  reference stages total (see note)", stages.reads_in, stages.seconds, base_rate))
    for eng, r in big.items():
        rows.append(
            row(
                f"core, {ENGINE_LABEL[eng]}, big hot list",
                r.reads_in,
                r.seconds,
                checks[1].base_rate,
                f"{big_info['admitted']:,} entries; best of {max(1, min(args.repeat, 2))}",
            )
        )
    for chk in checks:
        for eng, c in chk.cores.items():
            rows.append(
                row(
                    f"core, {eng}, on baseline subset, {chk.label} hot list",
                    c.reads_in,
                    c.seconds,
                    chk.base_rate,
                    "fresh Processor, same reads as the baseline; one run",
                )
            )
        rows.append(
            row(
                f"baseline: per-read Python, {chk.label} hot list",
                chk.base.reads_in,
                chk.base.seconds,
                chk.base_rate,
                "exact + region_mismatch only; no candidate/confusable matching, no hit rows",
            )
        )
        rows.append(row("  (not timed above) to_pylist conversion", chk.base.reads_in, chk.base.convert_seconds, None))
    print_table(rows)
    print(
        "\nratio = reads/s of the row / reads/s of the baseline on the same hot list."
        "\nbaseline scope: validate, normalise (str methods), dedup (dict), exact/region-mismatch match (dict),"
        "\n  read counts per (hour, camera). It does NOT do candidate or confusable matching, hit rows, or"
        "\n  hit/dead-letter aggregates, all of which the core does; the ratio flatters the baseline."
    )
    if prof is not None:
        print_profile(prof)
    agree = all(not c.problems for c in checks) and not engine_problems
    print("\nkernel, reference and baseline agree" if agree else "\nMISMATCH (see above)")

    result = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": str(Path.cwd()),
        "machine": machine(),
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "git": git_at_start,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "synth": {"config": repr(scfg), "generate_seconds": round(gen_s, 3), "batches": len(batches)},
        "warm_up_seconds": round(warm_s, 3),
        "hotlist": {"admitted": len(hl), "refused": admission.refused_by_rule()},
        "big_hotlist": big_info,
        "rows": rows,
        "rounds_reads_per_s": {eng: [round(r.reads_in / r.seconds) for r in rs] for eng, rs in runs.items()},
        "stage_note": "kernel stages: Processor.stopwatch laps inside the compiled path (a separate pass). Reference"
        " stages time the numpy core functions one by one (a separate pass over the same reads); they leave"
        " out dead-letter rows, hit rows, the alert-per-passage rule and the hit/dead-letter/camera aggregates",
        "stage_warning": stage_warning,
        "engine_problems": engine_problems,
        "core": {
            eng: {"good_reads": c.reads, "duplicates": c.duplicates, "dead": c.dead, "hits": c.hits_by_kind}
            for eng, c in core.items()
        },
        "big_core": {eng: {"hits": c.hits_by_kind} for eng, c in big.items()} or None,
        "baseline_scope": "validate, normalise, dedup, exact + region_mismatch match, read counts per (hour, camera);"
        " no candidate/confusable matching, no hit rows, no hit/dead-letter aggregates",
        "checks": [c.summary() for c in checks],
        "agree": agree,
        "profile": prof,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "wall_seconds": round(time.perf_counter() - wall0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out} (wall {result['wall_seconds']} s)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
