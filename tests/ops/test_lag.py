"""Consumer lag and the reads topics' floor on a real broker: the sampler's numbers against offsets committed by a
real consumer, and the retention verifier's bound on the reads topics under a policy that allows transit."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from streams import metrics
from streams.config.retention import load_retention
from streams.config.settings import load_settings
from streams.kafka.lag import LagSampler, publish_topic_retention
from streams.kafka.retention_check import verify_kafka
from tests.integration.helpers import cli

pytestmark = pytest.mark.integration


def sample(sampler: LagSampler) -> dict:
    """A sample by (topic, partition); retried while a fresh broker's group coordinator is not ready yet."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return {(x.topic, x.partition): x for x in sampler.sample()}
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_lag_in_messages_and_seconds_from_the_groups_committed_offsets(worker_env: dict[str, str]) -> None:
    env = worker_env
    bootstrap, prefix = env["PLATESTREAM_KAFKA_BOOTSTRAP"], env["PLATESTREAM_TOPIC_PREFIX"]
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, partitions=3)
    topic, group = f"{prefix}reads.json", f"{prefix}worker"
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        producer.produce(topic, b"{}", partition=0)
        if i == 3:
            producer.flush()
            time.sleep(2.0)  # offsets 0-3 are 2 s older than 4-9
    producer.flush()
    sampler = LagSampler(settings, group, [topic, f"{prefix}reads.batch"])
    try:
        # nothing committed: every message waits, the oldest for about 2 s
        before = sample(sampler)
        sampled_at = time.monotonic()
        assert before[(topic, 0)].messages == 10 and before[(topic, 0)].seconds >= 1.9
        assert before[(topic, 1)].messages == 0 and before[(topic, 1)].seconds == 0
        assert len(before) == 6  # every partition of both topics
        # the group commits 4: six wait, the oldest of them is the young one
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
        c.close()
        after = sample(sampler)
        assert after[(topic, 0)].messages == 6
        # message 4 was appended 2 s after message 0: its age is 2 s less, give or take the time between samples
        elapsed = time.monotonic() - sampled_at
        assert after[(topic, 0)].seconds < before[(topic, 0)].seconds + elapsed - 1.5
        sampler.sample_and_publish()
        get = metrics.REGISTRY.get_sample_value
        assert get("platestream_consumer_lag_messages", {"topic": topic, "partition": "0"}) == 6
        assert get("platestream_consumer_lag_last_sample_timestamp_seconds") > time.time() - 60
    finally:
        sampler.close()
    # the sampler never joined the group nor committed: the group's offset is what the test committed
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    assert c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 4
    c.close()
    publish_topic_retention(settings)
    retention_s = metrics.REGISTRY.get_sample_value("platestream_kafka_topic_retention_seconds", {"topic": topic})
    assert retention_s == 2700  # the default policy's floor: 1 h topic limit, retention.ms 45 min


def test_verifier_checks_the_transit_bound_on_the_reads_topics(worker_env: dict[str, str]) -> None:
    env = worker_env
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    prefix = env["PLATESTREAM_TOPIC_PREFIX"]
    findings = verify_kafka(settings, load_retention("default"))
    assert not [f for f in findings if f.failed], [f.line() for f in findings if f.failed]
    transit = [f for f in findings if f.message.startswith("transit:")]
    assert {f.subject for f in transit} == {f"{prefix}reads.batch", f"{prefix}reads.json"}
    configs = {f.subject: f.message for f in findings if f.message.startswith("retention.ms=")}
    assert configs[f"{prefix}reads.json"].startswith("retention.ms=2700000 segment.ms=900000")
    assert configs[f"{prefix}deadletter"].startswith("retention.ms=225000 segment.ms=75000")  # no floor
    # the same topics under a capped policy fail: the floor would keep reads past a statute's limit
    failed = [f for f in verify_kafka(settings, load_retention("new_hampshire")) if f.failed]
    assert {f.subject for f in failed} >= {f"{prefix}reads.json", f"{prefix}reads.batch"}
