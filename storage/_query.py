"""The read queries both backends write alike, assembled once: each backend passes its
`Dialect` (placeholders, list parameters, tag and full-text conditions) and runs the
(sql, params) it gets back. Named parameters throughout (`:name` on SQLite, `%(name)s` on
PostgreSQL), so that a condition reads the same whatever else is in the query."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.errors import StoreError
from ingest.models import ARTICLE_FIELDS, StoreStats
from ingest.timeutil import to_iso

__all__ = ["Dialect", "articles_query", "store_stats", "stories_query", "story_sources_query"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one backend's SQL says its own way in the shared queries."""

    #: a named parameter: "{}" -> ":{}" / "%({})s"
    param: str
    #: `column` is one of the list parameter `param`'s values
    any_of: str
    #: a Python list as that list parameter's value (JSON text / a list)
    list_value: Callable[[list[Any]], Any]
    #: an article (alias `{a}`) tagged with `{tag}` (any case): its own tags or a carrying
    #: feed's (json_each / json_array_elements_text)
    tagged: str
    #: an article matching the full-text query `{query}` (FTS5 / tsvector)
    text_match: str
    #: the query text as the full-text engine is given it
    text_value: Callable[[str], str] = str

    def p(self, name: str) -> str:
        return self.param.format(name)

    def one_of(self, column: str, name: str) -> str:
        return self.any_of.format(column=column, param=self.p(name))


def articles_query(
    d: Dialect,
    since_id: int,
    feed_url: str | None,
    since: datetime | None,
    limit: int | None,
    newest_first: bool,
    ids: Sequence[int] | None,
    tag: str | None,
    language: str | None,
    query: str | None,
) -> tuple[str, dict[str, Any]]:
    """`Reader.articles`' SELECT of `ARTICLE_FIELDS` and its parameters (the arguments in
    its order; the full-text query, when given, is the parameter "query"). Raises
    StoreError for an empty query."""
    where = [f"id > {d.p('since_id')}"]
    params: dict[str, Any] = {"since_id": since_id}
    if feed_url:
        where.append(
            f"(feed_url = {d.p('feed')} OR id IN"
            f" (SELECT article_id FROM article_sources WHERE feed_url = {d.p('feed')}))"
        )
        params["feed"] = feed_url
    if since:
        where.append(f"COALESCE(published_at, fetched_at) >= {d.p('since')}")
        params["since"] = to_iso(since)
    if ids is not None:
        where.append(d.one_of("id", "ids"))
        params["ids"] = d.list_value([int(i) for i in ids])
    if tag is not None:
        where.append(d.tagged.format(a="articles", tag=d.p("tag")))
        params["tag"] = tag
    if language is not None:
        where.append(f"lower(language) = lower({d.p('language')})")
        params["language"] = language
    if query is not None:
        if not query.strip():
            raise StoreError("empty search query")
        where.append(d.text_match.format(query=d.p("query")))
        params["query"] = d.text_value(query)
    sql = (
        f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE {' AND '.join(where)} "
        f"ORDER BY id {'DESC' if newest_first else 'ASC'}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, params


def stories_query(
    d: Dialect,
    *,
    since: datetime | None,
    min_sources: int,
    limit: int,
    story_id: int | None,
    tag: str | None,
) -> tuple[str, dict[str, Any]]:
    """`Reader.stories`' SELECT of story rows (as `common.story_view` reads them), newest
    first; each story's sources are `story_sources_query`'s."""
    where = ["1 = 1"]
    params: dict[str, Any] = {"min": min_sources}
    if since:
        where.append(f"s.first_seen_at >= {d.p('since')}")
        params["since"] = to_iso(since)
    if story_id is not None:
        where.append(f"s.id = {d.p('story')}")
        params["story"] = story_id
    if tag is not None:
        tagged = d.tagged.format(a="a", tag=d.p("tag"))
        where.append(f"EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id AND {tagged})")
        params["tag"] = tag
    sql = f"""SELECT * FROM (
                  SELECT s.id AS story_id, r.title, r.url, s.first_seen_at, s.n_articles,
                     s.representative_id,
                     (SELECT COUNT(*) FROM article_sources src JOIN articles a
                        ON a.id = src.article_id WHERE a.story_id = s.id) AS n_sources
                  FROM stories s JOIN articles r ON r.id = s.representative_id
                  WHERE {" AND ".join(where)}) AS x
                WHERE n_sources >= {d.p("min")}
                ORDER BY first_seen_at DESC, story_id DESC LIMIT {int(limit)}"""
    return sql, params


def story_sources_query(d: Dialect, story_id: int) -> tuple[str, dict[str, Any]]:
    """One story's source rows (as `common.story_view` reads them)."""
    sql = f"""SELECT a.id AS article_id, src.feed_url, f.title AS feed_title, src.url,
                  src.first_seen_at, l.level, l.score, l.reason
              FROM articles a JOIN article_sources src ON src.article_id = a.id
              LEFT JOIN story_links l ON l.article_id = a.id
              LEFT JOIN feeds f ON f.url = src.feed_url
              WHERE a.story_id = {d.p("story")} ORDER BY a.id, src.first_seen_at, src.feed_url"""
    return sql, {"story": story_id}


def store_stats(rows: Callable[[str], Sequence[Sequence[Any]]], db_bytes: int) -> StoreStats:
    """`Reader.stats`, `rows` running a query (no parameters) and giving its rows."""

    def one(sql: str) -> Any:
        return rows(sql)[0][0]

    by_status = {
        str(s): int(n) for s, n in rows("SELECT status, COUNT(*) FROM feeds GROUP BY status")
    }
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
        db_bytes=db_bytes,
    )
