"""Search requests for the gated search path (the API's ``POST /v1/search``), validated before anything is queried:

{"reason": "defence request, own location data", "case_number": "CR-2026-1142",
 "plates": ["7ABC123"], "region": "CA", "read_ids": [], "from": ms, "to": ms}
"""

from __future__ import annotations

import json
from typing import Annotated

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from streams.errors import validation_message
from streams.model.search import SearchRefused, SearchRequest

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Ms = Annotated[int, Field(ge=0, le=2**62, strict=True)]

__all__ = ["SearchBody", "json_rows", "search_request"]


class SearchBody(BaseModel):
    """The JSON body of a search. Who asks is not a field (a body naming ``actor`` is refused): it is the verified
    principal of the request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reason: Text
    case_number: str = Field("", max_length=256)
    plates: list[Annotated[str, StringConstraints(max_length=32)]] = Field(default_factory=list, max_length=100)
    region: str | None = Field(None, max_length=16)
    read_ids: list[Text] = Field(default_factory=list, max_length=10_000)
    from_ms: Ms = Field(0, alias="from")
    to_ms: Ms = Field(2**62, alias="to")

    def request(self) -> SearchRequest:
        return SearchRequest(
            reason=self.reason,
            case_number=self.case_number,
            plates=tuple(self.plates),
            region=self.region,
            read_ids=tuple(self.read_ids),
            captured_from_ms=self.from_ms,
            captured_to_ms=self.to_ms,
        )


def search_request(body: bytes) -> SearchRequest:
    """The request in ``body``; raises SearchRefused saying what is missing or wrong (never echoing plates)."""
    try:
        return SearchBody.model_validate(json.loads(body or b"null")).request()
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            raise SearchRefused(validation_message(exc, "invalid search request")) from None
        raise SearchRefused("the body must be a JSON object") from None


def json_rows(rows: pa.Table) -> list[dict]:
    """Rows of a store table as JSON-ready dicts: times as ISO 8601, NaN (a missing confidence) as null."""
    out = rows.to_pylist()
    for r in out:
        for k, v in r.items():
            if hasattr(v, "isoformat"):
                r[k] = v.isoformat()
            elif isinstance(v, float) and v != v:
                r[k] = None
    return out
