"""Dead-letter tools: list what landed on ``<prefix>deadletter`` and replay it to the topic it came from.

Dead letters (``streams.model.deadletter``) carry their reason, a detail, where they came from and the
original bytes (``original_b64``). The original bytes may hold plate text, so nothing here returns or prints
them, or anything decoded from them, by default: a listing shows the reason, detail, origin, source, row, the
size of the original and the dead letter's own partition and offset.

Reading is read-only towards the consumer groups: partitions are ``assign()``-ed from the low to the high
watermark taken when the listing starts, and no offset is ever committed, so a listing neither moves nor
creates group offsets and always shows the whole topic (within its retention, 7 days).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.config.settings import Settings
from streams.errors import KafkaSetupError, PlatestreamError, kafka_unreachable
from streams.kafka.client import client_config, group_id
from streams.kafka.producer import make_producer, partition_of
from streams.kafka.topics import topic_name

# The logical input topics a dead letter can come from, as the worker writes them in the ``source`` field.
SOURCES = ("reads.batch", "reads.json", "verifications", "hotlist.events")
ROW_REPLAY_TOPIC = "reads.json"  # where a single bad row of a batch goes back (see ``replay``)


@dataclass(frozen=True)
class _Letter:
    """One dead letter as read from the topic. ``original`` stays in here: it is never part of a listing."""

    info: dict[str, Any]
    original: bytes | None  # None: the record had no readable original_b64


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        client_config(
            settings,
            {
                # A group id is required by the client; it is never joined (assign, not subscribe) nor committed.
                # Under the topic prefix, so one prefixed group ACL covers every client of a deployment.
                "group.id": group_id(settings, "dlq", private=True),
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "log_level": 2,  # librdkafka's connection retries stay off the terminal; a failure is raised
            },
        )
    )


def _read(settings: Settings, timeout: float = 30.0) -> Iterator[_Letter]:
    """Every dead letter from the beginning of each partition up to the end as it was when reading started."""
    topic = topic_name(settings, "deadletter")
    consumer = _consumer(settings)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise kafka_unreachable(settings.kafka_bootstrap, exc) from None
        if meta is None or meta.error is not None or not meta.partitions:
            raise KafkaSetupError(f"{topic}: missing (run `platestream topics create`)")
        ends: dict[int, int] = {}
        assign = []
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, max(low, 0)))
        if not assign:
            return
        consumer.assign(assign)
        pending = set(ends)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise PlatestreamError(f"{topic}: timed out reading to the end of partition(s) {sorted(pending)}")
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                p = msg.partition()
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                        continue
                    raise PlatestreamError(f"{topic}: {msg.error()}")
                if p not in pending:
                    continue  # past the end taken at the start: written after the listing began
                if msg.offset() >= ends[p] - 1:
                    pending.discard(p)
                if msg.offset() >= ends[p]:
                    continue
                yield _parse(msg.value() or b"", p, msg.offset(), msg.timestamp()[1])
    finally:
        consumer.close()


def _parse(value: bytes, partition: int, offset: int, timestamp_ms: int) -> _Letter:
    try:
        doc = json.loads(value)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):
        doc = {"reason": "unreadable_dead_letter", "detail": "the dead-letter record itself is not a JSON object"}
    original: bytes | None = None
    b64 = doc.get("original_b64")
    if isinstance(b64, str):
        try:
            original = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            original = None
    row = doc.get("row")
    info = {
        "reason": str(doc.get("reason") or "unknown"),
        "detail": str(doc.get("detail") or "")[:300],
        "origin": str(doc.get("origin") or ""),
        "source": str(doc.get("source") or "unknown"),
        "row": row if isinstance(row, int) and not isinstance(row, bool) else None,
        "size": len(original) if original is not None else None,
        "partition": partition,
        "offset": offset,
        "timestamp_ms": timestamp_ms if timestamp_ms > 0 else None,
    }
    return _Letter(info, original)


def _selected(settings: Settings, reason: str | None, source: str | None, timeout: float) -> Iterator[_Letter]:
    for letter in _read(settings, timeout):
        if reason is not None and letter.info["reason"] != reason:
            continue
        if source is not None and letter.info["source"] != source:
            continue
        yield letter


def list_dead_letters(
    settings: Settings,
    reason: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Dead letters in topic order per partition (partition, then offset), optionally filtered.

    Each is a dict of ``reason, detail, origin, source, row, size, partition, offset, timestamp_ms``: ``size``
    is the length of the original bytes, which are never returned here (they may hold plate text).
    ``limit`` keeps the first ``limit`` matches.
    """
    out = [letter.info for letter in _selected(settings, reason, source, timeout)]
    out.sort(key=lambda d: (d["partition"], d["offset"]))
    return out[:limit] if limit is not None else out


