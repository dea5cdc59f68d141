"""Draining the outbox: each sink's due items, in batches, through its sender.

    outbox (store.outbox_due) | records (store.articles) | send | done / failed (store)

Every sink is drained at once (a slow or dead one does not hold up the others), each by
one owner at a time (`Store.lease_sink`). An attempt takes at most the sink's `timeout`;
the first failure ends that sink's turn (its items are due again after a backoff, see
`retry_delay`), so a sink that is down costs a run one attempt and never fails it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from ingest.errors import in_words
from ingest.timeutil import utcnow

from ._config import SinkSpec, shown_url
from ._senders import Sender, SinkError, make_sender

if TYPE_CHECKING:
    from ingest.settings import Settings
    from storage import Store

__all__ = ["MAX_RETRY_DELAY_S", "SinkResult", "deliver", "retry_delay"]

log = logging.getLogger("ingest")

MAX_RETRY_DELAY_S = 3600.0
DRAIN_BUDGET_S = 60.0  # one sink's turn ends after this long (the rest: the next drain)


@dataclass(frozen=True, slots=True)
class SinkResult:
    """What one drain did for one sink."""

    sink: str
    delivered: int = 0
    skipped: int = 0  # items whose article was pruned before it could go
    dead: int = 0  # items moved to the dead letters by this drain's failure
    error: str | None = None  # why its turn ended early
    busy: bool = False  # another process was delivering it

    def warning(self, pending: int) -> str | None:
        """The one line a failed turn is worth (None when it went well)."""
        if self.error is None:
            return None
        line = f"sink {self.sink}: {self.error}; {pending} article(s) wait in its outbox"
        if self.dead:
            line += f", {self.dead} moved to its dead letters (`ingest sinks retry`)"
        return line


def retry_delay(attempts: int, first_s: float, cap_s: float = MAX_RETRY_DELAY_S) -> float:
    """How long items wait after their `attempts`-th failure: `first_s`, doubled each time,
    at most `cap_s`."""
    if attempts < 1 or first_s <= 0:
        return 0.0
    return float(min(cap_s, first_s * 2.0 ** min(attempts - 1, 32)))


async def deliver(
    store: Store, specs: Sequence[SinkSpec], settings: Settings, *, owner: str
) -> list[SinkResult]:
    """Drain every sink's outbox once (what is due now); one result per sink."""
    if not specs:
        return []
    return list(await asyncio.gather(*(_drain(store, s, settings, owner) for s in specs)))


def _reason(exc: Exception, spec: SinkSpec) -> str:
    """Why an attempt failed, in one line naming where it went (secrets masked)."""
    if isinstance(exc, SinkError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"{shown_url(spec.url)}: no answer within {spec.timeout_s:g} s"
    log.debug("sink %s: unexpected failure", spec.name, exc_info=True)
    return f"{shown_url(spec.url)}: {in_words(exc)}"


async def _drain(store: Store, spec: SinkSpec, settings: Settings, owner: str) -> SinkResult:
    lease_s = max(60.0, 3 * spec.timeout_s)
    if not store.outbox_due(spec.name, now=utcnow(), limit=1):
        return SinkResult(spec.name)
    if not store.lease_sink(spec.name, owner=owner, now=utcnow(), lease_s=lease_s):
        return SinkResult(spec.name, busy=True)
    sender: Sender | None = None
    delivered = skipped = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < DRAIN_BUDGET_S:
            items = store.outbox_due(spec.name, now=utcnow(), limit=spec.batch_size)
            if not items:
                break
            records = {r.id: r for r in store.articles(ids=[i.article_id for i in items])}
            batch = [(i, records[i.article_id]) for i in items if i.article_id in records]
            gone = [i.id for i in items if i.article_id not in records]
            if gone:
                store.outbox_done(spec.name, gone, now=utcnow())
                skipped += len(gone)
            try:
                if batch:
                    sender = sender or make_sender(spec, settings)
                    async with asyncio.timeout(spec.timeout_s):
                        await sender.send(batch)
            except Exception as exc:  # whatever a sink does, the run goes on
                reason = _reason(exc, spec)
                attempts = 1 + max(i.attempts for i, _ in batch)
                now = utcnow()
                dead = store.outbox_failed(
                    spec.name,
                    [i.id for i, _ in batch],
                    error=reason,
                    now=now,
                    retry_at=now + timedelta(seconds=retry_delay(attempts, spec.retry_backoff_s)),
                    max_attempts=spec.max_attempts,
                )
                return SinkResult(spec.name, delivered, skipped, dead, reason)
            store.outbox_done(spec.name, [i.id for i, _ in batch], now=utcnow())
            delivered += len(batch)
            if not store.lease_sink(spec.name, owner=owner, now=utcnow(), lease_s=lease_s):
                break  # (its lease ran out and another process took the sink over)
        return SinkResult(spec.name, delivered, skipped)
    finally:
        if sender is not None:
            try:
                await sender.aclose()
            except Exception:  # (closing a connection that failed: nothing to report)
                pass
        store.release_sink(spec.name, owner)
