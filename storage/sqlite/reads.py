"""Typed reads on SQLite (`Reader`): records, search (FTS5), stories, history, stats."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ingest.errors import SearchSyntaxError, StoreError
from ingest.models import (
    ARTICLE_FIELDS,
    ArticleRecord,
    FeedState,
    FetchRecord,
    FilteredItem,
    SearchHit,
    StoreStats,
    StoryView,
    Tombstone,
)
from ingest.timeutil import to_iso
from storage.common import article_record, feed_state_record, story_view
from storage.fts_query import any_words, plain_words

from .writes import SQLiteWrites

__all__ = ["SQLiteReads"]

# an article (alias {a}) tagged with ? (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_each({a}.tags) t WHERE lower(t.value) = lower(?))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_each(tf.tags) t WHERE ts.article_id = {a}.id AND lower(t.value) = lower(?)))"""


class SQLiteReads(SQLiteWrites):
    """`Reader` on SQLite (over the writes: a search first indexes what was written)."""

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
        """Article records in id order (streamed: constant memory however many rows).
        `query`: FTS5 over the indexed articles only (`index_pending`), so that a cursor
        never passes an article not indexed yet; text FTS5 rejects is searched as its words."""
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
        if ids is not None:
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            params += [int(i) for i in ids]
        if tag is not None:
            where.append(_TAGGED.format(a="articles"))
            params += [tag, tag]
        if language is not None:
            where.append("lower(language) = lower(?)")
            params.append(language)
        if query is not None:
            if not query.strip():
                raise StoreError("empty search query")
            where.append(
                "id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?) "
                "AND id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id')"
            )
            params.append(query)
        sql = (
            f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE {' AND '.join(where)} "
            f"ORDER BY id {'DESC' if newest_first else 'ASC'}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # a separate read connection so a long export never blocks writers (WAL snapshot)
        reader = sqlite3.connect(self._reader_uri, uri=True, timeout=30.0)
        reader.text_factory = self.conn.text_factory
        try:
            try:
                cur = reader.execute(sql, params)
            except sqlite3.OperationalError:
                words = None if query is None else any_words(query)
                if words is None:
                    if query is None:
                        raise
                    return
                params[-1] = words
                cur = reader.execute(sql, params)
            while batch := cur.fetchmany(500):
                for row in batch:
                    yield article_record(row)
        finally:
            reader.close()

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """FTS5 query syntax; plain text that is not valid FTS5 (hyphens, dots) is searched
        as its words; an FTS5 query with a mistake raises SearchSyntaxError (`fts_query`)."""
        sql = f"""SELECT a.id, a.title, a.url, a.published_at, a.feed_url,
                      snippet(articles_fts, 2, '[', ']', '…', 12) AS snippet
                  FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                  WHERE articles_fts MATCH ? ORDER BY rank LIMIT {int(limit)}"""
        if not query.strip():
            raise StoreError("empty search query")
        if not self.read_only:
            self.index_pending()
        try:
            rows = self.conn.execute(sql, (query,)).fetchall()
        except sqlite3.OperationalError as exc:
            words = plain_words(query)
            if words is None:
                raise SearchSyntaxError(query, str(exc)) from None
            rows = self.conn.execute(sql, (words,)).fetchall()
        return [SearchHit(*row) for row in rows]

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_sources: int = 1,
        limit: int = 50,
        story_id: int | None = None,
        tag: str | None = None,
    ) -> list[StoryView]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if since:
            where.append("s.first_seen_at >= ?")
            params.append(to_iso(since))
        if story_id is not None:
            where.append("s.id = ?")
            params.append(story_id)
        if tag is not None:
            tagged = _TAGGED.format(a="a")
            where.append(f"EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id AND {tagged})")
            params += [tag, tag]
        stories = self._rows(
            f"""SELECT * FROM (
                  SELECT s.id AS story_id, r.title, r.url, s.first_seen_at, s.n_articles,
                     s.representative_id,
                     (SELECT COUNT(*) FROM article_sources src JOIN articles a
                        ON a.id = src.article_id WHERE a.story_id = s.id) AS n_sources
                  FROM stories s JOIN articles r ON r.id = s.representative_id
                  WHERE {" AND ".join(where)})
                WHERE n_sources >= ?
                ORDER BY first_seen_at DESC, story_id DESC LIMIT {int(limit)}""",
            [*params, min_sources],
        )
        out = []
        for story in stories:
            sources = self._rows(
                """SELECT a.id AS article_id, src.feed_url, f.title AS feed_title, src.url,
                       src.first_seen_at, l.level, l.score, l.reason, a.duplicate_of
                   FROM articles a JOIN article_sources src ON src.article_id = a.id
                   LEFT JOIN story_links l ON l.article_id = a.id
                   LEFT JOIN feeds f ON f.url = src.feed_url
                   WHERE a.story_id = ? ORDER BY a.id, src.first_seen_at, src.feed_url""",
                (story["story_id"],),
            )
            out.append(story_view(story, sources))
        return out

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[Tombstone]]:
        """How many tombstones (of `feed_url`) there are, and the newest `limit` of them."""
        where, params = ("WHERE feed_url = ?", [feed_url]) if feed_url else ("", [])
        total = self.conn.execute(f"SELECT COUNT(*) FROM tombstones {where}", params)
        rows = self._rows(
            f"""SELECT feed_url, identity, canonical_url, deleted_at FROM tombstones {where}
                ORDER BY deleted_at DESC, feed_url, identity LIMIT ?""",
            [*params, -1 if limit is None else limit],
        )
        return int(total.fetchone()[0]), [Tombstone(**r) for r in rows]

    def feed_states(self) -> list[FeedState]:
        return [feed_state_record(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def fetch_history(self, url: str, *, limit: int = 10) -> list[FetchRecord]:
        rows = self._rows(
            f"SELECT * FROM fetches WHERE feed_url = ? ORDER BY id DESC LIMIT {int(limit)}", (url,)
        )
        return [FetchRecord(**r) for r in rows]

    def filtered(self, feed_url: str | None = None) -> list[FilteredItem]:
        if feed_url:
            rows = self._rows("SELECT * FROM filtered WHERE feed_url = ? ORDER BY id", (feed_url,))
        else:
            rows = self._rows("SELECT * FROM filtered ORDER BY id")
        return [FilteredItem(**r) for r in rows]

    def stats(self) -> StoreStats:
        def one(sql: str) -> Any:
            return self.conn.execute(sql).fetchone()[0]

        by_status = dict(
            self.conn.execute("SELECT status, COUNT(*) FROM feeds GROUP BY status").fetchall()
        )
        return StoreStats(
            feeds=one("SELECT COUNT(*) FROM feeds"),
            feeds_by_status={s: by_status.get(s, 0) for s in ("ok", "error", "gone", "disabled")},
            articles=one("SELECT COUNT(*) FROM articles"),
            sources=one("SELECT COUNT(*) FROM article_sources"),
            stories=one("SELECT COUNT(*) FROM stories"),
            multi_source_stories=one(
                "SELECT COUNT(*) FROM (SELECT story_id FROM articles GROUP BY story_id HAVING COUNT(*) > 1)"
            ),
            filtered=one("SELECT COUNT(*) FROM filtered"),
            last_article_id=one("SELECT COALESCE(MAX(id), 0) FROM articles"),
            last_fetched_at=one("SELECT MAX(last_fetched_at) FROM feeds"),
            db_bytes=self.path.stat().st_size if self.path.exists() else 0,
        )
