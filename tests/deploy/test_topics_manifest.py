"""`platestream topics manifest`: the topic declarations as Strimzi KafkaTopic resources, valid for the CRD."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from streams.config.settings import load_settings
from streams.kafka.topics import declared, topic_name
from tests.deploy.support import clean_env, validate_object


def manifest(*args: str, **env: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics", "manifest", *args],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        check=True,
    )
    return run.stdout


def test_manifest_equals_the_declarations(clean_env: None) -> None:
    documents = list(yaml.safe_load_all(manifest("--cluster", "main", "--replicas", "3", PLATESTREAM_PARTITIONS="9")))
    settings = load_settings(partitions=9)
    specs = declared(settings)
    assert [d["spec"]["topicName"] for d in documents] == [topic_name(settings, s.name) for s in specs]
    for doc, spec in zip(documents, specs, strict=True):
        assert doc["spec"]["partitions"] == (spec.partitions or 9)
        assert doc["spec"]["config"] == spec.configs
        assert doc["spec"]["replicas"] == 3
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "main"
        validate_object(doc)


def test_json_output_is_the_same_resources_and_replicas_default_to_the_broker() -> None:
    as_yaml = list(yaml.safe_load_all(manifest("--cluster", "c1")))
    as_json = json.loads(manifest("--cluster", "c1", "--output", "json"))
    assert as_json == as_yaml
    assert all("replicas" not in d["spec"] for d in as_json)


def test_names_that_are_not_kubernetes_names_keep_the_topic_name() -> None:
    docs = json.loads(manifest("--cluster", "c1", "--output", "json", PLATESTREAM_TOPIC_PREFIX="Site_A."))
    first = docs[0]
    assert first["metadata"]["name"] == "site-a.reads.batch"
    assert first["spec"]["topicName"] == "Site_A.reads.batch"
    validate_object(first)
