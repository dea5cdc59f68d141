"""The reads both backends run alike, over the queries of `storage._query`: a backend's
reads class puts `SharedReads` first among its bases (its feeds class `SharedFeedReads`),
sets `DIALECT` and gives `_article_rows` (how it streams a long SELECT) and `_db_bytes`;
`_rows` is its base's."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ingest.models import (
    ArticleRecord,
    Feed,
    FeedState,
    FetchRecord,
    FilteredItem,
    StoreStats,
    StoryView,
)
from ingest.timeutil import from_iso, to_iso
from storage._query import (
    Dialect,
    articles_query,
    store_stats,
    stories_query,
    story_sources_query,
)
from storage.common import article_record, feed_from_row, feed_state_record, story_view

__all__ = ["SharedFeedReads", "SharedReads"]


class _Backend:
    """What a backend gives the shared reads: its dialect, and `_rows` (a query's rows as
    dicts, from its base class)."""

    DIALECT: ClassVar[Dialect]

    if TYPE_CHECKING:

        def _rows(
            self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
        ) -> list[dict[str, Any]]: ...


class SharedFeedReads(_Backend):
    """feed_source, get_feed, feeds, next_due_at, due_count, due_urls."""

    def feed_source(self, url: str) -> str | None:
        """Where a feed came from: config, cli or opml (None: no such feed)."""
        rows = self._rows(
            f"SELECT source FROM feeds WHERE url = {self.DIALECT.p('url')}", {"url": url}
        )
        return str(rows[0]["source"]) if rows else None

    def get_feed(self, url: str) -> Feed | None:
        rows = self._rows(f"SELECT * FROM feeds WHERE url = {self.DIALECT.p('url')}", {"url": url})
        return feed_from_row(rows[0]) if rows else None

    def feeds(self) -> list[Feed]:
        return [feed_from_row(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def next_due_at(self) -> datetime | None:
        rows = self._rows(
            """SELECT MIN(COALESCE(next_poll_at, '1970-01-01T00:00:00Z')) AS due FROM feeds
               WHERE status IN ('ok', 'error')"""
        )
        return from_iso(rows[0]["due"]) if rows else None

    def _due(self, what: str, now: datetime, every: bool, tail: str = "") -> list[dict[str, Any]]:
        p = self.DIALECT.p
        return self._rows(
            f"""SELECT {what} FROM feeds WHERE status IN ('ok', 'error')
                AND ({p("every")} OR next_poll_at IS NULL OR next_poll_at <= {p("now")}) {tail}""",
            {"every": every, "now": to_iso(now)},
        )

    def due_count(self, now: datetime, *, every: bool = False) -> int:
        """Active feeds due at `now` (every active feed with `every`)."""
        return int(self._due("COUNT(*) AS n", now, every)[0]["n"])

    def due_urls(self, now: datetime, *, every: bool = False) -> list[str]:
        """The feeds `due_count` counts."""
        return [str(r["url"]) for r in self._due("url", now, every, "ORDER BY url")]


class SharedReads(_Backend):
    """articles, stories, feed_states, fetch_history, filtered, stats."""

    if TYPE_CHECKING:

        def _article_rows(
            self, sql: str, params: dict[str, Any], query: str | None
        ) -> Generator[Sequence[Any]]: ...

        def _db_bytes(self) -> int: ...

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
        """Article records in id order, streamed (constant memory however many rows).
        `query` is the backend's search syntax (FTS5 over the articles indexed so far on
        SQLite, web search on PostgreSQL; see `search`)."""
        sql, params = articles_query(
            self.DIALECT, since_id, feed_url, since, limit, newest_first, ids, tag, language, query
        )
        rows = self._article_rows(sql, params, query)
        try:
            for row in rows:
                yield article_record(row)
        finally:
            rows.close()  # at once: a reader stopping early frees the connection / cursor

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_sources: int = 1,
        limit: int = 50,
        story_id: int | None = None,
        tag: str | None = None,
    ) -> list[StoryView]:
        d = self.DIALECT
        sql, params = stories_query(
            d, since=since, min_sources=min_sources, limit=limit, story_id=story_id, tag=tag
        )
        return [
            story_view(story, self._rows(*story_sources_query(d, story["story_id"])))
            for story in self._rows(sql, params)
        ]

    def feed_states(self) -> list[FeedState]:
        return [feed_state_record(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def fetch_history(self, url: str, *, limit: int = 10) -> list[FetchRecord]:
        rows = self._rows(
            f"SELECT * FROM fetches WHERE feed_url = {self.DIALECT.p('url')}"
            f" ORDER BY id DESC LIMIT {int(limit)}",
            {"url": url},
        )
        return [FetchRecord(**r) for r in rows]

    def filtered(self, feed_url: str | None = None) -> list[FilteredItem]:
        if feed_url:
            rows = self._rows(
                f"SELECT * FROM filtered WHERE feed_url = {self.DIALECT.p('feed')} ORDER BY id",
                {"feed": feed_url},
            )
        else:
            rows = self._rows("SELECT * FROM filtered ORDER BY id")
        return [FilteredItem(**r) for r in rows]

    def stats(self) -> StoreStats:
        return store_stats(
            lambda sql: [tuple(r.values()) for r in self._rows(sql)], db_bytes=self._db_bytes()
        )
