"""What the command groups share, defined once: the ``--config`` option, the request options of the gated paths to
the read store (holds and search), how their times are parsed, and the console for messages on stderr."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.errors import PlatestreamError

err = Console(stderr=True, soft_wrap=True)  # one message, one line: never wrapped mid-sentence

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else $PLATESTREAM_CONFIG)")]

# Why and for which case: recorded with a hold or a search, and in the audit trail. Who asks is never an
# option: it is the principal of the token the command sends (`platestream login`).
Reason = Annotated[str, typer.Option("--reason", help="why: recorded with the request")]
Case = Annotated[str, typer.Option("--case", help="case number")]
Plates = Annotated[list[str] | None, typer.Option("--plate", help="a plate (repeatable)")]
ReadIds = Annotated[list[str] | None, typer.Option("--read-id", help="a read id (repeatable)")]
When = Annotated[str | None, typer.Option(help="ISO 8601 time, UTC if no zone given")]


def when_ms(text: str | None, default: int) -> int:
    """A ``When`` option in ms since the epoch (``default`` if not given)."""
    if text is None:
        return default
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise PlatestreamError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-28T09:00:00Z)") from None
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)
