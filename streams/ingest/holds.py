"""Preservation-hold events, from the ``holds`` topic (JSON, key = hold id). No plate text: plates arrive as their
keyed hashes under every configured key, computed by ``platestream hold place`` (the gated path that holds keys).

    {"op": "place", "hold_id": "...", "requested_by": "...", "order_ref": "...", "case_number": "...",
     "reason": "...", "plate_keys": [["k1", "9f2c0a1b3d4e5f60"], ...], "read_ids": ["..."],
     "captured_from": ms, "captured_to": ms, "expires_at": ms, "at": ms}
    {"op": "release", "hold_id": "...", "reason": "...", "at": ms}

Each travels inside a signed envelope (``streams.core.signing``): who placed or released it is the envelope's
verified principal, never a field of the event. A hold must name who asked, the request or order it answers, a
case number, a reason, what it covers (plates or read ids), a capture-time range and its own expiry; and it must
pass ``hold_rule_broken`` (preservation keeps what exists, for a bounded time). Anything else is a dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from streams.errors import validation_message
from streams.ingest.control import Authorised, ControlGate, Rejection, rejection
from streams.model import deadletter as dl
from streams.model.hold import Hold

__all__ = [
    "ACTIONS_BY_OP",
    "HoldEvent",
    "PlaceHold",
    "ReleaseHold",
    "decode_hold_events",
    "hold_rule_broken",
    "place_event",
    "release_event",
]

ACTIONS_BY_OP = {"place": "holds.place", "release": "holds.release"}

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Ms = Annotated[int, Field(ge=0, le=2**62, strict=True)]
HexKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]


class PlaceHold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["place"]
    hold_id: Text
    requested_by: Text
    order_ref: Text
    case_number: Text
    reason: Text
    plate_keys: list[tuple[KeyId, HexKey]] = Field(default_factory=list, max_length=10_000)
    read_ids: list[Text] = Field(default_factory=list, max_length=100_000)
    captured_from: Ms
    captured_to: Ms
    expires_at: Ms
    at: Ms

    @model_validator(mode="after")
    def _coherent(self) -> PlaceHold:
        if not self.plate_keys and not self.read_ids:
            raise ValueError("a hold covers plates or read ids: a hold on everything is not a hold")
        if self.captured_to < self.captured_from:
            raise ValueError("captured_to is before captured_from")
        if self.expires_at <= self.at:
            raise ValueError("a hold must expire after it is placed")
        return self

    def hold(self, placed_by: str = "", agency: str = "") -> Hold:
        return Hold(
            hold_id=self.hold_id,
            requested_by=self.requested_by,
            case_number=self.case_number,
            reason=self.reason,
            plate_keys=tuple((k, int(h, 16)) for k, h in self.plate_keys),
            read_ids=tuple(self.read_ids),
            captured_from_ms=self.captured_from,
            captured_to_ms=self.captured_to,
            expires_at_ms=self.expires_at,
            placed_at_ms=self.at,
            order_ref=self.order_ref,
            placed_by=placed_by,
            agency=agency,
        )


class ReleaseHold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["release"]
    hold_id: Text
    reason: Text
    at: Ms


class _Event(BaseModel):
    event: PlaceHold | ReleaseHold = Field(discriminator="op")


@dataclass(frozen=True)
class HoldEvent:
    event: PlaceHold | ReleaseHold
    origin: str
    offset: int  # order of events: a release after its placement gets the higher version
    who: Authorised  # the signed principal that placed or released it, and the role that allowed it
    raw: bytes  # the envelope as received: what a dead letter keeps if the worker refuses it later

    @property
    def action(self) -> str:
        return ACTIONS_BY_OP[self.event.op]


def decode_hold_events(
    payloads: Sequence[bytes], origins: Sequence[str], offsets: Sequence[int], gate: ControlGate
) -> tuple[list[HoldEvent], list[Rejection]]:
    """Open, authorise and validate each event; what fails is a rejection (dead letter + audit)."""
    events: list[HoldEvent] = []
    rejected: list[Rejection] = []
    for raw, origin, offset in zip(payloads, origins, offsets, strict=True):
        opened = gate.open(raw, origin, "holds")
        if isinstance(opened, Rejection):
            rejected.append(opened)
            continue
        doc, principal = opened
        op = doc.get("op")
        action = ACTIONS_BY_OP.get(op) if isinstance(op, str) else None
        if action is None:
            rejected.append(
                rejection(
                    dl.WRONG_SCHEMA, "invalid hold event: op must be place or release", raw, origin, "holds", principal
                )
            )
            continue
        who = gate.authorise(doc, principal, action, raw, origin)
        if isinstance(who, Rejection):
            rejected.append(who)
            continue
        try:
            events.append(HoldEvent(_Event.model_validate({"event": doc}).event, origin, offset, who, bytes(raw)))
        except ValidationError as exc:
            # The message lists fields and what is wrong with them, never their values.
            detail = validation_message(exc, "invalid hold event").replace("event.", "")
            rejected.append(rejection(dl.WRONG_SCHEMA, detail[:500], raw, origin, action, who))
    return events, rejected


def hold_rule_broken(event: PlaceHold, max_s: int) -> tuple[str, str] | None:
    """(rule, why) of the first rule a placement breaks, else None. ``max_s``: the policy's ``hold_max``.

    The same check runs in the API before it signs a hold and in every worker before it applies one.
    """
    if event.captured_to > event.at:
        return "capture_window_in_future", "a hold keeps reads that exist: captured_to must not be after placement"
    if event.expires_at - event.at > max_s * 1000:
        return "hold_too_long", f"a hold lasts at most {max_s // 86_400} days from placement (policy hold_max)"
    return None


def release_event(hold_id: str, reason: str, at_ms: int) -> dict:
    """A release; who released it is the principal of its signed envelope."""
    return {"op": "release", "hold_id": hold_id, "reason": reason, "at": at_ms}


def place_event(hold: Hold) -> dict:
    return {
        "op": "place",
        "hold_id": hold.hold_id,
        "requested_by": hold.requested_by,
        "order_ref": hold.order_ref,
        "case_number": hold.case_number,
        "reason": hold.reason,
        "plate_keys": [[k, f"{h:016x}"] for k, h in hold.plate_keys],
        "read_ids": list(hold.read_ids),
        "captured_from": hold.captured_from_ms,
        "captured_to": hold.captured_to_ms,
        "expires_at": hold.expires_at_ms,
        "at": hold.placed_at_ms,
    }
