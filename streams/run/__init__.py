"""Runners that drive the core without Kafka: the embedded demo job (`platestream run`) and `platestream replay`."""

__all__ = [
    "audit_sequencer",
    "embedded",
    "replay",
    "report",
    "report_areas",
    "report_charts",
    "report_oversight",
    "report_render",
    "report_tables",
    "retention_verify",
]
