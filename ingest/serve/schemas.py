"""The API's records, as pydantic models: they validate what the routes return and write the
OpenAPI document. `Article` is the JSONL export's record, field for field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Article(BaseModel):
    """One article record (README "The article record")."""

    id: int
    feed_url: str
    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    authors: list[str]
    published_at: str | None
    updated_at: str | None
    fetched_at: str
    summary: str
    content_html: str
    content_text: str
    language: str | None
    tags: list[str]
    image_url: str | None
    enclosures: list[dict[str, Any]]
    word_count: int
    content_hash: str
    story_id: int | None
    duplicate_of: int | None = Field(
        None,
        description="The earliest article whose text this one copies (the copy level), or null:"
        " its own report. story_id is the same-event level.",
    )


class ArticlePage(BaseModel):
    items: list[Article]
    next_since_id: int = Field(
        description="Pass as since_id for the next page; the same value when nothing is new."
    )


class Source(BaseModel):
    """One feed item that carried a story's article, and why it joined the story."""

    article_id: int
    feed_url: str
    outlet: str | None = Field(description="The carrying feed's title, else its host.")
    url: str | None
    first_seen_at: str
    level: str | None = Field(description="self, same_url, duplicate or event")
    score: float | None
    reason: str | None
    duplicate_of: int | None = Field(
        None, description="The article this source's copies, or null: its own report."
    )


class Story(BaseModel):
    story_id: int
    title: str
    url: str | None
    first_seen_at: str
    n_articles: int
    n_sources: int
    representative_id: int = Field(description="The article whose title and URL the story shows.")
    representative: Article | None
    sources: list[Source]


class FeedHealth(BaseModel):
    url: str
    title: str | None
    tags: list[str]
    status: str = Field(description="ok, error, gone or disabled")
    last_http_status: int | None
    last_error: str | None
    error_kind: str | None
    last_warning: str | None
    error_count: int
    last_fetched_at: str | None
    last_attempt_at: str | None
    next_poll_at: str | None
    interval_s: int | None
    schedule_reason: str | None


class Health(BaseModel):
    status: str
    last_article_id: int


class Problem(BaseModel):
    detail: str
