"""The acceptance test of the transparency report (#13): a generated month through the embedded pipeline, then
`platestream report --period YYYY-MM`, and every figure of report.json against what the generator's ground truth
says, computed here by the rules of docs/transparency.md and docs/aggregates.md (tests/report/month_oracle.py for
disclosure control), suppressed and complementary cells included; the CSV files and the page carry the same values.

The month is the calendar month before today (the engine's TTLs run on the wall clock). Three processes share one
embedded store, one after another: a real Worker (reads, hits, dispositions, outcomes, holds; Kafka feeds in
memory), a real `platestream api` whose clock stands in the month (searches, refusals, process, sharing, partners;
real tokens), and the report command. The outcome deadline is set so that it falls in the middle of the month.
"""

from __future__ import annotations

import csv
import html
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import yaml

from tests.report.month_oracle import Col, Expected, expect, published
from tests.report.month_plan import (
    AREA_INFO,
    BY_ID,
    DAY,
    ENTRIES,
    HOUR,
    SITES,
    Decision,
    HoldStep,
    Plan,
    generate,
    previous_month,
)
from tests.report.month_requests import PARTNERS, Counted
from tests.report.month_run import RETENTION, VERIFY_WITHIN_S, Month, api_phase, files, report_phase, worker_phase
from tests.report.month_worker import PRINCIPALS
from tests.support.issuer import TokenIssuer


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, Month]]:
    root = tmp_path_factory.mktemp("month")
    now = time.time_ns() // 1_000_000
    period, start, days = previous_month(now)
    plan = generate(start, days)
    outcome_within_days = (now - (start + 15 * DAY)) // DAY  # the deadline falls in day 14 of the month
    settings = files(root, plan, outcome_within_days)
    hits = worker_phase(root, plan, settings)
    api_at = start + (days - 1) * DAY + 10 * HOUR
    trail_hit = max((h for h in plan.hits if h.entry_id == "E-W1" and h.kind == "exact" and h.at_ms < api_at),
                    key=lambda h: h.at_ms)  # fmt: skip
    trail = (hits[f"{trail_hit.read_id}|E-W1"]["hit_id"], trail_hit.camera)
    ledger = api_phase(root, TokenIssuer(root), settings, api_at, *trail)
    out, report_now = report_phase(root, settings, period)
    yield plan, Month(root, outcome_within_days, hits, ledger, api_at, report_now, out)


# --- the ground truth, by the documents' rules ------------------------------------------------------------------


def first_dispositions(plan: Plan) -> dict[str, Decision]:
    """Per hit (read id): its first disposition, the earliest by its time, then operator, then word."""
    first: dict[str, Decision] = {}
    for d in sorted((d for d in plan.decisions if d.kind == "verify"), key=lambda d: (d.at_ms, ACTORS[d.who], d.word)):
        first.setdefault(d.read_id, d)
    return first


def counted_outcomes(plan: Plan, first: dict[str, Decision]) -> dict[str, Decision]:
    """Per hit: its first outcome, of those recorded while its latest disposition was confirmed."""
    out: dict[str, Decision] = {}
    for o in sorted((d for d in plan.decisions if d.kind == "outcome"), key=lambda d: d.at_ms):
        latest = [d for d in plan.decisions if d.kind == "verify" and d.read_id == o.read_id and d.at_ms <= o.at_ms]
        if latest and max(latest, key=lambda d: d.at_ms).word == "confirmed":
            out.setdefault(o.read_id, o)
    return out


def bucket(seconds: float) -> str:
    for name, bound in (("lt_1m", 60), ("1m_5m", 300), ("5m_15m", 900), ("15m_1h", 3600), ("1h_1d", 86_400)):
        if seconds < bound:
            return name
    return "ge_1d"


def check(report: dict, name: str, want: Expected) -> None:
    got = published(report["tables"][name])
    assert got.rows == want.rows, name
    assert got.hidden == want.hidden, name


