"""How a worker process starts and stops.

Start: the ``Worker`` (store migrations, hot-list catch-up, alert-window seed) is built on the sink stage's thread,
so the event loop keeps answering ``/livez`` meanwhile; the agents wait for it (``ready``).

Stop (SIGTERM, as Kubernetes sends it): the read inputs finish the take in hand, wait until the sink stage has
written everything they took, commit it and leave their group; Faust does the same for the control topic and
flushes its producer; then ``Worker.close`` runs on the sink thread, after the last write: the followers stop
and the store is closed, before the interpreter's teardown (an embedded store still open there crashes the
process). The process then exits 0. A watchdog started with the stop exits 1 if all this takes longer than
``shutdown_grace_s``: what was not committed is read again by the next worker, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

import faust

from streams.config.settings import Settings
from streams.worker.batch_input import BatchInput
from streams.worker.sink_stage import SinkStage
from streams.worker.worker import Worker

__all__ = ["OVERDUE_EXIT", "Lifecycle", "WorkerApp"]

log = logging.getLogger(__name__)
OVERDUE_EXIT = 1  # the exit status of a stop that overran its grace period


class Lifecycle:
    """The worker of one process, built and closed on the sink stage's thread, and whether it is stopping."""

    def __init__(self, settings: Settings, stage: SinkStage):
        self.settings = settings
        self.stage = stage
        self.worker: Worker | None = None
        self.stopping = False
        self._built: asyncio.Event | None = None
        self._watchdog: threading.Timer | None = None
        self.on_close: list[Callable[[], None]] = []
        self.inputs: list[BatchInput] = []  # the read inputs, stopped before Faust

    def _event(self) -> asyncio.Event:
        if self._built is None:
            self._built = asyncio.Event()
        return self._built

    async def start(self) -> None:
        """Build the worker off the event loop (it can take a while: migrations, catch-up, seeding)."""
        await self.stage.run(self._build)
        self._event().set()

    def _build(self) -> None:
        self.worker = Worker(self.settings)

    async def ready(self) -> Worker:
        """The worker, once built."""
        await self._event().wait()
        assert self.worker is not None
        return self.worker

    def begin_stop(self) -> None:
        """The stop has begun: readiness goes, timers do nothing more, and the grace period runs."""
        if self.stopping:
            return
        self.stopping = True
        grace = self.settings.shutdown_grace_s
        log.info("stopping: finishing the batches in hand, committing, closing the store (grace %s s)", grace)
        self._watchdog = threading.Timer(grace, self._overdue)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _overdue(self) -> None:
        log.error(
            "the worker did not stop within shutdown_grace_s (%s s); exiting %d, uncommitted input is read again",
            self.settings.shutdown_grace_s,
            OVERDUE_EXIT,
        )
        logging.shutdown()
        os._exit(OVERDUE_EXIT)

    async def stop(self) -> None:
        """After Faust committed the acknowledged offsets: close the worker on the sink thread, after every job
        queued before (a build still running included), then end the thread."""
        try:
            await self.stage.run(self._close)
        except RuntimeError:  # the stage failed (the agents stopped on it): close here instead
            self._close()
        self.stage.stop()
        w = self.worker
        log.info(
            "worker closed after %d batches of %d input messages", w.batches if w else 0, w.input_messages if w else 0
        )

    def _close(self) -> None:
        for close in self.on_close:  # clients the app opened besides the worker's (the lag sampler's consumer)
            close()
        if self.worker is not None:
            self.worker.close()


class WorkerApp(faust.App):
    """A Faust app whose stop ends with the worker's own (``Lifecycle.stop``), after Faust's commit."""

    lifecycle: Lifecycle

    async def on_stop(self) -> None:
        self.lifecycle.begin_stop()
        await asyncio.gather(*(read_input.stop() for read_input in self.lifecycle.inputs))
        await super().on_stop()  # stop the flow, wait until taken events are acknowledged, commit, flush
        await self.lifecycle.stop()
