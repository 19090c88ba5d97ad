"""The reads topics' floor (``min_unconsumed_hold``): each preset's choice, the rule that keeps a capped policy
within its statute, and what the floor sets on the topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config.retention import (
    KAFKA_TRANSIT_MS,
    PRESETS,
    kafka_limit_configs,
    kafka_reads_base_ms,
    kafka_reads_limit_ms,
    kafka_topic_limits,
    load_retention,
    reads_in_transit_past_limit,
)
from streams.errors import ConfigError

POLICY = """source: test policy
non_hit_reads: 60
hit_reads: 600
hits: 600
verifications: 600
aggregates: 600
audit: 600
"""


@pytest.mark.parametrize(
    ("name", "topic_limit_s", "transit"),
    [
        ("default", 3600, True),
        ("hit_only", 60, False),
        ("new_hampshire", 180, False),
        ("minnesota", 60 * 86_400, False),
    ],
)
def test_each_presets_choice(name: str, topic_limit_s: int, transit: bool) -> None:
    policy = load_retention(name)
    assert kafka_reads_limit_ms(policy) == topic_limit_s * 1000
    assert reads_in_transit_past_limit(policy) is transit
    assert policy.min_unconsumed_hold > 0, "every preset states its floor"
    limits = kafka_topic_limits(policy)
    assert limits["reads.batch"] == limits["reads.json"] == ("non_hit_reads", topic_limit_s * 1000)
    # dead letters are re-driven by people, not consumed by the workers: no floor
    assert limits["deadletter"] == ("non_hit_reads", kafka_reads_base_ms(policy))


def test_no_capped_preset_lets_the_topics_keep_a_read_past_its_limit() -> None:
    for name in PRESETS:
        policy = load_retention(name)
        if not policy.transit_past_limit:
            assert kafka_reads_limit_ms(policy) == (policy.non_hit_reads * 1000 or KAFKA_TRANSIT_MS)


def test_default_survives_a_45_minute_outage() -> None:
    configs = kafka_limit_configs(kafka_reads_limit_ms(load_retention("default")))
    assert int(configs["retention.ms"]) == 45 * 60_000  # the youngest age at which the broker may delete a read


def test_a_floor_past_the_limit_needs_transit(tmp_path: Path) -> None:
    capped = tmp_path / "capped.yaml"
    capped.write_text(POLICY + "min_unconsumed_hold: 3600\n")
    with pytest.raises(ConfigError, match=r"min_unconsumed_hold \(3600 s\) is longer than the reads topics' limit"):
        load_retention(capped)
    transit = tmp_path / "transit.yaml"
    transit.write_text(POLICY + "min_unconsumed_hold: 3600\ntransit_past_limit: true\n")
    policy = load_retention(transit)
    assert kafka_reads_limit_ms(policy) == 3_600_000 and reads_in_transit_past_limit(policy)
    # a floor inside the limit changes nothing, transit or not
    inside = tmp_path / "inside.yaml"
    inside.write_text(POLICY + "min_unconsumed_hold: 30\n")
    assert kafka_reads_limit_ms(load_retention(inside)) == 60_000


def test_a_policy_without_a_floor_keeps_its_limit(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(POLICY)
    policy = load_retention(plain)
    assert policy.min_unconsumed_hold == 0 and not policy.transit_past_limit
    assert kafka_reads_limit_ms(policy) == 60_000
