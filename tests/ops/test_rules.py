"""The alert rules: valid for promtool, tested on synthetic series, and naming only metrics the code defines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams import metrics
from tests.ops.promql import exposed_names, metric_names

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "tests" / "rules_test.yaml"
# The list: each must have an alert.
REQUIRED = {
    "PlatestreamConsumerLagGrowing",
    "PlatestreamReadsNearUnreadDeletion",
    "PlatestreamHotlistSourceStale",
    "PlatestreamDeadLettersRising",
    "PlatestreamVerifyFailed",
    "PlatestreamAuditWriteFailures",
    "PlatestreamPurgeNotRun",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run deploy/tools/prometheus.sh (Debian's prometheus package)", pytrace=False)
    return found


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_checks_the_rule_file() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass() -> None:
    out = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_required_alert_exists_and_is_tested() -> None:
    names = {r["alert"] for r in rules()}
    assert names >= REQUIRED
    tested = {
        t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"] for t in case["alert_rule_test"]
    }
    assert tested == names, f"alerts without a promtool test: {sorted(names - tested)}"
    # each alert is shown firing at least once, not only silent
    firing = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert firing == names


def test_rules_name_only_metrics_the_code_defines() -> None:
    known = exposed_names(metrics.REGISTRY, metrics.JOB_REGISTRY)
    for r in rules():
        unknown = metric_names(r["expr"]) - known
        assert not unknown, f"{r['alert']} names metrics nobody exposes: {sorted(unknown)}"


def test_every_alert_has_a_severity_and_a_summary_and_a_section_in_the_docs() -> None:
    ops = (REPO / "docs" / "operations.md").read_text()
    for r in rules():
        assert r["labels"]["severity"] in {"warning", "critical"}
        assert r["annotations"]["summary"]
        assert f"`{r['alert']}`" in ops, f"docs/operations.md does not explain {r['alert']}"
