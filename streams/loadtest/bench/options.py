"""What one bench run is asked to do (``platestream load bench``'s options) and where the checkout is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streams.errors import PlatestreamError

# streams/loadtest/bench/options.py -> the checkout (deploy/local/kafka.sh, docs/bench, git) when run from one
REPO = Path(__file__).resolve().parents[3]
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"
# the JSON bench's Quix Streams peer and the venv deploy/tools/quix.sh makes for it (its own confluent-kafka pin)
QUIX_PEER = REPO / "load_tests" / "quix_peer.py"
QUIX_SCRIPT = REPO / "deploy" / "tools" / "quix.sh"
QUIX_PYTHON = REPO / ".local" / "quix-venv" / "bin" / "python"


@dataclass
class BenchOptions:
    levels: list[float]  # offered reads/s, one per level
    step_seconds: float = 30.0
    workers: int = 1
    partitions: int | None = None  # default: 2 per worker
    bootstrap: str | None = None  # None: start deploy/local/kafka.sh
    batch: int = 50_000  # reads per generated table (as `platestream load run --batch`), split by partition
    probes_per_batch: int = 25  # hot-list reads stamped at send time, one per camera of their own
    lag_tolerance_s: float = 1.0
    clear_entries: int = 10_000
    clear_interval_s: float = 0.5
    baseline_reads: int = 200_000
    profile: bool = True
    stop_after_unsustained: int = 1
    seed: int = 7
    drain_timeout_s: float = 180.0
    out: Path = REPO / "docs" / "bench"
    name: str = "e2e"
    command: str = ""
    keep_logs: bool = False
    worker_env: dict[str, str] = field(default_factory=dict)  # more PLATESTREAM_* settings for the workers


def parse_ramp(spec: str) -> list[float]:
    """``START:STOP:STEP`` (reads/s, STOP included) -> the levels."""
    try:
        start, stop, step = (float(v.replace("_", "")) for v in spec.split(":"))
    except ValueError:
        raise PlatestreamError(f"--ramp {spec!r}: want START:STOP:STEP, e.g. 100000:1000000:100000") from None
    if start <= 0 or step <= 0 or stop < start:
        raise PlatestreamError(f"--ramp {spec!r}: want 0 < START <= STOP and STEP > 0")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    if n > 100:
        raise PlatestreamError(f"--ramp {spec!r} has {n} levels; at most 100")
    return [start + i * step for i in range(n)]
