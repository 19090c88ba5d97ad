"""Audit review: the patterns of misuse an auditor should look at, found in plain audit and process-record rows.

Pure: rows in (dicts or an Arrow table of ``audit_log`` columns; legal-process rows as the issue #12 contract
describes them), flags out; the thresholds come from a ``ReviewPolicy`` and time is a parameter. Each flag names
its rule, the user or agency, and the records behind it. The rules, in the order their flags come:

    repeat_plate             one user searched one plate (plate key) min_searches+ times over min_span_days+,
                             and no process record covers those searches (names the plate, holds their window)
    vague_reason             a user's searches with placeholder, very short or case-number-only reasons: at least
                             min_count of them and more than max_share of the user's searches
    unused_process           a process record whose case number no other record (search, hold, hit...) names
    prohibited_purpose       a prohibited-purpose term (whole word, any case) in a reason or declared purpose
    outside_agency           records from an agency neither at home nor on the sharing allow-list
    outside_jurisdiction     records from an agency whose region is outside the jurisdiction's regions
    scope_outlier            a search window, radius, plate or camera count above factor x the median of searches
                             of the same kind citing records of the same offence
    off_shift                min_searches+ searches outside the user's declared shift (per user, else per role)
    volume_spike             a day's searches by a user or a partner agency above factor x their median active
                             day and above floor
    hotlist_without_process  hot-list entries added with no process record naming them
    exception_unreviewed     an exception record (emergency, ...) not reviewed by its review_due
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from streams.core.review_records import (
    Flag,
    Process,
    Record,
    RecordRef,
    ReviewPolicy,
    Shift,
    latest_processes,
    parse_record,
    rows_of,
)

__all__ = [
    "RULES",
    "Flag",
    "RecordRef",
    "ReviewPolicy",
    "Shift",
    "is_vague",
    "prohibited_terms_in",
    "review",
]

RULES = (
    "repeat_plate",
    "vague_reason",
    "unused_process",
    "prohibited_purpose",
    "outside_agency",
    "outside_jurisdiction",
    "scope_outlier",
    "off_shift",
    "volume_spike",
    "hotlist_without_process",
    "exception_unreviewed",
)
DAY_MS = 86_400_000
# Leading words that do not make a reason more than a case number ("case no. 2026-0012" is a number only).
_CASE_PREFIX = re.compile(r"^(?:re\s*:?\s*)?(?:case|file|incident|report)?\s*(?:no\.?|number|num|#)?\s*[:#]?\s*")
_ADDED = ("allowed", "applied")  # decisions under which a hot-list add took effect


def _normal_text(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .,;:!?-_*'\"()[]")


def is_vague(reason: str, case_number: str, policy: ReviewPolicy) -> bool:
    """A reason that says nothing: empty, a placeholder, under ``vague_min_chars``, or a case number only."""
    text = _normal_text(reason)
    if {text, text.replace("-", " ")} & policy.vague_placeholders or len(text) < policy.vague_min_chars:
        return True
    bare = _CASE_PREFIX.sub("", text)
    return bare == _normal_text(case_number) or re.fullmatch(policy.vague_case_pattern, bare) is not None


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    words = [r"\s+".join(map(re.escape, t.split())) for t in terms if t.strip()]
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE) if words else None


def prohibited_terms_in(text: str, policy: ReviewPolicy) -> list[str]:
    """The prohibited-purpose terms in ``text`` as whole words, lowercased, in order of appearance."""
    pattern = _terms_pattern(policy.prohibited_terms)
    return [" ".join(m.group(0).lower().split()) for m in pattern.finditer(text)] if pattern else []


@dataclass(frozen=True)
class _Context:
    policy: ReviewPolicy
    records: list[Record]
    searches: list[Record]
    processes: dict[str, Process]
    by_plate: dict[str, list[Process]]
    allowed_agencies: frozenset[str]
    since_ms: int
    until_ms: int

    def local(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, ZoneInfo(self.policy.timezone))


def _flag(rule: str, records: Iterable[Record], summary: str, **fields: Any) -> Flag:
    ordered = sorted(records, key=lambda r: (r.at_ms, r.ref.seq or 0))
    return Flag(rule, summary=summary, records=tuple(r.ref for r in ordered), **fields)


def _by_actor(records: Iterable[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        out[r.actor].append(r)
    return out


def _cited(records: Iterable[Record]) -> tuple[str, ...]:
    return tuple(sorted({r.process_id for r in records if r.process_id}))


def _repeat_plate(c: _Context) -> list[Flag]:
    uncovered: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for s in c.searches:
        for key in set(s.plate_keys):
            if not any(p.covers(s, key) for p in c.by_plate.get(key, ())):
                uncovered[(s.actor, key)].append(s)
    flags = []
    for (actor, key), found in uncovered.items():
        span_days = (max(s.at_ms for s in found) - min(s.at_ms for s in found)) / DAY_MS
        if len(found) >= c.policy.repeat_min_searches and span_days >= c.policy.repeat_min_span_days:
            summary = f"searched one plate {len(found)} times over {span_days:.1f} days, no process record covers it"
            facts = {"plate_key": key, "searches": len(found), "span_days": round(span_days, 1)}
            flags.append(
                _flag(
                    "repeat_plate",
                    found,
                    summary,
                    actor=actor,
                    agency=found[0].agency,
                    process_ids=_cited(found),
                    facts=facts,
                )
            )
    return flags


def _vague_reason(c: _Context) -> list[Flag]:
    flags = []
    for actor, searches in _by_actor(c.searches).items():
        vague = [s for s in searches if is_vague(s.reason, s.case_number, c.policy)]
        share = len(vague) / len(searches)
        if len(vague) >= c.policy.vague_min_count and share > c.policy.vague_max_share:
            summary = f"{len(vague)} of {len(searches)} searches with a vague or placeholder reason"
            facts = {"vague": len(vague), "searches": len(searches), "share": round(share, 3)}
            flags.append(_flag("vague_reason", vague, summary, actor=actor, agency=vague[0].agency, facts=facts))
    return flags


def _unused_process(c: _Context) -> list[Flag]:
    used = {_normal_text(r.case_number) for r in c.records if r.case_number and not r.action.startswith("process.")}
    latest = c.until_ms - c.policy.unused_grace_days * DAY_MS
    flags = []
    for p in c.processes.values():
        if p.registered_at is None or not c.since_ms <= p.registered_at <= latest:
            continue
        if p.case_number and _normal_text(p.case_number) in used:
            continue
        own = [r for r in c.records if r.action.startswith("process.") and r.process_id == p.process_id]
        summary = f"{p.kind} record's case number appears in no search, hold or other record"
        flags.append(
            _flag(
                "unused_process",
                own,
                summary,
                actor=p.registered_by,
                agency=p.agency,
                process_ids=(p.process_id,),
                facts={"case_number": p.case_number},
            )
        )
    return flags


def _prohibited_purpose(c: _Context) -> list[Flag]:
    pattern = _terms_pattern(c.policy.prohibited_terms)
    if pattern is None:
        return []
    found: dict[str, list[Record]] = defaultdict(list)
    terms: dict[str, set[str]] = defaultdict(set)
    for r in c.records:
        matches = [" ".join(m.group(0).lower().split()) for m in pattern.finditer(f"{r.reason}\n{r.purpose}")]
        if matches:
            found[r.actor].append(r)
            terms[r.actor].update(matches)
    return [
        _flag(
            "prohibited_purpose",
            rs,
            f"{len(rs)} record(s) with a prohibited purpose: {', '.join(sorted(terms[a]))}",
            actor=a,
            agency=rs[0].agency,
            process_ids=_cited(rs),
            facts={"terms": sorted(terms[a])},
        )
        for a, rs in found.items()
    ]


def _agency_flags(c: _Context, rule: str, outside: Callable[[str], str | None]) -> list[Flag]:
    found: dict[str, list[Record]] = defaultdict(list)
    for r in c.records:
        if r.agency and outside(r.agency) is not None:
            found[r.agency].append(r)
    flags = []
    for agency, rs in found.items():
        actors = sorted({r.actor for r in rs})
        summary = f"{len(rs)} record(s) from {outside(agency)} ({len(actors)} user(s))"
        flags.append(_flag(rule, rs, summary, actor="", agency=agency, facts={"actors": actors}))
    return flags


def _outside_agency(c: _Context) -> list[Flag]:
    return _agency_flags(
        c, "outside_agency", lambda a: None if a in c.allowed_agencies else "an agency not on the allow-list"
    )


def _outside_jurisdiction(c: _Context) -> list[Flag]:
    def outside(agency: str) -> str | None:
        region = c.policy.agency_regions.get(agency)
        return f"region {region}, outside the jurisdiction" if region and region not in c.policy.home_regions else None

    return _agency_flags(c, "outside_jurisdiction", outside)


def _scope_measures(s: Record) -> dict[str, float]:
    out: dict[str, float] = {}
    lo, hi = s.number("from_ms"), s.number("to_ms")
    if lo is not None and hi is not None:
        out["window_hours"] = (hi - lo) / 3_600_000
    area = s.detail.get("area")
    if isinstance(area, Mapping) and isinstance(area.get("radius_m"), int | float):
        out["radius_m"] = float(area["radius_m"])
    if s.plate_keys:
        out["plates"] = float(len(s.plate_keys))
    cameras = s.detail.get("cameras")
    if isinstance(cameras, list) and cameras:
        out["cameras"] = float(len(cameras))
    return out


def _scope_outlier(c: _Context) -> list[Flag]:
    groups: dict[tuple[str, str, str], list[tuple[Record, float]]] = defaultdict(list)
    for s in c.searches:
        process = c.processes.get(s.process_id)
        if process is not None and process.offence:
            for measure, value in _scope_measures(s).items():
                groups[(str(s.detail.get("kind") or ""), process.offence, measure)].append((s, value))
    over: dict[str, list[tuple[Record, dict[str, Any]]]] = defaultdict(list)
    for (kind, offence, measure), values in groups.items():
        if len(values) < c.policy.scope_min_group:
            continue
        median = statistics.median(v for _, v in values)
        for s, v in values:
            if median > 0 and v > c.policy.scope_factor * median:
                fact = {"seq": s.ref.seq, "kind": kind, "offence": offence, "measure": measure}
                over[s.actor].append((s, {**fact, "value": round(v, 2), "median": round(median, 2)}))
    flags = []
    for actor, items in over.items():
        searches = list({id(s): s for s, _ in items}.values())
        summary = f"{len(searches)} search(es) with a scope over {c.policy.scope_factor:g}x the median for the offence"
        flags.append(
            _flag(
                "scope_outlier",
                searches,
                summary,
                actor=actor,
                agency=searches[0].agency,
                process_ids=_cited(searches),
                facts={"over": [f for _, f in items]},
            )
        )
    return flags


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _off_shift(c: _Context) -> list[Flag]:
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    for r in c.records:
        if r.role:
            roles[r.actor][r.role] += 1
    flags = []
    for actor, searches in _by_actor(c.searches).items():
        role = roles[actor].most_common(1)[0][0] if roles[actor] else ""
        shift: Shift | None = c.policy.user_shifts.get(actor) or c.policy.role_shifts.get(role)
        if shift is None:
            continue
        outside = []
        for s in searches:
            t = c.local(s.at_ms)
            if not shift.covers(t.hour * 60 + t.minute, c.policy.shift_grace_minutes):
                outside.append(s)
        if len(outside) >= c.policy.shift_min_searches:
            hours = f"{_hhmm(shift.start_minute)}-{_hhmm(shift.end_minute)}"
            summary = f"{len(outside)} search(es) outside the declared shift {hours} ({c.policy.timezone})"
            facts = {"searches": len(outside), "shift": hours, "timezone": c.policy.timezone}
            flags.append(_flag("off_shift", outside, summary, actor=actor, agency=outside[0].agency, facts=facts))
    return flags


def _spikes(c: _Context, groups: Mapping[str, list[Record]], agency_wide: bool) -> list[Flag]:
    flags = []
    for key, records in groups.items():
        days: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            days[c.local(r.at_ms).date().isoformat()].append(r)
        if len(days) < c.policy.spike_min_days:
            continue
        median = statistics.median(len(rs) for rs in days.values())
        limit = max(c.policy.spike_factor * median, c.policy.spike_floor)
        spikes = {d: rs for d, rs in sorted(days.items()) if len(rs) > limit}
        if spikes:
            found = [r for rs in spikes.values() for r in rs]
            summary = f"{len(spikes)} day(s) above {c.policy.spike_factor:g}x the median of {median:g} searches a day"
            facts = {"median_per_day": median, "days": [{"day": d, "searches": len(rs)} for d, rs in spikes.items()]}
            actor, agency = ("", key) if agency_wide else (key, records[0].agency)
            flags.append(_flag("volume_spike", found, summary, actor=actor, agency=agency, facts=facts))
    return flags


def _volume_spike(c: _Context) -> list[Flag]:
    partners: dict[str, list[Record]] = defaultdict(list)
    for s in c.searches:
        if s.agency and s.agency not in c.policy.home_agencies:
            partners[s.agency].append(s)
    return _spikes(c, _by_actor(c.searches), agency_wide=False) + _spikes(c, partners, agency_wide=True)


def _hotlist_without_process(c: _Context) -> list[Flag]:
    def covered(r: Record) -> bool:
        cited = c.processes.get(r.process_id)
        if cited is not None and cited.in_force(r.at_ms):
            return True
        keys = r.plate_keys
        return bool(keys) and all(any(p.in_force(r.at_ms) for p in c.by_plate.get(k, ())) for k in keys)

    adds = [r for r in c.records if r.action == "hotlist.add" and r.decision in _ADDED and not covered(r)]
    return [
        _flag(
            "hotlist_without_process",
            rs,
            f"{len(rs)} hot-list add(s) with no process record naming them",
            actor=a,
            agency=rs[0].agency,
            facts={"adds": len(rs)},
        )
        for a, rs in _by_actor(adds).items()
    ]


def _exception_unreviewed(c: _Context) -> list[Flag]:
    flags = []
    for p in c.processes.values():
        due = p.review_due
        if p.kind in c.policy.exception_kinds and p.reviewed_at is None and due is not None and due < c.until_ms:
            own = [r for r in c.records if r.action.startswith("process.") and r.process_id == p.process_id]
            hours = (c.until_ms - due) / 3_600_000
            summary = f"{p.kind} record not reviewed, {hours:.0f} h past its review deadline"
            flags.append(
                _flag(
                    "exception_unreviewed",
                    own,
                    summary,
                    actor=p.registered_by,
                    agency=p.agency,
                    process_ids=(p.process_id,),
                    facts={"review_due_ms": due},
                )
            )
    return flags


_RULE_FUNCTIONS: dict[str, Callable[[_Context], list[Flag]]] = {
    "repeat_plate": _repeat_plate,
    "vague_reason": _vague_reason,
    "unused_process": _unused_process,
    "prohibited_purpose": _prohibited_purpose,
    "outside_agency": _outside_agency,
    "outside_jurisdiction": _outside_jurisdiction,
    "scope_outlier": _scope_outlier,
    "off_shift": _off_shift,
    "volume_spike": _volume_spike,
    "hotlist_without_process": _hotlist_without_process,
    "exception_unreviewed": _exception_unreviewed,
}


def review(
    audit_rows: pa.Table | Iterable[Mapping[str, Any]] | None,
    process_rows: pa.Table | Iterable[Mapping[str, Any]] | None,
    policy: ReviewPolicy,
    sharing: Iterable[str],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[Flag]:
    """Every flag of every rule over these rows, in rule order, then by user or agency.

    ``sharing`` is the allow-list of outside agencies. ``since_ms``/``until_ms`` bound the period the rows were
    taken from (default: their first and last record); ``until_ms`` is also "now" for review deadlines and the
    grace period of new process records.
    """
    records = [parse_record(r) for r in rows_of(audit_rows)]
    processes = {p.process_id: p for p in latest_processes(rows_of(process_rows))}
    by_plate: dict[str, list[Process]] = defaultdict(list)
    for p in processes.values():
        for key in p.plate_keys:
            by_plate[key].append(p)
    times = [r.at_ms for r in records]
    context = _Context(
        policy,
        records,
        [r for r in records if r.action == "search" and r.actor and r.actor != "anonymous"],
        processes,
        by_plate,
        policy.home_agencies | frozenset(sharing),
        since_ms if since_ms is not None else min(times, default=0),
        until_ms if until_ms is not None else max(times, default=0),
    )
    flags = [f for rule in RULES for f in _RULE_FUNCTIONS[rule](context)]
    return sorted(flags, key=lambda f: (RULES.index(f.rule), f.subject, f.records[0].at_ms if f.records else 0))
