"""Storage adapters: ClickHouse, embedded (chDB) or server, behind one small interface."""
