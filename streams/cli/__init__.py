"""The ``platestream`` command: one module per command group (``app`` wires them), shared options in ``options``.

``app`` (the top-level commands and the wiring), ``topics``, ``hotlist``, ``holds``, ``keys``, ``search``,
``login``, ``retention``, ``dlq``, ``load`` with ``bench``, ``audit``; ``options`` (``--config`` and the other
shared options, the stderr console) serves them all, and ``client`` is how the commands that read or change data
call the API.
"""

from streams.cli.app import app, main

__all__ = ["app", "main"]
