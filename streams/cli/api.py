"""`platestream api`: the search and administration API (FastAPI under uvicorn, docs/api.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.cli.options import ConfigOpt, err
from streams.config.settings import load_settings
from streams.errors import ConfigError

Host = Annotated[str | None, typer.Option(help="address to listen on (api_host); off loopback only with auth")]
Port = Annotated[int | None, typer.Option(help="port to listen on (api_port)")]


def api(host: Host = None, port: Port = None, config: ConfigOpt = None) -> None:
    """Serve the search and administration API: bearer tokens, roles, every request audited first."""
    from streams.api.app import serve  # not a cycle: at the top, fastapi and uvicorn add 0.2 s to every command

    try:
        serve(load_settings(config, api_host=host, api_port=port))
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
