"""Control-event keys for tests: a real Ed25519 key pair on disk, as `platestream keys control-new` makes it."""

from __future__ import annotations

from pathlib import Path

from streams.config.secret_files import load_signer, write_control_keypair
from streams.core.signing import ControlSigner


def control_keys(folder: Path) -> tuple[Path, Path, ControlSigner]:
    """(private key file, public key file, a signer with the private key) in ``folder``."""
    private = folder / "control.key"
    public = write_control_keypair(private)
    return private, public, load_signer(private)
