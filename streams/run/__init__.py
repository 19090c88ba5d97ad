"""Runners that drive the core without Kafka: the embedded demo job (`platestream run`) and `platestream replay`."""

__all__ = ["audit_sequencer", "embedded", "replay", "retention_verify"]
