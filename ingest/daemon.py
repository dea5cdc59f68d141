"""`ingest daemon`: apscheduler ticks that run the pipe over due feeds until told to stop.

SIGTERM / SIGINT: stop taking new feeds, let feeds in flight finish and commit, release the
leases of claimed feeds not started, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from storage import PG_SCHEMES, lease_owner, redact_url

from .errors import StoreError
from .logs import log_fetch
from .pipeline import FeedOutcome, run_once
from .settings import Settings

if TYPE_CHECKING:
    from storage import Store

    from .metrics import Metrics
    from .sinks import SinkSpec

__all__ = ["open_when_reachable", "run_daemon"]

log = logging.getLogger("ingest")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_early_stop = threading.Event()  # a stop signal before the daemon's loop runs


def open_when_reachable(open_store: Callable[[], Store], db: str, retry_s: float) -> Store | None:
    """The store from `open_store`; while a PostgreSQL database cannot be reached (started
    before it, or the network is down), one line every `retry_s` and try again. None when
    SIGTERM / SIGINT came meanwhile. A SQLite file that fails to open fails at once: waiting
    does not mend a damaged or read-only file. From here on, until the daemon's loop takes
    over, SIGTERM / SIGINT are remembered (the daemon then stops at once) instead of
    killing the process half-started."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda *_: _early_stop.set())
    while True:
        try:
            return open_store()
        except StoreError as exc:
            if not str(db).startswith(PG_SCHEMES):
                raise
            log.error("cannot open the store: %s; trying again in %.0f s", exc, retry_s)
        if _early_stop.wait(retry_s):
            return None


def run_daemon(
    store: Store,
    settings: Settings,
    *,
    tick_s: float = 15.0,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    sinks: Sequence[SinkSpec] = (),
) -> None:
    """`sinks`: pushed to after every pass (ingest.sinks; registered with the store by
    the caller)."""
    asyncio.run(_main(store, settings, tick_s, metrics_port, metrics_host, sinks))


async def _main(
    store: Store,
    settings: Settings,
    tick_s: float,
    metrics_port: int | None,
    metrics_host: str,
    sinks: Sequence[SinkSpec] = (),
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from .fetch import Fetcher  # (httpx: not imported by a process that never fetches)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if _early_stop.is_set():
        stop.set()
    metrics: Metrics | None = None
    if metrics_port is not None:
        from .metrics import Metrics

        metrics = Metrics(healthy_within_s=max(120.0, 4 * tick_s + settings.total_timeout_s))
        port = metrics.serve(metrics_host, metrics_port)
        log.info("metrics on http://%s:%d/metrics and /healthz", metrics_host, port)
    running: set[asyncio.Task[None]] = set()
    # owners of ticks the store failed (a full disk, the database gone): this process is
    # alive, so their leases would hold those feeds for the whole lease time; released once
    # the store answers again
    stranded: list[str] = []
    fetcher = Fetcher(settings)  # one HTTP client (pool, TLS context) for every pass

    def observe(o: FeedOutcome) -> None:
        log_fetch(o)
        if metrics is not None:
            metrics.observe(o)

    async def tick() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        owner = lease_owner()
        try:
            if stranded:
                _release(store, stranded)
            if not stop.is_set():
                await run_once(
                    store,
                    settings,
                    owner=owner,
                    stop=stop,
                    on_outcome=observe,
                    fetcher=fetcher,
                )
            if sinks:
                await _push(store, settings, sinks, metrics)
            if metrics is not None:
                now = datetime.now(UTC)
                due = store.next_due_at()
                lag = (now - due).total_seconds() if due else 0.0
                metrics.tick_done(dict(store.stats().feeds_by_status), lag)
        except StoreError as exc:  # a full disk, the database gone: one line a tick
            if owner not in stranded:
                stranded.append(owner)
            log.error("tick failed: %s; the next tick will try again", exc)
        except Exception:
            if owner not in stranded:
                stranded.append(owner)
            log.exception("tick failed; the next tick will try again")
        finally:
            running.discard(task)

    # a tick longer than the interval makes apscheduler warn that it skipped one: by design
    # (max_instances=1, coalesce), not news for the operator
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    scheduler.add_job(
        tick,
        "interval",
        seconds=tick_s,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        id="tick",
    )
    scheduler.start()
    log.info("daemon started (tick %.0f s, db %s)", tick_s, redact_url(str(settings.db)))
    await stop.wait()
    log.info("stopping: finishing feeds in flight")
    scheduler.pause()  # no new ticks; shutdown() would cancel the one in flight, so wait first
    if running:
        await asyncio.gather(*running, return_exceptions=True)
    scheduler.shutdown(wait=False)
    await fetcher.aclose()
    if metrics is not None:
        metrics.close()
    log.info("daemon stopped")


async def _push(
    store: Store, settings: Settings, sinks: Sequence[SinkSpec], metrics: Metrics | None
) -> None:
    """After a pass: the outbox drained (a failing sink: one warning line, the pass goes on)."""
    from .sinks import deliver

    results = await deliver(store, sinks, settings, owner=lease_owner())
    backlogs = store.sink_backlogs()
    pending = {b.sink: b.pending for b in backlogs}
    for r in results:
        line = r.warning(pending.get(r.sink, 0))
        if line:
            log.warning("%s", line)
    if metrics is not None:
        metrics.sinks_done(results, backlogs)


def _release(store: Store, owners: list[str]) -> None:
    """Release the leases `owners` (failed ticks of this process) still hold; each owner is
    forgotten once done. Raises StoreError while the store still fails."""
    held: dict[str, list[str]] = {}
    for feed in store.feed_states():
        if feed.lease_owner in owners:
            held.setdefault(feed.lease_owner, []).append(feed.url)
    for owner in list(owners):
        store.release(owner, held.get(owner, []))
        owners.remove(owner)
