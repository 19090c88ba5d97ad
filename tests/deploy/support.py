"""Rendering the chart and validating what it renders: core kinds with kubernetes-validate, custom kinds with the
openAPIV3Schema of the CRDs vendored under deploy/crds/."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "platestream"
PRODUCTION = CHART / "ci" / "production-values.yaml"
HELM_SCRIPT = REPO / "deploy" / "tools" / "helm.sh"
KUBERNETES_VERSION = "1.31.0"  # the oldest Kubernetes the chart is validated for
CRDS = REPO / "deploy" / "crds"


def topics_json(tmp: Path, partitions: int, cluster: str = "main", replicas: int = 3) -> Path:
    """`platestream topics manifest --output json` for a deployment with ``partitions``, as an operator runs it."""
    out = tmp / f"topics-{partitions}.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "topics",
            "manifest",
            "--cluster",
            cluster,
            "--replicas",
            str(replicas),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=clean_env(PLATESTREAM_PARTITIONS=str(partitions)),
        check=True,
    )
    out.write_text(run.stdout)
    return out


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    return {**env, **extra}


def helm_run(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def render(helm: str, *args: str) -> list[dict]:
    """``helm template`` of the chart with ``args``; the objects it renders."""
    run = helm_run(helm, "template", "t", str(CHART), "--kube-version", KUBERNETES_VERSION, *args)
    assert run.returncode == 0, run.stderr
    return [d for d in yaml.safe_load_all(run.stdout) if d]


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema of every version of every vendored CRD."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"][
                    "openAPIV3Schema"
                ]
    return schemas


def validate_object(obj: dict) -> None:
    """Raise if ``obj`` does not validate: against the vendored CRD for a custom kind, else Kubernetes' schema."""
    key = (obj["apiVersion"], obj["kind"])
    schema = crd_schemas().get(key)
    if schema is not None:
        jsonschema.validate(json.loads(json.dumps(obj)), openapi_to_jsonschema(schema))
        return
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def openapi_to_jsonschema(schema: dict) -> dict:
    """A CRD's structural schema as plain JSON Schema: ``x-kubernetes-*`` keys dropped, ``int-or-string`` made
    explicit, RE2 inline flags moved where Python's re accepts them (as kube-apiserver reads those keys)."""
    if isinstance(schema, list):
        return [openapi_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "pattern" and "(?i)" in value:  # RE2 takes the flag anywhere, Python's re only at the start
            out[key] = "(?i)" + value.replace("(?i)", "")
        elif key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: openapi_to_jsonschema(v) for k, v in value.items()}
        else:
            out[key] = openapi_to_jsonschema(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out
