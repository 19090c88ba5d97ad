"""SQL text the store's modules share: string literals and timestamps, written one way on chDB and a server alike."""

from __future__ import annotations

__all__ = ["sql_literal", "ts_sql"]


def sql_literal(value: str) -> str:
    """``value`` as a quoted ClickHouse string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ts_sql(ms: int) -> str:
    """Milliseconds since the epoch as a UTC ``DateTime64(3)`` expression."""
    return f"fromUnixTimestamp64Milli(toInt64({int(ms)}), 'UTC')"
