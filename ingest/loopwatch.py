"""When this process's event loop could not run: its stalls, so that a fetch timeout that
expired during one is not blamed on the server.

A pass does its CPU work (parse, normalize, story signatures) and its store writes (the story
decision runs under the store's write lock, which waits for other processes' batches) on the
event loop's thread. While the loop is stuck there, requests in flight make no progress and
their connect and read timeouts keep counting: on a heavily loaded machine a stretch can last
longer than the connect timeout, and a feed whose server had answered at once failed with
"connect timeout" (README, Performance: the cold runs of `make bench` under load).

`LoopWatch` ticks every TICK_S while requests are in flight (an idle daemon is not woken) and
keeps the stalls it saw: gaps between ticks longer than STALL_S. `stalled(since)` says how long
the longest stall overlapping [since, now] lasted, the one in progress included. The fetcher
sends a request once more when its timeout fired after a stall of at least half that timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["STALL_S", "TICK_S", "LoopWatch"]

TICK_S = 0.25  # how often the watch looks at the clock while requests are in flight
STALL_S = 0.5  # a gap between two ticks longer than this is a stall (the loop was busy)
_KEEP = 256  # stalls remembered (the oldest go first)


class LoopWatch:
    """The stalls of one event loop while at least one request is in flight."""

    def __init__(self) -> None:
        self._stalls: deque[tuple[float, float]] = deque(maxlen=_KEEP)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._active = 0

    def enter(self) -> float:
        """A request starts; returns the loop's clock (for `stalled`)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # (a fetcher used from another loop: start afresh)
            self._cancel()
            self._loop, self._active = loop, 0
        self._active += 1
        if self._handle is None:
            self._last = loop.time()
            self._handle = loop.call_later(TICK_S, self._tick)
        return loop.time()

    def leave(self) -> None:
        """A request ended (whichever way)."""
        self._active = max(0, self._active - 1)
        if not self._active:
            self._cancel()

    def stalled(self, since: float) -> float:
        """The longest stall overlapping [since, now], in seconds (0.0: none seen)."""
        if self._loop is None:
            return 0.0
        now = self._loop.time()
        longest = now - self._last - TICK_S if self._handle is not None else 0.0
        for start, end in self._stalls:
            if end > since:
                longest = max(longest, end - start - TICK_S)
        return max(0.0, longest)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if now - self._last > TICK_S + STALL_S:
            self._stalls.append((self._last, now))
        self._last = now
        self._handle = self._loop.call_later(TICK_S, self._tick)

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
