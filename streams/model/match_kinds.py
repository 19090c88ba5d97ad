"""How a read matched a hot-list entry: the one vocabulary of hits, the policy's ``alert_kinds`` and the engines.

The codes are the indices into ``KINDS``; both engines (numpy and compiled) emit them.
"""

from __future__ import annotations

__all__ = ["CANDIDATE", "CONFUSABLE", "EXACT", "KINDS", "REGION_MISMATCH"]

KINDS = ("exact", "candidate", "confusable", "region_mismatch")
EXACT, CANDIDATE, CONFUSABLE, REGION_MISMATCH = range(len(KINDS))
