"""`platestream report` as a user runs it: a subprocess on a real chDB store; fixed periods only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streams.store.clickhouse import migrate, open_store
from tests.report.seed import plant


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "report", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_command_and_overlaps(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "chdb")
    migrate(store)
    plant(store)
    store.close()
    env = {
        **os.environ,
        "PLATESTREAM_CHDB_PATH": str(tmp_path / "chdb"),
        "PLATESTREAM_AUDIT_CHECKPOINT_DIR": str(tmp_path / "cp"),
        "PYTHONPATH": str(Path.cwd()),
    }
    done = _cli(["--period", "2026-07", "--out", str(tmp_path / "r" / "2026-07")], env, tmp_path)
    assert done.returncode == 0, done.stderr
    html = Path(done.stdout.strip())
    assert html.name == "report.html" and html.exists()
    assert json.loads((html.parent / "report.json").read_text())["period"]["from"] == "2026-07-01"
    assert (html.parent / "funnel.csv").exists()
    again = _cli(["--period", "2026-07", "--out", str(tmp_path / "r" / "2026-07")], env, tmp_path)
    assert again.returncode == 0, again.stderr  # the same period again: a corrected report
    overlap = _cli(["--period", "2026-Q3", "--out", str(tmp_path / "r" / "2026-Q3")], env, tmp_path)
    assert overlap.returncode == 2 and "overlaps" in overlap.stderr
    rolling = _cli(["--period", "last-30-days"], env, tmp_path)
    assert rolling.returncode == 2 and "not a fixed period" in rolling.stderr
    both = _cli(["--period", "2026-08", "--from", "2026-08-01", "--to", "2026-08-02"], env, tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
