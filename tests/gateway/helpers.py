"""`platestream gateway serve` in a subprocess on a loopback port, over real HTTP, against the session broker."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from streams.gateway.tokens import new_token, token_line
from tests.conftest import free_port
from tests.integration.helpers import CLI, messages_to_end


@dataclass
class Gateway:
    proc: subprocess.Popen
    url: str
    log_path: str

    def output(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-4000:]

    def post(self, path: str, body: bytes, token: str | None = None, **headers: str) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        headers.setdefault("Content-Type", "application/json")
        return httpx.post(self.url + path, content=body, headers=headers, timeout=60)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tokens_file(folder: Path, grants: dict[str, list[str]]) -> tuple[Path, dict[str, str]]:
    """A tokens file granting each name its cameras; the tokens by name."""
    tokens = {name: new_token() for name in grants}
    path = folder / "gateway-tokens"
    path.write_text("".join(f"{token_line(tokens[n], cams)}  # {n}\n" for n, cams in grants.items()))
    return path, tokens


def start_gateway(env: dict[str, str], wait: float = 60) -> Gateway:
    port = free_port()
    env = dict(env, PLATESTREAM_GATEWAY_PORT=str(port))
    log = tempfile.NamedTemporaryFile(prefix="platestream-gateway-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([*CLI, "gateway", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    gw = Gateway(proc, f"http://127.0.0.1:{port}", log.name)
    deadline = time.monotonic() + wait
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited with {proc.returncode}:\n{gw.output()}")
        try:
            if httpx.get(gw.url + "/livez", timeout=2).status_code == 200:
                return gw
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            gw.stop()
            raise AssertionError(f"gateway did not answer /livez:\n{gw.output()}")
        time.sleep(0.1)


def messages(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes]]:
    """Every message of ``topic`` up to its current end, as (partition, key, value)."""
    return messages_to_end(bootstrap, topic)
