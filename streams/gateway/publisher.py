"""Publishing from the event loop: each message is acknowledged only when the broker confirms it.

confluent-kafka calls delivery callbacks from ``poll``; a thread polls, and each callback resolves its message's
future on the event loop (``call_soon_threadsafe``), so the loop never blocks on the broker.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer

__all__ = ["BrokerUnavailable", "Message", "Publisher"]


class BrokerUnavailable(Exception):
    """The broker did not confirm a message in time (down, or refusing it): the client should retry (503)."""


@dataclass(frozen=True)
class Message:
    topic: str
    value: bytes
    key: bytes
    partition: int | None = None


class Publisher:
    """Wraps one producer and the thread that serves its delivery callbacks."""

    def __init__(self, producer: Producer, timeout_s: float):
        self.producer = producer
        self.timeout_s = timeout_s
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="gateway-delivery", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.producer.flush(self.timeout_s)

    def _poll(self) -> None:
        while not self.stopping.is_set():
            self.producer.poll(0.1)

    async def publish(self, messages: list[Message]) -> None:
        """Send ``messages`` and wait until the broker has confirmed every one; BrokerUnavailable otherwise."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future] = []
        for m in messages:
            fut: asyncio.Future = loop.create_future()
            futures.append(fut)

            def done(err: Any, _msg: Any, fut: asyncio.Future = fut) -> None:
                loop.call_soon_threadsafe(_settle, fut, err)

            kwargs: dict[str, Any] = {"key": m.key, "on_delivery": done}
            if m.partition is not None:
                kwargs["partition"] = m.partition
            try:
                self.producer.produce(m.topic, m.value, **kwargs)
            except (BufferError, KafkaException) as exc:  # local queue full (broker away), or refused at once
                for f in futures[:-1]:
                    f.cancel()
                raise BrokerUnavailable(type(exc).__name__) from None
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s + 5)
        except (TimeoutError, KafkaException) as exc:
            raise BrokerUnavailable(str(exc)[:200] or type(exc).__name__) from None


def _settle(fut: asyncio.Future, err: Any) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(KafkaException(err))
