"""The Kafka part of ``retention verify``: each retention-bound topic's configs match the policy, and the oldest
record still readable on each partition is no older than ``retention.ms + segment.ms +
log.retention.check.interval.ms``. Findings name topics, partitions, offsets and ages; never a plate.

The reads topics' limit is the policy's floor (``min_unconsumed_hold``) when it allows transit past
``non_hit_reads`` (``transit_past_limit``): that is the bound checked on them, and a finding says so.
"""

from __future__ import annotations

import time

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from streams import clock
from streams.config.retention import (
    READS_TOPICS,
    RetentionPolicy,
    kafka_bound_ms,
    kafka_limit_configs,
    kafka_reads_base_ms,
    kafka_topic_limits,
    reads_in_transit_past_limit,
)
from streams.config.settings import Settings
from streams.errors import KafkaSetupError
from streams.kafka.client import client_config, group_id
from streams.kafka.topics import topic_name
from streams.model.finding import Finding, age_finding, seconds

__all__ = ["KAFKA_DEFAULT_CHECK_MS", "verify_kafka"]

KAFKA_DEFAULT_CHECK_MS = 300_000  # Kafka's default log.retention.check.interval.ms, when the broker does not say


def _check_interval_ms(admin, brokers: list[int]) -> tuple[int, bool]:  # noqa: ANN001 - confluent AdminClient
    """The broker's log.retention.check.interval.ms (the largest over brokers); False when it could not be read."""
    found: list[int] = []
    try:
        futures = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, str(b)) for b in brokers])
        for fut in futures.values():
            entry = fut.result(timeout=15).get("log.retention.check.interval.ms")
            if entry is not None and entry.value is not None:
                found.append(int(entry.value))
    except Exception:  # noqa: BLE001 - any failure here means "unknown", reported as a warning
        return KAFKA_DEFAULT_CHECK_MS, False
    return (max(found), True) if found else (KAFKA_DEFAULT_CHECK_MS, False)


def verify_kafka(
    settings: Settings, policy: RetentionPolicy, now_ms: int | None = None, timeout_s: float = 15
) -> list[Finding]:
    """Configs of every retention-bound topic (reads, dead letters, hits, verifications, holds), and the age of the
    oldest readable record on each of their partitions."""
    admin = AdminClient(client_config(settings, {"socket.timeout.ms": 10000}))
    try:
        md = admin.list_topics(timeout=15)
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    limits = {topic_name(settings, t): lim for t, (_, lim) in kafka_topic_limits(policy).items()}
    check_ms, known = _check_interval_ms(admin, sorted(md.brokers))
    out: list[Finding] = []
    if not known:
        out.append(
            Finding(
                "warn", "kafka", "broker", f"log.retention.check.interval.ms unreadable; assuming {seconds(check_ms)}"
            )
        )
    shortest = min(limits.values())
    if check_ms > shortest // 10:
        out.append(
            Finding(
                "warn",
                "kafka",
                "broker",
                f"log.retention.check.interval.ms is {seconds(check_ms)}: records may stay readable up to that long "
                f"past the shortest limit of {seconds(shortest)}; set it to at most {seconds(shortest // 10)}",
            )
        )

    if reads_in_transit_past_limit(policy):
        for t in READS_TOPICS:
            out.append(
                Finding(
                    "ok",
                    "kafka",
                    topic_name(settings, t),
                    f"transit: reads wait here up to {seconds(policy.min_unconsumed_hold * 1000)} "
                    f"(min_unconsumed_hold), past non_hit_reads {seconds(kafka_reads_base_ms(policy))}, as policy "
                    f"{policy.name} allows (transit_past_limit); processor state and ClickHouse keep non_hit_reads",
                )
            )
    present = [n for n in limits if n in md.topics]
    out += [Finding("fail", "kafka", n, "topic missing") for n in limits if n not in md.topics]
    bounds: dict[str, tuple[int, int]] = {}
    if present:
        futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in present])
        for res, fut in futures.items():
            want = kafka_limit_configs(limits[res.name])
            bounds[res.name] = (limits[res.name], kafka_bound_ms(want, check_ms))
            actual = {k: v.value for k, v in fut.result(timeout=15).items()}
            bad = [(k, actual.get(k), v) for k, v in want.items() if actual.get(k) != v]
            for key, got, exp in bad:
                out.append(Finding("fail", "kafka", res.name, f"{key} is {got!r}, the policy needs {exp!r}"))
            if not bad:
                configs = " ".join(f"{k}={v}" for k, v in want.items())
                out.append(Finding("ok", "kafka", res.name, f"{configs} (policy {policy.name})"))

    partitions = [(n, p) for n in present for p in sorted(md.topics[n].partitions)]
    out += _oldest_records(settings, partitions, bounds, check_ms, now_ms, timeout_s)
    return out


def _oldest_records(
    settings: Settings,
    partitions: list[tuple[str, int]],
    bounds: dict[str, tuple[int, int]],
    check_ms: int,
    now_ms: int | None,
    timeout_s: float,
) -> list[Finding]:
    """Read the first available record of each partition (assign at the log start offset) and judge its age."""
    if not partitions:
        return []
    consumer = Consumer(
        client_config(
            settings,
            {
                # assigned, never joined nor committed; under the prefix, so one group ACL covers a deployment
                "group.id": group_id(settings, "retention-verify", private=True),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",  # a start offset deleted meanwhile: the next oldest record
                "queued.max.messages.kbytes": 1024,
            },
        )
    )
    out: list[Finding] = []
    try:
        wanted: dict[tuple[str, int], int] = {}
        for t, p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
            if low >= high:
                out.append(Finding("ok", "kafka", f"{t}/{p}", f"no readable record (log start offset {low} = end)"))
            else:
                wanted[(t, p)] = low
        if not wanted:
            return out
        consumer.assign([TopicPartition(t, p, off) for (t, p), off in wanted.items()])
        first: dict[tuple[str, int], tuple[int, int, int]] = {}
        deadline = time.monotonic() + timeout_s
        while len(first) < len(wanted) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            tp = (msg.topic(), msg.partition())
            if tp in wanted and tp not in first:
                ts_type, ts = msg.timestamp()
                first[tp] = (msg.offset(), ts_type, ts)
                consumer.pause([TopicPartition(tp[0], tp[1])])
        now = clock.now_ms() if now_ms is None else now_ms
        for t, p in wanted:
            subject = f"{t}/{p}"
            if (t, p) not in first:
                low2, high2 = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                if low2 >= high2:
                    out.append(Finding("ok", "kafka", subject, "records deleted while checking; none readable"))
                else:
                    out.append(Finding("fail", "kafka", subject, f"could not read offset {low2} in {timeout_s:.0f} s"))
                continue
            offset, ts_type, ts = first[(t, p)]
            if ts_type == TIMESTAMP_NOT_AVAILABLE or ts < 0:
                out.append(Finding("fail", "kafka", subject, f"offset {offset} carries no timestamp"))
                continue
            limit, bound = bounds[t]
            age = now - ts
            what = f"oldest readable record (offset {offset}) is {seconds(age)} old"
            rule = f"bound {seconds(bound)} = limit {seconds(limit)} + retention check {seconds(check_ms)}"
            out.append(age_finding("kafka", subject, what, rule, age, bound))
    finally:
        consumer.close()
    return out
