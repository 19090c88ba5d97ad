"""Every topic, its partitions and its per-topic configs, declared in one place.

Topics are created by ``platestream topics create`` (or, on Strimzi, applied as the ``KafkaTopic`` resources of
``platestream topics manifest``), never by auto-creation; workers check at start-up that the
broker's configs match these declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streams.config.retention import kafka_limit_configs, kafka_topic_limits, load_retention
from streams.config.settings import Settings

READS_JSON_MAX_BYTES = 4 * 1024 * 1024  # one JSON event on reads.json, images included


@dataclass(frozen=True)
class TopicSpec:
    name: str  # without the deployment prefix
    purpose: str
    configs: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None  # None: the deployment's default


def declared(settings: Settings) -> list[TopicSpec]:
    """The topics of a deployment. Every topic with personal data keeps it as long as the retention policy allows
    (streams/config/retention.py): reads, dead letters, hits, verifications."""
    policy = load_retention(settings.retention)
    limits = kafka_topic_limits(policy)
    keep = {topic: kafka_limit_configs(limit) for topic, (_, limit) in limits.items()}
    return [
        TopicSpec(
            "reads.batch",
            "Arrow IPC record batches of reads (camera gateways, load generators)",
            {**keep["reads.batch"], "max.message.bytes": str(settings.max_message_bytes + 65536)},
        ),
        TopicSpec(
            "reads.json",
            "single JSON events: reads, alpr_group, heartbeat",
            # A real alpr_group with its crops is about 1.6 MB, over the broker's 1 MB default; the gateway strips
            # the crops anyway, but a producer writing straight to the topic may not.
            {**keep["reads.json"], "max.message.bytes": str(READS_JSON_MAX_BYTES)},
        ),
        TopicSpec(
            "hits",
            "hot-list hits, one JSON per hit, keyed by hit_id; all start unverified",
            keep["hits"],
        ),
        TopicSpec(
            "deadletter",
            "rejected messages and rows with reason and original bytes",
            {**keep["deadletter"], "max.message.bytes": str(2 * settings.max_message_bytes + 65536)},
        ),
        TopicSpec(
            "hotlist.events",
            "hot-list add/clear events keyed by entry id (compacted)",
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            partitions=1,
        ),
        TopicSpec(
            "holds",
            "preservation holds placed and released, keyed by hold id; plates only as keyed hashes",
            keep["holds"],
            partitions=1,
        ),
        TopicSpec(
            "verifications",
            "operator confirm/reject events for hits",
            keep["verifications"],
        ),
        TopicSpec(
            "audit",
            "signed audit records in the order of the log (one partition: a record's seq is its offset + 1)",
            kafka_limit_configs(max(1000, policy.limit_ms("audit"))),
            partitions=1,
        ),
    ]


def topic_name(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}{name}"


def origin(topic: str, partition: int, offset: int) -> str:
    """Where a message came from, as dead letters, audits and de-duplication tokens name it."""
    return f"{topic}/{partition}/{offset}"


def message_origin(m: Any) -> str:
    """``origin`` of a confluent-kafka message."""
    return origin(m.topic(), m.partition(), m.offset())


STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"


def kafka_topic_manifests(
    settings: Settings, cluster: str, replicas: int | None = None, namespace: str | None = None
) -> list[dict]:
    """The declared topics as Strimzi ``KafkaTopic`` resources for the Kafka cluster named ``cluster``.

    Pure: names, partitions and configs come from :func:`declared`, as ``topics create`` would make them. The
    resource name is the topic name made a valid Kubernetes name; ``spec.topicName`` keeps the real one.
    ``replicas`` None leaves the replication factor to the broker's ``default.replication.factor``.
    """
    manifests = []
    for spec in declared(settings):
        name = topic_name(settings, spec.name)
        body: dict = {
            "topicName": name,
            "partitions": spec.partitions or settings.partitions,
            "config": dict(sorted(spec.configs.items())),
        }
        if replicas is not None:
            body["replicas"] = replicas
        metadata: dict = {
            "name": kubernetes_name(name),
            "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "platestream"},
            "annotations": {"platestream/purpose": spec.purpose},
        }
        if namespace:
            metadata["namespace"] = namespace
        manifests.append({"apiVersion": STRIMZI_API_VERSION, "kind": "KafkaTopic", "metadata": metadata, "spec": body})
    return manifests


def kubernetes_name(topic: str) -> str:
    """``topic`` as a DNS-1123 subdomain (lower case, ``[a-z0-9.-]``, alphanumeric at both ends, 253 at most)."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", topic.lower()).strip(".-")
    return cleaned[:253].rstrip(".-") or "topic"
