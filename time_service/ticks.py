"""Whole-interval ticks for every watch of a process, from one timer per interval.

All the watches on one interval wait for the same tick: one timer per interval and tick,
and one future per waiting watch, which the tick resolves. A waiter that leaves
(cancelled) cancels only its own future. Waiting on one shared future through
``asyncio.shield`` instead cost a second future and two callbacks per watch and tick,
about a quarter of a busy server's time at 5,000 watches.
"""

from __future__ import annotations

import asyncio
import math
import time


class _Tick:
    """The next tick of one interval: when it is, and the futures waiting for it."""

    __slots__ = ("at", "waiters")

    def __init__(self, at: float) -> None:
        self.at = at
        # A dict, for insertion order and O(1) removal of a waiter that leaves.
        self.waiters: dict[asyncio.Future[float | None], None] = {}

    def resolve(self, value: float | None) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(value)
        self.waiters.clear()


class Ticker:
    """Wakes watches at the multiples of their interval since the epoch, or at shutdown."""

    def __init__(self, draining: asyncio.Event) -> None:
        """Tick until ``draining`` is set; from then on every wait returns None at once."""
        self._draining = draining
        self._next: dict[float, _Tick] = {}
        self._drain_watcher: asyncio.Task[None] | None = None

    async def wait(self, interval: float) -> float | None:
        """Sleep to the next multiple of ``interval`` seconds; that instant, or None if draining."""
        if self._draining.is_set():
            return None
        tick = self._next.get(interval)
        if tick is None:
            tick = self._next[interval] = self._start(interval)
        waiter: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        tick.waiters[waiter] = None
        try:
            return await waiter
        finally:
            tick.waiters.pop(waiter, None)

    def _start(self, interval: float) -> _Tick:
        loop = asyncio.get_running_loop()
        if self._drain_watcher is None:
            self._drain_watcher = loop.create_task(self._end_on_drain())
        tick = _Tick((math.floor(time.time() / interval) + 1) * interval)
        loop.call_later(tick.at - time.time(), self._fire, interval, tick)
        return tick

    def _fire(self, interval: float, tick: _Tick) -> None:
        # asyncio timers may fire a hair early: wait again until the clock really
        # reached the tick, or the update would show the previous second.
        if (remaining := tick.at - time.time()) > 0:
            asyncio.get_running_loop().call_later(remaining, self._fire, interval, tick)
            return
        if self._next.get(interval) is tick:
            del self._next[interval]
        tick.resolve(tick.at)

    async def _end_on_drain(self) -> None:
        await self._draining.wait()
        for tick in self._next.values():
            tick.resolve(None)
        self._next.clear()
