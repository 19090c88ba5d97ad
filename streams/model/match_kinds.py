"""How a read matched a hot-list entry: the one vocabulary of hits, the policy's ``alert_kinds`` and the engines.

The codes are the indices into ``KINDS``; both engines (numpy and compiled) emit them.
"""

from __future__ import annotations

__all__ = ["CANDIDATE", "CONFUSABLE", "EXACT", "KINDS", "MISREAD_KINDS", "REGION_MISMATCH"]

KINDS = ("exact", "candidate", "confusable", "region_mismatch")
EXACT, CANDIDATE, CONFUSABLE, REGION_MISMATCH = range(len(KINDS))
# Kinds whose read may be a misread (as may any read under the policy's low_confidence): a person compares every
# character before confirming one (the console has them type the plate; the API and the workers require the check).
MISREAD_KINDS = frozenset({KINDS[CANDIDATE], KINDS[CONFUSABLE]})
