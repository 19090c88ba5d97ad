"""Fixtures of the API tests. The main server (``api``, one per session) has no control signing key: a control
request that passes its checks answers 503 ``no_signing_key`` without needing a broker; publishing is shown by the
integration test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import ApiServer, base_env, seed, start_api
from tests.support.issuer import TokenIssuer


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    return TokenIssuer(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="session")
def api(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The main server: JWKS from a file, a seeded store, no signing key, a rate no test reaches."""
    tmp = tmp_path_factory.mktemp("api")
    seed(tmp / "chdb")
    server = start_api(base_env(tmp, issuer, PLATESTREAM_API_RATE_PER_MINUTE="100000"))
    yield server
    server.stop()
