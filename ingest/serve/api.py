"""The JSON read API: /api/articles, /api/stories, /api/feeds and /healthz."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from . import reads
from .params import NOT_FOUND, Id, MinSources, Since, SinceId, Tag
from .schemas import Article, ArticlePage, FeedHealth, Health, Story
from .stores import store_for

__all__ = ["router"]

router = APIRouter()


@router.get("/api/articles", response_model=ArticlePage, tags=["articles"])
def list_articles(
    request: Request,
    since_id: SinceId = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    feed: Annotated[str | None, Query(min_length=1, description="A carrying feed's URL.")] = None,
    tag: Tag = None,
    language: Annotated[str | None, Query(min_length=1, max_length=35)] = None,
    since: Since = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            pattern=r"\S",
            description="Full-text search: FTS5 syntax on SQLite (plain words otherwise), "
            "web-search syntax on PostgreSQL.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Article records in id order after `since_id` (the JSONL export's records). Page on by
    passing `next_since_id` back as `since_id` until `items` is empty."""
    return reads.article_page(
        store_for(request),
        since_id=since_id,
        limit=limit,
        feed_url=feed,
        tag=tag,
        language=language,
        since=since,
        query=q,
    ).as_dict()


@router.get(
    "/api/articles/{article_id}", response_model=Article, responses=NOT_FOUND, tags=["articles"]
)
def get_article(request: Request, article_id: Id) -> dict[str, Any]:
    record = reads.article(store_for(request), article_id)
    if record is None:
        raise HTTPException(404, f"no article {article_id}")
    return record.as_dict()


@router.get("/api/stories", response_model=list[Story], tags=["stories"])
def list_stories(
    request: Request,
    since: Since = None,
    min_sources: MinSources = 1,
    tag: Tag = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Stories, newest first, each with its representative article and all its sources."""
    found = reads.stories(
        store_for(request), since=since, min_sources=min_sources, tag=tag, limit=limit
    )
    return [story.as_dict() for story in found]


@router.get("/api/stories/{story_id}", response_model=Story, responses=NOT_FOUND, tags=["stories"])
def get_story(request: Request, story_id: Id) -> dict[str, Any]:
    found = reads.stories(store_for(request), story_id=story_id, limit=1)
    if not found:
        raise HTTPException(404, f"no story {story_id}")
    return found[0].as_dict()


@router.get("/api/feeds", response_model=list[FeedHealth], tags=["feeds"])
def list_feeds(request: Request) -> list[dict[str, Any]]:
    """Every feed's health: status, last error, next poll."""
    return [reads.health_record(f) for f in reads.feed_health(store_for(request))]


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz(request: Request) -> dict[str, Any]:
    """Liveness, and the store answers (no token needed)."""
    return {"status": "ok", "last_article_id": reads.last_article_id(store_for(request))}
