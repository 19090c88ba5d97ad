"""The periods a transparency report covers: fixed calendar periods, never rolling windows, so that two reports
never overlap and subtracting one from another reveals nothing (docs/transparency.md).

``2026-H2`` (a half-year), ``2026-Q3`` (a quarter), ``2026-11`` (a month), or whole UTC days ``from``..``to``
(both inclusive) that must not overlap another published report's period.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["Period", "PeriodError", "overlapping", "parse_period", "period_of_days"]

_HALF = re.compile(r"^(\d{4})-H([12])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period a report cannot cover (rolling, misaligned, overlapping, malformed)."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days ``[start, end)``; ``name`` labels the report (``2026-H2`` or ``2026-07-01..2026-07-14``)."""

    name: str
    start: date
    end: date  # exclusive

    @property
    def start_ms(self) -> int:
        return _ms(self.start)

    @property
    def end_ms(self) -> int:
        return _ms(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def day_starts(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(text: str) -> Period:
    """``2026-H2``, ``2026-Q3`` or ``2026-11``; PeriodError otherwise."""
    text = text.strip()
    if m := _HALF.match(text):
        year, half = int(m.group(1)), int(m.group(2))
        return Period(text, _month_start(year, 6 * half - 5), _month_start(year, 6 * half + 1))
    if m := _QUARTER.match(text):
        year, q = int(m.group(1)), int(m.group(2))
        return Period(text, _month_start(year, 3 * q - 2), _month_start(year, 3 * q + 1))
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: no month {month}")
        return Period(text, _month_start(year, month), _month_start(year, month + 1))
    raise PeriodError(
        f"period {text!r} is not a fixed period: use a half-year (2026-H2), a quarter (2026-Q3), a month (2026-11), "
        "or --from/--to whole days"
    )


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(
            f"{flag} {text!r} is not a whole day (YYYY-MM-DD): a report covers whole UTC days, not a rolling window"
        ) from None


def period_of_days(first: str, last: str) -> Period:
    """Whole days ``first``..``last`` (both inclusive, ``YYYY-MM-DD``)."""
    start, end = _day(first, "--from"), _day(last, "--to")
    if end < start:
        raise PeriodError(f"--to {last} is before --from {first}")
    return Period(f"{start.isoformat()}..{end.isoformat()}", start, end + timedelta(days=1))


def overlapping(period: Period, published: Iterable[Period]) -> Period | None:
    """The first published period that overlaps ``period`` without being it; None when there is none.

    The same period may be published again (a corrected report); any other overlap lets a reader subtract.
    """
    for other in published:
        if (other.start, other.end) == (period.start, period.end):
            continue
        if other.start < period.end and period.start < other.end:
            return other
    return None
