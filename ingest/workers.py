"""One pass of `ingest run` over several processes: forked workers claim feeds beside the
parent (the leases keep them apart), stream their outcomes to it (a progress bar) and stop
when it says so (Ctrl-C: see ingest.interrupts).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import lease_owner

from .errors import StoreError
from .interrupts import GracefulStop, ignore_sigint
from .logs import log_fetch
from .pipeline import FeedOutcome, RunReport, run_once
from .settings import Settings

if TYPE_CHECKING:
    from storage import Store

__all__ = ["PARALLEL_MIN_FEEDS", "run_pass"]

log = logging.getLogger("ingest")

PARALLEL_MIN_FEEDS = 20  # fewer feeds than this are not worth a second process


@dataclass(slots=True)
class _Workers:
    """The forked worker processes of a pass, as the parent sees them: the outcomes they
    stream while they work (for `on_outcome`: a progress bar) and the reports they end with."""

    children: list[tuple[Any, Any]] = field(default_factory=list)  # (process, connection)
    reports: dict[int, RunReport] = field(default_factory=dict)
    failure: StoreError | None = None  # a worker's (a full disk: every process meets it)
    on_outcome: Callable[[FeedOutcome], None] | None = None

    def receive(self, i: int) -> bool:
        """Take one message from worker i; False once it has nothing more to say."""
        try:
            kind, payload = self.children[i][1].recv()
        except (EOFError, OSError):
            return False
        if kind == "outcome":
            if self.on_outcome is not None:
                self.on_outcome(payload)
            return True
        if kind == "error":
            self.failure = self.failure or payload
            self.reports[i] = RunReport()
        else:
            self.reports[i] = payload
        return False

    def signal_all(self, sig: int) -> None:
        for proc, _ in self.children:
            if proc.is_alive():
                try:
                    os.kill(proc.pid, sig)
                except ProcessLookupError:  # ended meanwhile
                    pass


async def _stoppable(
    store: Store, settings: Settings, stop_on: GracefulStop, workers: _Workers | None, **kw: Any
) -> RunReport:
    """run_once until `stop_on` fires (then it takes no more feeds; those in flight
    finish), reading the workers' messages as they come."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stop_on.attach(loop, stop)
    live = set(range(len(workers.children))) if workers else set()

    def drain(i: int) -> None:
        assert workers is not None
        if not workers.receive(i):
            loop.remove_reader(workers.children[i][1].fileno())
            live.discard(i)

    for i in live:
        assert workers is not None
        loop.add_reader(workers.children[i][1].fileno(), drain, i)
    try:
        return await run_once(store, settings, stop=stop, **kw)
    finally:
        stop_on.detach()
        for i in live:
            assert workers is not None
            loop.remove_reader(workers.children[i][1].fileno())


def _one_process(
    db: str,
    settings: Settings,
    force: bool,
    urls: Sequence[str] | None,
    run: str,
    on_outcome: Callable[[FeedOutcome], None] | None,
    started_ms: int,
    partition: tuple[int, int] | None,
    stop_on: GracefulStop,
    workers: _Workers | None = None,
) -> RunReport:
    """This process's share of a pass: its own store connection, the run's token, and
    (worker i of n) its share of the hosts."""
    from storage import open_store

    store = open_store(db)
    try:
        return asyncio.run(
            _stoppable(
                store,
                settings,
                stop_on,
                workers,
                force=force,
                urls=urls,
                owner=lease_owner(run),
                on_outcome=on_outcome,
                started_ms=started_ms,
                partition=partition,
            )
        )
    finally:
        store.close()


def _worker(
    conn: Any,
    db: str,
    settings: Settings,
    force: bool,
    run: str,
    log_outcomes: bool,
    stream: bool,
    started_ms: int,
    partition: tuple[int, int],
) -> None:
    """A forked worker of `run_pass`: streams its outcomes through `conn` when `stream`,
    then sends its report. Stopped by the parent (SIGTERM), never by the terminal."""
    ignore_sigint()

    def observe(o: FeedOutcome) -> None:
        if log_outcomes:
            log_fetch(o)
        if stream:
            conn.send(("outcome", o))

    try:
        with GracefulStop((signal.SIGTERM,)) as stop_on:
            report = _one_process(
                db, settings, force, None, run, observe, started_ms, partition, stop_on
            )
        conn.send(("report", report))
    except StoreError as exc:  # the parent reports it, once, as one line
        conn.send(("error", exc))
    except BrokenPipeError:
        pass  # the parent is gone: what this worker wrote is committed all the same
    finally:
        conn.close()


def run_pass(
    db: str,
    settings: Settings,
    *,
    force: bool = False,
    urls: Sequence[str] | None = None,
    expected: int = 0,
    log_outcomes: bool = False,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
) -> RunReport:
    """One pass as `ingest run` makes it: with `settings.workers` > 1 and at least
    PARALLEL_MIN_FEEDS feeds `expected`, forked worker processes claim feeds beside this one
    (the leases keep them apart), so fetching, parsing and storing use every core.
    `on_outcome` sees every feed's outcome as it comes, whichever process fetched it.
    SIGINT / SIGTERM stop the pass gracefully (see ingest.interrupts): the report then has
    `interrupted` set and holds every feed written."""

    def observe(o: FeedOutcome) -> None:
        if log_outcomes:
            log_fetch(o)
        if on_outcome is not None:
            on_outcome(o)

    run = uuid.uuid4().hex[:12]
    started_ms = int(time.time() * 1000)
    t0 = time.perf_counter()
    workers = _Workers(on_outcome=on_outcome)
    partition: tuple[int, int] | None = None
    stop_on = GracefulStop(
        (signal.SIGINT, signal.SIGTERM),
        on_stop=lambda: workers.signal_all(signal.SIGTERM),
        on_abandon=lambda: workers.signal_all(signal.SIGKILL),
    )
    with stop_on:
        if settings.workers > 1 and urls is None and expected >= PARALLEL_MIN_FEEDS:
            n = settings.workers
            partition = (0, n)  # this process; the forked ones are 1 .. n-1
            ctx = multiprocessing.get_context("fork")  # before any store connection is open
            for i in range(1, n):
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker,
                    args=(send, db, settings, force, run, log_outcomes,
                          on_outcome is not None, started_ms, (i, n)),
                )  # fmt: skip
                proc.start()
                send.close()
                workers.children.append((proc, recv))
        failure: StoreError | None = None
        try:
            report = _one_process(
                db, settings, force, urls, run, observe, started_ms, partition, stop_on, workers
            )
        except StoreError as exc:
            failure, report = exc, RunReport()
        for i, (proc, _) in enumerate(workers.children):
            while i not in workers.reports and workers.receive(i):
                pass
            child = workers.reports.get(i)
            if child is None:
                log.error("a worker process died (exit code %s); its feeds are retried next run",
                          proc.exitcode)  # fmt: skip
            else:
                report.outcomes += child.outcomes
                for stage, seconds in child.stage_s.items():
                    report.stage_s[stage] += seconds
            proc.join()
    failure = failure or workers.failure
    if failure is not None:
        raise failure
    report.interrupted = stop_on.fired
    report.elapsed_s = time.perf_counter() - t0
    return report