class Truth:
    """What the month holds, from the plan alone."""

    def __init__(self, plan: Plan, m: Month):
        self.plan = plan
        inside = plan.in_period
        self.reads = [r for r in plan.reads if inside(r["captured_at"])]
        self.hits = [h for h in plan.hits if inside(h.at_ms)]
        self.hit_of = {h.read_id: h for h in self.hits}
        self.first = {k: d for k, d in first_dispositions(plan).items() if k in self.hit_of}
        self.outcome = {k: o for k, o in counted_outcomes(plan, self.first).items() if k in self.hit_of}
        self.confirmed = [k for k, d in self.first.items() if d.word == CONFIRMED]
        # settled: captured (by the hour) before the deadline; the report ran between report_now[0] and [1]
        lo, hi = (t - m.outcome_within_days * DAY for t in m.report_now_ms)
        hours = [self.hit_of[k].at_ms // HOUR * HOUR for k in self.confirmed]
        assert not any(lo <= t < hi for t in hours), "a confirmed hit's hour straddles the outcome deadline"
        self.settled = {k for k in self.confirmed if self.hit_of[k].at_ms // HOUR * HOUR < hi}

    def camera(self, cam: str) -> tuple[str, str, str, str, str]:
        return SITES[cam]

    def group(self, key) -> dict[object, dict[str, int]]:  # noqa: ANN001
        out: dict[object, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DECISION_KEYS, 0))
        for h in self.hits:
            row = out[key(h)]
            row["hits"] += 1
            row["alerts"] += h.alert
            if h.read_id in self.first:
                row["verified"] += 1
                row["confirmed" if self.first[h.read_id].word == CONFIRMED else "rejected"] += 1
        return out


CONFIRMED = "confirmed"
ACTORS = {w: p.actor for w, p in PRINCIPALS.items()}
DECISION_KEYS = ("hits", "alerts", "verified", "confirmed", "rejected")
DECISION_COLS = [Col("hits"), Col("alerts"), Col("verified"), Col("confirmed"), Col("rejected"),
                 Col("false_hit_rate", "rate", ("rejected", "verified", 100))]  # fmt: skip
REJECTIONS = ("misread", "wrong_region", "entry_stale", "vehicle_mismatch", "duplicate", "other")
OUTCOMES = ("arrest", "vehicle_recovered", "person_located", "citation", "no_action", "wrongful_stop")


@pytest.fixture(scope="module")
def truth(month) -> Truth:  # noqa: ANN001
    return Truth(*month)


@pytest.fixture(scope="module")
def report(month) -> dict:  # noqa: ANN001
    return json.loads((month[1].out / "report.json").read_text())


def test_funnel(truth: Truth, report: dict, month) -> None:  # noqa: ANN001
    t, m = truth, month[1]
    words = [d.word for d in t.first.values()]
    recorded = [o.word for o in t.outcome.values()]
    no_outcome = len([k for k in t.settled if k not in t.outcome])
    stages = [
        ("Reads", len(t.reads)),
        ("Duplicates dropped", len([r for r in t.reads if r["read_id"] in t.plan.duplicates])),
        ("Hits", len(t.hits)),
        ("Alerts", sum(h.alert for h in t.hits)),
        ("Hits verified by a person", len(words)),
        ("Confirmed", words.count(CONFIRMED)),
        ("Rejected (false hits)", len(words) - words.count(CONFIRMED)),
        *((f"  rejected: {d}", words.count(d)) for d in REJECTIONS),
        ("Outcome recorded", len(recorded)),
        *((f"  outcome: {o}", recorded.count(o)) for o in OUTCOMES),
        (f"No outcome recorded within {m.outcome_within_days} days", no_outcome),
        ("Outcome not yet due", len(t.confirmed) - len(recorded) - no_outcome),
    ]
    at = {label: i for i, (label, _) in enumerate(stages)}

    def line(*labels: str) -> list[tuple[int, str]]:
        return [(at[x], "count") for x in labels]

    rej, out = [f"  rejected: {d}" for d in REJECTIONS], [f"  outcome: {o}" for o in OUTCOMES]
    lines = [
        line("Hits verified by a person", "Confirmed", "Rejected (false hits)"),
        line("Rejected (false hits)", *rej),
        line(
            "Confirmed",
            "Outcome recorded",
            f"No outcome recorded within {m.outcome_within_days} days",
            "Outcome not yet due",
        ),
        line("Outcome recorded", *out),
    ]
    rows = [{"stage": label, "count": n} for label, n in stages]
    want = expect([Col("stage", "label"), Col("count")], rows, lines=lines)
    got = published(report["tables"]["funnel"])
    assert got.rows[:-1] == want.rows and got.hidden == want.hidden  # the overdue row is in no line: see below
    assert no_outcome > 0 and stages[-1][1] > 0  # confirmed hits past the deadline and not yet due, both


def test_alerts_not_verified_in_time(truth: Truth, report: dict) -> None:
    t = truth
    alerts = [h for h in t.hits if h.alert]
    in_time = [h for h in alerts if h.read_id in t.first and (t.first[h.read_id].at_ms - h.at_ms) / 1000 < 300]
    assert len(alerts) - len(in_time) > 10
    row = published(report["tables"]["funnel"]).rows[-1]
    assert row == {"stage": f"Alerts not verified within {VERIFY_WITHIN_S} s", "count": len(alerts) - len(in_time)}


def test_hits_and_false_hits_by_list_kind_reason_and_agency(truth: Truth, report: dict) -> None:
    for name, first, key in [
        ("by_list", "list_source", lambda h: BY_ID[h.entry_id].source),
        ("by_match_kind", "match_kind", lambda h: h.kind),
        ("by_reason", "reason", lambda h: BY_ID[h.entry_id].reason),
        ("agencies", "agency", lambda h: SITES[h.camera][1]),
    ]:
        groups = truth.group(key)
        rows = [{first: k, **groups[k]} for k in sorted(groups)]
        want = expect([Col(first, "label"), *DECISION_COLS], rows, True, (("verified", ("confirmed", "rejected")),))
        check(report, name, want)


def test_time_to_verify_and_over_time(truth: Truth, report: dict) -> None:
    delays = [bucket((d.at_ms - truth.hit_of[k].at_ms) / 1000) for k, d in truth.first.items()]
    rows = [{"bucket": b, "verifications": delays.count(b)} for b in BUCKETS]
    check(report, "time_to_verify", expect([Col("bucket", "label"), Col("verifications")], rows, True))
    days = []
    for i in range(truth.plan.days):
        lo = truth.plan.start_ms + i * DAY
        hits = [h for h in truth.hits if lo <= h.at_ms < lo + DAY]
        days.append({"day": _iso_day(lo), "reads": len([r for r in truth.reads if lo <= r["captured_at"] < lo + DAY]),
                     "hits": len(hits), "alerts": sum(h.alert for h in hits)})  # fmt: skip
    check(report, "over_time", expect([Col("day", "label"), Col("reads"), Col("hits"), Col("alerts")], days, True))


BUCKETS = ("lt_1m", "1m_5m", "5m_15m", "15m_1h", "1h_1d", "ge_1d")


def _iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def per_camera(truth: Truth) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {c: dict.fromkeys(("reads", "duplicates", "hits", "alerts", "heartbeats",
                                                          "false_hits"), 0) for c in SITES}  # fmt: skip
    for r in truth.reads:
        out[r["camera_id"]]["reads"] += 1
        out[r["camera_id"]]["duplicates"] += r["read_id"] in truth.plan.duplicates
    for h in truth.hits:
        out[h.camera]["hits"] += 1
        out[h.camera]["alerts"] += h.alert
        out[h.camera]["false_hits"] += h.read_id in truth.first and truth.first[h.read_id].word != CONFIRMED
    for b in truth.plan.heartbeats:
        if truth.plan.in_period(b["seen_at"]):
            out[b["camera_id"]]["heartbeats"] += 1
    return out


def test_cameras_and_disparate_impact(truth: Truth, report: dict, month) -> None:  # noqa: ANN001
    cams = per_camera(truth)
    # Searches scoped to cameras (near-scene: the cameras named; hit trail: the hit's camera) count in every area
    # where one of their cameras is; only allowed ones reached data.
    reached: dict[str, int] = {}
    for c in month[1].ledger:
        if c.decision == "allowed":
            for area in {SITES[cam][0] for cam in c.cameras}:
                reached[area] = reached.get(area, 0) + 1
    assert reached  # the month has near-scene searches
    active = {c for c, n in cams.items() if n["reads"] or n["heartbeats"]}
    rows = []
    for cam in sorted(SITES):
        area, agency, mount, deployed, retired = SITES[cam]
        n = cams[cam]
        rows.append(
            {
                "camera_id": cam,
                "agency": agency,
                "area": area,
                "mount": mount,
                "deployed_on": deployed,
                "retired_on": retired,
                "active": int(cam in active),
                "heartbeats": n["heartbeats"],
                "reads": n["reads"],
                "duplicates": n["duplicates"],
                "hits": n["hits"],
                "alerts": n["alerts"],
            }
        )
    cols = [Col("camera_id", "label"), Col("agency", "label"), Col("area", "label"), Col("mount", "label"),
            Col("deployed_on", "label"), Col("retired_on", "label"), Col("active", "fact"), Col("heartbeats", "fact"),
            Col("reads"), Col("duplicates"), Col("hits"), Col("alerts")]  # fmt: skip
    check(report, "cameras", expect(cols, rows, True))
    assert {"cam-e2", "cam-w1"} <= active and "cam-s9" not in active  # heartbeats only; West; retired

    all_cameras = len(active)
    residents = sum(pop for _, pop in AREA_INFO.values() if pop)
    rows = []
    for area in sorted(AREA_INFO):
        kind, pop = AREA_INFO[area]
        mine = [c for c in SITES if SITES[c][0] == area]
        cameras = len([c for c in mine if c in active])
        camera_share, pop_share = cameras / all_cameras, (pop / residents if pop else None)
        rows.append({
            "area": area, "kind": kind, "population": pop, "cameras": cameras,
            "camera_share": round(100 * camera_share, 2),
            "population_share": None if pop_share is None else round(100 * pop_share, 2),
            "camera_to_population": None if pop_share is None else round(camera_share / pop_share, 2),
            **{k: sum(cams[c][k] for c in mine) for k in ("reads", "hits", "false_hits")},
            "searches": reached.get(area, 0),
        })  # fmt: skip
    per = [Col(f"{k}_per_1000_reads", "rate", (k, "reads", 1000)) for k in ("hits", "false_hits", "searches")]
    per += [Col(f"{k}_per_10000_residents", "rate", (k, "population", 10_000))
            for k in ("cameras", "reads", "hits", "false_hits", "searches")]  # fmt: skip
    cols = [
        Col("area", "label"),
        Col("kind", "label"),
        Col("population", "fact"),
        Col("cameras", "fact"),
        Col("camera_share", "fact", additive=False),
        Col("population_share", "fact", additive=False),
        Col("camera_to_population", "fact", additive=False),
        Col("reads"),
        Col("hits"),
        Col("false_hits"),
        Col("searches", additive=False),
        *per,
    ]
    check(report, "areas", expect(cols, rows, True))  # fmt: skip
    assert rows[-1]["population"] is None  # West: no population, so no rate per resident


def decisions(ledger: list[Counted], key) -> list[dict]:  # noqa: ANN001
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("allowed", "refused", "failed"), 0))
    for c in ledger:
        out[key(c)][c.decision] += 1
    return [(k, {**n, "requests": sum(n.values())}) for k, n in sorted(out.items())]


