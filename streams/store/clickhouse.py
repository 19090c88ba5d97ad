"""ClickHouse storage: one small interface, two backends (embedded chDB, ClickHouse server), and migrations.

Both backends run the same SQL (``streams/resources/schemas/clickhouse/*.sql``) and agree where the pipeline
relies on it:

- ``insert_arrow`` inserts by column name, so the Arrow table's column order does not matter.
- ``dedup_token``: a retried insert with the same token is dropped (the tables keep a deduplication window).
  Without a token an insert is never deduplicated: each call gets a fresh random token, because the engine
  otherwise drops byte-identical blocks, and two workers may write identical partial counts.
- TTL: the engine deletes expired rows in merges. chDB runs background merges only while a session is open
  in the process; ``merge_with_ttl_timeout`` (3600 s in the DDL) bounds how often a part is re-merged just
  for its TTL, and ``OPTIMIZE TABLE t FINAL`` forces it. The TTL is fixed when a table is created: changing
  ``aggregate_ttl_days`` later needs an ``ALTER TABLE ... MODIFY TTL`` migration.
- The worker's per-batch tables (``UNMERGED_ON_INSERT``) skip the engine's merge of each inserted block
  (``optimize_on_insert = 0``): their rows are unique per sorting key within one insert (grouped counts, fresh
  reads, hits), so that merge finds nothing to fold, and it cost a third of the read store's insert.
- Errors: every failure is a ``StoreError``; one that retrying cannot fix (the statement itself is refused: too
  large, a bad value) is a ``StoreRejected``, with the engine's error code, so a caller can stop retrying it.
- ``query_arrow`` returns what the engine's Arrow output gives: ``DateTime`` arrives as uint32 seconds, so
  select ``toDateTime64(col, 0, 'UTC')`` where a timestamp type is wanted.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from streams import resources
from streams.errors import ConfigError, SchemaError, StoreError
from streams.ingest.decode import encode_arrow
from streams.store.ddl import on_cluster
from streams.store.sql import sql_literal

if TYPE_CHECKING:  # chdb is imported lazily: loading the engine is heavy and server-only setups skip it
    from chdb.session import Session


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


# ClickHouse error codes (src/Common/ErrorCodes.cpp) that say the statement itself is refused: the same statement
# fails the same way however often it is retried. A lost connection, a timeout or a full disk is not among them.
PERMANENT_CODES = {
    6: "CANNOT_PARSE_TEXT",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    43: "ILLEGAL_TYPE_OF_ARGUMENT",
    53: "TYPE_MISMATCH",
    62: "SYNTAX_ERROR",  # also "Max query size exceeded"
    69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    128: "TOO_LARGE_ARRAY_SIZE",
    131: "TOO_LARGE_STRING_SIZE",
    167: "TOO_DEEP_AST",
    168: "TOO_BIG_AST",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
}
_CODE = re.compile(r"\bCode: (\d+)\b")

# Tables whose every insert holds at most one row per sorting key (see the module docstring).
UNMERGED_ON_INSERT = frozenset(
    {"reads", "hits", "read_counts", "hit_counts", "dead_letter_counts", "camera_health", "expiry_counts"}
)


def insert_settings(table: str, dedup_token: str | None) -> dict[str, str | int]:
    """The settings of one insert into ``table``: its de-duplication token, and whether to skip the on-insert merge."""
    settings: dict[str, str | int] = {"insert_deduplication_token": _token(dedup_token)}
    if table in UNMERGED_ON_INSERT:
        settings["optimize_on_insert"] = 0
    return settings


class StoreRejected(StoreError):
    """The store refused a statement for good (``code``: one of ``PERMANENT_CODES``): retrying cannot help."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code

    @property
    def code_name(self) -> str:
        return PERMANENT_CODES.get(self.code, str(self.code))


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code an engine or server error names (``Code: 62. DB::Exception ...``), if any."""
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


class Store(Protocol):
    """What the pipeline needs from ClickHouse; ``name`` is ``"chdb"`` or ``"server"``."""

    name: str

    def command(self, sql: str) -> None: ...

    def query_arrow(self, sql: str) -> pa.Table: ...

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None: ...

    def close(self) -> None: ...


def count_rows(store: Store, sql: str) -> int:
    """The ``n`` of a one-row query (``SELECT count() AS n ...``); 0 when it is NULL."""
    return int(store.query_arrow(sql)["n"][0].as_py() or 0)


def open_store(url: str | None = None, path: str | Path = ".local/chdb") -> Store:
    """A server store for ``url`` (``http://user:pass@host:8123/db``), else embedded chDB at ``path``."""
    return ServerStore(url) if url else ChdbStore(path)


def migrate(store: Store, aggregate_ttl_days: int = 400, cluster: str | None = None) -> list[str]:
    """Apply the ``schemas/clickhouse/*.sql`` files not yet recorded in ``schema_migrations``, in name order;
    with ``cluster``, rendered for that cluster (``streams.store.ddl``: ``ON CLUSTER``, Replicated engines).

    Returns the names applied. A file is recorded only after all its statements ran; the statements use
    ``IF NOT EXISTS``, so re-running a file that failed half-way (or racing another migrator) is harmless.
    A schema made in the other mode (single-node vs cluster) is refused before anything is applied to it.
    """
    if type(aggregate_ttl_days) is not int or aggregate_ttl_days < 1:
        raise ConfigError(f"aggregate_ttl_days must be a positive integer, got {aggregate_ttl_days!r}")
    files = resources.migrations()
    if not files:
        raise SchemaError("no migration files in the package (streams/resources/schemas/clickhouse)")
    done = _applied(store)
    todo = [file for file in files if file.name not in done]
    if todo:
        check_schema_mode(store, cluster)
    applied: list[str] = []
    for file in todo:
        for statement in statements(file.read_text(encoding="utf-8"), aggregate_ttl_days, file.name, cluster):
            store.command(statement)
        store.command(f"INSERT INTO schema_migrations (name, applied_at) VALUES ({sql_literal(file.name)}, now())")
        applied.append(file.name)
    return applied


def pending_migrations(store: Store) -> list[str]:
    """The names of the packaged migration files the store has not applied yet (in the order they apply)."""
    done = _applied(store)
    return [file.name for file in resources.migrations() if file.name not in done]


def schema_mode(store: Store) -> str | None:
    """``"cluster"`` when the store's ``schema_migrations`` is a Replicated table, ``"single"`` when it is not,
    None before the first migration."""
    where = "database = currentDatabase() AND name = 'schema_migrations'"
    engines = store.query_arrow(f"SELECT engine FROM system.tables WHERE {where}")["engine"].to_pylist()
    if not engines:
        return None
    return "cluster" if str(engines[0]).startswith("Replicated") else "single"


def check_schema_mode(store: Store, cluster: str | None) -> None:
    """SchemaError when the store's schema was made in the other mode than ``cluster`` asks: there is no
    conversion, and DDL of one mode applied to the other would leave replicas apart."""
    mode = schema_mode(store)
    if mode == "single" and cluster:
        raise SchemaError(
            f"the store's schema is single-node (schema_migrations is not Replicated), but clickhouse_cluster is "
            f"{cluster!r}: cluster mode needs a fresh database (docs/operations.md, ClickHouse cluster mode)"
        )
    if mode == "cluster" and not cluster:
        raise SchemaError(
            "the store's schema is in cluster mode (schema_migrations is Replicated): set clickhouse_cluster to apply "
            "migrations to it"
        )


def statements(text: str, aggregate_ttl_days: int, source: str = "<sql>", cluster: str | None = None) -> list[str]:
    """Split one migration file into statements (``;`` at line end) with its placeholders substituted, each
    rendered for ``cluster`` when one is given."""
    text = text.replace("{aggregate_ttl_days}", str(aggregate_ttl_days))
    # Full-line comments go first: a `;` ending a comment line must not split a statement.
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    left = _PLACEHOLDER.search(text)
    if left:
        raise SchemaError(f"{source}: unknown placeholder {left.group(0)}")
    found = [s.strip() for s in _STATEMENT_END.split(text) if s.strip()]
    if cluster is None:
        return found
    try:
        return [on_cluster(s, cluster) for s in found]
    except SchemaError as exc:
        raise SchemaError(f"{source}: {exc}") from None


def stop_ttl_merges(store: Store) -> list[str]:
    """Stop the engine's TTL deletions on this database's tables (purge off: drills and tests only); the tables.

    Per table, never the server-wide ``SYSTEM STOP TTL MERGES``, and only on the embedded engine, whose state goes
    with the process: on a server the statement would outlive this worker (a crashed worker could never undo it)
    and reach tables it does not own, so there nothing is stopped. Undo with ``start_ttl_merges``.
    """
    if store.name != "chdb":
        return []
    where = "database = currentDatabase() AND engine LIKE '%MergeTree%'"
    tables = store.query_arrow(f"SELECT name FROM system.tables WHERE {where} ORDER BY name")["name"].to_pylist()
    for name in tables:
        store.command(f"SYSTEM STOP TTL MERGES {_quoted(name)}")
    return tables


def start_ttl_merges(store: Store, tables: list[str]) -> None:
    """Undo ``stop_ttl_merges`` for ``tables``."""
    for name in tables:
        store.command(f"SYSTEM START TTL MERGES {_quoted(name)}")


def _quoted(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise StoreError(f"not a plain table name: {name!r}")
    return f"`{name}`"


def table_exists(store: Store, name: str) -> bool:
    """Whether the store's current database has table ``name``."""
    where = f"database = currentDatabase() AND name = {sql_literal(name)}"
    return bool(count_rows(store, f"SELECT count() AS n FROM system.tables WHERE {where}"))


def _applied(store: Store) -> set[str]:
    if not table_exists(store, "schema_migrations"):
        return set()
    return set(store.query_arrow("SELECT name FROM schema_migrations")["name"].to_pylist())


class ChdbStore:
    """The embedded engine (chDB) with its data at a local path.

    chDB runs one engine per process, bound to one path: stores opened on the same path share one session
    (closed when the last of them closes); opening a different path while one is open raises ``StoreError``
    rather than closing a session another component still uses.
    """

    name = "chdb"

    def __init__(self, path: str | Path = ".local/chdb") -> None:
        self.path = _acquire(path)
        self._closed = False

    def command(self, sql: str) -> None:
        self._run(sql, "CSV")

    def query_arrow(self, sql: str) -> pa.Table:
        return self._run(sql, "ArrowTable")

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        columns = ", ".join(_columns(table, data))
        if data.num_rows == 0:
            return
        given = insert_settings(table, dedup_token).items()
        settings = ", ".join(f"{k} = {sql_literal(v) if isinstance(v, str) else int(v)}" for k, v in given)
        sql = f"INSERT INTO {table} ({columns}) SETTINGS {settings}"
        # The table goes in as an Arrow IPC stream, the format the server backend sends too: half the cost of
        # `SELECT FROM Python()` per insert (7 against 14 ms for a small one here), whose lookup of the object
        # among the caller's frames is paid on every insert.
        payload = encode_arrow(data, compression=None)
        self._check_open()
        try:
            # The session takes no other statement while a streaming insert is open: one statement at a time.
            with _statements, _shared_session().send_insert(sql, "ArrowStream") as insert:
                insert.append(payload)
                insert.finish()
        except (RuntimeError, pa.ArrowException) as exc:
            raise _error(self.name, sql, exc) from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self.path)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"chdb: store at {self.path} is closed")

    def _run(self, sql: str, fmt: str) -> Any:
        self._check_open()
        try:
            with _statements:
                return _shared_session().query(sql, fmt)
        except (RuntimeError, pa.ArrowException) as exc:
            raise _error(self.name, sql, exc) from exc


