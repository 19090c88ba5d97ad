"""A real Prometheus server on loopback scrapes a running worker and the API every second; its HTTP API returns
the lag and capture-to-hit series, and `promtool check metrics` finds no problem in the worker's /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from streams.config.settings import load_settings
from streams.kafka.producer import make_producer, send_reads
from streams.model.read import READ_SCHEMA
from tests.api.helpers import base_env, start_api
from tests.conftest import free_port
from tests.integration.helpers import cli, hot_entries, hotlist_csv, metric, start_worker, stop_worker, wait_for
from tests.support.issuer import TokenIssuer

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yaml"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run deploy/tools/prometheus.sh (Debian's prometheus package)", pytrace=False)
    return found


class Prometheus:
    def __init__(self, folder: Path, targets: dict[str, str]):
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]} for job, t in targets.items()],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = folder / "prometheus.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.ready, timeout=60, what="prometheus /-/ready")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def hot_reads(entries: list[dict], now_ms: int) -> pa.Table:
    rows = [
        {
            "read_id": f"hot-{i}",
            "camera_id": f"cam-{i}",
            "site_id": "site-1",
            "captured_at": now_ms - 1500,
            "plate": e["plate"],
            "region": e["region"],
            "confidence": 95.0,
            "candidates": None,
        }
        for i, e in enumerate(entries)
    ]
    return pa.Table.from_pylist(rows, schema=READ_SCHEMA)


def test_prometheus_scrapes_the_worker_and_the_api(worker_env: dict[str, str], tmp_path: Path) -> None:
    entries = hot_entries(3)
    env = dict(
        worker_env, PLATESTREAM_HOTLIST_PATH=str(hotlist_csv(tmp_path / "hot.csv", entries)), PLATESTREAM_TICK_S="1"
    )
    prefix = env["PLATESTREAM_TOPIC_PREFIX"]
    settings = load_settings(kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=prefix, partitions=3)
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    issuer = TokenIssuer(tmp_path)
    (tmp_path / "api").mkdir()
    api = start_api(base_env(tmp_path / "api", issuer))
    worker = start_worker(env)
    prom = None
    try:
        producer = make_producer(settings, **{"linger.ms": 0})
        send_reads(producer, settings, hot_reads(entries, int(time.time() * 1000)), 3)
        producer.flush(10)
        wait_for(lambda: metric(env, "platestream_hits_total") >= 3, timeout=60, what="the worker's hits")
        refused = api.call("GET", "/v1/audit")  # no token: refused, and counted
        assert refused.status_code == 401

        worker_port, api_port = env["PLATESTREAM_WEB_PORT"], api.env["PLATESTREAM_API_PORT"]
        (tmp_path / "prometheus").mkdir()
        prom = Prometheus(
            tmp_path / "prometheus",
            {"platestream-worker": f"127.0.0.1:{worker_port}", "platestream-api": f"127.0.0.1:{api_port}"},
        )
        reads_json = f"{prefix}reads.json"

        def scraped() -> bool:
            return bool(prom.query(f'platestream_consumer_lag_seconds{{topic="{reads_json}"}}')) and bool(
                prom.query('platestream_api_requests_total{job="platestream-api"}')
            )

        wait_for(scraped, timeout=60, what="the lag and API series in Prometheus")
        targets = prom.api("targets")["activeTargets"]
        assert {t["labels"]["job"]: t["health"] for t in targets} == {
            "platestream-worker": "up",
            "platestream-api": "up",
        }

        def read_lag() -> list[dict]:
            return prom.query(f'platestream_consumer_lag_messages{{job="platestream-worker",topic=~"{prefix}reads.*"}}')

        lag = read_lag()
        assert {(s["metric"]["topic"], s["metric"]["partition"]) for s in lag} == {
            (f"{prefix}{t}", str(p)) for t in ("reads.batch", "reads.json") for p in range(3)
        }
        # Every read processed and committed: offsets are committed each second, then sampled and scraped.
        wait_for(lambda: all(float(s["value"][1]) == 0 for s in read_lag()), timeout=30, what="no lag left")
        hits = prom.query('platestream_capture_to_hit_seconds_count{job="platestream-worker"}')
        assert len(hits) == 1 and float(hits[0]["value"][1]) == 3
        p99 = prom.query("histogram_quantile(0.99, sum by (le) (platestream_capture_to_hit_seconds_bucket))")
        assert 1 <= float(p99[0]["value"][1]) <= 60  # captured 1.5 s before it was sent
        retention = prom.query(f'platestream_kafka_topic_retention_seconds{{topic="{reads_json}"}}')
        assert float(retention[0]["value"][1]) == 2700
        refusals = prom.query('platestream_api_requests_total{decision="refused",rule="no_token"}')
        assert refusals and float(refusals[0]["value"][1]) >= 1
        assert prom.query('platestream_build_info{job="platestream-api",role="api"}')
        # the worker's other observation points: sinks, batches, purge, hot-list sources
        for expr in (
            'platestream_sink_write_duration_seconds_count{sink="kafka"} >= 1',
            'platestream_sink_write_duration_seconds_count{sink="clickhouse"} >= 1',
            'platestream_batch_duration_seconds_count{source="reads.batch"} >= 1',
            'platestream_batch_reads_sum{source="reads.batch"} >= 3',
            "time() - platestream_retention_purge_last_success_timestamp_seconds < 120",
            "time() - platestream_hotlist_source_last_sync_timestamp_seconds < 600",
        ):
            assert prom.query(expr), expr
        assert prom.query('process_resident_memory_bytes{job="platestream-worker"}')
        # the rule file loads in a real server, and nothing fires on a healthy pipeline
        groups = prom.api("rules")["groups"]
        assert {g["name"] for g in groups} >= {"platestream.kafka", "platestream.retention"}
        firing = [a for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]
        assert not firing, firing

        with urllib.request.urlopen(f"http://127.0.0.1:{worker_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        lint = subprocess.run([binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
    finally:
        if prom is not None:
            prom.stop()
        stop_worker(worker)
        api.stop()