@dataclass
class ReplayResult:
    """Counts of one replay. ``skipped`` maps a why (no original, unknown source, no key) to a count."""

    selected: int = 0
    replayed: int = 0
    dry_run: bool = False
    by_topic: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        # A dry run says what it would replay, never that it replayed anything.
        return {
            "selected": self.selected,
            ("would_replay" if self.dry_run else "replayed"): self.replayed,
            "dry_run": self.dry_run,
            "by_topic": dict(sorted(self.by_topic.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


def _origin_partition(origin: str) -> int | None:
    """``topic/partition/offset`` -> partition (the worker's origin format), else None."""
    parts = origin.rsplit("/", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def _key_of(source: str, original: bytes) -> bytes | None:
    """The message key a replay needs: hot-list events go to a compacted topic, which refuses unkeyed messages.

    Keys follow ``platestream hotlist``/``verify``: entry id for add/clear, ``sync:<source>`` for sync, hit id
    for verifications. The original is parsed in memory for that only; nothing of it is returned or printed.
    """
    if source not in ("hotlist.events", "verifications"):
        return None
    try:
        doc = json.loads(original)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    if source == "verifications":
        key = doc.get("hit_id")
    elif doc.get("op") == "add" and isinstance(doc.get("entry"), dict):
        key = doc["entry"].get("entry_id")
    elif doc.get("op") == "clear":
        key = doc.get("entry_id")
    elif doc.get("op") == "sync" and isinstance(doc.get("source"), str):
        key = f"sync:{doc['source']}"
    else:
        key = None
    return key.encode() if isinstance(key, str) and key else None


def _row_camera(original: bytes) -> str | None:
    try:
        doc = json.loads(original)
    except (ValueError, RecursionError):
        return None
    cam = doc.get("camera_id") if isinstance(doc, dict) else None
    return str(cam) if isinstance(cam, str | int) and not isinstance(cam, bool) and str(cam) else None


def replay(
    settings: Settings,
    reason: str | None = None,
    source: str | None = None,
    dry_run: bool = False,
    timeout: float = 30.0,
) -> ReplayResult:
    """Re-publish the original bytes of the selected dead letters to the input topic they came from.

    - A whole message (``row`` is null) goes back byte for byte to ``<prefix><source>``, to the partition it
      was read from (parsed from ``origin``), so a camera's reads stay on one partition and one worker.
    - A single bad row of a batch (``row`` is not null): the worker stored that row's JSON as the original,
      not the batch (the rest of the batch was processed). Sending that JSON to ``reads.batch`` would be
      undecodable there, so it goes to ``reads.json``, which takes the project's own read JSON, partitioned by
      its camera like ``streams.kafka.producer.send_json`` does. This holds for a row of an Arrow batch
      and for a row taken from ``reads.json`` alike.
    - Hot-list events need a key (compacted topic): one derived from the event, or the letter is skipped.

    Replay is meant for after the cause is fixed (a camera clock, a policy, a decoder): a dead letter whose
    cause remains comes back as a new dead letter. The producer is idempotent, so a retry inside one replay
    does not duplicate a message; running ``replay`` twice publishes twice, and the worker's de-duplication
    and the hits' stable ``hit_id`` are what make that harmless. ``dry_run`` selects and counts, sends nothing.
    """
    result = ReplayResult(dry_run=dry_run)
    letters = list(_selected(settings, reason, source, timeout))
    result.selected = len(letters)
    if not letters:
        return result
    producer = None if dry_run else make_producer(settings, **{"linger.ms": 5})
    partitions: dict[str, int] = {}
    errors: list[str] = []

    def n_partitions(topic: str) -> int | None:
        if topic not in partitions and producer is not None:
            meta = producer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise KafkaSetupError(f"{topic}: missing (run `platestream topics create`)")
            partitions[topic] = len(meta.partitions)
        return partitions.get(topic)

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    def skip(why: str) -> None:
        result.skipped[why] = result.skipped.get(why, 0) + 1

    for letter in letters:
        info, original = letter.info, letter.original
        if original is None:
            skip("no_original")
            continue
        if info["source"] not in SOURCES:
            skip("unknown_source")
            continue
        is_row = info["row"] is not None
        logical = ROW_REPLAY_TOPIC if is_row else info["source"]
        topic = topic_name(settings, logical)
        key = _key_of(logical, original)
        if logical == "hotlist.events" and key is None:
            skip("no_key")
            continue
        part: int | None = None
        if is_row:
            cam = _row_camera(original)
            n = n_partitions(topic)
            if cam is not None and n:
                part = int(partition_of(pa.array([cam]), n)[0])
        else:
            part = _origin_partition(info["origin"])
            n = n_partitions(topic)
            if part is not None and n is not None and part >= n:
                part = None
        result.replayed += 1
        result.by_topic[logical] = result.by_topic.get(logical, 0) + 1
        if producer is None:
            continue
        kwargs: dict[str, Any] = {"on_delivery": on_delivery}
        if key is not None:
            kwargs["key"] = key
        if part is not None:
            kwargs["partition"] = part
        producer.produce(topic, original, **kwargs)
        producer.poll(0)
    if producer is not None:
        remaining = producer.flush(30)
        if remaining or errors:
            raise PlatestreamError(f"replay: {remaining} message(s) not delivered; errors: {errors[:3]}")
    return result
