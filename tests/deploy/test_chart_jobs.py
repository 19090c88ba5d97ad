"""The chart's jobs around a ClickHouse server: who maintains the store (the migrate Job and the purge CronJob, not
the workers), cluster mode's settings, and the CronJobs' results for Prometheus through `python -m streams.metrics
job`, run here as the rendered container would run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.support import CHART, KUBERNETES_VERSION, PRODUCTION, REPO, clean_env, helm_run, render, topics_json

pytestmark = pytest.mark.timeout(900)

TEXTFILE = "/var/lib/node-exporter/textfile"
TASKS = {"purge": "retention_purge", "retention-verify": "retention_verify", "audit-verify": "audit_verify"}


@pytest.fixture(scope="module")
def production_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    manifest = topics_json(tmp_path_factory.mktemp("topics"), partitions=12)
    return ["-f", str(PRODUCTION), "--set-file", f"strimzi.topics.manifest={manifest}"]


def container(obj: dict) -> dict:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]["containers"][0]


def env_of(obj: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(obj).get("env", [])}


def settings_yaml(objects: list[dict], name: str) -> dict:
    return yaml.safe_load(next(o for o in objects if o["metadata"]["name"] == name)["data"]["settings.yaml"])


def test_with_a_server_only_the_jobs_maintain_the_store(helm: str, production_args: list[str]) -> None:
    objects = render(helm, *production_args, "--set", "clickhouse.cluster=main")
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "Job", "CronJob")}
    assert env_of(workloads["t-platestream-worker"])["PLATESTREAM_STORE_MAINTENANCE"] == "false"
    for name in ("t-platestream-migrate", "t-platestream-purge", "t-platestream-api"):
        assert "PLATESTREAM_STORE_MAINTENANCE" not in env_of(workloads[name]), name
    for configmap in ("t-platestream-settings", "t-platestream-migrate-settings"):
        assert settings_yaml(objects, configmap)["clickhouse_cluster"] == "main"
    embedded = render(helm)  # one worker on its own store: it migrates and purges it
    worker = next(o for o in embedded if o["kind"] == "Deployment" and o["metadata"]["name"] == "t-platestream-worker")
    assert "PLATESTREAM_STORE_MAINTENANCE" not in env_of(worker)
    assert "clickhouse_cluster" not in settings_yaml(embedded, "t-platestream-settings")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "cronJobs.purge.enabled=false"], "the workers do not purge it"),
        (["--set", "clickhouse.cluster=a b"], "cluster"),
        (["--set", "config.store_maintenance=true"], "store_maintenance"),
        (["--set", "cronJobs.textfile.hostPath=relative/dir"], "hostPath"),
        (
            [
                "--set",
                "clickhouse.url=",
                "--set",
                "clickhouse.cluster=main",
                "--set",
                "worker.replicas=1",
                "--set",
                "keda.enabled=false",
            ],
            "clickhouse.cluster needs a ClickHouse server",
        ),
    ],
)
def test_values_that_would_leave_the_store_unmaintained_are_refused(
    helm: str, production_args: list[str], extra: list[str], message: str
) -> None:
    run = helm_run(helm, "template", "t", str(CHART), "--kube-version", KUBERNETES_VERSION, *production_args, *extra)
    assert run.returncode != 0 and message in run.stderr, run.stderr


def test_cronjobs_write_their_results_under_the_task_names_the_alerts_read(
    helm: str, production_args: list[str]
) -> None:
    cronjobs = {o["metadata"]["name"]: o for o in render(helm, *production_args) if o["kind"] == "CronJob"}
    rules = (REPO / "deploy" / "prometheus" / "rules.yaml").read_text()
    alerted = set(re.findall(r'task=~?"([^"]+)"', rules))
    assert {t for names in alerted for t in names.split("|")} == set(TASKS.values())
    for job, task in {**TASKS, "report": "report"}.items():
        obj = cronjobs[f"t-platestream-{job}"]
        c, pod = container(obj), obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert f"--name {task} --textfile /textfile/platestream-{task}.prom -- platestream" in c["command"][2], job
        assert {"name": "textfile", "mountPath": "/textfile"} in c["volumeMounts"]
        assert {"name": "textfile", "hostPath": {"path": TEXTFILE, "type": "Directory"}} in pod["volumes"]
    without = render(helm, *production_args, "--set", "cronJobs.textfile.hostPath=")
    for obj in (o for o in without if o["kind"] == "CronJob"):
        assert "command" not in container(obj), "without a textfile directory the image's entrypoint runs as it is"


def job_metrics(path: Path, task: str) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
        if s.labels.get("task") == task
    }


def test_the_rendered_purge_cronjob_runs_and_records_success_and_failure(
    helm: str, production_args: list[str], tmp_path: Path
) -> None:
    """The purge CronJob's container command and args, run here: the real CLI purges an embedded store (no server
    here), the wrapper writes the textfile; then a run with bad settings fails and keeps the last success."""
    purge = next(o for o in render(helm, *production_args) if o["metadata"]["name"] == "t-platestream-purge")
    c = container(purge)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    command = [part.replace("/textfile/", f"{textfile}/") for part in c["command"]] + c["args"]
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        PLATESTREAM_CHDB_PATH=str(tmp_path / "chdb"),
        PLATESTREAM_AUDIT_SIGNING_KEY_FILE=str(tmp_path / "audit.key"),
        PLATESTREAM_AUDIT_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        PLATESTREAM_PLATE_KEYS_FILE=str(tmp_path / "plate_keys"),
    )
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "row(s) deleted" in ok.stdout
    written = textfile / "platestream-retention_purge.prom"
    first = job_metrics(written, "retention_purge")
    assert (
        first["platestream_task_last_exit_code"] == 0 and first["platestream_task_last_success_timestamp_seconds"] > 0
    )

    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_setting: 1\n")
    failed = subprocess.run(command, env={**env, "PLATESTREAM_CONFIG": str(bad)}, capture_output=True, timeout=300)
    assert failed.returncode == 2  # the CronJob's own status is the command's
    after = job_metrics(written, "retention_purge")
    assert after["platestream_task_last_exit_code"] == 2
    assert (
        after["platestream_task_last_success_timestamp_seconds"]
        == first["platestream_task_last_success_timestamp_seconds"]
    )
    assert after["platestream_task_last_run_timestamp_seconds"] >= first["platestream_task_last_run_timestamp_seconds"]
