"""deploy/grafana/platestream.json: a Grafana dashboard model whose queries name only metrics the code defines."""

from __future__ import annotations

import json
from pathlib import Path

from streams import metrics
from tests.ops.promql import exposed_names, metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "platestream.json"
SECTIONS = {"Throughput", "Lag", "Latency", "Hits and verification", "Retention", "Errors"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    out = []
    for p in dashboard()["panels"]:
        out.append(p)
        out += p.get("panels", [])
    return out


def exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p.get("targets", [])]


def test_metrics_test_helper_finds_names_and_only_names() -> None:
    e = 'histogram_quantile(0.95, sum by (le, sink) (rate(a_bucket{job=~"$job",x="y z"}[$__rate_interval]))) > on (t) b'
    assert metric_names(e) == {"a_bucket", "b"}
    assert metric_names("time() - max(c_seconds > 0) > 900 and d unless e offset 5m") == {"c_seconds", "d", "e"}


def test_every_query_names_only_metrics_in_the_registry() -> None:
    known = exposed_names(metrics.REGISTRY, metrics.JOB_REGISTRY)
    seen: set[str] = set()
    for title, expr in exprs():
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert not names - known, f"panel {title!r} names metrics the code does not define: {sorted(names - known)}"
        seen |= names
    # the operator's questions: throughput, lag, latency, hits, verification, deletions, errors, the process
    for needed in (
        "platestream_reads_total",
        "platestream_consumer_lag_messages",
        "platestream_consumer_lag_seconds",
        "platestream_capture_to_hit_seconds_bucket",
        "platestream_sink_write_duration_seconds_bucket",
        "platestream_hits_total",
        "platestream_verifications_total",
        "platestream_retention_deleted_rows_total",
        "platestream_dead_letters_total",
        "platestream_api_requests_total",
        "process_resident_memory_bytes",
    ):
        assert needed in seen, needed


def test_is_a_grafana_model_with_the_datasource_as_a_variable() -> None:
    d = dashboard()
    assert d["title"] and d["uid"] and isinstance(d["schemaVersion"], int)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in panels():
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)) and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
    rows = {p["title"] for p in d["panels"] if p["type"] == "row"}
    assert rows >= SECTIONS


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in panels():
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
