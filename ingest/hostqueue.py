"""Which claimed feed to start next: the first whose host may take a request now.

A pass holds `concurrency` fetch slots. Were a feed started in claim order, a feed whose host
was asked a moment ago would hold a slot while it waits out the host's delay
(`per_host_delay_s`), and other hosts' feeds would wait for a slot: a warm pass with a
per-host delay took many times what the delays themselves cost. So a pass
claims feeds ahead and starts, of those it holds, only feeds whose host is ready: fewer than
`per_host` of its requests in flight and `delay_s` since the last one started. The fetcher's
own per-host gate still enforces both (redirects and page fetches go through it too); this
queue only keeps slots from waiting on it.

Pure bookkeeping on a clock the caller passes in, so it is table-tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

__all__ = ["HostQueue", "host_of"]

T = TypeVar("T")


def host_of(url: str) -> str:
    """The host a feed URL is fetched from, as the fetcher's gate names it (lower case;
    "" when the URL has none: such feeds share one queue and fail fast in the fetcher)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


class HostQueue(Generic[T]):
    """Items waiting for their host's turn, oldest host first."""

    def __init__(self, per_host: int, delay_s: float) -> None:
        self.per_host = max(1, per_host)
        self.delay_s = max(0.0, delay_s)
        self._waiting: dict[Hashable, deque[T]] = {}  # insertion order: fairness
        self._in_flight: dict[Hashable, int] = {}
        self._next_start: dict[Hashable, float] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, host: Hashable, item: T) -> None:
        q = self._waiting.get(host)
        if q is None:
            q = self._waiting[host] = deque()
        q.append(item)
        self._count += 1

    def _ready(self, host: Hashable, now: float) -> bool:
        return (
            self._in_flight.get(host, 0) < self.per_host and self._next_start.get(host, now) <= now
        )

    def pop_ready(self, now: float, limit: int) -> list[tuple[Hashable, T]]:
        """Up to `limit` (host, item) pairs whose host is ready at `now`, each counted as
        started then; hosts served are moved behind the others (round robin)."""
        out: list[tuple[Hashable, T]] = []
        if limit <= 0 or not self._count:
            return out
        served: list[Hashable] = []
        for host, q in self._waiting.items():
            if len(out) >= limit:
                break
            took = False
            while q and len(out) < limit and self._ready(host, now):
                out.append((host, q.popleft()))
                self._in_flight[host] = self._in_flight.get(host, 0) + 1
                if self.delay_s:
                    self._next_start[host] = now + self.delay_s
                took = True
            if took:
                served.append(host)
        for host in served:
            q = self._waiting.pop(host)
            if q:
                self._waiting[host] = q
        self._count -= len(out)
        return out

    def done(self, host: Hashable) -> None:
        """An item of `host` popped earlier has finished."""
        n = self._in_flight.get(host, 0) - 1
        if n > 0:
            self._in_flight[host] = n
        else:
            self._in_flight.pop(host, None)

    def wait_s(self, now: float) -> float | None:
        """Seconds until a waiting item's host is ready by its delay alone (0.0: one is ready
        now); None when none can be until an item in flight is done (or none waits)."""
        best: float | None = None
        for host in self._waiting:
            if self._in_flight.get(host, 0) >= self.per_host:
                continue
            wait = max(0.0, self._next_start.get(host, now) - now)
            if best is None or wait < best:
                best = wait
                if wait == 0.0:
                    break
        return best

    def drain(self) -> list[T]:
        """Every waiting item, removed (a pass that stops releases them)."""
        out = [item for q in self._waiting.values() for item in q]
        self._waiting.clear()
        self._count = 0
        return out
