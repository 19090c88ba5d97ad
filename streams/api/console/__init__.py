"""The operator's hit console (``/console``, docs/console.md): ``routes`` (the pages, the live queue, sign-in),
``session`` (OIDC authorization code with PKCE, server-side sessions, the console's calls of the decision routes),
``view`` (what a page shows of a hit) and ``wiring`` (the console of an API process). Templates and static files
are package data."""

__all__ = ["routes", "session", "view", "wiring"]
