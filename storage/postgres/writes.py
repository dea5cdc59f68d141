"""Writing fetches on PostgreSQL: articles (the rules of `ingest.dedupe.decide_record`),
sources, stories, the feed's state and history, in one transaction a batch; and prune.

Many workers write at once. Each transaction first takes advisory locks (ascending, in one
statement) on what its decisions read and another writer could change meanwhile: its feeds
(a doubled batch then finds the first one's rows: nothing is stored twice), its canonical
URLs (one article per URL across feeds) and its new articles' band keys (two copies of one
story decide one after the other: the second finds the first as a candidate). New article
ids are taken under one more lock, held to commit (see `_new_id`). A deadlock among row locks
is retried."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from ingest.dedupe import decide_record
from ingest.dedupe.story import FULL_TEXT_WORDS
from ingest.errors import StoreError
from ingest.models import (
    Article,
    Feed,
    FetchResult,
    FetchWrite,
    ParsedFeed,
    ScheduleDecision,
    WriteSummary,
)
from ingest.stories import Signature
from ingest.timeutil import to_iso, utcnow
from storage.common import (
    FETCH_COLUMNS,
    FULLER_COLUMNS,
    HISTORY_KEEP,
    VALUE_COLUMNS,
    FeedRemovedError,
    Prepared,
    article_values,
    feed_state,
    fetch_values,
    filtered_values,
    fuller_values,
    host_key,
    iso,
    revised_values,
)
from storage.story_state import repoint_pruned_copies

from . import outbox
from .base import Conn, lock_key
from .schema import ARTICLE_ID_LOCK
from .stories import ELECT, PgStories
from .story_index import PgStoryIndex, keys_of

__all__ = ["PgWrites"]

RETRIES = 5  # a transaction chosen as a deadlock victim is run again this often
Sig = Signature | bytes | Prepared | None
_INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(VALUE_COLUMNS)}, first_seen_at, id, story_id,"
    f" duplicate_of) VALUES ({', '.join(['%s'] * (len(VALUE_COLUMNS) + 4))})"
)
_INSERT_FETCH = (
    f"INSERT INTO fetches ({', '.join(FETCH_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(FETCH_COLUMNS))})"
)


@dataclass(slots=True)
class _Known:
    """What the store knows of a batch's articles, kept current while it is written."""

    tombstones: set[str] = field(default_factory=set)
    by_identity: dict[str, tuple[int, str]] = field(default_factory=dict)
    same_feed_url: dict[str, tuple[int, str]] = field(default_factory=dict)
    any_url: dict[str, tuple[int, int]] = field(default_factory=dict)


def _signed(sig: Sig) -> tuple[Signature | None, bytes, Sequence[int]]:
    if isinstance(sig, Prepared):
        return Signature.from_bytes(sig.blob), sig.blob, sig.keys
    if sig is None:
        return None, b"", ()
    return keys_of(sig)


def _lock_keys(feed_urls: Sequence[str], articles: Sequence[tuple[Article, Sig]]) -> set[int]:
    """The advisory locks a write takes (see the module's docstring)."""
    keys = {lock_key("feed", url) for url in feed_urls}
    for a, sig in articles:
        if a.canonical_url:
            keys.add(lock_key("url", a.canonical_url))
        if not a.filtered:
            keys.update(_signed(sig)[2])
    return keys


