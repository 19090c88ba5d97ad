"""The search and administration API (`platestream api`): FastAPI over the ClickHouse stores, every request
authenticated by a bearer token and audited before it is answered (docs/api.md, docs/security.md).

``app`` (the application and ``serve``), ``gate`` (the audit record of every request, the caller of an action),
``auth`` (bearer tokens to principals), ``service`` (store, keys, policies, signer, producer, rate limit);
the endpoints: ``reads``, ``audit`` (review and discovery bundles), ``search`` (the search kinds under legal
process), ``control``, ``process`` (legal-process records) and ``sharing`` (the outside-agency allow-list);
``bodies`` (request bodies) and ``refusals`` (the error answer).
"""

__all__ = [
    "app",
    "audit",
    "auth",
    "bodies",
    "control",
    "gate",
    "process",
    "reads",
    "refusals",
    "search",
    "service",
    "sharing",
]