class ServerStore:
    """A ClickHouse server over HTTP(S) through clickhouse-connect; the URL names user, password, database."""

    name = "server"

    def __init__(self, url: str) -> None:
        from clickhouse_connect import get_client
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._errors = ClickHouseError
        try:
            # No HTTP session id: one client can serve several threads without "session is locked" errors.
            self._client = get_client(dsn=url, autogenerate_session_id=False)
        except ClickHouseError as exc:
            raise StoreError(f"server: cannot connect to {_redact(url)}: {_message(exc)}") from exc

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except self._errors as exc:
            raise _error(self.name, sql, exc) from exc

    def query_arrow(self, sql: str) -> pa.Table:
        try:
            return self._client.query_arrow(sql)
        except self._errors as exc:
            raise _error(self.name, sql, exc) from exc

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        _columns(table, data)
        if data.num_rows == 0:
            return
        try:
            self._client.insert_arrow(table, data, settings=insert_settings(table, dedup_token))
        except self._errors as exc:
            raise _error(self.name, f"INSERT INTO {table} FORMAT Arrow", exc) from exc

    def close(self) -> None:
        self._client.close()


EMBEDDED_MISSING = (
    "the embedded store needs chdb, which this installation lacks: install platestream[embedded], "
    "or set CLICKHOUSE_URL to use a ClickHouse server"
)


