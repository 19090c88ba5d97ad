"""The search policy (``policies/search.yaml``, or ``search_policy_path``): the home agency, the offence codes,
which process kinds are exceptions, each search kind's needs and limits, refused purposes of outside agencies.
Validated at load: an unknown process kind, search kind or limit name is a ConfigError naming it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.config.yaml_files import load_yaml_model
from streams.model.search import PROCESS_KINDS, SEARCH_KINDS, SearchDenied

__all__ = ["KindPolicy", "SearchPolicy", "load_search_policy"]

STRICT = ConfigDict(extra="forbid", frozen=True)


def known_process_kinds(kinds: list[str]) -> list[str]:
    bad = sorted(set(kinds) - set(PROCESS_KINDS))
    if bad:
        raise ValueError(f"unknown process kind(s) {bad}; known: {list(PROCESS_KINDS)}")
    return kinds


class KindPolicy(BaseModel):
    """What one search kind needs and its limits; a limit left out does not apply to that kind."""

    model_config = STRICT

    requires: list[str] = Field(min_length=1)
    max_range_days: float | None = Field(None, gt=0)
    max_window_hours: float | None = Field(None, gt=0)
    max_radius_m: float | None = Field(None, gt=0)
    max_cameras: int | None = Field(None, ge=1)
    max_plates: int | None = Field(None, ge=1)
    max_results: int = Field(ge=1)

    _requires = field_validator("requires")(known_process_kinds)

    def limits(self) -> dict[str, float]:
        """The limits that apply, by name (``max_results`` apart: it is checked on the count, not the request)."""
        named = self.model_dump(exclude={"requires", "max_results"}, exclude_none=True)
        return {k: float(v) for k, v in named.items()}


class ProcessPolicy(BaseModel):
    model_config = STRICT

    exceptions: list[str] = ["emergency", "stolen_vehicle", "missing_person"]
    exception_review_hours: float = Field(72, gt=0, le=24 * 365)

    _exceptions = field_validator("exceptions")(known_process_kinds)


class SharingPolicy(BaseModel):
    model_config = STRICT

    refused_purposes: list[str] = []


class SearchPolicy(BaseModel):
    model_config = STRICT

    home_agency: str = Field(min_length=1, max_length=256)
    offences: list[str] = Field(min_length=1)
    process: ProcessPolicy = ProcessPolicy()
    kinds: dict[str, KindPolicy]
    sharing: SharingPolicy = SharingPolicy()
    review: dict[str, Any] = {}  # thresholds of `audit review`, read by its own loader

    @field_validator("kinds")
    @classmethod
    def _every_kind(cls, v: dict[str, KindPolicy]) -> dict[str, KindPolicy]:
        if set(v) != set(SEARCH_KINDS):
            raise ValueError(f"must name exactly the search kinds {list(SEARCH_KINDS)}, got {sorted(v)}")
        return v

    def is_exception(self, process_kind: str) -> bool:
        return process_kind in self.process.exceptions

    def review_due_ms(self, process_kind: str, registered_at_ms: int) -> int | None:
        """When another supervisor must have reviewed a record of this kind; None when it needs no review."""
        if not self.is_exception(process_kind):
            return None
        return registered_at_ms + int(self.process.exception_review_hours * 3_600_000)

    def purpose_refused(self, purpose: str) -> bool:
        """True when a declared purpose names a refused one (letters and digits compared, case-insensitively, so
        "Civil immigration enforcement (ICE)" is refused as civil_immigration_enforcement)."""
        said = normalised(purpose)
        return any(normalised(p) in said for p in self.sharing.refused_purposes if normalised(p))

    def outside_refusal(self, agency: str, purpose: str, shared: bool) -> SearchDenied | None:
        """Why a principal of ``agency`` may not search, or None: outside agencies must be on the sharing
        allow-list (``shared``) and declare a purpose that is not refused."""
        if agency == self.home_agency:
            return None
        if not shared:
            return SearchDenied(403, "agency_not_shared", "this agency is not on the sharing allow-list")
        if not purpose.strip():
            return SearchDenied(403, "purpose_required", "an outside agency declares the purpose of its search")
        if self.purpose_refused(purpose):
            return SearchDenied(403, "purpose_refused", "the declared purpose is one the policy refuses")
        return None


def normalised(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@cache
def load_search_policy(path: Path | None = None) -> SearchPolicy:
    """The search policy, validated; the packaged default when ``path`` is None."""
    return load_yaml_model(path, "search.yaml", SearchPolicy, "search policy")
