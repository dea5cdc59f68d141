"""The store interface: what the pipeline and the CLI need from a backend, in five parts.

    FeedsAndClaims   the feed list, and leasing due feeds to workers
    FetchWriter      writing one fetch's (or several fetches') outcome in one transaction
    Reader           typed reads for the CLI and downstream tools (ingest.models records)
    Outbox           new and revised articles waiting for the push sinks (ingest.sinks)
    StoryIndex       the candidates for a new article's story (inside a write transaction)

Every backend implements `Store` (all but the index, which each keeps behind its writes);
SQL stays in the backend packages, but for the read queries both dialects write alike
(`storage._query`, given each backend's `Dialect`). The decisions a write applies (is an article new, a
revision, another source; which story it joins) are made in `ingest.dedupe`, not here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ingest.dedupe import Candidate, Signature
    from ingest.feededit import Removal, SyncPlan
    from ingest.models import (
        Article,
        ArticleRecord,
        Feed,
        FeedState,
        FetchRecord,
        FetchResult,
        FetchWrite,
        FilteredItem,
        Held,
        ParsedFeed,
        ScheduleDecision,
        SearchHit,
        SeenEntry,
        StoreStats,
        StoryView,
        Subscription,
        Tombstone,
        WriteSummary,
    )
    from ingest.settings import FeedSpec
    from ingest.sinks.types import OutboxItem, SinkBacklog

__all__ = [
    "FeedsAndClaims",
    "FetchWriter",
    "Outbox",
    "Reader",
    "Store",
    "StoryIndex",
    "WebSubState",
]


class FeedsAndClaims(Protocol):
    """The feed list and its leases. Every method is one transaction."""

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
        run (`owner`) has not done yet and no other live owner holds, leaving out feeds of a
        host another owner is fetching. `partition` (i, n) is a hint: worker i of a run's n
        may be handed its share of the hosts first (a backend may ignore it)."""
        ...

    def renew(self, owner: str, urls: Sequence[str], *, now: datetime, lease_s: int) -> int:
        """Extend this owner's leases on `urls` to `now` + `lease_s` (a heartbeat while
        they are in flight); returns how many it still held."""
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


class FetchWriter(Protocol):
    """Writing what fetches brought. Each call is one transaction."""

    def known_identities(self, feed_url: str, identities: Sequence[str]) -> set[str]: ...

    def seen_entries(self, feed_url: str) -> dict[str, SeenEntry]:
        """The feed's sources seen in its latest fetch that carried items, by the digest of
        the raw entry each was normalized from (`Article.entry_digest`): items a poll need
        not normalize again (`ingest.normalize.normalize_feed`)."""
        ...

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
        passed to `record_fetches` instead: callers do it before they queue for the store,
        so that concurrent writers do it in parallel. Private to the store that made it."""
        ...

    def record_fetches(self, fetches: Sequence[FetchWrite], *, owner: str) -> list[WriteSummary]:
        """Several fetches' outcomes (feed state and articles) in one transaction, in order;
        a feed removed meanwhile is skipped."""
        ...

    def try_record_fetches(
        self, fetches: Sequence[FetchWrite], *, owner: str
    ) -> list[WriteSummary] | None:
        """`record_fetches`, or None at once, writing nothing, when the store would make the
        caller wait for another writer (the caller has other work and tries again later)."""
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

    def prune(self, older_than: datetime, *, dry_run: bool = False) -> int:
        """Delete articles published (else first seen) before `older_than`, leaving
        tombstones so their feeds do not bring them back; returns how many (would) go."""
        ...

    def prune_plan(self, older_than: datetime) -> list[tuple[str, int]]:
        """What prune would delete: (feed URL, articles), most first."""
        ...

    def unprune(self, *, feed_url: str | None = None, since: datetime | None = None) -> int:
        """Lift tombstones so their items can come back (their feeds are due now, fetched
        without validators); returns how many."""
        ...


class Reader(Protocol):
    """Typed reads (ingest.models records; times as stored ISO 8601 text)."""

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
    ) -> Iterator[ArticleRecord]:
        """Article records with id > `since_id` in id order (streamed: constant memory
        however many), filtered by every argument given. `tag` matches the article's own
        tags or a carrying feed's, in any case; `query` is a full-text search in the
        backend's syntax (text that is not valid syntax: its words) over the articles
        indexed so far, so that a cursor never moves past one a later search would find."""
        ...

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Full-text search (README "Searching" for each backend's query syntax)."""
        ...

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_sources: int = 1,
        limit: int = 50,
        story_id: int | None = None,
        tag: str | None = None,
    ) -> list[StoryView]:
        """Stories newest first, each with its sources; `tag` as in `articles`, on any of a
        story's articles."""
        ...

    def feed_states(self) -> list[FeedState]:
        """Every feed's state, by URL."""
        ...

    def fetch_history(self, url: str, *, limit: int = 10) -> list[FetchRecord]: ...

    def filtered(self, feed_url: str | None = None) -> list[FilteredItem]: ...

    def stats(self) -> StoreStats: ...

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[Tombstone]]:
        """(how many, the newest `limit`) tombstones left by prune."""
        ...


