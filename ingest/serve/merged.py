"""Merged story feeds: /stories.atom (Atom, lxml) and /stories.json (JSON Feed 1.1), one entry
per story however many outlets carried it, every source listed in the entry."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from lxml import etree
from markupsafe import Markup

from ingest.models import ArticleRecord, StorySource
from ingest.timeutil import from_iso

from . import reads
from .params import MinSources, Since, Tag
from .reads import ServedStory
from .stores import store_for

__all__ = ["atom_feed", "json_feed", "router"]

router = APIRouter()

ATOM = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the updated time of a feed with no story yet
TITLE = "ingest: merged stories"
# characters XML 1.0 cannot carry (lxml refuses them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class AtomResponse(Response):
    media_type = "application/atom+xml"


class JSONFeedResponse(Response):
    media_type = "application/feed+json"


def _xml(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def story_id_uri(story_id: int) -> str:
    """An entry's permanent id: the same whatever host or port serves the feed."""
    return f"tag:ingest,2026:story/{story_id}"


def story_html(story: ServedStory) -> str:
    """The entry's body: the representative's summary and a list of every source."""
    rep, sources = story.representative, story.view.sources
    items = Markup("").join(
        Markup('<li><a href="{}">{}</a> <small>({})</small></li>').format(
            src.url or src.feed_url, src.outlet or src.feed_url, _kind(src)
        )
        for src in sources
    )
    summary = Markup("<p>{}</p>").format(rep.summary) if rep and rep.summary else Markup("")
    count = len(sources)
    return str(
        summary
        + Markup("<p>Carried by {} source{}:</p><ul>{}</ul>").format(
            count, "" if count == 1 else "s", items
        )
    )


def _kind(src: StorySource) -> str:
    """A source as a reader sees it: a copy of another article, or a report of its own."""
    return "copy" if src.copy else "own report"


def _updated(story: ServedStory) -> datetime:
    """When the story last changed for a reader: its newest source."""
    view = story.view
    times = [view.first_seen_at, *(s.first_seen_at for s in view.sources)]
    return from_iso(max(times)) or datetime.now(UTC)


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _published(story: ServedStory) -> datetime:
    published = story.representative.published_at if story.representative else None
    return from_iso(published or story.view.first_seen_at) or datetime.now(UTC)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> Any:
    element = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrib)
    if text is not None:
        element.text = _xml(text)
    return element


def atom_feed(stories: Sequence[ServedStory], *, self_url: str, home_url: str) -> bytes:
    """RFC 4287 with lxml (feedgen 1.0 drops the rel of an entry's links, which would make
    every source an alternate link)."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _sub(feed, "id", self_url)
    _sub(feed, "title", TITLE)
    _sub(feed, "updated", _stamp(max(map(_updated, stories), default=EPOCH)))
    _sub(_sub(feed, "author"), "name", "ingest")
    _sub(feed, "link", href=self_url, rel="self", type="application/atom+xml")
    _sub(feed, "link", href=home_url, rel="alternate", type="text/html")
    for story in stories:
        view, rep = story.view, story.representative
        entry = _sub(feed, "entry")
        _sub(entry, "id", story_id_uri(view.story_id))
        _sub(entry, "title", _xml(view.title) or "(untitled)")
        _sub(entry, "published", _stamp(_published(story)))
        _sub(entry, "updated", _stamp(_updated(story)))
        for name in rep.authors if rep else ():
            _sub(_sub(entry, "author"), "name", name)
        for tag in rep.tags if rep else ():
            _sub(entry, "category", term=_xml(tag))
        if view.url:
            _sub(entry, "link", href=_xml(view.url), rel="alternate", type="text/html")
        for src in view.sources:
            if src.url and src.url != view.url:
                title = _xml(f"{src.outlet or src.feed_url} ({_kind(src)})")
                _sub(entry, "link", href=_xml(src.url), rel="related", title=title)
        _sub(entry, "content", story_html(story), type="html")
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True))


_SOURCE_KEYS = ("article_id", "outlet", "url", "feed_url", "level", "score", "duplicate_of")


def json_feed(stories: Sequence[ServedStory], *, self_url: str, home_url: str) -> dict[str, Any]:
    items = []
    for story in stories:
        view, rep = story.view, story.representative
        item: dict[str, Any] = {
            "id": story_id_uri(view.story_id),
            "title": view.title,
            "content_html": story_html(story),
            "date_published": _stamp(_published(story)),
            "date_modified": _stamp(_updated(story)),
            "_ingest": {
                "story_id": view.story_id,
                "representative_id": view.representative_id,
                "n_sources": view.n_sources,
                "sources": [
                    {
                        **{k: getattr(src, k) for k in _SOURCE_KEYS},
                        "copy": src.copy,
                    }
                    for src in view.sources
                ],
            },
        }
        if view.url:
            item["url"] = view.url
        if rep is not None:
            item.update(_representative_fields(rep))
        items.append(item)
    return {
        "version": JSON_FEED_VERSION,
        "title": TITLE,
        "home_page_url": home_url,
        "feed_url": self_url,
        "items": items,
    }


def _representative_fields(rep: ArticleRecord) -> dict[str, Any]:
    """A JSON Feed item's fields that come from the story's representative, where it has them."""
    fields: dict[str, Any] = {
        "summary": rep.summary,
        "image": rep.image_url,
        "authors": [{"name": name} for name in rep.authors],
        "tags": list(rep.tags),
        "language": rep.language,
    }
    return {k: v for k, v in fields.items() if v}


def _stories(request: Request, **filters: Any) -> list[ServedStory]:
    return reads.stories(store_for(request), **filters)


def conditional(request: Request, body: bytes, response_class: type[Response]) -> Response:
    """`body` with a strong ETag, or 304 to a reader that already has it (feed readers poll
    with If-None-Match; most polls then move no body)."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    asked = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in asked.split(",")) or asked.strip() == "*":
        return Response(status_code=304, headers=headers)
    return response_class(body, headers=headers)


Limit = Annotated[int, Query(ge=1, le=500)]
NOT_MODIFIED = {"description": "Not modified: the If-None-Match ETag is still current"}


@router.get(
    "/stories.atom",
    response_class=AtomResponse,
    responses={
        200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}},
        304: NOT_MODIFIED,
    },
    tags=["feeds"],
)
def stories_atom(
    request: Request,
    since: Since = None,
    min_sources: MinSources = 1,
    tag: Tag = None,
    limit: Limit = 50,
) -> Response:
    """The stories as one Atom feed: an entry per story, its sources as related links."""
    found = _stories(request, since=since, min_sources=min_sources, tag=tag, limit=limit)
    body = atom_feed(found, self_url=str(request.url), home_url=str(request.url_for("home")))
    return conditional(request, body, AtomResponse)


@router.get(
    "/stories.json",
    response_class=JSONFeedResponse,
    responses={
        200: {"content": {"application/feed+json": {"schema": {"type": "object"}}}},
        304: NOT_MODIFIED,
    },
    tags=["feeds"],
)
def stories_json(
    request: Request,
    since: Since = None,
    min_sources: MinSources = 1,
    tag: Tag = None,
    limit: Limit = 50,
) -> Response:
    """The stories as one JSON Feed 1.1: an item per story, its sources under `_ingest`."""
    found = _stories(request, since=since, min_sources=min_sources, tag=tag, limit=limit)
    feed = json_feed(found, self_url=str(request.url), home_url=str(request.url_for("home")))
    body = json.dumps(feed, ensure_ascii=False).encode()
    return conditional(request, body, JSONFeedResponse)
