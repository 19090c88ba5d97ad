"""Storage adapters: ClickHouse, embedded (chDB) or server, behind one small interface."""

__all__ = ["clickhouse", "faults", "read_store", "retention_check", "sink"]
