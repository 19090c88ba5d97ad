"""Fixtures for the worker's unit tests: no broker; the real embedded store (one chDB path per process, so one
store per module with a fresh database per test); a manual clock near the wall clock (the engine's TTL runs on
the wall clock and drops rows inserted far in the past)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from streams.clock import ManualClock
from streams.config.settings import Settings
from streams.core.signing import ControlSigner
from streams.model.access import Principal
from streams.model.decoded import Decoded
from streams.model.read import HEARTBEAT_SCHEMA, READ_SCHEMA
from streams.store.clickhouse import ChdbStore, Store, migrate, open_store
from streams.worker.worker import Worker
from tests.support.control import control_keys
from tests.worker.fakes import FakeFeeds, FakeProducer

KEYS = "k1:000102030405060708090a0b0c0d0e0f"
HOT_PLATE = "8XYZ999"
HOT_ENTRY = "E001"
LOOSE_READ_SCHEMA = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])
# Principals as the API signs them (roles from policies/access.yaml).
ADMIN = Principal("ana", "metro-pd", ("admin",))
OPERATOR = Principal("op-7", "metro-pd", ("operator",))
SUPERVISOR = Principal("sup-1", "metro-pd", ("supervisor",))
RECORDS_ELSEWHERE = Principal("rec-9", "county-so", ("records",))
INVESTIGATOR = Principal("inv-3", "metro-pd", ("investigator",))


def hotlist_csv(path: Path) -> Path:
    path.write_text(
        "entry_id,plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"
        f"{HOT_ENTRY},{HOT_PLATE},CA,PC,arrest_warrant,,W-2026-0001,2026-01-01,2099-01-01\n"
    )
    return path


def decoded(rows: list[dict[str, Any]], origin: str = "reads.json/0") -> Decoded:
    """Reads (READ_SCHEMA; missing columns null) as a decoder would hand them over, one origin per row."""
    full = [{name: r.get(name) for name in READ_SCHEMA.names} for r in rows]
    table = pa.Table.from_pylist(full, schema=LOOSE_READ_SCHEMA)
    return Decoded(table, HEARTBEAT_SCHEMA.empty_table(), [], [f"{origin}/{i}" for i in range(len(rows))])


def read(read_id: str, plate: str, at_ms: int, camera: str = "cam-1") -> dict[str, Any]:
    return {
        "read_id": read_id,
        "camera_id": camera,
        "captured_at": at_ms,
        "plate": plate,
        "region": "CA",
        "confidence": 93.0,
    }


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    store = open_store(None, tmp_path_factory.mktemp("chdb"))
    assert isinstance(store, ChdbStore)
    yield store
    store.close()


@pytest.fixture
def store(chdb: ChdbStore) -> Iterator[Store]:
    """The module's chDB store, in a fresh, migrated database."""
    database = f"w_{uuid.uuid4().hex[:12]}"
    chdb.command(f"CREATE DATABASE {database}")
    chdb.command(f"USE {database}")
    migrate(chdb)
    yield chdb
    chdb.command("USE default")
    chdb.command(f"DROP DATABASE {database} SYNC")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time_ns() // 1_000_000 // 1000 * 1000)


@pytest.fixture
def control(tmp_path: Path) -> tuple[Path, ControlSigner]:
    """A real control key pair: (the public key file workers trust, a signer with the private key)."""
    _, public, signer = control_keys(tmp_path)
    return public, signer


@pytest.fixture
def seal(control: tuple[Path, ControlSigner]) -> Callable[[dict[str, Any], Principal], bytes]:
    """``seal(event, principal)``: the envelope the API would publish."""
    return control[1].seal


@pytest.fixture
def settings(clean_env: None, tmp_path: Path, control: tuple[Path, ControlSigner]) -> Callable[..., Settings]:
    """``settings(**overrides)``: test topics (prefix ``t.``), one hot-list entry, fixed plate keys, the test's
    control key trusted."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "topic_prefix": "t.",
            "chdb_path": tmp_path / "chdb",
            "plate_keys": KEYS,
            "hotlist_path": hotlist_csv(tmp_path / "hotlist.csv"),
            "control_keys_file": control[0],
        }
        return Settings(**{**values, **overrides})

    return make


@dataclass
class Rig:
    """A worker on fakes, and the fakes to look at."""

    worker: Worker
    producer: FakeProducer
    feeds: FakeFeeds
    sleeps: list[float]  # the pauses between retries of a failed store write


@pytest.fixture
def make_worker(settings: Callable[..., Settings], clock: ManualClock, store: Store) -> Callable[..., Rig]:
    """``make_worker(**settings)``: a worker on a fake producer and fake feeds, the test's store and clock;
    ``producer=``, ``feeds=`` or ``store=`` replace the defaults, ``sleep=`` runs in each pause between retries."""

    def make(
        *,
        producer: FakeProducer | None = None,
        feeds: FakeFeeds | None = None,
        store: Store = store,
        sleep: Callable[[float], None] | None = None,
        **kw: Any,
    ) -> Rig:
        producer = producer or FakeProducer()
        feeds = feeds or FakeFeeds(clock=clock)
        sleeps: list[float] = []

        def pause(seconds: float) -> None:  # no real sleep: the test sees the pauses, and may act during one
            sleeps.append(seconds)
            if sleep is not None:
                sleep(seconds)

        w = Worker(settings(**kw), clock=clock, producer=producer, store=store, feeds=feeds, sleep=pause)
        return Rig(w, producer, feeds, sleeps)

    return make
