"""Typed reads on PostgreSQL (`Reader`). Search is `websearch_to_tsquery` over the
`articles.search` vector (README "Searching")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ingest.errors import StoreError
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
from storage.sqlite_guard import STORY_CHECKS

from .writes import PgWrites

__all__ = ["PgReads"]

# an article (alias {a}) tagged with {tag} (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_array_elements_text({a}.tags::json) AS t(v)
        WHERE lower(t.v) = lower({tag}))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_array_elements_text(tf.tags::json) AS t(v)
        WHERE ts.article_id = {a}.id AND lower(t.v) = lower({tag})))"""
_PG = Dialect(
    param="%({})s",
    any_of="{column} = ANY({param})",
    list_value=list,
    tagged=_TAGGED,
    text_match="search @@ websearch_to_tsquery('simple', {query})",
    text_value=lambda q: q.replace("\x00", " "),  # PostgreSQL text holds no NUL
)


class PgReads(PgWrites):
    """`Reader` on PostgreSQL."""

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
        """Article records in id order, streamed through a server-side cursor. `query` is
        web-search syntax, as `search` (every article is indexed as it is written)."""
        sql, params = articles_query(
            _PG,
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
        with self.conn.transaction(), self.conn.cursor(name="ingest_articles") as cur:
            cur.itersize = 500
            cur.execute(sql.encode(), params)
            for row in cur:
                yield article_record(row)

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Web-search syntax: words (all must match), "a phrase", `or`, `-word`."""
        if not query.strip():
            raise StoreError("empty search query")
        rows = self.conn.execute(
            f"""SELECT a.id, a.title, a.url, a.published_at, a.feed_url,
                   ts_headline('simple', a.content_text, q, 'StartSel=[, StopSel=],
                       MaxWords=12, MinWords=4, ShortWord=2, FragmentDelimiter=…')
               FROM articles a, websearch_to_tsquery('simple', %s) AS q
               WHERE a.search @@ q ORDER BY ts_rank(a.search, q) DESC, a.id LIMIT {int(limit)}""",
            (query,),
        ).fetchall()
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
            _PG, since=since, min_sources=min_sources, limit=limit, story_id=story_id, tag=tag
        )
        out = []
        for story in self._rows(sql, params):
            sources = self._rows(*story_sources_query(_PG, story["story_id"]))
            out.append(story_view(story, sources))
        return out

    def feed_states(self) -> list[FeedState]:
        return [feed_state_record(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def fetch_history(self, url: str, *, limit: int = 10) -> list[FetchRecord]:
        rows = self._rows(
            f"SELECT * FROM fetches WHERE feed_url = %s ORDER BY id DESC LIMIT {int(limit)}",
            (url,),
        )
        return [FetchRecord(**r) for r in rows]

    def filtered(self, feed_url: str | None = None) -> list[FilteredItem]:
        if feed_url:
            rows = self._rows("SELECT * FROM filtered WHERE feed_url = %s ORDER BY id", (feed_url,))
        else:
            rows = self._rows("SELECT * FROM filtered ORDER BY id")
        return [FilteredItem(**r) for r in rows]

    def check(self) -> list[str]:
        """The story index's invariants, as on SQLite (`sqlite_guard.STORY_CHECKS`); the
        server keeps its own files and foreign keys sound."""
        problems: list[str] = []
        for sql, what in STORY_CHECKS:
            problems += [what.format(*row) for row in self.conn.execute(sql + " LIMIT 100")]
        return problems

    def stats(self) -> StoreStats:
        def rows(sql: str) -> list[tuple[Any, ...]]:
            return self.conn.execute(sql.encode()).fetchall()

        return store_stats(rows, db_bytes=rows("SELECT pg_database_size(current_database())")[0][0])

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[Tombstone]]:
        params = {"feed": feed_url}
        cond = "%(feed)s::text IS NULL OR feed_url = %(feed)s"
        total = self.conn.execute(f"SELECT COUNT(*) FROM tombstones WHERE {cond}", params)
        one = total.fetchone()
        rows = self._rows(
            f"""SELECT feed_url, identity, canonical_url, deleted_at FROM tombstones
                WHERE {cond} ORDER BY deleted_at DESC, feed_url, identity
                LIMIT {"ALL" if limit is None else int(limit)}""",
            params,
        )
        return (int(one[0]) if one else 0), [Tombstone(**r) for r in rows]
