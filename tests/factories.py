"""Builders for records used by store and pipeline tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from ingest.dedupe import signature
from ingest.models import Article, FetchResult, ScheduleDecision
from storage import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def article(feed_url: str = "https://a.example/feed", identity: str = "g1", **kw: Any) -> Article:
    base = Article(
        feed_url=feed_url,
        identity=identity,
        guid=identity,
        url=f"https://a.example/{identity}",
        canonical_url=f"https://a.example/{identity}",
        title=f"Title {identity}",
        authors=("Jo Writer",),
        published_at=NOW,
        updated_at=None,
        fetched_at=NOW,
        summary="A summary.",
        content_html=f"<p>Body of {identity}.</p>",
        content_text=f"Body of {identity}.",
        language="en",
        tags=("news",),
        image_url=None,
        enclosures=(),
        word_count=3,
        content_hash=f"hash-{identity}",
    )
    return dataclasses.replace(base, **kw)


def ok_result(url: str, **kw: Any) -> FetchResult:
    values: dict[str, Any] = {
        "url": url,
        "final_url": url,
        "status": 200,
        "body": b"<rss/>",
        "body_hash": "b1",
        "etag": '"e1"',
        "fetched_at": NOW,
    }
    values.update(kw)
    return FetchResult(**values)


def decision(seconds: int = 3600, reason: str = "test") -> ScheduleDecision:
    from datetime import timedelta

    return ScheduleDecision(
        next_poll_at=NOW + timedelta(seconds=seconds), interval_s=seconds, reason=reason
    )


def claim(store: Store, owner: str = "me", **kw: object) -> list[str]:
    """The URLs `store` leases to `owner` at NOW (600 s leases, up to 100 feeds)."""
    args: dict[str, object] = {"now": NOW, "owner": owner, "lease_s": 600, "limit": 100}
    args.update(kw)
    return [f.url for f in store.claim_feeds(**args)]  # type: ignore[arg-type]


def record(store: Store, url: str, *arts: object, **kw: object) -> object:
    """One fetch of `url` storing `arts` (each signed), as the pipeline writes it."""
    feed = store.get_feed(url)
    assert feed is not None
    pairs = [(a, signature(a.title, a.content_text)) for a in arts]  # type: ignore[attr-defined]
    return store.record_fetch(
        feed,
        kw.pop("result", ok_result(url)),
        decision(),
        owner=kw.pop("owner", "me"),  # type: ignore[arg-type]
        articles=pairs,
        **kw,
    )  # type: ignore[arg-type]
