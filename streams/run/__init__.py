"""Runners that drive the core without Kafka: the embedded demo job (`platestream run`) and `platestream replay`."""

__all__ = ["embedded", "replay", "retention_verify"]
