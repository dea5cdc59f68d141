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


def _copy_and_original(wire: dict[str, Any]) -> tuple[int, int]:
    """(copy, original) article ids: the wire URL's article and Valley Times' own URL carry
    the same text; whichever was stored first is the original (feeds are fetched in any
    order)."""
    by_outlet = {s["outlet"]: s for s in wire["sources"]}
    linked, valley = by_outlet["Coast Daily"], by_outlet["Valley Times"]
    assert by_outlet["Harbor Herald"]["article_id"] == linked["article_id"]  # the same URL
    copy, original = (valley, linked) if valley["duplicate_of"] else (linked, valley)
    assert copy["duplicate_of"] == original["article_id"] and original["duplicate_of"] is None
    return copy["article_id"], original["article_id"]


def test_records_and_story_reads_carry_duplicate_of(api: httpx.Client) -> None:
    wire = _wire(api)
    copy_id, original = _copy_and_original(wire)
    assert wire["representative"]["id"] == wire["representative_id"] and wire["n_sources"] == 3
    copy = api.get(f"/api/articles/{copy_id}").json()
    assert copy["duplicate_of"] == original and copy["story_id"] == wire["story_id"]
    assert api.get(f"/api/articles/{original}").json()["duplicate_of"] is None
    page = api.get("/api/articles", params={"limit": 500}).json()["items"]
    assert all("duplicate_of" in r for r in page)
    copies = {r["id"]: r["duplicate_of"] for r in page if r["duplicate_of"] is not None}
    assert copies[copy_id] == original and all(v < k for k, v in copies.items())


def test_merged_feeds_mark_each_source_as_copy_or_own_report(api: httpx.Client) -> None:
    wire = _wire(api)
    copy_id, original = _copy_and_original(wire)
    feed = api.get("/stories.json", params={"limit": 500}).json()
    (item,) = [i for i in feed["items"] if i["_ingest"]["story_id"] == wire["story_id"]]
    meta = item["_ingest"]
    assert (meta["representative_id"], meta["n_sources"]) == (wire["representative_id"], 3)
    seen: set[int] = set()
    for src in meta["sources"]:
        # a copy of the original's text, or the same URL from a second feed, is a copy
        assert src["copy"] == (src["article_id"] == copy_id or src["article_id"] in seen), src
        assert src["duplicate_of"] == (original if src["article_id"] == copy_id else None)
        seen.add(src["article_id"])
    assert sum(not s["copy"] for s in meta["sources"]) == 1  # one own report
    atom = feedparser.parse(api.get("/stories.atom", params={"limit": 500}).content)
    assert not atom.bozo, atom.get("bozo_exception")
    (entry,) = [e for e in atom.entries if e.id == f"tag:ingest,2026:story/{wire['story_id']}"]
    kinds = {s["outlet"]: "copy" if s["copy"] else "own report" for s in meta["sources"]}
    body = entry.content[0].value
    for outlet, kind in kinds.items():
        assert f"{outlet}</a> <small>({kind})</small>" in body
    titles = {link.get("title") for link in entry.links if link.rel == "related"}
    # every source but the one whose URL is the entry's own link is a related link
    urls = {s["outlet"]: s["url"] for s in meta["sources"]}
    assert titles == {f"{o} ({k})" for o, k in kinds.items() if urls[o] != item["url"]}
    assert len(titles) == 2
