"""`platestream keys new` (a fresh plate pseudonym key) and `keys control-new` (the API's control-event key)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.config.secret_files import write_control_keypair
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


@keys_app.command("control-new")
def keys_control_new(
    path: Annotated[Path, typer.Argument(help="where to write the private key (mode 0600); the public key: PATH.pub")],
) -> None:
    """A fresh Ed25519 key for signing control events: the API's PLATESTREAM_CONTROL_SIGNING_KEY_FILE is PATH,
    every worker's PLATESTREAM_CONTROL_KEYS_FILE holds PATH.pub."""
    try:
        public = write_control_keypair(path)
    except FileExistsError:
        raise PlatestreamError(f"{path} exists: a control key is never overwritten (remove it first)") from None
    except OSError as exc:
        raise PlatestreamError(f"cannot write {path}: {exc.strerror}") from None
    typer.echo(f"private key {path} (mode 600), public key {public}")
