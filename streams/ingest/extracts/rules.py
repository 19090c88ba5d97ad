"""The extract policy as the importers use it (``policies/extracts.yaml``, validated by
``streams.config.extract_policy``): list codes and categories to reasons, each source's refresh and grace, the
shrink threshold of a snapshot, and the layouts of the state extract."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ExtractPolicy", "ListCode", "Refresh"]

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ListCode:
    """What a list code (an NCIC file code, a Genetec category) stands for: the reason, and the kind of legal
    basis its record number is (``record_number`` for a stolen-vehicle NIC, ``warrant`` for a wanted person)."""

    reason: str
    basis: str = "record_number"


@dataclass(frozen=True)
class Refresh:
    """How often a source sends a new extract, and how long its entries outlive a missing refresh."""

    refresh_hours: float = 24
    grace_hours: float = 12

    def expiry_ms(self, now_ms: int) -> int:
        """The expiry of an entry the source gave none: its next expected refresh plus the grace period."""
        return now_ms + int((self.refresh_hours + self.grace_hours) * HOUR_MS)


@dataclass(frozen=True)
class ExtractPolicy:
    list_codes: dict[str, ListCode] = field(default_factory=dict)  # keys upper-case
    categories: dict[str, ListCode] = field(default_factory=dict)  # Genetec categories, keys lower-case
    sources: dict[str, Refresh] = field(default_factory=dict)
    default_refresh: Refresh = Refresh()
    hold_shrink_below: float = 0.5  # a snapshot under this share of the source's last one waits for a person
    fixed_width: dict[str, tuple[int, int]] = field(default_factory=dict)  # field -> (first column 1-based, width)
    delimited_columns: tuple[str, ...] = ()
    delimiter: str = "|"
    genetec_columns: tuple[str, ...] = ("plate", "region", "category", "valid_from", "expires_at")

    def refresh(self, source: str) -> Refresh:
        return self.sources.get(source, self.default_refresh)
