"""Shared fixtures. The Kafka broker is real: Apache Kafka from Maven Central, started by deploy/local/kafka.sh.

Integration tests never skip for a missing Java or Maven: they fail and say what to install.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings from the caller's environment: a test sees only the ones it sets."""
    for k in list(os.environ):
        if k.upper().startswith("PLATESTREAM_") or k.upper() == "CLICKHOUSE_URL":
            monkeypatch.delenv(k)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node KRaft broker for the whole session; its address as host:port."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"integration tests need {' and '.join(missing)}: install a Java 17+ JDK and Apache Maven "
            "(Debian: apt-get install openjdk-17-jdk-headless maven)",
            pytrace=False,
        )
    state = tmp_path_factory.mktemp("kafka")
    proc = subprocess.run([str(KAFKA_SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"local Kafka did not start:\n{proc.stderr[-4000:]}", pytrace=False)
    bootstrap = proc.stdout.strip().splitlines()[-1]
    try:
        yield bootstrap
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop", str(state)], capture_output=True, timeout=120)


@pytest.fixture
def topic_prefix() -> str:
    """Unique topic names per test, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def worker_env(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a `platestream` subprocess bound to this test's topics and its own embedded store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    env.update(
        PLATESTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap,
        PLATESTREAM_TOPIC_PREFIX=topic_prefix,
        PLATESTREAM_PARTITIONS="3",
        PLATESTREAM_CHDB_PATH=str(tmp_path / "chdb"),
        PLATESTREAM_WEB_PORT=str(free_port()),
    )
    return env
