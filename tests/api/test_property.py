"""Property, with schemathesis over the OpenAPI description the real server publishes: whatever a caller without
valid credentials sends to any operation, the answer carries no data (only 400/401/404/405/413/422-class refusals,
an error body), and the audit trail gains exactly that request's record, refused, before the answer."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import ApiServer, last_seq, records_since
from tests.support.issuer import TokenIssuer

REFUSALS = {400, 401, 404, 405, 413, 422}
EXAMPLES = 200  # across every operation under /v1/


def credentials(issuer: TokenIssuer) -> st.SearchStrategy[str | None]:
    """Authorization headers that must not get anyone in: none, garbage, expired, forged, another audience."""
    return st.sampled_from(
        [
            None,
            "Bearer",
            "Basic dXNlcjpwYXNz",
            "Bearer not-a-token",
            "Bearer " + issuer.token(roles=["admin", "auditor", "investigator", "operator"], expires_in=-300),
            "Bearer " + issuer.token(roles=["admin", "auditor", "investigator", "records"], forged=True),
            "Bearer " + issuer.token(roles=["admin", "auditor", "supervisor"], audience="someone-else"),
        ]
    )


def test_no_valid_credentials_no_data_and_every_answer_audited(api: ApiServer, issuer: TokenIssuer) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json").include(path_regex="^/v1/")
    operations = [result.ok() for result in schema.get_all_operations()]
    # every data or control operation the app routes is in the description the property runs over
    assert len(operations) == 25 and all("x-action" in op.definition.raw for op in operations)
    seen: set[str] = set()

    @given(case=st.one_of([op.as_strategy() for op in operations]), auth=credentials(issuer))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case, auth: str | None) -> None:  # noqa: ANN001 - a schemathesis Case
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if auth is not None:
            headers["Authorization"] = auth
        before = last_seq(api, issuer)
        response = case.call(base_url=api.url, headers=headers)
        assert response.status_code in REFUSALS, (response.status_code, response.text)
        assert set(response.json()) == {"error", "rule"}
        records = records_since(api, issuer, before)
        assert len(records) == 1, records
        assert (records[0]["decision"], records[0]["role"], records[0]["rows"]) == ("refused", "", 0)
        assert f'"status":{response.status_code}' in records[0]["detail"]
        seen.add(case.operation.label)

    check()
    assert len(seen) >= 17, seen  # the examples reached (nearly) every operation
