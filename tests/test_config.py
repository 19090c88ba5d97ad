"""Settings (environment, YAML file, precedence, validation) and the admission policy file."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from streams.config.secret_files import load_signer, write_control_keypair
from streams.config.settings import Settings, load_policy, load_settings, policy_lut
from streams.core.confusables import DEFAULT_LUT, canonical_lut
from streams.core.policy import ReasonRule
from streams.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults() -> None:
    s = load_settings()
    assert s.partitions == 6 and s.kafka_bootstrap == "127.0.0.1:9092" and s.clickhouse_url is None
    assert s.policy_path is None  # the packaged default policy
    assert load_policy(s.policy_path).reasons


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_PARTITIONS", "12")
    monkeypatch.setenv("PLATESTREAM_DEDUP_WINDOW_S", "2.5")
    monkeypatch.setenv("PLATESTREAM_KAFKA_BOOTSTRAP", "k1:9092,k2:9093")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://ch:8123")
    s = load_settings()
    assert (s.partitions, s.dedup_window_s, s.kafka_bootstrap) == (12, 2.5, "k1:9092,k2:9093")
    assert s.clickhouse_url == "http://ch:8123"


def test_yaml_file_values_are_read(tmp_path: Path) -> None:
    p = write(tmp_path, "partitions: 3\ndedup_window_s: 30\nclickhouse_url: https://ch:8443\nbucket_s: 600\n")
    s = load_settings(p)
    assert (s.partitions, s.dedup_window_s, s.clickhouse_url, s.bucket_s) == (3, 30, "https://ch:8443", 600)


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_CONFIG", str(write(tmp_path, "worker_batch: 77\n")))
    assert load_settings().worker_batch == 77


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "partitions: 3\nworker_batch: 10\n")
    monkeypatch.setenv("PLATESTREAM_PARTITIONS", "5")
    s = load_settings(p)
    assert s.partitions == 5  # environment wins
    assert s.worker_batch == 10  # the file still counts where no variable is set


def test_clickhouse_url_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLICKHOUSE_URL has no PLATESTREAM_ prefix, so load_settings does not see it as set and the file wins."""
    p = write(tmp_path, "clickhouse_url: http://file:8123\n")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://env:8123")
    assert load_settings(p).clickhouse_url == "http://env:8123"


def test_explicit_overrides_win_and_none_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_PARTITIONS", "5")
    s = load_settings(write(tmp_path, "partitions: 3\n"), partitions=9, worker_batch=None)
    assert s.partitions == 9 and s.worker_batch == 50_000


def test_every_bad_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATESTREAM_PARTITIONS", "0")
    monkeypatch.setenv("PLATESTREAM_DEDUP_WINDOW_S", "-1")
    monkeypatch.setenv("PLATESTREAM_KAFKA_BOOTSTRAP", "nohost")
    monkeypatch.setenv("PLATESTREAM_WEB_PORT", "70000")
    monkeypatch.setenv("PLATESTREAM_BUCKET_S", "ten")
    monkeypatch.setenv("CLICKHOUSE_URL", "ftp://x")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    msg = str(exc.value)
    for name in ("partitions", "dedup_window_s", "kafka_bootstrap", "web_port", "bucket_s"):
        assert f"  {name}:" in msg, name
    assert "clickhouse_url" in msg.lower()
    assert "'nohost' is not host:port" in msg
    assert len(msg.splitlines()) == 1 + 6  # a heading, then one line per bad value


def test_bad_file_values_are_reported_with_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, "partitions: 2000\nmax_message_bytes: 10\nunknown_knob: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(p)
    msg = str(exc.value)
    assert str(p) in msg
    for name in ("partitions", "max_message_bytes", "unknown_knob"):
        assert f"  {name}:" in msg, name


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "key: [unclosed\n"])
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, text))


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")).partitions == 6


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml")


