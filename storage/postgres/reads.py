"""Typed reads on PostgreSQL (`Reader`). Search is `websearch_to_tsquery` over the
`articles.search` vector (README "Searching")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ingest.errors import StoreError
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
from storage.sqlite_guard import STORY_CHECKS

from .writes import PgWrites

__all__ = ["PgReads"]

# an article (alias {a}) tagged with %(tag)s (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_array_elements_text({a}.tags::json) AS t(v)
        WHERE lower(t.v) = lower(%(tag)s))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_array_elements_text(tf.tags::json) AS t(v)
        WHERE ts.article_id = {a}.id AND lower(t.v) = lower(%(tag)s)))"""


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
        where = ["id > %(since_id)s"]
        params: dict[str, Any] = {"since_id": since_id}
        if feed_url:
            where.append(
                "(feed_url = %(feed)s OR id IN"
                " (SELECT article_id FROM article_sources WHERE feed_url = %(feed)s))"
            )
            params["feed"] = feed_url
        if since:
            where.append("COALESCE(published_at, fetched_at) >= %(since)s")
            params["since"] = to_iso(since)
        if ids is not None:
            where.append("id = ANY(%(ids)s)")
            params["ids"] = [int(i) for i in ids]
        if tag is not None:
            where.append(_TAGGED.format(a="articles"))
            params["tag"] = tag
        if language is not None:
            where.append("lower(language) = lower(%(language)s)")
            params["language"] = language
        if query is not None:
            if not query.strip():
                raise StoreError("empty search query")
            where.append("search @@ websearch_to_tsquery('simple', %(query)s)")
            params["query"] = query.replace("\x00", " ")  # PostgreSQL text holds no NUL
        sql = (
            f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE {' AND '.join(where)} "
            f"ORDER BY id {'DESC' if newest_first else 'ASC'}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
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
        where = ["TRUE"]
        params: dict[str, Any] = {"min": min_sources}
        if since:
            where.append("s.first_seen_at >= %(since)s")
            params["since"] = to_iso(since)
        if story_id is not None:
            where.append("s.id = %(story)s")
            params["story"] = story_id
        if tag is not None:
            tagged = _TAGGED.format(a="a")
            where.append(f"EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id AND {tagged})")
            params["tag"] = tag
        stories = self._rows(
            f"""SELECT * FROM (
                  SELECT s.id AS story_id, r.title, r.url, s.first_seen_at, s.n_articles,
                     s.representative_id,
                     (SELECT COUNT(*) FROM article_sources src JOIN articles a
                        ON a.id = src.article_id WHERE a.story_id = s.id) AS n_sources
                  FROM stories s JOIN articles r ON r.id = s.representative_id
                  WHERE {" AND ".join(where)}) AS x
                WHERE n_sources >= %(min)s
                ORDER BY first_seen_at DESC, story_id DESC LIMIT {int(limit)}""",
            params,
        )
        out = []
        for story in stories:
            sources = self._rows(
                """SELECT a.id AS article_id, src.feed_url, f.title AS feed_title, src.url,
                       src.first_seen_at, l.level, l.score, l.reason, a.duplicate_of
                   FROM articles a JOIN article_sources src ON src.article_id = a.id
                   LEFT JOIN story_links l ON l.article_id = a.id
                   LEFT JOIN feeds f ON f.url = src.feed_url
                   WHERE a.story_id = %s ORDER BY a.id, src.first_seen_at, src.feed_url""",
                (story["story_id"],),
            )
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
        def one(sql: str) -> Any:
            row = self.conn.execute(sql.encode()).fetchone()
            return row[0] if row else None

        rows = self.conn.execute("SELECT status, COUNT(*) FROM feeds GROUP BY status")
        by_status: dict[str, int] = {str(s): int(n) for s, n in rows.fetchall()}
        return StoreStats(
            feeds=one("SELECT COUNT(*) FROM feeds"),
            feeds_by_status={s: by_status.get(s, 0) for s in ("ok", "error", "gone", "disabled")},
            articles=one("SELECT COUNT(*) FROM articles"),
            sources=one("SELECT COUNT(*) FROM article_sources"),
            stories=one("SELECT COUNT(*) FROM stories"),
            multi_source_stories=one(
                "SELECT COUNT(*) FROM (SELECT story_id FROM articles GROUP BY story_id"
                " HAVING COUNT(*) > 1) AS m"
            ),
            filtered=one("SELECT COUNT(*) FROM filtered"),
            last_article_id=one("SELECT COALESCE(MAX(id), 0) FROM articles"),
            last_fetched_at=one("SELECT MAX(last_fetched_at) FROM feeds"),
            db_bytes=one("SELECT pg_database_size(current_database())"),
        )

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
