"""A search of the read store as the gate takes it, and the refusal it raises."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SearchRefused", "SearchRequest"]


class SearchRefused(ValueError):
    """A search without what the gate asks for (actor, reason, a valid plate or read id)."""


@dataclass(frozen=True)
class SearchRequest:
    actor: str
    reason: str
    case_number: str = ""
    plates: tuple[str, ...] = ()
    region: str | None = None
    read_ids: tuple[str, ...] = ()
    captured_from_ms: int = 0
    captured_to_ms: int = 2**62
