"""The worker phase of the month test, in its own process (one embedded store per process): a real ``Worker`` on the
real chDB store, its Kafka feeds and producer in memory (tests/worker/fakes.py), its clock driven by the plan.
Reads go through ``process``/``handle``, people's decisions through ``handle_verifications`` and holds through the
holds feed and ``tick``, each control event sealed with a real Ed25519 key as the API would.

    python -m tests.report.month_worker STEPS.json SETTINGS.json OUT.json

OUT.json: every hit the worker made, as (read id, entry id) -> hit id, match kind and alert.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from streams.clock import ManualClock
from streams.config.secret_files import load_signer
from streams.config.settings import Settings
from streams.ingest.holds import place_event, release_event
from streams.ingest.verifications import CHARACTER_CHECK, outcome_event, verification_event
from streams.model.access import Principal
from streams.model.decoded import Decoded
from streams.model.hold import Hold
from streams.model.read import HEARTBEAT_SCHEMA, READ_SCHEMA
from streams.worker.worker import Worker
from tests.worker.fakes import FakeFeeds, FakeProducer

PRINCIPALS = {
    "operator": Principal("op-7", "metro-pd", ("operator",)),
    "operator2": Principal("op-8", "metro-pd", ("operator",)),
    "supervisor": Principal("sup-1", "metro-pd", ("supervisor",)),
    "records": Principal("rec-9", "county-so", ("records",)),
}
LOOSE = pa.schema([f.with_nullable(True) for f in READ_SCHEMA])


def _decoded(reads: list[dict[str, Any]], beats: list[dict[str, Any]], day: int) -> Decoded:
    rows = [{name: r.get(name) for name in READ_SCHEMA.names} for r in reads]
    table = pa.Table.from_pylist(rows, schema=LOOSE)
    heartbeats = pa.Table.from_pylist(beats, schema=HEARTBEAT_SCHEMA)
    return Decoded(table, heartbeats, [], [f"t.reads.json/0/{day}/{i}" for i in range(len(reads))])


def _hold(e: dict[str, Any]) -> Hold:
    return Hold(e["hold_id"], "defence counsel", "CR-77", "preserve the scene", (), tuple(e["read_ids"]),
                e["captured_to_ms"] - 7 * 86_400_000, e["captured_to_ms"], e["expires_at_ms"], e["at_ms"],
                order_ref="PR-9")  # fmt: skip


def run(steps: list[dict[str, Any]], settings: Settings, start_ms: int) -> dict[str, Any]:
    signer = load_signer(settings.control_keys_file.with_name("control.key"))  # type: ignore[union-attr]
    clock = ManualClock(start_ms)
    feeds = FakeFeeds(clock=clock)
    worker = Worker(settings, clock=clock, producer=FakeProducer(), feeds=feeds, sleep=lambda s: None)
    hits: dict[str, dict[str, Any]] = {}
    offset = 0
    try:
        t0 = time.perf_counter()
        for n, step in enumerate(steps):
            if "at" in step:
                clock.ms = step["at"]
            if step["op"] == "reads":
                result = worker.process(_decoded(step["reads"], step["heartbeats"], n), "reads.json")
                token = f"t.reads.json/0/{n}"
                worker.handle(result, token, "reads.json", 0.0, worker.publish(result, "reads.json"))
                for h in result.hits.select(["hit_id", "read_id", "entry_id", "match_kind", "alert"]).to_pylist():
                    hits[f"{h['read_id']}|{h['entry_id']}"] = h
            elif step["op"] == "decisions":
                first = offset if not step.get("again") else offset - len(step["events"])
                payloads, origins = [], []
                for i, e in enumerate(step["events"]):
                    hit_id = hits[f"{e['read_id']}|{e['entry_id']}"]["hit_id"]
                    if e["kind"] == "verify":
                        event = verification_event(hit_id, e["at_ms"], e["word"], e["note"])
                        if "checks" in event:  # the person compared every character, as the console asks
                            event["checks"][CHARACTER_CHECK] = True
                    else:
                        event = outcome_event(hit_id, e["word"], e["at_ms"], e["note"])
                    payloads.append(signer.seal(event, PRINCIPALS[e["who"]]))
                    origins.append(f"t.verifications/0/{first + i}")
                if not step.get("again"):
                    offset += len(payloads)
                worker.handle_verifications(payloads, origins, f"{origins[0]}..{origins[-1]}")
            elif step["op"] == "holds":
                envelopes = []
                for e in step["events"]:
                    clock.ms = max(clock.ms, e["at_ms"])
                    if e["op"] == "place":
                        event = place_event(_hold(e))
                    else:
                        event = release_event(e["hold_id"], "case closed", e["at_ms"])
                    envelopes.append(signer.seal(event, PRINCIPALS[e["who"]]))
                feeds.holds_source.publish(*envelopes)
            elif step["op"] == "tick":
                worker.tick()
        print(f"steps: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    finally:
        for follower in (worker.follower, worker.holds):  # the in-memory feeds have no thread to stop
            follower.stop = lambda: None  # type: ignore[method-assign]
        worker.close()
    return {"hits": hits}


def main() -> None:
    steps_path, settings_path, out_path = (Path(p) for p in sys.argv[1:4])
    plan = json.loads(steps_path.read_text())
    settings = Settings(**json.loads(settings_path.read_text()))
    out = run(plan["steps"], settings, plan["clock_start_ms"])
    out_path.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
