"""Dead letters: bad input kept with its reason and original bytes, never dropped and never fatal."""

from __future__ import annotations

import base64
from dataclasses import dataclass

# Reason codes. Whole messages and single rows share one vocabulary so that counts add up.
UNDECODABLE = "undecodable"  # not JSON / not an Arrow IPC stream
WRONG_SCHEMA = "wrong_schema"  # decodes, but fields are missing or of the wrong type
UNKNOWN_EVENT = "unknown_event"  # JSON of a kind this pipeline does not take
MISSING_PLATE = "missing_plate"
BAD_PLATE = "bad_plate"  # characters other than letters/digits, or longer than 12
BAD_REGION = "bad_region"
MISSING_READ_ID = "missing_read_id"
MISSING_CAMERA = "missing_camera"
MISSING_TIME = "missing_time"
TIME_IN_FUTURE = "time_in_future"
TIME_TOO_OLD = "time_too_old"
BAD_CONFIDENCE = "bad_confidence"
TOO_LARGE = "too_large"
TOO_MANY_ROWS = "too_many_rows"  # an Arrow message over the configured rows per message
PLATE_TOO_LONG = "plate_too_long"  # the plate text as received is over the configured length (before normalising)
UNKNOWN_CAMERA = "unknown_camera"  # a camera registry is configured and does not list the read's camera
# Control events (hot list, holds, verifications):
UNAUTHENTICATED = "unauthenticated"  # no valid signature from a configured control key: never applied
FORBIDDEN = "forbidden"  # authentic, but its principal may not do this (role or agency)
REFUSED = "refused"  # authentic and allowed, but a rule refuses it (the detail names the rule)
UNKNOWN_HIT = "unknown_hit"  # a verification of a hit the store does not have
STORE_REJECTED = "store_rejected"  # the store refused it for good (too large, a bad value): retrying cannot help

REASONS = (
    UNDECODABLE,
    WRONG_SCHEMA,
    UNKNOWN_EVENT,
    MISSING_PLATE,
    BAD_PLATE,
    BAD_REGION,
    MISSING_CAMERA,
    MISSING_READ_ID,
    MISSING_TIME,
    TIME_IN_FUTURE,
    TIME_TOO_OLD,
    BAD_CONFIDENCE,
    TOO_LARGE,
    TOO_MANY_ROWS,
    PLATE_TOO_LONG,
    UNKNOWN_CAMERA,
    UNAUTHENTICATED,
    FORBIDDEN,
    REFUSED,
    UNKNOWN_HIT,
    STORE_REJECTED,
)


@dataclass(frozen=True)
class DeadLetter:
    """One rejected message or row. ``original`` is the exact bytes received (a row of a batch: its JSON)."""

    reason: str
    detail: str
    original: bytes
    origin: str  # where it came from: "topic/partition/offset", "file:line", ...
    row: int | None = None  # row index inside a batch message, when only that row was bad

    def to_json(self) -> dict[str, object]:
        # The original bytes may hold plate text: they go to the dead-letter store, never to a log line.
        return {
            "reason": self.reason,
            "detail": self.detail,
            "origin": self.origin,
            "row": self.row,
            "original_b64": base64.b64encode(self.original).decode("ascii"),
        }
