"""Every topic, its partitions and its per-topic configs, declared in one place.

Topics are created by ``platestream topics create``, never by auto-creation; workers check at start-up that the
broker's configs match these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.config import Settings
from streams.retention import kafka_reads_configs, load_retention


@dataclass(frozen=True)
class TopicSpec:
    name: str  # without the deployment prefix
    purpose: str
    configs: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None  # None: the deployment's default


def declared(settings: Settings) -> list[TopicSpec]:
    """The topics of a deployment. Read retention follows the retention policy (streams/retention.py)."""
    policy = load_retention(settings.retention)
    reads = kafka_reads_configs(policy)
    return [
        TopicSpec(
            "reads.batch",
            "Arrow IPC record batches of reads (camera gateways, load generators)",
            {**reads, "max.message.bytes": str(settings.max_message_bytes + 65536)},
        ),
        TopicSpec(
            "reads.json",
            "single JSON events: reads, alpr_group, heartbeat",
            dict(reads),
        ),
        TopicSpec(
            "hits",
            "hot-list hits, one JSON per hit, keyed by hit_id; all start unverified",
            {"retention.ms": str(policy.hits * 1000), "cleanup.policy": "delete"},
        ),
        TopicSpec(
            "deadletter",
            "rejected messages and rows with reason and original bytes",
            {"retention.ms": str(7 * 86_400_000), "cleanup.policy": "delete"},
        ),
        TopicSpec(
            "hotlist.events",
            "hot-list add/clear events keyed by entry id (compacted)",
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            partitions=1,
        ),
        TopicSpec(
            "verifications",
            "operator confirm/reject events for hits",
            {"retention.ms": str(policy.verifications * 1000), "cleanup.policy": "delete"},
        ),
    ]


def topic_name(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}{name}"
