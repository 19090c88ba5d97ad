"""The command's wiring without a broker: every group and command where it was, shared option parsing, and the
publishing helper's delivery check."""

from __future__ import annotations

import click
import pytest
import typer

from streams.cli import app, main
from streams.cli import publish as publish_mod
from streams.cli.options import when_ms
from streams.config.settings import Settings
from streams.errors import PlatestreamError

TOP = ["run", "replay", "worker", "migrate", "produce", "verify", "search", "api",
       "topics", "hotlist", "retention", "dlq", "load", "hold", "keys"]  # fmt: skip
GROUPS = {
    "topics": ["create", "apply", "check"],
    "hotlist": ["add", "clear", "sync"],
    "retention": ["show", "verify", "purge", "deletions"],
    "dlq": ["list", "replay"],
    "load": ["run", "replay", "bench"],
    "hold": ["place", "release", "list"],
    "keys": ["new", "control-new"],
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


class FakeProducer:
    def __init__(self, left: int):
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.left = left

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, value, key))

    def flush(self, timeout: float) -> int:
        return self.left


@pytest.mark.parametrize("left", [0, 1])
def test_publish_prefixes_the_topic_and_fails_on_undelivered(monkeypatch, left):
    fake = FakeProducer(left)
    monkeypatch.setattr(publish_mod, "make_producer", lambda settings, **kw: fake)
    settings = Settings(topic_prefix="t.")
    if left:
        with pytest.raises(PlatestreamError, match="could not deliver to t.holds"):
            publish_mod.publish(settings, "holds", [("k", {"a": 1})])
    else:
        publish_mod.publish(settings, "holds", [("k", {"a": 1})])
    assert fake.sent == [("t.holds", b'{"a": 1}', b"k")]
