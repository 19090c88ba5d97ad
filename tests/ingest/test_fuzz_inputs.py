"""Property tests over the decoders not covered by the reads fuzzers: hot-list events and operator verifications
(signed envelopes around any event, forged and unsigned bytes), hot-list CSV files,
and the policy files (admission policy and retention policy YAML).

Contract: messages end as a decoded item or a dead letter with a reason and the original bytes, never an
exception; files end as a value or the project's clear error (``HotlistError`` / ``ConfigError``), never anything
else.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.config.access import load_access
from streams.config.retention import load_retention
from streams.config.secret_files import load_verifier
from streams.config.settings import load_policy
from streams.errors import ConfigError, HotlistError
from streams.ingest.control import ControlGate
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.hotlist_events import decode_hotlist_events
from streams.ingest.verifications import decode_verifications
from streams.model.access import Principal
from streams.model.deadletter import REASONS
from tests.support.control import control_keys

_, _PUBLIC, SIGNER = control_keys(Path(tempfile.mkdtemp()))
GATE = ControlGate(load_verifier(_PUBLIC), load_access().access())
WHO = st.sampled_from([Principal("a", "pd", ("admin",)), Principal("o", "pd", ("operator",)), Principal("x", "pd")])

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    ["op", "entry", "entry_id", "plate", "reason", "by", "at", "source", "valid_from", "expires_at", "region",
     "hit_id", "disposition", "outcome", "note", "operator", "checks", "x"]
)  # fmt: skip
# Documents that look like the real thing (known keys, any values) as well as arbitrary bytes and JSON.
NEAR_MISS = st.dictionaries(FIELD_NAMES, st.one_of(JSON_VALUES, st.dictionaries(FIELD_NAMES, JSON_VALUES)))
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    NEAR_MISS.map(lambda v: json.dumps(v).encode()),
    st.tuples(NEAR_MISS, WHO).map(lambda t: SIGNER.seal(*t)),  # authentic envelopes around any event
    st.tuples(JSON_VALUES, WHO).map(lambda t: SIGNER.seal(*t)),  # ... even one that is not an object
)


def _counted(payloads: list[bytes], dead: list, decoded: int) -> None:
    assert decoded + len(dead) == len(payloads)
    for d in dead:
        assert d.reason in REASONS
        assert d.original in payloads
        assert d.detail and len(d.detail) < 300


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PAYLOADS, min_size=1, max_size=8))
def test_hotlist_events_end_as_ops_or_dead_letters(payloads):
    out = decode_hotlist_events(payloads, [f"o{i}" for i in range(len(payloads))], GATE)
    items = sum(t.num_rows if isinstance(t, pa.Table) else len(t) for _, t in out.ops)
    _counted(payloads, out.dead, items)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PAYLOADS, min_size=1, max_size=8))
def test_verifications_end_as_rows_or_dead_letters(payloads):
    decisions, rejected = decode_verifications(payloads, [f"o{i}" for i in range(len(payloads))], GATE)
    _counted(payloads, [r.dead for r in rejected], len(decisions))


CSV_CELLS = st.text(alphabet=string.printable + "éß\x00", max_size=15)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(
        st.sampled_from(
            ["entry_id", "plate", "state", "region", "reason", "expires_at", "entry_date", "warrant_number", "x"]
        ),
        min_size=1,
        max_size=8,
    ),
    rows=st.lists(st.lists(CSV_CELLS, min_size=0, max_size=9), max_size=6),
    junk=st.binary(max_size=60),
)
def test_hotlist_csv_is_read_or_refused_clearly(tmp_path_factory, header, rows, junk):
    path = tmp_path_factory.mktemp("csv") / "list.csv"
    text = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows)
    path.write_bytes(text.encode() + (b"\n" + junk if junk else b""))
    try:
        entries, refused = read_hotlist_csv(path)
    except HotlistError as exc:
        assert str(exc)
        return
    assert isinstance(entries, pa.Table) and isinstance(refused, pa.Table)


YAML_TEXT = st.one_of(
    st.text(max_size=200),
    JSON_VALUES.map(json.dumps),  # JSON is YAML
    st.dictionaries(
        st.sampled_from(["reasons", "alert_kinds", "low_confidence", "source_max_age_hours", "confusable_groups", "x"]),
        JSON_VALUES,
    ).map(json.dumps),
    st.dictionaries(
        st.sampled_from(["non_hit_reads", "hits", "dedup_state", "source", "transit", "x"]),
        st.one_of(st.integers(-10, 10**12), st.floats(), st.text(max_size=10)),
    ).map(json.dumps),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=YAML_TEXT)
def test_policy_files_load_or_fail_with_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("policy") / "p.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    for load in (load_policy, load_retention):
        try:
            load(path)
        except ConfigError as exc:
            assert str(exc)
