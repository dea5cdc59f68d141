"""Writing fetches on SQLite: articles (the rules of `ingest.dedupe.decide_record`),
their sources and stories, the feed's new state and history, in one transaction a batch;
and retention (prune) and the full-text index that follow writes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from ingest.dedupe import Signature, band_keys, decide_record
from ingest.models import (
    Article,
    Feed,
    FetchResult,
    FetchWrite,
    ParsedFeed,
    ScheduleDecision,
    SeenEntry,
    WriteSummary,
)
from ingest.timeutil import to_iso, utcnow
from storage.common import (
    FETCH_COLUMNS,
    FULLER_COLUMNS,
    HISTORY_KEEP,
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

from . import outbox, story_index
from .batch import Known
from .schema import ELECT, FULL_TEXT_WORDS
from .stories import SQLiteStories

__all__ = ["SQLiteWrites"]

_INSERT_FETCH = (
    f"INSERT INTO fetches ({', '.join(FETCH_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(FETCH_COLUMNS))})"
)


class SQLiteWrites(SQLiteStories):
    """`FetchWriter` on SQLite."""

    #: new articles' rows are written per batch (False: each at once; the tests' reference)
    _DEFER_WRITES: ClassVar[bool] = True

    def known_identities(self, feed_url: str, identities: Sequence[str]) -> set[str]:
        cur = self.conn.execute(
            """SELECT identity FROM article_sources WHERE feed_url = ?
               AND identity IN (SELECT value FROM json_each(?))""",
            (feed_url, json.dumps(list(identities))),
        )
        return {r[0] for r in cur.fetchall()}

    def seen_entries(self, feed_url: str) -> dict[str, SeenEntry]:
        """The feed's sources seen in its latest fetch that carried items, by the digest of
        the entry each came from (ingest.entrydigest)."""
        cur = self.conn.execute(
            # INDEXED BY: without statistics (no ANALYZE) SQLite would scan the feed's whole
            # history by the primary key, which grows with every item the feed ever carried
            """SELECT entry_digest, identity, url, canonical_url, content_hash
               FROM article_sources INDEXED BY sources_feed_seen
               WHERE feed_url = ? AND entry_digest IS NOT NULL
               AND last_seen_at = (SELECT MAX(last_seen_at) FROM article_sources
                                   WHERE feed_url = ?)""",
            (feed_url, feed_url),
        )
        return {r[0]: SeenEntry(*r[1:]) for r in cur.fetchall()}

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
        CPU that a writer would otherwise spend holding the lock)."""
        if not fetch.articles:
            return fetch
        out: list[tuple[Article, Any]] = []
        for a, sig in fetch.articles:
            if a.filtered or sig is None or isinstance(sig, Prepared):
                # unsigned: an article the feed carried before (see `pipeline.signed`), whose
                # row values are not written again as they stand
                out.append((a, sig))
                continue
            decoded, blob = Signature.with_bytes(sig)
            out.append((a, Prepared(article_values(a), blob, tuple(band_keys(decoded)))))
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
                except FeedRemovedError:
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
            raise FeedRemovedError(f"{feed.url}: feed was removed while it was being fetched")
        done = self._write_articles(tx, feed.url, articles, window_days, now_s)
        if earlier is not None:
            done = earlier.plus(done)
        new_ids, updated, unchanged = list(done.new_ids), done.updated, done.unchanged
        fields = feed_state(
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
        self._update_feed_state(tx, feed, result, fields)
        tx.execute(
            _INSERT_FETCH,
            fetch_values(
                feed.url, now_s, result, decision, error, new=len(new_ids), updated=updated
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
        pushed: list[tuple[int, str, str]] = []  # for the sinks' outbox
        for article, sig in articles:
            if article.filtered:
                filtered += self._record_filtered(tx, article, now_s or to_iso(article.fetched_at))
                continue
            outcome, article_id = self._upsert_article(tx, article, sig, window_days, known)
            if outcome == "new":
                new_ids.append(article_id)
                pushed.append((article_id, article.content_hash, "new"))
            elif outcome == "updated":
                updated += 1
                pushed.append((article_id, article.content_hash, "revised"))
            else:
                unchanged += 1
        known.flush(tx)
        outbox.queue(tx, pushed, now_s or str(to_iso(utcnow())))
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
            filtered_values(a, now_s),
        )
        return cur.rowcount

    def _known(self, tx: sqlite3.Connection, feed_url: str, articles: Sequence[Article]) -> Known:
        """What the store already knows about a batch, in four queries instead of four per
        article."""
        ids = json.dumps([a.identity for a in articles])
        urls = json.dumps(sorted({a.canonical_url for a in articles if a.canonical_url}))
        known = Known()
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
        sig: Signature | bytes | Prepared | None,
        window_days: int,
        known: Known,
    ) -> tuple[str, int]:
        """new | updated | unchanged, and the article id (the rules: `decide_record`)."""
        now_s = iso(a.fetched_at)
        url = a.canonical_url
        d = decide_record(
            a,
            tombstones=known.tombstones,
            by_identity=known.by_identity,
            same_feed_url=known.same_feed_url,
            any_url=known.any_url,
        )
        if d.action == "tombstoned" or (a.reused and d.action != "unchanged"):
            # (a reused item carries no text: one the store no longer holds as it was,
            # dropped since the pipeline asked, waits for the next poll to be normalized)
            return "unchanged", 0
        if d.new_identity or d.action in ("another_source", "fuller"):
            known.add_source(a, d.article_id, now_s)
        if d.action == "unchanged":
            known.touched.append((now_s, a.url, url, a.entry_digest, a.feed_url, a.identity))
        elif d.action == "revised":
            # updated in place (the primary copy only if this feed owns it); the article
            # may be one of this batch's, so the queue is written first
            known.write_pending(tx)
            known.by_identity[a.identity] = (d.article_id, a.content_hash)
            tx.execute(
                """UPDATE article_sources SET content_hash = ?, last_seen_at = ?, url = ?,
                   canonical_url = ?, entry_digest = ? WHERE feed_url = ? AND identity = ?""",
                (a.content_hash, now_s, a.url, url, a.entry_digest, a.feed_url, a.identity),
            )
            owner = tx.execute(
                "SELECT feed_url FROM articles WHERE id = ?", (d.article_id,)
            ).fetchone()
            if owner and owner[0] == a.feed_url:
                values = revised_values(a)
                sets = ", ".join(f"{k} = :{k}" for k in values)
                tx.execute(
                    f"UPDATE articles SET {sets}, revisions = revisions + 1 WHERE id = :id",
                    {**values, "id": d.article_id},
                )
        elif d.action == "fuller" and url:
            # the article keeps its id and first feed, and gets the better text (a stored
            # article; the queue is written first all the same, as before any update)
            known.write_pending(tx)
            self._update_text(tx, d.article_id, a)
            known.any_url[url] = (d.article_id, a.word_count)
        if d.action != "new":
            return d.outcome, d.article_id

        # the id is known before the insert (this transaction is the only writer), so the
        # story is decided first and the row is written once, with the batch's others
        if known.next_id == 0:
            known.next_id = tx.execute(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0) + 1"
            ).fetchone()[0]
        article_id = known.next_id
        known.next_id += 1
        story = self._assign_story(tx, a, article_id, sig, window_days, known)
        row = sig.values if isinstance(sig, Prepared) else article_values(a)
        known.new_articles.append((*row, now_s, article_id, story.story_id, story.duplicate_of))
        if not self._DEFER_WRITES:
            known.write_pending(tx)
        known.add_source(a, article_id, now_s)
        if url:
            known.any_url.setdefault(url, (article_id, a.word_count))
            known.same_feed_url.setdefault(url, (article_id, a.content_hash))
        return "new", article_id

    def _update_text(self, tx: sqlite3.Connection, article_id: int, a: Article) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in FULLER_COLUMNS)
        tx.execute(
            f"UPDATE articles SET {sets}, revisions = revisions + 1 WHERE id = :id",
            {**fuller_values(a), "id": article_id},
        )

    def _update_feed_state(
        self,
        tx: sqlite3.Connection,
        feed: Feed,
        result: FetchResult,
        fields: dict[str, Any],
    ) -> None:
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
            repoint_pruned_copies(tx, "?")
            # stories: drop the empty ones, re-elect representatives that were pruned
            tx.execute("DELETE FROM stories WHERE id NOT IN (SELECT story_id FROM articles "
                       "WHERE story_id IS NOT NULL)")  # fmt: skip
            tx.execute(
                f"""UPDATE stories SET
                     n_articles = (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id),
                     representative_id = {ELECT}
                   WHERE representative_id NOT IN (SELECT id FROM articles)
                      OR n_articles != (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id)""",
                (FULL_TEXT_WORDS,),
            )
        return len(ids)

    def prune_plan(self, older_than: datetime) -> list[tuple[str, int]]:
        """What `prune(older_than)` would delete: (feed URL, articles), most first."""
        cur = self.conn.execute(
            """SELECT feed_url, COUNT(*) AS n FROM articles
               WHERE COALESCE(published_at, first_seen_at) < ?
               GROUP BY feed_url ORDER BY n DESC, feed_url""",
            (to_iso(older_than),),
        )
        return [(str(r[0]), int(r[1])) for r in cur.fetchall()]

    def unprune(self, *, feed_url: str | None = None, since: datetime | None = None) -> int:
        """Lift tombstones (of `feed_url`, made since `since`): their items come back when
        their feeds list them. Those feeds are due now and fetched without validators, so
        a 304 or an unchanged body does not hide what they still carry."""
        where: list[str] = ["1 = 1"]
        params: list[str | None] = []
        if feed_url:
            where.append("feed_url = ?")
            params.append(feed_url)
        if since:
            where.append("deleted_at >= ?")
            params.append(to_iso(since))
        cond = " AND ".join(where)
        with self._tx() as tx:
            tx.execute(
                f"""UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL,
                    next_poll_at = NULL, schedule_reason = 'tombstones lifted'
                    WHERE url IN (SELECT DISTINCT feed_url FROM tombstones WHERE {cond})""",
                params,
            )
            return int(tx.execute(f"DELETE FROM tombstones WHERE {cond}", params).rowcount)
