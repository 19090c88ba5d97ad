"""Delivery of a batch's messages: every message confirmed before ``confirm`` returns, failures sent again."""

from __future__ import annotations

from streams import metrics
from streams.worker.delivery import Delivery
from tests.worker.fakes import FakeProducer


def kafka_errors() -> float:
    return metrics.REGISTRY.get_sample_value("platestream_sink_errors_total", {"sink": "kafka"}) or 0.0


def test_confirm_waits_until_every_message_is_acknowledged() -> None:
    producer = FakeProducer()
    d = Delivery(producer)
    d.produce("t.hits", b"h1", b"k1")
    d.produce("t.deadletter", b"d1", b"k2")
    assert d.pending == 2 and producer.delivered == []  # sent, not yet acknowledged
    errors = kafka_errors()
    d.confirm()
    assert d.pending == 0 and d.failed == []
    assert producer.delivered == [("t.hits", b"h1", b"k1"), ("t.deadletter", b"d1", b"k2")]
    assert producer.produced == producer.delivered  # nothing sent twice
    assert kafka_errors() == errors


def test_failed_deliveries_are_sent_again_with_their_key_and_counted() -> None:
    producer = FakeProducer(fail={b"k1": 2})  # the broker refuses k1 twice, then takes it
    d = Delivery(producer)
    d.produce("t.hits", b"h1", b"k1")
    d.produce("t.hits", b"h2", b"k2")
    errors = kafka_errors()
    d.confirm()
    assert producer.produced.count(("t.hits", b"h1", b"k1")) == 3
    assert producer.produced.count(("t.hits", b"h2", b"k2")) == 1
    assert sorted(producer.delivered) == [("t.hits", b"h1", b"k1"), ("t.hits", b"h2", b"k2")]
    assert kafka_errors() == errors + 2  # one per round that found failures
    assert d.pending == 0 and d.failed == []


def test_a_full_local_queue_waits_for_room_instead_of_dropping() -> None:
    producer = FakeProducer(buffer_full=3)
    d = Delivery(producer)
    d.produce("t.hits", b"h1", b"k1")
    assert producer.polls == 3  # polled once per refusal, to make room
    assert producer.produced == [("t.hits", b"h1", b"k1")]
    d.confirm()
    assert producer.delivered == [("t.hits", b"h1", b"k1")]


def test_confirm_with_nothing_sent_returns_at_once() -> None:
    producer = FakeProducer()
    Delivery(producer).confirm()
    assert producer.polls == 0
