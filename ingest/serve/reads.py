"""What the routes read, through the store's public read methods only: the store's typed
records (ingest.models), and their JSON form for the API (`as_dict`, the JSONL export's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.models import ArticleRecord, FeedState, StoryView
from storage import Store

__all__ = [
    "FEED_FIELDS",
    "ArticlePage",
    "ServedStory",
    "article",
    "article_page",
    "feed_health",
    "health_record",
    "last_article_id",
    "search",
    "stories",
]

#: a feed's health record (`/api/feeds`): as `ingest feeds list --json`, less the lease and origin
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


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """Up to a page of records after a cursor, and the cursor for the next page."""

    items: Sequence[ArticleRecord]
    next_since_id: int

    def as_dict(self) -> dict[str, Any]:
        return {"items": [r.as_dict() for r in self.items], "next_since_id": self.next_since_id}


@dataclass(frozen=True, slots=True)
class ServedStory:
    """A story and its representative's full record (None: pruned meanwhile)."""

    view: StoryView
    representative: ArticleRecord | None

    def as_dict(self) -> dict[str, Any]:
        record = self.view.as_dict()
        record["representative"] = self.representative.as_dict() if self.representative else None
        return record


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
) -> ArticlePage:
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
    return ArticlePage(items, items[-1].id if items else since_id)


def article(store: Store, article_id: int) -> ArticleRecord | None:
    return next(store.articles(ids=[article_id]), None)


def search(store: Store, query: str, *, limit: int) -> list[ArticleRecord]:
    """The newest articles matching `query` (the page's search box)."""
    return list(store.articles(query=query, newest_first=True, limit=limit))


def stories(store: Store, **filters: Any) -> list[ServedStory]:
    """`store.stories(**filters)`, each with its representative's full record."""
    found = store.stories(**filters)
    reps = {r.id: r for r in store.articles(ids=[s.representative_id for s in found])}
    return [ServedStory(s, reps.get(s.representative_id)) for s in found]


def feed_health(store: Store) -> list[FeedState]:
    return store.feed_states()


def health_record(feed: FeedState) -> dict[str, Any]:
    """A feed's `FEED_FIELDS`, as JSON has them."""
    record = feed.as_dict()
    return {k: record[k] for k in FEED_FIELDS}


def last_article_id(store: Store) -> int:
    newest = next(store.articles(newest_first=True, limit=1), None)
    return newest.id if newest else 0