class PgWrites(PgStories):
    """`FetchWriter` on PostgreSQL."""

    _next_id: int | None = None  # the next new article's id, in a transaction that numbers

    def known_identities(self, feed_url: str, identities: Sequence[str]) -> set[str]:
        rows = self.conn.execute(
            "SELECT identity FROM article_sources WHERE feed_url = %s AND identity = ANY(%s)",
            (feed_url, list(identities)),
        ).fetchall()
        return {r[0] for r in rows}

    def prepare(self, fetch: FetchWrite) -> FetchWrite:
        """`fetch` with each kept article's row values and band keys computed."""
        out: list[tuple[Article, Any]] = []
        for a, sig in fetch.articles:
            if a.filtered or sig is None or isinstance(sig, Prepared):
                out.append((a, sig))
                continue
            _, blob, keys = keys_of(sig)
            out.append((a, Prepared(article_values(a), blob, tuple(keys))))
        return dataclasses.replace(fetch, articles=out)

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
        w = FetchWrite(feed, result, decision, parsed, articles, window_days)
        keys = _lock_keys([feed.url], articles)
        return self._with_retry(
            keys, lambda tx: [self._record_fetch(tx, w, owner, error=error, earlier=earlier)]
        )[0]

    def record_fetches(self, fetches: Sequence[FetchWrite], *, owner: str) -> list[WriteSummary]:
        def write(tx: Conn) -> list[WriteSummary]:
            out = []
            for w in fetches:
                try:
                    with tx.transaction():  # a savepoint: a removed feed is skipped alone
                        out.append(self._record_fetch(tx, w, owner))
                except FeedRemovedError:
                    out.append(WriteSummary(feed_url=w.feed.url))
            return out

        keys = _lock_keys([w.feed.url for w in fetches], [x for w in fetches for x in w.articles])
        return self._with_retry(keys, write)

    def try_record_fetches(
        self, fetches: Sequence[FetchWrite], *, owner: str
    ) -> list[WriteSummary] | None:
        """Never None: writers do not queue for one lock here (they wait only on the
        advisory locks of what they share)."""
        return self.record_fetches(fetches, owner=owner)

    def record_articles(
        self,
        feed_url: str,
        articles: Sequence[tuple[Article, Signature | bytes | None]],
        *,
        window_days: int = 3,
    ) -> WriteSummary:
        keys = _lock_keys([feed_url], articles)
        return self._with_retry(
            keys, lambda tx: [self._write_articles(tx, feed_url, articles, window_days, None)]
        )[0]

    def _with_retry(
        self, keys: set[int], write: Callable[[Conn], list[WriteSummary]]
    ) -> list[WriteSummary]:
        """`write` in one transaction holding the advisory locks `keys`; run again when
        chosen as a deadlock's victim."""
        for attempt in range(RETRIES):
            try:
                # pipelined: statements whose results are not read go out without waiting
                # for each other's round trip (a new article is a dozen of them)
                self._next_id = None
                with self._tx() as tx, tx.pipeline():
                    self.lock(tx, keys)
                    done = write(tx)
                    if self._next_id is not None:
                        tx.execute(
                            "SELECT setval(pg_get_serial_sequence('articles', 'id'), %s, false)",
                            (self._next_id,),
                        )
                    return done
            except psycopg.errors.DeadlockDetected:
                if attempt == RETRIES - 1:
                    raise StoreError(f"{self.where}: a write lost {RETRIES} deadlocks") from None
        raise AssertionError("unreachable")

    def _record_fetch(
        self,
        tx: Conn,
        w: FetchWrite,
        owner: str,
        *,
        error: Exception | None = None,
        earlier: WriteSummary | None = None,
    ) -> WriteSummary:
        feed, result, decision = w.feed, w.result, w.decision
        error = error or result.error
        now_s = to_iso(result.fetched_at or decision.next_poll_at)
        row = tx.execute("SELECT 1 FROM feeds WHERE url = %s FOR UPDATE", (feed.url,)).fetchone()
        if row is None:
            raise FeedRemovedError(f"{feed.url}: feed was removed while it was being fetched")
        done = self._write_articles(tx, feed.url, w.articles, w.window_days, now_s)
        if earlier is not None:
            done = earlier.plus(done)
        fields = feed_state(
            feed, result, decision, w.parsed, w.articles, error, now_s, owner,
            new_count=len(done.new_ids), known_count=done.updated + done.unchanged,
        )  # fmt: skip
        feed_url = feed.url
        if result.permanent_redirect and result.permanent_redirect != feed.url:
            feed_url = result.permanent_redirect
            self._move_feed(tx, feed.url, feed_url)
        sets = ", ".join(f"{k} = %s" for k in fields)
        tx.execute(f"UPDATE feeds SET {sets} WHERE url = %s".encode(), [*fields.values(), feed_url])
        tx.execute(
            _INSERT_FETCH,
            fetch_values(
                feed.url, now_s, result, decision, error,
                new=len(done.new_ids), updated=done.updated,
            ),
        )  # fmt: skip
        tx.execute(
            """DELETE FROM fetches WHERE feed_url = %s AND id <= (
                   SELECT id FROM fetches WHERE feed_url = %s ORDER BY id DESC
                   LIMIT 1 OFFSET %s)""",
            (feed.url, feed.url, HISTORY_KEEP),
        )
        return dataclasses.replace(done, feed_url=feed.url)

    def _move_feed(self, tx: Conn, old: str, new: str) -> None:
        """301/308: the feed lives at `new` from now on (folded into it if it exists)."""
        if tx.execute("SELECT 1 FROM feeds WHERE url = %s", (new,)).fetchone():
            tx.execute("DELETE FROM feeds WHERE url = %s", (old,))
            return
        tx.execute(
            "UPDATE feeds SET url = %s, moved_from = %s, host_key = %s WHERE url = %s",
            (new, old, host_key(new), old),
        )

    def _known(self, tx: Conn, feed_url: str, articles: Sequence[Article]) -> _Known:
        ids = [a.identity for a in articles]
        urls = sorted({a.canonical_url for a in articles if a.canonical_url})
        known = _Known()
        for identity, canonical in tx.execute(
            """SELECT identity, canonical_url FROM tombstones WHERE feed_url = %s
               AND (identity = ANY(%s) OR canonical_url = ANY(%s))""",
            (feed_url, ids, urls),
        ):
            known.tombstones.add(identity)
            if canonical:
                known.tombstones.add(canonical)
        for identity, aid, content_hash in tx.execute(
            """SELECT identity, article_id, content_hash FROM article_sources
               WHERE feed_url = %s AND identity = ANY(%s)""",
            (feed_url, ids),
        ):
            known.by_identity[identity] = (int(aid), content_hash)
        for canonical, aid, content_hash in tx.execute(
            """SELECT canonical_url, article_id, content_hash FROM article_sources
               WHERE feed_url = %s AND canonical_url = ANY(%s)""",
            (feed_url, urls),
        ):
            known.same_feed_url.setdefault(canonical, (int(aid), content_hash))
        for canonical, aid, words in tx.execute(
            """SELECT canonical_url, id, word_count FROM articles
               WHERE canonical_url = ANY(%s) ORDER BY id DESC""",
            (urls,),
        ):
            known.any_url[canonical] = (int(aid), int(words))  # the lowest id wins
        return known

    def _write_articles(
        self,
        tx: Conn,
        feed_url: str,
        articles: Sequence[tuple[Article, Sig]],
        window_days: int,
        now_s: str | None,
    ) -> WriteSummary:
        if not articles:
            return WriteSummary(feed_url=feed_url)
        known = self._known(tx, feed_url, [a for a, _ in articles if not a.filtered])
        new_ids: list[int] = []
        counts = {"updated": 0, "unchanged": 0}
        filtered = 0
        pushed: list[tuple[int, str, str]] = []  # for the sinks' outbox
        for a, sig in articles:
            if a.filtered:
                stored = tx.execute(
                    """INSERT INTO filtered (feed_url, identity, title, url, reason, at)
                       VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1""",
                    filtered_values(a, now_s),
                ).fetchone()
                filtered += stored is not None
                continue
            outcome, article_id = self._upsert(tx, a, sig, window_days, known)
            if outcome == "new":
                new_ids.append(article_id)
                pushed.append((article_id, a.content_hash, "new"))
            else:
                counts[outcome] += 1
                if outcome == "updated":
                    pushed.append((article_id, a.content_hash, "revised"))
        outbox.queue(tx, pushed, now_s or str(to_iso(utcnow())))
        return WriteSummary(
            feed_url=feed_url,
            new=len(new_ids),
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            filtered=filtered,
            new_ids=tuple(new_ids),
        )

    def _add_source(self, tx: Conn, a: Article, article_id: int, now_s: str | None) -> None:
        tx.execute(
            """INSERT INTO article_sources (feed_url, identity, article_id, url, canonical_url,
               content_hash, first_seen_at, last_seen_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (a.feed_url, a.identity, article_id, a.url, a.canonical_url, a.content_hash,
             now_s, now_s),
        )  # fmt: skip

    def _upsert(
        self, tx: Conn, a: Article, sig: Sig, window_days: int, known: _Known
    ) -> tuple[str, int]:
        """new | updated | unchanged, and the article id."""
        now_s = iso(a.fetched_at)
        url = a.canonical_url
        d = decide_record(
            a,
            tombstones=known.tombstones,
            by_identity=known.by_identity,
            same_feed_url=known.same_feed_url,
            any_url=known.any_url,
        )
        if d.action == "tombstoned":
            return "unchanged", 0
        if d.new_identity or d.action in ("another_source", "fuller"):
            self._add_source(tx, a, d.article_id, now_s)
            known.by_identity.setdefault(a.identity, (d.article_id, a.content_hash))
        if d.action == "unchanged":
            tx.execute(
                """UPDATE article_sources SET last_seen_at = %s
                   WHERE feed_url = %s AND identity = %s""",
                (now_s, a.feed_url, a.identity),
            )
        elif d.action == "revised":
            known.by_identity[a.identity] = (d.article_id, a.content_hash)
            tx.execute(
                """UPDATE article_sources SET content_hash = %s, last_seen_at = %s, url = %s,
                   canonical_url = %s WHERE feed_url = %s AND identity = %s""",
                (a.content_hash, now_s, a.url, url, a.feed_url, a.identity),
            )
            values = revised_values(a)
            sets = ", ".join(f"{k} = %({k})s" for k in values)
            tx.execute(
                f"""UPDATE articles SET {sets}, revisions = revisions + 1
                    WHERE id = %(id)s AND feed_url = %(feed)s""".encode(),
                {**values, "id": d.article_id, "feed": a.feed_url},
            )
        elif d.action == "fuller" and url:
            sets = ", ".join(f"{k} = %({k})s" for k in FULLER_COLUMNS)
            tx.execute(
                f"UPDATE articles SET {sets}, revisions = revisions + 1 WHERE id = %(id)s".encode(),
                {**fuller_values(a), "id": d.article_id},
            )
            known.any_url[url] = (d.article_id, a.word_count)
        if d.action != "new":
            return d.outcome, d.article_id

        article_id = self._new_id(tx)
        decoded, blob, keys = _signed(sig)
        story = self._decide_story(tx, a, article_id, decoded, keys, window_days)
        self._apply_story_before(tx, story, article_id, now_s or "")
        row_values = sig.values if isinstance(sig, Prepared) else article_values(a)
        tx.execute(
            _INSERT_ARTICLE,
            (*row_values, now_s, article_id, story.story_id, story.duplicate_of),
        )
        self._apply_story_after(tx, story, a, article_id, now_s or "")
        if decoded is not None:
            when = a.published_at or a.fetched_at
            PgStoryIndex(tx).add_many([(article_id, story.story_id, when, blob, keys)])
        self._add_source(tx, a, article_id, now_s)
        known.by_identity.setdefault(a.identity, (article_id, a.content_hash))
        if url:
            known.any_url.setdefault(url, (article_id, a.word_count))
            known.same_feed_url.setdefault(url, (article_id, a.content_hash))
        return "new", article_id

    def _new_id(self, tx: Conn) -> int:
        """The id of a new article. New articles are numbered by one transaction at a time,
        holding the lock to its commit: ids then become visible in order, and a downstream
        cursor (`articles --since-id`) never passes an id that a slower writer commits
        later. Holding it, the transaction counts on from the sequence's next value and
        moves the sequence past what it used before it commits (one round trip in all)."""
        if self._next_id is None:
            tx.execute("SELECT pg_advisory_xact_lock(%s, %s)", ARTICLE_ID_LOCK)
            row = tx.execute("SELECT nextval(pg_get_serial_sequence('articles', 'id'))").fetchone()
            self._next_id = int(row[0]) if row else 1
        article_id = self._next_id
        self._next_id += 1
        return article_id

    def index_pending(self) -> int:
        """Nothing to do: the search vector is a generated column, current at every write."""
        return 0

    def prune(self, older_than: datetime, *, dry_run: bool = False) -> int:
        """As SQLite's: old articles go, tombstones stay, stories are re-elected."""
        cutoff = to_iso(older_than)
        where = "COALESCE(published_at, first_seen_at) < %s"
        if dry_run:
            row = self.conn.execute(f"SELECT COUNT(*) FROM articles WHERE {where}", (cutoff,))
            one = row.fetchone()
            return int(one[0]) if one else 0
        now_s = to_iso(datetime.now().astimezone())
        with self._tx() as tx:
            ids = [int(r[0]) for r in tx.execute(
                f"SELECT id FROM articles WHERE {where} FOR UPDATE", (cutoff,))]  # fmt: skip
            tx.execute(
                """INSERT INTO tombstones (feed_url, identity, canonical_url, deleted_at)
                   SELECT feed_url, identity, canonical_url, %s FROM article_sources
                   WHERE article_id = ANY(%s)
                   ON CONFLICT (feed_url, identity) DO UPDATE SET
                   canonical_url = EXCLUDED.canonical_url, deleted_at = EXCLUDED.deleted_at""",
                (now_s, ids),
            )
            tx.execute("DELETE FROM story_band WHERE article_id = ANY(%s)", (ids,))
            tx.execute("DELETE FROM story_sig WHERE article_id = ANY(%s)", (ids,))
            tx.execute("DELETE FROM article_sources WHERE article_id = ANY(%s)", (ids,))
            tx.execute("DELETE FROM story_links WHERE article_id = ANY(%s)", (ids,))
            tx.execute("DELETE FROM articles WHERE id = ANY(%s)", (ids,))
            repoint_pruned_copies(tx, "%s")
            tx.execute(
                "DELETE FROM stories WHERE NOT EXISTS"
                " (SELECT 1 FROM articles a WHERE a.story_id = stories.id)"
            )
            tx.execute(
                f"""UPDATE stories SET
                     n_articles = (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id),
                     representative_id = {ELECT}
                   WHERE representative_id NOT IN (SELECT id FROM articles)
                      OR n_articles != (SELECT COUNT(*) FROM articles a
                                        WHERE a.story_id = stories.id)""",
                {"full": FULL_TEXT_WORDS},
            )
        return len(ids)

    def prune_plan(self, older_than: datetime) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            """SELECT feed_url, COUNT(*) AS n FROM articles
               WHERE COALESCE(published_at, first_seen_at) < %s
               GROUP BY feed_url ORDER BY n DESC, feed_url""",
            (to_iso(older_than),),
        ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    def unprune(self, *, feed_url: str | None = None, since: datetime | None = None) -> int:
        """As SQLite's: the tombstones go, their feeds are due now without validators."""
        cond = """(%(feed)s::text IS NULL OR feed_url = %(feed)s)
                  AND (%(since)s::text IS NULL OR deleted_at >= %(since)s)"""
        params = {"feed": feed_url, "since": to_iso(since)}
        with self._tx() as tx:
            tx.execute(
                f"""UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL,
                    next_poll_at = NULL, schedule_reason = 'tombstones lifted'
                    WHERE url IN (SELECT DISTINCT feed_url FROM tombstones WHERE {cond})""",
                params,
            )
            return int(tx.execute(f"DELETE FROM tombstones WHERE {cond}", params).rowcount)
