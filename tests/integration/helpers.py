"""Helpers for integration tests: a worker subprocess, its /health and /metrics, reading a topic to its end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer

CLI = [sys.executable, "-m", "streams.cli"]


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    health(env, proc, wait=90)
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def health(env: dict[str, str], proc: subprocess.Popen | None = None, wait: float = 0) -> dict:
    port = env["PLATESTREAM_WEB_PORT"]
    deadline = time.monotonic() + wait
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{proc.stdout.read()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("worker /health did not answer") from None
            time.sleep(0.3)


def wait_for(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def metric(env: dict[str, str], name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{env['PLATESTREAM_WEB_PORT']}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        if labels and labels not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


class TopicReader:
    """Reads a topic from the beginning; ``read(want)`` returns all JSON values seen so far once ``want`` arrived."""

    def __init__(self, bootstrap: str, topic: str):
        self.c = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
        self.c.subscribe([topic])
        self.seen: list[dict] = []

    def read(self, want: int, timeout: float = 60, settle: float = 1.5) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < want and time.monotonic() < deadline:
            self._poll(0.3)
        end = time.monotonic() + settle  # a little longer, to catch anything beyond what was expected
        while time.monotonic() < end:
            self._poll(0.1)
        return list(self.seen)

    def _poll(self, t: float) -> None:
        m = self.c.poll(t)
        if m is not None and not m.error():
            self.seen.append(json.loads(m.value()))

    def close(self) -> None:
        self.c.close()
