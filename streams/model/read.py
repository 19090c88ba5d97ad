"""The Arrow schema of a read, derived from ``schemas/read.schema.json`` (the one source of truth)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pyarrow as pa

from streams import resources
from streams.errors import SchemaError

_EXPLICIT = {
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
    "float32": pa.float32(),
}


def _types(spec: dict[str, Any]) -> tuple[str, bool]:
    t = spec.get("type")
    kinds = t if isinstance(t, list) else [t]
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    if len(kinds) != 1:
        raise SchemaError(f"cannot map JSON type {t!r} to Arrow")
    return kinds[0], nullable


def _arrow_type(spec: dict[str, Any]) -> pa.DataType:
    if "x-arrow" in spec:
        try:
            return _EXPLICIT[spec["x-arrow"]]
        except KeyError:
            raise SchemaError(f"unknown x-arrow type {spec['x-arrow']!r}") from None
    kind, _ = _types(spec)
    if kind == "string":
        return pa.string()
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "array":
        return pa.list_(_arrow_type(spec["items"]))
    if kind == "object":
        return pa.struct(_fields(spec))
    raise SchemaError(f"cannot map JSON type {kind!r} to Arrow")


def _fields(spec: dict[str, Any]) -> list[pa.Field]:
    required = set(spec.get("required", []))
    fields = []
    for name, prop in spec["properties"].items():
        _, nullable = _types(prop)
        fields.append(pa.field(name, _arrow_type(prop), nullable=nullable or name not in required))
    return fields


@cache
def read_json_schema() -> dict[str, Any]:
    return json.loads(resources.read_json_schema_text())


@cache
def read_schema() -> pa.Schema:
    """Arrow schema of a batch of reads, in the order of the JSON Schema's properties."""
    return pa.schema(_fields(read_json_schema()))


READ_SCHEMA = read_schema()
CANDIDATE_TYPE = READ_SCHEMA.field("candidates").type

HEARTBEAT_SCHEMA = pa.schema(
    [("camera_id", pa.string()), ("site_id", pa.string()), ("seen_at", pa.timestamp("ms", tz="UTC"))]
)
