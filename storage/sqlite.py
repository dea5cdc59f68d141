"""The SQLite store (sqlite-utils): WAL, busy timeout, versioned migrations, FTS5.

Tables (see README "Record schema" for the downstream view):

    feeds            one row per feed: options + scheduling state + lease
    articles         one row per distinct article (id increasing: the downstream cursor)
    article_sources  (feed_url, identity) -> article: every feed/outlet that carried it
    stories          story_id -> representative article, counts
    story_links      article -> story, with the level and similarity that justified it
    filtered         what keep/block rules dropped, and why
    fetches          recent fetch history per feed
    articles_fts     FTS5 over title, summary, content_text

Concurrency: writers take `BEGIN IMMEDIATE`; feeds are claimed with a lease (owner + expiry)
so overlapping runs never fetch one feed at once and a killed run's lease simply expires.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ingest.dedupe.story import FULL_TEXT_WORDS, StoryDecision, better_representative
from ingest.errors import FeedError, GoneError, StoreError
from ingest.models import (
    Article,
    Feed,
    FeedOptions,
    FetchResult,
    FetchWrite,
    FilterRule,
    ParsedFeed,
    ScheduleDecision,
    WriteSummary,
)
from ingest.timeutil import from_iso, to_iso
from storage import dead_owner, run_token

if TYPE_CHECKING:
    from ingest.settings import FeedSpec
    from ingest.stories import Candidate, Signature
    from storage import story_index

__all__ = ["ARTICLE_FIELDS", "SQLiteStore"]

#: the article record, in export order (README "Record schema")
ARTICLE_FIELDS = (
    "id",
    "feed_url",
    "guid",
    "url",
    "canonical_url",
    "title",
    "authors",
    "published_at",
    "updated_at",
    "fetched_at",
    "summary",
    "content_html",
    "content_text",
    "language",
    "tags",
    "image_url",
    "enclosures",
    "word_count",
    "content_hash",
    "story_id",
)
_JSON_FIELDS = ("authors", "tags", "enclosures")
#: the columns of `_article_values`, in its order
_VALUE_COLUMNS = (
    "feed_url",
    "identity",
    "guid",
    "url",
    "canonical_url",
    "title",
    "authors",
    "published_at",
    "updated_at",
    "fetched_at",
    "summary",
    "content_html",
    "content_text",
    "language",
    "tags",
    "image_url",
    "enclosures",
    "word_count",
    "content_hash",
    "date_source",
    "published_raw",
    "extra",
)
_INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(_VALUE_COLUMNS)}, first_seen_at, id, story_id) "
    f"VALUES ({', '.join('?' * (len(_VALUE_COLUMNS) + 3))})"
)
# json.dumps(x, ensure_ascii=False, ...) builds an encoder per call; these are built once
_json = json.JSONEncoder(ensure_ascii=False).encode
_json_extra = json.JSONEncoder(ensure_ascii=False, default=str).encode
_iso_cached = functools.lru_cache(maxsize=4096)(to_iso)


def _iso(dt: datetime | None) -> str | None:
    """to_iso, remembered for fixed-offset times (a batch shares its fetch time). Not for
    other zones: two times in the repeated hour of a DST change compare (and hash) equal
    whatever their fold, yet are an hour apart."""
    if dt is not None and type(dt.tzinfo) is timezone:
        return _iso_cached(dt)
    return to_iso(dt)


HISTORY_KEEP = 20  # fetch rows kept per feed
BUSY_TIMEOUT_MS = 30_000  # how long a write waits for another writer's lock before failing
RECENT_TIMES_KEEP = 100  # entry timestamps kept per feed for the posting rhythm
FULLER_COPY = 1.5  # a same-URL copy this much longer replaces a thin stored text

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        title TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        options TEXT NOT NULL DEFAULT '{}',
        source TEXT NOT NULL DEFAULT 'cli',
        status TEXT NOT NULL DEFAULT 'ok',
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        last_http_status INTEGER,
        last_error TEXT,
        last_warning TEXT,
        error_kind TEXT,
        error_count INTEGER NOT NULL DEFAULT 0,
        last_fetched_at TEXT,
        last_attempt_at TEXT,
        last_attempt_ms INTEGER,
        next_poll_at TEXT,
        interval_s INTEGER,
        schedule_reason TEXT,
        recent_entry_times TEXT NOT NULL DEFAULT '[]',
        last_new_count INTEGER NOT NULL DEFAULT 0,
        last_known_count INTEGER NOT NULL DEFAULT 0,
        moved_from TEXT,
        lease_owner TEXT,
        lease_until TEXT,
        last_run TEXT,
        added_at TEXT NOT NULL
    );
    CREATE INDEX feeds_due ON feeds(status, next_poll_at);

    CREATE TABLE articles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        guid TEXT,
        url TEXT,
        canonical_url TEXT,
        title TEXT NOT NULL,
        authors TEXT NOT NULL DEFAULT '[]',
        published_at TEXT,
        updated_at TEXT,
        fetched_at TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        content_html TEXT NOT NULL DEFAULT '',
        content_text TEXT NOT NULL DEFAULT '',
        language TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        image_url TEXT,
        enclosures TEXT NOT NULL DEFAULT '[]',
        word_count INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT NOT NULL,
        story_id INTEGER,
        date_source TEXT NOT NULL DEFAULT 'feed',
        published_raw TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        revisions INTEGER NOT NULL DEFAULT 0,
        first_seen_at TEXT NOT NULL
    );
    CREATE INDEX articles_canonical ON articles(canonical_url);
    CREATE INDEX articles_feed ON articles(feed_url, id);
    CREATE INDEX articles_story ON articles(story_id);
    CREATE INDEX articles_published ON articles(published_at);

    CREATE TABLE article_sources (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        url TEXT,
        canonical_url TEXT,
        content_hash TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    ) WITHOUT ROWID;
    CREATE INDEX sources_article ON article_sources(article_id);
    CREATE INDEX sources_feed_canonical ON article_sources(feed_url, canonical_url);

    CREATE TABLE stories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        representative_id INTEGER NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        n_articles INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stories_first_seen ON stories(first_seen_at);

    CREATE TABLE story_links (
        article_id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL,
        level TEXT NOT NULL,
        score REAL,
        reason TEXT,
        matched_article_id INTEGER
    );
    CREATE INDEX story_links_story ON story_links(story_id);

    CREATE TABLE filtered (
        id INTEGER PRIMARY KEY,
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        title TEXT,
        url TEXT,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        UNIQUE (feed_url, identity)
    );

    CREATE TABLE fetches (
        id INTEGER PRIMARY KEY,
        feed_url TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        bytes INTEGER NOT NULL DEFAULT 0,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        next_poll_at TEXT,
        reason TEXT
    );
    CREATE INDEX fetches_feed ON fetches(feed_url, id);

    CREATE TABLE tombstones (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        canonical_url TEXT,
        deleted_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_canonical ON tombstones(feed_url, canonical_url);

    CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('fts_indexed_id', 0);
    """,
    # 2: stories folded into another (copies are transitive: see `_fold_stories`)
    """
    CREATE TABLE story_merges (
        story_id INTEGER PRIMARY KEY,
        into_story_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX story_merges_into ON story_merges(into_story_id)
    """,
    # 3: claims walk the due order in an index instead of sorting every feed each time (a
    # run of N feeds made N/10 claims of O(N) each), and live leases are found by an index
    """
    DROP INDEX IF EXISTS feeds_due;
    CREATE INDEX feeds_claim ON feeds(next_poll_at, url) WHERE status IN ('ok', 'error');
    CREATE INDEX feeds_leased ON feeds(lease_until) WHERE lease_owner IS NOT NULL
    """,
    # 4: the story index in two levels (`storage.story_index`: story_band_new, created with
    # the index's other tables by `story_index.ensure_schema` on every open). The number is
    # the change: a release before it reads story_band only and would miss the newest
    # articles' candidates, so it must refuse the file ("newer than this program")
    """
    -- no statement
    """,
    # 5: a feed's host, hashed (`host_key`), so that the worker processes of a run split
    # the feeds by host and never ask one host from two processes at once (`claim_feeds`);
    # existing rows are filled by `_migrate`. And the order of a `--all` run's claims (the
    # least recently attempted first: feeds done in the run sort last, so a claim does not
    # walk past them as it did in next_poll_at order)
    """
    ALTER TABLE feeds ADD COLUMN host_key INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX feeds_host_leased ON feeds(host_key) WHERE lease_owner IS NOT NULL;
    CREATE INDEX feeds_force ON feeds(last_attempt_ms, url) WHERE status IN ('ok', 'error')
    """,
)
# a story's representative: its earliest full-text article (>= FULL_TEXT_WORDS words), else
# its earliest article; ties to the lower id (in SQL over `stories`; `_maybe_promote` applies
# the same rule to an article not written yet)
_ELECT = """(SELECT a.id FROM articles a WHERE a.story_id = stories.id
    ORDER BY a.word_count < ?, COALESCE(a.published_at, a.first_seen_at), a.id LIMIT 1)"""

