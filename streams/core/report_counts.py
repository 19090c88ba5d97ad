"""The labels of the report's aggregates that are rules, not plumbing: the delay buckets of time to verify, which
API actions are counted as requests, and what of a partner's declared purpose a count may keep. Pure: the writers
are in ``streams.store.report_counts`` (docs/aggregates.md).
"""

from __future__ import annotations

__all__ = [
    "COUNTED_ACTIONS",
    "DELAY_BUCKETS",
    "NO_JUSTIFICATION",
    "PURPOSE_MAX_CHARS",
    "delay_bucket",
    "purpose_label",
    "search_kind",
]

# Capture to decision: (bucket, upper bound in seconds, exclusive). The last one has no bound.
DELAY_BUCKETS = (
    ("lt_1m", 60.0),
    ("1m_5m", 300.0),
    ("5m_15m", 900.0),
    ("15m_1h", 3600.0),
    ("1h_1d", 86_400.0),
    ("ge_1d", float("inf")),
)
# The API actions that reach data or change what the system does: each request for one is counted in
# request_counts, allowed, refused or failed. Reads of lists (hits.read, holds.read, audit.read, ...) are not.
COUNTED_ACTIONS = frozenset(
    {
        "search",
        "records.discover",
        "holds.place",
        "holds.release",
        "hotlist.add",
        "hotlist.clear",
        "hotlist.sync",
        "process.register",
        "sharing.manage",
    }
)
NO_JUSTIFICATION = "none"  # a request that cites no legal-process record (or one the store does not have)
PURPOSE_MAX_CHARS = 64


def delay_bucket(seconds: float) -> str:
    """The bucket of a capture-to-decision delay; a decision stamped before its capture (clock skew) is ``lt_1m``."""
    return next(name for name, bound in DELAY_BUCKETS if seconds < bound)


def purpose_label(purpose: str) -> str:
    """What request_counts keeps of a declared purpose: whitespace collapsed, every word with a digit in it (a plate,
    a case or badge number) replaced by ``#``, at most ``PURPOSE_MAX_CHARS`` characters. A purpose is free text: the
    aggregate must not carry a plate or a case number typed into it.

    >>> purpose_label("  stolen   vehicle 7ABC123, case 24-118 ")
    'stolen vehicle # case #'
    """
    words = ("#" if any(ch.isnumeric() for ch in word) else word for word in purpose.split())
    return " ".join(words)[:PURPOSE_MAX_CHARS]


def search_kind(action: str, route: str, named: object = None) -> str:
    """The search kind of a request: the kind its handler named, else the last part of its route
    (``/v1/search/plate_history``), so a search refused before its handler ran still has one; '' for other actions.
    """
    if action != "search":
        return ""
    if isinstance(named, str) and named:
        return named
    return route.rstrip("/").rsplit("/", 1)[-1]
