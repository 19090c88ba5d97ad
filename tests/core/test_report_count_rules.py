"""The report's label rules (streams.core.report_counts): delay buckets against a plain reference, what a count keeps
of a declared purpose, the search kind of a request."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.core.report_counts import DELAY_BUCKETS, PURPOSE_MAX_CHARS, delay_bucket, purpose_label, search_kind


def reference_bucket(seconds: float) -> str:
    if seconds < 60:
        return "lt_1m"
    if seconds < 300:
        return "1m_5m"
    if seconds < 900:
        return "5m_15m"
    if seconds < 3600:
        return "15m_1h"
    if seconds < 86_400:
        return "1h_1d"
    return "ge_1d"


@given(st.floats(min_value=-1e6, max_value=1e9, allow_nan=False))
def test_delay_buckets_follow_the_migrations_bounds(seconds: float) -> None:
    assert delay_bucket(seconds) == reference_bucket(seconds)


def test_each_bound_starts_the_next_bucket() -> None:
    names = [name for name, _ in DELAY_BUCKETS]
    assert [delay_bucket(bound) for _, bound in DELAY_BUCKETS[:-1]] == names[1:]


@given(st.text(max_size=300))
def test_a_purpose_keeps_no_digit_and_stays_short(purpose: str) -> None:
    label = purpose_label(purpose)
    assert len(label) <= PURPOSE_MAX_CHARS and not any(ch.isnumeric() for ch in label)


def test_a_plate_or_case_number_in_a_purpose_is_masked() -> None:
    assert purpose_label(" stolen  vehicle 7ABC123, case 24-118 ") == "stolen vehicle # case #"


def test_the_search_kind_comes_from_the_handler_else_the_route() -> None:
    assert search_kind("search", "/v1/search/near_scene", "near_scene") == "near_scene"
    assert search_kind("search", "/v1/search/hit_trail") == "hit_trail"  # refused before the handler named it
    assert search_kind("holds.place", "/v1/holds", None) == ""
