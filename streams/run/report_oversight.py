"""The report's tables of oversight: searches and refusals, outside agencies and their requests, hot-list changes,
holds, deletions, the retention policy and the audit checkpoints (docs/transparency.md). Pure: rows in, tables out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from streams.core.report_table import Column, Table
from streams.run.report_tables import Inputs, total

__all__ = [
    "HOLD_CHANGES",
    "HOTLIST_CHANGES",
    "checkpoints_table",
    "deletions_table",
    "external_requests_table",
    "hold_changes_table",
    "holds_in_force_table",
    "hotlist_table",
    "partners_table",
    "refusals_table",
    "retention_table",
    "searches_table",
]

HOTLIST_CHANGES = ("added", "refused", "expired", "cleared", "cleared_by_snapshot", "expiry_capped")
HOLD_CHANGES = ("placed", "refused", "released", "expired")
DECISIONS = ("allowed", "refused", "failed")


def _decisions(rows: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """Requests per ``key`` with one count per decision, and their sum."""
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DECISIONS, 0))
    for r in rows:
        decision = r["decision"] if r["decision"] in DECISIONS else "failed"
        out[tuple(r[k] for k in key)][decision] += int(r["requests"] or 0)
    return [{**dict(zip(key, k, strict=True)), **n, "requests": sum(n.values())} for k, n in sorted(out.items())]


def _decision_columns(*first: Column) -> tuple[Column, ...]:
    return (
        *first,
        Column("allowed", "Allowed"),
        Column("refused", "Refused"),
        Column("failed", "Failed"),
        Column("requests", "Requests"),
    )


SUMS = (("requests", DECISIONS),)


def searches_table(i: Inputs) -> Table:
    rows = _decisions([r for r in i.requests if r["kind"]], ("kind", "justification"))
    cols = _decision_columns(
        Column("kind", "Search kind", "label"), Column("justification", "Legal process cited", "label")
    )
    return Table(
        "searches", "Searches by kind and by the legal process they cited", cols, rows, total_row=True, row_sums=SUMS
    )


def refusals_table(i: Inputs) -> Table:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in i.requests:
        if r["decision"] == "refused":
            counts[(r["action"], r["rule"] or "(no rule named)")] += int(r["requests"] or 0)
    rows = [{"action": a, "rule": rule, "refused": n} for (a, rule), n in sorted(counts.items())]
    cols = (
        Column("action", "Request", "label"),
        Column("rule", "Rule that refused it", "label"),
        Column("refused", "Refused"),
    )
    return Table("refusals", "Requests refused, by the rule that refused them", cols, rows, total_row=True)


def partners_table(i: Inputs) -> Table:
    cols = (
        Column("agency", "Outside agency", "label"),
        Column("warrant_rules", "Bound by (legal process)", "label"),
        Column("retention", "Bound by (retention)", "label"),
        Column("added_on", "On the list since", "label"),
    )
    return Table("partners", "Every outside agency with access at the end of the period", cols, list(i.partners))


def external_requests_table(i: Inputs) -> Table:
    rows = _decisions([r for r in i.requests if r["partner"]], ("agency", "purpose"))
    asked = {r["agency"] for r in rows}
    rows += [
        {"agency": p["agency"], "purpose": "", **dict.fromkeys(DECISIONS, 0), "requests": 0}
        for p in i.partners
        if p["agency"] not in asked
    ]
    rows.sort(key=lambda r: (r["agency"], r["purpose"]))
    cols = _decision_columns(
        Column("agency", "Outside agency", "label"), Column("purpose", "Declared purpose", "label")
    )
    return Table(
        "external_requests",
        "Requests from outside agencies, by agency and purpose",
        cols,
        rows,
        total_row=True,
        row_sums=SUMS,
    )


def hotlist_table(i: Inputs) -> Table:
    rows: list[dict[str, Any]] = []
    lines = []
    for change in HOTLIST_CHANGES:
        rows.append({"change": change, "rule": "", "entries": total(i.hotlist, "changes", change=change)})
        if change == "refused":
            head = len(rows) - 1
            rules = sorted({r["rule"] or "(no rule named)" for r in i.hotlist if r["change"] == "refused"})
            for rule in rules:
                n = sum(
                    int(r["changes"])
                    for r in i.hotlist
                    if r["change"] == "refused" and (r["rule"] or "(no rule named)") == rule
                )
                rows.append({"change": "refused", "rule": rule, "entries": n})
            if rules:
                lines.append([(r, "entries") for r in range(head, len(rows))])
    cols = (
        Column("change", "Change", "label"),
        Column("rule", "Refused by rule", "label"),
        Column("entries", "Entries"),
    )
    return Table(
        "hotlist",
        "Hot-list entries added, refused (by rule), expired and cleared",
        cols,
        rows,
        lines=lines,
        note="Counted once per entry change (hotlist_changes, FINAL). Zero where nothing was recorded.",
    )


def hold_changes_table(i: Inputs) -> Table:
    rows = [{"change": c, "holds": total(i.hold_changes, "changes", change=c)} for c in HOLD_CHANGES]
    cols = (Column("change", "Change", "label"), Column("holds", "Holds"))
    return Table("hold_changes", "Preservation holds placed, refused, released and expired", cols, rows)


def holds_in_force_table(i: Inputs) -> Table:
    rows = [{"agency": r["agency"] or "(no agency named)", "holds": int(r["holds"])} for r in i.holds_in_force]
    cols = (Column("agency", "Placed by", "label"), Column("holds", "Holds in force"))
    return Table("holds_in_force", "Preservation holds in force at the end of the period", cols, rows, total_row=True)


def deletions_table(i: Inputs) -> Table:
    rows = [{"store": r["store"], "data_class": r["data_class"], "deleted": int(r["deleted"])} for r in i.deletions]
    cols = (
        Column("store", "Store", "label"),
        Column("data_class", "Data class", "label"),
        Column("deleted", "Records deleted"),
    )
    return Table(
        "deletions", "Records deleted by the retention limits, per store and data class", cols, rows, total_row=True
    )


def _duration(seconds: int) -> str:
    if seconds == 0:
        return "not kept"
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def retention_table(i: Inputs) -> Table:
    rows = [{"data_class": c, "seconds": s, "kept": _duration(s)} for c, s in i.retention]
    cols = (
        Column("data_class", "Data class", "label"),
        Column("seconds", "Limit (seconds)", "fact"),
        Column("kept", "Kept for", "label"),
    )
    return Table("retention", "Retention limits in force", cols, rows)


def checkpoints_table(i: Inputs) -> Table:
    cols = (
        Column("seq", "Records in the log", "fact"),
        Column("head", "Head hash", "label"),
        Column("at", "Signed at (UTC)", "label"),
        Column("kid", "Key", "label"),
    )
    return Table(
        "checkpoints",
        "Audit-log checkpoints signed in the period",
        cols,
        list(i.checkpoints),
        note="Each checkpoint vouches for the audit log's length and head hash at a time; a log rewritten "
        "later no longer matches (`platestream audit verify`).",
    )
