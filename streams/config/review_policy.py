"""The review policy (``policies/review.yaml``, or a file given to ``audit review --policy``): the thresholds of
every review rule, validated into a ``streams.core.review.ReviewPolicy``; and the sharing allow-list file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.config.search_policy import SearchPolicy, load_search_policy
from streams.config.yaml_files import read_yaml
from streams.core.review import ReviewPolicy, Shift
from streams.errors import ConfigError, validation_message

__all__ = ["ReviewPolicyFile", "load_review_policy", "load_sharing", "parse_shift", "review_policy"]

_SHIFT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


def parse_shift(text: str) -> Shift:
    """``"HH:MM-HH:MM"`` as a Shift; the end may be before the start (a shift past midnight)."""
    m = _SHIFT.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"shift {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    return Shift(h1 * 60 + m1, h2 * 60 + m2)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RepeatPlate(_Section):
    min_searches: int = Field(3, ge=2)
    min_span_days: float = Field(14, ge=0)


class _VagueReason(_Section):
    placeholders: list[str] = []
    min_chars: int = Field(8, ge=0)
    case_number_pattern: str = r"[a-z]{0,4}[-/ ]?\d[\d\-/.]*"
    max_share: float = Field(0.25, ge=0, le=1)
    min_count: int = Field(5, ge=1)

    @field_validator("case_number_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


class _UnusedProcess(_Section):
    grace_days: float = Field(7, ge=0)


class _Jurisdiction(_Section):
    home_agencies: list[str] = []
    regions: list[str] = []
    agency_regions: dict[str, str] = {}


class _ScopeOutlier(_Section):
    factor: float = Field(4, gt=1)
    min_group: int = Field(5, ge=2)


class _Shifts(_Section):
    grace_minutes: int = Field(30, ge=0, le=720)
    min_searches: int = Field(3, ge=1)
    roles: dict[str, str] = {}
    users: dict[str, str] = {}

    @field_validator("roles", "users")
    @classmethod
    def _shifts(cls, v: dict[str, str]) -> dict[str, str]:
        for shift in v.values():
            parse_shift(shift)
        return v


class _VolumeSpike(_Section):
    factor: float = Field(3, gt=1)
    floor: int = Field(20, ge=0)
    min_days: int = Field(5, ge=2)


class ReviewPolicyFile(_Section):
    """The YAML file as written: one section per rule."""

    timezone: str = "UTC"
    repeat_plate: _RepeatPlate = _RepeatPlate()
    vague_reason: _VagueReason = _VagueReason()
    unused_process: _UnusedProcess = _UnusedProcess()
    prohibited_terms: list[str] = []
    jurisdiction: _Jurisdiction = _Jurisdiction()
    scope_outlier: _ScopeOutlier = _ScopeOutlier()
    shifts: _Shifts = _Shifts()
    volume_spike: _VolumeSpike = _VolumeSpike()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as America/Chicago)") from None
        return v

    def policy(self, search: SearchPolicy) -> ReviewPolicy:
        """The review's thresholds, with the home agency and the exception kinds of ``search`` (defined there)."""
        v, s = self.vague_reason, self.shifts
        return ReviewPolicy(
            timezone=self.timezone,
            repeat_min_searches=self.repeat_plate.min_searches,
            repeat_min_span_days=self.repeat_plate.min_span_days,
            vague_placeholders=frozenset(" ".join(p.lower().split()) for p in v.placeholders),
            vague_min_chars=v.min_chars,
            vague_case_pattern=v.case_number_pattern,
            vague_max_share=v.max_share,
            vague_min_count=v.min_count,
            unused_grace_days=self.unused_process.grace_days,
            prohibited_terms=tuple(self.prohibited_terms),
            home_agencies=frozenset([search.home_agency, *self.jurisdiction.home_agencies]),
            home_regions=frozenset(self.jurisdiction.regions),
            agency_regions=dict(self.jurisdiction.agency_regions),
            scope_factor=self.scope_outlier.factor,
            scope_min_group=self.scope_outlier.min_group,
            shift_grace_minutes=s.grace_minutes,
            shift_min_searches=s.min_searches,
            role_shifts={k: parse_shift(x) for k, x in s.roles.items()},
            user_shifts={k: parse_shift(x) for k, x in s.users.items()},
            spike_factor=self.volume_spike.factor,
            spike_floor=self.volume_spike.floor,
            spike_min_days=self.volume_spike.min_days,
            exception_kinds=frozenset(search.process.exceptions),
        )


def review_policy(raw: Any, source: str = "<review policy>", search: SearchPolicy | None = None) -> ReviewPolicy:
    """A review policy from parsed YAML: the block itself, or a document with a top-level ``review:`` block;
    ``search``: the search policy it takes the home agency and exception kinds from (else the packaged one)."""
    if isinstance(raw, dict) and "review" in raw:
        raw = raw["review"]
    try:
        return ReviewPolicyFile.model_validate(raw or {}).policy(search or load_search_policy())
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"invalid review policy {source}")) from None


def load_review_policy(path: Path | None = None, search_path: Path | None = None) -> ReviewPolicy:
    """The review policy file, validated; the packaged default when ``path`` is None. The home agency and the
    exception kinds come from the search policy (``search_path``, else the packaged one)."""
    return review_policy(*read_yaml(path, "review.yaml", "review policy"), search=load_search_policy(search_path))


def load_sharing(path: Path | None) -> tuple[str, ...]:
    """The sharing allow-list: a YAML (or JSON) list of agencies, each a name or a mapping with ``agency``, or a
    mapping whose ``agencies`` key holds that list. None: no outside agency is allowed."""
    if path is None:
        return ()
    raw, source = read_yaml(path, "review.yaml", "sharing allow-list")
    items = raw.get("agencies") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ConfigError(f"sharing allow-list {source}: expected a list of agencies")
    agencies = []
    for item in items:
        name = item.get("agency") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"sharing allow-list {source}: {item!r} names no agency")
        agencies.append(name.strip())
    return tuple(agencies)
