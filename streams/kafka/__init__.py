"""Kafka adapters: the one client-configuration factory and the ACLs, topic declarations and admin, producers,
the hot-list and holds followers, dead letters."""

__all__ = [
    "acls",
    "admin",
    "audit_log",
    "client",
    "dlq",
    "holds_follower",
    "hotlist_follower",
    "lag",
    "producer",
    "retention_check",
    "topics",
]
