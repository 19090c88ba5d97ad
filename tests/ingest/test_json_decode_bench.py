"""The JSON decode bench (``load_tests/bench_json_decode.py``), small: every stage timed, and its agreement check
sees a bad event and a heartbeat where the per-event decoder does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streams.loadtest.bench.json_decode import decode_stages
from streams.loadtest.bench.json_path import make_events
from streams.loadtest.bench.options import BenchOptions

REPO = Path(__file__).resolve().parents[2]
STAGES = {"worker", "fast path", "typed msgspec", "untyped msgspec", "json.loads", "per-event decoder"}


def test_every_stage_is_timed_and_the_decoders_agree() -> None:
    payloads = [value for _key, value in make_events(BenchOptions(levels=[1.0]), 300)]
    payloads += [b"{not json", json.dumps({"data_type": "heartbeat", "camera_id": "cam-1", "epoch_time": 1}).encode()]
    res = decode_stages(payloads, rounds=1)
    assert res["agree"] is True
    assert res["events"] == 302 and res["dead_letters"] >= 1 and 290 < res["reads"] <= res["alpr_group_events"] <= 300
    assert set(res["us_per_event"]) == STAGES and all(v > 0 for v in res["us_per_event"].values())
    assert res["vs_per_event_decoder"]["per-event decoder"] == 1.0


def test_the_script_writes_its_figures_outside_docs(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "load_tests/bench_json_decode.py",
        "--events",
        "200",
        "--rounds",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "json-decode.json").read_text())
    assert res["events"] == 200 and res["agree"] and "load average" in proc.stdout
