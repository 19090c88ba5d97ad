"""The shared registry follows Prometheus conventions, and the pieces that feed it work on their own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams import metrics

# Labels that would name a person, a plate or a process: never on a platestream metric.
FORBIDDEN_LABELS = {"plate", "read_plate", "entry_plate", "actor", "user", "principal", "subject", "writer", "pid"}


def families() -> list:
    return list(metrics.REGISTRY.collect())


def test_default_process_and_python_collectors_are_registered() -> None:
    names = {f.name for f in families()}
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_gc_collections", "python_info"} <= names


def test_platestream_metrics_follow_the_naming_conventions() -> None:
    ours = [f for f in families() if f.name.startswith("platestream_")]
    assert len(ours) > 25
    for f in ours:
        assert f.documentation, f.name
        assert not f.name.endswith(("_ms", "_milliseconds", "_minutes", "_hours")), f"{f.name}: base units"
        if f.type == "gauge" and "timestamp" in f.name:
            assert f.name.endswith("_timestamp_seconds"), f.name
        if f.type == "histogram" and "duration" in f.name:
            assert f.name.endswith("_seconds"), f.name
    exposed = text_string_to_metric_families(generate_latest(metrics.REGISTRY).decode())
    for f in exposed:
        if f.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in f.samples), f.name


def test_no_label_names_a_person_a_plate_or_a_process() -> None:
    for collector in [v for v in vars(metrics).values() if hasattr(v, "_labelnames") and hasattr(v, "_name")]:
        assert not set(collector._labelnames) & FORBIDDEN_LABELS, collector._name  # noqa: SLF001 - inspection


def test_api_request_labels_stay_bounded() -> None:
    def count(*labels: str) -> float:
        return (
            metrics.REGISTRY.get_sample_value(
                "platestream_api_requests_total", dict(zip(("action", "decision", "rule"), labels, strict=True))
            )
            or 0.0
        )

    before = count("search", "refused", "other")
    metrics.observe_api_request("search", "refused", "7ABC123 is not allowed")  # never a free text as a label
    assert count("search", "refused", "other") == before + 1
    metrics.observe_api_request("search", "allowed", "")
    assert count("search", "allowed", "none") >= 1


def test_hotlist_sources_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_sources", set())
    for i in range(metrics.MAX_SOURCE_LABELS + 5):
        metrics.observe_hotlist_source(f"src{i:03d}", 1_700_000_000_000 + i, stale=False)
    get = metrics.REGISTRY.get_sample_value
    name = "platestream_hotlist_source_last_sync_timestamp_seconds"
    assert get(name, {"source": "src000"}) == 1_700_000_000.0
    assert get(name, {"source": f"src{metrics.MAX_SOURCE_LABELS + 4:03d}"}) is None
    assert get(name, {"source": "other"}) == pytest.approx(1_700_000_000 + (metrics.MAX_SOURCE_LABELS + 4) / 1000)


def test_capture_to_hit_observes_each_hit_from_its_capture_time() -> None:
    get = metrics.REGISTRY.get_sample_value
    before = get("platestream_capture_to_hit_seconds_count") or 0
    total = get("platestream_capture_to_hit_seconds_sum") or 0
    now = 1_700_000_010_000
    hits = pa.table({"read_time": pa.array([now - 2_000, now - 500, now + 1_000], pa.timestamp("ms", "UTC"))})
    metrics.observe_capture_to_hit(hits, now)
    assert get("platestream_capture_to_hit_seconds_count") == before + 3
    assert get("platestream_capture_to_hit_seconds_sum") == pytest.approx(total + 2.5)  # a future stamp counts 0


def test_job_textfile_records_runs_and_keeps_the_last_success(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "platestream-retention-verify.prom"
    metrics.write_job_textfile(path, "retention_verify", 0, 1.5, now_s=1000)
    metrics.write_job_textfile(path, "retention_verify", 1, 2.0, now_s=2000)
    got = {
        (s.name, s.labels["task"]): s.value
        for f in text_string_to_metric_families(path.read_text())
        for s in f.samples
        if s.labels.get("task") == "retention_verify"
    }
    assert got[("platestream_task_last_run_timestamp_seconds", "retention_verify")] == 2000
    assert got[("platestream_task_last_success_timestamp_seconds", "retention_verify")] == 1000
    assert got[("platestream_task_last_exit_code", "retention_verify")] == 1
    with pytest.raises(ValueError):
        metrics.write_job_textfile(path, "Bad Name", 0, 0)


def test_job_wrapper_runs_a_command_and_passes_its_status_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.prom"
    run = [sys.executable, "-m", "streams.metrics", "job", "--name", "audit_verify", "--textfile", str(path), "--"]
    failed = subprocess.run([*run, sys.executable, "-c", "raise SystemExit(2)"], capture_output=True, text=True)
    assert failed.returncode == 2, failed.stderr
    assert 'platestream_task_last_exit_code{task="audit_verify"} 2.0' in path.read_text()
    assert 'platestream_task_last_success_timestamp_seconds{task="audit_verify"} 0.0' in path.read_text()
    passed = subprocess.run([*run, sys.executable, "-c", "pass"], capture_output=True, text=True)
    assert passed.returncode == 0, passed.stderr
    assert 'platestream_task_last_exit_code{task="audit_verify"} 0.0' in path.read_text()
    out = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_metric_is_documented() -> None:
    ops = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for registry in (metrics.REGISTRY, metrics.JOB_REGISTRY):
        for f in registry.collect():
            if f.name.startswith("platestream_"):
                shown = {"counter": f"{f.name}_total", "info": f"{f.name}_info"}.get(f.type, f.name)
                assert f"`{shown}`" in ops, f"docs/operations.md does not describe {shown}"
