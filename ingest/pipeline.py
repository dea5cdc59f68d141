"""The pipe, for one pass (`ingest run`) or one tick (`ingest daemon`):

    due feeds (store.claim_feeds)          lease the feeds that are due
      | fetch      (fetch.Fetcher)         conditional GET, limits, politeness, guards
      | parse      (parse)                 bytes -> ParsedFeed of RawEntry
      | normalize  (normalize)             RawEntry -> Article (+ identity, filters)
      | dedupe     (stories.signature)     story signatures of the items the store does not
                                           know yet; matching happens in the store
      | schedule   (schedule.next_poll)    when to come back, and why
      | store      (store.record_fetches)  a few feeds per transaction (see ingest._writebatch)

`process_feed` is that pipe for one feed; `run_once` drives it over every due feed with
bounded concurrency (`ingest.workers.run_pass`: over several processes, as `ingest run`
does). Each stage's core is pure and lives in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from storage import lease_owner

from . import _writebatch
from ._writebatch import _WriteBatch
from .dedupe import signature
from .errors import FeedError, ParseError, in_words
from .fulltext import fill_thin
from .hostqueue import HostQueue, host_of
from .interrupts import ignore_sigint
from .models import (
    Article,
    Feed,
    FeedOptions,
    FetchResult,
    FetchWrite,
    Held,
    ParsedFeed,
    ScheduleDecision,
    SeenEntry,
    WriteSummary,
)
from .settings import Settings
from .timeutil import utcnow

if TYPE_CHECKING:
    from storage import Store

    from .fetch import Fetcher

__all__ = [
    "FeedOutcome",
    "RunReport",
    "process_body",
    "process_feed",
    "run_once",
]

log = logging.getLogger("ingest")
STAGES = ("fetch", "parse", "normalize", "dedupe", "store")


@dataclass(slots=True)
class FeedOutcome:
    """What happened to one feed in a pass (for the summary, the log line and metrics)."""

    url: str
    status: int | None
    outcome: str  # ok | not_modified | unchanged | error
    error: str | None
    error_kind: str | None
    bytes: int
    new: int
    updated: int
    filtered: int
    duration_s: float
    decision: ScheduleDecision
    normalized: int = 0  # items normalized
    reused: int = 0  # items the store holds unchanged, not normalized again


@dataclass(slots=True)
class RunReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    started: datetime = field(default_factory=utcnow)
    elapsed_s: float = 0.0
    interrupted: bool = False  # stopped by SIGINT / SIGTERM: feeds not started stay due
    #: due feeds left alone because another run holds them (or their host), and until when
    held: list[Held] = field(default_factory=list)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.outcome == "error"]

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(o.updated for o in self.outcomes)

    @property
    def normalized(self) -> int:
        return sum(o.normalized for o in self.outcomes)

    @property
    def reused(self) -> int:
        return sum(o.reused for o in self.outcomes)


def signed(
    articles: Sequence[Article], known: Collection[str] = ()
) -> list[tuple[Article, bytes | None]]:
    """Each article with its story signature, serialized; none for what a keep/block rule
    dropped, nor for an identity in `known` (the feed carried it before: the store updates
    or skips it by identity and never matches its story, so on a typical poll -- one or two
    new items among fifty -- most of the signatures it used to compute went unused).

    The bytes are a small fraction of the `Signature` object, which holds Python ints, and a
    run holds a few hundred signed articles per process until they are written (the store
    decodes each when it decides its story, which costs little next to the memory the bytes
    save)."""
    return [
        (
            a,
            None
            if a.filtered or a.identity in known
            else signature(a.title, a.content_text).to_bytes(),
        )
        for a in articles
    ]


def process_body(
    body: bytes,
    url: str,
    headers: dict[str, str],
    *,
    fetched_at: datetime,
    options: FeedOptions,
    future_tolerance_s: int,
    seen: Mapping[str, SeenEntry] | None = None,
) -> tuple[ParsedFeed, list[Article], dict[str, float]]:
    """parse | normalize for one body: pure CPU work (runs in a worker process when
    `parse_workers` > 0). Raises ParseError. The signatures come next (`signed`), once the
    store has said which identities it knows. `seen`: what the store holds of the feed's
    latest fetch (`Store.seen_entries`): the items it holds unchanged are not normalized
    again (they come back `reused`; see `normalize_feed`)."""
    from .normalize import normalize_feed
    from .parse import fast_parse, parse

    t0 = time.perf_counter()
    parsed = fast_parse(body, url, headers) or parse(body, url, headers)
    t1 = time.perf_counter()
    articles = normalize_feed(
        parsed,
        feed_url=url,
        fetched_at=fetched_at,
        options=options,
        future_tolerance_s=future_tolerance_s,
        seen=seen,
    )
    t2 = time.perf_counter()
    # the body itself is not needed downstream: do not ship it back from a worker
    parsed = dataclasses.replace(parsed, entries=())
    return parsed, articles, {"parse": t1 - t0, "normalize": t2 - t1}


STREAM_MIN_BYTES = 8 * 1024 * 1024  # bodies over this are parsed and stored in chunks
STREAM_CHUNK = 500  # articles per chunk (and per transaction) of such a feed


def _stream_huge(
    feed: Feed,
    result: FetchResult,
    store: Store,
    settings: Settings,
    stage_s: dict[str, float],
) -> (
    tuple[
        ParsedFeed,
        list[tuple[Article, bytes | None]],
        WriteSummary | None,
        tuple[int, int],
        set[str],
    ]
    | None
):
    """A huge feed, streamed: parse | normalize | dedupe | store one chunk at a time, so memory
    stays flat however many items it has. Every chunk but the last is written here, each in a
    transaction of its own; the last goes with the feed's new state through `record_fetch`.
    Returns the header, the last chunk (signed), what was written, the (new, known) counts
    of the written chunks, and the identities of the last chunk the store knows. None when
    the streaming parser declines the document (the list path takes it then)."""
    from .parse import iter_fast_parse
    from .stream import normalize_stream

    assert result.body is not None
    t0 = time.perf_counter()
    streamed = iter_fast_parse(result.body, feed.url, dict(result.headers))
    if streamed is None:
        return None
    header, entries = streamed
    chunks = normalize_stream(
        header,
        entries,
        feed_url=feed.url,
        fetched_at=result.fetched_at or utcnow(),
        options=feed.options,
        future_tolerance_s=settings.future_tolerance_s,
        chunk=STREAM_CHUNK,
    )
    pending: list[tuple[Article, bytes | None]] = []
    pending_ids: set[str] = set()
    pending_seen: set[str] = set()
    earlier: WriteSummary | None = None
    new = known = 0
    t_store = 0.0
    for chunk in chunks:
        t1 = time.perf_counter()
        ids = {a.identity for a in chunk if not a.filtered}
        seen = store.known_identities(feed.url, list(ids))
        t_store += time.perf_counter() - t1
        pairs = signed(chunk, seen)
        t1 = time.perf_counter()
        if pending:
            done = store.record_articles(feed.url, pending, window_days=settings.story_window_days)
            earlier = done if earlier is None else earlier.plus(done)
            new += len(pending_ids - pending_seen)
            known += len(pending_ids & pending_seen)
        t_store += time.perf_counter() - t1
        pending, pending_ids, pending_seen = pairs, ids, seen
    stage_s["store"] += t_store
    stage_s["parse"] += time.perf_counter() - t0 - t_store  # parse + normalize + dedupe
    return header, pending, earlier, (new, known), pending_seen


async def process_feed(
    feed: Feed,
    *,
    store: Store,
    fetcher: Fetcher,
    settings: Settings,
    owner: str,
    stage_s: dict[str, float],
    executor: Executor | None = None,
    batch: _WriteBatch | None = None,
) -> FeedOutcome:
    """due feed | fetch | parse | normalize | dedupe | schedule | store, for one feed.
    With `batch`, the outcome is written with other feeds' (see _WriteBatch)."""
    from .schedule import next_poll

    t0 = time.perf_counter()
    result = await fetcher.fetch(feed)
    stage_s["fetch"] += time.perf_counter() - t0
    parsed: ParsedFeed | None = None
    articles: list[Article] = []  # parsed and normalized, to be signed
    pairs: list[tuple[Article, bytes | None]] = []  # signed
    earlier: WriteSummary | None = None  # chunks of a huge feed already written
    streamed_counts = (0, 0)  # (new, known) in those chunks
    known: set[str] = set()  # identities of `articles` (or the last chunk) the store knows
    if result.error is None and result.body is not None and len(result.body) > STREAM_MIN_BYTES:
        try:
            streamed = _stream_huge(feed, result, store, settings, stage_s)
        except ParseError as exc:
            result = dataclasses.replace(result, error=exc)
        else:
            if streamed is not None:
                parsed, pairs, earlier, streamed_counts, known = streamed
                result = dataclasses.replace(result, body=None)  # handled: skip the list path
    if result.error is None and result.body is not None:
        fetched_at = result.fetched_at or utcnow()
        t1 = time.perf_counter()
        seen = store.seen_entries(feed.url)
        stage_s["store"] += time.perf_counter() - t1
        job = functools.partial(
            process_body,
            result.body,
            feed.url,
            dict(result.headers),
            fetched_at=fetched_at,
            options=feed.options,
            future_tolerance_s=settings.future_tolerance_s,
        )
        try:
            parsed, articles, took = await _run(executor, job, seen)
            for stage, seconds in took.items():
                stage_s[stage] += seconds
        except ParseError as exc:
            result = dataclasses.replace(result, error=exc)
        except Exception as exc:  # a bug must not stop the other feeds
            log.error("%s: internal error while parsing\n%s", feed.url, traceback.format_exc())
            result = dataclasses.replace(
                result, error=ParseError(feed.url, f"internal error ({in_words(exc)}); see the log")
            )
        if articles:
            t1 = time.perf_counter()
            known = store.known_identities(feed.url, [a.identity for a in articles])
            stage_s["store"] += time.perf_counter() - t1
            if any(a.reused and a.identity not in known for a in articles):
                # the store let go of an item since `seen` was read (a prune): that item is
                # new again, and a reused one carries no text: every item is normalized
                parsed, articles, took = await _run(executor, job, None)
                for stage, seconds in took.items():
                    stage_s[stage] += seconds
                known = store.known_identities(feed.url, [a.identity for a in articles])
    if articles:  # (a streamed huge feed came signed chunk by chunk, its last in `pairs`)
        t1 = time.perf_counter()
        if executor is None:
            pairs = signed(articles, known)
        else:
            sign = functools.partial(signed, articles, known)
            pairs = await asyncio.get_running_loop().run_in_executor(executor, sign)
        stage_s["dedupe"] += time.perf_counter() - t1
    if pairs and feed.options.full_text:
        t1 = time.perf_counter()
        pairs = await fill_thin(fetcher, pairs, known, feed)
        stage_s["fetch"] += time.perf_counter() - t1
    identities = {a.identity for a, _ in pairs if not a.filtered}
    new_count = len(identities - known) + streamed_counts[0]
    decision = next_poll(
        feed,
        result,
        parsed=parsed,
        new_count=new_count,
        known_count=len(identities) - len(identities - known) + streamed_counts[1],
        now=result.fetched_at or utcnow(),
        settings=settings,
    )
    if batch is not None and earlier is None:  # (a streamed huge feed: written as it went)
        # the batch counts its own write time; waiting for the batch is not store work
        summary = await batch.write(
            FetchWrite(feed, result, decision, parsed, pairs, settings.story_window_days)
        )
    else:
        t1 = time.perf_counter()
        summary = store.record_fetch(
            feed,
            result,
            decision,
            owner=owner,
            parsed=parsed,
            articles=pairs,
            window_days=settings.story_window_days,
            earlier=earlier,
        )
        stage_s["store"] += time.perf_counter() - t1
    err = result.error
    return FeedOutcome(
        url=feed.url,
        status=result.status,
        outcome=result.outcome,
        error=(err.reason if isinstance(err, FeedError) else str(err)) if err else None,
        error_kind=err.kind if isinstance(err, FeedError) else ("error" if err else None),
        bytes=result.bytes_read,
        new=summary.new,
        updated=summary.updated,
        filtered=summary.filtered,
        duration_s=time.perf_counter() - t0,
        decision=decision,
        normalized=sum(not a.reused for a in articles),
        reused=sum(a.reused for a in articles),
    )


