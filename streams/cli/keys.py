"""`platestream keys new`: a fresh plate pseudonym key."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.core.pseudonym import PlateKeys
from streams.errors import PlatestreamError

keys_app = typer.Typer(no_args_is_help=True, help="Plate pseudonym keys.")


@keys_app.command("new")
def keys_new(key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. k2")]) -> None:
    """Print a fresh key as id:hex. To rotate, put it first in PLATESTREAM_PLATE_KEYS and keep the old ones."""
    try:
        typer.echo(PlateKeys.new_spec(key_id))
    except ValueError as exc:
        raise PlatestreamError(str(exc)) from None
