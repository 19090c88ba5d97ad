"""Runners that drive the core without Kafka: the embedded demo job (`platestream run`) and `platestream replay`."""

__all__ = ["audit", "audit_sequencer", "discovery", "embedded", "replay", "retention_verify"]
