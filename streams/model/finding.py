"""One result of a retention check: a store, a subject in it, and whether it passed."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "seconds"]


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warn" (reported, does not fail) or "fail"
    store: str  # "kafka" | "processor" | "clickhouse"
    subject: str  # topic, topic/partition, or worker URL
    message: str

    @property
    def failed(self) -> bool:
        return self.level == "fail"

    def line(self) -> str:
        return f"{self.level.upper():<4} {self.store} {self.subject}: {self.message}"


def seconds(ms: float) -> str:
    """A duration in milliseconds as findings print it: ``12.5 s``."""
    return f"{ms / 1000:.1f} s"
