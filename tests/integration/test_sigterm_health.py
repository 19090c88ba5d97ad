"""A worker's probes, on a real worker subprocess: ``/livez`` answers while it starts (the start-up work runs off
the event loop), ``/readyz`` is 503 until the hot list has caught up and then says which check fails when the
store fails, and goes back to 200 when it recovers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.helpers import CLI, cli, fault_env, hot_entries, wait_for
from tests.integration.test_sigterm import sigterm

pytestmark = pytest.mark.integration


def get(env: dict[str, str], path: str) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env['PLATESTREAM_WEB_PORT']}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return None


def test_livez_during_start_up_and_readyz_checks(worker_env, tmp_path):
    fault = tmp_path / "store-down"
    env = fault_env(worker_env, tmp_path, hot_entries(3), PLATESTREAM_STORE_FAULT_FILE=str(fault))
    assert cli(env, "topics", "create").returncode == 0
    proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen = []  # (livez status, readyz status and doc) from the first answer on
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None
            live, ready = get(env, "/livez"), get(env, "/readyz")
            if live is not None and ready is not None:
                seen.append((live[0], ready))
                if ready[0] == 200:
                    break
            time.sleep(0.05)
        assert seen and seen[-1][1][0] == 200, seen[-3:]
        starting = [r for live, r in seen if live == 200 and r == (503, {"status": "starting"})]
        assert starting, f"no /livez answer while the worker was starting: {seen[:3]}"
        doc = seen[-1][1][1]
        assert doc["checks"] == {"hotlist": "caught_up", "broker": "reachable", "store": "reachable"}
        assert doc["hotlist_entries"] == 3

        fault.touch()  # every store call fails from now on
        wait_for(lambda: get(env, "/readyz")[0] == 503, 30, "/readyz to report the store")
        status, doc = get(env, "/readyz")
        assert doc["checks"]["store"] in ("unreachable", "failing") and doc["checks"]["broker"] == "reachable"
        assert get(env, "/livez")[0] == 200
        fault.unlink()
        wait_for(lambda: get(env, "/readyz")[0] == 200, 30, "/readyz to recover")
    finally:
        code, _ = sigterm(proc)
    assert code == 0
