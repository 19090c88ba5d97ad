"""Retention policy as data: presets, validation, what it sets in Kafka and processor state, and the verifier's
processor-state check (against a stand-in /health; the Kafka side is in tests/integration/test_retention_kafka.py)."""

from __future__ import annotations

import importlib.resources
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli.app import app
from streams.config.retention import (
    DATA_CLASSES,
    KAFKA_TRANSIT_MS,
    PRESETS,
    kafka_bound_ms,
    kafka_reads_configs,
    kafka_reads_limit_ms,
    load_retention,
    processor_state_ms,
)
from streams.config.settings import Settings, load_policy, load_settings
from streams.errors import ConfigError
from streams.kafka.topics import declared
from streams.run.retention_verify import WORKER_TICK_MS, verify_workers
from tests.core.test_pipeline import T0, as_json, processor, read

DAY = 86_400

GOOD = """source: test policy
non_hit_reads: 4
hit_reads: 10
hits: 10
verifications: 20
aggregates: 30
audit: 40
"""


pytestmark = pytest.mark.usefixtures("clean_env")


def write(tmp_path: Path, text: str, name: str = "retention.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# -- presets -------------------------------------------------------------------------------------------------------


def test_every_preset_file_is_listed_and_loads() -> None:
    folder = importlib.resources.files("streams.resources") / "policies" / "retention"
    assert sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")) == sorted(PRESETS)
    for name in PRESETS:
        pol = load_retention(name)
        assert pol.name == name and pol.source
        assert all(getattr(pol, c) >= 0 for c in DATA_CLASSES)


@pytest.mark.parametrize(
    ("name", "non_hit", "words"),
    [
        ("default", 300, "ACLU"),
        ("hit_only", 0, "only reads that match"),
        ("new_hampshire", 180, "261:75-b"),
        ("minnesota", 60 * DAY, "13.824"),
    ],
)
def test_preset_limits_and_sources(name: str, non_hit: int, words: str) -> None:
    pol = load_retention(name)
    assert pol.non_hit_reads == non_hit
    assert words in pol.source


def test_minnesota_keeps_hits_no_longer_than_its_60_days() -> None:
    pol = load_retention("minnesota")
    assert pol.hit_reads == pol.hits == 60 * DAY


def test_policy_from_a_path(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    pol = load_retention(p)
    assert (pol.non_hit_reads, pol.hits, pol.audit) == (4, 10, 40) and pol.name == str(p)
    assert load_retention(str(p)) == pol
    p.write_text(GOOD.replace("non_hit_reads: 4", "non_hit_reads: 5"))  # a changed file is read again
    assert load_retention(p).non_hit_reads == 5


# -- validation ----------------------------------------------------------------------------------------------------


def test_unknown_preset_names_the_presets() -> None:
    with pytest.raises(ConfigError) as exc:
        load_retention("texas")
    assert "'texas'" in str(exc.value) and all(p in str(exc.value) for p in PRESETS)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read retention policy"):
        load_retention(tmp_path / "absent.yaml")


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just text\n", "a: [unclosed\n"])
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_retention(write(tmp_path, text))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("non_hit_reads: 4", "non_hit_reads: -1"), "non_hit_reads", "greater than or equal to 0"),
        (("aggregates: 30", "aggregates: -5"), "aggregates", "greater than or equal to 0"),
        (("non_hit_reads: 4", "non_hit_reads: 2.5"), "non_hit_reads", "integer"),
        (("non_hit_reads: 4", "non_hit_reads: true"), "non_hit_reads", "integer"),
        (("non_hit_reads: 4", "non_hit_reads: '4'"), "non_hit_reads", "integer"),
        (("hits: 10", "hits: 9"), "hits", "at least hit_reads (10 s)"),
        (("hit_reads: 10", "hit_reads: 3"), "hit_reads", "at least non_hit_reads (4 s)"),
        (("verifications: 20", "verifications: 5"), "verifications", "at least hits (10 s)"),
        (("audit: 40", "audit: 1"), "audit", "at least hits (10 s)"),
        (("source: test policy", "source: '  '"), "source", "statute or recommendation"),
        (("source: test policy\n", ""), "source", "Field required"),
        (("audit: 40", "audit: 40\ncolour: red"), "colour", "Extra inputs"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, change: tuple[str, str], field: str, words: str) -> None:
    p = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as exc:
        load_retention(p)
    msg = str(exc.value)
    assert str(p) in msg
    line = next((ln for ln in msg.splitlines() if ln.startswith(f"  {field}:")), None)
    assert line is not None, msg
    assert words in line, msg


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("non_hit_reads: 4", "non_hit_reads: -1").replace("audit: 40", "audit: x")
    with pytest.raises(ConfigError) as exc:
        load_retention(write(tmp_path, text))
    assert "  non_hit_reads:" in str(exc.value) and "  audit:" in str(exc.value)


# -- what the policy sets in each store ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "retention_ms", "segment_ms"),
    [
        ("default", 2_700_000, 900_000),  # the floor: unread reads survive a 45-minute outage (transit)
        ("hit_only", 45_000, 15_000),
        ("new_hampshire", 135_000, 45_000),
        ("minnesota", 60 * DAY * 1000 - DAY * 1000, DAY * 1000),
    ],
)
def test_kafka_configs_of_each_preset(name: str, retention_ms: int, segment_ms: int) -> None:
    pol = load_retention(name)
    c = kafka_reads_configs(pol)
    assert c == {
        "retention.ms": str(retention_ms),
        "segment.ms": str(segment_ms),
        "cleanup.policy": "delete",
        "message.timestamp.type": "LogAppendTime",
    }
    # a segment rolls well inside the limit, and the last record of a segment goes with it at the limit
    limit = kafka_reads_limit_ms(pol)
    assert int(c["segment.ms"]) <= limit // 4
    assert kafka_bound_ms(c, 5000) == limit + 5000


def test_hit_only_reads_stay_on_kafka_for_the_transit_time_only() -> None:
    assert kafka_reads_limit_ms(load_retention("hit_only")) == KAFKA_TRANSIT_MS == 60_000


def test_short_custom_policy_gives_short_kafka_configs(tmp_path: Path) -> None:
    c = kafka_reads_configs(load_retention(write(tmp_path, GOOD)))
    assert (c["retention.ms"], c["segment.ms"]) == ("3000", "1000")


def test_processor_state_ms() -> None:
    assert processor_state_ms(load_retention("hit_only")) == 0
    assert processor_state_ms(load_retention("hit_only"), 60_000) == 0
    assert processor_state_ms(load_retention("new_hampshire")) == 180_000
    assert processor_state_ms(load_retention("new_hampshire"), 60_000) == 60_000  # expire keeps min(dedup, limit)
    assert processor_state_ms(load_retention("default"), 600_000) == 300_000


# -- wiring: settings and topics -----------------------------------------------------------------------------------


def test_settings_default_retention_and_processor_config() -> None:
    s = load_settings()
    assert s.retention == "default" and s.retention_policy() == load_retention("default")
    assert s.processor_config(load_policy()).nonhit_state_ms == 300_000


@pytest.mark.parametrize(("name", "want"), [("hit_only", 0), ("new_hampshire", 180_000), ("minnesota", 300_000)])
def test_processor_config_follows_the_policy(name: str, want: int) -> None:
    # nonhit_state_s (300 s by default) can shorten the policy's limit, never lengthen it
    assert Settings(retention=name).processor_config(load_policy()).nonhit_state_ms == want


def test_retention_from_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_RETENTION", "new_hampshire")
    assert load_settings().retention_policy().non_hit_reads == 180
    monkeypatch.delenv("PLATESTREAM_RETENTION")
    pol = write(tmp_path, GOOD)
    assert load_settings(write(tmp_path, f"retention: {pol}\n", "settings.yaml")).retention_policy().non_hit_reads == 4


def test_bad_retention_setting_is_reported_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_RETENTION", "texas")
    monkeypatch.setenv("PLATESTREAM_PARTITIONS", "0")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "  retention:" in str(exc.value) and "  partitions:" in str(exc.value)
    monkeypatch.setenv("PLATESTREAM_RETENTION", str(write(tmp_path, GOOD.replace("hits: 10", "hits: 1"))))
    monkeypatch.delenv("PLATESTREAM_PARTITIONS")
    with pytest.raises(ConfigError, match="hits: .*at least hit_reads"):
        load_settings()


def test_reads_retention_s_is_refused_with_a_pointer() -> None:
    with pytest.raises(ConfigError, match="reads_retention_s: .*replaced by `retention`"):
        load_settings(reads_retention_s=300)


def test_reads_topics_are_declared_from_the_policy(tmp_path: Path) -> None:
    specs = {t.name: t for t in declared(Settings(retention="new_hampshire"))}
    for name in ("reads.batch", "reads.json"):
        c = specs[name].configs
        assert (c["retention.ms"], c["segment.ms"], c["cleanup.policy"]) == ("135000", "45000", "delete")
        assert c["message.timestamp.type"] == "LogAppendTime"
    assert "max.message.bytes" in specs["reads.batch"].configs
    # every topic holding personal data follows its class; a segment never spans more than a day
    hits = specs["hits"].configs
    assert (hits["retention.ms"], hits["segment.ms"]) == (str(29 * DAY * 1000), str(DAY * 1000))
    assert specs["deadletter"].configs["retention.ms"] == "135000"  # a dead letter is a read never matched
    assert int(specs["holds"].configs["retention.ms"]) + DAY * 1000 == load_retention("new_hampshire").audit * 1000


# -- processor state under hit_only --------------------------------------------------------------------------------


def _hit_only_processor():  # noqa: ANN202
    return processor({"plate": "8XYZ999"}, nonhit_state_ms=processor_state_ms(load_retention("hit_only")))


def test_hit_only_processor_state_holds_no_read_after_batch_and_expire() -> None:
    p = _hit_only_processor()
    docs = [
        read("n1", plate="1AAA111", captured_at=T0 - 1000),
        read("n2", plate="2BBB222", camera_id="cam-2", captured_at=T0 - 1),
        read("n3", plate="1AAA111", captured_at=T0 - 900),  # a second frame of n1: still a duplicate in-batch
        read("h1", plate="8XYZ999", captured_at=T0 - 10),
    ]
    res = p.process(as_json(docs), T0)
    assert res.hits.num_rows == 1 and res.hits["read_id"].to_pylist() == ["h1"]
    assert res.duplicates == 1  # de-duplication still works inside a batch
    # state is emptied at the end of the batch itself, not at the next tick of the retention clock
    assert res.expired == 3 and len(p.reads_dedup) == 0 and p.reads_dedup.oldest_ms() is None
    # and the deletion is counted in the aggregates every sink writes
    assert res.expiry_counts.select(["store", "data_class", "expired"]).to_pylist() == [
        {"store": "processor_state", "data_class": "non_hit_reads", "expired": 3}
    ]
    assert p.expire(T0) == 0


def test_hit_only_processor_state_holds_no_read_even_at_or_after_now() -> None:
    p = _hit_only_processor()
    p.process(as_json([read("n", plate="1AAA111", captured_at=T0), read("f", plate="2BBB222", captured_at=T0 + 1)]), T0)
    p.expire(T0)
    assert len(p.reads_dedup) == 0


# -- the verifier's processor-state check --------------------------------------------------------------------------


class _Health:
    """A stand-in worker: serves a settable /readyz document (with retention findings when asked) on a free port."""

    def __init__(self) -> None:
        doc: dict[str, Any] = {}
        self.doc = doc
        self.findings: list[dict[str, str]] = []
        findings = self.findings

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                checks = self.path == "/readyz?checks=retention"
                body = json.dumps({**doc, "retention_findings": findings} if checks else doc).encode()
                self.send_response(200 if self.path in ("/readyz", "/readyz?checks=retention") else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_worker() -> Iterator[_Health]:
    h = _Health()
    yield h
    h.close()


def test_verify_workers_within_and_beyond_the_limit(fake_worker: _Health) -> None:
    nh = load_retention("new_hampshire")
    bound = processor_state_ms(nh) + WORKER_TICK_MS
    now = T0
    fake_worker.doc.update(oldest_state_read_ms=now - bound, dedup_state_reads=3, status="ok")
    [f] = verify_workers([fake_worker.url], nh, now_ms=now)
    assert f.level == "ok" and "185.0 s" in f.line()
    fake_worker.doc.update(oldest_state_read_ms=now - bound - 1)
    [f] = verify_workers([fake_worker.url + "/"], nh, now_ms=now)
    assert f.failed and "older than the bound 185.0 s" in f.line()
    fake_worker.doc.update(oldest_state_read_ms=None, dedup_state_reads=0)
    [f] = verify_workers([fake_worker.url + "/readyz"], nh, now_ms=now)
    assert f.level == "ok" and "holds no read" in f.line()


def test_hit_only_allows_one_tick(fake_worker: _Health) -> None:
    fake_worker.doc.update(oldest_state_read_ms=T0 - 6000)
    [f] = verify_workers([fake_worker.url], load_retention("hit_only"), now_ms=T0)
    assert f.failed


def test_verify_workers_cannot_pass_without_evidence(fake_worker: _Health) -> None:
    fake_worker.doc.update(status="ok")  # an older worker: no oldest_state_read_ms
    from tests.conftest import free_port

    found = verify_workers([fake_worker.url, f"http://127.0.0.1:{free_port()}"], load_retention("default"))
    assert [f.failed for f in found] == [True, True]
    assert "does not report oldest_state_read_ms" in found[0].line() and "cannot read" in found[1].line()


def test_cli_verify_exit_codes_and_no_plate_text(fake_worker: _Health) -> None:
    runner = CliRunner()
    fake_worker.doc.update(oldest_state_read_ms=None)
    fake_worker.findings.append({"level": "ok", "store": "clickhouse", "subject": "chdb/reads", "message": "fine"})
    ok = runner.invoke(app, ["retention", "verify", "--no-kafka", "--worker", fake_worker.url])
    assert ok.exit_code == 0, ok.output
    assert "OK   processor" in ok.output and "WARN kafka -: not checked (--no-kafka)" in ok.output
    assert "all checks passed, but 1 store(s) not checked (WARN above) (policy default)" in ok.output
    assert f"OK   clickhouse {fake_worker.url} chdb/reads: fine" in ok.output
    fake_worker.doc.update(oldest_state_read_ms=0)
    bad = runner.invoke(
        app, ["retention", "verify", "--no-kafka", "--retention", "hit_only", "--worker", fake_worker.url]
    )
    assert bad.exit_code == 1, bad.output
    assert "FAIL processor" in bad.output and "FAIL: 1 check(s) failed (policy hit_only)" in bad.output
    # a worker's store finding fails the run as well
    fake_worker.doc.update(oldest_state_read_ms=None)
    fake_worker.findings.append({"level": "fail", "store": "clickhouse", "subject": "chdb/reads", "message": "late"})
    bad = runner.invoke(app, ["retention", "verify", "--no-kafka", "--worker", fake_worker.url])
    assert bad.exit_code == 1 and "FAIL clickhouse" in bad.output, bad.output


def test_a_verify_told_to_check_nothing_fails_and_says_so(clean_env: None) -> None:
    done = CliRunner().invoke(app, ["retention", "verify", "--no-kafka"])
    assert done.exit_code == 1, done.output
    assert "WARN processor -: no --worker given" in done.output
    assert "WARN clickhouse -: no --worker and no CLICKHOUSE_URL" in done.output
    assert "FAIL - -: nothing was checked" in done.output and "FAIL: 1 check(s) failed" in done.output


def test_cli_show() -> None:
    res = CliRunner().invoke(app, ["retention", "show", "--retention", "new_hampshire"])
    assert res.exit_code == 0, res.output
    assert "policy: new_hampshire" in res.output and "non_hit_reads: 180 s" in res.output
    assert "retention.ms=135000 segment.ms=45000" in res.output
    assert "held until 60 s after its capture time" in res.output  # min(dedup window 60 s, 180 s)
