"""Request bodies of the API: strict (an unknown field such as ``actor`` or ``entered_by`` is refused, 400) and
bounded. Who acts is never a field here: it is the verified principal of the request. The search kinds' bodies are
in ``streams.ingest.search``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from streams.ingest.hotlist_events import CLEAR_REASONS
from streams.ingest.search import AreaBody
from streams.model.disposition import DISPOSITIONS, NOTE_MAX_CHARS, OUTCOMES
from streams.model.search import PROCESS_KINDS

__all__ = [
    "ClearBody",
    "EntriesBody",
    "EntryBody",
    "SnapshotBody",
    "HoldBody",
    "OutcomeBody",
    "PartnerBody",
    "ProcessBody",
    "ReleaseBody",
    "SyncBody",
    "VerificationBody",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_CHARS)]
Ms = Annotated[int, Field(ge=0, le=2**62, strict=True)]
Plate = Annotated[str, StringConstraints(min_length=1, max_length=32)]
STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class VerificationBody(BaseModel):
    """What the person checking a hit found (``streams.model.disposition``); the operator is the caller. Its rules
    (a confirmation affirms every check, ``other`` needs a note) are those of ``streams.ingest.verifications``."""

    model_config = STRICT

    disposition: Literal[DISPOSITIONS]  # type: ignore[valid-type]
    note: Note | None = None
    checks: dict[Annotated[str, StringConstraints(max_length=64)], bool] | None = Field(None, max_length=16)


class OutcomeBody(BaseModel):
    """What came of a confirmed hit (``streams.model.disposition.OUTCOMES``); who recorded it is the caller."""

    model_config = STRICT

    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    note: Note | None = None


class HoldBody(BaseModel):
    """A preservation hold: who asked, under which order, for which case, on what, for how many days."""

    model_config = STRICT

    requested_by: Text
    order_ref: Text
    case_number: Text
    reason: Text
    plates: list[Plate] = Field(default_factory=list, max_length=1_000)
    read_ids: list[Text] = Field(default_factory=list, max_length=20_000)
    from_ms: Ms = Field(0, alias="from")
    to_ms: Ms | None = Field(None, alias="to")  # default: the placement (a hold keeps what exists)
    days: float = Field(gt=0, le=36_500)


class ReleaseBody(BaseModel):
    model_config = STRICT

    reason: Text


class EntryBody(BaseModel):
    """A hot-list entry; ``entered_by`` is the caller, ``agency`` defaults to the caller's."""

    model_config = STRICT

    entry_id: Short
    plate: Plate
    region: Short | None = None  # unknown region: its hits are flagged for verification
    plate_type: Short | None = None
    reason: Short
    legal_basis_type: Short
    legal_basis: Short
    agency: Short | None = None
    source: Short
    valid_from: Ms | None = None
    expires_at: Ms | None = None  # none: the workers refuse it (expiry_required); importers set the refresh rule
    legal_basis_text: Annotated[str, Field(min_length=1, max_length=1000)] | None = None  # free text, as given
    expiry_rule: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class SnapshotBody(BaseModel):
    """Every entry id of one extract of ``source``: the workers clear the source's entries it does not list."""

    model_config = STRICT

    source: Short
    entry_ids: list[Short] = Field(max_length=2_000_000)
    confirm_shrink: bool = False  # a person has checked that a much smaller extract is right


class EntriesBody(BaseModel):
    """Many entries in one request (a CSV extract): one audit record, one signed event per entry."""

    model_config = STRICT

    entries: list[EntryBody] = Field(min_length=1, max_length=10_000)


class ClearBody(BaseModel):
    model_config = STRICT

    reason: Literal[CLEAR_REASONS]  # type: ignore[valid-type]


class SyncBody(BaseModel):
    model_config = STRICT

    source: Short
    at: Ms | None = None


class ProcessBody(BaseModel):
    """A legal-process record: what it is, who issued it, for which case and offence, what it covers (plates
    and/or an area or cameras, within a time window) and until when. The registrar is the caller."""

    model_config = STRICT

    kind: Literal[PROCESS_KINDS]  # type: ignore[valid-type]
    number: Text
    issuer: Text
    case_number: Text
    offence: Short
    plates: list[Plate] = Field(default_factory=list, max_length=1_000)
    cameras: list[Short] = Field(default_factory=list, max_length=1_000)
    area: AreaBody | None = None
    from_ms: Ms = Field(alias="from")
    to_ms: Ms = Field(alias="to")
    expires_at: Ms


class PartnerBody(BaseModel):
    """An outside agency's entry on the sharing allow-list: the equivalent protections it is bound by."""

    model_config = STRICT

    warrant_rules: Text
    retention: Text
