"""Kafka with authentication and ACLs: a local KRaft broker with a SCRAM-SHA-512 listener and the StandardAuthorizer
(``deploy/local/kafka.sh start-scram``, beside the session's PLAINTEXT broker). A client without valid credentials
is refused, valid credentials without an ACL are refused authorisation, and a real worker runs with its own
credentials and ACLs (``streams.kafka.acls``) and turns reads published by a producer user into hits."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.config.settings import Settings, load_settings
from streams.kafka.acls import grant, role_acls, set_scram_user
from streams.kafka.client import client_config
from streams.kafka.producer import make_producer, send_reads
from streams.kafka.topics import declared
from streams.model.read import READ_SCHEMA
from tests.conftest import KAFKA_SCRIPT, free_port
from tests.integration.helpers import cli, health, hot_entries, hotlist_csv, start_worker, stop_worker, worker_output

pytestmark = pytest.mark.integration


class ScramBroker:
    """The broker's address and its admin user's PLATESTREAM_KAFKA_* settings (from STATE_DIR/admin.env)."""

    def __init__(self, state: Path):
        self.state = state
        self.admin_env = dict(line.split("=", 1) for line in (state / "admin.env").read_text().splitlines() if line)
        self.bootstrap = self.admin_env["PLATESTREAM_KAFKA_BOOTSTRAP"]

    def settings(self, user: str | None = None, password: str | None = None, **kw) -> Settings:
        """Settings of the admin user, or of ``user`` with ``password``."""
        return Settings(
            kafka_bootstrap=self.bootstrap,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username=user or "admin",
            kafka_sasl_password=password or self.admin_env["PLATESTREAM_KAFKA_SASL_PASSWORD"],
            **kw,
        )

    def add_user(self, user: str) -> str:
        password = secrets.token_urlsafe(16)
        set_scram_user(self.settings(), user, password)
        return password


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramBroker]:
    state = tmp_path_factory.mktemp("kafka-scram")
    proc = subprocess.run([str(KAFKA_SCRIPT), "start-scram", str(state)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"local SCRAM Kafka did not start:\n{proc.stderr[-4000:]}", pytrace=False)
    try:
        yield ScramBroker(state)
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop", str(state)], capture_output=True, timeout=120)


def first_error(conf: dict, within: float = 10) -> KafkaError:
    """The first client-level error a producer with ``conf`` reports while it tries to connect."""
    errors: list[KafkaError] = []
    producer = Producer(dict(conf, error_cb=errors.append))
    deadline = time.monotonic() + within
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    assert errors, f"no error within {within} s"
    return errors[0]


def test_clients_without_valid_credentials_are_refused(scram_broker: ScramBroker):
    # PLAINTEXT, as every client was before: the SASL listener closes the connection, at once
    plaintext = client_config(Settings(kafka_bootstrap=scram_broker.bootstrap))
    started = time.monotonic()
    with pytest.raises(KafkaException) as err:
        AdminClient(plaintext).list_topics(timeout=10)
    assert err.value.args[0].code() == KafkaError._TRANSPORT
    assert time.monotonic() - started < 5  # refused, not a timeout
    # a real user with a wrong password, and a user that does not exist: authentication fails
    scram_broker.add_user("known")
    for user in ("known", "nobody-at-all"):
        started = time.monotonic()
        error = first_error(client_config(scram_broker.settings(user, "wrong-password")))
        assert error.code() == KafkaError._AUTHENTICATION, error
        assert "invalid credentials" in error.str()
        assert "wrong-password" not in error.str()
        assert time.monotonic() - started < 5


def test_valid_credentials_without_an_acl_are_refused_authorisation(scram_broker: ScramBroker):
    topic = f"noacl{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(scram_broker.settings()))  # held: a collected client cancels its futures
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)
    outsider = client_config(scram_broker.settings("outsider", scram_broker.add_user("outsider")))

    delivered: list[KafkaError | None] = []
    producer = Producer(dict(outsider, **{"message.timeout.ms": 10000}))
    producer.produce(topic, b"x", on_delivery=lambda e, m: delivered.append(e))
    assert producer.flush(15) == 0
    assert delivered[0] is not None and delivered[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    assert topic_error(outsider, topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def topic_error(conf: dict, topic: str) -> int | None:
    """The error code a consumer with ``conf`` gets for ``topic``'s metadata (None: it may see the topic)."""
    consumer = Consumer(dict(conf, **{"group.id": f"probe-{uuid.uuid4().hex}"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return None if meta.error is None else meta.error.code()
    finally:
        consumer.close()


def read_hits(settings: Settings, topic: str, want: int, timeout: float = 60) -> list[dict]:
    """The JSON hits on ``topic`` (read as ``settings``' user) once ``want`` of them arrived."""
    consumer = Consumer(client_config(settings, {"group.id": f"{settings.topic_prefix}test-{uuid.uuid4().hex}"}))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        hits: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(hits) < want and time.monotonic() < deadline:
            hits += [json.loads(m.value()) for m in consumer.consume(100, 0.5) if m.error() is None]
        return hits
    finally:
        consumer.close()


def test_worker_runs_with_its_own_credentials_and_acls(scram_broker: ScramBroker, clean_env, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    base.update(PLATESTREAM_TOPIC_PREFIX=prefix, PLATESTREAM_PARTITIONS="2")
    admin_env = dict(base, **scram_broker.admin_env)
    created = cli(admin_env, "topics", "create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.count(": created") == len(declared(Settings(topic_prefix=prefix)))

    worker_pw, producer_pw = scram_broker.add_user(f"{prefix}worker"), scram_broker.add_user(f"{prefix}camera")
    admin = scram_broker.settings(topic_prefix=prefix)
    grant(admin, role_acls(admin, "worker", f"User:{prefix}worker"))
    grant(admin, role_acls(admin, "producer", f"User:{prefix}camera"))

    entries = hot_entries(2)
    env = dict(
        base,
        PLATESTREAM_KAFKA_BOOTSTRAP=scram_broker.bootstrap,
        PLATESTREAM_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        PLATESTREAM_KAFKA_SASL_USERNAME=f"{prefix}worker",
        PLATESTREAM_KAFKA_SASL_PASSWORD=worker_pw,
        PLATESTREAM_HOTLIST_PATH=str(hotlist_csv(tmp_path / "hotlist.csv", entries)),
        PLATESTREAM_CHDB_PATH=str(tmp_path / "chdb"),
        PLATESTREAM_WEB_PORT=str(free_port()),
    )
    worker = start_worker(env)
    try:
        assert health(env)["hotlist_entries"] == 2
        camera = load_settings(
            kafka_bootstrap=scram_broker.bootstrap,
            topic_prefix=prefix,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username=f"{prefix}camera",
            kafka_sasl_password=producer_pw,
        )
        now = int(time.time() * 1000)
        reads = pa.Table.from_pylist(
            [
                {
                    "read_id": f"r{i}",
                    "camera_id": f"cam-{i}",
                    "captured_at": now,
                    "plate": e["plate"],
                    "region": e["region"],
                    "confidence": 95.0,
                }
                for i, e in enumerate(entries)
            ]
            + [{"read_id": "miss", "camera_id": "cam-9", "captured_at": now, "plate": "9ZZZ999", "region": "CA"}],
            schema=READ_SCHEMA,
        )
        producer = make_producer(camera)
        send_reads(producer, camera, reads, 2)
        assert producer.flush(30) == 0
        del producer  # no client left talking to the broker after the module stops it

        hits = read_hits(admin, f"{prefix}hits", want=2)
        assert sorted(h["entry_id"] for h in hits) == sorted(e["entry_id"] for e in entries), worker_output(worker)
        assert health(env)["status"] == "ok"

        # the producer's user may write reads, and nothing else: it cannot read the hits
        assert topic_error(client_config(camera), f"{prefix}hits") == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert topic_error(client_config(camera), f"{prefix}reads.batch") is None
    finally:
        stop_worker(worker)
    assert worker_pw not in worker_output(worker, chars=1_000_000)
