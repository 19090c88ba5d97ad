"""`platestream hotlist add/clear` through the real API and broker: refusals by line, what the policy expects,
a clear of an id nobody added refused, a truncated snapshot held back before anything is sent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.helpers import PLATE, publishing_env, start_api
from tests.api.test_cli import cli, login
from tests.support.issuer import TokenIssuer

pytestmark = pytest.mark.integration


def test_add_reports_clear_refuses_unknown_and_snapshot_holds(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, issuer: TokenIssuer
) -> None:
    env, _ = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 90 * 86_400))  # beyond stolen_vehicle's 30 days
    extract = tmp_path / "extract.csv"
    extract.write_text(
        "plate,state,type,reason,record_number,expires_at\n"
        f"{PLATE},CA,PC,stolen_vehicle,NIC-1,{later}\n"
        "8XYZ999,NV,PC,stolen_vehicle,NIC-2,\n"
        "8XYZ998,NV,PC,stolen_vehicle,,\n"  # no record number: not sent
        "8XYZ997,NV,PC,gang_database,NIC-4,\n"
    )
    token_file = tmp_path / "token"
    server = start_api(env)
    try:
        login(server, token_file, issuer.token("adm", roles=["admin"]))
        added = cli(server, token_file, "hotlist", "add", str(extract), "--snapshot")
        assert added.returncode == 0, added.stderr
        out = added.stdout
        assert "line 4: not sent (no_record_number)" in out and "sent 3 entr" in out
        assert "2 admitted (1 with their expiry capped)" in out and "refused 1: reason_not_allowed" in out
        assert "the workers decide" in out and PLATE not in out

        unknown = cli(server, token_file, "hotlist", "clear", "HL9999999", "--reason", "recovered")
        assert unknown.returncode != 0 and "[unknown_entry]" in unknown.stderr and "Traceback" not in unknown.stderr
        known = cli(server, token_file, "hotlist", "clear", "ncic_extract:NIC-1", "--reason", "recovered")
        assert known.returncode == 0, known.stderr

        truncated = tmp_path / "truncated.csv"
        truncated.write_text("plate,state,type,reason,record_number\n8XYZ999,NV,PC,stolen_vehicle,NIC-2\n")
        held = cli(server, token_file, "hotlist", "add", str(truncated), "--snapshot")
        assert held.returncode != 0 and "[snapshot_shrunk]" in held.stderr and "--confirm-shrink" in held.stderr
        assert "sent " not in held.stdout  # nothing was published
        confirmed = cli(server, token_file, "hotlist", "add", str(truncated), "--snapshot", "--confirm-shrink")
        assert confirmed.returncode == 0 and "1 entries (last one: 3)" in confirmed.stdout, confirmed.stderr
    finally:
        server.stop()
