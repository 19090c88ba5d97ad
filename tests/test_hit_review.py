"""The hit-review deadlines: packaged defaults, a replacement file, and a bad value refused with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config.hit_review import load_hit_review
from streams.errors import ConfigError


def test_the_packaged_deadlines_and_a_replacement(tmp_path: Path) -> None:
    assert load_hit_review().verify_within_ms == 300_000
    f = tmp_path / "hr.yaml"
    f.write_text("verify_within_seconds: 60\noutcome_within_days: 7\n")
    got = load_hit_review(f)
    assert (got.verify_within_ms, got.outcome_within_ms) == (60_000, 7 * 86_400_000)
    f.write_text("verify_within_seconds: 0\noutcome_within_days: 7\n")
    with pytest.raises(ConfigError, match="hr.yaml"):
        load_hit_review(f)
