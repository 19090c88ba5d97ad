"""A test hook: a store that fails while a named file exists (``PLATESTREAM_STORE_FAULT_FILE``).

Inert unless that setting is given. An empty file makes the embedded engine behave like an unreachable ClickHouse
server (every call raises ``StoreError``), so fault tests exercise the worker's real retry and back-pressure path.
A file that holds text fails only the statements containing it (e.g. ``INSERT INTO audit_log``: the audit write
alone fails, as when an audit store's disk is full).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from streams.errors import StoreError
from streams.store.clickhouse import Store


class FaultInjectingStore:
    def __init__(self, store: Store, fault_file: Path):
        self._store = store
        self._fault_file = Path(fault_file)
        self.name = store.name

    def _check(self, sql: str) -> None:
        try:
            only = self._fault_file.read_text().strip()
        except FileNotFoundError:
            return
        if not only or only in sql:
            raise StoreError(f"{self.name}: unavailable (injected: {self._fault_file} exists)")

    def command(self, sql: str) -> None:
        self._check(sql)
        self._store.command(sql)

    def query_arrow(self, sql: str) -> pa.Table:
        self._check(sql)
        return self._store.query_arrow(sql)

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        self._check(f"INSERT INTO {table}")
        self._store.insert_arrow(table, data, dedup_token)

    def close(self) -> None:
        self._store.close()
