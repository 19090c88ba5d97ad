"""How the API says no: one exception with the HTTP status, the rule that refused and one sentence, and the JSON
body every error answer has: ``{"error": "<one sentence>", "rule": "<rule name>"}``.

Messages name fields and rules, never a value from the request (a plate is never echoed).
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse

__all__ = ["Refused", "error_response", "field_problems"]


class Refused(HTTPException):
    """An answer other than success: ``status`` (401, 403, 400, 404, 413, 429, 503 ...) and the ``rule``."""

    def __init__(self, status: int, rule: str, error: str, headers: dict[str, str] | None = None):
        super().__init__(status, error, headers)
        self.rule = rule
        self.error = error


def error_response(status: int, rule: str, error: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "rule": rule}, status_code=status, headers=headers)


def field_problems(errors: list[dict], title: str) -> str:
    """One sentence naming the fields of a pydantic error list and what is wrong, without their values."""
    parts = []
    for e in errors[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "(body)"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return f"{title}: " + "; ".join(parts) + more