REQUEST_COLS = [Col("allowed"), Col("refused"), Col("failed"), Col("requests")]
REQUEST_SUMS = (("requests", ("allowed", "refused", "failed")),)


def test_searches_refusals_partners_and_their_requests(month, report: dict) -> None:  # noqa: ANN001
    m = month[1]
    searches = [c for c in m.ledger if c.kind]
    rows = [
        {"kind": k, "justification": j, **n} for (k, j), n in decisions(searches, lambda c: (c.kind, c.justification))
    ]
    cols = [Col("kind", "label"), Col("justification", "label"), *REQUEST_COLS]
    check(report, "searches", expect(cols, rows, True, REQUEST_SUMS))

    refused: dict[tuple[str, str], int] = defaultdict(int)
    for c in m.ledger:
        if c.decision == "refused":
            refused[(c.action, c.rule)] += 1
    rows = [{"action": a, "rule": r, "refused": n} for (a, r), n in sorted(refused.items())]
    check(report, "refusals", expect([Col("action", "label"), Col("rule", "label"), Col("refused")], rows, True))

    added_on = _iso_day(m.api_at_ms)
    rows = [{"agency": a, "warrant_rules": w, "retention": r, "added_on": added_on} for a, (w, r) in PARTNERS.items()]
    partners = [Col("agency", "label"), Col("warrant_rules", "label"), Col("retention", "label"),
                Col("added_on", "label")]  # fmt: skip
    got = published(report["tables"]["partners"])
    assert sorted(got.rows, key=str) == sorted(expect(partners, rows).rows, key=str) and not got.hidden

    outside = [c for c in m.ledger if c.partner]
    rows = [{"agency": a, "purpose": p, **n} for (a, p), n in decisions(outside, lambda c: (c.agency, c.purpose))]
    rows += [{"agency": a, "purpose": "", "allowed": 0, "refused": 0, "failed": 0, "requests": 0}
             for a in PARTNERS if a not in {c.agency for c in outside}]  # fmt: skip
    rows.sort(key=lambda r: (r["agency"], r["purpose"]))
    cols = [Col("agency", "label"), Col("purpose", "label"), *REQUEST_COLS]
    check(report, "external_requests", expect(cols, rows, True, REQUEST_SUMS))
    assert "county-da" in {r["agency"] for r in rows}  # listed, and asked nothing


