"""A Kafka-facing command with no broker behind its address: one sentence naming the address and the setting,
within a bounded wait, and never a success message."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest


def test_produce_without_a_broker_fails_in_one_sentence_in_bounded_time() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    env["PLATESTREAM_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"  # nothing listens there
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streams.cli", "produce", "--reads", "2000", "--batch", "2000"],
                          env=env, capture_output=True, text=True, timeout=90)  # fmt: skip
    assert done.returncode == 2 and time.monotonic() - t0 < 60
    assert "not delivered to Kafka at 127.0.0.1:1: check PLATESTREAM_KAFKA_BOOTSTRAP" in done.stderr
    assert "sent" not in done.stdout and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # librdkafka's own retries stay quiet


@pytest.mark.parametrize(
    "command",
    [["load", "run", "--count", "10"], ["load", "replay", "tests/fixtures/replay"], ["dlq", "list"],
     ["topics", "create"], ["topics", "check"]],
    ids=["load-run", "load-replay", "dlq-list", "topics-create", "topics-check"],
)  # fmt: skip
def test_other_kafka_commands_without_a_broker_fail_in_one_sentence(command: list[str], tmp_path) -> None:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    env["PLATESTREAM_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    if command[:2] == ["load", "replay"]:
        (tmp_path / "reads.jsonl").write_text("")
        command = [*command[:2], str(tmp_path)]
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streams.cli", *command], env=env, capture_output=True, text=True,
                          timeout=90)  # fmt: skip
    assert done.returncode == 2 and time.monotonic() - t0 < 45, done.stderr[-500:]
    assert done.stderr.strip().splitlines() == [
        "error: cannot reach Kafka at 127.0.0.1:1 (Local: Broker transport failure): "
        "check PLATESTREAM_KAFKA_BOOTSTRAP and that the broker is up"
    ]
