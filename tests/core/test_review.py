"""Each review rule on hand-made rows: a case that must flag and a near miss that must not."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from streams.config.review_policy import load_review_policy, load_sharing, parse_shift, review_policy
from streams.core.review import Flag, ReviewPolicy, Shift, is_vague, prohibited_terms_in, review
from streams.errors import ConfigError

ZONE = ZoneInfo("America/Chicago")
DAY = 86_400_000
HOUR = 3_600_000
PLATE = "k1:9f2c0a1b3d4e5f60"
OTHER = "k1:0123456789abcdef"
ANN = "ann@metro-pd"
_seq = count(1)


def at(day: int, hour: float = 10.0) -> int:
    """ms of local (Chicago) time on day ``day`` after Tuesday 2026-03-03."""
    base = datetime(2026, 3, 3, tzinfo=ZONE).timestamp() * 1000 + day * DAY
    midnight = datetime.fromtimestamp(base / 1000, ZONE).replace(hour=0, minute=0)
    return int(midnight.timestamp() * 1000 + hour * HOUR)


@pytest.fixture(scope="module")
def policy() -> ReviewPolicy:
    return load_review_policy()


def record(at_ms: int, action: str = "search", actor: str = ANN, **fields: object) -> dict:
    """An audit row; keyword arguments not audit_log columns go into ``detail``."""
    columns = {"agency", "role", "client", "reason", "case_number", "decision", "rule", "rows"}
    detail = {k: v for k, v in fields.items() if k not in columns}
    row = {
        "at_ms": at_ms,
        "action": action,
        "actor": actor,
        "agency": actor.partition("@")[2],
        "role": "investigator",
        "reason": "Burglary at 1200 Elm St: suspect vehicle seen leaving",
        "case_number": "2026-000101",
        "decision": "allowed",
        "writer": "w1",
        "seq": next(_seq),
    }
    row.update({k: v for k, v in fields.items() if k in columns})
    row["detail"] = json.dumps(detail)
    return row


def search(at_ms: int, actor: str = ANN, plates: tuple[str, ...] = (PLATE,), days: float = 7, **fields: object) -> dict:
    fields = {
        "kind": "plate_history",
        "process_id": "lp-1",
        "from_ms": at_ms - int(days * DAY),
        "to_ms": at_ms,
        **fields,
    }
    return record(at_ms, "search", actor, plate_keys=list(plates), **fields)


def process(pid: str = "lp-1", **fields: object) -> dict:
    row = {
        "process_id": pid,
        "version": 1,
        "kind": "warrant",
        "case_number": "2026-000101",
        "offence": "burglary",
        "plate_keys": [("k1", int(PLATE.split(":")[1], 16))],
        "scope_from": at(-60),
        "scope_to": at(40),
        "expires_at": at(40),
        "registered_by": "sue@metro-pd",
        "agency": "metro-pd",
        "registered_at": at(-1),
        "reviewed_at": None,
        "review_due": at(2),
    }
    row.update(fields)
    return row


def flags_of(rule: str, audit: list[dict], processes: list[dict] | None, policy: ReviewPolicy, **kw) -> list[Flag]:
    sharing = kw.pop("sharing", ())
    return [f for f in review(audit, processes, policy, sharing, **kw) if f.rule == rule]


# 1. repeat_plate


def test_repeat_plate_flags_three_uncovered_searches_over_two_weeks(policy):
    rows = [search(at(d)) for d in (0, 6, 15)]
    [flag] = flags_of("repeat_plate", rows, [], policy)
    assert (flag.actor, flag.agency, flag.facts["plate_key"]) == (ANN, "metro-pd", PLATE)
    assert [r.seq for r in flag.records] == [r["seq"] for r in rows] and flag.process_ids == ("lp-1",)


@pytest.mark.parametrize(
    "days, processes",
    [
        ((0, 6, 15), [process()]),  # a warrant names the plate and holds every window
        ((0, 6, 13), []),  # 13 days: under the span
        ((0, 15), []),  # twice only
    ],
)
def test_repeat_plate_near_misses(policy, days, processes):
    assert flags_of("repeat_plate", [search(at(d)) for d in days], processes, policy) == []


@pytest.mark.parametrize(
    "covering",
    [
        process(plate_keys=[("k1", 1)]),  # another plate
        process(scope_from=at(10)),  # a window that holds none of the searches' windows
        process(expires_at=at(-1)),  # expired before the searches
    ],
)
def test_repeat_plate_counts_a_record_that_does_not_cover_as_none(policy, covering):
    assert len(flags_of("repeat_plate", [search(at(d)) for d in (0, 6, 15)], [covering], policy)) == 1


# 2. vague_reason


@pytest.mark.parametrize(
    "reason, vague",
    [
        ("investigation", True),
        ("Inv.", True),
        ("n/a", True),
        ("TEST", True),
        ("follow-up", True),
        ("abc", True),
        ("", True),
        ("2026-000101", True),
        ("case no. 2026-000101", True),
        ("#CR-2026-77", True),
        ("Burglary at 1200 Elm St: suspect vehicle seen leaving", False),
        ("Robbery 2026-000101, getaway car", False),
    ],
)
def test_is_vague(policy, reason, vague):
    assert is_vague(reason, "2026-000101", policy) is vague


def test_vague_reason_flags_a_user_above_the_rate(policy):
    rows = [search(at(d), plates=(f"k1:{d:016x}",), reason="inv" if d < 5 else None) for d in range(10)]
    rows = [{**r, "reason": r["reason"] or "Burglary at 1200 Elm St: suspect vehicle"} for r in rows]
    [flag] = flags_of("vague_reason", rows, [], policy)
    assert flag.actor == ANN and len(flag.records) == 5 and flag.facts["share"] == 0.5


@pytest.mark.parametrize("vague, total", [(4, 8), (5, 25)])  # under min_count; at or under max_share
def test_vague_reason_near_misses(policy, vague, total):
    rows = [search(at(d % 20, 9 + d % 8), plates=(f"k1:{d:016x}",)) for d in range(total)]
    rows = [{**r, "reason": "investigation"} if i < vague else r for i, r in enumerate(rows)]
    assert flags_of("vague_reason", rows, [], policy) == []


# 3. unused_process


def test_unused_process_flags_a_case_number_nothing_else_names(policy):
    register = record(at(0), "process.register", "sue@metro-pd", process_id="lp-9", case_number="2026-000999")
    rows = [register, search(at(1)), search(at(20))]
    [flag] = flags_of("unused_process", rows, [process("lp-9", case_number="2026-000999", registered_at=at(0))], policy)
    assert (flag.actor, flag.process_ids, [r.seq for r in flag.records]) == (
        "sue@metro-pd",
        ("lp-9",),
        [register["seq"]],
    )


def test_unused_process_near_misses(policy):
    used = process("lp-1", registered_at=at(0))  # the searches below name its case number
    new = process("lp-2", case_number="2026-000555", registered_at=at(16))  # 4 days old: inside the grace period
    rows = [search(at(1)), search(at(20))]
    assert flags_of("unused_process", rows, [used, new], policy) == []


# 4. prohibited_purpose


def test_prohibited_purpose_in_reason_or_purpose(policy):
    rows = [
        search(at(1), reason="ICE detainer request for the vehicle owner"),
        search(at(2), purpose="Civil  Immigration enforcement"),
        search(at(3), reason="Police notice: stolen device recovered near the justice center"),
    ]
    [flag] = flags_of("prohibited_purpose", rows, [], policy)
    assert [r.seq for r in flag.records] == [rows[0]["seq"], rows[1]["seq"]]
    assert flag.facts["terms"] == ["ice", "immigration"]


def test_prohibited_terms_are_whole_words(policy):
    assert prohibited_terms_in("police notice on a device; Justice; price", policy) == []
    assert prohibited_terms_in("at the PROTEST; reproductive   health clinic", policy) == [
        "protest",
        "reproductive health",
    ]
    assert prohibited_terms_in("protestant", replace(policy, prohibited_terms=("protest",))) == []


# 5. outside_agency, outside_jurisdiction


def test_outside_agency_unless_on_the_allow_list(policy):
    rows = [search(at(1), actor="fed1@fed-hsi", decision="refused"), search(at(2), actor="cso1@county-so")]
    [flag] = flags_of("outside_agency", rows, [], policy, sharing=["county-so"])
    assert (flag.actor, flag.agency, flag.subject, flag.facts["actors"]) == ("", "fed-hsi", "fed-hsi", ["fed1@fed-hsi"])
    assert flags_of("outside_agency", rows, [], policy, sharing=["county-so", "fed-hsi"]) == []


def test_outside_jurisdiction_by_region(policy):
    far = replace(policy, home_regions=frozenset({"IL"}), agency_regions={"fl-so": "FL", "cook-so": "IL"})
    rows = [search(at(1), actor="a@fl-so"), search(at(1), actor="b@cook-so"), search(at(1), actor="c@unknown-pd")]
    [flag] = flags_of("outside_jurisdiction", rows, [], far, sharing=["fl-so", "cook-so"])
    assert flag.agency == "fl-so" and len(flag.records) == 1


# 6. scope_outlier


def _windows(hours: list[float]) -> list[dict]:
    return [search(at(i), actor=f"u{i}@metro-pd", plates=(f"k1:{i:016x}",), days=h / 24) for i, h in enumerate(hours)]


def test_scope_outlier_flags_a_window_far_above_the_offence_median(policy):
    rows = _windows([24, 24, 30, 20, 24, 200])
    [flag] = flags_of("scope_outlier", rows, [process()], policy)
    assert flag.actor == "u5@metro-pd" and flag.facts["over"][0]["measure"] == "window_hours"
    assert flag.facts["over"][0]["median"] == 24


@pytest.mark.parametrize("hours", [[24, 24, 30, 20, 24, 90], [24, 24, 200]])  # under 4x; group under min_group
def test_scope_outlier_near_misses(policy, hours):
    assert flags_of("scope_outlier", _windows(hours), [process()], policy) == []


def test_scope_outlier_compares_within_an_offence(policy):
    rows = _windows([24, 24, 30, 20, 24]) + [search(at(9), actor="h@metro-pd", days=10, process_id="lp-h")]
    homicide = process("lp-h", offence="homicide")
    assert flags_of("scope_outlier", rows, [process(), homicide], policy) == []


# 7. off_shift


def test_off_shift_flags_three_searches_outside_the_role_shift(policy):
    rows = [search(at(d, 2.5), plates=(f"k1:{d:016x}",)) for d in range(3)] + [search(at(4, 19.4))]  # 19:24: grace
    [flag] = flags_of("off_shift", rows, [], policy)
    assert len(flag.records) == 3 and flag.facts["shift"] == "07:00-19:00"


def test_off_shift_near_misses(policy):
    two = [search(at(d, 2.5)) for d in range(2)]
    assert flags_of("off_shift", two, [], policy) == []
    night = replace(policy, user_shifts={ANN: Shift(19 * 60, 7 * 60)})
    assert flags_of("off_shift", [search(at(d, 2.5)) for d in range(5)], [], night) == []


def test_shift_covers_past_midnight():
    night = parse_shift("19:00-07:00")
    assert night.covers(2 * 60) and night.covers(19 * 60) and not night.covers(12 * 60)
    assert night.covers(18 * 60 + 45, grace_minutes=30) and not night.covers(18 * 60, grace_minutes=30)
    assert parse_shift("07:00-19:00").covers(19 * 60 + 29, 30) and not parse_shift("07:00-19:00").covers(20 * 60, 30)


# 8. volume_spike, hotlist_without_process


def _days(actor: str, per_day: list[int]) -> list[dict]:
    return [search(at(d, 9 + i * 0.1), actor=actor) for d, n in enumerate(per_day) for i in range(n)]


def test_volume_spike_per_user(policy):
    rows = _days(ANN, [5, 6, 4, 5, 5, 30])
    [flag] = flags_of("volume_spike", rows, [process()], policy)
    assert flag.actor == ANN and len(flag.records) == 30 and flag.facts["days"][0]["searches"] == 30


@pytest.mark.parametrize("per_day", [[5, 6, 4, 5, 5, 18], [5, 5, 5, 30]])  # under the floor; too few days
def test_volume_spike_near_misses(policy, per_day):
    assert flags_of("volume_spike", _days(ANN, per_day), [process()], policy) == []


def test_volume_spike_per_partner_agency_not_home(policy):
    rows = [r for u in range(4) for r in _days(f"p{u}@county-so", [3, 3, 3, 3, 3, 10])]
    rows += [r for u in range(4) for r in _days(f"h{u}@metro-pd", [3, 3, 3, 3, 3, 10])]
    [flag] = flags_of("volume_spike", rows, [process()], policy, sharing=["county-so"])
    assert (flag.actor, flag.agency, len(flag.records)) == ("", "county-so", 40)


def test_hotlist_adds_without_a_process_record(policy):
    rows = [
        record(at(1), "hotlist.add", "adm@metro-pd", entry_ids=["e1"], plate_keys=[OTHER]),  # flagged
        record(at(1), "hotlist.add", "adm@metro-pd", entry_ids=["e2"], plate_keys=[OTHER], process_id="lp-1"),
        record(at(2), "hotlist.add", "adm@metro-pd", entry_ids=["e3"], plate_keys=[PLATE]),  # lp-1 names the plate
        record(at(2), "hotlist.add", "adm@metro-pd", entry_ids=["e4"], plate_keys=[OTHER], decision="refused"),
        record(at(50), "hotlist.add", "adm@metro-pd", entry_ids=["e5"], plate_keys=[PLATE]),  # lp-1 expired
    ]
    [flag] = flags_of("hotlist_without_process", rows, [process()], policy)
    assert [r.seq for r in flag.records] == [rows[0]["seq"], rows[4]["seq"]]


# exception_unreviewed


def test_unreviewed_exception_past_its_deadline(policy):
    rows = [search(at(1)), search(at(10))]
    emergency = process("lp-e", kind="emergency", review_due=at(3))
    [flag] = flags_of("exception_unreviewed", rows, [process(), emergency], policy)
    assert flag.process_ids == ("lp-e",) and flag.actor == "sue@metro-pd"


def test_exception_near_misses(policy):
    rows = [search(at(1)), search(at(10))]
    reviewed = [process("lp-e", kind="emergency"), process("lp-e", kind="emergency", version=2, reviewed_at=at(1))]
    not_due = process("lp-f", kind="stolen_vehicle", review_due=at(12))
    warrant = process("lp-w", review_due=at(3))
    assert flags_of("exception_unreviewed", rows, [*reviewed, not_due, warrant], policy) == []


# rows as Arrow, the loaders


def test_review_reads_an_arrow_table_and_json_round_trips(policy):
    rows = [search(at(d)) for d in (0, 6, 15)]
    [flag] = [f for f in review(pa.Table.from_pylist(rows), None, policy, ()) if f.rule == "repeat_plate"]
    doc = json.loads(json.dumps(flag.to_json()))
    assert doc["rule"] == "repeat_plate" and [r["seq"] for r in doc["records"]] == [r["seq"] for r in rows]


def test_policy_from_a_review_block_and_bad_values(tmp_path: Path):
    assert review_policy({"review": {"shifts": {"users": {ANN: "22:00-06:00"}}}}).user_shifts[ANN] == Shift(1320, 360)
    with pytest.raises(ConfigError, match="shifts.roles"):
        review_policy({"shifts": {"roles": {"investigator": "7-19"}}})
    with pytest.raises(ConfigError, match="timezone"):
        review_policy({"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="bogus"):
        review_policy({"bogus": 1})


def test_load_sharing_formats(tmp_path: Path):
    names, mapping = tmp_path / "a.yaml", tmp_path / "b.yaml"
    names.write_text("[county-so, fl-so]\n")
    mapping.write_text("agencies:\n  - {agency: county-so, warrant_rules: true}\n")
    assert load_sharing(names) == ("county-so", "fl-so") and load_sharing(mapping) == ("county-so",)
    assert load_sharing(None) == ()
    names.write_text("agencies: 3\n")
    with pytest.raises(ConfigError, match="list of agencies"):
        load_sharing(names)
