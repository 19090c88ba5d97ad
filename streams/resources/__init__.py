"""Package data: the read JSON Schema, the ClickHouse migrations and the policy presets.

Read through ``importlib.resources`` so that a built wheel works outside the checkout (the repository's top-level
``schemas/`` is a link to ``schemas/`` here: one copy of each file).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["migrations", "policy_file", "read_json_schema_text", "retention_preset"]

_ROOT = files(__name__)


def read_json_schema_text() -> str:
    """``schemas/read.schema.json``: the one definition of a read."""
    return _ROOT.joinpath("schemas", "read.schema.json").read_text(encoding="utf-8")


def migrations() -> list[Traversable]:
    """``schemas/clickhouse/*.sql`` in the order they apply (file name order)."""
    folder = _ROOT.joinpath("schemas", "clickhouse")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


def policy_file(name: str) -> Traversable:
    """An admission policy preset, e.g. ``default.yaml``."""
    return _ROOT.joinpath("policies", name)


def retention_preset(name: str) -> Traversable:
    """A retention preset by name (``default``, ``hit_only``, ``new_hampshire``, ``minnesota``)."""
    return _ROOT.joinpath("policies", "retention", f"{name}.yaml")
