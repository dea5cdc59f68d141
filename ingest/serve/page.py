"""The web page: recent stories with their sources, a search box, the feeds' health; and a
page per story. Server-rendered with Jinja2 (autoescaped); no script, no front-end build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from . import reads
from .params import Id, MinSources, Tag
from .stores import store_for

__all__ = ["router"]

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATUS_CLASS = {"ok": "ok", "error": "bad", "gone": "bad", "disabled": "off"}
FEED_ROWS = 200  # the page's table: the failing feeds first; /api/feeds has them all


@router.get("/", response_class=HTMLResponse, name="home", tags=["page"])
def home(
    request: Request,
    q: Annotated[str, Query(max_length=500, description="Search the articles.")] = "",
    min_sources: MinSources = 1,
    tag: Tag = None,
) -> HTMLResponse:
    """Recent stories with their sources, a search box and the feed-health table."""
    store = store_for(request)
    query = q.strip()
    matches = reads.search(store, query, limit=50) if query else None
    feeds = reads.feed_health(store)
    context: dict[str, Any] = {
        "q": query,
        "min_sources": min_sources,
        "tag": tag or "",
        "matches": matches,
        "stories": store.stories(min_sources=min_sources, tag=tag, limit=30),
        "feeds": sorted(feeds, key=lambda f: (f.status == "ok", f.url))[:FEED_ROWS],
        "more_feeds": max(0, len(feeds) - FEED_ROWS),
        "outlets": {f.url: f.title for f in feeds if f.title},
        "stats": store.stats(),
        "status_class": STATUS_CLASS,
    }
    return templates.TemplateResponse(request, "index.html", context)


@router.get(
    "/story/{story_id}",
    response_class=HTMLResponse,
    name="story",
    responses={404: {"description": "No such story", "content": {"text/html": {}}}},
    tags=["page"],
)
def story_page(request: Request, story_id: Id) -> HTMLResponse:
    """One story: its representative article and every source that carried it."""
    found = reads.stories(store_for(request), story_id=story_id, limit=1)
    if not found:
        context = {"missing": f"No story {story_id}: it may have been pruned or merged."}
        return templates.TemplateResponse(request, "story.html", context, status_code=404)
    shown = {"story": found[0].view, "rep": found[0].representative}
    return templates.TemplateResponse(request, "story.html", shown)
