"""An embedded store another process holds: every command that needs it says so in one line and exits non-zero,
and a second worker on the same path refuses to start instead of crashing its agents."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HOLD = (
    "from streams.store.clickhouse import open_store\ns = open_store(None, {path!r})\nprint('open', flush=True)\n"
    "input()"
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "chdb"
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(path=str(path))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    yield path
    proc.communicate("\n", timeout=30)


@pytest.mark.parametrize("args", [["migrate"], ["retention", "deletions"], ["retention", "purge"], ["worker"]])
def test_a_store_in_use_is_one_sentence(held: Path, tmp_path: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    env.update(PLATESTREAM_CHDB_PATH=str(held), PLATESTREAM_KAFKA_BOOTSTRAP="127.0.0.1:1")
    done = subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"the embedded store at {held} is in use by another process" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
