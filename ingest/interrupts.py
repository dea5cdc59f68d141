"""Ctrl-C and SIGTERM during `ingest run`: stop quietly, keeping every feed already written.

The first signal stops taking feeds: the feeds in flight finish and commit, the run's worker
processes are told the same (SIGTERM), and the summary says what was kept. A second one
abandons the feeds in flight at once (their transactions never commit, so nothing is
half-written; the leases of the dead processes are void at once). Worker processes ignore
SIGINT: the terminal sends it to the whole process group, and only the parent decides.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

__all__ = ["GracefulStop", "ignore_sigint"]


def ignore_sigint() -> None:
    """For worker processes: the parent stops them (SIGTERM), not the terminal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class GracefulStop:
    """While entered, `signals` set `fired` and the event attached with `attach` (waking its
    loop), and call `on_stop` (the parent forwards the stop to its workers); a second signal
    calls `on_abandon` and ends the process with status 130."""

    def __init__(
        self,
        signals: Sequence[int],
        *,
        on_stop: Callable[[], None] | None = None,
        on_abandon: Callable[[], None] | None = None,
    ) -> None:
        self.signals = tuple(signals)
        self.fired = False
        self._on_stop = on_stop
        self._on_abandon = on_abandon
        self._event: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def attach(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self._event = (loop, event)
        if self.fired:
            event.set()

    def detach(self) -> None:
        self._event = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.fired:
            if self._on_abandon is not None:
                self._on_abandon()
            sys.stderr.write("abandoned the feeds in flight (nothing committed is lost)\n")
            sys.stderr.flush()
            os._exit(130)
        self.fired = True
        if self._on_stop is not None:
            self._on_stop()
        if self._event is not None:
            loop, event = self._event
            loop.call_soon_threadsafe(event.set)