# Full-text search. New articles are indexed in bulk after each pass (`index_pending`), which
# costs a quarter of a per-row trigger inside 50-row transactions (FTS5 flushes a segment per
# transaction). Rows already indexed keep the index right through these triggers; rows not
# indexed yet are skipped by them (deleting an unindexed row from an external-content FTS5
# table would corrupt it) and indexed with their latest values by the next bulk pass.
FTS_COLUMNS = ("title", "summary", "content_text")
FTS_TRIGGERS = """
CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles
WHEN old.id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id') BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, content_text)
    VALUES ('delete', old.id, old.title, old.summary, old.content_text);
END;
CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, summary, content_text ON articles
WHEN old.id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id') BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, content_text)
    VALUES ('delete', old.id, old.title, old.summary, old.content_text);
    INSERT INTO articles_fts (rowid, title, summary, content_text)
    VALUES (new.id, new.title, new.summary, new.content_text);
END;
"""


def _options_to_json(options: FeedOptions) -> str:
    data = asdict(options)
    defaults = asdict(FeedOptions())
    return json.dumps({k: v for k, v in data.items() if v != defaults[k]}, sort_keys=True)


def _options_from_json(text: str) -> FeedOptions:
    data = json.loads(text or "{}")
    for key in ("keep", "block"):
        if key in data:
            data[key] = tuple(FilterRule(**rule) for rule in data[key])
    return FeedOptions(**data)


