"""Admission control: at most ``max_concurrent`` requests in the engine, at most ``max_queue``
waiting for a slot; past that a request is refused at once (RESOURCE_EXHAUSTED / HTTP 429)
rather than queued without bound, so a burst cannot grow memory or latency without limit.

Also the drain switch: once ``start_drain()`` is called every new request is refused with
UNAVAILABLE, and ``wait_idle`` lets the server wait for the admitted ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from genai_rt.server.errors import exhausted, unavailable


class Admission:
    def __init__(self, max_concurrent: int, max_queue: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(max_concurrent)
        self.waiting = 0
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one engine slot for the body; refuses when draining or the queue is full."""
        if self.draining:
            raise unavailable("server is draining: retry on another replica")
        if self._slots.locked():
            if self.waiting >= self.max_queue:
                raise exhausted(f"admission queue is full ({self.max_queue} waiting, "
                                f"{self.max_concurrent} running)", retry_after_s=1.0)
            self.waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
            if self.in_flight == 0:
                self._idle.set()

    def start_drain(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """True when every admitted request finished within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False
