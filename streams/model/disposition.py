"""The fixed vocabularies of hit review, as in the vendors' hit screens (Axon, Genetec): what a person found when
they compared the image with the entry (a *disposition*), and what came of a confirmed hit later (an *outcome*).
Transparency reports count by these words, so they are closed lists: free text goes in a note, never in the word.
"""

from __future__ import annotations

__all__ = [
    "CONFIRMED",
    "DISPOSITIONS",
    "NOTE_MAX_CHARS",
    "NOTE_REQUIRED",
    "OUTCOMES",
    "REJECTIONS",
    "decision_of",
]

CONFIRMED = "confirmed"
# What the person checking a hit found. Every word but `confirmed` rejects the hit.
DISPOSITIONS = (
    CONFIRMED,  # the image's plate, region and vehicle match a current entry
    "misread",  # the reader took a character for another (the image shows a different plate)
    "wrong_region",  # same characters, another state or country
    "entry_stale",  # the entry was no longer current (recovered, served, cleared at the source)
    "vehicle_mismatch",  # the plate matches but the vehicle is not the one the entry describes
    "duplicate",  # the same passage as a hit already dealt with
    "other",  # none of these: the note says what
)
REJECTIONS = DISPOSITIONS[1:]
# What came of a confirmed hit, recorded later (an operator or a supervisor).
OUTCOMES = (
    "arrest",
    "vehicle_recovered",
    "person_located",  # a missing or wanted person located
    "citation",
    "no_action",
    "wrongful_stop",  # a stop that should not have happened: a false hit found only later
)
NOTE_REQUIRED = frozenset({"other"})  # words that say nothing by themselves
NOTE_MAX_CHARS = 500


def decision_of(disposition: str) -> str:
    """``confirmed`` or ``rejected``: the two-way decision older readers (discovery, review) still group by."""
    return CONFIRMED if disposition == CONFIRMED else "rejected"
