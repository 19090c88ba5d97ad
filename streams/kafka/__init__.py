"""Kafka adapters: topic declarations and admin, producers, the hot-list and holds followers, dead letters."""

__all__ = ["admin", "dlq", "holds_follower", "hotlist_follower", "producer", "retention_check", "topics"]
