"""`topics create` takes its replication from the broker's default.replication.factor, or from the setting."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.config.settings import load_settings
from streams.kafka.admin import create_topics, replication
from streams.kafka.client import client_config

pytestmark = pytest.mark.integration


def test_replication_comes_from_the_broker_or_the_setting(kafka_bootstrap, topic_prefix):
    settings = load_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, partitions=1)
    admin = AdminClient(client_config(settings))
    broker = str(sorted(admin.list_topics(timeout=10).brokers)[0])
    res = ConfigResource(ConfigResource.Type.BROKER, broker)
    default = int(admin.describe_configs([res])[res].result()["default.replication.factor"].value)
    assert replication(settings, admin) == default
    assert replication(settings.model_copy(update={"topic_replication": 3}), admin) == 3

    created = create_topics(settings)
    assert set(created.values()) == {"created"}
    # The broker's metadata may lag the creation by a moment: wait (bounded) until it lists every created topic.
    deadline = time.monotonic() + 10
    while True:
        topics = admin.list_topics(timeout=10).topics
        if all(t in topics and topics[t].partitions for t in created) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(created) <= set(topics)
    assert all(len(topics[t].partitions[0].replicas) == default for t in created)
    # More replicas than brokers: the broker refuses, and `topics create` says so instead of making 1-replica topics.
    with pytest.raises(Exception, match="replication"):
        create_topics(
            load_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix + "x.", topic_replication=3)
        )
