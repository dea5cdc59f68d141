"""Stores: the narrow interface the pipeline writes through, and its backends.

`Store` is the whole contract; `open_store(path)` picks a backend (SQLite today; a
PostgreSQL backend implements the same protocol). SQL never leaves the backend modules.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ingest.feededit import Removal, SyncPlan
    from ingest.models import (
        Article,
        Feed,
        FetchResult,
        FetchWrite,
        Held,
        ParsedFeed,
        ScheduleDecision,
        WriteSummary,
    )
    from ingest.settings import FeedSpec
    from ingest.stories import Signature

__all__ = ["Store", "dead_owner", "lease_owner", "open_store", "run_token"]


# -- lease owners: "host:pid:run" ------------------------------------------------------------
# Built by the pipeline for each process, read back by every backend: the run part says
# which run holds a feed (worker processes of one run share it, so a feed is done once per
# run whichever worker claims it), the host and pid whether the holder is still alive.


def lease_owner(run: str | None = None) -> str:
    """A lease owner id unique to this process, for the run `run` (a new one when None)."""
    return f"{socket.gethostname()}:{os.getpid()}:{run or uuid.uuid4().hex[:12]}"


def run_token(owner: str) -> str:
    """The run part of a lease owner."""
    return owner.rsplit(":", 1)[-1]


def dead_owner(owner: str) -> bool:
    """True when `owner` is another process of this host that no longer runs (a run killed
    with SIGKILL): its leases are void at once instead of when they expire. A zombie -- a
    process that exited but that its parent has not reaped, as in a container without an
    init -- is dead too: it will never write again (issue #17)."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive (or a zombie), someone else's
        pass
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """The process has exited and waits to be reaped: state Z in /proc/<pid>/stat (Linux;
    elsewhere, or if the file cannot be read, it counts as alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")"
    fields = stat[stat.rfind(b")") + 1 :].split()
    return bool(fields) and fields[0] in (b"Z", b"X")


class Store(Protocol):
    """What the pipeline and the CLI need from a store. Every method is one transaction."""

    # -- feeds -------------------------------------------------------------------------
    #: opened read-only (a read command on a store this process cannot write)
    read_only: bool

    def add_feed(self, spec: FeedSpec, *, source: str = "cli") -> bool:
        """Add a feed (remembering its source: config, cli, opml), or give a known one
        `spec` and reactivate it if gone/disabled. True when it was new. Changed options
        make the feed due now (and drop the interval decided under the old ones)."""
        ...

    def update_feed(self, spec: FeedSpec) -> bool:
        """Give a known feed `spec`, status unchanged (as add_feed). False: no such feed."""
        ...

    def feed_source(self, url: str) -> str | None:
        """Where a feed came from: config, cli or opml (None: no such feed)."""
        ...

    def remove_feed(self, url: str) -> bool: ...

    def set_status(self, url: str, status: str) -> bool:
        """Enable ("ok") or disable ("disabled") a feed; reactivating a gone feed."""
        ...

    def sync_feeds(
        self, specs: Sequence[FeedSpec], *, removal: Removal = "config", dry_run: bool = False
    ) -> SyncPlan:
        """Add and update the config's feeds; remove the stored ones it does not list as
        `ingest.feededit.plan_sync` decides for `removal`. Returns the plan (applied in one
        transaction unless `dry_run`)."""
        ...

    def get_feed(self, url: str) -> Feed | None: ...

    def feeds(self) -> list[Feed]: ...

    def claim_feeds(
        self,
        *,
        now: datetime,
        owner: str,
        lease_s: int,
        limit: int,
        force: bool = False,
        urls: Sequence[str] | None = None,
        started_ms: int | None = None,
        partition: tuple[int, int] | None = None,
    ) -> list[Feed]:
        """Lease up to `limit` feeds due at `now` (every active feed with `force`) that this
        run (`owner`) has not done yet and no other live run holds, leaving out feeds of a
        host another owner is fetching; with `partition` (i, n), worker i's share of the
        hosts first."""
        ...

    def release(self, owner: str, urls: Sequence[str]) -> None: ...

    def held_elsewhere(
        self,
        *,
        now: datetime,
        owner: str,
        force: bool = False,
        urls: Sequence[str] | None = None,
        started_ms: int | None = None,
    ) -> list[Held]:
        """The feeds `claim_feeds` (same arguments) would have taken but for another run's
        live lease on them or on their host, with when that lease ends."""
        ...

    def next_due_at(self) -> datetime | None: ...

    def due_count(self, now: datetime, *, every: bool = False) -> int: ...

    def due_urls(self, now: datetime, *, every: bool = False) -> list[str]: ...

    def feed_rows(self) -> list[dict[str, Any]]:
        """Every feed's state as stored (for `feeds list --json`)."""
        ...

    # -- the write of one fetch -----------------------------------------------------------
    def known_identities(self, feed_url: str, identities: Sequence[str]) -> set[str]: ...

    def record_fetch(
        self,
        feed: Feed,
        result: FetchResult,
        decision: ScheduleDecision,
        *,
        owner: str,
        parsed: ParsedFeed | None = None,
        articles: Sequence[tuple[Article, Signature | bytes | None]] = (),
        error: Exception | None = None,
        window_days: int = 3,
        earlier: WriteSummary | None = None,
    ) -> WriteSummary:
        """In one transaction: the new and revised articles, their sources and stories, the
        feed's new state (validators, body hash, schedule, status, error), a history row, and
        the release of the lease. `earlier`: chunks already written by `record_articles`."""
        ...

    def prepare(self, fetch: FetchWrite) -> FetchWrite:
        """`fetch` with the CPU-only part of its write done (row values, index keys), to be
        passed to `record_fetches` / `try_record_fetches` instead: callers do it before
        they queue for the write lock, so that concurrent writers do it in parallel. The
        prepared form is private to the store that made it."""
        ...

    def record_fetches(self, fetches: Sequence[FetchWrite], *, owner: str) -> list[WriteSummary]:
        """Several fetches' outcomes (feed state and articles) in one transaction, in order;
        a feed removed meanwhile is skipped."""
        ...

    def try_record_fetches(
        self, fetches: Sequence[FetchWrite], *, owner: str
    ) -> list[WriteSummary] | None:
        """`record_fetches`, or None at once, writing nothing, while another writer holds
        the store's write lock (the caller has other work to do and tries again later)."""
        ...

    def record_articles(
        self,
        feed_url: str,
        articles: Sequence[tuple[Article, Signature | bytes | None]],
        *,
        window_days: int = 3,
    ) -> WriteSummary:
        """One chunk of a huge feed's articles, in a transaction of its own."""
        ...

    def index_pending(self) -> int:
        """Bring the full-text index up to date (after a pass); returns rows indexed."""
        ...

    # -- reading ------------------------------------------------------------------------
    def articles(
        self,
        *,
        since_id: int = 0,
        feed_url: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        ids: Sequence[int] | None = None,
        tag: str | None = None,
        language: str | None = None,
        query: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Article records (the export's) with id > `since_id`, in id order, filtered by
        every argument given. `tag` matches the article's own tags or a carrying feed's;
        `query` is a full-text search (FTS5 syntax, plain words as a fallback) over the
        articles indexed so far: a cursor never moves past one that is not."""
        ...

    def search(self, query: str, *, limit: int = 20) -> list[dict[str, Any]]: ...

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_sources: int = 1,
        limit: int = 50,
        story_id: int | None = None,
        tag: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stories newest first: story_id, title, url, first_seen_at, n_articles,
        representative_id, n_sources and `sources` (one per carrying feed item)."""
        ...

    def fetch_history(self, url: str, *, limit: int = 10) -> list[dict[str, Any]]: ...

    def filtered(self, feed_url: str | None = None) -> list[dict[str, Any]]: ...

    def prune(self, older_than: datetime, *, dry_run: bool = False) -> int: ...

    def prune_plan(self, older_than: datetime) -> list[tuple[str, int]]:
        """What prune would delete: (feed URL, articles), most first."""
        ...

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many, the newest `limit`) tombstones left by prune."""
        ...

    def unprune(self, *, feed_url: str | None = None, since: datetime | None = None) -> int:
        """Lift tombstones so their items can come back; returns how many."""
        ...

    def stats(self) -> dict[str, Any]: ...

    def check(self) -> list[str]:
        """Integrity checks (`ingest store check`): every problem found, one line each."""
        ...

    def close(self) -> None: ...


def open_store(path: Path | str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open (migrating) the store at `path`: created when missing if `create`, else
    StoreError("no store at PATH"). `read_only`: the caller only reads, and a store it
    cannot write is opened read-only. A `postgresql://` URL is reserved for the PostgreSQL
    backend."""
    from .sqlite import SQLiteStore

    return SQLiteStore(path, create=create, read_only=read_only)
