"""Fetch outcomes written several to a transaction: the pipeline's store stage when it runs
over many feeds (`run_once`). See `_WriteBatch`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .models import FetchWrite, WriteSummary

if TYPE_CHECKING:
    from storage import Store

__all__ = ["BATCH_ARTICLES", "STATE_BATCH", "STATE_BATCH_S", "_WriteBatch"]

STATE_BATCH = 25
BATCH_ARTICLES = 250
STATE_BATCH_S = 0.25


class _WriteBatch:
    """Fetch outcomes (feed state and articles) written several to a transaction
    (`Store.record_fetches`).

    A commit per feed cost both ways: each commit rewrites the story index's pages it
    touched (random keys), and with two worker processes each commit is another turn at
    the write lock, where SQLite's busy handler sleeps and stalls that worker's loop. A feed
    waits here until its batch is written, then builds its outcome from what was written.

    A batch is written when it holds STATE_BATCH feeds or BATCH_ARTICLES articles, or once
    its oldest has waited STATE_BATCH_S (`run_once` checks; a slow feed must not hold up the
    others) -- if the write lock is free: while another process writes, the batch grows and
    this process goes on fetching and parsing (`Store.try_record_fetches`; waiting for the
    lock would stall this process in SQLite's busy-handler sleeps).
    It waits for the lock when every feed in flight is waiting in the batch (nothing else
    to do), or at twice those sizes or four times that age. A killed run loses what was not
    written yet: those feeds are fetched again."""

    def __init__(self, store: Store, owner: str, stage_s: dict[str, float]) -> None:
        self.store = store
        self.owner = owner
        self.stage_s = stage_s
        self.items: list[FetchWrite] = []
        self.waiters: list[asyncio.Future[WriteSummary]] = []
        self.articles = 0
        self.active = 0  # process_feed calls in flight
        self.since = 0.0  # when the oldest item came

    async def write(self, item: FetchWrite) -> WriteSummary:
        t0 = time.perf_counter()
        item = self.store.prepare(item)  # before the write lock: both workers at once
        self.stage_s["store"] += time.perf_counter() - t0
        if not self.items:
            self.since = time.monotonic()
        waiter: asyncio.Future[WriteSummary] = asyncio.get_running_loop().create_future()
        self.items.append(item)
        self.waiters.append(waiter)
        self.articles += len(item.articles)
        n, size = len(self.items), self.articles
        if n >= self.active or n >= 2 * STATE_BATCH or size >= 2 * BATCH_ARTICLES:
            self.flush()
        elif n >= STATE_BATCH or size >= BATCH_ARTICLES:
            self.flush(wait=False)
        return await waiter

    def finished(self) -> None:
        """A process_feed call ended: if all the others are waiting here, write now."""
        self.active -= 1
        if self.items and len(self.items) >= self.active:
            self.flush()

    def flush_if_old(self) -> None:
        if self.items:
            age = time.monotonic() - self.since
            if age >= 4 * STATE_BATCH_S:
                self.flush()
            elif age >= STATE_BATCH_S:
                self.flush(wait=False)

    def flush(self, *, wait: bool = True) -> None:
        """Write the batch; with `wait` False, only if the write lock is free (else it stays
        queued, to be written by a later call)."""
        if not self.items:
            return
        items, waiters = self.items, self.waiters
        t0 = time.perf_counter()
        try:
            write = self.store.record_fetches if wait else self.store.try_record_fetches
            summaries: list[WriteSummary] | Exception | None = write(items, owner=self.owner)
        except Exception as exc:  # a store failure: every feed of the batch reports it
            summaries = exc
        finally:
            self.stage_s["store"] += time.perf_counter() - t0
        if summaries is None:
            return  # another process is writing: the batch waits for a later call
        self.items, self.waiters, self.articles = [], [], 0
        outcomes: Sequence[WriteSummary | Exception] = (
            [summaries] * len(waiters) if isinstance(summaries, Exception) else summaries
        )
        for waiter, outcome in zip(waiters, outcomes, strict=True):
            if waiter.done():  # (a feed cancelled meanwhile no longer waits)
                continue
            if isinstance(outcome, Exception):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
