"""The review scenario: a generated month of normal work by about 50 users with planted abuse. Every planted abuse
is flagged with exactly the records behind it, no normal user is flagged; precision and recall are printed
(``pytest -s``). Once more through a real chDB store and ``platestream audit review --json`` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.config.review_policy import load_review_policy
from streams.core.audit_log import FIELDS, GENESIS, AuditSigner, AuditVerifier, digest, link, verify_log
from streams.core.review import RULES, Flag, review
from streams.loadtest.abuse_scenario import Scenario, generate
from streams.model.audit import AuditEntry
from streams.store.audit import log_rows
from streams.store.clickhouse import ChdbStore, migrate, table_exists
from streams.store.sql import sql_literal, ts_sql

SEEDS = (1, 2, 3)

# The contract's legal_process table (issue #12), for a store whose migrations do not create it yet.
LEGAL_PROCESS_DDL = """
CREATE TABLE IF NOT EXISTS legal_process (
    process_id String, version UInt64, kind LowCardinality(String), number String, issuer String,
    case_number String, offence LowCardinality(String),
    plate_keys Array(Tuple(key_id String, plate_key UInt64)), cameras Array(String),
    centre_lat Nullable(Float64), centre_lon Nullable(Float64), radius_m Nullable(Float64),
    scope_from DateTime64(3, 'UTC'), scope_to DateTime64(3, 'UTC'), expires_at DateTime64(3, 'UTC'),
    registered_by String, agency String, registered_at DateTime64(3, 'UTC'),
    reviewed_by String, reviewed_at Nullable(DateTime64(3, 'UTC')), review_due DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(version) ORDER BY process_id
"""


def _files(sc: Scenario, folder: Path) -> tuple[Path, Path]:
    policy, sharing = folder / "review.yaml", folder / "sharing.yaml"
    policy.write_text(yaml.safe_dump(sc.policy, sort_keys=False))
    sharing.write_text(yaml.safe_dump({"agencies": [{"agency": a, "warrant_rules": True} for a in sc.sharing]}))
    return policy, sharing


def _found(flags: Iterable[Flag]) -> dict[tuple[str, str], frozenset[int]]:
    return {(f.rule, f.subject): frozenset(r.seq for r in f.records if r.seq is not None) for f in flags}


def _scores(found: set[tuple[str, str]], planted: set[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Precision and recall per rule (of the rules planted or flagged) and overall."""

    def pr(f: set, p: set) -> tuple[float, float]:
        return (len(f & p) / len(f) if f else 1.0), (len(f & p) / len(p) if p else 1.0)

    rules = [r for r in RULES if any(k[0] == r for k in found | planted)]
    out = {r: pr({k for k in found if k[0] == r}, {k for k in planted if k[0] == r}) for r in rules}
    out["overall"] = pr(found, planted)
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_abuse_is_flagged_and_no_normal_user(seed: int, tmp_path: Path) -> None:
    sc = generate(seed)
    policy = load_review_policy(_files(sc, tmp_path)[0])
    flags = review(sc.audit_rows, sc.process_rows, policy, sc.sharing, since_ms=sc.since_ms, until_ms=sc.until_ms)
    found = _found(flags)
    scores = _scores(set(found), set(sc.planted))
    users = {r["actor"] for r in sc.audit_rows}
    print(f"\nseed {seed}: {len(sc.audit_rows)} audit records, {len(users)} users, {len(sc.process_rows)} process rows")
    print(f"  {'rule':<24} {'planted':>7} {'flagged':>7} {'precision':>9} {'recall':>6}")
    for rule, (precision, recall) in scores.items():
        planted = sum(1 for k in sc.planted if rule in (k[0], "overall"))
        flagged = sum(1 for k in found if rule in (k[0], "overall"))
        print(f"  {rule:<24} {planted:>7} {flagged:>7} {precision:>9.2f} {recall:>6.2f}")
    assert 45 <= len(users) <= 65
    assert not [f.summary for f in flags if f.actor in sc.normal_users], "a normal user was flagged"
    assert all(scores[r] == (1.0, 1.0) for r in scores), scores
    for key, seqs in sc.planted.items():
        assert found[key] == seqs, f"{key}: the flag names other records than the planted ones"
    assert len(sc.planted) == 12  # every kind of abuse the scenario plants, each with its records


def test_deterministic_per_seed() -> None:
    a, b, c = generate(2), generate(2), generate(3)
    assert a.audit_rows == b.audit_rows and a.process_rows == b.process_rows and a.planted == b.planted
    assert a.audit_rows != c.audit_rows


SIGNER = AuditSigner(Ed25519PrivateKey.generate())


def _audit_table(rows: list[dict]) -> pa.Table:
    """The rows as audit_log would hold them: each signed by its writer and linked to the one before."""
    out, prev = [], GENESIS
    for r in rows:
        signed = SIGNER.sign_record(r["seq"], r["writer"], AuditEntry(**{f: r[f] for f in FIELDS}))
        h = link(prev, digest(signed))
        out.append({**{f: r[f] for f in FIELDS}, "writer": r["writer"], "seq": r["seq"], "prev_hash": prev,
                    "hash": h, "signed": signed.decode()})  # fmt: skip
        prev = h
    table = pa.Table.from_pylist(out)
    at = pa.array([r["at_ms"] for r in out], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    return table.drop_columns(["at_ms"]).append_column("at", at)


def _value(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return sql_literal(v)
    if isinstance(v, list):
        return "[" + ", ".join(f"({sql_literal(k)}, {int(h)})" if isinstance(k, str) else _value(k) for k, h in v) + "]"
    return repr(v)


def _insert_processes(store: ChdbStore, rows: list[dict]) -> None:
    times = ("scope_from", "scope_to", "expires_at", "registered_at", "reviewed_at", "review_due")
    columns = [c for c in rows[0] if c != "cameras"]
    values = []
    for r in rows:
        cells = [ts_sql(r[c]) if c in times and r[c] is not None else _value(r[c]) for c in columns]
        values.append(f"SELECT {', '.join(cells)}")
    store.command(f"INSERT INTO legal_process ({', '.join(columns)}) {' UNION ALL '.join(values)}")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_review_through_a_real_store_and_the_command(tmp_path: Path) -> None:
    sc = generate(SEEDS[0])
    store = ChdbStore(tmp_path / "chdb")
    try:
        migrate(store)
        if not table_exists(store, "legal_process"):
            store.command(LEGAL_PROCESS_DDL)
        store.insert_arrow("audit_log", _audit_table(sc.audit_rows))
        _insert_processes(store, sc.process_rows)
        assert verify_log(log_rows(store), AuditVerifier([SIGNER.private.public_key()])) == []
    finally:
        store.close()
    policy, sharing = _files(sc, tmp_path)
    env = {**os.environ, "PLATESTREAM_CHDB_PATH": str(tmp_path / "chdb")}
    args = [sys.executable, "-m", "streams.cli", "audit", "review", "--since", _iso(sc.since_ms),
            "--until", _iso(sc.until_ms), "--policy", str(policy), "--sharing", str(sharing)]  # fmt: skip
    done = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # 1: something was flagged
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    from_store = {(d["rule"], d["actor"] or d["agency"]): frozenset(r["seq"] for r in d["records"]) for d in lines}
    expected = review(sc.audit_rows, sc.process_rows, load_review_policy(policy), sc.sharing,
                      since_ms=sc.since_ms, until_ms=sc.until_ms)  # fmt: skip
    assert from_store == _found(expected) == dict(sc.planted)
    text = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 1 and f"{len(lines)} flag(s) over {len(sc.audit_rows)} audit record(s)" in text.stdout
