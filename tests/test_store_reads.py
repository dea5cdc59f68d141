"""The store's read filters that `ingest serve` uses: ids, tag, language, full-text query on
`articles`; one story and a tag on `stories`. Real SQLite files, written by the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import article, decision, ok_result

from ingest.dedupe import signature
from ingest.errors import StoreError
from ingest.settings import FeedSpec
from storage.sqlite import SQLiteStore

A = "https://a.example/feed"
B = "https://b.example/feed"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "t.db")
    s.add_feed(FeedSpec(url=A, tags=("World",)))
    s.add_feed(FeedSpec(url=B))
    rows = {
        A: [
            article(A, "a1", title="Harbour storm closes the port", tags=("Weather",)),
            article(A, "a2", title="Council budget passes", language="fr"),
        ],
        B: [
            article(
                B,
                "b1",
                title="Budget vote in the council",
                url="https://b.example/b1",
                canonical_url="https://b.example/b1",
                content_text="Entirely different words about gardens.",
            ),
        ],
    }
    for url, arts in rows.items():
        feed = s.get_feed(url)
        assert feed is not None
        s.record_fetch(
            feed,
            ok_result(url),
            decision(),
            owner="me",
            articles=[(a, signature(a.title, a.content_text)) for a in arts],
        )
    return s


def ids(store: SQLiteStore, **kw: object) -> list[int]:
    return [r.id for r in store.articles(**kw)]  # type: ignore[arg-type]


def test_articles_by_ids_tag_and_language(store: SQLiteStore) -> None:
    assert ids(store) == [1, 2, 3]
    assert ids(store, ids=[3, 1, 99]) == [1, 3]
    assert ids(store, ids=[]) == []
    # its own tag (any case), or a carrying feed's tag
    assert ids(store, tag="weather") == [1]
    assert ids(store, tag="world") == [1, 2]
    assert ids(store, tag="nothing") == []
    assert ids(store, language="FR") == [2]
    assert ids(store, language="en", since_id=1) == [3]


def test_articles_query_covers_indexed_articles_only(store: SQLiteStore) -> None:
    # nothing indexed yet: a cursor must not move past articles a search cannot see
    assert ids(store, query="budget") == []
    store.index_pending()
    assert ids(store, query="budget") == [2, 3]
    assert ids(store, query="budget", since_id=2) == [3]
    # not FTS5 syntax: searched as words
    assert ids(store, query='budget "council') == [2, 3]
    assert ids(store, query="harbour-storm") == [1]
    assert ids(store, query="harbour\x00storm") == [1]
    with pytest.raises(StoreError, match="empty search query"):
        ids(store, query="  ")


def test_stories_by_id_and_tag_with_representative(store: SQLiteStore) -> None:
    everything = store.stories()
    assert {s.story_id for s in everything} == {r.story_id for r in store.articles()}
    for s in everything:
        (rep,) = store.articles(ids=[s.representative_id])
        assert rep.story_id == s.story_id
    first = everything[-1]
    (only,) = store.stories(story_id=first.story_id)
    assert only == first
    assert store.stories(story_id=10_000) == []
    weather = store.stories(tag="WEATHER")
    assert [s.title for s in weather] == ["Harbour storm closes the port"]
    assert {s.title for s in store.stories(tag="world")} == {
        "Harbour storm closes the port",
        "Council budget passes",
    }