# chDB allows one engine per process: the one open session, its path and how many stores use it.
@dataclass
class _Shared:
    path: str
    session: Session
    users: int


_lock = threading.Lock()
_shared: _Shared | None = None
_statements = threading.Lock()  # held for each statement on the shared session (see ``ChdbStore.insert_arrow``)


def _acquire(path: str | Path) -> str:
    global _shared
    key = str(path) if str(path) == ":memory:" else _directory(path)
    with _lock:
        if _shared is None:
            try:
                from chdb.session import Session
            except ImportError:
                raise ConfigError(EMBEDDED_MISSING) from None
            try:
                with _engine_stderr_quiet():
                    _shared = _Shared(key, Session(key), 0)
            except RuntimeError as exc:
                if _held_elsewhere(key):
                    raise StoreError(
                        f"chdb: the embedded store at {key} is in use by another process (a running worker or API); "
                        "stop it, or give this command its own PLATESTREAM_CHDB_PATH, or use a ClickHouse server"
                    ) from None
                raise StoreError(f"chdb: cannot open {key}: {_message(exc)}") from exc
        elif _shared.path != key:
            raise StoreError(
                f"chdb: {_shared.path} is already open in this process and chDB allows one path per process; "
                f"close its stores before opening {key}"
            )
        _shared.users += 1
    return key


