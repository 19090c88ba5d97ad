"""The Helm chart: lint, render, refuse bad values, and every rendered object valid for Kubernetes and its CRDs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.support import (
    CHART,
    KUBERNETES_VERSION,
    PRODUCTION,
    REPO,
    helm_run,
    render,
    topics_json,
    validate_object,
)

# The first test may build Helm (deploy/tools/helm.sh: `go install`, minutes on a clean machine).
pytestmark = pytest.mark.timeout(900)

CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication", "KafkaTopic"}


@pytest.fixture(scope="module")
def production_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The production-like values with the KafkaTopics their settings give (12 partitions, cluster main)."""
    manifest = topics_json(tmp_path_factory.mktemp("topics"), partitions=12)
    return ["-f", str(PRODUCTION), "--set-file", f"strimzi.topics.manifest={manifest}"]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_lint_strict_default_and_production(helm: str, production_args: list[str]) -> None:
    for args in ([], production_args):
        run = helm_run(helm, "lint", "--strict", str(CHART), *args)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "0 chart(s) failed" in run.stdout


def test_every_rendered_object_validates(helm: str, production_args: list[str]) -> None:
    default, production = render(helm), render(helm, *production_args)
    for objects in (default, production):
        for obj in objects:
            validate_object(obj)  # raises with the object's first schema error
    assert CUSTOM_KINDS <= {o["kind"] for o in production}, "the production values render every custom kind"
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "CronJob", "Job"} <= {
        o["kind"] for o in production
    }


def test_an_invalid_object_is_caught_by_the_validators(helm: str, production_args: list[str]) -> None:
    """The validation above can fail: a wrong field in a core and in a custom object is refused."""
    objects = render(helm, *production_args)
    deployment = by_kind(objects, "Deployment")[0]
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(Exception, match="three"):
        validate_object(deployment)
    scaled = by_kind(objects, "ScaledObject")[0]
    scaled["spec"]["maxReplicaCount"] = "many"
    with pytest.raises(Exception, match="many"):
        validate_object(scaled)
    topic = by_kind(objects, "KafkaTopic")[0]
    topic["spec"]["partition"] = 3  # a typo Strimzi would prune silently
    with pytest.raises(Exception, match="partition"):
        validate_object(topic)


def test_pods_run_locked_down(helm: str, production_args: list[str]) -> None:
    objects = render(helm, *production_args)
    pods = [o["spec"]["template"]["spec"] for o in by_kind(objects, "Deployment") + by_kind(objects, "Job")]
    pods += [o["spec"]["jobTemplate"]["spec"]["template"]["spec"] for o in by_kind(objects, "CronJob")]
    assert len(pods) == 8  # worker, api, sequencer, migrate, 4 cron jobs
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]} and isinstance(sc["runAsUser"], int)
        main = pod["containers"][0]
        env = {e["name"]: e for e in main["env"]}
        assert env["NUMBA_CACHE_DIR"]["value"] == "/cache/numba"
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for path in ("/cache", "/data", "/tmp"):
            assert "emptyDir" in volumes[mounts[path]] or "persistentVolumeClaim" in volumes[mounts[path]]
        # no secret value in the rendered objects: credentials come from secretKeyRef only
        assert "value" not in env["PLATESTREAM_KAFKA_SASL_PASSWORD"]
        assert "$(CLICKHOUSE_PASSWORD)@" in env["CLICKHOUSE_URL"]["value"]


def test_worker_probes_grace_and_memory_formula(helm: str, production_args: list[str]) -> None:
    worker = next(
        o
        for o in render(helm, *production_args)
        if o["metadata"]["name"] == "t-platestream-worker" and o["kind"] == "Deployment"
    )
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 90
    main = pod["containers"][0]
    assert main["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())["worker"]["sizing"]
    prod = yaml.safe_load(PRODUCTION.read_text())["worker"]["sizing"]
    sizing = {**values, **prod}
    expected = (
        sizing["baseMiB"] * 2**20
        + sizing["hotlistEntries"] * (sizing["bytesPerHotlistEntry"] + sizing["bytesPerHotlistEntryReload"])
        + sizing["dedupEntries"] * sizing["bytesPerDedupEntry"]
    )
    expected_mib = -(-expected // 2**20)  # rounded up
    assert main["resources"]["requests"]["memory"] == f"{expected_mib}Mi"
    assert expected_mib == 512 + 855 + 525  # 2M entries x 448 B, 10M x 55 B


def test_keda_scales_the_worker_group_within_the_partitions(helm: str, production_args: list[str]) -> None:
    scaled = by_kind(render(helm, *production_args), "ScaledObject")[0]
    assert scaled["spec"]["maxReplicaCount"] == 12
    assert {t["metadata"]["consumerGroup"] for t in scaled["spec"]["triggers"]} == {"platestream.worker"}
    assert {t["metadata"]["topic"] for t in scaled["spec"]["triggers"]} == {
        "platestream.reads.batch",
        "platestream.reads.json",
    }


def test_worker_network_policy_reaches_kafka_and_clickhouse_only(helm: str, production_args: list[str]) -> None:
    policy = next(
        o for o in by_kind(render(helm, *production_args), "NetworkPolicy") if o["metadata"]["name"].endswith("-worker")
    )
    ports = [sorted(p["port"] for p in rule["ports"]) for rule in policy["spec"]["egress"]]
    assert ports == [[9093], [8443], [53, 53]]
    assert all("to" in rule for rule in policy["spec"]["egress"][:2])


BAD_VALUES = [
    (["--set", "keda.maxReplicaCount=13"], "exceeds kafka.partitions"),
    (["--set", "worker.replicaz=2"], "replicaz"),
    (["--set", "kafka.partitions=twelve"], "partitions"),
    (["--set", "kafka.securityProtocol=SASL_TLS"], "securityProtocol"),
    (["--set", "kafka.sasl.secretName="], "sasl/secretName"),
    (["--set", "clickhouse.url=https://user:secret@ch:8443/db"], "clickhouse/url"),
    (["--set", "config.kafka_bootstrap=elsewhere:9092"], "kafka_bootstrap"),
    (["--set", "api.auth.issuer="], "issuer"),
    (["--set", "strimzi.cluster=other"], "not strimzi.cluster"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_bad_values_are_refused(helm: str, production_args: list[str], extra: list[str], message: str) -> None:
    run = helm_run(helm, "template", "t", str(CHART), "--kube-version", KUBERNETES_VERSION, *production_args, *extra)
    assert run.returncode != 0
    assert message in run.stderr


def test_a_worker_topic_manifest_of_other_partitions_is_refused(helm: str, tmp_path: Path) -> None:
    manifest = topics_json(tmp_path, partitions=6)
    run = helm_run(
        helm, "template", "t", str(CHART), "-f", str(PRODUCTION), "--set-file", f"strimzi.topics.manifest={manifest}"
    )
    assert run.returncode != 0 and "PLATESTREAM_PARTITIONS=12" in run.stderr


def test_policies_configmap_holds_the_packaged_policies(helm: str) -> None:
    policies = next(o for o in render(helm) if o["metadata"]["name"] == "t-platestream-policies")
    packaged = REPO / "streams" / "resources" / "policies"
    for name in ("default.yaml", "access.yaml", "search.yaml", "hit_review.yaml", "review.yaml"):
        assert policies["data"][name] == (packaged / name).read_text()
    custom = next(
        o
        for o in render(helm, "--set", "policies.access=roles: {}")
        if o["metadata"]["name"] == "t-platestream-policies"
    )
    assert custom["data"]["access.yaml"].strip() == "roles: {}"
