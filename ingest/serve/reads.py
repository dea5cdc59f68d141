"""What the routes read, through the store's public read methods only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage import Store

__all__ = [
    "FEED_FIELDS",
    "article",
    "article_page",
    "feed_health",
    "last_article_id",
    "search",
    "stories",
]

#: a feed's health record (`/api/feeds`, the page's table): as `ingest feeds list --json`
FEED_FIELDS = (
    "url",
    "title",
    "tags",
    "status",
    "last_http_status",
    "last_error",
    "error_kind",
    "last_warning",
    "error_count",
    "last_fetched_at",
    "last_attempt_at",
    "next_poll_at",
    "interval_s",
    "schedule_reason",
)


def article_page(
    store: Store,
    *,
    since_id: int,
    limit: int,
    feed_url: str | None = None,
    tag: str | None = None,
    language: str | None = None,
    since: datetime | None = None,
    query: str | None = None,
) -> dict[str, Any]:
    """Up to `limit` records after `since_id`, in id order, and the cursor for the next page.
    Ids are given out in commit order, so a client that passes `next_since_id` back sees
    every article once, even while a run is writing."""
    items = list(
        store.articles(
            since_id=since_id,
            limit=limit,
            feed_url=feed_url,
            tag=tag,
            language=language,
            since=since,
            query=query,
        )
    )
    return {"items": items, "next_since_id": items[-1]["id"] if items else since_id}


def article(store: Store, article_id: int) -> dict[str, Any] | None:
    return next(store.articles(ids=[article_id]), None)


def search(store: Store, query: str, *, limit: int) -> list[dict[str, Any]]:
    """The newest articles matching `query` (the page's search box)."""
    return list(store.articles(query=query, newest_first=True, limit=limit))


def stories(store: Store, **filters: Any) -> list[dict[str, Any]]:
    """`store.stories(**filters)`, each with its representative's full record."""
    found = store.stories(**filters)
    reps = {r["id"]: r for r in store.articles(ids=[s["representative_id"] for s in found])}
    for story in found:
        story["representative"] = reps.get(story.pop("representative_id"))
    return found


def feed_health(store: Store) -> list[dict[str, Any]]:
    records = []
    for row in store.feed_rows():
        record = {k: row[k] for k in FEED_FIELDS}
        record["tags"] = json.loads(record["tags"] or "[]")
        records.append(record)
    return records


def last_article_id(store: Store) -> int:
    newest = next(store.articles(newest_first=True, limit=1), None)
    return int(newest["id"]) if newest else 0
