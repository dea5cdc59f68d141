"""Typed reads on SQLite (`Reader`): records, search (FTS5), stories, history, stats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime

from ingest.errors import SearchSyntaxError, StoreError
from ingest.models import (
    ArticleRecord,
    FeedState,
    FetchRecord,
    FilteredItem,
    SearchHit,
    StoreStats,
    StoryView,
    Tombstone,
)
from storage._query import (
    Dialect,
    articles_query,
    store_stats,
    stories_query,
    story_sources_query,
)
from storage.common import article_record, feed_state_record, story_view
from storage.fts_query import any_words, plain_words

from .writes import SQLiteWrites

__all__ = ["SQLiteReads"]

# an article (alias {a}) tagged with {tag} (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_each({a}.tags) t WHERE lower(t.value) = lower({tag}))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_each(tf.tags) t WHERE ts.article_id = {a}.id AND lower(t.value) = lower({tag})))"""
_SQLITE = Dialect(
    param=":{}",
    any_of="{column} IN (SELECT value FROM json_each({param}))",
    list_value=json.dumps,
    tagged=_TAGGED,
    # the indexed articles only (`index_pending`), so a cursor never passes one not indexed yet
    text_match="id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH {query}) "
    "AND id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id')",
)


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
        sql, params = articles_query(
            _SQLITE,
            since_id=since_id,
            feed_url=feed_url,
            since=since,
            limit=limit,
            newest_first=newest_first,
            ids=ids,
            tag=tag,
            language=language,
            query=query,
        )
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
                params["query"] = words
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
        sql, params = stories_query(
            _SQLITE, since=since, min_sources=min_sources, limit=limit, story_id=story_id, tag=tag
        )
        out = []
        for story in self._rows(sql, params):
            sources = self._rows(*story_sources_query(_SQLITE, story["story_id"]))
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
        return store_stats(
            lambda sql: self.conn.execute(sql).fetchall(),
            db_bytes=self.path.stat().st_size if self.path.exists() else 0,
        )
