"""Copies are transitive: a copy of the articles of two stories folds the stories into one
(on both backends)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from factories import article, decision, ok_result

from ingest.dedupe import signature
from ingest.settings import FeedSpec
from storage import Store
from storage.sqlite import MIGRATIONS, SQLiteStore

FEEDS = [f"https://{x}.example/feed" for x in "abc"]


def _words(seed: int, n: int) -> list[str]:
    """Made-up words (the rarity prior does not know them, so only copies group: no event
    links to blur the test)."""
    rnd = random.Random(seed)
    return ["".join(rnd.choice("bdfgklmnprstvz") + rnd.choice("aeiou") for _ in range(3))
            for _ in range(n)]  # fmt: skip


@pytest.fixture
def store(empty_store: Store) -> Store:
    for url in FEEDS:
        empty_store.add_feed(FeedSpec(url=url))
    return empty_store


def _record(store: Store, feed_url: str, identity: str, words: list[str]) -> int:
    text = " ".join(words)
    a = article(
        feed_url=feed_url,
        identity=identity,
        url=f"{feed_url}/{identity}",
        canonical_url=f"{feed_url}/{identity}",
        title=f"Story {identity}",
        content_text=text,
        word_count=len(words),
        content_hash=f"h-{identity}",
    )
    feed = store.get_feed(feed_url)
    assert feed is not None
    done = store.record_fetch(
        feed,
        ok_result(feed_url),
        decision(),
        owner="me",
        articles=[(a, signature(a.title, a.content_text))],
    )
    (new_id,) = done.new_ids
    return new_id


def test_a_copy_of_two_stories_folds_them_into_the_oldest(store: Store) -> None:
    full = _words(1, 300)
    first_half = _record(store, FEEDS[0], "x", full[:150] + _words(2, 30))
    second_half = _record(store, FEEDS[1], "y", full[150:] + _words(3, 30))
    unrelated = _record(store, FEEDS[1], "u", _words(4, 200))
    story = {r.id: r.story_id for r in store.articles()}
    assert len({story[first_half], story[second_half], story[unrelated]}) == 3  # apart so far
    folded = max(story[first_half], story[second_half])

    whole = _record(store, FEEDS[2], "z", full)  # carries both halves: all one article

    story = {r.id: r.story_id for r in store.articles()}
    into = min(story[first_half], story[second_half])
    assert story[first_half] == story[second_half] == story[whole] == into
    assert story[unrelated] != into
    stories = {s.story_id: s for s in store.stories()}
    assert set(stories) == {into, story[unrelated]}  # the folded story is gone
    merged = stories[into]
    assert merged.n_articles == 3
    assert {s.feed_url for s in merged.sources} == set(FEEDS)
    levels = {s.article_id: s.level for s in merged.sources}
    # each story took the id of its first article: `folded` is the second story's founder
    assert levels == {into: "self", folded: "merged", whole: "duplicate"}
    # the representative follows the documented rule over the merged story: the earliest
    # full-text article (all share one date here: the lowest id)
    (rep,) = store.conn.execute(f"SELECT representative_id FROM stories WHERE id = {into}")  # type: ignore[attr-defined]
    assert rep == (first_half,)
    # where the folded story went is recorded, for downstream tools that kept its id
    (row,) = store.conn.execute("SELECT story_id, into_story_id, article_id FROM story_merges")  # type: ignore[attr-defined]
    assert row == (folded, into, whole)
    # the index follows: a later copy of the second half joins the merged story
    again = _record(store, FEEDS[0], "y2", full[150:] + _words(5, 20))
    assert {r.id: r.story_id for r in store.articles()}[again] == into


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.executescript(  # back to the version 1 schema
        """DROP TABLE websub;
           ALTER TABLE feeds DROP COLUMN push_until;
           DROP TABLE story_merges;
           DROP INDEX feeds_claim;
           DROP INDEX feeds_leased;
           CREATE INDEX feeds_due ON feeds(status, next_poll_at);
           DROP INDEX feeds_host_leased;
           DROP INDEX feeds_force;
           ALTER TABLE feeds DROP COLUMN host_key;
           DROP INDEX articles_duplicate_of;
           ALTER TABLE articles DROP COLUMN duplicate_of;
           DROP INDEX sources_feed_seen;
           ALTER TABLE article_sources DROP COLUMN entry_digest;
           PRAGMA user_version = 1;"""
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.conn.execute("SELECT COUNT(*) FROM story_merges").fetchone() == (0,)
    indexes = {
        r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
    }
    assert {"feeds_claim", "feeds_leased"} <= indexes and "feeds_due" not in indexes
