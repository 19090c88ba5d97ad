"""`platestream login`: keep a bearer token for the CLI's calls to the API."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from streams.cli.client import client_credentials_token, store_token, token_claims
from streams.cli.options import ConfigOpt
from streams.config.settings import load_settings
from streams.errors import PlatestreamError


def login(
    client_credentials: Annotated[
        bool,
        typer.Option(
            "--client-credentials",
            help="get the token from PLATESTREAM_AUTH_TOKEN_URL with this service's client id and secret",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Store a token for later commands (mode 0600): pasted on stdin (the token your identity provider issued
    you), or fetched with client credentials. Prints who it names and when it expires, never the token."""
    settings = load_settings(config)
    if client_credentials:
        token = client_credentials_token(settings)
    else:
        if sys.stdin.isatty():
            token = typer.prompt("bearer token", hide_input=True)
        else:
            token = sys.stdin.read()
        token = token.strip()
        if not token:
            raise PlatestreamError("no token given on stdin")
    claims = token_claims(token)
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise PlatestreamError("the token has no expiry (exp): the API refuses such tokens")
    if exp < time.time():
        raise PlatestreamError("that token has already expired: get a fresh one from your identity provider")
    path = store_token(settings, token)
    minutes = int((exp - time.time()) // 60)
    roles = claims.get(settings.auth_roles_claim) or []
    agency = claims.get(settings.auth_agency_claim, "?")
    typer.echo(
        f"token for {claims.get('sub', '?')}@{agency} (roles: {', '.join(map(str, roles)) or 'none'}) "
        f"stored in {path}; expires in {minutes} min"
    )
