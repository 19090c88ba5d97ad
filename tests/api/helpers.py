"""Helpers of the API tests: `platestream api` in a subprocess on a loopback port, over real HTTP, trusting a real
token issuer (tests/support/issuer.py), over an embedded store the test fills before the server opens it; and the
audit records a server wrote since a point."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pyarrow as pa

from streams.config.retention import load_retention
from streams.config.settings import Settings
from streams.core.normalise import encode_plates, normalise_plates
from streams.core.pseudonym import PlateKeys
from streams.model.batch import HIT_SCHEMA, STORED_READ_SCHEMA
from streams.model.hold import Hold
from streams.model.search import ProcessRecord
from streams.store.audit import configure as configure_audit
from streams.store.clickhouse import Store, migrate, open_store
from streams.store.hits import write_hits
from streams.store.holds import place_hold
from streams.store.process import register_process
from streams.store.reads import write_reads
from streams.store.search import plate_pseudonyms
from tests.conftest import free_port
from tests.support.control import control_keys
from tests.support.issuer import TokenIssuer

PLATE_KEYS = "k1:000102030405060708090a0b0c0d0e0f"
PLATE = "7ABC123"
HIT_ID = "hit-0001"
DOUBTFUL_HIT_ID = "hit-0002"
HOLD_ID = "hold-seeded"
PROCESS_ID = "lp-5eed00000001"  # a warrant for PLATE, of metro-pd
EXCEPTION_ID = "lp-5eed00000002"  # an emergency record of metro-pd, registered by someone no test acts as
CLI = [sys.executable, "-m", "streams.cli.app"]


def base_env(tmp: Path, issuer: TokenIssuer | None, **extra: str) -> dict[str, str]:
    """A server's environment: nothing from the caller's PLATESTREAM_* settings, its own store and port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    env.update(
        PLATESTREAM_CHDB_PATH=str(tmp / "chdb"),
        PLATESTREAM_PLATE_KEYS=PLATE_KEYS,
        PLATESTREAM_API_PORT=str(free_port()),
        PLATESTREAM_KAFKA_BOOTSTRAP="127.0.0.1:1",  # nothing listens: a publish would fail
        PLATESTREAM_AUDIT_SIGNING_KEY_FILE=str(tmp / "audit.key"),
        PLATESTREAM_AUDIT_CHECKPOINT_DIR=str(tmp / "checkpoints"),
        **(issuer.env() if issuer else {}),
    )
    env.update(extra)
    return env


