"""The SQLite store on real database files."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from factories import NOW, article, claim, record

from ingest.errors import StoreError
from ingest.settings import FeedSpec
from storage.sqlite import MIGRATIONS, SQLiteStore, host_key

A = "https://a.example/feed"
B = "https://b.example/feed"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "t.db")
    s.add_feed(FeedSpec(url=A))
    s.add_feed(FeedSpec(url=B))
    return s


def test_schema_is_versioned_and_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    store = SQLiteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"feeds", "articles", "article_sources", "stories", "articles_fts"} <= tables


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        SQLiteStore(path)


def test_a_version_3_database_gains_the_two_level_story_index(tmp_path: Path) -> None:
    """A file of the release before the two-level story index (schema 3: story_band only)
    is moved to the current version, which a release that would not read the small level
    refuses, and gets the small level's tables."""
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.executescript(
        """DROP TABLE websub;
           ALTER TABLE feeds DROP COLUMN push_until;
           DROP TABLE story_band_new;
           DROP TABLE story_index_meta;
           DROP INDEX feeds_host_leased;
           DROP INDEX feeds_force;
           ALTER TABLE feeds DROP COLUMN host_key;
           DROP INDEX articles_duplicate_of;
           ALTER TABLE articles DROP COLUMN duplicate_of;
           DROP INDEX sources_feed_seen;
           ALTER TABLE article_sources DROP COLUMN entry_digest;
           PRAGMA user_version = 3;"""
    )
    conn.close()
    store = SQLiteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 10
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"story_band", "story_band_new", "story_index_meta"} <= tables
    store.close()


def test_a_version_4_database_gets_the_host_of_each_feed(tmp_path: Path) -> None:
    """Schema 5 adds feeds.host_key (claims split feeds by host); a file of the release
    before has it filled from each feed's URL when opened."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    for url in (A, B, "https://news.example/world.xml", "https://NEWS.example/sport.xml"):
        store.add_feed(FeedSpec(url=url))
    store.close()
    conn = sqlite3.connect(path)
    conn.executescript(
        """DROP TABLE websub;
           ALTER TABLE feeds DROP COLUMN push_until;
           DROP INDEX feeds_host_leased;
           DROP INDEX feeds_force;
           ALTER TABLE feeds DROP COLUMN host_key;
           DROP INDEX articles_duplicate_of;
           ALTER TABLE articles DROP COLUMN duplicate_of;
           DROP INDEX sources_feed_seen;
           ALTER TABLE article_sources DROP COLUMN entry_digest;
           PRAGMA user_version = 4;"""
    )
    conn.close()
    store = SQLiteStore(path)
    keys = dict(store.conn.execute("SELECT url, host_key FROM feeds").fetchall())
    assert keys == {url: host_key(url) for url in keys}
    assert keys["https://news.example/world.xml"] == keys["https://NEWS.example/sport.xml"] > 0
    assert len(set(keys.values())) == len({urlsplit(u).hostname for u in keys})
    store.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"t\.db: cannot open the database"):
        SQLiteStore(path)


def fts_ok(store: SQLiteStore) -> bool:
    store.conn.execute(
        "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)"
    )
    return True


def test_full_text_index_follows_revisions_and_prunes(store: SQLiteStore) -> None:
    claim(store)
    record(store, A, article(identity="r1", content_text="walrus sighting at the pier"))
    # revised before it was indexed: the bulk index takes the latest text
    record(
        store,
        A,
        article(identity="r1", content_text="seal sighting at the pier", content_hash="v2"),
    )
    assert [r.id for r in store.search("walrus")] == []
    assert len(store.search("seal")) == 1
    # revised after it was indexed: the trigger keeps the index right
    record(
        store,
        A,
        article(identity="r1", content_text="otter sighting at the pier", content_hash="v3"),
    )
    assert store.search("seal") == [] and len(store.search("otter")) == 1
    assert fts_ok(store)
    # an unindexed article can be pruned without corrupting the index
    record(
        store,
        A,
        article(identity="r2", published_at=NOW - timedelta(days=400), content_text="heron"),
    )
    assert store.prune(NOW - timedelta(days=90)) == 1
    assert store.index_pending() == 0
    assert store.search("heron") == [] and len(store.search("otter")) == 1
    assert fts_ok(store)


def test_claims_walk_the_due_index_instead_of_sorting_every_feed(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run makes one claim per few feeds: each must cost O(claimed), not O(all feeds)."""
    plans: list[str] = []
    conn = store.conn
    real_execute = conn.execute

    class Spy:
        def __getattr__(self, name: str) -> object:
            return getattr(conn, name)

        def execute(self, sql: str, params: object = ()) -> object:
            if sql.lstrip().startswith("UPDATE feeds SET lease_owner"):
                inner = sql[sql.index("SELECT c.url") : sql.rindex(")")]
                for row in real_execute(f"EXPLAIN QUERY PLAN {inner}", params[2:]):  # type: ignore[index]
                    plans.append(row[3])
            return real_execute(sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_conn", Spy())
    plans_by_force = {}
    for force in (False, True):
        claim(store, owner=f"o{force}", force=force, limit=1)
        plans_by_force[force], plans[:] = list(plans), []
    plans[:] = plans_by_force[False] + plans_by_force[True]
    assert plans and not [p for p in plans if "TEMP B-TREE" in p], plans
    # the due feeds (c) through the claim index (a forced run's: in attempt order); the other
    # owners' leases on their hosts (o) through the small index of leased feeds; never a scan
    # of all feeds
    due, forced = plans_by_force[False], plans_by_force[True]
    assert all("feeds_claim" in p for p in due if p.startswith(("SCAN c", "SEARCH c"))), due
    assert all("feeds_force" in p for p in forced if p.startswith(("SCAN c", "SEARCH c"))), forced
    leases = [p for p in plans if p.startswith(("SCAN o", "SEARCH o"))]
    assert leases and all("feeds_host_leased" in p for p in leases), plans


_T = NOW.replace(year=2026, month=11, day=24, hour=22, minute=45, second=33, microsecond=0)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (["2026-11-24T22:45:33Z", "2026-11-24T20:45:33Z"], [_T, _T - timedelta(hours=2)]),
        (["2026-11-24T22:45:33Z", "2026-11-25T00:45:33+02:00"], [_T, _T]),  # an offset: UTC
        (["2026-11-24T22:45:33"], [_T]),  # no zone: taken as UTC
        (["2026-11-24T22:45:33Z", ""], [_T]),  # a blank stamp: dropped
        ([], []),
    ],
)
def test_recent_entry_times_read_back_as_utc_whatever_their_stored_form(
    store: SQLiteStore, stored: list[str], expected: list[object]
) -> None:
    """The claim path decodes the stored stamps in one fast pass; any form but the store's
    own goes the careful way, so every time comes back aware and in UTC."""
    store.conn.execute(
        "UPDATE feeds SET recent_entry_times = ? WHERE url = ?", (json.dumps(stored), A)
    )
    feed = store.get_feed(A)
    assert feed is not None
    assert list(feed.recent_entry_times) == expected
    assert all(t.utcoffset() == timedelta(0) for t in feed.recent_entry_times)
