"""The JSON bench's Quix Streams peer: the Faust baseline's job (``streams/loadtest/baseline.py``), written the way
Quix Streams is meant to be used, one JSON event per Kafka message.

    "$(deploy/tools/quix.sh)" load_tests/quix_peer.py --bootstrap 127.0.0.1:9092 --topic quix.reads \\
        --hotlist hotlist.csv --dedup-window-s 60 --web-port 6071

It runs in its own venv (``deploy/tools/quix.sh``: quixstreams pins its own confluent-kafka), so it imports
nothing from ``streams``. Per event: the JSON deserializer, the best plate normalised as the baseline does it
(upper case, letters and digits only; no plate or a capture time over 5 minutes ahead is a dead event), then a
stateful step keyed by camera (the message key) that counts reads and duplicates per (hour, camera) and
de-duplicates by (plate, region, camera) within the window, with the newest capture time of each kept in the state
store; then a dict look-up in the hot list. No candidates, no confusables, no output topic: like the baseline, it
does less than the platestream worker. ``GET /count`` returns its counters
(``messages`` counts every event consumed, ``reads + dead == messages``), as the baseline's page does, for the
bench to poll; the same counters are printed as one JSON line when it stops (SIGTERM).

Options default to the ``BASELINE_*`` variables the bench sets for both peers. The de-duplication state is kept
whole by default, as the baseline keeps its dict whole below 500,000 keys (every bench run);
``--expire-dedup-state`` drops each entry a window after its newest capture time instead, with Quix Streams'
event-time TTL (``state.set(..., ttl=)``), which costs it about 1.3x the CPU per event here.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from quixstreams import Application, State
from quixstreams.models import SerializationError

HOUR_MS = 3_600_000
MAX_FUTURE_MS = 300_000  # as the baseline: a capture time further ahead is a broken camera clock

COUNTS = {"messages": 0, "reads": 0, "dead": 0, "duplicates": 0, "hits": 0, "cells": 0}


def norm(s: Any) -> str:
    if not isinstance(s, str):
        return ""
    return "".join(ch for ch in s.upper() if ch.isalnum())


def load_hotlist(path: str) -> dict[str, dict[str, str]]:
    """plate -> {region: entry_id}, as the baseline loads it: no record or warrant number, or expired, left out."""
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
            plate = norm(row.get("plate"))
            if plate:
                out.setdefault(plate, {})[norm(row.get("state"))] = row.get("entry_id") or f"row{i}"
    return out


def capture_time(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Event time for the state's TTL: the camera's capture time; the Kafka timestamp when the event has none."""
    try:
        return int(value.get("epoch_start", value.get("captured_at")))
    except (AttributeError, TypeError, ValueError):
        return timestamp


def best_read(event: Any) -> dict | None:
    """The event's best reading, normalised as the baseline does; None (a dead event) when it has no usable one."""
    try:
        if event.get("data_type") == "alpr_group":  # a camera's event: the same fields under its own names
            event = {"captured_at": event["epoch_start"], "plate": event.get("best_plate_number"),
                     "region": event.get("best_region"), "camera_id": event.get("camera_id")}  # fmt: skip
        t = int(event["captured_at"])
    except (AttributeError, KeyError, TypeError, ValueError):
        COUNTS["dead"] += 1
        return None
    plate = norm(event.get("plate"))
    if not plate or t > time.time() * 1000 + MAX_FUTURE_MS:
        COUNTS["dead"] += 1
        return None
    COUNTS["reads"] += 1
    return {"plate": plate, "region": norm(event.get("region")), "camera": event.get("camera_id") or "", "t": t}


def dedup_step(window_ms: int, expire: bool):
    """The stateful step (state is per message key, the camera): per-hour counts, then first-in-window or not."""

    def first_in_window(read: dict, state: State) -> dict:
        t = read["t"]
        cell_key = ("h", t // HOUR_MS, read["camera"])
        cell = state.get(cell_key)
        if cell is None:
            COUNTS["cells"] += 1
            cell = [0, 0]
        cell[0] += 1
        seen_key = ("d", read["plate"], read["region"], read["camera"])
        last = state.get(seen_key)
        read["duplicate"] = last is not None and abs(t - last) < window_ms
        if read["duplicate"]:
            COUNTS["duplicates"] += 1
            cell[1] += 1
        state.set(cell_key, cell)
        newest = t if last is None else max(t, last)
        if expire:  # a window after the newest capture time of the key (the TTL counts from this event's time)
            state.set(seen_key, newest, ttl=timedelta(milliseconds=newest - t + window_ms))
        else:
            state.set(seen_key, newest)
        return read

    return first_in_window


def hotlist_step(hot: dict[str, dict[str, str]]):
    def look_up(read: dict) -> None:
        regions = hot.get(read["plate"])
        if regions and (read["region"] in regions or not read["region"]):
            COUNTS["hits"] += 1

    return look_up


def serve_counts(port: int, extra: dict) -> ThreadingHTTPServer:
    class CountPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/count":
                self.send_error(404)
                return
            body = json.dumps({**COUNTS, **extra}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # one line per poll would drown the log
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), CountPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", default=env("BASELINE_BOOTSTRAP", "127.0.0.1:9092"))
    ap.add_argument("--topic", default=env("BASELINE_TOPIC", "quix.reads"))
    ap.add_argument("--group", default=env("BASELINE_GROUP", "quix-peer"))
    ap.add_argument("--hotlist", default=env("BASELINE_HOTLIST", ""))
    ap.add_argument("--web-port", type=int, default=int(env("BASELINE_WEB_PORT", "6071")))
    ap.add_argument("--state-dir", type=Path, default=Path(env("BASELINE_DATADIR", "/tmp/platestream-quix")))
    ap.add_argument("--dedup-window-s", type=float, required=True, help="the worker's dedup_window_s")
    ap.add_argument("--expire-dedup-state", action="store_true", help="a state TTL of the window (more CPU)")
    a = ap.parse_args()

    hot = load_hotlist(a.hotlist)

    def undecodable(exc: Exception, message: Any, logger: logging.Logger) -> bool:
        """A message the JSON deserializer refused is a dead event, counted, and skipped; anything else stops."""
        if message is not None and isinstance(exc, SerializationError):
            COUNTS["messages"] += 1
            COUNTS["dead"] += 1
            return True
        return False

    def processed(topic: str, partition: int, offset: int) -> None:
        COUNTS["messages"] += 1

    app = Application(
        broker_address=a.bootstrap,
        consumer_group=a.group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        state_dir=a.state_dir / "quix-state",
        on_consumer_error=undecodable,
        on_message_processed=processed,
        loglevel="WARNING",
    )
    # the TTL counts in event time: the capture time then, not the Kafka timestamp (a call per event otherwise saved)
    extractor = capture_time if a.expire_dedup_state else None
    topic = app.topic(a.topic, value_deserializer="json", timestamp_extractor=extractor)
    sdf = app.dataframe(topic)
    sdf = sdf.apply(best_read).filter(lambda read: read is not None)
    sdf = sdf.apply(dedup_step(int(a.dedup_window_s * 1000), a.expire_dedup_state), stateful=True)
    sdf = sdf.filter(lambda read: not read["duplicate"]).update(hotlist_step(hot))

    server = serve_counts(a.web_port, {"hotlist_plates": len(hot)})
    try:
        app.run()  # until SIGTERM or SIGINT, which Quix Streams turns into a clean stop and a final commit
    finally:
        server.shutdown()
        print(json.dumps({**COUNTS, "hotlist_plates": len(hot)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
