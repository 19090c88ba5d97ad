"""What the console shows of a hit, without a browser: differing positions against a slow obvious reference, the
possible-misread rule, overdue by the policy's deadline, and the agency a hit belongs to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.api.console.view import HitView, agency_of, differing, normalise
from streams.kafka.hits_feed import Decision, FeedHit

plates = st.text(alphabet="ABC018OI -", max_size=10)


@given(plates, plates)
def test_differing_positions_are_those_a_person_would_mark(read: str, entry: str) -> None:
    a, b = normalise(read), normalise(entry)
    expected = []
    for i in range(max(len(a), len(b))):
        ca = a[i] if i < len(a) else None
        cb = b[i] if i < len(b) else None
        if ca != cb:
            expected.append(i + 1)
    assert differing(read, entry) == expected


def view(kind: str = "exact", confidence: float = 95.0, age_ms: int = 0, decided: bool = False) -> HitView:
    payload = {"hit_id": "h", "match_kind": kind, "ocr_confidence": confidence,
               "read_time": "2026-01-01T00:00:00Z", "read_plate": "8ABC", "entry_plate": "BABC"}  # fmt: skip
    captured = 1_767_225_600_000
    hit = FeedHit(payload, Decision("misread", "op@x", 0) if decided else None)
    return HitView(hit, captured + age_ms, verify_within_ms=300_000, low_confidence=80)


def test_possible_misread_for_confusable_candidate_unknown_kind_and_low_confidence() -> None:
    assert not view("exact").possible_misread
    assert not view("region_mismatch").possible_misread
    for kind in ("confusable", "candidate", "something_new"):
        assert view(kind).possible_misread
    assert view("exact", confidence=79.9).possible_misread


def test_overdue_only_when_undecided_past_the_deadline() -> None:
    assert not view(age_ms=300_000).overdue
    assert view(age_ms=300_001).overdue
    assert not view(age_ms=900_000, decided=True).overdue
    assert view().differing == [1]


def test_a_hit_belongs_to_its_entry_agency_else_the_home_agency() -> None:
    assert agency_of({"entry_agency": "county-so"}, "metro-pd") == "county-so"
    assert agency_of({}, "metro-pd") == "metro-pd"
