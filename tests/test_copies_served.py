"""`ingest serve` says which source of a story is a copy and which its own report (#18): the
records' `duplicate_of`, the story's sources and representative, the merged Atom and JSON
feeds. Over HTTP, on the demo's wire story (one article linked by two outlets, a copy of it
under a third outlet's URL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import feedparser
import httpx
import pytest
from feedserver import FeedServer
from servekit import LiveServer, fill_store


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with FeedServer() as server:
        db = fill_store(tmp_path_factory.mktemp("copies") / "ingest.db", server)
    with LiveServer(db) as live, httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client


OUTLETS = {"Coast Daily", "Harbor Herald", "Valley Times"}


def _wire(api: httpx.Client) -> dict[str, Any]:
    stories: list[dict[str, Any]] = api.get("/api/stories", params={"limit": 500}).json()
    (wire,) = [s for s in stories if {src["outlet"] for src in s["sources"]} == OUTLETS]
    return wire


def test_records_and_story_reads_carry_duplicate_of(api: httpx.Client) -> None:
    wire = _wire(api)
    by_outlet = {s["outlet"]: s for s in wire["sources"]}
    original = wire["representative_id"]
    assert wire["representative"]["id"] == original and wire["n_sources"] == 3
    assert by_outlet["Valley Times"]["duplicate_of"] == original
    assert by_outlet["Coast Daily"]["duplicate_of"] is None
    copy = api.get(f"/api/articles/{by_outlet['Valley Times']['article_id']}").json()
    assert copy["duplicate_of"] == original and copy["story_id"] == wire["story_id"]
    page = api.get("/api/articles", params={"limit": 500}).json()["items"]
    assert all("duplicate_of" in r for r in page)
    copies = {r["id"]: r["duplicate_of"] for r in page if r["duplicate_of"] is not None}
    assert copies[copy["id"]] == original and all(v < k for k, v in copies.items())


def test_merged_feeds_mark_each_source_as_copy_or_own_report(api: httpx.Client) -> None:
    wire = _wire(api)
    feed = api.get("/stories.json", params={"limit": 500}).json()
    (item,) = [i for i in feed["items"] if i["_ingest"]["story_id"] == wire["story_id"]]
    meta = item["_ingest"]
    assert (meta["representative_id"], meta["n_sources"]) == (wire["representative_id"], 3)
    marks = {s["outlet"]: (s["copy"], s["duplicate_of"]) for s in meta["sources"]}
    assert marks == {
        "Coast Daily": (False, None),
        "Harbor Herald": (True, None),  # the same URL from another feed: the same article
        "Valley Times": (True, wire["representative_id"]),
    }
    atom = feedparser.parse(api.get("/stories.atom", params={"limit": 500}).content)
    assert not atom.bozo, atom.get("bozo_exception")
    (entry,) = [e for e in atom.entries if e.id == f"tag:ingest,2026:story/{wire['story_id']}"]
    titles = {link.get("title") for link in entry.links if link.rel == "related"}
    assert "Valley Times (copy)" in titles
    body = entry.content[0].value
    assert "Coast Daily</a> <small>(own report)</small>" in body
    assert "Valley Times</a> <small>(copy)</small>" in body
