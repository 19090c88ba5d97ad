"""The tables of a transparency report, built from the period's aggregate rows (``store.report_queries``) and the
camera registry (docs/transparency.md lists each figure, its definition and its source). Pure: rows in, tables out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.config.hit_review import HitReviewPolicy
from streams.core.report_counts import DELAY_BUCKETS  # one definition: the writer buckets, the report reads
from streams.core.report_table import Column, Table
from streams.ingest.camera_sites import AreaInfo, CameraSite
from streams.model.disposition import CONFIRMED, OUTCOMES, REJECTIONS

__all__ = [
    "Inputs",
    "UNASSIGNED",
    "agencies_table",
    "area_of",
    "by_list_table",
    "by_match_kind_table",
    "by_reason_table",
    "cameras_table",
    "count_by",
    "decisions_by",
    "active_cameras",
    "over_time_table",
    "review_table",
    "time_to_verify_table",
    "total",
    "within_deadline",
]

# Capture-to-decision buckets of verification_counts (migration 013) and the upper bound of each, in seconds.
UNASSIGNED = "(not in the registry)"


@dataclass
class Inputs:
    """Everything a report is built from: the period's aggregate rows, the registry, and the settings in force."""

    days: list[Any]  # the time axis: the first day of each slot (days, or months for long periods)
    slot_of: Callable[[Any], Any]  # a row's day -> its slot
    reads: list[dict[str, Any]]
    heartbeats: list[dict[str, Any]]
    hits: list[dict[str, Any]]
    verifications: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    confirmed_settled: int
    requests: list[dict[str, Any]]
    search_areas: list[dict[str, Any]]  # searches allowed per area they reached (scoped to cameras)
    hotlist: list[dict[str, Any]]
    hold_changes: list[dict[str, Any]]
    holds_in_force: list[dict[str, Any]]
    deletions: list[dict[str, Any]]
    sites: dict[str, CameraSite]
    areas: dict[str, AreaInfo]
    partners: list[dict[str, Any]]  # agency, warrant_rules, retention, added_on
    retention: list[tuple[str, int]]  # (data class, seconds)
    checkpoints: list[dict[str, Any]]  # seq, head, at, kid
    review: HitReviewPolicy
    own_agency: str = ""
    notes: list[str] = field(default_factory=list)


def within_deadline(deadline_s: int) -> tuple[str, ...]:
    """The delay buckets wholly within ``deadline_s`` (a bucket straddling it counts as late)."""
    return tuple(name for name, upper in DELAY_BUCKETS if upper <= deadline_s)


def total(rows: Iterable[dict[str, Any]], key: str, **where: Any) -> int:
    return sum(int(r[key] or 0) for r in rows if all(r.get(k) == v for k, v in where.items()))


def count_by(rows: Iterable[dict[str, Any]], group: Callable[[dict[str, Any]], Any], key: str) -> dict[Any, int]:
    out: dict[Any, int] = defaultdict(int)
    for r in rows:
        out[group(r)] += int(r[key] or 0)
    return out


def decisions_by(rows: list[dict[str, Any]], group: Callable[[dict[str, Any]], Any]) -> tuple[dict, dict, dict]:
    verified = count_by(rows, group, "verifications")
    confirmed = count_by((r for r in rows if r["disposition"] == CONFIRMED), group, "verifications")
    rejected = count_by((r for r in rows if r["disposition"] != CONFIRMED), group, "verifications")
    return verified, confirmed, rejected