@contextlib.contextmanager
def _engine_stderr_quiet() -> Iterator[None]:
    """The engine prints its start-up errors straight to file descriptor 2; the StoreError says them instead."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _held_elsewhere(key: str) -> bool:
    """Whether another process holds the engine's lock on ``key`` (its ``status`` file)."""
    status = Path(key) / "status"
    if not status.exists():
        return False
    try:
        with open(status, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the engine holds an flock on it while open
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return True
    return False


def _release(key: str) -> None:
    global _shared
    with _lock:
        if _shared is None or _shared.path != key:
            return
        _shared.users -= 1
        if _shared.users == 0:
            _shared.session.close()
            _shared = None


@atexit.register
def close_embedded() -> None:
    """Close the process's embedded session, whoever still holds stores on it (at exit, or after the last
    writer has stopped).

    A session left open until the interpreter finalises is closed from the engine's destructors while other
    threads (Kafka clients, daemon threads) still run: the engine then fails with "ShutdownTablesThreadPool is not
    initialized" and the process exits by segmentation fault. Registered with ``atexit``, which runs before that.
    """
    global _shared
    with _lock:
        shared, _shared = _shared, None
    if shared is not None:
        shared.session.close()


def _shared_session() -> Session:
    shared = _shared
    if shared is None:
        raise StoreError("chdb: no open session")
    return shared.session


def _directory(path: str | Path) -> str:
    p = Path(path).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    return str(p)


def _columns(table: str, data: pa.Table) -> list[str]:
    # Names go into SQL text on the chDB side: allow plain identifiers only, on both backends alike.
    if not _TABLE.fullmatch(table):
        raise StoreError(f"not a plain table name: {table!r}")
    bad = [c for c in data.column_names if not _IDENT.fullmatch(c)]
    if bad or not data.column_names:
        raise StoreError(f"{table}: column names must be plain identifiers, got {data.column_names!r}")
    return data.column_names


def _token(dedup_token: str | None) -> str:
    return dedup_token or f"nodedup-{uuid.uuid4().hex}"


def _message(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:500] if lines else type(exc).__name__


def _error(backend: str, sql: str, exc: BaseException) -> StoreError:
    first = next((line.strip() for line in sql.strip().splitlines()), "")
    message = f"{backend}: {_message(exc)} [in: {first[:200]}]"
    code = error_code(exc)
    if code in PERMANENT_CODES:
        return StoreRejected(message, code)
    return StoreError(message)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
