"""Hot-list admission: one test per rule (an entry breaking only that rule), and a reference on random entries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config.settings import load_policy
from streams.core.hotlist import HotList
from streams.core.normalise import ALPHABET
from streams.core.policy import DAY_MS, RULES, AdmissionPolicy, ReasonRule, admit
from streams.model.hotlist import ENTRY_SCHEMA

NOW = 1_790_000_000_000
POLICY = load_policy()

GOOD: dict[str, Any] = {
    "entry_id": "E1",
    "plate": "7abc-123",
    "region": "us-ca",
    "plate_type": "PC",
    "reason": "stolen_vehicle",
    "legal_basis_type": "record_number",
    "legal_basis": "NCIC0001",
    "agency": "CA0000000",
    "entered_by": "clerk",
    "source": "ncic_extract",
    "valid_from": NOW - DAY_MS,
    "expires_at": NOW + 10 * DAY_MS,
}

# Each rule with an entry that breaks that rule and no other.
VIOLATIONS: dict[str, dict[str, Any]] = {
    "bad_plate": {"plate": "7ABC@123"},
    "bad_region": {"region": "CALI"},
    "unknown_reason": {"reason": "unpaid_parking"},
    "reason_not_allowed": {"reason": "gang_database"},
    "legal_basis_required": {"legal_basis": "   "},
    "warrant_required": {"reason": "arrest_warrant", "legal_basis_type": "record_number"},
    "record_number_required": {"legal_basis_type": "case_number"},
    "expiry_required": {"expires_at": None},
    "expiry_beyond_max": {"expires_at": NOW - DAY_MS + 30 * DAY_MS + 1},  # stolen_vehicle: max 30 days
    "already_expired": {"expires_at": NOW},
}


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{**GOOD, **r} for r in rows], schema=ENTRY_SCHEMA)


def test_every_rule_has_a_violation_case() -> None:
    assert set(VIOLATIONS) == set(RULES)


def test_compliant_entry_is_admitted() -> None:
    adm = admit(table([{}]), POLICY, NOW)
    assert adm.admitted.num_rows == 1 and adm.refused.num_rows == 0
    assert adm.refused_by_rule() == {}
    assert HotList.build(adm.admitted).entries["plate"].to_pylist() == ["7ABC123"]


@pytest.mark.parametrize("rule", RULES)
def test_entry_breaking_one_rule_is_refused_with_that_rule(rule: str) -> None:
    adm = admit(table([{"entry_id": "good"}, {"entry_id": "bad", **VIOLATIONS[rule]}]), POLICY, NOW)
    assert adm.admitted["entry_id"].to_pylist() == ["good"]
    assert adm.refused["entry_id"].to_pylist() == ["bad"]
    assert adm.refused["rule"].to_pylist() == [rule]
    assert adm.refused_by_rule() == {rule: 1}
    # the refused table keeps the entry's own columns
    assert adm.refused.column_names == [*ENTRY_SCHEMA.names, "rule"]


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": NOW - DAY_MS + 30 * DAY_MS},  # exactly the maximum
        {"expires_at": NOW + 1},  # one millisecond left
        {"valid_from": None, "expires_at": NOW + 30 * DAY_MS},  # no valid_from: the maximum counts from now
        {"reason": "arrest_warrant", "legal_basis_type": "warrant", "expires_at": NOW + 3000 * DAY_MS},  # no max
        {"reason": "felony_vehicle", "legal_basis_type": "warrant"},
        {"reason": "amber_alert", "expires_at": NOW + DAY_MS},
        {"region": None},  # region unknown is allowed (matches any region)
        {"region": ""},
        {"plate": "ab 12"},
        {"valid_from": NOW + DAY_MS, "expires_at": NOW + 2 * DAY_MS},  # valid later: admitted, matched later
    ],
)
def test_boundaries_that_are_admitted(change: dict[str, Any]) -> None:
    adm = admit(table([change]), POLICY, NOW)
    assert adm.refused.num_rows == 0, adm.refused["rule"].to_pylist()


def test_no_valid_from_uses_now_for_the_maximum() -> None:
    adm = admit(table([{"valid_from": None, "expires_at": NOW + 30 * DAY_MS + 1}]), POLICY, NOW)
    assert adm.refused["rule"].to_pylist() == ["expiry_beyond_max"]


def test_first_failing_rule_wins() -> None:
    adm = admit(table([{"plate": "", "reason": "nope", "expires_at": None}]), POLICY, NOW)
    assert adm.refused["rule"].to_pylist() == ["bad_plate"]


def test_empty_table() -> None:
    adm = admit(ENTRY_SCHEMA.empty_table(), POLICY, NOW)
    assert adm.admitted.num_rows == 0 and adm.refused.num_rows == 0


def _ref_rule(e: dict[str, Any], policy: AdmissionPolicy, now: int) -> str | None:
    plate = "".join(c.upper() for c in (e["plate"] or "") if c not in " -._/·")
    if not (1 <= len(plate) <= 12 and all(c in ALPHABET for c in plate)):
        return "bad_plate"
    region = (e["region"] or "").strip().upper().rsplit("-", 1)[-1]
    if not (len(region) <= 3 and all(c in ALPHABET for c in region)):
        return "bad_region"
    reason = e["reason"] or ""
    if reason not in policy.reasons:
        return "unknown_reason"
    rule = policy.reasons[reason]
    if not rule.alert:
        return "reason_not_allowed"
    if not (e["legal_basis"] or "").strip():
        return "legal_basis_required"
    kind = e["legal_basis_type"] or ""
    if rule.requires == "warrant" and kind != "warrant":
        return "warrant_required"
    if rule.requires == "record_number" and kind != "record_number":
        return "record_number_required"
    if e["expires_at"] is None:
        return "expiry_required"
    start = e["valid_from"] if e["valid_from"] is not None else now
    if rule.max_days is not None and e["expires_at"] > start + rule.max_days * DAY_MS:
        return "expiry_beyond_max"
    if e["expires_at"] <= now:
        return "already_expired"
    return None


POLICIES = [
    POLICY,
    AdmissionPolicy(
        reasons={
            "stolen_vehicle": ReasonRule(alert=True, requires=None, max_days=1),
            "arrest_warrant": ReasonRule(alert=True, requires="warrant"),
            "other": ReasonRule(alert=False),
        }
    ),
]
entry_st = st.fixed_dictionaries(
    {
        "plate": st.sampled_from(["7ABC123", "ab-12", "", "X" * 13, "A@1", None, "7·abc"]),
        "region": st.sampled_from(["CA", "us-ca", "", None, "CALI", "C@"]),
        "reason": st.sampled_from([*POLICY.reasons, "other", "unknown", "", None]),
        "legal_basis_type": st.sampled_from([*("warrant", "record_number", "case_number"), "", None]),
        "legal_basis": st.sampled_from(["W1", " ", "", None]),
        "valid_from": st.one_of(st.none(), st.integers(NOW - 40 * DAY_MS, NOW + 5 * DAY_MS)),
        "expires_at": st.one_of(st.none(), st.integers(NOW - 5 * DAY_MS, NOW + 40 * DAY_MS)),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(entry_st, max_size=25), st.sampled_from([0, 1]))
def test_admission_agrees_with_reference(rows: list[dict[str, Any]], which: int) -> None:
    policy = POLICIES[which]
    t = table([{**r, "entry_id": f"E{i}"} for i, r in enumerate(rows)])
    adm = admit(t, policy, NOW)
    expected = {f"E{i}": _ref_rule(r, policy, NOW) for i, r in enumerate(rows)}
    assert set(adm.admitted["entry_id"].to_pylist()) == {k for k, v in expected.items() if v is None}
    got_refused = dict(zip(adm.refused["entry_id"].to_pylist(), adm.refused["rule"].to_pylist(), strict=True))
    assert got_refused == {k: v for k, v in expected.items() if v is not None}
    assert adm.admitted.num_rows + adm.refused.num_rows == len(rows)
    # everything admitted can be built into a hot list
    HotList.build(adm.admitted)
    counts = adm.refused_by_rule()
    assert sum(counts.values()) == adm.refused.num_rows
    assert np.all([c in RULES for c in counts])