async def _run(
    executor: Executor | None,
    job: Callable[..., tuple[ParsedFeed, list[Article], dict[str, float]]],
    seen: Mapping[str, SeenEntry] | None,
) -> tuple[ParsedFeed, list[Article], dict[str, float]]:
    """`job(seen=seen)` (process_body) here, or in `executor`."""
    if executor is None:
        return job(seen=seen)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(job, seen=seen))


def _make_executor(settings: Settings, n_feeds: int) -> Executor | None:
    if settings.parse_workers <= 0 or n_feeds < 2:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=settings.parse_workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=ignore_sigint,
    )


async def run_once(
    store: Store,
    settings: Settings,
    *,
    force: bool = False,
    urls: Sequence[str] | None = None,
    owner: str | None = None,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
    started_ms: int | None = None,
    partition: tuple[int, int] | None = None,
    fetcher: Fetcher | None = None,
) -> RunReport:
    """One pass over the due feeds (every active feed with `force`, only `urls` if given).

    Feeds are claimed under a lease as fetch slots free up, so overlapping runs (two crons,
    cron and the daemon, the worker processes of one run) never fetch one feed at once, nor
    one host (see `Store.claim_feeds`; `partition`: this worker's share of the hosts).
    Setting `stop` stops taking new feeds; feeds in flight finish and commit.
    `fetcher`: the process's own (a daemon keeps one for all its passes; it stays open),
    else one made and closed here.
    """
    from .fetch import Fetcher

    owner = owner or lease_owner()
    report = RunReport()
    started_ms = started_ms or int(time.time() * 1000)
    t0 = time.perf_counter()
    executor: Executor | None = None
    states = _WriteBatch(store, owner, report.stage_s)
    try:
        async with (
            Fetcher(settings) if fetcher is None else contextlib.nullcontext(fetcher)
        ) as fetcher:

            async def one(feed: Feed) -> None:
                states.active += 1
                try:
                    outcome = await process_feed(
                        feed,
                        store=store,
                        fetcher=fetcher,
                        settings=settings,
                        owner=owner,
                        stage_s=report.stage_s,
                        executor=executor,
                        batch=states,
                    )
                finally:
                    states.finished()
                report.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

            # Claim what can start soon, topping up as slots free: worker processes of one
            # run (and overlapping runs) then share the due feeds instead of one of them
            # leasing them all, and a slow feed never holds up the others. Of the feeds
            # held, start only those whose host may take a request now (hostqueue): a slot
            # never waits out a host's delay while other hosts' feeds wait for a slot. With
            # a delay, a batch is claimed ahead so that there are other hosts to turn to.
            in_flight: dict[asyncio.Task[None], str] = {}
            # the leases held (in flight or waiting for their host), renewed as a heartbeat
            leased: set[str] = set()
            urls_in_flight: dict[asyncio.Task[None], str] = {}
            renew_at = time.monotonic() + settings.lease_s / 3
            # finished tasks arrive here (asyncio.wait would re-arm a callback on every
            # task in flight at each wake-up)
            finished: asyncio.Queue[asyncio.Task[None]] = asyncio.Queue()
            waiting: HostQueue[Feed] = HostQueue(
                settings.per_host_concurrency, settings.per_host_delay_s
            )
            top_up = max(1, settings.concurrency // 2)
            ahead = settings.batch_size if settings.per_host_delay_s > 0 else settings.concurrency
            exhausted = False
            try:
                while True:
                    held = len(in_flight) + len(waiting)
                    room = settings.concurrency + ahead - held
                    stopping = stop is not None and stop.is_set()
                    if stopping and waiting:
                        released = [f.url for f in waiting.drain()]
                        store.release(owner, released)
                        leased.difference_update(released)
                    if not exhausted and not stopping and (room >= top_up or not held):
                        batch = store.claim_feeds(
                            now=utcnow(),
                            owner=owner,
                            lease_s=settings.lease_s,
                            limit=min(room, settings.batch_size),
                            force=force,
                            urls=urls,
                            started_ms=started_ms,
                            partition=partition,
                        )
                        exhausted = not batch
                        if batch and executor is None:
                            executor = _make_executor(settings, len(batch))
                        for feed in batch:
                            waiting.add(host_of(feed.url), feed)
                            leased.add(feed.url)
                    free = settings.concurrency - len(in_flight)
                    for host, feed in waiting.pop_ready(time.monotonic(), free):
                        task = asyncio.create_task(one(feed))
                        task.add_done_callback(finished.put_nowait)
                        in_flight[task] = str(host)
                        urls_in_flight[task] = feed.url
                    if not in_flight and not waiting:
                        if exhausted or stopping:
                            break
                        continue
                    # feeds waiting in the write batch do not finish: look again after
                    # STATE_BATCH_S, or sooner when a waiting feed's host comes due
                    timeout = _writebatch.STATE_BATCH_S
                    if len(in_flight) < settings.concurrency:
                        due_in = waiting.wait_s(time.monotonic())
                        if due_in is not None:
                            timeout = min(timeout, due_in)
                    try:
                        async with asyncio.timeout(timeout):
                            done = [await finished.get()]
                    except TimeoutError:
                        done = []
                    while not finished.empty():
                        done.append(finished.get_nowait())
                    failed: BaseException | None = None
                    for task in done:
                        waiting.done(in_flight.pop(task))
                        leased.discard(urls_in_flight.pop(task))
                        # a store failure stops the pass; every finished task's is taken (they
                        # fail together when the store goes away), none is left unretrieved
                        if not task.cancelled() and (exc := task.exception()) is not None:
                            failed = failed or exc
                    if failed is not None:
                        raise failed
                    states.flush_if_old()
                    if time.monotonic() >= renew_at and leased:
                        # a heartbeat: feeds still held (a slow host, a huge feed, a host's
                        # queue) keep their leases, so no other worker takes them over meanwhile
                        renew_at = time.monotonic() + settings.lease_s / 3
                        store.renew(owner, sorted(leased), now=utcnow(), lease_s=settings.lease_s)
            except BaseException:
                # the pass stops (a store failure, cancellation): so do the feeds in flight,
                # rather than run on into a daemon's next tick, their failures taken here
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
                raise
    finally:
        states.flush()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    if report.new or report.updated:
        t1 = time.perf_counter()
        store.index_pending()
        report.stage_s["store"] += time.perf_counter() - t1
    report.held = store.held_elsewhere(
        now=utcnow(), owner=owner, force=force, urls=urls, started_ms=started_ms
    )
    report.elapsed_s = time.perf_counter() - t0
    return report
