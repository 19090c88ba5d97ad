"""The local broker keeps its state across a stop and a start (as compose volumes do): the same address, its
topics still there; `kafka.sh reset` gives a fresh start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KAFKA_SCRIPT
from tests.integration.helpers import cli

pytestmark = pytest.mark.integration


def kafka(*args: str) -> str:
    done = subprocess.run([str(KAFKA_SCRIPT), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_stop_then_start_keeps_topics_and_address(tmp_path: Path) -> None:
    state = tmp_path / "kafka"
    first = kafka("start", str(state))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
        env.update(PLATESTREAM_KAFKA_BOOTSTRAP=first, PLATESTREAM_TOPIC_PREFIX="kept.")
        assert cli(env, "topics", "create").returncode == 0
        kafka("stop", str(state))
        again = kafka("start", str(state))
        assert again == first  # an exported PLATESTREAM_KAFKA_BOOTSTRAP stays right
        check = cli(env, "topics", "check")
        assert check.returncode == 0 and "match their declarations" in check.stdout, check.stdout + check.stderr
    finally:
        kafka("reset", str(state))
    assert not state.exists()
