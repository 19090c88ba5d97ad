"""A generated month of audit records with planted abuse, for the audit review (``streams.core.review``).

About 50 users of a home agency (metro-pd) and an allow-listed partner (county-so) work as they do: investigators
with cases, each under a legal-process record (warrants mostly, some exceptions reviewed by another supervisor),
searching the case's plates and scenes inside the record's scope; operators verifying hits; supervisors placing
holds and registering records; admins adding hot-list entries under a record; three declared night-shift users.
Normal variation includes near misses of every rule (an occasional placeholder reason, a late search within the
grace, a plate looked up twice outside scope, a fresh record not yet used, an exception not yet due for review).

Planted, each with the records behind it: a stalker, a fishing user with vague reasons, a federal side door (an
agency not on the allow-list; a partner user with an immigration purpose), an after-hours cluster, a volume spike
(a user, and the partner agency), a search far wider than its offence's others, a far-away allow-listed agency, a
record whose case nothing else names, an unreviewed emergency record, hot-list adds without a record.
Deterministic per seed. Plates are keyed-hash labels only (``k1:<16 hex>``), never plate text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from streams import resources

__all__ = ["HOME", "PARTNER", "Scenario", "generate"]

ZONE = "America/Chicago"
HOME, PARTNER, FAR, FEDERAL = "metro-pd", "county-so", "fl-sheriff", "fed-hsi"
START = datetime(2026, 3, 2, tzinfo=ZoneInfo(ZONE))  # a Monday; the clocks change on 2026-03-08
DAYS = 30
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
# Offence: (typical plate-history window in days, typical scene radius in m), weights for how often it comes up.
OFFENCES = {"burglary": (10, 250), "robbery": (5, 200), "homicide": (21, 400), "auto_theft": (3, 150),
            "fraud": (14, 300), "assault": (4, 150)}  # fmt: skip
OFFENCE_WEIGHTS = np.array([0.3, 0.2, 0.1, 0.2, 0.1, 0.1])
STREETS = ["Elm St", "Oak Ave", "Main St", "Maple Dr", "Cedar Ln", "Pine St", "Lake Shore Dr", "Hill Rd"]
LEADS = ["suspect vehicle history", "vehicle seen leaving the scene", "witness described the car",
         "follow-up on a tip from a caller", "check against a patrol notice", "lead from a tracking device",
         "vehicle named in the police report", "prosecutor asked for the vehicle's movements"]  # fmt: skip
PLACEHOLDERS = ["investigation", "inv", "test", "n/a", "follow up", "ongoing investigation", "routine check"]


@dataclass
class Scenario:
    """Rows for ``review`` and what it must find: ``planted`` maps (rule, user or agency) to the seqs of the records
    behind that flag; ``normal_users`` are the users no flag may name."""

    audit_rows: list[dict[str, Any]]
    process_rows: list[dict[str, Any]]
    sharing: tuple[str, ...]
    policy: dict[str, Any]
    planted: dict[tuple[str, str], frozenset[int]]
    normal_users: frozenset[str]
    since_ms: int
    until_ms: int


@dataclass
class _Case:
    investigator: str
    agency: str
    process_id: str
    case_number: str
    kind: str
    offence: str
    plates: list[str]
    start_day: int
    end_day: int
    area: dict[str, float] | None
    scope_from: int
    searched: int = 0


@dataclass
class _Builder:
    rng: np.random.Generator
    rows: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    planted: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    cases: dict[str, list[_Case]] = field(default_factory=dict)
    serial: int = 0

    # -- ids and times

    def hex(self, digits: int) -> str:
        return f"{int(self.rng.integers(0, 2**63)):016x}"[:digits]

    def plate(self) -> str:
        return f"k1:{int(self.rng.integers(0, 2**63)) * 2 + int(self.rng.integers(0, 2)):016x}"

    def case_number(self) -> str:
        self.serial += 1
        return f"2026-{100000 + self.serial * 7:06d}"

    @staticmethod
    def at(day: int, hour: float) -> int:
        """Local wall-clock time ``hour`` on day ``day`` of the month (DST-aware)."""
        midnight = (START + timedelta(days=day)).replace(hour=0)
        return int(midnight.timestamp() * 1000 + hour * HOUR_MS)

    def plant(self, rule: str, subject: str, row: dict[str, Any]) -> dict[str, Any]:
        self.planted.setdefault((rule, subject), []).append(row)
        return row

    # -- records

    def audit(self, at_ms: int, action: str, actor: str, role: str, **kw: Any) -> dict[str, Any]:
        detail = kw.pop("detail", {})
        row = {"at_ms": int(at_ms), "action": action, "actor": actor, "agency": actor.partition("@")[2],
               "role": role, "client": f"10.0.{int(self.rng.integers(0, 8))}.{int(self.rng.integers(2, 250))}",
               "reason": "", "case_number": "", "decision": "allowed", "rule": "", "rows": 0,
               "detail": json.dumps(detail, sort_keys=True)}  # fmt: skip
        row.update(kw)
        if row["decision"] == "refused":
            row["role"] = ""
        self.rows.append(row)
        return row

    def reason(self, case: _Case, vague: float = 0.03) -> tuple[str, bool]:
        if self.rng.random() < vague:
            pick = int(self.rng.integers(0, len(PLACEHOLDERS) + 1))
            return (PLACEHOLDERS[pick] if pick < len(PLACEHOLDERS) else case.case_number), True
        street = STREETS[int(self.rng.integers(0, len(STREETS)))]
        lead = LEADS[int(self.rng.integers(0, len(LEADS)))]
        what = case.offence.replace("_", " ").capitalize()
        return f"{what} at {int(self.rng.integers(100, 9900))} {street}: {lead}", False

    def search(self, case: _Case, at_ms: int, *, plates: list[str] | None = None, window_days: float | None = None,
               vague: float = 0.03, **kw: Any) -> dict[str, Any]:  # fmt: skip
        """A search on ``case`` inside its scope (unless ``plates``/``window_days`` say otherwise)."""
        typical_days, typical_radius = OFFENCES[case.offence]
        reason, is_vague = self.reason(case, vague)
        reason = kw.pop("reason", reason)
        detail: dict[str, Any] = {"process_id": case.process_id, "purpose": "criminal investigation",
                                  "cameras": [], "area": None, "hit_id": None, "entry_id": None,
                                  "status": 200, "method": "POST"}  # fmt: skip
        roll = self.rng.random()
        if plates is None and case.area is not None and roll < 0.25:
            lo = at_ms - int(self.rng.uniform(1, 10) * DAY_MS)
            area = {"lat": case.area["lat"], "lon": case.area["lon"],
                    "radius_m": round(typical_radius * self.rng.uniform(0.7, 1.3))}  # fmt: skip
            cameras = [f"cam-{int(self.rng.integers(0, 400)):03d}" for _ in range(int(self.rng.integers(3, 11)))]
            detail |= {"kind": "near_scene", "plate_keys": [], "area": area, "cameras": cameras,
                       "from_ms": lo, "to_ms": lo + int(self.rng.uniform(1, 4) * HOUR_MS)}  # fmt: skip
        elif plates is None and roll < 0.35:
            detail |= {"kind": "hit_trail", "plate_keys": [], "hit_id": f"hit-{self.hex(12)}", "from_ms": None,
                       "to_ms": None}  # fmt: skip
        else:
            if plates is None:
                take = 2 if len(case.plates) > 1 and self.rng.random() < 0.3 else 1
                plates = [str(p) for p in self.rng.choice(case.plates, size=take, replace=False)]
            days = window_days if window_days is not None else typical_days * self.rng.uniform(0.6, 1.6)
            detail |= {"kind": "plate_history", "plate_keys": plates, "from_ms": at_ms - int(days * DAY_MS),
                       "to_ms": at_ms}  # fmt: skip
        detail["route"] = f"/v1/search/{detail['kind']}"
        detail |= kw.pop("detail", {})
        role = "investigator"
        case.searched += 1
        row = self.audit(at_ms, "search", case.investigator, role, reason=reason, case_number=case.case_number,
                         rows=int(self.rng.integers(0, 400)), detail=detail, **kw)  # fmt: skip
        row["vague"] = is_vague
        return row

    def open_case(self, investigator: str, registrar: str, start_day: int, *, kind: str | None = None,
                  offence: str | None = None, scope_days: int = 120, reviewer: str | None = None,
                  hotlist: bool = True) -> _Case:  # fmt: skip
        """A case with its legal-process record (and its registration, review and hot-list audit records)."""
        kinds = ["warrant", "court_order", "stolen_vehicle", "missing_person", "emergency"]
        kind = kind or str(self.rng.choice(kinds, p=[0.55, 0.2, 0.1, 0.05, 0.1]))
        offence = offence or str(self.rng.choice(list(OFFENCES), p=OFFENCE_WEIGHTS))
        registered = self.at(start_day, self.rng.uniform(7.5, 10))
        agency = investigator.partition("@")[2]
        area = {"lat": 41.88 + self.rng.uniform(-0.1, 0.1), "lon": -87.63 + self.rng.uniform(-0.1, 0.1)}
        case = _Case(investigator, agency, f"lp-{self.hex(12)}", self.case_number(), kind, offence,
                     [self.plate() for _ in range(int(self.rng.integers(1, 4)))], start_day,
                     min(DAYS - 1, start_day + int(self.rng.integers(10, 30))),
                     area if self.rng.random() < 0.5 else None, registered - scope_days * DAY_MS)  # fmt: skip
        self.cases.setdefault(investigator, []).append(case)
        row = {"process_id": case.process_id, "version": 1, "kind": kind, "number": f"W-{self.hex(6)}",
               "issuer": "Circuit Court of Cook County", "case_number": case.case_number, "offence": offence,
               "plate_keys": [("k1", int(p[3:], 16)) for p in case.plates], "cameras": [],
               "centre_lat": case.area["lat"] if case.area else None,
               "centre_lon": case.area["lon"] if case.area else None,
               "radius_m": 2.0 * OFFENCES[offence][1] if case.area else None,
               "scope_from": case.scope_from, "scope_to": self.at(DAYS + 30, 0), "expires_at": self.at(DAYS + 30, 0),
               "registered_by": registrar, "agency": agency, "registered_at": registered,
               "reviewed_by": "", "reviewed_at": None, "review_due": registered + 72 * HOUR_MS}  # fmt: skip
        self.processes.append(row)
        detail = {"process_id": case.process_id, "kind": kind, "case_number": case.case_number, "offence": offence}
        role = "records" if registrar.startswith("rec") else "supervisor"
        self.audit(registered, "process.register", registrar, role, case_number=case.case_number, detail=detail,
                   reason=f"{kind.replace('_', ' ')} for {offence.replace('_', ' ')} case")  # fmt: skip
        is_exception = kind in ("stolen_vehicle", "missing_person", "emergency")
        if is_exception and reviewer and registered + 48 * HOUR_MS < self.at(DAYS, 0):
            done = registered + int(self.rng.uniform(2, 48) * HOUR_MS)
            self.processes.append(row | {"version": 2, "reviewed_by": reviewer, "reviewed_at": done})
            detail = {"process_id": case.process_id}
            self.audit(done, "process.review", reviewer, "supervisor", case_number=case.case_number, detail=detail,
                       reason="exception reviewed: basis confirmed")  # fmt: skip
        if hotlist and (kind in ("stolen_vehicle", "missing_person") or self.rng.random() < 0.1):
            cite = {"process_id": case.process_id} if self.rng.random() < 0.5 else {}
            self.audit(registered + HOUR_MS, "hotlist.add", f"adm{1 + int(self.rng.integers(0, 2))}@{HOME}", "admin",
                       reason=f"{offence.replace('_', ' ')} case entry", case_number=case.case_number,
                       detail={"entry_ids": [f"e-{self.hex(10)}"], "plate_keys": case.plates[:1], **cite})  # fmt: skip
        return case

    def active(self, investigator: str, day: int) -> list[_Case]:
        return [c for c in self.cases[investigator] if c.start_day <= day <= c.end_day]

    def case_on(self, investigator: str, day: int) -> _Case:
        """A case the investigator works on ``day``, else their first (its record's scope still holds)."""
        return (self.active(investigator, day) or self.cases[investigator])[0]

    def workday(self, day: int, p_weekday: float = 0.92, p_weekend: float = 0.1) -> bool:
        weekend = (START + timedelta(days=day)).weekday() >= 5
        return self.rng.random() < (p_weekend if weekend else p_weekday)


def _day_hours(b: _Builder, night: bool, n: int) -> Iterator[float]:
    for _ in range(n):
        if night:
            yield b.rng.uniform(19.25, 30.75) % 24
        elif b.rng.random() < 0.01:
            yield b.rng.uniform(19.0, 19.45)  # a late search inside the grace
        else:
            yield b.rng.uniform(7.25, 18.75)


def _investigate(b: _Builder, user: str, registrars: list[str], rate: float, night: bool = False) -> None:
    """A month of an investigator's cases and searches, with the near misses a normal user has."""
    starts = [0, *sorted(int(d) for d in b.rng.integers(0, 28, size=int(b.rng.integers(2, 5))))]
    for i, start in enumerate(starts):
        registrar = registrars[(i + len(user)) % len(registrars)]
        others = [r for r in registrars if r != registrar and not r.startswith("rec")]
        reviewer = others[i % len(others)]
        b.open_case(user, registrar, start, reviewer=reviewer)
    for day in range(DAYS):
        cases = b.active(user, day)
        if not cases or not b.workday(day):
            continue
        for hour in _day_hours(b, night, int(b.rng.poisson(rate))):
            day_of = day + 1 if night and hour < 12 else day
            if day_of < DAYS:
                b.search(cases[int(b.rng.integers(0, len(cases)))], b.at(day_of, hour))
    for case in b.cases[user]:
        if case.searched == 0 and case.start_day <= DAYS - 6:  # every record is used once it is a few days old
            b.search(case, b.at(case.start_day, 11 if not night else 21))
    own = b.cases[user][0]
    if not night and b.rng.random() < 0.3:  # one late search beyond the grace: not a pattern
        b.search(own, b.at(int(b.rng.integers(0, 20)), b.rng.uniform(20, 21)))
    if b.rng.random() < 0.3:  # a plate outside the case, looked up three times in four days, refused
        stray, day = b.plate(), int(b.rng.integers(0, 25))
        for d in (day, day + 1, day + 3):
            b.search(own, b.at(d, 22 if night else 10), plates=[stray], decision="refused", rule="outside_scope",
                     detail={"status": 403})  # fmt: skip


def _supervise(b: _Builder, supervisors: list[str]) -> None:
    """Holds on some cases, placed by a supervisor of the case's agency."""
    for cases in list(b.cases.values()):
        for case in cases:
            mine = [s for s in supervisors if s.endswith("@" + case.agency)]
            if mine and b.rng.random() < 0.3:
                day = min(DAYS - 1, case.start_day + int(b.rng.integers(1, 6)))
                b.audit(b.at(day, b.rng.uniform(8, 17)), "hold_placed", mine[int(b.rng.integers(0, len(mine)))],
                        "supervisor", decision="applied", case_number=case.case_number,
                        reason=f"Preserve reads for prosecution of the {case.offence.replace('_', ' ')} case",
                        detail={"hold_id": f"h-{b.hex(10)}", "plate_keys": len(case.plates)})  # fmt: skip


def _operate(b: _Builder, operators: list[str]) -> None:
    for op in operators:
        for day in range(DAYS):
            if b.workday(day, 0.75, 0.5):
                for _ in range(int(b.rng.poisson(15))):
                    b.audit(b.at(day, b.rng.uniform(0, 24)), "verify", op, "operator",
                            detail={"hit_id": f"hit-{b.hex(12)}", "decision": "confirmed"})  # fmt: skip


def _plant(b: _Builder, sups: list[str]) -> None:
    home = [f"rec1@{HOME}", *sups]
    stalker = f"inv-s@{HOME}"
    _investigate(b, stalker, home, 4)
    target = b.plate()
    for day in (3, 5, 8, 10, 11, 15, 17, 19, 22, 24, 25, 26):
        case = b.cases[stalker][0]
        b.plant("repeat_plate", stalker, b.search(case, b.at(day, b.rng.uniform(9, 17)), plates=[target], vague=0))

    fisher = f"inv-f@{HOME}"
    _investigate(b, fisher, home, 6)
    for row in [r for r in b.rows if r["actor"] == fisher and r["action"] == "search"]:
        if row["vague"] or b.rng.random() < 0.6:
            row["reason"] = row["case_number"] if b.rng.random() < 0.3 else str(b.rng.choice(PLACEHOLDERS))
            b.plant("vague_reason", fisher, row)

    owl = f"inv-n@{HOME}"
    _investigate(b, owl, home, 4)
    for day in (9, 17):
        for hour in (1.2, 2.1, 3.4):
            b.search(b.cases[owl][0], b.at(day, hour), vague=0)
    for row in [r for r in b.rows if r["actor"] == owl and r["action"] == "search"]:
        local = datetime.fromtimestamp(row["at_ms"] / 1000, ZoneInfo(ZONE))
        if not 6.5 <= local.hour + local.minute / 60 <= 19.5:
            b.plant("off_shift", owl, row)

    spiker = f"inv-v@{HOME}"
    _investigate(b, spiker, home, 4)
    spike_day = 12
    for hour in np.sort(b.rng.uniform(8, 18, size=60)):
        b.search(b.case_on(spiker, spike_day), b.at(spike_day, float(hour)), vague=0)
    lo, hi = b.at(spike_day, 0), b.at(spike_day + 1, 0)
    for row in [r for r in b.rows if r["actor"] == spiker and r["action"] == "search" and lo <= r["at_ms"] < hi]:
        b.plant("volume_spike", spiker, row)

    wide = f"inv-w@{HOME}"
    _investigate(b, wide, home, 4)
    burglary = b.open_case(wide, home[0], 2, kind="warrant", offence="burglary", scope_days=400)
    for day in (6, 13, 20):
        b.plant("scope_outlier", wide, b.search(burglary, b.at(day, 14), plates=burglary.plates[:1], window_days=150))

    ghost = f"sup-g@{HOME}"
    b.open_case(f"inv01@{HOME}", ghost, 4, kind="warrant", hotlist=False)
    b.cases[f"inv01@{HOME}"].pop()  # nobody ever works it
    b.plant("unused_process", ghost, b.rows[-1])

    lax = f"sup-l@{HOME}"
    emergency = b.open_case(f"inv02@{HOME}", lax, 18, kind="emergency", offence="assault")
    b.plant("exception_unreviewed", lax, next(r for r in reversed(b.rows) if r["action"] == "process.register"))
    for day in (18, 19):
        b.search(emergency, b.at(day, 15), plates=emergency.plates[:1], vague=0)

    admin = f"adm-x@{HOME}"
    for day in (6, 13, 20):
        detail = {"entry_ids": [f"e-{b.hex(10)}"], "plate_keys": [b.plate()]}
        b.plant("hotlist_without_process", admin,
                b.audit(b.at(day, 11), "hotlist.add", admin, "admin", reason="add to list", detail=detail))  # fmt: skip


def _outsiders(b: _Builder) -> None:
    """The federal side door, a far-away allow-listed agency, and a partner user with a prohibited purpose."""
    for user, days in ((f"fed1@{FEDERAL}", (7, 8, 14)), (f"fed2@{FEDERAL}", (21, 22, 23))):
        for day in days:
            detail = {"kind": "plate_history", "plate_keys": [b.plate()], "process_id": "", "status": 403,
                      "from_ms": b.at(day - 30, 0), "to_ms": b.at(day, 0), "purpose": "task force request"}  # fmt: skip
            b.plant("outside_agency", FEDERAL, b.audit(b.at(day, 13), "search", user, "investigator",
                    decision="refused", rule="agency_not_allowed", detail=detail,
                    reason="Federal task force request for vehicle location"))  # fmt: skip
    for day in (3, 5, 9, 10):
        detail = {"kind": "plate_history", "plate_keys": [b.plate()], "process_id": "", "status": 200,
                  "from_ms": b.at(day - 7, 0), "to_ms": b.at(day, 0), "purpose": "criminal investigation"}  # fmt: skip
        b.plant("outside_jurisdiction", FAR, b.audit(b.at(day, 10), "search", f"fl1@{FAR}", "investigator",
                reason="Vehicle stolen in Miami reported heading north", detail=detail))  # fmt: skip
    imm = f"cso-imm@{PARTNER}"
    _investigate(b, imm, [f"csup1@{PARTNER}", f"csup2@{PARTNER}"], 2)
    for day in (4, 11, 16, 24):
        b.plant("prohibited_purpose", imm, b.search(b.cases[imm][0], b.at(day, 10), plates=[b.plate()], vague=0,
                reason="ICE detainer follow-up on the vehicle owner", decision="refused", rule="refused_purpose",
                detail={"purpose": "civil immigration enforcement", "status": 403}))  # fmt: skip


def _policy(night_users: list[str]) -> dict[str, Any]:
    policy = yaml.safe_load(resources.policy_file("review.yaml").read_text(encoding="utf-8"))
    policy["timezone"] = ZONE
    policy["jurisdiction"] = {"home_agencies": [HOME], "regions": ["IL"],
                              "agency_regions": {HOME: "IL", PARTNER: "IL", FAR: "FL"}}  # fmt: skip
    policy["shifts"]["users"] = dict.fromkeys(night_users, "19:00-07:00")
    return policy


def generate(seed: int = 1) -> Scenario:
    """The scenario for ``seed``: the same rows, seqs and planted set every time."""
    b = _Builder(np.random.default_rng(seed))
    sups = [f"sup{i}@{HOME}" for i in range(1, 5)]
    registrars = [f"rec1@{HOME}", f"rec2@{HOME}", *sups]
    night = [f"inv{i:02d}@{HOME}" for i in (18, 19, 20)]
    investigators = [f"inv{i:02d}@{HOME}" for i in range(1, 21)]
    for user in investigators:
        _investigate(b, user, registrars, float(b.rng.uniform(2, 6)), night=user in night)
    partners = [f"cso{i}@{PARTNER}" for i in range(1, 6)]
    for user in partners:
        _investigate(b, user, [f"csup1@{PARTNER}", f"csup2@{PARTNER}"], 2)
    _plant(b, sups)
    _outsiders(b)
    spike_day = 15
    for user in partners:  # the partner agency's spike: each user a busy day, none alone above the floor
        for hour in b.rng.uniform(8, 18, size=10):
            b.search(b.case_on(user, spike_day), b.at(spike_day, float(hour)), vague=0)
    lo, hi = b.at(spike_day, 0), b.at(spike_day + 1, 0)
    for row in b.rows:
        if row["action"] == "search" and row["agency"] == PARTNER and lo <= row["at_ms"] < hi:
            b.plant("volume_spike", PARTNER, row)
    _supervise(b, [*sups, f"csup1@{PARTNER}", f"csup2@{PARTNER}"])
    operators = [f"op{i}@{HOME}" for i in range(1, 9)]
    _operate(b, operators)
    b.audit(b.at(DAYS - 1, 10), "audit.read", f"aud1@{HOME}", "auditor", reason="monthly review")

    b.rows.sort(key=lambda r: r["at_ms"])  # stable: equal times keep the order they were made in
    for seq, row in enumerate(b.rows, 1):
        row.pop("vague", None)
        row |= {"writer": "scenario", "seq": seq}
    planted = {key: frozenset(r["seq"] for r in rows) for key, rows in b.planted.items()}
    planted_users = {subject for _, subject in planted if "@" in subject}
    everyone = {r["actor"] for r in b.rows}
    return Scenario(
        audit_rows=b.rows,
        process_rows=b.processes,
        sharing=(PARTNER, FAR),
        policy=_policy(night),
        planted=planted,
        normal_users=frozenset(everyone - planted_users - {u for u in everyone if u.endswith((FEDERAL, FAR))}),
        since_ms=b.at(0, 0),
        until_ms=b.at(DAYS, 0),
    )
