"""Hot-list admission policy: which entries may raise real-time alerts, decided from data, not code.

An entry that fails a rule is refused with the rule's name and never matched. Rules, checked in this order:

    bad_plate              plate is not 1-12 letters/digits after normalisation
    bad_region             region is not 0-3 letters/digits after normalisation
    unknown_reason         the reason is not in the policy
    reason_not_allowed     the policy lists the reason but does not let it raise alerts
    legal_basis_required   no warrant, record or case number
    warrant_required       the reason needs a warrant and the basis is of another kind
    record_number_required the reason needs a record (e.g. NCIC) number and the basis is of another kind
    expiry_required        no expires_at
    expiry_beyond_max      expires_at later than valid_from plus the reason's maximum
    already_expired        expires_at is not after the time of admission
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.normalise import encode_plates, encode_regions, normalise_plates, normalise_regions

RULES = (
    "bad_plate",
    "bad_region",
    "unknown_reason",
    "reason_not_allowed",
    "legal_basis_required",
    "warrant_required",
    "record_number_required",
    "expiry_required",
    "expiry_beyond_max",
    "already_expired",
)
BASIS_KINDS = ("warrant", "record_number", "case_number")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class ReasonRule:
    alert: bool = True
    requires: str | None = None  # one of BASIS_KINDS, or None for any legal basis
    max_days: int | None = None  # longest allowed validity; None = no limit beyond the entry's own expiry


@dataclass(frozen=True)
class AdmissionPolicy:
    reasons: dict[str, ReasonRule]
    alert_kinds: frozenset[str] = frozenset({"exact", "candidate", "confusable"})
    source_max_age_hours: float = 24.0
    low_confidence: float = 80.0
    confusable_groups: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Admission:
    admitted: pa.Table
    refused: pa.Table  # the refused entries with a ``rule`` column

    def refused_by_rule(self) -> dict[str, int]:
        if self.refused.num_rows == 0:
            return {}
        counts = self.refused["rule"].value_counts().to_pylist()
        return {c["values"]: c["counts"] for c in counts}


def admit(entries: pa.Table, policy: AdmissionPolicy, now_ms: int) -> Admission:
    """Split entries into admitted and refused (with the first failing rule), vectorised over the table."""
    n = entries.num_rows
    rule = np.zeros(n, np.uint8)  # 0 = admitted, else 1 + index into RULES

    def fail(bad: np.ndarray, name: str) -> None:
        rule[(rule == 0) & bad] = RULES.index(name) + 1

    _, plate_ok = encode_plates(normalise_plates(entries["plate"]))
    _, region_ok = encode_regions(normalise_regions(entries["region"]))
    fail(~plate_ok, "bad_plate")
    fail(~region_ok, "bad_region")

    reason = pc.fill_null(entries["reason"], "").to_numpy(zero_copy_only=False).astype(str)
    known = np.isin(reason, list(policy.reasons))
    fail(~known, "unknown_reason")
    allowed = np.isin(reason, [r for r, rr in policy.reasons.items() if rr.alert])
    fail(~allowed, "reason_not_allowed")

    basis = pc.fill_null(pc.utf8_trim_whitespace(entries["legal_basis"]), "")
    fail(pc.equal(pc.utf8_length(basis), 0).to_numpy(zero_copy_only=False), "legal_basis_required")
    kind = pc.fill_null(entries["legal_basis_type"], "").to_numpy(zero_copy_only=False).astype(str)
    for need, rule_name in (("warrant", "warrant_required"), ("record_number", "record_number_required")):
        needs = np.isin(reason, [r for r, rr in policy.reasons.items() if rr.requires == need])
        fail(needs & (kind != need), rule_name)

    expires = entries["expires_at"].cast(pa.int64())
    fail(expires.is_null().to_numpy(zero_copy_only=False), "expiry_required")
    exp = pc.fill_null(expires, np.iinfo(np.int64).max).to_numpy(zero_copy_only=False)
    start = pc.fill_null(entries["valid_from"].cast(pa.int64()), now_ms).to_numpy(zero_copy_only=False)
    max_ms = np.full(n, np.iinfo(np.int64).max, np.int64)
    for r, rr in policy.reasons.items():
        if rr.max_days is not None:
            max_ms[reason == r] = rr.max_days * DAY_MS
    with np.errstate(over="ignore"):
        limit = np.where(max_ms == np.iinfo(np.int64).max, max_ms, start + max_ms)
    fail(exp > limit, "expiry_beyond_max")
    fail(exp <= now_ms, "already_expired")

    ok = rule == 0
    refused = entries.filter(pa.array(~ok))
    names = np.array(("",) + RULES, dtype=object)[rule[~ok]]
    refused = refused.append_column("rule", pa.array(names.tolist(), pa.string()))
    return Admission(entries.filter(pa.array(ok)), refused)
