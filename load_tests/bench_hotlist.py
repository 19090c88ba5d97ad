"""Hot-list benchmark: match throughput against a 10-million-entry list, clear-propagation latency, memory.

    .venv/bin/python load_tests/bench_hotlist.py [--entries 10000000] [--clears 200] [--workers 2]
    .venv/bin/python load_tests/bench_hotlist.py --parts memory     # only the memory budget (about a minute)

Part 1 (in process): builds a list of ``--entries`` admitted entries and measures reads/s per core for
``match()`` alone and for the whole ``Processor.process`` (normalise + dedup + match + aggregate).
Part 2 (local stack): a real broker (deploy/local/kafka.sh), ``--workers`` real workers loading a
``--clear-entries`` list from CSV; publishes ``--clears`` clear events one by one and measures, for each, the
time from publishing to the moment every worker has applied it (its /health ``hotlist_offsets`` has passed the
event), after which no worker can match the entry.
Part 3 (memory, each measurement in a fresh process): resident memory per hot-list entry (``LiveHotList.load``
of ``--entries`` admitted entries, as a worker holds them, with the peaks while loading and while reloading the
same source) and per de-duplication state entry (``--dedup-reads``
distinct passages fed to a ``Deduplicator`` in batches of 500,000, all inside its window).
Writes out/bench/hotlist.json, or docs/bench/hotlist.json with --out (the parts run are replaced, the others
kept).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.core.hotlist import HotList  # noqa: E402
from streams.core.match import match  # noqa: E402
from streams.core.pipeline import Processor  # noqa: E402
from streams.loadtest.bench import random_entries  # noqa: E402
from streams.loadtest.synth import Synth, SynthConfig  # noqa: E402
from streams.model.decoded import Decoded  # noqa: E402
from streams.model.read import HEARTBEAT_SCHEMA  # noqa: E402


def entries_table(n: int, now: int, seed: int = 1) -> pa.Table:
    """``n`` admitted entries; two letters and five digits, a format the synthetic cameras never read, so only
    planted plates match."""
    return random_entries(n, now, prefix="HL", seed=seed)


def _rss_kb(key: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS


def _hotlist_memory(n: int) -> dict:
    """In a fresh process: RSS held by a worker's hot list of ``n`` entries (built from the entries table), its
    peak while loading, and its peak while reloading the same source (the old list held until the new one is
    built). The input table is not counted: it is made before each measurement starts."""
    from streams.config.settings import load_policy, policy_lut
    from streams.core.live_hotlist import LiveHotList

    now = int(time.time() * 1000)
    policy = load_policy()
    live = LiveHotList(policy, policy_lut(policy))
    gc.collect()
    base = _rss_kb()
    entries = entries_table(n, now)
    gc.collect()
    before = _rss_kb()
    _reset_peak()
    live.load(entries, now)
    peak = _rss_kb("VmHWM") - before
    del entries  # the worker's own copy of the input table is gone after loading; the list keeps what it needs
    gc.collect()
    pa.default_memory_pool().release_unused()  # the input table's memory, back to the system
    held = _rss_kb() - base
    arrays = live.main.nbytes()

    # a reload: a new extract of the same source replaces the list; the old one is held until the new is built
    entries = entries_table(n, now, seed=2)
    gc.collect()
    before_reload = _rss_kb()
    _reset_peak()
    live.load(entries, now)
    reload_peak = _rss_kb("VmHWM") - before_reload + held
    del entries
    gc.collect()
    pa.default_memory_pool().release_unused()
    held_after_reload = _rss_kb() - base
    return {
        "entries": len(live),
        "array_bytes_per_entry": round(arrays / n, 1),  # the list's own arrays; RSS adds allocator slack
        "held_mb": round(held / 1024),
        "peak_extra_while_loading_mb": round(peak / 1024),
        "peak_while_reloading_mb": round(reload_peak / 1024),
        "held_after_reload_mb": round(held_after_reload / 1024),
        "bytes_per_entry": round(held * 1024 / n),
        "peak_bytes_per_entry": round(peak * 1024 / n),
        "reload_peak_bytes_per_entry": round(reload_peak * 1024 / n),
    }


def _dedup_memory(n: int, window_s: float = 60.0) -> dict:
    """In a fresh process: RSS held by ``n`` distinct passages in the de-duplication state (none expired)."""
    from streams.core.dedup import Deduplicator

    d = Deduplicator(int(window_s * 1000))
    rng = np.random.default_rng(5)
    gc.collect()
    before = _rss_kb()
    _reset_peak()
    t0 = int(time.time() * 1000)
    for start in range(0, n, 500_000):
        k = min(500_000, n - start)
        plate = rng.integers(1, 2**62, k, dtype=np.uint64)  # distinct plates: every read is a new passage
        region = rng.integers(1, 60, k).astype(np.uint16)
        camera = rng.integers(1, 2**62, k, dtype=np.uint64)
        t = t0 + np.sort(rng.integers(0, int(window_s * 1000) // 2, k)).astype(np.int64)
        d.observe(plate, region, camera, t)
    gc.collect()
    held, peak = _rss_kb() - before, _rss_kb("VmHWM") - before
    arrays = sum(v.nbytes for v in vars(d).values() if isinstance(v, np.ndarray))
    return {
        "entries": len(d),
        "window_s": window_s,
        "array_bytes_per_entry": round(arrays / n, 1),  # the state's own arrays; RSS adds allocator slack
        "held_mb": round(held / 1024),
        "peak_extra_while_inserting_mb": round(peak / 1024),
        "bytes_per_entry": round(held * 1024 / n),
        "peak_bytes_per_entry": round(peak * 1024 / n),
    }


def _in_fresh_process(fn, *args):  # noqa: ANN001, ANN202
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def bench_memory(n_entries: int, n_dedup: int) -> dict:
    return {
        "hotlist": _in_fresh_process(_hotlist_memory, n_entries),
        "dedup_state": _in_fresh_process(_dedup_memory, n_dedup),
    }


def bench_match(n_entries: int, n_reads: int) -> dict:
    synth = Synth(SynthConfig(vehicles=500_000))
    now = synth.cfg.start_ms
    # the synthetic network's own hot list plus random entries up to ``n_entries``: real hits, a list of real size
    planted = synth.hotlist(now)
    entries = pa.concat_tables([planted, entries_table(n_entries - planted.num_rows, now)])
    t0 = time.perf_counter()
    hl = HotList.build(entries)
    build_s = time.perf_counter() - t0
    batches = [synth.batch(500_000) for _ in range(max(1, n_reads // 500_000))]
    reads = sum(b.num_rows for b in batches)

    # match() alone, on reads already normalised and packed (what the list lookup costs)
    proc = Processor(hl)
    keys = []
    for b in batches:
        from streams.core.normalise import encode_plates_sym, encode_regions, normalise_plates, normalise_regions

        plate = normalise_plates(b["plate"])
        code, _, sym, _ = encode_plates_sym(plate)
        rcode, _ = encode_regions(normalise_regions(b["region"]))
        t_ms = b["captured_at"].cast(pa.int64()).to_numpy()
        keys.append(proc._read_keys(b, sym, code, rcode, t_ms, np.arange(b.num_rows)))
    t0 = time.perf_counter()
    hits = sum(len(match(hl, rk)) for rk in keys)
    match_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for b in batches:
        proc.process(Decoded(b, HEARTBEAT_SCHEMA.empty_table()), int(b["captured_at"].cast(pa.int64())[-1].as_py()))
    full_s = time.perf_counter() - t0
    return {
        "entries": n_entries,
        "build_seconds": round(build_s, 2),
        "reads": reads,
        "match_only_reads_per_s": round(reads / match_s),
        "pipeline_reads_per_s": round(reads / full_s),
        "matches": hits,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
        return json.loads(r.read())


def bench_clear(n_entries: int, clears: int, workers: int) -> dict:
    from confluent_kafka import Producer

    tmp = Path(tempfile.mkdtemp(prefix="bench-hotlist-"))
    kafka = REPO / "deploy" / "local" / "kafka.sh"
    bootstrap = (
        subprocess.run([str(kafka), "start", str(tmp / "kafka")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    procs: list[subprocess.Popen] = []
    ok = False  # keep the logs of a failed run
    try:
        now = int(time.time() * 1000)
        csv = tmp / "hotlist.csv"
        t = entries_table(n_entries, now)
        for col in ("valid_from", "expires_at"):
            iso = pc.strftime(t[col].cast(pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%S")
            t = t.set_column(t.schema.get_field_index(col), col, iso)
        # the NCIC extract shape: state, record_number (the legal basis of a stolen-vehicle entry)
        t = t.drop_columns(["legal_basis_type"])
        names = {"region": "state", "legal_basis": "record_number"}
        pacsv.write_csv(t.rename_columns([names.get(c, c) for c in t.column_names]), csv)
        env = dict(
            os.environ,
            PLATESTREAM_KAFKA_BOOTSTRAP=bootstrap,
            PLATESTREAM_TOPIC_PREFIX="bench.",
            PLATESTREAM_PARTITIONS="2",
            PLATESTREAM_HOTLIST_PATH=str(csv),
        )
        cli = [sys.executable, "-m", "streams.cli.app"]
        subprocess.run([*cli, "topics", "create"], env=env, check=True, capture_output=True)
        ports = []
        for i in range(workers):
            port = _free_port()
            ports.append(port)
            wenv = dict(env, PLATESTREAM_WEB_PORT=str(port), PLATESTREAM_CHDB_PATH=str(tmp / f"w{i}" / "chdb"))
            procs.append(
                subprocess.Popen(
                    [*cli, "worker", "--loglevel", "warn"],
                    env=wenv,
                    stdout=open(tmp / f"w{i}.log", "w"),
                    stderr=subprocess.STDOUT,
                )
            )
        for port in ports:
            for _ in range(600):
                try:
                    if _health(port)["hotlist_entries"] == n_entries:
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            else:
                raise RuntimeError(f"worker on {port} did not load the list; see {tmp}")
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
        rng = np.random.default_rng(3)
        latencies = []
        for k in rng.choice(n_entries, clears, replace=False):
            entry_id = f"HL{k}"
            offsets: list[int] = []
            value = json.dumps(
                {
                    "op": "clear",
                    "entry_id": entry_id,
                    "reason": "recovered",
                    "by": "bench",
                    "at": int(time.time() * 1000),
                }
            ).encode()
            t0 = time.perf_counter()
            producer.produce(
                "bench.hotlist.events",
                value,
                key=entry_id.encode(),
                on_delivery=lambda err, msg, offsets=offsets: offsets.append(msg.offset()),
            )
            producer.flush(10)
            pending = set(ports)
            while pending:
                for port in list(pending):
                    if _health(port)["hotlist_offsets"]["0"] > offsets[0]:
                        pending.discard(port)
                if pending:
                    time.sleep(0.002)
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)
        final = [_health(p)["hotlist_entries"] for p in ports]
        lat = np.array(latencies) * 1000
        ok = True
        return {
            "entries": n_entries,
            "workers": workers,
            "clears": clears,
            "entries_after": final,
            "expected_after": n_entries - clears,
            "latency_ms": {
                q: round(float(np.percentile(lat, p)), 1)
                for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
            },
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([str(kafka), "stop", str(tmp / "kafka")], capture_output=True)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--reads", type=int, default=2_000_000)
    ap.add_argument("--clear-entries", type=int, default=1_000_000)
    ap.add_argument("--clears", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dedup-reads", type=int, default=10_000_000, help="distinct passages in the memory part")
    ap.add_argument("--parts", default="match,clear,memory", help="comma-separated: match, clear, memory")
    # the published figures take an explicit --out docs/bench/hotlist.json
    ap.add_argument("--out", type=Path, default=Path("out/bench/hotlist.json"))
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result["command" if parts == {"match", "clear", "memory"} else f"command_{'_'.join(sorted(parts))}"] = " ".join(
        ["python", "load_tests/bench_hotlist.py", *sys.argv[1:]]
    )
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    if parts & {"match", "clear"}:
        result["machine"] = machine
    if "match" in parts:
        result["match"] = bench_match(args.entries, args.reads)
        print(json.dumps(result["match"], indent=2), flush=True)
    if "clear" in parts:
        result["clear_propagation"] = bench_clear(args.clear_entries, args.clears, args.workers)
        print(json.dumps(result["clear_propagation"], indent=2))
        c = result["clear_propagation"]
        if any(n != c["expected_after"] for n in c["entries_after"]):
            print("MISMATCH: a worker still holds cleared entries", file=sys.stderr)
            sys.exit(1)
    if "memory" in parts:
        result["memory"] = {**bench_memory(args.entries, args.dedup_reads), "machine": machine}
        print(json.dumps(result["memory"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
