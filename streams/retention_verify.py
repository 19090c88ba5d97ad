"""``platestream retention verify``: check that the stores hold no read longer than the retention policy allows.

Every store a read or a record about one lives in (docs/retention.md):

- Kafka: every retention-bound topic's configs match the policy, and the oldest record still readable on each
  partition is no older than its bound, ``retention.ms + segment.ms + log.retention.check.interval.ms``.
- processor state: each worker's ``/health`` reports the capture time of the oldest read it holds; that read is
  no older than ``processor_state_ms`` plus one retention tick.
- ClickHouse: no row of any table is past its limit (plus one purge interval) unless an active hold keeps a copy
  of it; under a hit-only policy no non-hit read is stored at all. An embedded store is open in its worker's
  process only, so each worker checks its own and answers on ``/retention``; a server is checked directly.

Findings name topics, partitions, offsets, ages and URLs; never a plate.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from dataclasses import dataclass

from streams.config import Settings
from streams.errors import KafkaSetupError
from streams.retention import (
    RetentionPolicy,
    kafka_bound_ms,
    kafka_limit_configs,
    kafka_topic_limits,
    processor_state_ms,
)

WORKER_TICK_MS = 5_000  # the worker's retention clock (`clocks` timer in streams/transport/worker.py)
KAFKA_DEFAULT_CHECK_MS = 300_000  # Kafka's default log.retention.check.interval.ms, when the broker does not say


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warn" (reported, does not fail) or "fail"
    store: str  # "kafka" | "processor" | "clickhouse"
    subject: str  # topic, topic/partition, or worker URL
    message: str

    @property
    def failed(self) -> bool:
        return self.level == "fail"

    def line(self) -> str:
        return f"{self.level.upper():<4} {self.store} {self.subject}: {self.message}"


def _s(ms: float) -> str:
    return f"{ms / 1000:.1f} s"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_interval_ms(admin, brokers: list[int]) -> tuple[int, bool]:  # noqa: ANN001 - confluent AdminClient
    """The broker's log.retention.check.interval.ms (the largest over brokers); False when it could not be read."""
    from confluent_kafka.admin import ConfigResource

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
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource

    from streams.transport.topics import topic_name

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": 10000})
    try:
        md = admin.list_topics(timeout=15)
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    limits = {topic_name(settings, t): lim for t, (_, lim) in kafka_topic_limits(policy).items()}
    check_ms, known = _check_interval_ms(admin, sorted(md.brokers))
    out: list[Finding] = []
    if not known:
        out.append(
            Finding("warn", "kafka", "broker", f"log.retention.check.interval.ms unreadable; assuming {_s(check_ms)}")
        )
    shortest = min(limits.values())
    if check_ms > shortest // 10:
        out.append(
            Finding(
                "warn",
                "kafka",
                "broker",
                f"log.retention.check.interval.ms is {_s(check_ms)}: records may stay readable up to that long past "
                f"the shortest limit of {_s(shortest)}; set it to at most {_s(shortest // 10)}",
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
    from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, TopicPartition

    if not partitions:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"platestream-retention-verify-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # a start offset deleted meanwhile: the next oldest record
            "queued.max.messages.kbytes": 1024,
        }
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
        now = _now_ms() if now_ms is None else now_ms
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
            what = f"oldest readable record (offset {offset}) is {_s(age)} old"
            rule = f"bound {_s(bound)} = limit {_s(limit)} + retention check {_s(check_ms)}"
            if age > bound:
                out.append(Finding("fail", "kafka", subject, f"{what}: older than the {rule}"))
            else:
                out.append(Finding("ok", "kafka", subject, f"{what}; {rule}"))
    finally:
        consumer.close()
    return out


def verify_workers(
    urls: list[str], policy: RetentionPolicy, now_ms: int | None = None, timeout_s: float = 5
) -> list[Finding]:
    """The oldest read each worker holds in its processor state, from its /health."""
    limit = processor_state_ms(policy)
    bound = limit + WORKER_TICK_MS
    out: list[Finding] = []
    for url in urls:
        health_url = url if url.rstrip("/").endswith("/health") else url.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health_url, timeout=timeout_s) as r:
                health = json.loads(r.read())
        except (OSError, ValueError) as exc:
            out.append(Finding("fail", "processor", url, f"cannot read {health_url}: {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(health, dict) or "oldest_state_read_ms" not in health:
            out.append(Finding("fail", "processor", url, "/health does not report oldest_state_read_ms"))
            continue
        oldest = health["oldest_state_read_ms"]
        held = health.get("dedup_state_reads")
        if oldest is None:
            out.append(Finding("ok", "processor", url, "holds no read"))
            continue
        age = (_now_ms() if now_ms is None else now_ms) - int(oldest)
        what = f"oldest of {held} read(s) held was captured {_s(age)} ago"
        rule = f"bound {_s(bound)} = limit {_s(limit)} + one {_s(WORKER_TICK_MS)} tick"
        if age > bound:
            out.append(Finding("fail", "processor", url, f"{what}: older than the {rule}"))
        else:
            out.append(Finding("ok", "processor", url, f"{what}; {rule}"))
    return out


def verify_store(
    store,
    policy: RetentionPolicy,
    now_ms: int | None = None,
    grace_ms: int = 0,
    subject: str = "",  # noqa: ANN001
) -> list[Finding]:
    """Every ClickHouse table against the policy: nothing past its limit + ``grace_ms`` (one purge interval)."""
    from streams.store.read_store import TIMED_TABLES, _active_holds, _due, _t, audit_chain_problems

    now = _now_ms() if now_ms is None else now_ms
    then = now - grace_ms
    where = subject or store.name

    def one(sql: str) -> dict:
        return store.query_arrow(sql).to_pylist()[0]

    out: list[Finding] = []
    late = one(
        f"SELECT count() AS n, toUnixTimestamp64Milli(min(captured_at)) AS oldest FROM reads WHERE {_due(policy, then)}"
    )
    total = one("SELECT count() AS n FROM reads")["n"]
    if late["n"]:
        age = _s(now - late["oldest"])
        out.append(
            Finding("fail", "clickhouse", f"{where}/reads", f"{late['n']} read(s) past their limit; oldest {age}")
        )
    else:
        out.append(Finding("ok", "clickhouse", f"{where}/reads", f"{total} read(s), none past its limit"))
    if policy.non_hit_reads == 0:
        n = one("SELECT count() AS n FROM reads WHERE data_class = 'non_hit_reads' OR hit = 0")["n"]
        level, msg = ("fail", f"{n} non-hit read(s) stored") if n else ("ok", "no non-hit read stored")
        out.append(Finding(level, "clickhouse", f"{where}/reads", f"{msg} (policy {policy.name} keeps hits only)"))

    ended = one(
        f"SELECT count() AS n FROM held_reads FINAL WHERE hold_id NOT IN (SELECT hold_id FROM ({_active_holds(then)}))"
    )["n"]
    held = one(
        "SELECT count() AS n, uniqExact(hold_id) AS holds FROM held_reads FINAL "
        f"WHERE hold_id IN (SELECT hold_id FROM ({_active_holds(now)}))"
    )
    if ended:
        out.append(Finding("fail", "clickhouse", f"{where}/held_reads", f"{ended} read(s) kept after their hold ended"))
    else:
        out.append(
            Finding(
                "ok", "clickhouse", f"{where}/held_reads", f"{held['n']} read(s) kept by {held['holds']} active hold(s)"
            )
        )

    broken = audit_chain_problems(store)
    for problem in broken[:20]:
        out.append(Finding("fail", "clickhouse", f"{where}/audit_log", problem))
    if not broken:
        out.append(Finding("ok", "clickhouse", f"{where}/audit_log", "every audit chain links up"))

    checks = [(t, c, cls) for t, (c, cls) in TIMED_TABLES.items()] + [
        ("holds", "coalesce(released_at, expires_at)", "audit")
    ]
    for table, column, cls in checks:
        n = one(f"SELECT count() AS n FROM {table} WHERE {column} <= {_t(then - policy.limit_ms(cls))}")["n"]
        if n:
            out.append(Finding("fail", "clickhouse", f"{where}/{table}", f"{n} row(s) older than the {cls} limit"))
        else:
            out.append(Finding("ok", "clickhouse", f"{where}/{table}", f"nothing older than the {cls} limit"))
    return out


def verify_worker_stores(urls: list[str], timeout_s: float = 30) -> list[Finding]:
    """Each worker's own embedded store, as its ``/retention`` reports it."""
    out: list[Finding] = []
    for url in urls:
        target = url.rstrip("/").removesuffix("/health") + "/retention"
        try:
            with urllib.request.urlopen(target, timeout=timeout_s) as r:
                found = json.loads(r.read())["findings"]
            out += [Finding(**{**f, "subject": f"{url} {f['subject']}"}) for f in found]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append(Finding("fail", "clickhouse", url, f"cannot read {target}: {type(exc).__name__}: {exc}"))
    return out


def verify(
    settings: Settings,
    policy: RetentionPolicy,
    workers: list[str],
    kafka: bool = True,
    now_ms: int | None = None,
    store=None,  # noqa: ANN001 - a ClickHouse server store, checked directly
) -> list[Finding]:
    findings = verify_kafka(settings, policy, now_ms) if kafka else []
    findings += verify_workers(workers, policy, now_ms)
    if store is not None:
        grace_ms = int((settings.purge_every_s() + 2 * settings.tick_s) * 1000)  # a purge and two ticks
        findings += verify_store(store, policy, now_ms, grace_ms, subject="server")
    else:
        findings += verify_worker_stores(workers)
    return findings
