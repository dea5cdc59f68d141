"""/stories.atom and /stories.json: they parse (feedparser; JSON Feed 1.1's rules), one entry
per story, every source listed; tag and min_sources filter them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from feedserver import FeedServer
from servekit import LiveServer, backend, fill_store

from ingest.parse import parse


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    target = backend(request, tmp_path_factory.mktemp("feeds") / "ingest.db")
    with FeedServer() as server:
        db = fill_store(target, server)
    with LiveServer(db) as live, httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client


def stories(api: httpx.Client, **params: object) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api.get("/api/stories", params=params).json()
    return result


def check_json_feed(feed: dict[str, Any]) -> None:
    """JSON Feed 1.1 (jsonfeed.org/version/1.1): required fields and their types."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    for key in ("home_page_url", "feed_url"):
        assert feed[key].startswith("http://")
    ids = [item["id"] for item in feed["items"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, str) and i for i in ids)
    for item in feed["items"]:
        assert isinstance(item.get("content_html") or item.get("content_text"), str)
        for key in ("date_published", "date_modified"):
            datetime.fromisoformat(item[key].replace("Z", "+00:00"))  # RFC 3339
        for author in item.get("authors", []):
            assert set(author) <= {"name", "url", "avatar"} and author
        assert all(isinstance(t, str) for t in item.get("tags", []))
        assert all(k in JSON_FEED_ITEM_KEYS or k.startswith("_") for k in item)


JSON_FEED_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}  # fmt: skip


def test_atom_one_entry_per_story_with_every_source(api: httpx.Client) -> None:
    expected = stories(api, limit=500)
    r = api.get("/stories.atom", params={"limit": 500})
    assert r.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == [
        f"tag:ingest,2026:story/{s['story_id']}" for s in expected
    ]
    for entry, story in zip(parsed.entries, expected, strict=True):
        assert entry.title == story["title"]
        related = {link.href for link in entry.links if link.rel == "related"}
        source_urls = {src["url"] for src in story["sources"]} - {story["url"]}
        assert related == source_urls
        for src in story["sources"]:  # every source named in the body too
            assert src["outlet"] in entry.content[0].value
    outlets = {"Coast Daily", "Harbor Herald", "Valley Times"}
    (wire,) = [s for s in expected if {src["outlet"] for src in s["sources"]} == outlets]
    entry = parsed.entries[expected.index(wire)]
    assert "Carried by 3 sources" in entry.content[0].value


def test_json_feed_one_item_per_story_with_every_source(api: httpx.Client) -> None:
    expected = stories(api, limit=500)
    r = api.get("/stories.json", params={"limit": 500})
    assert r.headers["content-type"].startswith("application/feed+json")
    feed = r.json()
    check_json_feed(feed)
    assert [i["_ingest"]["story_id"] for i in feed["items"]] == [s["story_id"] for s in expected]
    for item, story in zip(feed["items"], expected, strict=True):
        assert [s["url"] for s in item["_ingest"]["sources"]] == [
            s["url"] for s in story["sources"]
        ]
    # and this project's own feed parser reads it back, an entry per story
    parsed = parse(r.content, str(r.url), dict(r.headers))
    assert [e.guid for e in parsed.entries] == [i["id"] for i in feed["items"]]


@pytest.mark.parametrize("path", ["/stories.atom", "/stories.json"])
def test_filters(api: httpx.Client, path: str) -> None:
    for params in ({"min_sources": 3}, {"tag": "coast"}, {"tag": "generated", "limit": 2}):
        expected = [s["story_id"] for s in stories(api, **params)]
        assert expected
        r = api.get(path, params=params)
        parsed = parse(r.content, str(r.url), dict(r.headers))
        assert [e.guid for e in parsed.entries] == [f"tag:ingest,2026:story/{i}" for i in expected]
    r = api.get(path, params={"tag": "none-such"})
    assert parse(r.content, str(r.url), dict(r.headers)).entries == ()


def test_empty_store_gives_valid_empty_feeds(tmp_path: Path) -> None:
    from storage.sqlite import SQLiteStore

    SQLiteStore(tmp_path / "empty.db").close()
    with LiveServer(tmp_path / "empty.db") as live:
        atom = feedparser.parse(httpx.get(live.base_url + "/stories.atom").content)
        assert not atom.bozo and atom.entries == []
        feed = httpx.get(live.base_url + "/stories.json").json()
        check_json_feed(feed)
        assert feed["items"] == []


@pytest.mark.parametrize("path", ["/stories.atom", "/stories.json"])
def test_feeds_answer_304_to_a_current_etag(api: httpx.Client, path: str) -> None:
    first = api.get(path)
    etag = first.headers["etag"]
    again = api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = api.get(path, params={"min_sources": 3}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    stale = api.get(path, headers={"If-None-Match": '"stale", ' + etag})
    assert stale.status_code == 304
