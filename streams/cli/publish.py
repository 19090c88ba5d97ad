"""Events the commands publish (hot-list changes, holds, verifications) as JSON to a declared topic, all delivered
or an error."""

from __future__ import annotations

import json

from streams.config.settings import Settings
from streams.errors import PlatestreamError
from streams.kafka.producer import make_producer
from streams.kafka.topics import topic_name


def publish(settings: Settings, topic: str, items: list[tuple[str, dict]]) -> None:
    """Each (key, event) to ``topic`` (a declared name, prefixed here); raises if any is not delivered in 30 s."""
    producer = make_producer(settings, **{"linger.ms": 0})
    for key, value in items:
        producer.produce(topic_name(settings, topic), json.dumps(value).encode(), key=key.encode())
    if producer.flush(30):
        raise PlatestreamError(f"could not deliver to {topic_name(settings, topic)}")
