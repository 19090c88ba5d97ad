"""The migrations' DDL for a ClickHouse cluster: ``ON CLUSTER`` and ``Replicated*MergeTree`` engines.

The files under ``schemas/clickhouse`` are written once, for one node; this renders each of their statements for a
cluster by the same rules, file by file alike:

- ``CREATE TABLE|VIEW IF NOT EXISTS t`` and ``ALTER TABLE t`` gain ``ON CLUSTER `name```: every node gets the same
  schema, and an ``ALTER`` of a replicated table is applied once per shard, replicated by Keeper.
- ``ENGINE = [Summing|Replacing]MergeTree[(args)]`` becomes
  ``Replicated...MergeTree(REPLICA_PATH, '{replica}'[, args])``, with the server's macros ``{shard}``,
  ``{database}``, ``{table}`` and ``{replica}``.
- Insert de-duplication keeps the single-node meaning: ``non_replicated_deduplication_window = N`` becomes
  ``replicated_deduplication_window = N`` (kept in Keeper, so a retried insert with the same token is dropped
  whichever replica receives it); a table without a window gets ``replicated_deduplication_window = 0``, because a
  replicated table would otherwise drop identical blocks that the single-node table keeps.

One shard, any number of replicas; no ``Distributed`` tables (docs/operations.md, "ClickHouse cluster mode", says
why). A statement of another shape is refused, so a new kind of migration cannot reach a cluster as single-node DDL.
"""

from __future__ import annotations

import re

from streams.config.settings import CLUSTER_NAME
from streams.errors import ConfigError, SchemaError

__all__ = ["REPLICA_PATH", "check_cluster_name", "on_cluster"]

REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_HEAD = re.compile(rf"^(CREATE (?:TABLE|VIEW) IF NOT EXISTS {_NAME}|ALTER TABLE {_NAME})(?=\s)")
_INSERT = re.compile(r"^INSERT INTO ")
_ENGINE = re.compile(r"\bENGINE\s*=\s*(Summing|Replacing|)MergeTree\b(?:\(([^()]*)\))?")
_ENGINE_ANY = re.compile(r"\bENGINE\s*=")
_WINDOW = re.compile(r"\bnon_replicated_deduplication_window\b")
_SETTINGS = re.compile(r"\bSETTINGS\b")


def check_cluster_name(name: str) -> str:
    """``name`` when it can be a cluster name of the server's ``remote_servers``; ConfigError otherwise."""
    if not CLUSTER_NAME.fullmatch(name):
        raise ConfigError(f"clickhouse_cluster {name!r}: letters, digits, '_', '.' and '-' only")
    return name


def on_cluster(statement: str, cluster: str) -> str:
    """``statement`` (one statement of a migration file) rendered for ``cluster``; SchemaError for a shape the
    rules above do not cover."""
    check_cluster_name(cluster)
    if _INSERT.match(statement):  # the migration's own bookkeeping: a row of a replicated table
        return statement
    head = _HEAD.match(statement)
    if head is None:
        first = statement.splitlines()[0][:120]
        raise SchemaError(f"cluster mode: no rule for this statement (CREATE ... IF NOT EXISTS, ALTER TABLE): {first}")
    rendered = f"{head.group(1)} ON CLUSTER `{cluster}`{statement[head.end() :]}"
    if statement.startswith("CREATE TABLE"):
        rendered = _replicated(rendered, head.group(1))
    return rendered


def _replicated(statement: str, what: str) -> str:
    engines = _ENGINE.findall(statement)
    if len(engines) != 1 or len(_ENGINE_ANY.findall(statement)) != 1:
        raise SchemaError(f"cluster mode: {what} needs exactly one ENGINE = [Summing|Replacing]MergeTree clause")

    def engine(m: re.Match[str]) -> str:
        args = [f"'{REPLICA_PATH}'", "'{replica}'"] + ([m.group(2).strip()] if (m.group(2) or "").strip() else [])
        return f"ENGINE = Replicated{m.group(1)}MergeTree({', '.join(args)})"

    statement = _ENGINE.sub(engine, statement)
    if _WINDOW.search(statement):
        return _WINDOW.sub("replicated_deduplication_window", statement)
    if _SETTINGS.search(statement):  # SETTINGS is the last clause of a CREATE TABLE
        return f"{statement}, replicated_deduplication_window = 0"
    return f"{statement}\nSETTINGS replicated_deduplication_window = 0"