def review_table(i: Inputs) -> Table:
    """The funnel reads -> hits -> alerts -> verified -> confirmed -> outcome, with its parts."""
    reads, dups = total(i.reads, "reads"), total(i.reads, "duplicates")
    hits, alerts = total(i.hits, "hits"), total(i.hits, "alerts")
    verified = total(i.verifications, "verifications")
    confirmed = total(i.verifications, "verifications", disposition=CONFIRMED)
    in_time = sum(  # alerts checked in time: a quick check of a hit that raised no alert does not count
        total(i.verifications, "verifications", delay_bucket=b, alert=1)
        for b in within_deadline(i.review.verify_within_seconds)
    )
    outcome = {o: total(i.outcomes, "outcomes", outcome=o) for o in OUTCOMES}
    settled_outcomes = sum(int(r["outcomes"]) for r in i.outcomes if r["settled"])
    recorded = sum(outcome.values())
    no_outcome = max(i.confirmed_settled - settled_outcomes, 0)
    not_due = max(confirmed - recorded - no_outcome, 0)
    stages: list[tuple[str, str, int]] = [
        ("reads", "Reads", reads),
        ("duplicates", "Duplicates dropped", dups),
        ("hits", "Hits", hits),
        ("alerts", "Alerts", alerts),
        ("verified", "Hits verified by a person", verified),
        ("confirmed", "Confirmed", confirmed),
        ("rejected", "Rejected (false hits)", verified - confirmed),
    ]
    stages += [
        (f"rejected:{d}", f"  rejected: {d}", total(i.verifications, "verifications", disposition=d))
        for d in REJECTIONS
    ]
    stages += [("outcome", "Outcome recorded", recorded)]
    stages += [(f"outcome:{o}", f"  outcome: {o}", outcome[o]) for o in OUTCOMES]
    stages += [
        ("no_outcome", f"No outcome recorded within {i.review.outcome_within_days} days", no_outcome),
        ("outcome_not_due", "Outcome not yet due", not_due),
        ("overdue", f"Alerts not verified within {i.review.verify_within_seconds} s", max(alerts - in_time, 0)),
    ]
    at = {key: n for n, (key, _, _) in enumerate(stages)}

    def line(*keys: str) -> list[tuple[int, str]]:
        return [(at[k], "count") for k in keys]

    return Table(
        "funnel",
        "From read to outcome: the period's reads, hits, alerts, verifications and outcomes",
        (Column("stage", "Stage", "label"), Column("count", "Count")),
        [{"stage": label, "count": n} for _, label, n in stages],
        lines=[
            line("verified", "confirmed", "rejected"),
            line("rejected", *(f"rejected:{d}" for d in REJECTIONS)),
            line("confirmed", "outcome", "no_outcome", "outcome_not_due"),
            line("outcome", *(f"outcome:{o}" for o in OUTCOMES)),
        ],
        note="Verifications and outcomes are counted by the hour the hit was captured, so they follow the period's "
        "captures. Overdue: alerts minus the alerts verified within the deadline (policies/hit_review.yaml).",
    )


def over_time_table(i: Inputs) -> Table:
    reads = count_by(i.reads, lambda r: i.slot_of(r["day"]), "reads")
    hits = count_by(i.hits, lambda r: i.slot_of(r["day"]), "hits")
    alerts = count_by(i.hits, lambda r: i.slot_of(r["day"]), "alerts")
    rows = [
        {"day": d.isoformat(), "reads": reads.get(d, 0), "hits": hits.get(d, 0), "alerts": alerts.get(d, 0)}
        for d in i.days
    ]
    cols = (
        Column("day", "From", "label"),
        Column("reads", "Reads"),
        Column("hits", "Hits"),
        Column("alerts", "Alerts"),
    )
    return Table("over_time", "Reads, hits and alerts over the period", cols, rows, total_row=True)


def _camera_ids(i: Inputs) -> list[str]:
    seen = {r["camera_id"] for r in i.reads} | {r["camera_id"] for r in i.heartbeats} | {r["camera_id"] for r in i.hits}
    return sorted(seen | set(i.sites))


def area_of(i: Inputs, cam: str) -> str:
    site = i.sites.get(cam)
    return (site.area or "(no area)") if site else UNASSIGNED


def active_cameras(i: Inputs) -> set[str]:
    return {r["camera_id"] for r in i.reads if r["reads"]} | {r["camera_id"] for r in i.heartbeats if r["heartbeats"]}


