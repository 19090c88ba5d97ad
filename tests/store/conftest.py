"""Fixtures for the store contract suite: the same tests on embedded chDB and, when configured, a server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from streams.store.clickhouse import ChdbStore, Store, open_store


@pytest.fixture(scope="module")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    """One chDB store for the module: chDB allows one engine path per process, so tests share it and get a
    fresh database each; module scope closes it before other modules open their own path."""
    store = open_store(None, tmp_path_factory.mktemp("chdb"))
    assert isinstance(store, ChdbStore)
    yield store
    store.close()


@pytest.fixture(params=["chdb", "server"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An un-migrated store whose current database is new and empty, dropped after the test."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        shared: ChdbStore = request.getfixturevalue("chdb_store")
        shared.command(f"CREATE DATABASE {database}")
        # The chDB session keeps its current database between queries.
        shared.command(f"USE {database}")
        yield shared
        shared.command("USE default")
        shared.command(f"DROP DATABASE {database} SYNC")
        return
    url = os.environ.get("CLICKHOUSE_URL")
    if not url:
        pytest.skip("CLICKHOUSE_URL is not set: the server backend is tested only against a running server")
    admin = open_store(url)
    admin.command(f"CREATE DATABASE {database}")
    # A server store per test, pointed at the new database through the URL path.
    scoped = open_store(urlunsplit(urlsplit(url)._replace(path=f"/{database}")))
    yield scoped
    scoped.close()
    admin.command(f"DROP DATABASE {database} SYNC")
    admin.close()
