"""Baseline for ``platestream load bench``: a plain Faust app handling ONE JSON read per Kafka message.

    BASELINE_BOOTSTRAP=127.0.0.1:9092 BASELINE_TOPIC=bench.baseline.reads BASELINE_HOTLIST=hotlist.csv \\
    BASELINE_WEB_PORT=6070 BASELINE_DATADIR=/tmp/baseline .venv/bin/python -m streams.loadtest.baseline

The naive way, per read in Python: ``json.loads``, normalise with str methods, de-duplicate with a dict keyed by
(plate, region, camera) over the same 60 s window as the platestream worker, exact-match against a dict hot list
(plate -> regions), and count reads and duplicates per (hour, camera) in a dict. No candidates, no confusables,
no hit topic, no store: it does less than the platestream worker. ``GET /count`` returns its counters, which
the benchmark (``streams/loadtest/bench/``) polls.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import faust

from streams.config.settings import Settings
from streams.kafka.client import faust_broker_options

BOOTSTRAP = os.environ.get("BASELINE_BOOTSTRAP", "127.0.0.1:9092")
TOPIC = os.environ.get("BASELINE_TOPIC", "baseline.reads")
WEB_PORT = int(os.environ.get("BASELINE_WEB_PORT", "6070"))
DATADIR = os.environ.get("BASELINE_DATADIR", "/tmp/platestream-baseline")
HOTLIST = os.environ.get("BASELINE_HOTLIST", "")
PARTITIONS = int(os.environ.get("BASELINE_PARTITIONS", "2"))
DEDUP_WINDOW_MS = 60_000
HOUR_MS = 3_600_000
MAX_FUTURE_MS = 300_000


def _norm(s: Any) -> str:
    if not isinstance(s, str):
        return ""
    return "".join(ch for ch in s.upper() if ch.isalnum())


def load_hotlist(path: str) -> dict[str, dict[str, str]]:
    """plate -> {region: entry_id}; entries without a record or warrant number, or expired, are left out."""
    out: dict[str, dict[str, str]] = {}
    if not path:
        return out
    now = datetime.now(UTC)
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if not (row.get("record_number") or row.get("warrant_number")):
                continue
            exp = row.get("expires_at") or ""
            if exp and datetime.fromisoformat(exp).replace(tzinfo=UTC) <= now:
                continue
            plate = _norm(row.get("plate"))
            if plate:
                out.setdefault(plate, {})[_norm(row.get("state"))] = row.get("entry_id") or f"row{i}"
    return out


app = faust.App(
    f"baseline-{TOPIC}",
    # the connection as the worker makes it: PLATESTREAM_KAFKA_SECURITY_* from the environment apply here too
    **faust_broker_options(Settings(kafka_bootstrap=BOOTSTRAP)),
    datadir=DATADIR,
    value_serializer="raw",
    key_serializer="raw",
    web_host="127.0.0.1",
    web_port=WEB_PORT,
    topic_disable_leader=True,
    consumer_auto_offset_reset="earliest",
    broker_commit_every=1000,
    broker_commit_interval=1.0,
)
reads_topic = app.topic(TOPIC, value_type=bytes, value_serializer="raw", partitions=PARTITIONS)

HOT = load_hotlist(HOTLIST)
SEEN: dict[tuple[str, str, str], int] = {}  # (plate, region, camera) -> last capture time (ms)
COUNTS: dict[tuple[int, str], list[int]] = {}  # (hour bucket, camera) -> [reads, duplicates]
STATE = {"messages": 0, "reads": 0, "dead": 0, "duplicates": 0, "hits": 0, "max_t": 0}


def handle(raw: bytes) -> None:
    STATE["messages"] += 1
    try:
        r = json.loads(raw)
        if r.get("data_type") == "alpr_group":  # a camera's event: the same fields under its own names
            r = {"captured_at": r["epoch_start"], "plate": r.get("best_plate_number"),
                 "region": r.get("best_region"), "camera_id": r.get("camera_id")}  # fmt: skip
        t = int(r["captured_at"])
    except (ValueError, KeyError, TypeError):
        STATE["dead"] += 1
        return
    plate = _norm(r.get("plate"))
    if not plate or t > time.time() * 1000 + MAX_FUTURE_MS:
        STATE["dead"] += 1
        return
    region = _norm(r.get("region"))
    camera = r.get("camera_id") or ""
    STATE["reads"] += 1
    key = (plate, region, camera)
    last = SEEN.get(key)
    dup = last is not None and abs(t - last) < DEDUP_WINDOW_MS
    SEEN[key] = t if last is None else max(t, last)
    cell = COUNTS.setdefault((t // HOUR_MS, camera), [0, 0])
    cell[0] += 1
    if dup:
        STATE["duplicates"] += 1
        cell[1] += 1
        return
    hot = HOT.get(plate)
    if hot and (region in hot or not region):
        STATE["hits"] += 1
    if t > STATE["max_t"]:
        STATE["max_t"] = t
    if len(SEEN) > 500_000:  # drop de-duplication state older than the window
        cut = STATE["max_t"] - DEDUP_WINDOW_MS
        for k in [k for k, v in SEEN.items() if v < cut]:
            del SEEN[k]


@app.agent(reads_topic)
async def reads(stream: faust.StreamT) -> None:
    async for value in stream:
        handle(value)


@app.page("/count")
async def count(web: Any, request: Any) -> Any:
    return web.json({**STATE, "hotlist_plates": len(HOT), "dedup_state": len(SEEN), "cells": len(COUNTS)})


if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.argv += ["worker", "--loglevel", "warn"]
    app.main()
