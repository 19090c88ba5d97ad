"""The search and administration API (`platestream api`): FastAPI over the ClickHouse stores, every request
authenticated by a bearer token and audited before it is answered (docs/security.md)."""

__all__ = []  # each module is added here as it lands
