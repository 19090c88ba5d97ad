"""Topic admin through confluent-kafka: create the declared topics, and check a broker against them."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, OffsetSpec

from streams.config.retention import RetentionPolicy, kafka_topic_limits
from streams.config.settings import Settings
from streams.errors import KafkaSetupError, kafka_unreachable
from streams.kafka.client import client_config
from streams.kafka.topics import declared, topic_name


def _admin(settings: Settings) -> AdminClient:
    # log_level 2: librdkafka's connection retries stay off the terminal; an unreachable broker is raised instead.
    return AdminClient(client_config(settings, {"socket.timeout.ms": 10000, "log_level": 2}))


def _reached(settings: Settings, timeout_s: float = 10.0) -> tuple[AdminClient, Any]:
    """An admin client and the cluster's metadata; an unreachable broker is one sentence, in ``timeout_s``."""
    admin = _admin(settings)
    try:
        return admin, admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(settings.kafka_bootstrap, exc) from None


class BrokerProbe:
    """Whether the brokers answer a metadata request (a worker's readiness): one admin client, asked on demand."""

    def __init__(self, settings: Settings):
        self.admin = _admin(settings)

    def reachable(self, timeout_s: float = 2.0) -> bool:
        try:
            return bool(self.admin.list_topics(timeout=timeout_s).brokers)
        except KafkaException:
            return False


def replication(settings: Settings, admin: AdminClient) -> int:
    """Replicas per new topic: ``topic_replication`` when set, else a broker's ``default.replication.factor``
    (a cluster with ``min.insync.replicas`` 2 refuses every ``acks=all`` write to a topic of one replica)."""
    if settings.topic_replication is not None:
        return settings.topic_replication
    try:
        brokers = sorted(admin.list_topics(timeout=15).brokers)
        if not brokers:
            raise KafkaSetupError(f"no broker listed at {settings.kafka_bootstrap}")
        resource = ConfigResource(ConfigResource.Type.BROKER, str(brokers[0]))
        configs = admin.describe_configs([resource])[resource].result(timeout=15)
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot read the broker's default.replication.factor: {exc}") from None
    return int(configs["default.replication.factor"].value)


def create_topics(settings: Settings) -> dict[str, str]:
    """Create missing topics; returns name -> 'created' | 'exists'."""
    admin, _ = _reached(settings)
    replicas = replication(settings, admin)
    new = [
        NewTopic(topic_name(settings, t.name), t.partitions or settings.partitions, replicas, config=t.configs)
        for t in declared(settings)
    ]
    result: dict[str, str] = {}
    for name, fut in admin.create_topics(new, request_timeout=30).items():
        try:
            fut.result()
            result[name] = "created"
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                result[name] = "exists"
            else:
                raise KafkaSetupError(f"cannot create topic {name}: {exc}") from None
    return result


def check_topics(settings: Settings) -> list[str]:
    """Differences between the broker and the declarations; empty when they agree."""
    admin, metadata = _reached(settings)
    problems: list[str] = []
    existing = metadata.topics
    specs = {topic_name(settings, t.name): t for t in declared(settings)}
    present = [n for n in specs if n in existing]
    problems += [f"{n}: missing (run `platestream topics create`)" for n in specs if n not in existing]
    if present:
        futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in present])
        for res, fut in futures.items():
            actual = {k: v.value for k, v in fut.result().items()}
            for key, want in specs[res.name].configs.items():
                if actual.get(key) != want:
                    problems.append(f"{res.name}: {key} is {actual.get(key)!r}, declared {want!r}")
    return problems


def apply_configs(settings: Settings) -> list[str]:
    """Set every declared per-topic config on existing topics (after a policy change); returns what changed."""
    admin, metadata = _reached(settings)
    specs = {topic_name(settings, t.name): t for t in declared(settings)}
    existing = metadata.topics
    changed: list[str] = []
    resources = []
    for name, spec in specs.items():
        if name not in existing:
            continue
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in spec.configs.items()]
        resources.append(ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries))
    if resources:
        before = {
            r.name: {k: v.value for k, v in f.result().items()}
            for r, f in admin.describe_configs(
                [ConfigResource(ConfigResource.Type.TOPIC, r.name) for r in resources]
            ).items()
        }
        for res, fut in admin.incremental_alter_configs(resources).items():
            try:
                fut.result()
            except KafkaException as exc:
                raise KafkaSetupError(f"cannot alter {res.name}: {exc}") from None
            for key, want in specs[res.name].configs.items():
                if before[res.name].get(key) != want:
                    changed.append(f"{res.name}: {key} {before[res.name].get(key)!r} -> {want!r}")
    return changed


def log_starts(settings: Settings, policy: RetentionPolicy) -> list[tuple[str, str, int, int]]:
    """(topic, data class, partition, log start offset) of every retention-bound topic: what Kafka has deleted.

    Offsets start at 0 and only deletion moves a partition's log start, so it counts the records deleted so far.
    """
    admin = _admin(settings)
    classes = {topic_name(settings, t): cls for t, (cls, _) in kafka_topic_limits(policy).items()}
    md = admin.list_topics(timeout=10)
    wanted = {
        TopicPartition(t, p): OffsetSpec.earliest() for t in classes if t in md.topics for p in md.topics[t].partitions
    }
    if not wanted:
        return []
    out = []
    for tp, fut in admin.list_offsets(wanted, request_timeout=10).items():
        out.append((tp.topic, classes[tp.topic], tp.partition, int(fut.result(timeout=10).offset)))
    return sorted(out)
