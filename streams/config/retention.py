"""Retention policy as data: how long each class of data may live, and what that means for each store.

A policy is a YAML file of limits in seconds per data class (``non_hit_reads``, ``hit_reads``, ``hits``,
``verifications``, ``aggregates``, ``audit``) and the ``source`` it follows. Presets live in
``streams/policies/retention/``; see docs/retention.md. This module is pure: it loads and validates a policy and
derives the settings of the stores that enforce it (Kafka reads topics, processor state). It does no I/O besides
reading the policy file. ``min_unconsumed_hold`` is the reads topics' floor, so that an outage loses no unread read;
past ``non_hit_reads`` only where the policy says its statute allows transit (``transit_past_limit``).
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from streams import resources
from streams.errors import ConfigError, validation_message

PRESETS = ("default", "hit_only", "new_hampshire", "minnesota")
DATA_CLASSES = ("non_hit_reads", "hit_reads", "hits", "verifications", "aggregates", "audit")

# Reads must pass through the reads topics to be matched at all: a hit-only policy (non_hit_reads 0) cannot give
# them 0 s there. This is the one place a non-hit read lives under hit_only, and this is its bound.
KAFKA_TRANSIT_MS = 60_000
# However long the limit, a segment spans at most a day: it is deleted whole, so it must roll well inside the limit.
MAX_SEGMENT_MS = 86_400_000

Seconds = Annotated[int, Field(ge=0, le=100 * 365 * 86_400, strict=True)]


class RetentionPolicy(BaseModel):
    """Limits in seconds per data class; 0 means "not stored at all"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""  # the preset or file it came from (set by load_retention)
    source: str = Field(min_length=1)  # the statute or recommendation it follows
    non_hit_reads: Seconds  # a read that matched no hot-list entry
    hit_reads: Seconds  # a read that matched an entry
    hits: Seconds  # hit records (read, entry, evidence)
    verifications: Seconds  # operators' confirm / reject decisions on hits
    aggregates: Seconds  # counts without plate text
    audit: Seconds  # access and deletion records
    # The longest a preservation hold may last from its placement (a hold is renewed by placing a new one).
    hold_max: Seconds = 365 * 86_400
    # The floor of the reads topics: how long they keep a read no worker has processed yet, so that an outage of
    # the workers or of their store shorter than 3/4 of it loses no read (docs/retention.md, "The reads topics'
    # floor"). Longer than the reads topics' limit only with ``transit_past_limit``.
    min_unconsumed_hold: Seconds = 0
    # True when the policy's statute lets the reads topics keep reads past ``non_hit_reads`` as transit (the
    # topics' own bound is then ``min_unconsumed_hold``); False when the limit bounds the topics too.
    transit_past_limit: bool = False

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name the statute or recommendation the policy follows")
        return v.strip()

    # Fields are validated in order, so each check below sees the fields before it (if they were valid).
    @field_validator("hit_reads")
    @classmethod
    def _hit_reads(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "non_hit_reads", "a read that hit is kept at least as long as one that did not")

    @field_validator("hits")
    @classmethod
    def _hits(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "hit_reads", "a hit outlives the reads behind it")

    @field_validator("verifications")
    @classmethod
    def _verifications(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "hits", "the decision on a hit is kept while the hit is")

    @field_validator("audit")
    @classmethod
    def _audit(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "hits", "the record of a deletion outlives the data it deleted")

    @model_validator(mode="after")
    def _floor_within_statute(self) -> RetentionPolicy:
        base = kafka_reads_base_ms(self) // 1000
        if not self.transit_past_limit and self.min_unconsumed_hold > base:
            raise ValueError(
                f"min_unconsumed_hold ({self.min_unconsumed_hold} s) is longer than the reads topics' limit "
                f"({base} s) and transit_past_limit is false: shorten it, or set transit_past_limit: true where "
                "the policy's statute lets reads wait on Kafka past non_hit_reads"
            )
        return self

    def limit_ms(self, data_class: str) -> int:
        if data_class not in DATA_CLASSES:
            raise KeyError(data_class)
        return int(getattr(self, data_class)) * 1000


def _at_least(v: int, info: ValidationInfo, other: str, why: str) -> int:
    floor = info.data.get(other)
    if floor is not None and v < floor:
        raise ValueError(f"must be at least {other} ({floor} s), got {v} s: {why}")
    return v


def _errors(exc: ValidationError, where: str) -> str:
    return validation_message(exc, f"invalid retention policy ({where})")


def _resolve(spec: str | Path) -> tuple[Path | Traversable, str]:
    s = str(spec).strip()
    if s in PRESETS:
        return resources.retention_preset(s), s
    p = Path(s).expanduser()
    if p.suffix in (".yaml", ".yml") or "/" in s or p.exists():
        return p, str(p)
    raise ConfigError(f"retention {s!r} is neither a preset ({', '.join(PRESETS)}) nor a policy YAML file")


_cache: dict[tuple[str, str, int, int], RetentionPolicy] = {}


