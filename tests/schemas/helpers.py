"""The published topic schemas (schemas/*.schema.json, package data) as jsonschema validators, refs resolved."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

TOPIC_SCHEMAS = {
    "reads.json": "reads-json.schema.json",
    "hits": "hit.schema.json",
    "deadletter": "deadletter.schema.json",
    "verifications": "verification.schema.json",
    "hotlist.events": "hotlist-event.schema.json",
    "holds": "hold-event.schema.json",
}


@cache
def _registry() -> tuple[Registry, dict[str, dict]]:
    docs = {}
    for f in resources.files("streams.resources").joinpath("schemas").iterdir():
        if f.name.endswith(".schema.json"):
            docs[f.name] = json.loads(f.read_text())
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs.values())
    return registry, docs


def validator(topic: str) -> Draft202012Validator:
    registry, docs = _registry()
    schema = docs[TOPIC_SCHEMAS[topic]]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def check(topic: str, message: bytes | dict) -> None:
    """Raise jsonschema.ValidationError when ``message`` does not follow its topic's published schema."""
    doc = json.loads(message) if isinstance(message, bytes) else message
    validator(topic).validate(doc)