class WebSubState(Protocol):
    """WebSub subscriptions (ingest.websub), one a feed. Each call is one transaction."""

    def subscriptions(self) -> list[Subscription]:
        """Every subscription, by feed URL (those of removed feeds too: to unsubscribe)."""
        ...

    def subscription(self, callback_id: str) -> Subscription | None: ...

    def save_subscription(self, sub: Subscription) -> None:
        """Insert or replace the feed's subscription; the feed's `push_until` follows: the
        lease end while "active", else none."""
        ...

    def drop_subscription(self, feed_url: str) -> bool:
        """Forget the feed's subscription (its `push_until` too). False when there was none."""
        ...

    def lead_subscriptions(self) -> bool:
        """Whether this store object is the one that subscribes, taking the role when it is
        free: one at a time per store, since several `ingest serve` processes on one store
        would each subscribe every feed. Kept until the store is closed or its process
        ends; then the next to ask takes it (SQLite: an flock on a file beside the
        database; PostgreSQL: a session advisory lock)."""
        ...


class Outbox(Protocol):
    """The push sinks' outbox. The write that stores new or revised articles queues one
    item per (active sink, article) in the same transaction, so what was committed is
    delivered even when the process dies before delivering it (at least once: a consumer
    de-duplicates by `OutboxItem.key`). Every method is one transaction."""

    def sync_sinks(self, names: Sequence[str], *, now: datetime) -> list[str]:
        """Make `names` the active sinks (writes queue for these from now on: a sink added
        later receives only articles stored after it was added); a sink no longer named
        stops receiving and keeps its backlog. Returns the names that were new."""
        ...

    def lease_sink(self, sink: str, *, owner: str, now: datetime, lease_s: float) -> bool:
        """Take (or extend) the right to deliver `sink`'s items until `now` + `lease_s`:
        False while another owner holds it (two runs never send one item at once)."""
        ...

    def release_sink(self, sink: str, owner: str) -> None: ...

    def outbox_due(self, sink: str, *, now: datetime, limit: int) -> list[OutboxItem]:
        """Up to `limit` of `sink`'s items due at `now` (not backed off), oldest first."""
        ...

    def outbox_done(self, sink: str, ids: Sequence[int], *, now: datetime) -> None:
        """Items delivered: they leave the outbox and count as delivered."""
        ...

    def outbox_failed(
        self,
        sink: str,
        ids: Sequence[int],
        *,
        error: str,
        now: datetime,
        retry_at: datetime,
        max_attempts: int,
    ) -> int:
        """A failed attempt at items: each is due again at `retry_at`, or, at its
        `max_attempts`-th failure, moves to the dead letters. Returns how many moved."""
        ...

    def retry_dead(self, sink: str | None = None, *, now: datetime) -> int:
        """Move dead letters (of `sink`, else all) back to the outbox, due now, their
        attempts reset; returns how many."""
        ...

    def replay(self, sink: str, *, since: datetime, now: datetime) -> int:
        """Queue for `sink` every stored article first seen at or after `since` (as new:
        a sink added after them receives them too); returns how many."""
        ...

    def sink_backlogs(self) -> list[SinkBacklog]:
        """Every sink the store knows (and any with items left), by name."""
        ...


class Store(FeedsAndClaims, FetchWriter, Reader, Outbox, WebSubState, Protocol):
    """A whole backend."""

    def check(self) -> list[str]:
        """Integrity checks (`ingest store check`): every problem found, one line each."""
        ...

    def close(self) -> None: ...


class StoryIndex(Protocol):
    """A backend's story index, bound to its open write transaction (it never commits)."""

    def candidates(
        self, keys: Sequence[int], since: datetime | None, limit: int, min_shared: int
    ) -> list[Candidate]:
        """Stored articles sharing at least `min_shared` of `keys`, published at or after
        `since`: the `limit` sharing the most, ties to the newest then the highest id."""
        ...

    def add_many(
        self, rows: Sequence[tuple[int, int, datetime | None, Signature | bytes, Sequence[int]]]
    ) -> None:
        """Index (article id, story id, published, signature, its band keys) rows."""
        ...

    def remove(self, article_id: int) -> None: ...