def cameras_table(i: Inputs) -> Table:
    reads, dups = (
        count_by(i.reads, lambda r: r["camera_id"], "reads"),
        count_by(i.reads, lambda r: r["camera_id"], "duplicates"),
    )
    hits, alerts = (
        count_by(i.hits, lambda r: r["camera_id"], "hits"),
        count_by(i.hits, lambda r: r["camera_id"], "alerts"),
    )
    beats = count_by(i.heartbeats, lambda r: r["camera_id"], "heartbeats")
    active = active_cameras(i)
    rows = []
    for cam in _camera_ids(i):
        site = i.sites.get(cam, CameraSite(cam))
        rows.append(
            {
                "camera_id": cam,
                "agency": site.agency,
                "area": area_of(i, cam),
                "mount": site.mount,
                "deployed_on": site.deployed_on.isoformat() if site.deployed_on else "",
                "retired_on": site.retired_on.isoformat() if site.retired_on else "",
                "active": 1 if cam in active else 0,
                "heartbeats": beats.get(cam, 0),
                "reads": reads.get(cam, 0),
                "duplicates": dups.get(cam, 0),
                "hits": hits.get(cam, 0),
                "alerts": alerts.get(cam, 0),
            }
        )
    cols = (
        Column("camera_id", "Camera", "label"),
        Column("agency", "Agency", "label"),
        Column("area", "Area", "label"),
        Column("mount", "Mount", "label"),
        Column("deployed_on", "Deployed", "label"),
        Column("retired_on", "Retired", "label"),
        Column("active", "Active (1 = reads or heartbeats)", "fact"),
        Column("heartbeats", "Heartbeats", "fact"),
        Column("reads", "Reads"),
        Column("duplicates", "Duplicates dropped"),
        Column("hits", "Hits"),
        Column("alerts", "Alerts"),
    )
    return Table("cameras", "Cameras: where they are, who runs them, and what they read", cols, rows, total_row=True)


def _decision_columns(first: Column) -> tuple[Column, ...]:
    return (
        first,
        Column("hits", "Hits"),
        Column("alerts", "Alerts"),
        Column("verified", "Verified"),
        Column("confirmed", "Confirmed"),
        Column("rejected", "Rejected (false hits)"),
        Column("false_hit_rate", "False-hit rate (% of verified)", "rate", "rejected", "verified", 100),
    )


def _decision_table(i: Inputs, name: str, caption: str, first: Column, group: Callable[[dict[str, Any]], Any]) -> Table:
    hits, alerts = count_by(i.hits, group, "hits"), count_by(i.hits, group, "alerts")
    verified, confirmed, rejected = decisions_by(i.verifications, group)
    keys = sorted(set(hits) | set(verified), key=str)
    rows = [
        {
            first.key: k,
            "hits": hits.get(k, 0),
            "alerts": alerts.get(k, 0),
            "verified": verified.get(k, 0),
            "confirmed": confirmed.get(k, 0),
            "rejected": rejected.get(k, 0),
        }
        for k in keys
    ]
    return Table(
        name,
        caption,
        _decision_columns(first),
        rows,
        total_row=True,
        row_sums=(("verified", ("confirmed", "rejected")),),
    )


def agencies_table(i: Inputs) -> Table:
    def agency(r: dict[str, Any]) -> str:
        site = i.sites.get(r["camera_id"])
        return (site.agency if site else "") or "(no agency named)"

    table = _decision_table(
        i,
        "agencies",
        "Hits and their review, by the agency running the camera",
        Column("agency", "Agency", "label"),
        agency,
    )
    return table


def by_list_table(i: Inputs) -> Table:
    return _decision_table(
        i,
        "by_list",
        "Hits and false hits by hot list (the entry's source)",
        Column("list_source", "List", "label"),
        lambda r: r["list_source"] or "(unnamed)",
    )


def by_match_kind_table(i: Inputs) -> Table:
    return _decision_table(
        i,
        "by_match_kind",
        "Hits and false hits by match kind",
        Column("match_kind", "Match kind", "label"),
        lambda r: r["match_kind"],
    )


def by_reason_table(i: Inputs) -> Table:
    return _decision_table(
        i,
        "by_reason",
        "Hits and false hits by the entry's reason",
        Column("reason", "Reason", "label"),
        lambda r: r["reason"],
    )


def time_to_verify_table(i: Inputs) -> Table:
    n = count_by(i.verifications, lambda r: r["delay_bucket"], "verifications")
    rows = [{"bucket": b, "verifications": n.get(b, 0)} for b, _ in DELAY_BUCKETS]
    cols = (Column("bucket", "Capture to decision", "label"), Column("verifications", "Verifications"))
    return Table("time_to_verify", "Time from capture to a person's decision", cols, rows, total_row=True)
