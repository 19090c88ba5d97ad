"""The extract policy (``policies/extracts.yaml``, or a file given): validated into the
``streams.ingest.extracts.rules.ExtractPolicy`` the importers and the snapshot check use."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.config.yaml_files import load_yaml_model
from streams.core.policy import BASIS_KINDS
from streams.ingest.extracts.rules import ExtractPolicy, ListCode, Refresh

__all__ = ["ExtractPolicyFile", "load_extract_policy"]

FIELDS = (
    "plate",
    "region",
    "plate_type",
    "list_code",
    "category",
    "record_number",
    "warrant_number",
    "case_number",
    "agency",
    "valid_from",
    "expires_at",
    "legal_basis_text",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Refresh(_Section):
    refresh_hours: float = Field(24, gt=0, le=24 * 90)
    grace_hours: float = Field(12, ge=0, le=24 * 30)


class _Code(_Section):
    reason: str = Field(min_length=1)
    basis: str = "record_number"

    @field_validator("basis")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in BASIS_KINDS:
            raise ValueError(f"basis must be one of {', '.join(BASIS_KINDS)}")
        return v


def _known(names: list[str]) -> list[str]:
    bad = sorted(set(names) - set(FIELDS))
    if bad:
        raise ValueError(f"unknown field(s) {bad}; known: {list(FIELDS)}")
    return names


class _Delimited(_Section):
    delimiter: str = Field("|", min_length=1, max_length=1)
    columns: list[str]

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: list[str]) -> list[str]:
        return _known(v)


class ExtractPolicyFile(_Section):
    sources: dict[str, _Refresh] = {}
    default_source: _Refresh = _Refresh()
    hold_shrink_below: float = Field(0.5, ge=0, le=1)
    list_codes: dict[str, _Code] = {}
    categories: dict[str, _Code] = {}
    fixed_width: dict[str, tuple[int, int]] = {}
    delimited: _Delimited | None = None
    genetec_columns: list[str] = ["plate", "region", "category", "valid_from", "expires_at"]

    @field_validator("fixed_width")
    @classmethod
    def _layout(cls, v: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        _known(list(v))
        if any(start < 1 or width < 1 for start, width in v.values()):
            raise ValueError("each field needs a first column of 1 or more and a width of 1 or more")
        return v

    @field_validator("genetec_columns")
    @classmethod
    def _genetec(cls, v: list[str]) -> list[str]:
        return _known(v)

    def policy(self) -> ExtractPolicy:
        def code(c: _Code) -> ListCode:
            return ListCode(c.reason, c.basis)

        return ExtractPolicy(
            list_codes={k.upper(): code(c) for k, c in self.list_codes.items()},
            categories={k.lower(): code(c) for k, c in self.categories.items()},
            sources={k: Refresh(r.refresh_hours, r.grace_hours) for k, r in self.sources.items()},
            default_refresh=Refresh(self.default_source.refresh_hours, self.default_source.grace_hours),
            hold_shrink_below=self.hold_shrink_below,
            fixed_width=dict(self.fixed_width),
            delimited_columns=tuple(self.delimited.columns) if self.delimited else (),
            delimiter=self.delimited.delimiter if self.delimited else "|",
            genetec_columns=tuple(self.genetec_columns),
        )


def load_extract_policy(path: Path | None = None) -> ExtractPolicy:
    """The extract policy of ``path``, else the packaged ``policies/extracts.yaml``; ConfigError if invalid."""
    return load_yaml_model(path, "extracts.yaml", ExtractPolicyFile, "extract policy").policy()