def _outlet(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def host_key(url: str) -> int:
    """A stable 31-bit hash of the URL's host name (lower case; 0 for a URL without one):
    feeds with the same key are claimed by one worker process at a time (`claim_feeds`)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return zlib.crc32(host.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF if host else 0


def _entry_times(text: str) -> tuple[datetime, ...]:
    """A feed's stored `recent_entry_times` (a JSON list, written in `to_iso`'s form). Read
    for every feed a run claims: ~50 stamps each, decoded in one pass by the C parser (4x
    faster than `from_iso` on each); a list holding any other form goes through `from_iso`."""
    stamps = json.loads(text)
    try:
        times = tuple(map(datetime.fromisoformat, stamps))
    except (TypeError, ValueError):
        times = None
    if times is None or any(t.tzinfo is not UTC for t in times):
        return tuple(t for t in map(from_iso, stamps) if t)
    return times


@dataclass(slots=True)
class _Known:
    """What the store knows about one batch's articles, kept current while it is written."""

    tombstones: set[str] = field(default_factory=set)  # identities and canonical URLs
    by_identity: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (id, hash)
    same_feed_url: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (id, hash)
    any_url: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (id, word count)
    sources: list[tuple[Any, ...]] = field(default_factory=list)  # rows to insert
    touched: list[tuple[Any, ...]] = field(default_factory=list)  # sources seen again
    next_id: int = 0
    # new articles' rows, written together by `write_pending` (see `_assign_story`)
    new_articles: list[tuple[Any, ...]] = field(default_factory=list)
    new_stories: list[tuple[Any, ...]] = field(default_factory=list)
    new_links: list[tuple[Any, ...]] = field(default_factory=list)
    new_index: list[story_index.IndexRow] = field(default_factory=list)
    pending_keys: set[int] = field(default_factory=set)  # band keys of `new_index`

    def add_source(self, a: Article, article_id: int, now_s: str | None) -> None:
        self.sources.append(
            (
                a.feed_url,
                a.identity,
                article_id,
                a.url,
                a.canonical_url,
                a.content_hash,
                now_s,
                now_s,
            )
        )
        self.by_identity.setdefault(a.identity, (article_id, a.content_hash))

    def write_pending(self, tx: sqlite3.Connection) -> None:
        """Write the new articles' rows decided so far (before anything reads or updates
        them: the batch then reads exactly what one-by-one writes would have left)."""
        if self.new_articles:
            tx.executemany(_INSERT_ARTICLE, self.new_articles)
            self.new_articles.clear()
        if self.new_stories:
            tx.executemany(
                """INSERT INTO stories (id, representative_id, first_seen_at, updated_at,
                   n_articles) VALUES (?, ?, ?, ?, 1)""",
                self.new_stories,
            )
            self.new_stories.clear()
        if self.new_links:
            tx.executemany(
                """INSERT INTO story_links (article_id, story_id, level, score, reason,
                   matched_article_id) VALUES (?, ?, ?, ?, ?, ?)""",
                self.new_links,
            )
            self.new_links.clear()
        self.write_index(tx)

    def write_index(self, tx: sqlite3.Connection) -> None:
        """Write the queued story-index rows (all that a candidate lookup reads)."""
        if self.new_index:
            from storage import story_index

            story_index.add_many(tx, self.new_index)
            self.new_index.clear()
            self.pending_keys.clear()

    def flush(self, tx: sqlite3.Connection) -> None:
        self.write_pending(tx)
        tx.executemany(
            """INSERT OR IGNORE INTO article_sources (feed_url, identity, article_id, url,
               canonical_url, content_hash, first_seen_at, last_seen_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            self.sources,
        )
        tx.executemany(
            "UPDATE article_sources SET last_seen_at = ? WHERE feed_url = ? AND identity = ?",
            self.touched,
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An article's write work that needs no database, done before the write lock
    (`SQLiteStore.prepare`): its row values and its story signature's index keys."""

    values: tuple[Any, ...]  # `_article_values`
    blob: bytes  # the serialized signature
    keys: tuple[int, ...]  # `band_keys` of that signature


class _FeedRemovedError(StoreError):
    """The feed's row went away while it was being fetched (`feeds remove` meanwhile)."""


class SQLiteStore:
    """The Store protocol on one SQLite file."""

    #: new articles' rows are written per batch (False: each at once; the tests' reference)
    _DEFER_WRITES: ClassVar[bool] = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # a checkpoint every 16 MB of WAL rather than 4 MB: each commit rewrites most of
            # the story index's leaf pages (random keys), which a checkpoint then copies and
            # syncs once instead of four times (cold ingest: -6% of the store's time)
            conn.execute("PRAGMA wal_autocheckpoint=4000")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    # ------------------------------------------------------------------ infrastructure

    def _begin(self, *, wait: bool = True) -> bool:
        """BEGIN IMMEDIATE: the write lock, taken up front so concurrent writers wait on the
        busy timeout instead of failing half-way. With `wait` False, False at once while
        another connection holds it (SQLite's busy handler would sleep in steps of up to
        100 ms, oversleeping the other writer's commit, with this process's loop stalled)."""
        conn = self.conn
        if not wait:
            conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if (
                not wait and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            ):  # (extended codes too)
                return False
            raise StoreError(f"{self.path}: database is busy: {exc}") from exc
        finally:
            if not wait:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    @contextmanager
    def _tx(self, *, begun: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (begun here unless `begun`): committed, or rolled back when
        the block raises."""
        conn = self.conn
        if not begun:
            self._begin()
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        from storage import story_index

        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this program "
                f"({len(MIGRATIONS)}); upgrade ingest"
            )
        for number in range(version, len(MIGRATIONS)):
            with self._tx() as tx:
                for statement in MIGRATIONS[number].split(";\n"):
                    if statement.strip():
                        tx.execute(statement)
                if number == 0:
                    # sqlite-utils creates the FTS5 table; imported here only, because
                    # importing it costs a cron run ~80 ms and pulls in numpy when installed
                    import sqlite_utils

                    sqlite_utils.Database(tx).table("articles").enable_fts(
                        list(FTS_COLUMNS),
                        fts_version="FTS5",
                        create_triggers=False,
                        tokenize="unicode61 remove_diacritics 2",
                    )
                    for body in FTS_TRIGGERS.split("END;"):
                        if body.strip():
                            tx.execute(body + "END;")
                if number == 4:
                    urls = [r[0] for r in tx.execute("SELECT url FROM feeds")]
                    tx.executemany(
                        "UPDATE feeds SET host_key = ? WHERE url = ?",
                        [(host_key(u), u) for u in urls],
                    )
                tx.execute(f"PRAGMA user_version = {number + 1}")
        with self._tx() as tx:
            story_index.ensure_schema(tx)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ feeds

    def _feed(self, row: sqlite3.Row | dict[str, Any]) -> Feed:
        r = dict(row)
        return Feed(
            url=r["url"],
            title=r["title"],
            tags=tuple(json.loads(r["tags"])),
            options=_options_from_json(r["options"]),
            status=r["status"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            body_hash=r["body_hash"],
            last_http_status=r["last_http_status"],
            last_error=r["last_error"],
            error_count=r["error_count"],
            last_fetched_at=from_iso(r["last_fetched_at"]),
            next_poll_at=from_iso(r["next_poll_at"]),
            interval_s=r["interval_s"],
            schedule_reason=r["schedule_reason"],
            recent_entry_times=_entry_times(r["recent_entry_times"]),
            last_new_count=r["last_new_count"],
            last_known_count=r["last_known_count"],
        )

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def add_feed(self, spec: FeedSpec, *, source: str = "cli") -> bool:
        now = to_iso(datetime.now().astimezone())
        with self._tx() as tx:
            exists = tx.execute("SELECT status FROM feeds WHERE url = ?", (spec.url,)).fetchone()
            if exists:
                tx.execute(
                    """UPDATE feeds SET title = COALESCE(?, title), tags = ?, options = ?,
                       status = CASE WHEN status IN ('gone', 'disabled') THEN 'ok' ELSE status END,
                       next_poll_at = CASE WHEN status IN ('gone', 'disabled') THEN NULL
                                      ELSE next_poll_at END,
                       error_count = CASE WHEN status = 'gone' THEN 0 ELSE error_count END
                       WHERE url = ?""",
                    (
                        spec.title,
                        json.dumps(list(spec.tags)),
                        _options_to_json(spec.options),
                        spec.url,
                    ),
                )
                return False
            tx.execute(
                """INSERT INTO feeds (url, title, tags, options, source, added_at, host_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    spec.url,
                    spec.title,
                    json.dumps(list(spec.tags)),
                    _options_to_json(spec.options),
                    source,
                    now,
                    host_key(spec.url),
                ),
            )
            return True

    def remove_feed(self, url: str) -> bool:
        with self._tx() as tx:
            return tx.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount > 0

    def set_status(self, url: str, status: str) -> bool:
        if status not in ("ok", "disabled"):
            raise ValueError(f"status must be ok or disabled, got {status!r}")
        with self._tx() as tx:
            cur = tx.execute(
                """UPDATE feeds SET status = ?, next_poll_at = NULL,
                   error_count = CASE WHEN ? = 'ok' THEN 0 ELSE error_count END
                   WHERE url = ?""",
                (status, status, url),
            )
            return cur.rowcount > 0

    def sync_feeds(self, specs: Sequence[FeedSpec]) -> tuple[int, int, int]:
        wanted = {s.url: s for s in specs}
        current = {r["url"]: r for r in self._rows("SELECT url, title, tags, options FROM feeds")}
        added = updated = 0
        for spec in specs:
            row = current.get(spec.url)
            if row is None:
                self.add_feed(spec, source="config")
                added += 1
            elif (
                row["title"] != spec.title
                or json.loads(row["tags"]) != list(spec.tags)
                or row["options"] != _options_to_json(spec.options)
            ):
                self.add_feed(spec, source="config")
                updated += 1
        removed = 0
        for url in current.keys() - wanted.keys():
            removed += self.remove_feed(url)
        return added, updated, removed

    def get_feed(self, url: str) -> Feed | None:
        rows = self._rows("SELECT * FROM feeds WHERE url = ?", (url,))
        return self._feed(rows[0]) if rows else None

    def feeds(self) -> list[Feed]:
        return [self._feed(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def feed_rows(self) -> list[dict[str, Any]]:
        """Every feed's state as stored (for `feeds list --json`)."""
        return self._rows("SELECT * FROM feeds ORDER BY url")

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
        """`started_ms`: when the run began (ms since the epoch); a feed attempted since, by
        this run or an overlapping one, is not taken again (two `run --all` at once would
        otherwise hand each other's finished feeds back and forth).

        Politeness across processes: a feed whose host another owner holds a live lease on
        (a feed of that host in flight in another worker, run or daemon) is not taken, so
        each process's per-host limits (requests in flight, gap between them) hold for the
        host as a whole. `partition` (i, n): worker i of n takes the feeds of its share of
        the hosts (host_key % n == i) first, and others' only once its share has none left
        (a run ends with no worker idle while another still has hosts to do)."""
        now_s = to_iso(now)
        until = to_iso(now + timedelta(seconds=lease_s))
        where = [
            "(lease_until IS NULL OR lease_until < ?)",
            "(last_run IS NULL OR last_run != ?)",  # not twice in one run
            "(last_attempt_ms IS NULL OR last_attempt_ms < ?)",
            """NOT EXISTS (SELECT 1 FROM feeds AS o WHERE o.host_key = c.host_key
                 AND o.lease_owner IS NOT NULL AND o.lease_owner != ?
                 AND o.lease_until >= ?)""",  # feeds_host_leased
        ]
        params: list[Any] = [now_s, run_token(owner), started_ms or 1 << 62, owner, now_s]
        # the due order: never polled first, then the most overdue (NULLs sort first); with
        # `force`, never attempted first, then the least recently attempted (feeds_force)
        due = "next_poll_at, url"
        passes: list[tuple[str, list[Any], str]] = []
        if urls is not None:
            where.append("url IN (SELECT value FROM json_each(?))")
            passes.append(("1 = 1", [json.dumps(list(urls))], due))
        else:
            where.append("status IN ('ok', 'error')")  # feeds_claim's own condition
            if force:
                passes.append(("1 = 1", [], "last_attempt_ms, url"))
            else:  # two index ranges: "IS NULL OR <=" would scan every feed
                passes += [("next_poll_at IS NULL", [], due), ("next_poll_at <= ?", [now_s], due)]
        shares: list[tuple[str, list[Any]]] = [("1 = 1", [])]
        if partition is not None and partition[1] > 1:
            shares.insert(0, ("c.host_key % ? = ?", [partition[1], partition[0]]))
        rows: list[dict[str, Any]] = []
        with self._tx() as tx:
            self._expire_dead_leases(tx, now_s)
            for share, share_params in shares:
                if rows:  # the worker's own share had some: others' wait
                    break
                for extra, extra_params, order in passes:
                    if len(rows) >= limit:
                        break
                    cur = tx.execute(
                        f"""UPDATE feeds SET lease_owner = ?, lease_until = ?
                            WHERE url IN (SELECT c.url FROM feeds AS c
                                          WHERE {" AND ".join(where)} AND {extra} AND {share}
                                          ORDER BY {order} LIMIT ?)
                            RETURNING *""",
                        [owner, until, *params, *extra_params, *share_params, limit - len(rows)],
                    )
                    names = [d[0] for d in cur.description]
                    rows += [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return sorted((self._feed(r) for r in rows), key=lambda f: f.url)

    @staticmethod
    def _expire_dead_leases(tx: sqlite3.Connection, now_s: str | None) -> None:
        """A lease held by a process of this host that no longer exists (a run killed with
        SIGKILL) is void at once, instead of blocking its feeds until it expires."""
        owners = [
            r[0]
            for r in tx.execute(
                "SELECT DISTINCT lease_owner FROM feeds"
                " WHERE lease_owner IS NOT NULL AND lease_until >= ?",  # feeds_leased
                (now_s,),
            )
        ]
        for owner in owners:
            if dead_owner(str(owner)):
                tx.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                    (owner,),
                )

    def release(self, owner: str, urls: Sequence[str]) -> None:
        if not urls:
            return
        with self._tx() as tx:
            tx.execute(
                """UPDATE feeds SET lease_owner = NULL, lease_until = NULL
                   WHERE lease_owner = ? AND url IN (SELECT value FROM json_each(?))""",
                (owner, json.dumps(list(urls))),
            )

    def next_due_at(self) -> datetime | None:
        row = self.conn.execute(
            """SELECT MIN(COALESCE(next_poll_at, '1970-01-01T00:00:00Z')) FROM feeds
               WHERE status IN ('ok', 'error')"""
        ).fetchone()
        return from_iso(row[0]) if row else None

    def due_count(self, now: datetime, *, every: bool = False) -> int:
        """Active feeds due at `now` (every active feed with `every`)."""
        row = self.conn.execute(
            """SELECT COUNT(*) FROM feeds WHERE status IN ('ok', 'error')
               AND (? OR next_poll_at IS NULL OR next_poll_at <= ?)""",
            (every, to_iso(now)),
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ one fetch

    def known_identities(self, feed_url: str, identities: Sequence[str]) -> set[str]:
        cur = self.conn.execute(
            """SELECT identity FROM article_sources WHERE feed_url = ?
               AND identity IN (SELECT value FROM json_each(?))""",
            (feed_url, json.dumps(list(identities))),
        )
        return {r[0] for r in cur.fetchall()}

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
        """`earlier`: what `record_articles` already wrote of this fetch (a huge feed written
        in chunks); it counts in the feed's state and history."""
        with self._tx() as tx:
            return self._record_fetch(
                tx,
                feed,
                result,
                decision,
                owner=owner,
                parsed=parsed,
                articles=articles,
                error=error,
                window_days=window_days,
                earlier=earlier,
            )

    def record_fetches(self, fetches: Sequence[FetchWrite], *, owner: str) -> list[WriteSummary]:
        """Several fetches' outcomes in one transaction, in order: one commit, and one turn
        of the write lock other worker processes wait for, instead of one per feed. Articles
        of a later fetch see those of an earlier one (story matching runs in order). A feed
        removed meanwhile is skipped (its summary is empty)."""
        self._begin()
        return self._record_fetches(fetches, owner)

    def try_record_fetches(
        self, fetches: Sequence[FetchWrite], *, owner: str
    ) -> list[WriteSummary] | None:
        """`record_fetches`, or None at once (nothing written) while another connection
        holds the write lock."""
        if not self._begin(wait=False):
            return None
        return self._record_fetches(fetches, owner)

    def prepare(self, fetch: FetchWrite) -> FetchWrite:
        """`fetch` with each kept article's row values and story-index keys computed (pure
        CPU: ~20 us an article that a writer would otherwise spend holding the lock)."""
        if not fetch.articles:
            return fetch
        from ingest.stories import Signature, band_keys

        out: list[tuple[Article, Any]] = []
        for a, sig in fetch.articles:
            if a.filtered or sig is None or isinstance(sig, _Prepared):
                # unsigned: an article the feed carried before (see `pipeline.signed`), whose
                # row values are not written again as they stand
                out.append((a, sig))
                continue
            decoded, blob = Signature.with_bytes(sig)
            out.append((a, _Prepared(self._article_values(a), blob, tuple(band_keys(decoded)))))
        return dataclasses.replace(fetch, articles=out)

    def _record_fetches(self, fetches: Sequence[FetchWrite], owner: str) -> list[WriteSummary]:
        out = []
        with self._tx(begun=True) as tx:
            for w in fetches:
                try:
                    done = self._record_fetch(
                        tx,
                        w.feed,
                        w.result,
                        w.decision,
                        owner=owner,
                        parsed=w.parsed,
                        articles=w.articles,
                        window_days=w.window_days,
                    )
                except _FeedRemovedError:
                    done = WriteSummary(feed_url=w.feed.url)
                out.append(done)
        return out

    def _record_fetch(
        self,
        tx: sqlite3.Connection,
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
        error = error or result.error
        now = result.fetched_at or decision.next_poll_at
        now_s = to_iso(now)
        # a lease that expired and was taken by another run: that run owns the feed now
        row = tx.execute("SELECT lease_owner FROM feeds WHERE url = ?", (feed.url,)).fetchone()
        if row is None:
            raise _FeedRemovedError(f"{feed.url}: feed was removed while it was being fetched")
        done = self._write_articles(tx, feed.url, articles, window_days, now_s)
        if earlier is not None:
            done = earlier.plus(done)
        new_ids, updated, unchanged = list(done.new_ids), done.updated, done.unchanged
        self._update_feed_state(
            tx,
            feed,
            result,
            decision,
            parsed,
            articles,
            error,
            now_s,
            owner,
            new_count=len(new_ids),
            known_count=updated + unchanged,
        )
        outcome_name = "error" if error else result.outcome
        tx.execute(
            """INSERT INTO fetches (feed_url, at, outcome, http_status, bytes, new, updated,
               duration_ms, error, next_poll_at, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            (
                feed.url,
                now_s,
                outcome_name,
                result.status,
                result.bytes_read,
                len(new_ids),
                updated,
                int(result.elapsed_s * 1000),
                str(error) if error else None,
                to_iso(decision.next_poll_at),
                decision.reason,
            ),
        )
        tx.execute(
            """DELETE FROM fetches WHERE feed_url = ? AND id <= (
                   SELECT id FROM fetches WHERE feed_url = ? ORDER BY id DESC LIMIT 1 OFFSET ?)""",
            (feed.url, feed.url, HISTORY_KEEP),
        )
        return dataclasses.replace(done, feed_url=feed.url)

    def record_articles(
        self,
        feed_url: str,
        articles: Sequence[tuple[Article, Signature | bytes | None]],
        *,
        window_days: int = 3,
    ) -> WriteSummary:
        """Write one chunk of a huge feed's articles in a transaction of its own (the feed's
        state is written by the closing `record_fetch(..., earlier=...)`)."""
        with self._tx() as tx:
            return self._write_articles(tx, feed_url, articles, window_days, None)

    def _write_articles(
        self,
        tx: sqlite3.Connection,
        feed_url: str,
        articles: Sequence[tuple[Article, Signature | bytes | None]],
        window_days: int,
        now_s: str | None,
    ) -> WriteSummary:
        new_ids: list[int] = []
        updated = unchanged = filtered = 0
        if not articles:  # a 304 or an unchanged body: nothing to look up
            return WriteSummary(feed_url=feed_url)
        known = self._known(tx, feed_url, [a for a, _ in articles if not a.filtered])
        for article, sig in articles:
            if article.filtered:
                filtered += self._record_filtered(tx, article, now_s or to_iso(article.fetched_at))
                continue
            outcome, article_id = self._upsert_article(tx, article, sig, window_days, known)
            if outcome == "new":
                new_ids.append(article_id)
            elif outcome == "updated":
                updated += 1
            else:
                unchanged += 1
        known.flush(tx)
        return WriteSummary(
            feed_url=feed_url,
            new=len(new_ids),
            updated=updated,
            unchanged=unchanged,
            filtered=filtered,
            new_ids=tuple(new_ids),
        )

    def _record_filtered(self, tx: sqlite3.Connection, a: Article, now_s: str | None) -> int:
        cur = tx.execute(
            """INSERT OR IGNORE INTO filtered (feed_url, identity, title, url, reason, at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (a.feed_url, a.identity, a.title, a.url, a.filtered, now_s),
        )
        return cur.rowcount

    @staticmethod
    def _article_values(a: Article) -> tuple[Any, ...]:
        """The stored values of `a`, in `_VALUE_COLUMNS` order."""
        return (
            a.feed_url,
            a.identity,
            a.guid,
            a.url,
            a.canonical_url,
            a.title,
            _json(list(a.authors)) if a.authors else "[]",
            _iso(a.published_at),
            _iso(a.updated_at),
            _iso(a.fetched_at),
            a.summary,
            a.content_html,
            a.content_text,
            a.language,
            _json(list(a.tags)) if a.tags else "[]",
            a.image_url,
            _json([{"url": e.url, "type": e.type, "length": e.length} for e in a.enclosures])
            if a.enclosures
            else "[]",
            a.word_count,
            a.content_hash,
            a.date_source,
            a.published_raw,
            _json_extra(dict(a.extra)) if a.extra else "{}",
        )

    def _article_dict(self, a: Article) -> dict[str, Any]:
        return dict(zip(_VALUE_COLUMNS, self._article_values(a), strict=True))

    def _known(self, tx: sqlite3.Connection, feed_url: str, articles: Sequence[Article]) -> _Known:
        """What the store already knows about a batch, in four queries instead of four per
        article."""
        ids = json.dumps([a.identity for a in articles])
        urls = json.dumps(sorted({a.canonical_url for a in articles if a.canonical_url}))
        known = _Known()
        for identity, canonical in tx.execute(
            """SELECT identity, canonical_url FROM tombstones WHERE feed_url = ? AND (
                 identity IN (SELECT value FROM json_each(?))
                 OR canonical_url IN (SELECT value FROM json_each(?)))""",
            (feed_url, ids, urls),
        ):
            known.tombstones.add(identity)
            if canonical:
                known.tombstones.add(canonical)
        for identity, article_id, content_hash in tx.execute(
            """SELECT identity, article_id, content_hash FROM article_sources
               WHERE feed_url = ? AND identity IN (SELECT value FROM json_each(?))""",
            (feed_url, ids),
        ):
            known.by_identity[identity] = (article_id, content_hash)
        for canonical, article_id, content_hash in tx.execute(
            """SELECT canonical_url, article_id, content_hash FROM article_sources
               WHERE feed_url = ? AND canonical_url IN (SELECT value FROM json_each(?))""",
            (feed_url, urls),
        ):
            known.same_feed_url.setdefault(canonical, (article_id, content_hash))
        for canonical, article_id, words in tx.execute(
            """SELECT canonical_url, id, word_count FROM articles
               WHERE canonical_url IN (SELECT value FROM json_each(?)) ORDER BY id DESC""",
            (urls,),
        ):
            known.any_url[canonical] = (article_id, words)  # the lowest id wins
        return known

    def _upsert_article(
        self,
        tx: sqlite3.Connection,
        a: Article,
        sig: Signature | bytes | _Prepared | None,
        window_days: int,
        known: _Known,
    ) -> tuple[str, int]:
        """new | updated | unchanged, and the article id. See README "Dedup rules"."""
        now_s = _iso(a.fetched_at)
        url = a.canonical_url
        if a.identity in known.tombstones or (url and url in known.tombstones):
            return "unchanged", 0  # pruned on purpose: it must not come back
        src = known.by_identity.get(a.identity)
        if src is None and url and url in known.same_feed_url:
            # guids that change on every fetch while the link stays: same feed, same canonical
            # URL -> the same article under a new identity (Miniflux/FreshRSS would duplicate)
            src = known.same_feed_url[url]
            known.add_source(a, src[0], now_s)
        if src is not None:
            article_id, old_hash = src
            if old_hash == a.content_hash:
                known.touched.append((now_s, a.feed_url, a.identity))
                return "unchanged", int(article_id)
            # a revision: update in place (the primary copy only if this feed owns it)
            known.write_pending(tx)  # the article may be one of this batch's
            known.by_identity[a.identity] = (article_id, a.content_hash)
            tx.execute(
                """UPDATE article_sources SET content_hash = ?, last_seen_at = ?, url = ?,
                   canonical_url = ? WHERE feed_url = ? AND identity = ?""",
                (a.content_hash, now_s, a.url, url, a.feed_url, a.identity),
            )
            values = self._article_dict(a)
            owner = tx.execute(
                "SELECT feed_url FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
            if owner and owner[0] == a.feed_url:
                for key in ("feed_url", "identity"):
                    values.pop(key)
                sets = ", ".join(f"{k} = :{k}" for k in values)
                tx.execute(
                    f"UPDATE articles SET {sets}, revisions = revisions + 1 WHERE id = :id",
                    {**values, "id": article_id},
                )
            return "updated", int(article_id)

        if url and url in known.any_url:
            # the same canonical URL from another feed: one article, one more source
            article_id, words = known.any_url[url]
            known.add_source(a, article_id, now_s)
            if a.word_count > words * FULLER_COPY:
                # a fuller copy of the same URL (full text after a summary-only feed):
                # the article keeps its id and first feed, and gets the better text
                # (a stored article: a queued one has its URL in same_feed_url too; the
                # queue is written first all the same, as before any update of articles)
                known.write_pending(tx)
                self._update_text(tx, article_id, a)
                known.any_url[url] = (article_id, a.word_count)
                return "updated", article_id
            return "unchanged", article_id

        # the id is known before the insert (this transaction is the only writer), so the
        # story is decided first and the row is written once, with the batch's others
        if known.next_id == 0:
            known.next_id = tx.execute(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0) + 1"
            ).fetchone()[0]
        article_id = known.next_id
        known.next_id += 1
        story_id = self._assign_story(tx, a, article_id, sig, window_days, known)
        row = sig.values if isinstance(sig, _Prepared) else self._article_values(a)
        known.new_articles.append((*row, now_s, article_id, story_id))
        if not self._DEFER_WRITES:
            known.write_pending(tx)
        known.add_source(a, article_id, now_s)
        if url:
            known.any_url.setdefault(url, (article_id, a.word_count))
            known.same_feed_url.setdefault(url, (article_id, a.content_hash))
        return "new", article_id

    def _update_text(self, tx: sqlite3.Connection, article_id: int, a: Article) -> None:
        values = self._article_dict(a)
        keep = (
            "title",
            "summary",
            "content_html",
            "content_text",
            "word_count",
            "image_url",
            "authors",
            "language",
        )
        sets = ", ".join(f"{k} = :{k}" for k in keep)
        tx.execute(
            f"UPDATE articles SET {sets}, revisions = revisions + 1 WHERE id = :id",
            {**{k: values[k] for k in keep}, "id": article_id},
        )

    def _assign_story(
        self,
        tx: sqlite3.Connection,
        a: Article,
        article_id: int,
        sig: Signature | bytes | _Prepared | None,
        window_days: int,
        known: _Known,
    ) -> int:
        """Decide the story of a new article (before its row is written); returns its id.
        A new story takes the id of its first article.

        The rows it decides are queued in `known` and written with the batch's others. A
        lookup sees the store as if they had been written at once: the queue is written
        first when the article shares a band key with a queued one (only then can a queued
        article be a candidate), and before a story is joined (its row and representative
        are read and updated). Only a shared key lets a queued article be found: the index
        rows are all `candidates` reads."""
        from ingest.dedupe import candidate_since, decide
        from ingest.stories import CANDIDATES, Signature, band_keys, min_shared_keys
        from storage import story_index

        blob = b""
        keys: Sequence[int] = ()
        if isinstance(sig, _Prepared):  # keys computed before the write lock (`prepare`)
            blob, keys = sig.blob, sig.keys
            sig = Signature.from_bytes(blob)
        elif sig is not None:  # serialized, as the pipeline carries it (see `pipeline.signed`)
            sig, blob = Signature.with_bytes(sig)
            keys = band_keys(sig)
        when = a.published_at or a.fetched_at
        cands: list[Candidate] = []
        if sig is not None:
            if not known.pending_keys.isdisjoint(keys):
                known.write_index(tx)
            since = candidate_since(when, window_days)
            cands = story_index.candidates(tx, keys, since, CANDIDATES, min_shared_keys(sig))
        decision = decide(article_id, sig, cands, published_at=when)
        self._apply_story(tx, decision, a, article_id, known)
        if sig is not None:  # queued serialized: a few hundred may wait for the batch
            known.new_index.append((article_id, decision.story_id, when, blob, keys))
            known.pending_keys.update(keys)
        return decision.story_id

    def _apply_story(
        self,
        tx: sqlite3.Connection,
        d: StoryDecision,
        a: Article,
        article_id: int,
        known: _Known,
    ) -> None:
        """Write a story decision for the new article `article_id` (whose row is queued)."""
        now_s = _iso(a.fetched_at)
        if d.founds:
            known.new_stories.append((d.story_id, article_id, now_s, now_s))
            known.new_links.append((article_id, d.story_id, "self", None, None, None))
            return
        known.write_pending(tx)
        if d.fold:
            self._fold_stories(tx, d.story_id, d.fold, article_id, now_s)
        known.new_links.append(
            (article_id, d.story_id, d.level, d.score, d.reason, d.matched_article_id)
        )
        tx.execute(
            "UPDATE stories SET n_articles = n_articles + 1, updated_at = ? WHERE id = ?",
            (now_s, d.story_id),
        )
        self._maybe_promote(tx, d.story_id, article_id, a)

    def _fold_stories(
        self,
        tx: sqlite3.Connection,
        into: int,
        gone: Sequence[int],
        article_id: int,
        now_s: str | None,
    ) -> None:
        """A new article is a copy (by body containment) of articles in several stories: the
        duplicate relation is transitive, so they are one story. The oldest (lowest id) keeps
        its id; each other one is folded into it, and `story_merges` records where it went
        (downstream tools that kept its id follow it, possibly over several merges). The
        representative is elected again over the whole story."""
        for old in gone:
            # the index rows first, found through the articles (story_sig has no story index)
            tx.execute(
                """UPDATE story_sig SET story_id = ? WHERE article_id IN
                   (SELECT id FROM articles WHERE story_id = ?)""",
                (into, old),
            )
            tx.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", (into, old))
            tx.execute("UPDATE story_links SET story_id = ? WHERE story_id = ?", (into, old))
            tx.execute(
                """UPDATE story_links SET level = 'merged', reason = 'story merged into ' || ?
                   WHERE article_id = ? AND level = 'self'""",
                (into, old),
            )
            tx.execute(
                """INSERT OR REPLACE INTO story_merges (story_id, into_story_id, article_id,
                   at, reason) VALUES (?, ?, ?, ?, ?)""",
                (old, into, article_id, now_s, "a new article is a copy of both"),
            )
            # earlier merges into the folded story now lead to the kept one directly
            tx.execute(
                "UPDATE story_merges SET into_story_id = ? WHERE into_story_id = ?", (into, old)
            )
            tx.execute("DELETE FROM stories WHERE id = ?", (old,))
        tx.execute(
            f"""UPDATE stories SET updated_at = ?,
                  first_seen_at = (SELECT MIN(first_seen_at) FROM articles a
                                   WHERE a.story_id = stories.id),
                  n_articles = (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id),
                  representative_id = {_ELECT}
                WHERE id = ?""",
            (now_s, FULL_TEXT_WORDS, into),
        )

    def _maybe_promote(
        self, tx: sqlite3.Connection, story_id: int, article_id: int, a: Article
    ) -> None:
        """The representative: the earliest full-text article (>= FULL_TEXT_WORDS words);
        without one, the earliest article. Ties go to the lower id."""
        row = tx.execute(
            """SELECT a.id, a.word_count, COALESCE(a.published_at, a.first_seen_at)
               FROM stories s JOIN articles a ON a.id = s.representative_id WHERE s.id = ?""",
            (story_id,),
        ).fetchone()
        if row is None:
            return
        new = (a.word_count, _iso(a.published_at or a.fetched_at), article_id)
        if better_representative(new, (row[1], row[2], row[0])):
            tx.execute(
                "UPDATE stories SET representative_id = ? WHERE id = ?", (article_id, story_id)
            )

    def _update_feed_state(
        self,
        tx: sqlite3.Connection,
        feed: Feed,
        result: FetchResult,
        decision: ScheduleDecision,
        parsed: ParsedFeed | None,
        articles: Sequence[tuple[Article, Signature | bytes | None]],
        error: Exception | None,
        now_s: str | None,
        owner: str,
        *,
        new_count: int,
        known_count: int,
    ) -> None:
        status = "ok"
        if error is not None:
            status = "gone" if isinstance(error, GoneError) else "error"
        fields: dict[str, Any] = {
            "status": status,
            "last_attempt_at": now_s,
            "last_attempt_ms": int(time.time() * 1000),
            "last_http_status": result.status,
            "next_poll_at": to_iso(decision.next_poll_at),
            "interval_s": decision.interval_s,
            "schedule_reason": decision.reason,
            "lease_owner": None,
            "lease_until": None,
            "last_run": run_token(owner),
        }
        if error is not None:
            fields["last_error"] = str(error)
            fields["error_kind"] = error.kind if isinstance(error, FeedError) else "error"
            fields["error_count"] = feed.error_count + 1
        else:
            fields.update(
                last_error=None,
                error_kind=None,
                error_count=0,
                last_fetched_at=now_s,
                last_new_count=new_count if articles else feed.last_new_count,
                last_known_count=known_count if articles else feed.last_known_count,
            )
            if (
                result.etag is not None
                or result.last_modified is not None
                or not result.not_modified
            ):
                fields["etag"] = result.etag
                fields["last_modified"] = result.last_modified
            if result.body_hash:
                fields["body_hash"] = result.body_hash
            if articles:  # the posting rhythm: publication times of recent entries
                times = [
                    a.published_at
                    for a, _ in articles
                    if a.published_at and a.date_source == "feed"
                ]
                stamps = {to_iso(t) for t in (*times, *feed.recent_entry_times)}
                recent = sorted((t for t in stamps if t), reverse=True)[:RECENT_TIMES_KEEP]
                fields["recent_entry_times"] = json.dumps(recent)
            if parsed is not None:
                fields["last_warning"] = parsed.bozo  # recovered from, e.g. not well-formed XML
                if parsed.title and not feed.title:
                    fields["title"] = parsed.title
        if result.permanent_redirect and result.permanent_redirect != feed.url:
            self._move_feed(tx, feed.url, result.permanent_redirect)
            feed_url = result.permanent_redirect
        else:
            feed_url = feed.url
        sets = ", ".join(f"{k} = ?" for k in fields)
        tx.execute(f"UPDATE feeds SET {sets} WHERE url = ?", [*fields.values(), feed_url])

    def _move_feed(self, tx: sqlite3.Connection, old: str, new: str) -> None:
        """301/308: the feed lives at `new` from now on. If `new` is already a feed, the old
        entry is folded into it."""
        if tx.execute("SELECT 1 FROM feeds WHERE url = ?", (new,)).fetchone():
            tx.execute("DELETE FROM feeds WHERE url = ?", (old,))
            return
        tx.execute(
            "UPDATE feeds SET url = ?, moved_from = ?, host_key = ? WHERE url = ?",
            (new, old, host_key(new), old),
        )

    def index_pending(self) -> int:
        """Add the articles stored since the last call to the full-text index, in one
        statement. Returns how many were indexed."""
        with self._tx() as tx:
            done = tx.execute("SELECT value FROM meta WHERE key = 'fts_indexed_id'").fetchone()[0]
            top = tx.execute("SELECT COALESCE(MAX(id), 0) FROM articles").fetchone()[0]
            if top <= done:
                return 0
            cur = tx.execute(
                """INSERT INTO articles_fts (rowid, title, summary, content_text)
                   SELECT id, title, summary, content_text FROM articles WHERE id > ? AND id <= ?""",
                (done, top),
            )
            tx.execute("UPDATE meta SET value = ? WHERE key = 'fts_indexed_id'", (top,))
            return int(cur.rowcount)

    # ------------------------------------------------------------------ retention

    def prune(self, older_than: datetime, *, dry_run: bool = False) -> int:
        """Delete articles published (else first seen) before `older_than`. Each feed item
        that carried them leaves a tombstone, so a feed that still lists an old item does not
        bring it back (FreshRSS #3571). Returns how many articles went (or would go)."""
        from storage import story_index

        cutoff = to_iso(older_than)
        where = "COALESCE(published_at, first_seen_at) < ?"
        if dry_run:
            row = self.conn.execute(f"SELECT COUNT(*) FROM articles WHERE {where}", (cutoff,))
            return int(row.fetchone()[0])
        now_s = to_iso(datetime.now().astimezone())
        with self._tx() as tx:
            ids = [r[0] for r in tx.execute(f"SELECT id FROM articles WHERE {where}", (cutoff,))]
            for article_id in ids:
                tx.execute(
                    """INSERT OR REPLACE INTO tombstones (feed_url, identity, canonical_url,
                       deleted_at) SELECT feed_url, identity, canonical_url, ?
                       FROM article_sources WHERE article_id = ?""",
                    (now_s, article_id),
                )
                story_index.remove(tx, article_id)
                tx.execute("DELETE FROM article_sources WHERE article_id = ?", (article_id,))
                tx.execute("DELETE FROM story_links WHERE article_id = ?", (article_id,))
                tx.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            # stories: drop the empty ones, re-elect representatives that were pruned
            tx.execute("DELETE FROM stories WHERE id NOT IN (SELECT story_id FROM articles "
                       "WHERE story_id IS NOT NULL)")  # fmt: skip
            tx.execute(
                f"""UPDATE stories SET
                     n_articles = (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id),
                     representative_id = {_ELECT}
                   WHERE representative_id NOT IN (SELECT id FROM articles)
                      OR n_articles != (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id)""",
                (FULL_TEXT_WORDS,),
            )
        return len(ids)

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _record(row: dict[str, Any]) -> dict[str, Any]:
        out = {k: row[k] for k in ARTICLE_FIELDS}
        for key in _JSON_FIELDS:
            out[key] = json.loads(out[key]) if out[key] else []
        return out

    def articles(
        self,
        *,
        since_id: int = 0,
        feed_url: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Article records in id order (streamed: constant memory however many rows)."""
        where: list[str] = ["id > ?"]
        params: list[Any] = [since_id]
        if feed_url:
            where.append(
                "(feed_url = ? OR id IN (SELECT article_id FROM article_sources WHERE feed_url = ?))"
            )
            params += [feed_url, feed_url]
        if since:
            where.append("COALESCE(published_at, fetched_at) >= ?")
            params.append(to_iso(since))
        sql = (
            f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE {' AND '.join(where)} "
            f"ORDER BY id {'DESC' if newest_first else 'ASC'}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # a separate read connection so a long export never blocks writers (WAL snapshot)
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
        try:
            cur = reader.execute(sql, params)
            names = [d[0] for d in cur.description]
            while batch := cur.fetchmany(500):
                for row in batch:
                    yield self._record(dict(zip(names, row, strict=True)))
        finally:
            reader.close()

    def sources(self, article_id: int) -> list[dict[str, Any]]:
        return self._rows(
            """SELECT feed_url, url, first_seen_at FROM article_sources WHERE article_id = ?
               ORDER BY first_seen_at, feed_url""",
            (article_id,),
        )

    def search(self, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """FTS5 query syntax; a query that is not valid FTS5 (plain text with hyphens or a
        stray quote) is searched as its words instead."""
        sql = f"""SELECT a.id, a.title, a.url, a.published_at, a.feed_url,
                      snippet(articles_fts, 2, '[', ']', '…', 12) AS snippet
                  FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                  WHERE articles_fts MATCH ? ORDER BY rank LIMIT {int(limit)}"""
        if not query.strip():
            raise StoreError("empty search query")
        self.index_pending()
        try:
            return self._rows(sql, (query,))
        except sqlite3.OperationalError:
            words = " ".join('"' + w.replace('"', '""') + '"' for w in query.split())
            return self._rows(sql, (words,))

    def stories(
        self, *, since: datetime | None = None, min_sources: int = 1, limit: int = 50
    ) -> list[dict[str, Any]]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if since:
            where.append("s.first_seen_at >= ?")
            params.append(to_iso(since))
        stories = self._rows(
            f"""SELECT * FROM (
                  SELECT s.id AS story_id, r.title, r.url, s.first_seen_at, s.n_articles,
                     (SELECT COUNT(*) FROM article_sources src JOIN articles a
                        ON a.id = src.article_id WHERE a.story_id = s.id) AS n_sources
                  FROM stories s JOIN articles r ON r.id = s.representative_id
                  WHERE {" AND ".join(where)})
                WHERE n_sources >= ?
                ORDER BY first_seen_at DESC, story_id DESC LIMIT {int(limit)}""",
            [*params, min_sources],
        )
        for story in stories:
            story["sources"] = self._rows(
                """SELECT a.id AS article_id, src.feed_url, f.title AS feed_title, src.url,
                       src.first_seen_at, l.level, l.score, l.reason
                   FROM articles a JOIN article_sources src ON src.article_id = a.id
                   LEFT JOIN story_links l ON l.article_id = a.id
                   LEFT JOIN feeds f ON f.url = src.feed_url
                   WHERE a.story_id = ? ORDER BY a.id, src.first_seen_at, src.feed_url""",
                (story["story_id"],),
            )
            seen: set[int] = set()
            for source in story["sources"]:
                # the outlet: the carrying feed's title, else its host
                source["outlet"] = source.pop("feed_title") or _outlet(source["feed_url"])
                if source["article_id"] in seen:  # another feed carrying the same URL
                    source.update(level="same_url", score=1.0, reason="same canonical URL")
                seen.add(source["article_id"])
        return stories

    def fetch_history(self, url: str, *, limit: int = 10) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT * FROM fetches WHERE feed_url = ? ORDER BY id DESC LIMIT {int(limit)}", (url,)
        )

    def filtered(self, feed_url: str | None = None) -> list[dict[str, Any]]:
        if feed_url:
            return self._rows("SELECT * FROM filtered WHERE feed_url = ? ORDER BY id", (feed_url,))
        return self._rows("SELECT * FROM filtered ORDER BY id")

    def stats(self) -> dict[str, Any]:
        def one(sql: str) -> Any:
            return self.conn.execute(sql).fetchone()[0]

        by_status = dict(
            self.conn.execute("SELECT status, COUNT(*) FROM feeds GROUP BY status").fetchall()
        )
        return {
            "feeds": one("SELECT COUNT(*) FROM feeds"),
            "feeds_by_status": {
                s: by_status.get(s, 0) for s in ("ok", "error", "gone", "disabled")
            },
            "articles": one("SELECT COUNT(*) FROM articles"),
            "sources": one("SELECT COUNT(*) FROM article_sources"),
            "stories": one("SELECT COUNT(*) FROM stories"),
            "multi_source_stories": one(
                "SELECT COUNT(*) FROM (SELECT story_id FROM articles GROUP BY story_id HAVING COUNT(*) > 1)"
            ),
            "filtered": one("SELECT COUNT(*) FROM filtered"),
            "last_article_id": one("SELECT COALESCE(MAX(id), 0) FROM articles"),
            "last_fetched_at": one("SELECT MAX(last_fetched_at) FROM feeds"),
            "db_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }
