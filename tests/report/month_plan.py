"""A generated month for the acceptance test of the transparency report (tests/report/test_month.py): the camera
registry and areas, the hot list, every read, hit, disposition, outcome and hold event, in time order, as plain
data. The worker phase (tests/report/month_worker.py) runs the steps; the test computes what the report must say
from the same data, by the rules of docs/transparency.md and docs/aggregates.md, never from the report's code.

Plates: hot-list plates start with X or W, every other plate with C. C, X and W are in no confusable group, so a
read of a C-plate can only hit through a planted candidate, and each planted confusable reading folds to one
entry only.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DAY, HOUR, MINUTE, SECOND = 86_400_000, 3_600_000, 60_000, 1000

REGISTRY = """camera_id,lat,lon,area,agency,mount,deployed_on,retired_on
cam-n1,47.610,-122.330,North,City PD,fixed,2024-03-01,
cam-n2,47.620,-122.340,North,City PD,fixed,2025-06-15,
cam-s1,47.500,-122.300,South,County SO,mobile,2025-01-10,
cam-s9,47.490,-122.310,South,County SO,fixed,2023-01-01,2025-12-31
cam-e1,47.600,-122.200,East,City PD,fixed,2026-01-05,
cam-e2,47.590,-122.210,East,City PD,mobile,2026-02-01,
cam-w1,47.600,-122.450,West,County SO,mobile,2025-09-01,
"""
AREAS = """area,kind,population
North,district,62000
South,district,24000
East,tract,8500
West,beat,
"""
SITES = {  # camera -> (area, agency, mount, deployed_on, retired_on), as REGISTRY says
    "cam-n1": ("North", "City PD", "fixed", "2024-03-01", ""),
    "cam-n2": ("North", "City PD", "fixed", "2025-06-15", ""),
    "cam-s1": ("South", "County SO", "mobile", "2025-01-10", ""),
    "cam-s9": ("South", "County SO", "fixed", "2023-01-01", "2025-12-31"),
    "cam-e1": ("East", "City PD", "fixed", "2026-01-05", ""),
    "cam-e2": ("East", "City PD", "mobile", "2026-02-01", ""),
    "cam-w1": ("West", "County SO", "mobile", "2025-09-01", ""),
}
AREA_INFO = {
    "North": ("district", 62000),
    "South": ("district", 24000),
    "East": ("tract", 8500),
    "West": ("beat", None),
}
READS_PER_DAY = {"cam-n1": 150, "cam-n2": 90, "cam-s1": 60, "cam-e1": 40, "cam-w1": 20}  # cam-w1 from day 20
HIT_CAMERAS = ("cam-n1", "cam-n1", "cam-n2", "cam-s1", "cam-e1", "cam-w1")


@dataclass(frozen=True)
class Entry:
    entry_id: str
    plate: str
    source: str
    reason: str
    record_number: str
    warrant_number: str
    expires_day: int | None  # days after the month's start; None: 2099


ENTRIES = (
    Entry("E-W1", "XKC3041", "ncic_extract", "arrest_warrant", "", "W-1001", None),
    Entry("E-W2", "XRT5820", "ncic_extract", "felony_vehicle", "", "W-1002", None),
    Entry("E-M1", "XEY9036", "ncic_extract", "missing_person", "N-5503", "", 27),
    Entry("E-S1", "WPF7713", "state_dmv", "stolen_vehicle", "N-5501", "", 27),
    Entry("E-S2", "WJK4422", "state_dmv", "stolen_plate", "N-5502", "", 27),
)
BY_ID = {e.entry_id: e for e in ENTRIES}
CONFUSED = {"E-W1": "XKC3O41", "E-W2": "XRT582O", "E-M1": "XEY9O36", "E-S1": "WPF77I3", "E-S2": "WJK4A22"}
ENTRY_WEIGHTS = (("E-W1", 35), ("E-W2", 20), ("E-M1", 15), ("E-S1", 20), ("E-S2", 10))
KIND_WEIGHTS = (("exact", 72), ("confusable", 15), ("candidate", 8), ("region_mismatch", 5))
DELAYS_S = (25, 50, 100, 250, 500, 1000, 2500, 7200, 40_000, 100_000, 40, 150)
OUTCOME_CYCLE = ("arrest", "vehicle_recovered", "citation", "no_action", "person_located", "arrest", "wrongful_stop")
REJECTED_EXACT = ("entry_stale", "vehicle_mismatch", "duplicate", "other")
SKIP_DAYS = (14,)  # the outcome deadline falls in day 14: no hit there, so the test cannot straddle it


@dataclass
class Hit:
    """A planted hit: the read that makes it, the entry, how it matches, and whether it alerts."""

    read_id: str
    entry_id: str
    at_ms: int
    camera: str
    kind: str
    alert: bool
    repeat: bool = False


@dataclass
class Decision:
    """A disposition (``kind`` verify) or an outcome (``kind`` outcome) event, by the hit it names."""

    kind: str
    read_id: str
    entry_id: str
    word: str
    at_ms: int
    who: str  # operator, operator2 or supervisor
    note: str = ""


@dataclass
class HoldStep:
    op: str  # place or release
    hold_id: str
    at_ms: int
    who: str  # supervisor (metro-pd) or records (county-so)
    read_ids: list[str] = field(default_factory=list)
    captured_to_ms: int = 0
    expires_at_ms: int = 0


@dataclass
class Plan:
    start_ms: int
    days: int
    reads: list[dict[str, Any]] = field(default_factory=list)  # every read sent (READ_SCHEMA fields)
    duplicates: set[str] = field(default_factory=set)  # the read ids that re-read a passage within 60 s
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    redelivered_days: tuple[int, ...] = (5,)  # the day whose verification batch is read twice
    holds: list[HoldStep] = field(default_factory=list)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY

    def in_period(self, ms: int) -> bool:
        return self.start_ms <= ms < self.end_ms

    def hotlist_csv(self) -> str:
        def day(offset: int) -> str:
            return (datetime.fromtimestamp(self.start_ms / 1000, UTC) + timedelta(days=offset)).date().isoformat()

        rows = ["entry_id,plate,state,type,reason,record_number,warrant_number,entry_date,expires_at,source"]
        for e in ENTRIES:
            expires = "2099-01-01" if e.expires_day is None else day(e.expires_day)
            rows.append(
                f"{e.entry_id},{e.plate},CA,PC,{e.reason},{e.record_number},{e.warrant_number},{day(-2)},"
                f"{expires},{e.source}"
            )
        return "\n".join(rows) + "\n"

    def steps(self) -> list[dict[str, Any]]:
        """The worker's steps in time order: one batch of reads per day, then the day's decisions and holds, then a
        tick; a day before the month and one after it (outside the period)."""
        out: list[dict[str, Any]] = []
        decided = sorted(self.decisions, key=lambda d: (d.at_ms, d.kind != "verify"))
        for day in range(-1, self.days + 1):
            lo, hi = self.start_ms + day * DAY, self.start_ms + (day + 1) * DAY
            reads = [r for r in self.reads if lo <= r["captured_at"] < hi]
            beats = [b for b in self.heartbeats if lo <= b["seen_at"] < hi]
            if reads or beats:
                out.append({"op": "reads", "at": lo + 22 * HOUR, "reads": reads, "heartbeats": beats})
            events = [asdict(d) for d in decided if lo <= d.at_ms < hi or (day == self.days and d.at_ms >= hi)]
            if events:
                out.append({"op": "decisions", "at": lo + 23 * HOUR, "events": events})
                if day in self.redelivered_days:
                    out.append({"op": "decisions", "at": lo + 23 * HOUR, "events": events, "again": True})
            holds = [asdict(h) for h in self.holds if lo <= h.at_ms < hi]
            if holds:
                out.append({"op": "holds", "events": holds})
            out.append({"op": "tick", "at": lo + 23 * HOUR + 50 * MINUTE})
        return out


def previous_month(now_ms: int) -> tuple[str, int, int]:
    """(YYYY-MM, its first instant, its days) of the calendar month before the one holding ``now_ms``."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    days = (today.replace(day=1) - first).days
    start = int(datetime(first.year, first.month, 1, tzinfo=UTC).timestamp() * 1000)
    return first.strftime("%Y-%m"), start, days


class _Plates:
    def __init__(self, rng: random.Random):
        self.rng, self.seen = rng, set()

    def next(self) -> str:
        while True:
            plate = "C" + "".join(self.rng.choice("EFJKPRTWXY") for _ in range(2))
            plate += "".join(self.rng.choice("3579") for _ in range(4))
            if plate not in self.seen:
                self.seen.add(plate)
                return plate


def _read(read_id: str, camera: str, at: int, plate: str, region: str = "CA", **more: Any) -> dict[str, Any]:
    return {"read_id": read_id, "camera_id": camera, "site_id": f"site-{camera}", "captured_at": at, "plate": plate,
            "region": region, "confidence": 92.0, **more}  # fmt: skip


def generate(start_ms: int, days: int, seed: int = 13) -> Plan:
    """The month starting at ``start_ms`` (``days`` long), deterministic for ``seed``."""
    rng = random.Random(seed)
    plates = _Plates(rng)
    plan = Plan(start_ms, days)
    n = 0

    def add(camera: str, at: int, plate: str, **more: Any) -> str:
        nonlocal n
        n += 1
        read_id = f"r{n:06d}"
        plan.reads.append(_read(read_id, camera, at, plate, **more))
        return read_id

    # Ordinary reads: a day before the month, the month, a day after; some passages read twice within 60 s.
    for day in range(-1, days + 1):
        base = start_ms + day * DAY
        for camera, per_day in READS_PER_DAY.items():
            if camera == "cam-w1" and not 20 <= day < days:
                continue
            count = per_day if 0 <= day < days else 5
            for i in range(count):
                at = base + 10 * MINUTE + rng.randrange(21 * HOUR)
                plate = plates.next()
                add(camera, at, plate)
                again = camera == "cam-n1" and i < 3 or camera == "cam-w1" and i == 0 and day % 4 == 0
                again = again or camera in ("cam-s1", "cam-e1") and i == 0 and day % 2 == 0
                if again:
                    plan.duplicates.add(add(camera, at + 10 * SECOND, plate))
        if 0 <= day < 10:  # cam-e2 sends heartbeats only; cam-n1 some too
            plan.heartbeats += [{"camera_id": "cam-e2", "site_id": "site-cam-e2", "seen_at": base + h * HOUR + 5}
                                for h in range(0, 24, 2)]  # fmt: skip
        if day == 3:
            plan.heartbeats.append({"camera_id": "cam-n1", "site_id": "site-cam-n1", "seen_at": base + 3 * HOUR})

    # Hits: 3..16 a day on 30-minute slots (never two hits of one entry inside the 600 s alert window but for the
    # planted repeat passages), a hit read on the day before and the day after the month.
    for day in range(-1, days + 1):
        if day in SKIP_DAYS:
            continue
        base = start_ms + day * DAY
        slots = rng.sample(range(2, 42), 3 + rng.randrange(14) if 0 <= day < days else 1)
        for slot in slots:
            at = base + slot * 30 * MINUTE + rng.randrange(10) * MINUTE
            entry = BY_ID[rng.choices([e for e, _ in ENTRY_WEIGHTS], [w for _, w in ENTRY_WEIGHTS])[0]]
            if entry.expires_day is not None and day > 24:
                entry = BY_ID["E-W1" if slot % 2 else "E-W2"]
            kind = rng.choices([k for k, _ in KIND_WEIGHTS], [w for _, w in KIND_WEIGHTS])[0]
            camera = rng.choice(HIT_CAMERAS)
            if camera == "cam-w1" and day < 20:
                camera = "cam-e1"
            if kind == "exact":
                read_id = add(camera, at, entry.plate)
            elif kind == "confusable":
                read_id = add(camera, at, CONFUSED[entry.entry_id])
            elif kind == "candidate":
                read_id = add(camera, at, plates.next(), candidates=[{"plate": entry.plate, "confidence": 71.0}])
            else:
                read_id = add(camera, at, entry.plate, region="NV")
            plan.hits.append(Hit(read_id, entry.entry_id, at, camera, kind, alert=kind != "region_mismatch"))
            if kind == "exact" and slot % 5 == 0:  # the same car at another camera 3 minutes on: no second alert
                other = "cam-n2" if camera != "cam-n2" else "cam-s1"
                again = add(other, at + 3 * MINUTE, entry.plate)
                plan.hits.append(Hit(again, entry.entry_id, at + 3 * MINUTE, other, "exact", False, repeat=True))
            elif kind == "exact" and slot % 7 == 0:  # a re-read of the hit read: a duplicate, no second hit
                plan.duplicates.add(add(camera, at + 20 * SECOND, entry.plate))
    plan.reads.sort(key=lambda r: (r["captured_at"], r["read_id"]))
    _decide(plan, rng)
    _holds(plan)
    return plan


def _decide(plan: Plan, rng: random.Random) -> None:
    """Dispositions with known delays (some slow, some never), corrections, outcomes (some never), refused ones."""
    d = plan.decisions
    confirmed: list[tuple[Hit, int]] = []
    misread: list[Hit] = []
    unverified: list[Hit] = []
    for i, h in enumerate(plan.hits):
        if h.repeat:
            d.append(Decision("verify", h.read_id, h.entry_id, "duplicate", h.at_ms + 30 * SECOND, "operator"))
            continue
        if i % 11 == 3:
            unverified.append(h)
            continue
        delay = DELAYS_S[i % len(DELAYS_S)] * SECOND
        if h.kind == "exact":
            word = "confirmed" if i % 6 else REJECTED_EXACT[(i // 6) % len(REJECTED_EXACT)]
        elif h.kind == "confusable":
            word = "confirmed" if i % 5 == 0 else "misread"
        elif h.kind == "candidate":
            word = "confirmed" if i % 5 < 2 else "misread"
        else:
            word = "wrong_region"
        note = "plate frame bent, read by eye" if word == "other" else ""
        who = "operator" if i % 3 else "operator2"
        d.append(Decision("verify", h.read_id, h.entry_id, word, h.at_ms + delay, who, note))
        if word == "confirmed":
            confirmed.append((h, h.at_ms + delay))
        elif word == "misread":
            misread.append(h)
    early = plan.start_ms + 12 * DAY
    late = plan.start_ms + 16 * DAY
    for j, (h, decided) in enumerate(confirmed):
        if j % 13 == 5:  # corrected later: stored as the latest, but the first disposition is what counts
            d.append(Decision("verify", h.read_id, h.entry_id, "vehicle_mismatch", decided + HOUR, "operator2"))
            continue
        share = 0.65 if h.at_ms < early else 0.5 if h.at_ms >= late else 0.6
        if rng.random() < share:
            outcome = OUTCOME_CYCLE[j % len(OUTCOME_CYCLE)]
            d.append(Decision("outcome", h.read_id, h.entry_id, outcome, decided + 2 * HOUR, "supervisor"))
            if j % 17 == 2:  # a second outcome: stored, not counted again
                d.append(Decision("outcome", h.read_id, h.entry_id, "wrongful_stop", decided + DAY, "supervisor"))
    for h in misread[:2] + unverified[:1]:  # outcomes on hits nobody confirmed: refused
        d.append(Decision("outcome", h.read_id, h.entry_id, "arrest", h.at_ms + 3 * HOUR, "supervisor"))


def _holds(plan: Plan) -> None:
    s = plan.start_ms
    day2 = [r["read_id"] for r in plan.reads if s + 2 * DAY <= r["captured_at"] < s + 3 * DAY][:5]
    before = [r["read_id"] for r in plan.reads if r["captured_at"] < s][:2]
    keep = plan.end_ms + 60 * DAY

    def place(hold_id: str, at: int, who: str, expires: int, captured_to: int | None = None) -> HoldStep:
        return HoldStep("place", hold_id, at, who, day2 if at > s + 3 * DAY else before,
                        at - HOUR if captured_to is None else captured_to, expires)  # fmt: skip

    plan.holds += [
        place("H-P", s - DAY + 23 * HOUR + 40 * MINUTE, "supervisor", keep),  # before the month, still in force
        place("H-1", s + 3 * DAY + 23 * HOUR + 40 * MINUTE, "supervisor", keep),
        place("H-2", s + 4 * DAY + 23 * HOUR + 40 * MINUTE, "supervisor", keep),
        place("H-3", s + 5 * DAY + 23 * HOUR + 40 * MINUTE, "records", s + 11 * DAY + 12 * HOUR),  # expires
        place("H-4", s + 6 * DAY + 23 * HOUR + 40 * MINUTE, "supervisor", keep, s + 9 * DAY),  # future window
        place("H-5", s + 6 * DAY + 23 * HOUR + 41 * MINUTE, "records", s + 400 * DAY),  # too long
        HoldStep("release", "H-1", s + 7 * DAY + 23 * HOUR + 40 * MINUTE, "records"),  # another agency
        place("H-6", s + 8 * DAY + 23 * HOUR + 40 * MINUTE, "records", plan.end_ms + 30 * DAY),
        HoldStep("release", "H-2", s + 9 * DAY + 23 * HOUR + 40 * MINUTE, "supervisor"),
        HoldStep("release", "H-none", s + 12 * DAY + 23 * HOUR + 40 * MINUTE, "supervisor"),  # unknown hold
        place("H-7", plan.end_ms + 23 * HOUR + 40 * MINUTE, "supervisor", keep),  # after the month
    ]
