"""Records and Arrow schemas shared by every layer: reads, dead letters, batch results, holds, findings."""

__all__ = [
    "access",
    "audit",
    "batch",
    "deadletter",
    "decoded",
    "finding",
    "hold",
    "hotlist",
    "match_kinds",
    "read",
    "search",
]
