"""The command's wiring without a broker: every group and command where it was, and shared option parsing."""

from __future__ import annotations

import click
import pytest
import typer

from streams.cli import app, main
from streams.cli.options import when_ms
from streams.errors import PlatestreamError

TOP = ["run", "replay", "worker", "migrate", "produce", "verify", "outcome", "login", "api", "report",
       "topics", "hotlist", "retention", "dlq", "load", "hold", "keys", "audit", "gateway", "search"]  # fmt: skip
GROUPS = {
    "topics": ["create", "apply", "check", "manifest"],
    "hotlist": ["add", "clear", "sync"],
    "retention": ["show", "verify", "purge", "deletions"],
    "dlq": ["list", "replay"],
    "load": ["run", "replay", "bench"],
    "hold": ["place", "release", "list"],
    "keys": ["new", "control-new"],
    "audit": ["verify", "checkpoint", "export", "sequence", "review"],
    "search": ["plate-history", "near-scene", "hit-trail", "retroactive-match"],
}


def test_commands_and_groups_in_help_order():
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    assert group.list_commands(ctx) == TOP
    for name, commands in GROUPS.items():
        assert group.get_command(ctx, name).list_commands(ctx) == commands
    assert callable(main)


def test_when_ms_reads_iso_times_as_utc_unless_zoned():
    assert when_ms(None, 42) == 42
    assert when_ms("2026-11-28T09:00:00Z", 0) == when_ms("2026-11-28T09:00:00", 0) == 1_795_856_400_000
    assert when_ms("2026-11-28T10:00:00+01:00", 0) == 1_795_856_400_000
    with pytest.raises(PlatestreamError, match="not an ISO 8601 time"):
        when_ms("yesterday", 0)


def test_benchmarks_never_overwrite_the_published_figures_by_default() -> None:
    import importlib.util  # noqa: PLC0415 - load_tests/ is a folder of scripts, not a package
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from streams.cli.bench import DEFAULT_OUT  # noqa: PLC0415

    assert DEFAULT_OUT == Path("out/bench")
    spec = importlib.util.spec_from_file_location("bench_core", Path(__file__).parents[2] / "load_tests/bench_core.py")
    assert spec is not None and spec.loader is not None
    core = importlib.util.module_from_spec(spec)
    sys.modules["bench_core"] = core  # its dataclasses look their module up
    spec.loader.exec_module(core)
    assert "docs" not in core.DEFAULT_OUT.parts