def publishing_env(tmp: Path, issuer: TokenIssuer, bootstrap: str, prefix: str) -> tuple[dict[str, str], Path]:
    """(environment, public control key) of an API that signs and publishes to the test's topics on the real
    broker, over a seeded store; the topics are created."""
    private, public, _ = control_keys(tmp)
    env = base_env(
        tmp,
        issuer,
        PLATESTREAM_KAFKA_BOOTSTRAP=bootstrap,
        PLATESTREAM_TOPIC_PREFIX=prefix,
        PLATESTREAM_PARTITIONS="1",
        PLATESTREAM_CONTROL_SIGNING_KEY_FILE=str(private),
    )
    done = subprocess.run([*CLI, "topics", "create"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seed(tmp / "chdb")
    return env, public


def seed(chdb_path: Path, retention: str = "default") -> None:
    """Reads of PLATE, one hit, one hold (placed before holds had an agency column), a warrant covering PLATE and an
    unreviewed exception in a fresh store, kept as ``retention`` says (a policy name or file). Its audit records
    are signed with the key the server will use."""
    configure_audit(Settings(audit_signing_key_file=chdb_path.parent / "audit.key").audit_signer())
    now = int(time.time() * 1000)
    keys = PlateKeys.parse(PLATE_KEYS)
    codes, ok = encode_plates(normalise_plates(pa.array([PLATE, PLATE, "8XYZ999"])))
    assert ok.all()
    stored = pa.table(
        {
            "read_id": ["r1", "r2", "r3"],
            "captured_at": pa.array([now - 60_000, now - 30_000, now - 20_000], pa.timestamp("ms", tz="UTC")),
            "camera_id": ["cam-1", "cam-2", "cam-1"],
            "site_id": ["s1", "s2", "s1"],
            "region": ["CA", "CA", "CA"],
            "plate_code": pa.array(codes, pa.uint64()),
            "confidence": pa.array([91.0, 88.0, 95.0], pa.float32()),
            "hit": [True, False, False],
        },
        schema=STORED_READ_SCHEMA,
    )
    hit = {name: [None, None] for name in HIT_SCHEMA.names}
    # An exact, confident hit, and a confusable one (a possible misread: confirmed only with every character compared).
    hit.update(
        hit_id=[HIT_ID, DOUBTFUL_HIT_ID], read_id=["r1", "r1"], camera_id=["cam-1"] * 2, site_id=["s1"] * 2,
        read_time=[now - 60_000] * 2, read_plate=[PLATE] * 2, entry_id=["E001", "E002"],
        reason=["stolen_vehicle"] * 2, match_kind=["exact", "confusable"], alert=[True] * 2,
        status=["unverified"] * 2, verification_required=[False, True], ocr_confidence=[91.0] * 2,
    )  # fmt: skip
    store: Store = open_store(None, chdb_path)
    try:
        migrate(store)
        write_reads(store, stored, keys, load_retention(retention), "seed")
        write_hits(store, pa.Table.from_pydict(hit, schema=HIT_SCHEMA), "seed")
        hold = Hold(HOLD_ID, "defence", "CR-1", "seeded", (), ("r1",), 0, now - 1000, now + 86_400_000, now - 1000)
        place_hold(store, hold, version=1)
        plate_keys = frozenset(plate_pseudonyms([PLATE], keys))
        warrant = ProcessRecord(PROCESS_ID, "warrant", "W-1", "Superior Court", "CR-1", "vehicle_theft", plate_keys,
                                (), None, now - 86_400_000, now + 3_600_000, now + 86_400_000, "clerk@metro-pd",
                                "metro-pd", now - 1000)  # fmt: skip
        register_process(store, warrant)
        register_process(store, replace(warrant, process_id=EXCEPTION_ID, kind="emergency",
                                        review_due_ms=now + 86_400_000))  # fmt: skip
    finally:
        store.close()


@dataclass
class ApiServer:
    """A running `platestream api`; ``call`` sends a request with a bearer token (or none)."""

    env: dict[str, str]
    proc: subprocess.Popen
    log_path: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PLATESTREAM_API_PORT']}"

    def call(self, method: str, path: str, token: str | None = None, **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, self.url + path, headers=headers, **kw)  # type: ignore[arg-type]

    def output(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_api(env: dict[str, str], wait: float = 60) -> ApiServer:
    log = tempfile.NamedTemporaryFile(prefix="platestream-api-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([*CLI, "api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = ApiServer(env, proc, log.name)
    deadline = time.monotonic() + wait
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"api exited with {proc.returncode}:\n{server.output()}")
        try:
            if server.client.get(server.url + "/livez", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"api did not answer /livez:\n{server.output()}")
        time.sleep(0.1)


READER = "audit-reader"


def last_seq(api: ApiServer, issuer: TokenIssuer) -> int:
    """The seq of the newest audit record (one server process: one writer, seq grows by one a record)."""
    r = api.call("GET", "/v1/audit?limit=1", issuer.token(READER, roles=["auditor"]))
    assert r.status_code == 200, r.text
    return int(r.json()["records"][0]["seq"])


def records_since(api: ApiServer, issuer: TokenIssuer, seq: int) -> list[dict]:
    """Audit records after ``seq``, oldest first, without the reads of the trail made to find them."""
    r = api.call("GET", "/v1/audit?limit=10000", issuer.token(READER, roles=["auditor"]))
    assert r.status_code == 200, r.text
    rows = [x for x in r.json()["records"] if int(x["seq"]) > seq and x["actor"] != f"{READER}@metro-pd"]
    return sorted(rows, key=lambda x: int(x["seq"]))
