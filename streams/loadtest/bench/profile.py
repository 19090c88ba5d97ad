"""A py-spy profile of one worker during the load, summarised as shares of wall time by thread, stage, function."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

PROFILE_RATE = 20  # samples per second: light enough to leave on during the whole load


def start_profile(pid: int, raw: Path) -> tuple[subprocess.Popen, float] | None:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        return None
    cmd = [pyspy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--nonblocking", "--threads"]
    cmd += ["--format", "raw", "--output", str(raw), "--duration", "3600"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), time.monotonic()


def stop_profile(spy: tuple[subprocess.Popen, float] | None, raw: Path) -> dict:
    if spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    proc, t0 = spy
    seconds = time.monotonic() - t0
    proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not raw.exists():
        return {"error": "py-spy wrote nothing (ptrace not allowed?)"}
    return profile_summary(raw, seconds)


# Stages of the worker as they show in its stacks; a name that changes only drops out of this table, the
# per-thread and self-time lists stay.
STAGE_MARKERS = {
    "decode (Arrow IPC read)": "decode_arrow",
    "decode (JSON events)": "decode_json",
    "camera partition check (reads.json)": "misplaced_",
    "piece plans (reads.json)": "_plans",
    "core (Processor.process)": "process (streams/core/pipeline.py",
    "sink: hits + dead letters to Kafka": "produce (streams/worker/delivery.py",
    "sink: ClickHouse aggregates": "write_aggregates",
    "sink: hit rows": "write_hits",
    "sink: read store (incl. pseudonyms)": "write_reads",
    "pseudonyms (keyed plate hashes)": "pseudonymised_reads",
    "Faust stream machinery": "faust/streams.py",
    "retention clock (tick)": "tick (streams/worker/worker.py",
    "Kafka consumer of verifications (aiokafka)": "aiokafka",
    "Kafka take of reads (confluent-kafka)": "_take (streams/worker/batch_input.py",
    "event loop waiting (select)": "select (selectors.py",
}


def profile_summary(raw: Path, seconds: float, top: int = 12) -> dict:
    """py-spy raw stacks (``--threads``) as shares of wall time: per thread (how busy each was), per stage
    (inclusive), per function (self). py-spy leaves out threads it sees idle, so shares below 1.0 are idle time."""
    by_thread: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    self_t: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[1] if ": " in frames[0] else "unnamed"
        name = "".join(c for c in thread if not c.isdigit()).rstrip("_ -") or thread
        unnamed = name == "unnamed" or name.startswith("Thread")  # Python's default names: Thread-N (target)
        by_thread["other threads (Faust, aiokafka)" if unnamed else name] += k
        self_t[frames[-1]] += k
        for label, needle in STAGE_MARKERS.items():
            if needle in stack:
                stages[label] += k
    possible = max(1.0, seconds * PROFILE_RATE)  # samples one always-busy thread would give

    def share(c: Counter[str], n: int | None = None) -> dict:
        return {k: round(v / possible, 3) for k, v in c.most_common(n)}

    return {
        "seconds": round(seconds, 1),
        "samples": total,
        "thread_busy_share": share(by_thread),
        "stage_share": share(stages),
        "self_share_top": share(self_t, top),
    }
