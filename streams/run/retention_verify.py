"""``platestream retention verify``: check that the stores hold no read longer than the retention policy allows.

Every store a read or a record about one lives in (docs/retention.md):

- Kafka: every retention-bound topic's configs match the policy, and the oldest record still readable on each
  partition is no older than its bound, ``retention.ms + segment.ms + log.retention.check.interval.ms``.
- processor state: each worker's ``/readyz`` reports the capture time of the oldest read it holds; that read is
  no older than ``processor_state_ms`` plus one retention tick.
- ClickHouse: no row of any table is past its limit (plus one purge interval) unless an active hold keeps a copy
  of it; under a hit-only policy no non-hit read is stored at all. An embedded store is open in its worker's
  process only, so each worker checks its own and answers on ``/readyz?checks=retention``; a server is checked directly.

Findings name topics, partitions, offsets, ages and URLs; never a plate.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from streams import clock
from streams.config.retention import RetentionPolicy, processor_state_ms
from streams.config.settings import Settings
from streams.errors import StoreError
from streams.kafka.retention_check import verify_kafka
from streams.model.finding import Finding, age_finding, seconds
from streams.store.retention_check import verify_store

__all__ = ["WORKER_TICK_MS", "verify", "verify_worker_stores", "verify_workers"]

WORKER_TICK_MS = 5_000  # the worker's retention clock (the `clocks` timer in streams/worker/app.py)


def worker_url(base: str, path: str) -> str:
    """``path`` on a worker given by its base URL (or by any of its endpoints, as older scripts give it)."""
    base = base.rstrip("/")
    for suffix in ("/health", "/readyz", "/retention"):
        base = base.removesuffix(suffix)
    return base + path


def read_json(url: str, timeout_s: float) -> dict:
    """The JSON body of ``url``, whatever the status: a worker that is not ready still says why."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def verify_workers(
    urls: list[str], policy: RetentionPolicy, now_ms: int | None = None, timeout_s: float = 5
) -> list[Finding]:
    """The oldest read each worker holds in its processor state, from its /readyz."""
    limit = processor_state_ms(policy)
    bound = limit + WORKER_TICK_MS
    out: list[Finding] = []
    for url in urls:
        health_url = worker_url(url, "/readyz")
        try:
            health = read_json(health_url, timeout_s)
        except (OSError, ValueError) as exc:
            out.append(Finding("fail", "processor", url, f"cannot read {health_url}: {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(health, dict) or "oldest_state_read_ms" not in health:
            out.append(Finding("fail", "processor", url, "/readyz does not report oldest_state_read_ms"))
            continue
        oldest = health["oldest_state_read_ms"]
        held = health.get("dedup_state_reads")
        if oldest is None:
            out.append(Finding("ok", "processor", url, "holds no read"))
            continue
        age = (clock.now_ms() if now_ms is None else now_ms) - int(oldest)
        what = f"oldest of {held} read(s) held was captured {seconds(age)} ago"
        rule = f"bound {seconds(bound)} = limit {seconds(limit)} + one {seconds(WORKER_TICK_MS)} tick"
        out.append(age_finding("processor", url, what, rule, age, bound))
    return out


def verify_worker_stores(urls: list[str], timeout_s: float = 30) -> list[Finding]:
    """Each worker's own embedded store, as its ``/readyz?checks=retention`` reports it."""
    out: list[Finding] = []
    for url in urls:
        target = worker_url(url, "/readyz?checks=retention")
        try:
            found = read_json(target, timeout_s)["retention_findings"]
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
    findings = (
        verify_kafka(settings, policy, now_ms) if kafka else [Finding("warn", "kafka", "-", "not checked (--no-kafka)")]
    )
    if workers:
        findings += verify_workers(workers, policy, now_ms)
    else:
        findings.append(Finding("warn", "processor", "-", "no --worker given: no worker's processor state was checked"))
    if store is not None:
        try:
            findings += verify_store(store, policy, now_ms, settings.store_check_grace_ms(), subject="server")
        except StoreError as exc:
            findings.append(Finding("fail", "clickhouse", "server", f"cannot be checked: {exc}"))
    elif workers:
        findings += verify_worker_stores(workers)
    else:
        findings.append(
            Finding("warn", "clickhouse", "-", "no --worker and no CLICKHOUSE_URL: no ClickHouse store was checked")
        )
    if all(f.level == "warn" for f in findings):
        # Told to check nothing: say so, and never pass.
        findings.append(
            Finding("fail", "-", "-", "nothing was checked: give --worker URL, set CLICKHOUSE_URL or leave --kafka on")
        )
    return findings
