"""The deadlines of hit review (``policies/hit_review.yaml``): when an unverified hit is overdue, and when a
confirmed hit with no outcome counts as "no outcome recorded". One definition for the console and the report."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from streams.config.yaml_files import load_yaml_model

__all__ = ["HitReviewPolicy", "load_hit_review"]


class HitReviewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verify_within_seconds: int = Field(gt=0, le=86_400 * 7)
    outcome_within_days: int = Field(gt=0, le=3_650)

    @property
    def verify_within_ms(self) -> int:
        return self.verify_within_seconds * 1000

    @property
    def outcome_within_ms(self) -> int:
        return self.outcome_within_days * 86_400_000


def load_hit_review(path: Path | None = None) -> HitReviewPolicy:
    """``path``, else the packaged policy."""
    return load_yaml_model(path, "hit_review.yaml", HitReviewPolicy, "hit review policy")
