"""Processes, /proc and HTTP: how the bench starts, watches and talks to the workers it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streams.errors import PlatestreamError

CLI = [sys.executable, "-m", "streams.cli.app"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read()


def prom_sum(text: str, name: str, label: str = "") -> float:
    """Sum of every sample of ``name`` in a Prometheus text page (only samples whose labels contain ``label``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        if label and label not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(port: int, path: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PlatestreamError(f"process exited with {proc.returncode}; log {log}:\n{log.read_text()[-3000:]}")
        try:
            http_get(port, path, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise PlatestreamError(f"no answer on :{port}{path} within {timeout} s; log {log}")
