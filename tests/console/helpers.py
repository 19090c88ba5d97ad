"""Helpers of the console tests: hits as the worker makes them (``HIT_SCHEMA`` rows, ``hit_payloads``, one JSON
message per hit keyed by its id, as ``Worker.publish`` sends them), written to the API's store first so that the
decision routes know them; the console's environment; a browser sign-in through the test identity provider."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, Producer, TopicPartition
from playwright.sync_api import Browser, Page

from streams.core.alerts import hit_payloads
from streams.model.batch import HIT_SCHEMA
from streams.store.clickhouse import open_store
from streams.store.hits import write_hits
from tests.support.issuer import TokenIssuer

CLIENT_ID = "platestream-console"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".local" / "test-artifacts" / "console"
DOCS_IMG = REPO / "docs" / "img"


def hit_row(hit_id: str, read: str, entry: str, kind: str, captured_ms: int, confidence: float = 93.0) -> dict:
    """One hit as the core emits it, for entry E-<hit_id> of a stolen vehicle."""
    diffs = [i for i in range(min(len(read), len(entry))) if read[i] != entry[i]]
    return {
        "hit_id": hit_id, "read_id": f"r-{hit_id}", "camera_id": "cam-7", "site_id": "s7",
        "read_time": captured_ms, "read_plate": read, "read_region": "CA", "ocr_confidence": confidence,
        "entry_id": f"E-{hit_id}", "entry_plate": entry, "entry_region": "CA", "reason": "stolen_vehicle",
        "legal_basis": "NCIC record NIC-77", "entry_expires_at": captured_ms + 30 * 86_400_000,
        "entry_source": "ncic", "source_stale": False, "match_kind": kind, "alert": True, "repeat_passage": False,
        "status": "unverified", "verification_required": True, "matched_candidate": read if kind == "candidate" else "",
        "candidate_rank": -1, "differing_positions": diffs if kind == "confusable" else [], "region_unknown": False,
        "entry_agency": "metro-pd", "entry_expiry_rule": None,
        "candidates": [{"plate": read, "confidence": confidence}],
    }  # fmt: skip


def hits_table(rows: list[dict]) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [r[name] for r in rows] for name in HIT_SCHEMA.names}
    return pa.Table.from_pydict(cols, schema=HIT_SCHEMA)


def store_hits(chdb_path: Path, table: pa.Table) -> None:
    """The hits in the API's store (the worker's sink does this): the decision routes refuse an unknown hit."""
    store = open_store(None, chdb_path)
    try:
        write_hits(store, table, f"console-test-{uuid.uuid4().hex[:8]}")
    finally:
        store.close()


def publish_hits(bootstrap: str, topic: str, table: pa.Table) -> None:
    """The hits on the hits topic exactly as a worker publishes them."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for h in hit_payloads(table):
        producer.produce(topic, json.dumps(h).encode(), h["hit_id"].encode())
    assert producer.flush(10) == 0


def topic_messages(bootstrap: str, topic: str, timeout: float = 15) -> list[bytes]:
    """Every message on a one-partition topic, read from the start."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < high and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out.append(m.value())
    finally:
        c.close()
    return out


def console_env(issuer: TokenIssuer) -> dict[str, str]:
    return {
        "PLATESTREAM_CONSOLE_AUTHORIZE_URL": issuer.authorize_url(),
        "PLATESTREAM_CONSOLE_TOKEN_URL": issuer.token_url(),
        "PLATESTREAM_CONSOLE_CLIENT_ID": CLIENT_ID,
        "PLATESTREAM_API_RATE_PER_MINUTE": "100000",
    }


def sign_in(browser: Browser, base_url: str, username: str) -> Page:
    """A fresh browser context signed in as ``username``: the console sends it to the identity provider, which
    redirects back with a code the API exchanges with its PKCE verifier."""
    page = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900}).new_page()
    page.goto("/console")
    page.click("#sign-in")
    page.fill("#username", username)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return page


def artifact(page: Page, name: str) -> Path:
    """A full-page screenshot under .local/test-artifacts/console/; copied to docs/img/ (for docs/console.md)
    when ``CONSOLE_DOCS_IMG=1``, so an ordinary run leaves the checked-in images alone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("CONSOLE_DOCS_IMG") == "1":
        shutil.copyfile(path, DOCS_IMG / path.name)
    return path