def load_retention(path_or_preset_name: str | Path) -> RetentionPolicy:
    """A preset by name (``default``, ``hit_only``, ``new_hampshire``, ``minnesota``) or a policy YAML file.

    Raises ConfigError naming every bad field. Loaded once per file version (cached on path, mtime and size).
    """
    path, name = _resolve(path_or_preset_name)
    try:
        if isinstance(path, Path):
            st = path.stat()
            key = (name, str(path.resolve()), st.st_mtime_ns, st.st_size)
        else:  # a packaged preset: it cannot change while the process runs
            key = (name, "", 0, 0)
        if key in _cache:
            return _cache[key]
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read retention policy {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"retention policy {path} must hold a mapping of data class: seconds (and source:)")
    try:
        policy = RetentionPolicy.model_validate({"name": name, **raw})
    except ValidationError as exc:
        raise ConfigError(_errors(exc, str(path))) from None
    _cache[key] = policy
    return policy


def kafka_reads_base_ms(policy: RetentionPolicy) -> int:
    """The reads topics' limit without the floor: ``non_hit_reads``, or the transit time when that is 0."""
    return policy.limit_ms("non_hit_reads") or KAFKA_TRANSIT_MS


def kafka_reads_limit_ms(policy: RetentionPolicy) -> int:
    """How long a read may stay on the reads topics: the base limit, raised to ``min_unconsumed_hold`` (which
    validation allows past the base only with ``transit_past_limit``)."""
    return max(kafka_reads_base_ms(policy), policy.min_unconsumed_hold * 1000)


def reads_in_transit_past_limit(policy: RetentionPolicy) -> bool:
    """True when the reads topics keep reads longer than ``non_hit_reads`` allows elsewhere (transit)."""
    return kafka_reads_limit_ms(policy) > kafka_reads_base_ms(policy)


def kafka_reads_configs(policy: RetentionPolicy) -> dict[str, str]:
    """Topic configs of ``reads.batch`` and ``reads.json`` that keep a read no longer than the limit."""
    return kafka_limit_configs(kafka_reads_limit_ms(policy))


# Topics that hold personal data, the data class whose limit applies, and why. A dead letter is a read that was
# never matched (its original bytes carry the plate), so it lives no longer than a non-hit read. The reads
# topics (READS_TOPICS) alone carry the floor: they are what the workers consume.
READS_TOPICS = ("reads.batch", "reads.json")
KAFKA_TOPIC_CLASSES = {
    "reads.batch": "non_hit_reads",
    "reads.json": "non_hit_reads",
    "deadletter": "non_hit_reads",
    "hits": "hits",
    "verifications": "verifications",
    "holds": "audit",
}


def kafka_topic_limits(policy: RetentionPolicy) -> dict[str, tuple[str, int]]:
    """Each retention-bound topic (without prefix) -> (data class, limit in ms) under ``policy``."""

    def limit(topic: str, cls: str) -> int:
        if topic in READS_TOPICS:
            return kafka_reads_limit_ms(policy)
        return kafka_reads_base_ms(policy) if cls == "non_hit_reads" else max(1000, policy.limit_ms(cls))

    return {topic: (cls, limit(topic, cls)) for topic, cls in KAFKA_TOPIC_CLASSES.items()}


def kafka_limit_configs(limit: int) -> dict[str, str]:
    """Topic configs that keep a record no longer than ``limit`` ms.

    Kafka deletes whole segments, once the newest record of a segment is older than ``retention.ms``, at its next
    retention check. With ``segment.ms + retention.ms`` equal to the limit, a record is unreadable at the latest
    ``limit + log.retention.check.interval.ms`` after it was appended (docs/retention.md). Timestamps are the
    broker's append time, so a producer's clock cannot keep a segment alive.
    """
    segment = max(1, min(limit // 4, MAX_SEGMENT_MS))
    return {
        "retention.ms": str(limit - segment),
        "segment.ms": str(segment),
        "cleanup.policy": "delete",
        "message.timestamp.type": "LogAppendTime",
    }


def kafka_bound_ms(configs: dict[str, str], check_interval_ms: int) -> int:
    """The oldest a record on a topic with these configs can be while still readable."""
    return int(configs["retention.ms"]) + int(configs["segment.ms"]) + check_interval_ms


def processor_state_ms(policy: RetentionPolicy, dedup_window_ms: int | None = None) -> int:
    """The longest processor state may hold a non-hit read, in ms (``ProcessorConfig.nonhit_state_ms``).

    ``Processor.expire`` drops a read once it is older than ``min(dedup_window_ms, nonhit_state_ms)``; given the
    de-duplication window, this returns that effective hold. 0 for a hit-only policy: the state is emptied at
    every retention tick. (Either way a worker runs the clock every 5 s, so a read may outlive this by one tick.)
    """
    limit = policy.limit_ms("non_hit_reads")
    return limit if dedup_window_ms is None else min(limit, max(0, int(dedup_window_ms)))
