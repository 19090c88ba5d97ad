"""The CLI's data commands through the real API: `platestream login`, then search, hold, verify and hotlist as the
logged-in principal. The CLI never names who acts; the API's answer, allowed or refused, is one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.config.secret_files import load_verifier
from tests.api.helpers import HIT_ID, PLATE, PROCESS_ID, ApiServer, publishing_env, start_api
from tests.api.test_publish_kafka import messages
from tests.support.issuer import TokenIssuer


def cli(server: ApiServer, token_file: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PLATESTREAM_API_URL": server.url, "PLATESTREAM_TOKEN_FILE": str(token_file)}
    env.pop("PLATESTREAM_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def login(server: ApiServer, token_file: Path, token: str) -> None:
    token_file.unlink(missing_ok=True)
    done = cli(server, token_file, "login", stdin=token)
    assert done.returncode == 0, done.stderr


def test_search_and_hold_list_as_the_logged_in_principal(api: ApiServer, issuer: TokenIssuer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    login(api, token_file, issuer.token("ivy", roles=["investigator"]))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86_400))
    done = cli(api, token_file, "search", "plate-history", "--process", PROCESS_ID, "--reason", "stolen vehicle 88",
               "--plate", PLATE, "--from", since)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.count('"read_id"') for line in done.stdout.splitlines()] == [1, 1]
    assert "2 read(s)" in done.stderr and PLATE not in done.stdout
    outside = cli(api, token_file, "search", "plate-history", "--process", PROCESS_ID, "--reason", "r",
                  "--plate", "8XYZ999", "--from", since)  # fmt: skip
    assert outside.returncode != 0 and "[outside_scope_plates]" in outside.stderr and "8XYZ999" not in outside.stderr
    refused = cli(api, token_file, "hold", "list")
    assert refused.returncode != 0
    assert (
        "HTTP 403" in refused.stderr
        and "[role_lacks_holds.read]" in refused.stderr
        and "Traceback" not in refused.stderr
    )

    login(api, token_file, issuer.token("sam", roles=["supervisor"]))
    listed = cli(api, token_file, "hold", "list")
    assert listed.returncode == 0 and '"hold_id": "hold-seeded"' in listed.stdout
    future = cli(api, token_file, "hold", "place", "--requested-by", "counsel", "--order-ref", "O-1", "--case", "C-1",
                 "--reason", "r", "--plate", PLATE, "--captured-to", "2099-01-01T00:00:00Z")  # fmt: skip
    assert future.returncode != 0 and "[capture_window_in_future]" in future.stderr


@pytest.mark.integration
def test_hotlist_verify_and_hold_commands_publish_signed_events(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, issuer: TokenIssuer
) -> None:
    env, public = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
    extract = tmp_path / "extract.csv"
    expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86_400))
    extract.write_text(
        "plate,state,type,reason,record_number,expires_at\n"
        f"{PLATE},CA,PC,stolen_vehicle,NIC-1,{expiry}\n8XYZ999,NV,PC,stolen_vehicle,NIC-2,{expiry}\n"
    )
    token_file = tmp_path / "token"
    server = start_api(env)
    try:
        login(server, token_file, issuer.token("adm", roles=["admin"]))
        added = cli(server, token_file, "hotlist", "add", str(extract))
        assert added.returncode == 0 and "sent 2 " in added.stdout, added.stderr
        assert (
            cli(server, token_file, "hotlist", "clear", "ncic_extract:NIC-1", "--reason", "recovered").returncode == 0
        )
        login(server, token_file, issuer.token("opal", roles=["operator"]))
        assert cli(server, token_file, "verify", HIT_ID, "--reject", "misread").returncode == 0
        login(server, token_file, issuer.token("rita", "county-so", ["records"]))
        placed = cli(server, token_file, "hold", "place", "--requested-by", "defence counsel", "--order-ref",
                     "subpoena 26-4", "--case", "CR-26", "--reason", "own location data", "--plate", PLATE)  # fmt: skip
        assert placed.returncode == 0, placed.stderr
    finally:
        server.stop()

    verifier = load_verifier(public)
    hotlist = [verifier.open(v) for _, v in messages(kafka_bootstrap, f"{topic_prefix}hotlist.events", 3)]
    assert [o.event["op"] for o in hotlist] == ["add", "add", "clear"]
    assert {o.principal.actor for o in hotlist} == {"adm@metro-pd"}
    assert hotlist[0].event["entry"]["entered_by"] == "adm@metro-pd" and "by" not in hotlist[2].event
    [(_, raw)] = messages(kafka_bootstrap, f"{topic_prefix}verifications", 1)
    verdict = verifier.open(raw)
    assert verdict.principal.actor == "opal@metro-pd" and verdict.event["disposition"] == "misread"
    [(key, raw)] = messages(kafka_bootstrap, f"{topic_prefix}holds", 1)
    hold = verifier.open(raw)
    assert key.decode() == placed.stdout.strip() and hold.principal.actor == "rita@county-so"
    assert hold.event["order_ref"] == "subpoena 26-4" and PLATE not in raw.decode()
