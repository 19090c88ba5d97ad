"""`platestream gateway`: the ingest gateway for cameras that speak HTTP (docs/cameras.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.cli.options import ConfigOpt, err
from streams.config.settings import load_settings
from streams.errors import ConfigError
from streams.gateway.tokens import new_token, token_line

gateway_app = typer.Typer(no_args_is_help=True, help=__doc__)

Host = Annotated[str | None, typer.Option(help="address to listen on (gateway_host); loopback by default")]
Port = Annotated[int | None, typer.Option(help="port to listen on (gateway_port)")]


@gateway_app.command()
def serve(host: Host = None, port: Port = None, config: ConfigOpt = None) -> None:
    """Accept Rekor Scout / OpenALPR agent posts and Plate Recognizer / ParkPow webhooks into reads.json."""
    from streams.gateway.app import serve as run  # not a cycle: fastapi+uvicorn cost every command 0.11 s

    try:
        run(load_settings(config, gateway_host=host, gateway_port=port))
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


@gateway_app.command()
def token(cameras: Annotated[list[str], typer.Argument(help="the camera ids this token may post for")]) -> None:
    """A fresh camera token: prints the token (give it to the camera) and its line for the tokens file."""
    fresh = new_token()
    typer.echo(f"token: {fresh}")
    typer.echo(f"tokens-file line: {token_line(fresh, cameras)}")
