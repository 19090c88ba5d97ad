"""The installed faust-streaming is within the bound pyproject.toml states, the one the worker's patch of its
internals (streams/worker/faust_patch.py) was written and tested for, and the internals the patch calls exist.
The image's lockfiles (deploy/*.lock) pin a version within it as well."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import faust
import pytest
from faust.transport.consumer import Consumer
from packaging.requirements import Requirement

from streams.errors import ConfigError
from streams.store.clickhouse import EMBEDDED_MISSING, ChdbStore

REPO = Path(__file__).resolve().parent.parent


def faust_requirement() -> Requirement:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "faust-streaming"]
    return req


def test_faust_streaming_has_an_upper_bound_and_the_installed_version_is_within_it() -> None:
    req = faust_requirement()
    assert any(s.operator in ("<", "<=", "~=", "==") for s in req.specifier), f"no upper bound: {req}"
    assert req.specifier.contains(version("faust-streaming")), (version("faust-streaming"), str(req))


def test_the_locked_versions_are_within_the_bound() -> None:
    req = faust_requirement()
    for lock in ("requirements.lock", "requirements-embedded.lock"):
        pinned = re.search(r"^faust-streaming==(\S+)", (REPO / "deploy" / lock).read_text(), re.MULTILINE)
        assert pinned and req.specifier.contains(pinned.group(1)), lock


def test_the_internals_the_patch_relies_on_exist() -> None:
    assert callable(Consumer.on_partitions_revoked)
    assert callable(faust.App._consumer_wait_empty)
    for name in ("stop_flow", "pause_partitions", "assignment"):
        assert callable(getattr(Consumer, name)), name


def test_chdb_is_the_embedded_extra_only() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if Requirement(d).name == "chdb"]
    assert [Requirement(d).name for d in project["optional-dependencies"]["embedded"]] == ["chdb"]


def test_the_embedded_store_without_chdb_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "chdb.session", None)  # as if chdb were not installed
    with pytest.raises(ConfigError) as raised:
        ChdbStore(tmp_path / "chdb")
    assert str(raised.value) == EMBEDDED_MISSING and "platestream[embedded]" in EMBEDDED_MISSING