def test_processor_config_converts_seconds() -> None:
    s = Settings(dedup_window_s=1.5, alert_window_s=0, nonhit_state_s=20, bucket_s=120, max_future_skew_s=2)
    pc = s.processor_config(load_policy())
    assert (pc.dedup_window_ms, pc.alert_window_ms, pc.nonhit_state_ms, pc.bucket_ms) == (1500, 0, 20_000, 120_000)
    assert pc.limits.max_future_skew_ms == 2000 and pc.limits.max_age_ms == 7 * 86_400_000
    assert pc.alert_kinds == frozenset({"exact", "candidate", "confusable"}) and pc.low_confidence == 80


def test_default_policy() -> None:
    p = load_policy()
    assert p.reasons["stolen_vehicle"] == ReasonRule(alert=True, requires="record_number", max_days=30)
    assert p.reasons["arrest_warrant"] == ReasonRule(alert=True, requires="warrant", max_days=None)
    assert p.reasons["gang_database"].alert is False
    assert p.alert_kinds == frozenset({"exact", "candidate", "confusable"})
    assert "region_mismatch" not in p.alert_kinds
    assert p.low_confidence == 80 and p.source_max_age_hours == 24
    assert np.array_equal(policy_lut(p), DEFAULT_LUT)


def test_policy_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "reasons:\n  stolen_vehicle: {requires: case_number, max_days: 3}\n  other: {alert: false}\n"
        "alert_kinds: [exact]\nlow_confidence: 50\nconfusable_groups: ['0O']\n",
        "policy.yaml",
    )
    pol = load_policy(p)
    assert pol.reasons == {
        "stolen_vehicle": ReasonRule(True, "case_number", 3),
        "other": ReasonRule(False, None, None),
    }
    assert pol.alert_kinds == frozenset({"exact"}) and pol.low_confidence == 50
    assert np.array_equal(policy_lut(pol), canonical_lut(["0O"]))
    assert not np.array_equal(policy_lut(pol), DEFAULT_LUT)


def test_every_bad_policy_value_is_reported(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "reasons:\n  a: {requires: badge}\n  b: {max_days: 0}\n  c: {colour: red}\n"
        "alert_kinds: [exact, psychic]\nlow_confidence: 101\nsource_max_age_hours: 0\nextra: 1\n",
        "policy.yaml",
    )
    with pytest.raises(ConfigError) as exc:
        load_policy(p)
    msg = str(exc.value)
    for loc in (
        "reasons.a.requires",
        "reasons.b.max_days",
        "reasons.c.colour",
        "alert_kinds",
        "low_confidence",
        "source_max_age_hours",
        "extra",
    ):
        assert f"  {loc}:" in msg, loc
    assert "psychic" in msg and str(p) in msg


@pytest.mark.parametrize("text", ["", "reasons: 3\n", "[1, 2]\n", "alert_kinds: [exact]\n"])
def test_policy_without_reasons_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_policy(write(tmp_path, text, "policy.yaml"))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(tmp_path / "absent.yaml")


# -- secrets: safe defaults ----------------------------------------------------------------------------------------


def test_an_embedded_store_makes_its_own_pseudonym_key_once_mode_600(tmp_path: Path) -> None:
    s = Settings(plate_keys_file=tmp_path / "keys")
    first = s.load_plate_keys()
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o600
    assert s.load_plate_keys().current_id == first.current_id and (tmp_path / "keys").read_text().count(":") == 1


def test_a_server_store_without_a_pseudonym_key_is_an_error_not_a_fresh_key(tmp_path: Path) -> None:
    s = Settings(clickhouse_url="http://ch:8123/db", plate_keys_file=tmp_path / "keys")
    with pytest.raises(ConfigError, match="PLATESTREAM_PLATE_KEYS"):
        s.load_plate_keys()
    assert not (tmp_path / "keys").exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    Settings(plate_keys_file=path).load_plate_keys()
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others"):
        Settings(plate_keys_file=path).load_plate_keys()
    signing = tmp_path / "control.key"
    write_control_keypair(signing)
    load_signer(signing)
    signing.chmod(0o604)
    with pytest.raises(ConfigError, match="readable by others"):
        load_signer(signing)
