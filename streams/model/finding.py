"""One result of a retention check: a store, a subject in it, and whether it passed."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "age_finding", "seconds"]


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


def age_finding(store: str, subject: str, what: str, rule: str, age_ms: int, bound_ms: int) -> Finding:
    """The oldest thing a store holds against its bound: ``ok`` within it, ``fail`` past it; the message says what
    was found (``what``) and how the bound is made (``rule``)."""
    if age_ms > bound_ms:
        return Finding("fail", store, subject, f"{what}: older than the {rule}")
    return Finding("ok", store, subject, f"{what}; {rule}")
