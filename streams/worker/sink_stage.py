"""The worker's sink stage: one thread that writes each batch's outputs, in order, while the agents match the next.

At most ``limit`` jobs are pending; beyond that ``submit`` waits, so an agent stops taking input (back-pressure)
and memory stays bounded while a store is slow or down. A job's input events are acknowledged (their offsets may
be committed) only after the job succeeded: a crash before then redelivers them, never skips them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from streams import metrics


class SinkStage:
    def __init__(self, limit: int):
        self.limit = limit
        self.pending = 0
        self.failure: BaseException | None = None  # a job failed in a way retries do not cover: the agent stops
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._slots: asyncio.Semaphore | None = None
        self.busy: tuple[str, float] | None = None  # the job running now and since when (monotonic)
        self._thread = threading.Thread(target=self._run, name="platestream-sink", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[..., Any], *args: Any, ack: Sequence[Any] = ()) -> asyncio.Future:
        """Queue ``fn(*args)`` once a slot is free; ``ack`` (Faust events) are acknowledged when it succeeded."""
        if self.failure is not None:
            raise RuntimeError("the sink stage failed") from self.failure
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.pending += 1
        metrics.SINK_PENDING.set(self.pending)
        fut.add_done_callback(lambda f: self._done(f, ack))
        self._jobs.put((loop, fut, fn, args))
        return fut

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` after every job queued before it; its result or exception."""
        return await (await self.submit(fn, *args))

    def stop(self) -> None:
        self._jobs.put(None)

    def _done(self, fut: asyncio.Future, ack: Sequence[Any]) -> None:
        self.pending -= 1
        metrics.SINK_PENDING.set(self.pending)
        assert self._slots is not None
        self._slots.release()
        if fut.cancelled():
            return
        if fut.exception() is not None:
            if ack:  # nobody awaits these jobs: remember the failure for the agent's next submit
                self.failure = fut.exception()
            return
        for event in ack:
            event.ack()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, fut, fn, args = job
            self.busy = (getattr(fn, "__name__", "job"), time.monotonic())
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting agent
                loop.call_soon_threadsafe(_set, fut, None, exc)
            else:
                loop.call_soon_threadsafe(_set, fut, result, None)
            finally:
                self.busy = None

    def status(self) -> dict[str, Any]:
        busy = self.busy
        return {
            "sink_pending": self.pending,
            "sink_job": busy[0] if busy else None,
            "sink_job_s": round(time.monotonic() - busy[1], 3) if busy else None,
        }


def _set(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
