"""Hot-list benchmark: match throughput against a 10-million-entry list, and clear-propagation latency.

    .venv/bin/python load_tests/bench_hotlist.py [--entries 10000000] [--clears 200] [--workers 2]

Part 1 (in process): builds a list of ``--entries`` admitted entries and measures reads/s per core for
``match()`` alone and for the whole ``Processor.process`` (normalise + dedup + match + aggregate).
Part 2 (local stack): a real broker (deploy/local/kafka.sh), ``--workers`` real workers loading a
``--clear-entries`` list from CSV; publishes ``--clears`` clear events one by one and measures, for each, the
time from publishing to the moment every worker has applied it (its /health ``hotlist_offsets`` has passed the
event), after which no worker can match the entry. Writes docs/bench/hotlist.json.
"""

from __future__ import annotations

import argparse
import json
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

from streams.core.hotlist import ENTRY_SCHEMA, HotList  # noqa: E402
from streams.core.match import match  # noqa: E402
from streams.core.pipeline import Processor  # noqa: E402
from streams.ingest.decode import HEARTBEAT_SCHEMA, Decoded  # noqa: E402
from streams.synth import Synth, SynthConfig, _strings  # noqa: E402

DAY = 86_400_000


def entries_table(n: int, now: int, seed: int = 1) -> pa.Table:
    """``n`` distinct-ish CA-style plates with all policy fields filled."""
    rng = np.random.default_rng(seed)
    # two letters and five digits: a format the synthetic cameras never read, so only planted plates match
    sym = np.zeros((n, 12), np.uint8)
    sym[:, 0:2] = rng.integers(11, 37, (n, 2))
    sym[:, 2:7] = rng.integers(1, 11, (n, 5))
    ids = pa.array(np.char.add("HL", np.arange(n).astype(str)).astype(object), pa.string())
    const = lambda v: pa.array([v], pa.string()).take(pa.array(np.zeros(n, np.int32)))  # noqa: E731
    ts = lambda v: pa.array(np.full(n, v, np.int64)).cast(pa.timestamp("ms", tz="UTC"))  # noqa: E731
    return pa.table(
        {
            "entry_id": ids,
            "plate": _strings(sym),
            "region": const("CA"),
            "plate_type": const("PC"),
            "reason": const("stolen_vehicle"),
            "legal_basis_type": const("record_number"),
            "legal_basis": const("NCIC0000001"),
            "agency": const("CA0000000"),
            "entered_by": const("bench"),
            "source": const("ncic_extract"),
            "valid_from": ts(now - DAY),
            "expires_at": ts(now + 20 * DAY),
        },
        schema=ENTRY_SCHEMA,
    )


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
        cli = [sys.executable, "-m", "streams.cli"]
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
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "hotlist.json")
    args = ap.parse_args()
    result = {
        "command": " ".join(["python", "load_tests/bench_hotlist.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pyarrow": pa.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
        "match": bench_match(args.entries, args.reads),
    }
    print(json.dumps(result["match"], indent=2), flush=True)
    result["clear_propagation"] = bench_clear(args.clear_entries, args.clears, args.workers)
    print(json.dumps(result["clear_propagation"], indent=2))
    c = result["clear_propagation"]
    if any(n != c["expected_after"] for n in c["entries_after"]):
        print("MISMATCH: a worker still holds cleared entries", file=sys.stderr)
        sys.exit(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
