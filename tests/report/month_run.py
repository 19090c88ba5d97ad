"""The three processes of the month test, one after another on one embedded store: the worker phase
(tests/report/month_worker.py), the API phase (tests/report/month_requests.py against tests/report/shifted_api.py)
and `platestream report` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.resources import policy_file
from tests.api.helpers import PLATE_KEYS, ApiServer, base_env, start_api
from tests.report.month_plan import AREAS, DAY, HOUR, REGISTRY, Plan
from tests.report.month_requests import Counted, Requests
from tests.support.control import control_keys
from tests.support.issuer import TokenIssuer

RETENTION = """source: the month test's policy (hit reads and hits kept 90 days)
non_hit_reads: 300
hit_reads: 7776000
hits: 7776000
verifications: 31536000
aggregates: 34560000
audit: 63072000
"""
VERIFY_WITHIN_S = 300


@dataclass
class Month:
    """What the phases made: the files the settings name, the hits the worker made, the API's ledger, the report."""

    root: Path
    outcome_within_days: int
    hits: dict[str, dict[str, Any]]
    ledger: list[Counted]
    api_at_ms: int
    report_now_ms: tuple[int, int]  # the wall clock just before and just after the report ran
    out: Path


def files(root: Path, plan: Plan, outcome_within_days: int) -> dict[str, str]:
    """The registry, areas, hot list, policies and keys; the settings (as PLATESTREAM_* names) that name them."""
    (root / "cameras.csv").write_text(REGISTRY)
    (root / "areas.csv").write_text(AREAS)
    (root / "hotlist.csv").write_text(plan.hotlist_csv())
    admission = policy_file("default.yaml").read_text()
    (root / "admission.yaml").write_text(admission.replace("source_max_age_hours: 24", "source_max_age_hours: 2000"))
    (root / "retention.yaml").write_text(RETENTION)
    (root / "hit_review.yaml").write_text(
        f"verify_within_seconds: {VERIFY_WITHIN_S}\noutcome_within_days: {outcome_within_days}\n"
    )
    _, public, _ = control_keys(root)
    return {
        "chdb_path": str(root / "chdb"),
        "plate_keys": PLATE_KEYS,
        "camera_registry_path": str(root / "cameras.csv"),
        "areas_path": str(root / "areas.csv"),
        "retention": str(root / "retention.yaml"),
        "hit_review_path": str(root / "hit_review.yaml"),
        "audit_signing_key_file": str(root / "audit.key"),
        "audit_checkpoint_dir": str(root / "checkpoints"),
        "control_keys_file": str(public),
    }


def worker_phase(root: Path, plan: Plan, settings: dict[str, str]) -> dict[str, dict[str, Any]]:
    worker_settings = {
        **settings,
        "topic_prefix": "t.",
        "hotlist_path": str(root / "hotlist.csv"),
        "policy_path": str(root / "admission.yaml"),
        "purge": False,  # the purge's counts would race the engine's own TTL on rows stamped weeks ago
    }
    (root / "worker.json").write_text(json.dumps(worker_settings))
    (root / "steps.json").write_text(json.dumps({"steps": plan.steps(), "clock_start_ms": plan.start_ms - DAY - HOUR}))
    done = subprocess.run(
        [sys.executable, "-m", "tests.report.month_worker", str(root / "steps.json"), str(root / "worker.json"),
         str(root / "worker-out.json")],
        capture_output=True, text=True, timeout=300, env=_env(settings),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((root / "worker-out.json").read_text())["hits"]


def api_phase(
    root: Path, issuer: TokenIssuer, settings: dict[str, str], at_ms: int, hit_id: str, hit_camera: str
) -> list[Counted]:
    env = base_env(root, issuer, PLATESTREAM_API_RATE_PER_MINUTE="100000", MONTH_TEST_API_AT_MS=str(at_ms))
    env.update({f"PLATESTREAM_{k.upper()}": v for k, v in settings.items()})
    api = _start_shifted(env)
    try:
        requests = Requests(api, issuer, at_ms + 5_000)
        requests.run(hit_id, hit_camera)
    finally:
        api.stop()
    return requests.ledger


def _start_shifted(env: dict[str, str]) -> ApiServer:
    import tests.api.helpers as helpers  # noqa: PLC0415 - start_api runs helpers.CLI: run the shifted server instead

    cli, helpers.CLI = helpers.CLI, [sys.executable, "-m", "tests.report.shifted_api"]
    try:
        return start_api(env)
    finally:
        helpers.CLI = cli


def report_phase(root: Path, settings: dict[str, str], period: str) -> tuple[Path, tuple[int, int]]:
    out = root / "reports" / period
    before = time.time_ns() // 1_000_000
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "report", "--period", period, "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=_env(settings), cwd=root,
    )  # fmt: skip
    after = time.time_ns() // 1_000_000
    assert done.returncode == 0, done.stderr[-4000:]
    assert Path(done.stdout.strip()) == out / "report.html"
    return out, (before, after)


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = base_env(Path(settings["chdb_path"]).parent, None)
    env.update({f"PLATESTREAM_{k.upper()}": v for k, v in settings.items()})
    env["PYTHONPATH"] = str(Path.cwd())
    return env