def test_holds_deletions_retention_checkpoints_and_hotlist(truth: Truth, report: dict, month) -> None:  # noqa: ANN001
    plan, m = truth.plan, month[1]
    changes = {"placed": 0, "refused": 0, "released": 0, "expired": 0}
    agency = {"supervisor": "metro-pd", "records": "county-so"}
    placed: dict[str, HoldStep] = {}
    released: set[str] = set()
    max_s = 365 * 86_400
    for h in sorted(plan.holds, key=lambda h: h.at_ms):
        ok = True
        if h.op == "place":
            ok = h.captured_to_ms <= h.at_ms and h.expires_at_ms - h.at_ms <= max_s * 1000
            if ok:
                placed[h.hold_id] = h
        else:
            ok = h.hold_id in placed and agency[placed[h.hold_id].who] == agency[h.who] and h.hold_id not in released
            if ok:
                released.add(h.hold_id)
        if plan.in_period(h.at_ms):
            changes["refused" if not ok else "placed" if h.op == "place" else "released"] += 1
    changes["expired"] = len(
        [h for h in placed.values() if h.hold_id not in released and plan.in_period(h.expires_at_ms)]
    )
    rows = [{"change": c, "holds": n} for c, n in changes.items()]
    check(report, "hold_changes", expect([Col("change", "label"), Col("holds")], rows))
    assert all(changes.values())
    in_force: dict[str, int] = defaultdict(int)
    for h in placed.values():
        if h.at_ms < plan.end_ms < h.expires_at_ms and h.hold_id not in released:
            in_force[agency[h.who]] += 1
    rows = [{"agency": a, "holds": n} for a, n in sorted(in_force.items())]
    check(report, "holds_in_force", expect([Col("agency", "label"), Col("holds")], rows, True))

    # processor state: each day's passages (plate, region, camera) dropped at the day's tick, all inside the month
    passages = sum(
        len({(r["plate"], r["region"], r["camera_id"]) for r in truth.reads if r["captured_at"] // DAY == day})
        for day in {r["captured_at"] // DAY for r in truth.reads}
    )
    rows = [{"store": "processor_state", "data_class": "non_hit_reads", "deleted": passages}]
    check(report, "deletions", expect([Col("store", "label"), Col("data_class", "label"), Col("deleted")], rows, True))

    policy = yaml.safe_load(RETENTION)
    kept = report["tables"]["retention"]["rows"]
    assert {r[0]: r[1] for r in kept} == {**{k: v for k, v in policy.items() if k != "source"}, "hold_max": max_s}
    assert report["tables"]["checkpoints"]["rows"] == []  # no audit sequencer ran: no checkpoint signed
    assert report["settings"]["outcome_within_days"] == m.outcome_within_days
    # The hot list was loaded from its CSV before the month (no event, no change counted); the entries with an
    # expiry inside the month expired in it.
    expired = len([e for e in ENTRIES if e.expires_day is not None and e.expires_day < plan.days])
    hotlist = {"added": 0, "refused": 0, "expired": expired, "cleared": 0, "cleared_by_snapshot": 0, "expiry_capped": 0}
    rows = [{"change": c, "rule": "", "entries": n} for c, n in hotlist.items()]
    check(report, "hotlist", expect([Col("change", "label"), Col("rule", "label"), Col("entries")], rows))
    assert expired


def test_csv_and_page_carry_the_same_values(report: dict, month) -> None:  # noqa: ANN001
    out = month[1].out
    page = out.joinpath("report.html").read_text()
    for name, table in report["tables"].items():
        with (out / f"{name}.csv").open(newline="") as f:
            lines = list(csv.reader(f))
        assert lines[0] == [c["key"] for c in table["columns"]], name
        assert lines[1:] == [[_text(v) for v in row] for row in table["rows"]], name
        for row in table["rows"]:
            for v in row:
                assert html.escape(_text(v), quote=False) in page, (name, v)


def _text(v: object) -> str:
    return "" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)
