"""`platestream report`: a transparency report of one fixed period, from the aggregates (docs/transparency.md).

``build_report`` reads the period's aggregates (``store.report_queries``), the camera registry and areas file, the
sharing allow-list, the retention policy and the audit checkpoints, builds the tables and applies the disclosure
rules once: the ``Report`` it returns is what ``write_report`` renders as ``report.html``, ``report.json`` and one
CSV per table, so the three always agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from streams.config.hit_review import load_hit_review
from streams.config.retention import DATA_CLASSES
from streams.config.settings import Settings
from streams.core.disclosure import DisclosureRules
from streams.core.report_period import Period, PeriodError, overlapping, parse_period, period_of_days
from streams.core.report_table import Published, publish
from streams.run import report_oversight as oversight
from streams.run import report_tables as tables
from streams.run.report_areas import areas_table
from streams.store import report_queries as q
from streams.store.audit_checkpoints import read_checkpoints
from streams.store.clickhouse import Store
from streams.store.sharing import list_partners, shared_agencies

__all__ = [
    "TABLES",
    "Report",
    "build_report",
    "build_tables",
    "check_not_overlapping",
    "gather",
    "month_of",
    "published_periods",
    "report_period",
]

MONTHLY_SLOTS_BEYOND_DAYS = 92  # a longer period is charted by month, a shorter one by day


@dataclass(frozen=True)
class Report:
    """One period's published figures: the tables after disclosure control, and what the page says about them."""

    period: Period
    generated_at: str
    rules: DisclosureRules
    tables: dict[str, Published]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {
                "name": self.period.name,
                "from": self.period.start.isoformat(),
                "to": self.period.last_day.isoformat(),
            },
            "generated_at": self.generated_at,
            "disclosure": {
                "threshold": self.rules.threshold,
                "min_rate_numerator": self.rules.min_rate_numerator,
                "rules": self.rules.statements(),
            },
            "settings": self.settings,
            "tables": {name: t.to_json() for name, t in self.tables.items()},
        }


def report_period(period: str | None, first: str | None, last: str | None) -> Period:
    """The period named by ``--period`` or by ``--from``/``--to`` (one or the other, never both)."""
    if period and (first or last):
        raise PeriodError("give --period or --from/--to, not both")
    if period:
        return parse_period(period)
    if first and last:
        return period_of_days(first, last)
    raise PeriodError("give --period (2026-H2, 2026-Q3, 2026-11) or both --from and --to (whole days)")


def month_of(ms: int) -> Period:
    """The calendar month holding the instant ``ms``."""
    return parse_period(datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m"))


def published_periods(out: Path) -> list[Period]:
    """The periods of the reports already beside ``out`` (its sibling folders' report.json)."""
    found = []
    for path in sorted(out.resolve().parent.glob("*/report.json")):
        if path.parent == out.resolve():
            continue
        try:
            doc = json.loads(path.read_text())["period"]
            found.append(period_of_days(doc["from"], doc["to"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a report of ours
    return found


def check_not_overlapping(period: Period, out: Path) -> None:
    """PeriodError when a report beside ``out`` covers part of ``period`` (subtracting the two would reveal what
    their disclosure control hides)."""
    other = overlapping(period, published_periods(out))
    if other is not None:
        raise PeriodError(
            f"period {period.name} overlaps the published report of {other.start}..{other.last_day}: reports cover "
            "fixed periods that do not overlap (publish that period again, or a period that does not overlap it)"
        )


def _slots(period: Period) -> tuple[list[date], Any]:
    if period.days <= MONTHLY_SLOTS_BEYOND_DAYS:
        return period.day_starts(), lambda d: d
    months = sorted({d.replace(day=1) for d in period.day_starts()})
    return months, lambda d: d.replace(day=1)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _partners(store: Store, period: Period) -> list[dict[str, Any]]:
    """The allow-list as it stands (the table may be missing on an old store): agencies added after the period
    ended are left out."""
    if not shared_agencies(store):
        return []
    return [
        {
            "agency": p.agency,
            "warrant_rules": p.warrant_rules,
            "retention": p.retention,
            "added_on": _iso(p.added_at_ms)[:10],
        }
        for p in list_partners(store)
        if p.added_at_ms < period.end_ms
    ]


def gather(store: Store, settings: Settings, period: Period, now_ms: int) -> tables.Inputs:
    """Everything the report's tables are built from, for ``period`` as seen at ``now_ms``."""
    start, end = period.start_ms, period.end_ms
    review = load_hit_review(settings.hit_review_path)
    settled_before = now_ms - review.outcome_within_ms
    days, slot_of = _slots(period)
    policy = settings.retention_policy()
    checkpoints = [
        {"seq": c.seq, "head": c.head, "at": _iso(c.at_ms), "kid": c.kid}
        for c in read_checkpoints(Path(settings.audit_checkpoint_dir))
        if start <= c.at_ms < end
    ]
    return tables.Inputs(
        days=days,
        slot_of=slot_of,
        reads=q.read_rows(store, start, end),
        heartbeats=q.heartbeats(store, start, end),
        hits=q.hit_rows(store, start, end),
        verifications=q.verification_rows(store, start, end),
        outcomes=q.outcome_rows(store, start, end, settled_before),
        confirmed_settled=q.confirmed_settled(store, start, end, settled_before),
        requests=q.request_rows(store, start, end),
        search_areas=q.search_area_rows(store, start, end),
        hotlist=q.hotlist_change_rows(store, start, end),
        hold_changes=q.hold_change_rows(store, start, end),
        holds_in_force=q.holds_in_force(store, min(end, now_ms)),
        deletions=q.deletions(store, start, end),
        sites=settings.camera_sites(),
        areas=settings.areas(),
        partners=_partners(store, period),
        retention=[(c, getattr(policy, c)) for c in (*DATA_CLASSES, "hold_max")],
        checkpoints=checkpoints,
        review=review,
    )


TABLES = (
    tables.review_table,
    tables.over_time_table,
    tables.by_list_table,
    tables.by_match_kind_table,
    tables.by_reason_table,
    tables.time_to_verify_table,
    tables.agencies_table,
    tables.cameras_table,
    areas_table,
    oversight.searches_table,
    oversight.refusals_table,
    oversight.partners_table,
    oversight.external_requests_table,
    oversight.hotlist_table,
    oversight.hold_changes_table,
    oversight.holds_in_force_table,
    oversight.deletions_table,
    oversight.retention_table,
    oversight.checkpoints_table,
)


def build_tables(inputs: tables.Inputs, rules: DisclosureRules) -> dict[str, Published]:
    """Every table of the report, published under ``rules``."""
    out = {}
    for build in TABLES:
        table = publish(build(inputs), rules)
        out[table.name] = table
    return out


def build_report(store: Store, settings: Settings, period: Period, now_ms: int) -> Report:
    """The report of ``period`` as the aggregates stand at ``now_ms``."""
    rules = DisclosureRules(settings.report_suppress_threshold, settings.report_min_rate_numerator)
    inputs = gather(store, settings, period, now_ms)
    policy = settings.retention_policy()
    return Report(
        period=period,
        generated_at=_iso(now_ms),
        rules=rules,
        tables=build_tables(inputs, rules),
        settings={
            "retention_policy": policy.name,
            "retention_source": policy.source,
            "verify_within_seconds": inputs.review.verify_within_seconds,
            "outcome_within_days": inputs.review.outcome_within_days,
        },
    )
