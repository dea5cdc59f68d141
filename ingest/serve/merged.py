"""Merged story feeds: /stories.atom (feedgen) and /stories.json (JSON Feed 1.1), one entry
per story however many outlets carried it, every source listed in the entry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from feedgen.feed import FeedGenerator
from markupsafe import Markup

from ingest.timeutil import from_iso

from . import reads
from .params import MinSources, Since, Tag
from .stores import store_for

__all__ = ["atom_feed", "json_feed", "router"]

router = APIRouter()

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TITLE = "ingest: merged stories"
# characters XML 1.0 cannot carry (lxml refuses them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class AtomResponse(Response):
    media_type = "application/atom+xml"


class JSONFeedResponse(JSONResponse):
    media_type = "application/feed+json"


def _xml(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def story_id_uri(story_id: int) -> str:
    """An entry's permanent id: the same whatever host or port serves the feed."""
    return f"tag:ingest,2026:story/{story_id}"


def story_html(story: dict[str, Any]) -> str:
    """The entry's body: the representative's summary and a list of every source."""
    rep = story["representative"] or {}
    items = Markup("").join(
        Markup('<li><a href="{}">{}</a>{}</li>').format(
            src["url"] or src["feed_url"],
            src["outlet"] or src["feed_url"],
            Markup(" <small>({})</small>").format(src["level"])
            if src["level"] not in (None, "self")
            else "",
        )
        for src in story["sources"]
    )
    summary = Markup("<p>{}</p>").format(rep["summary"]) if rep.get("summary") else Markup("")
    count = len(story["sources"])
    return str(
        summary
        + Markup("<p>Carried by {} source{}:</p><ul>{}</ul>").format(
            count, "" if count == 1 else "s", items
        )
    )


def _updated(story: dict[str, Any]) -> datetime:
    """When the story last changed for a reader: its newest source."""
    times = [story["first_seen_at"], *(s["first_seen_at"] for s in story["sources"])]
    return from_iso(max(times)) or datetime.now(UTC)


def _published(story: dict[str, Any]) -> datetime:
    rep = story["representative"] or {}
    return from_iso(rep.get("published_at") or story["first_seen_at"]) or datetime.now(UTC)


def atom_feed(stories: Sequence[dict[str, Any]], *, self_url: str, home_url: str) -> bytes:
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(TITLE)
    fg.author({"name": "ingest"})
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=home_url, rel="alternate", type="text/html")
    fg.updated(max((_updated(s) for s in stories), default=datetime(2026, 1, 1, tzinfo=UTC)))
    for story in stories:
        rep = story["representative"] or {}
        entry = fg.add_entry(order="append")
        entry.id(story_id_uri(story["story_id"]))
        entry.title(_xml(story["title"]) or "(untitled)")
        if story["url"]:
            entry.link(href=story["url"], rel="alternate", type="text/html")
        for src in story["sources"]:
            if src["url"] and src["url"] != story["url"]:
                entry.link(href=src["url"], rel="related", title=_xml(src["outlet"]))
        entry.published(_published(story))
        entry.updated(_updated(story))
        for name in rep.get("authors") or []:
            entry.author({"name": _xml(name)})
        for tag in rep.get("tags") or []:
            if _xml(tag):
                entry.category(term=_xml(tag))
        entry.content(_xml(story_html(story)), type="html")
    return bytes(fg.atom_str(pretty=True))


def json_feed(stories: Sequence[dict[str, Any]], *, self_url: str, home_url: str) -> dict[str, Any]:
    items = []
    for story in stories:
        rep = story["representative"] or {}
        item: dict[str, Any] = {
            "id": story_id_uri(story["story_id"]),
            "title": story["title"],
            "content_html": story_html(story),
            "date_published": _published(story).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "date_modified": _updated(story).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "_ingest": {
                "story_id": story["story_id"],
                "sources": [
                    {k: src[k] for k in ("outlet", "url", "feed_url", "level", "score")}
                    for src in story["sources"]
                ],
            },
        }
        if story["url"]:
            item["url"] = story["url"]
        if rep.get("summary"):
            item["summary"] = rep["summary"]
        if rep.get("image_url"):
            item["image"] = rep["image_url"]
        if rep.get("authors"):
            item["authors"] = [{"name": name} for name in rep["authors"]]
        if rep.get("tags"):
            item["tags"] = rep["tags"]
        if rep.get("language"):
            item["language"] = rep["language"]
        items.append(item)
    return {
        "version": JSON_FEED_VERSION,
        "title": TITLE,
        "home_page_url": home_url,
        "feed_url": self_url,
        "items": items,
    }


def _stories(request: Request, **filters: Any) -> list[dict[str, Any]]:
    return reads.stories(store_for(request), **filters)


Limit = Annotated[int, Query(ge=1, le=500)]


@router.get(
    "/stories.atom",
    response_class=AtomResponse,
    responses={200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}}},
    tags=["feeds"],
)
def stories_atom(
    request: Request,
    since: Since = None,
    min_sources: MinSources = 1,
    tag: Tag = None,
    limit: Limit = 50,
) -> AtomResponse:
    """The stories as one Atom feed: an entry per story, its sources as related links."""
    found = _stories(request, since=since, min_sources=min_sources, tag=tag, limit=limit)
    body = atom_feed(found, self_url=str(request.url), home_url=str(request.url_for("home")))
    return AtomResponse(body)


@router.get(
    "/stories.json",
    response_class=JSONFeedResponse,
    responses={200: {"content": {"application/feed+json": {"schema": {"type": "object"}}}}},
    tags=["feeds"],
)
def stories_json(
    request: Request,
    since: Since = None,
    min_sources: MinSources = 1,
    tag: Tag = None,
    limit: Limit = 50,
) -> JSONFeedResponse:
    """The stories as one JSON Feed 1.1: an item per story, its sources under `_ingest`."""
    found = _stories(request, since=since, min_sources=min_sources, tag=tag, limit=limit)
    feed = json_feed(found, self_url=str(request.url), home_url=str(request.url_for("home")))
    return JSONFeedResponse(feed)
