"""Fixtures of the API tests. The main server (``api``, one per session) has no control signing key: a control
request that passes its checks answers 503 ``no_signing_key`` without needing a broker; publishing is shown by the
integration test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import ApiServer, base_env, seed, start_api
from tests.support.issuer import TokenIssuer

SESSION_RETENTION = """source: the API tests' session server, not a real policy
non_hit_reads: 86400
hit_reads: 2592000
hits: 2592000
verifications: 31536000
aggregates: 34560000
audit: 63072000
"""


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    return TokenIssuer(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="session")
def api(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The main server: JWKS from a file, a seeded store, no signing key, a rate no test reaches."""
    tmp = tmp_path_factory.mktemp("api")
    # The default policy keeps the seeded non-hit read 5 minutes: the server lives through the whole test run, so
    # a search late in it would no longer find the read (CI, 2026-12-03). A day outlives any run.
    policy = tmp / "retention.yaml"
    policy.write_text(SESSION_RETENTION)
    seed(tmp / "chdb", str(policy))
    server = start_api(
        base_env(tmp, issuer, PLATESTREAM_API_RATE_PER_MINUTE="100000", PLATESTREAM_RETENTION=str(policy))
    )
    yield server
    server.stop()
