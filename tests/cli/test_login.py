"""`platestream login` and the CLI's token, against a real token issuer over HTTP (tests/support/issuer.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.issuer import TokenIssuer

SEARCH = ("search", "plate-history", "--process", "lp-1", "--reason", "r", "--plate", "7ABC123", "--from", "2026-01-01")


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    return TokenIssuer(tmp_path)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PLATESTREAM_TOKEN_FILE": str(tmp_path / "cfg" / "token"), "PLATESTREAM_API_URL": "http://127.0.0.1:9"}


def test_a_pasted_token_is_kept_mode_600_and_named_without_echoing_it(issuer, env, tmp_path) -> None:
    token = issuer.token("dana", "metro-pd", ("investigator",))
    done = cli(env, "login", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert "dana@metro-pd" in done.stdout and "investigator" in done.stdout and token not in done.stdout
    path = Path(env["PLATESTREAM_TOKEN_FILE"])
    assert path.read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_expired_or_malformed_token_is_refused_in_one_sentence(issuer, env) -> None:
    for given, says in ((issuer.token(expires_in=-60), "already expired"), ("not-a-token", "not a JWT")):
        done = cli(env, "login", stdin=given)
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr
    assert not Path(env["PLATESTREAM_TOKEN_FILE"]).exists()


def test_client_credentials_come_from_the_token_endpoint(issuer, env) -> None:
    issuer.add_client("ingest-svc", "s3cret", "metro-pd", ("admin",))
    with issuer.serve() as url:
        creds = {**env, "PLATESTREAM_AUTH_TOKEN_URL": f"{url}/token", "PLATESTREAM_AUTH_CLIENT_ID": "ingest-svc"}
        ok = cli({**creds, "PLATESTREAM_AUTH_CLIENT_SECRET": "s3cret"}, "login", "--client-credentials")
        assert ok.returncode == 0, ok.stderr
        assert "ingest-svc@metro-pd" in ok.stdout and "admin" in ok.stdout
        bad = cli({**creds, "PLATESTREAM_AUTH_CLIENT_SECRET": "wrong"}, "login", "--client-credentials")
        assert bad.returncode != 0 and "refused the client credentials (HTTP 401)" in bad.stderr


def test_commands_need_a_login_a_private_token_file_and_a_reachable_api(issuer, env) -> None:
    done = cli(env, *SEARCH)
    assert done.returncode != 0 and "not logged in: run `platestream login`" in done.stderr
    assert cli(env, "login", stdin=issuer.token()).returncode == 0
    path = Path(env["PLATESTREAM_TOKEN_FILE"])
    path.chmod(0o644)
    done = cli(env, *SEARCH)
    assert done.returncode != 0 and "readable by others" in done.stderr
    path.chmod(0o600)
    done = cli(env, *SEARCH)
    assert done.returncode != 0 and "cannot reach the API at http://127.0.0.1:9" in done.stderr
    assert "PLATESTREAM_API_URL" in done.stderr and "7ABC123" not in done.stderr and "Traceback" not in done.stderr
