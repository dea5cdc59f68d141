"""The web page over HTTP: hostile text from a feed stays text (on the page and in the merged
feeds), searches that are not FTS5 syntax work, a missing story is a 404 page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import feedparser
import httpx
import pytest
from feedserver import FeedServer
from markupsafe import escape
from samplefeeds import rss
from servekit import LOCAL, LiveServer

from ingest.pipeline import run_once
from ingest.settings import FeedSpec, load_settings
from storage.sqlite import SQLiteStore

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_hostile_text_is_escaped_everywhere(tmp_path: Path, feed_server: FeedServer) -> None:
    items = [
        {
            "title": HOSTILE,  # rss() escapes it once: the feed's title is this text
            "link": "https://evil.example/1",
            "guid": "evil-1",
            "date": "Mon, 23 Nov 2026 10:00:00 GMT",
            "html": "<p>Harbour storm text about ports and cargo.</p>",
        }
    ]
    url = feed_server.route(
        "/evil.xml", body=rss('Outlet "<b>bold</b>"', "https://evil.example/", items)
    )
    db = tmp_path / "ingest.db"
    store = SQLiteStore(db)
    store.add_feed(FeedSpec(url=url, options=LOCAL))
    settings = load_settings(environ={}, overrides={"db": str(db)}).replace(per_host_delay_s=0.0)
    asyncio.run(run_once(store, settings))
    (record,) = store.articles()
    assert record.title == HOSTILE
    story_id = record.story_id
    store.close()

    with LiveServer(db) as live, httpx.Client(base_url=live.base_url) as client:
        for path in ("/", f"/story/{story_id}", "/?q=harbour"):
            page = client.get(path).text
            assert "<script>alert" not in page and "<img src=x" not in page, path
            assert str(escape(HOSTILE)) in page, path
        atom = feedparser.parse(client.get("/stories.atom").content)
        assert not atom.bozo and atom.entries[0].title == HOSTILE
        assert "<script>" not in atom.entries[0].content[0].value
        item = client.get("/stories.json").json()["items"][0]
        assert item["title"] == HOSTILE and "<script>" not in item["content_html"]


def test_page_search_and_missing_story(tmp_path: Path, feed_server: FeedServer) -> None:
    from servekit import fill_store

    db = fill_store(tmp_path / "ingest.db", feed_server)
    with LiveServer(db) as live, httpx.Client(base_url=live.base_url) as client:
        # not FTS5 syntax (a stray quote, a hyphen): searched as words, not an error
        for q in ('gale "ports', "north-quay", "gale AND ports"):
            r = client.get("/", params={"q": q})
            assert r.status_code == 200 and 'id="results"' in r.text, q
        assert "No article matches." in client.get("/", params={"q": "zzzzqqq"}).text
        assert 'id="results"' not in client.get("/", params={"q": "  "}).text
        missing = client.get("/story/987654")
        assert missing.status_code == 404 and "No story 987654" in missing.text
        several = client.get("/", params={"min_sources": 3}).text
        assert "carried by 3+ sources" in several


def test_feed_table_lists_failing_feeds_first_and_caps_its_rows(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servekit import fill_store

    from ingest.serve import page

    monkeypatch.setattr(page, "FEED_ROWS", 3)
    db = fill_store(tmp_path / "ingest.db", feed_server)
    with LiveServer(db) as live:
        html = httpx.get(live.base_url + "/").text
    table = html[html.index('id="feeds"') :]
    assert table.count('<td class="status') == 3
    assert table.index("status bad") < table.index("status ok")
    assert "and 4 more" in table
