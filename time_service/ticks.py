"""Whole-interval ticks for every watch of a process, from one timer per interval.

With a timer (and a task to race it against shutdown) per watch, a process holding
thousands of watches on the same interval did that work thousands of times a tick; here
they all wait on one shared future per interval and tick.
"""

from __future__ import annotations

import asyncio
import math
import time


class Ticker:
    """Wakes watches at the multiples of their interval since the epoch, or at shutdown."""

    def __init__(self, draining: asyncio.Event) -> None:
        """Tick until ``draining`` is set; from then on every wait returns None at once."""
        self._draining = draining
        self._next: dict[float, asyncio.Future[float | None]] = {}
        self._drain_watcher: asyncio.Task[None] | None = None

    async def wait(self, interval: float) -> float | None:
        """Sleep to the next multiple of ``interval`` seconds; that instant, or None if draining."""
        if self._draining.is_set():
            return None
        future = self._next.get(interval)
        if future is None:
            future = self._next[interval] = self._start(interval)
        # shield: one watch leaving (cancelled) must not cancel the tick for the others.
        return await asyncio.shield(future)

    def _start(self, interval: float) -> asyncio.Future[float | None]:
        loop = asyncio.get_running_loop()
        if self._drain_watcher is None:
            self._drain_watcher = loop.create_task(self._end_on_drain())
        future: asyncio.Future[float | None] = loop.create_future()
        tick = (math.floor(time.time() / interval) + 1) * interval
        loop.call_later(tick - time.time(), self._fire, interval, future, tick)
        return future

    def _fire(self, interval: float, future: asyncio.Future[float | None], tick: float) -> None:
        if future.done():
            return
        # asyncio timers may fire a hair early: wait again until the clock really
        # reached the tick, or the update would show the previous second.
        if (remaining := tick - time.time()) > 0:
            asyncio.get_running_loop().call_later(remaining, self._fire, interval, future, tick)
            return
        if self._next.get(interval) is future:
            del self._next[interval]
        future.set_result(tick)

    async def _end_on_drain(self) -> None:
        await self._draining.wait()
        for future in self._next.values():
            if not future.done():
                future.set_result(None)
        self._next.clear()
