"""The ``platestream`` command: one module per command group (``app`` wires them), shared options in ``options``.

``app`` (the top-level commands and the wiring), ``topics``, ``hotlist``, ``holds``, ``keys``, ``search``,
``retention``, ``dlq``, ``load`` with ``bench``; ``options`` (``--config`` and the other shared options, the stderr
console) and ``publish`` (events to a topic) serve them all.
"""

from streams.cli.app import app, main

__all__ = ["app", "main"]
