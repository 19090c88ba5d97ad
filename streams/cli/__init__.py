"""The ``platestream`` command: one module per command group (``app`` wires them), shared options in ``options``."""

from streams.cli.app import app, main

__all__ = ["app", "main"]
