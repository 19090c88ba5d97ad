"""A search of the read store as the gate takes it, and the refusal it raises."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SearchRefused", "SearchRequest"]


class SearchRefused(ValueError):
    """A search without what the gate asks for (a reason, a valid plate or read id)."""


@dataclass(frozen=True)
class SearchRequest:
    """What is searched for, and why. Who asks is not part of it: that is the verified principal."""

    reason: str
    case_number: str = ""
    plates: tuple[str, ...] = ()
    region: str | None = None
    read_ids: tuple[str, ...] = ()
    captured_from_ms: int = 0
    captured_to_ms: int = 2**62
