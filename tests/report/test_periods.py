"""Fixed report periods: halves, quarters, months, whole days; rolling or overlapping choices refused."""

from __future__ import annotations

from datetime import date

import pytest

from streams.core.report_period import PeriodError, overlapping, parse_period, period_of_days


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-H2", date(2026, 7, 1), date(2027, 1, 1)),
        ("2026-H1", date(2026, 1, 1), date(2026, 7, 1)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
    ],
)
def test_fixed_periods(text: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.start, p.end, p.name) == (start, end, text)


@pytest.mark.parametrize("text", ["last-30-days", "2026-13", "2026-Q5", "2026-H3", "2026-07-01T10:00"])
def test_other_periods_are_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_whole_days_only() -> None:
    p = period_of_days("2026-07-01", "2026-07-14")
    assert (p.start, p.end, p.days) == (date(2026, 7, 1), date(2026, 7, 15), 14)
    with pytest.raises(PeriodError, match="whole day"):
        period_of_days("2026-07-01T05:00", "2026-07-14")
    with pytest.raises(PeriodError, match="before"):
        period_of_days("2026-07-14", "2026-07-01")


def test_overlaps_are_found_the_same_period_is_not_one() -> None:
    h2 = parse_period("2026-H2")
    assert overlapping(parse_period("2026-09"), [h2]) == h2
    assert overlapping(h2, [parse_period("2026-H2")]) is None
    assert overlapping(parse_period("2027-01"), [h2]) is None
    assert overlapping(period_of_days("2026-12-31", "2027-01-05"), [h2]) == h2
