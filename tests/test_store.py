"""The SQLite store on real database files."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from factories import NOW, article, decision, ok_result

from ingest.errors import GoneError, HTTPStatusError, StoreError
from ingest.settings import FeedSpec
from ingest.stories import signature
from storage.sqlite import ARTICLE_FIELDS, HISTORY_KEEP, MIGRATIONS, SQLiteStore, host_key

A = "https://a.example/feed"
B = "https://b.example/feed"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "t.db")
    s.add_feed(FeedSpec(url=A))
    s.add_feed(FeedSpec(url=B))
    return s


def claim(store: SQLiteStore, owner: str = "me", **kw: object) -> list[str]:
    args: dict[str, object] = {"now": NOW, "owner": owner, "lease_s": 600, "limit": 100}
    args.update(kw)
    return [f.url for f in store.claim_feeds(**args)]  # type: ignore[arg-type]


def record(store: SQLiteStore, url: str, *arts: object, **kw: object) -> object:
    feed = store.get_feed(url)
    assert feed is not None
    pairs = [(a, signature(a.title, a.content_text)) for a in arts]  # type: ignore[attr-defined]
    return store.record_fetch(
        feed,
        kw.pop("result", ok_result(url)),
        decision(),
        owner=kw.pop("owner", "me"),  # type: ignore[arg-type]
        articles=pairs,
        **kw,
    )  # type: ignore[arg-type]


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
        """DROP TABLE story_band_new;
           DROP TABLE story_index_meta;
           DROP INDEX feeds_host_leased;
           DROP INDEX feeds_force;
           ALTER TABLE feeds DROP COLUMN host_key;
           PRAGMA user_version = 3;"""
    )
    conn.close()
    store = SQLiteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
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
        """DROP INDEX feeds_host_leased;
           DROP INDEX feeds_force;
           ALTER TABLE feeds DROP COLUMN host_key;
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


def test_claims_are_exclusive_and_expire(store: SQLiteStore) -> None:
    assert claim(store, "one") == [A, B]
    assert claim(store, "two") == []  # leased by "one"
    # a killed run's lease expires
    assert claim(store, "two", now=NOW + timedelta(seconds=601)) == [A, B]


def test_a_host_another_owner_is_fetching_waits_for_it(tmp_path: Path) -> None:
    """Politeness across processes: no feed of a host on which another owner holds a live
    lease (a feed of that host in flight elsewhere) is claimed."""
    store = SQLiteStore(tmp_path / "h.db")
    one = ["https://one.example/a", "https://one.example/b"]
    two = ["https://two.example/a"]
    for url in one + two:
        store.add_feed(FeedSpec(url=url))
    assert claim(store, "w1", limit=1) == one[:1]
    assert claim(store, "w2") == two  # one.example/b waits: w1 is fetching one.example
    assert claim(store, "w1") == one[1:]  # the owner's own lease does not hold it back
    store.release("w1", one)
    assert claim(store, "w2") == one
    # a lease that expired (a killed run) no longer holds its host
    assert claim(store, "w3", now=NOW + timedelta(seconds=601)) == sorted(one + two)


def test_workers_take_their_share_of_hosts_first_then_the_rest(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    urls = [f"https://h{i}.example/feed" for i in range(8)]
    for url in urls:
        store.add_feed(FeedSpec(url=url))
    share = {u: host_key(u) % 2 for u in urls}
    mine = sorted(u for u in urls if share[u] == 0)
    theirs = sorted(u for u in urls if share[u] == 1)
    assert mine and len(theirs) >= 2
    assert claim(store, "w0", partition=(0, 2)) == mine  # its own share only, though all due
    assert claim(store, "w1", partition=(1, 2), limit=1) == theirs[:1]
    # w0's share is done: it takes the rest, but not a host w1 is fetching
    assert claim(store, "w0", partition=(0, 2)) == theirs[1:]
    assert claim(store, "w1", partition=(1, 2)) == []


def test_claim_skips_feeds_not_due_and_attempted(store: SQLiteStore) -> None:
    assert claim(store) == [A, B]
    record(store, A)
    store.release("me", [B])
    # A is scheduled an hour ahead and was attempted in this run: not claimed again
    assert claim(store, now=NOW + timedelta(seconds=1)) == [B]
    store.release("me", [B])
    assert claim(store, force=True, now=NOW + timedelta(seconds=1)) == [B]
    store.release("me", [B])
    # a later run with --all takes A again
    assert claim(store, "run2", force=True, now=NOW + timedelta(seconds=6)) == [A, B]


def test_new_unchanged_and_revised(store: SQLiteStore) -> None:
    claim(store)
    s = record(store, A, article(identity="g1"), article(identity="g2"))
    assert (s.new, s.updated, s.unchanged) == (2, 0, 0)  # type: ignore[attr-defined]
    claim(store, "run2", force=True, now=NOW + timedelta(seconds=6))
    s = record(
        store,
        A,
        article(identity="g1"),
        article(identity="g2", title="Title g2, corrected", content_hash="hash-g2-v2"),
    )
    assert (s.new, s.updated, s.unchanged) == (0, 1, 1)  # type: ignore[attr-defined]
    rows = list(store.articles())
    assert [r.title for r in rows] == ["Title g1", "Title g2, corrected"]
    assert (
        store.conn.execute("SELECT revisions FROM articles WHERE identity='g2'").fetchone()[0] == 1
    )


def test_same_canonical_url_from_two_feeds_is_one_article_with_both_sources(
    store: SQLiteStore,
) -> None:
    claim(store)
    record(store, A, article(identity="a1", canonical_url="https://wire.example/x"))
    s = record(
        store,
        B,
        article(
            feed_url=B,
            identity="b7",
            url="https://b.example/x?utm_source=1",
            canonical_url="https://wire.example/x",
        ),
    )
    assert s.new == 0  # type: ignore[attr-defined]
    rows = list(store.articles())
    assert len(rows) == 1
    (story,) = store.stories()
    assert [src.feed_url for src in story.sources] == [A, B]
    assert [src.article_id for src in story.sources] == [rows[0].id] * 2
    assert [r.id for r in store.articles(feed_url=B)] == [rows[0].id]


def test_guid_changing_every_fetch_with_same_link_is_not_a_new_article(store: SQLiteStore) -> None:
    claim(store)
    record(store, A, article(identity="rand-1", canonical_url="https://a.example/story"))
    s = record(store, A, article(identity="rand-2", canonical_url="https://a.example/story"))
    assert s.new == 0  # type: ignore[attr-defined]
    assert len(list(store.articles())) == 1


def test_filtered_articles_are_recorded_not_stored(store: SQLiteStore) -> None:
    claim(store)
    s = record(
        store, A, article(identity="x", filtered="block rule title~'advert'"), article(identity="y")
    )
    assert (s.new, s.filtered) == (1, 1)  # type: ignore[attr-defined]
    assert [f.reason for f in store.filtered(A)] == ["block rule title~'advert'"]


def test_feed_state_after_success_and_errors(store: SQLiteStore) -> None:
    claim(store)
    store.release("me", [B])
    record(store, A, article())
    feed = store.get_feed(A)
    assert feed and (feed.status, feed.etag, feed.body_hash, feed.error_count) == (
        "ok",
        '"e1"',
        "b1",
        0,
    )
    assert feed.recent_entry_times == (NOW,)
    err = HTTPStatusError(A, 500, "HTTP 500 Internal Server Error")
    record(store, A, result=ok_result(A, status=500, body=None, error=err))
    record(store, A, result=ok_result(A, status=500, body=None, error=err))
    feed = store.get_feed(A)
    assert feed and (feed.status, feed.error_count, feed.last_error) == (
        "error",
        2,
        f"{A}: HTTP 500 Internal Server Error",
    )
    assert feed.etag == '"e1"'  # validators survive errors
    record(
        store,
        A,
        result=ok_result(A, status=410, body=None, error=GoneError(A, 410, "HTTP 410 Gone")),
    )
    assert store.get_feed(A).status == "gone"  # type: ignore[union-attr]
    assert claim(store, "run2", force=True, now=NOW + timedelta(seconds=6)) == [B]
    store.release("me", [B])
    store.add_feed(FeedSpec(url=A))  # `feeds add` reactivates a gone feed
    assert store.get_feed(A).status == "ok"  # type: ignore[union-attr]


def test_permanent_redirect_moves_the_feed(store: SQLiteStore) -> None:
    claim(store)
    new = "https://a.example/new-feed"
    record(store, A, result=ok_result(A, permanent_redirect=new))
    assert store.get_feed(A) is None
    moved = store.feed_states()
    assert [(r.url, r.moved_from) for r in moved if r.url == new] == [(new, A)]


def test_history_is_trimmed(store: SQLiteStore) -> None:
    claim(store)
    for _ in range(HISTORY_KEEP + 5):
        record(store, A)
    assert len(store.fetch_history(A, limit=100)) == HISTORY_KEEP


def test_export_fields_and_cursor(store: SQLiteStore) -> None:
    claim(store)
    record(store, A, *(article(identity=f"g{i}") for i in range(5)))
    rows = list(store.articles())
    assert tuple(rows[0].as_dict()) == ARTICLE_FIELDS
    assert rows[0].authors == ("Jo Writer",) and rows[0].tags == ("news",)
    ids = [r.id for r in rows]
    assert ids == sorted(ids)
    assert [r.id for r in store.articles(since_id=ids[2])] == ids[3:]
    assert all(r.story_id for r in rows)


def test_full_text_search(store: SQLiteStore) -> None:
    claim(store)
    record(
        store,
        A,
        article(identity="s1", title="Gale closes ports", content_text="Harbour crews worked."),
        article(identity="s2", title="Budget passes", content_text="The school board voted."),
    )
    assert [r.title for r in store.search("harbour")] == ["Gale closes ports"]
    assert store.search("nothing-like-this") == []  # not FTS5 syntax: searched as words
    assert [r.title for r in store.search('"school board')] == ["Budget passes"]
    with pytest.raises(StoreError, match="empty search query"):
        store.search("  ")


def test_story_groups_near_duplicates_and_keeps_sources(store: SQLiteStore) -> None:
    text = (
        "A fierce autumn gale forced the closure of three northern ports on Monday, harbour "
        "authorities said, as crews worked through the night to tie down stacked containers and "
        "move small vessels to sheltered berths. Wind gusts above 110 kilometres an hour were "
        "measured at the outer breakwater shortly after dawn, and the coastguard asked all leisure "
        "craft to stay in port until the warning is lifted on Wednesday."
    )
    other = (
        "The district board passed next year's school budget at one in the morning after six "
        "hours of debate over bus routes and teacher pay, with two members voting against it and "
        "parents filling the hall until the very end of a long and heated session."
    )
    claim(store)
    record(
        store,
        A,
        article(
            identity="w1",
            title="Gale shuts northern ports",
            content_text=text,
            word_count=len(text.split()),
        ),
        article(identity="o1", title="School budget passes", content_text=other),
    )
    record(
        store,
        B,
        article(
            feed_url=B,
            identity="w2",
            url="https://b.example/storm",
            canonical_url="https://b.example/storm",
            title="Storm closes harbours",
            content_text="NORTH BAY (Wire) - " + text + " Reporting by the wire desk.",
            word_count=len(text.split()) + 8,
        ),
    )
    rows = {r.feed_url + r.title: r for r in store.articles()}
    assert len(rows) == 3
    w1, w2 = rows[A + "Gale shuts northern ports"], rows[B + "Storm closes harbours"]
    assert w1.story_id == w2.story_id != rows[A + "School budget passes"].story_id
    (story,) = store.stories(min_sources=2)
    assert story.n_sources == 2
    assert {s.feed_url for s in story.sources} == {A, B}
    levels = {s.article_id: s.level for s in story.sources}
    assert levels[w2.id] == "duplicate"
    assert json.loads(json.dumps(story.as_dict()))  # JSON-serializable for `stories list --json`


def test_pruned_articles_do_not_come_back(store: SQLiteStore) -> None:
    old, new = NOW - timedelta(days=100), NOW - timedelta(days=1)
    claim(store)
    record(
        store,
        A,
        article(identity="old", published_at=old),
        article(identity="new", published_at=new),
    )
    record(
        store,
        B,
        article(
            feed_url=B, identity="b-old", published_at=old, canonical_url="https://a.example/old"
        ),
    )  # same URL: a second source
    assert store.prune(NOW - timedelta(days=90), dry_run=True) == 1
    assert store.prune(NOW - timedelta(days=90)) == 1
    assert [r.guid for r in store.articles()] == ["new"]
    assert store.stats().stories == 1
    # both feeds still list the old item: it stays deleted
    s = record(store, A, article(identity="old", published_at=old))
    s2 = record(
        store,
        B,
        article(
            feed_url=B, identity="b-old", published_at=old, canonical_url="https://a.example/old"
        ),
    )
    assert (s.new, s2.new) == (0, 0)  # type: ignore[attr-defined]
    assert [r.guid for r in store.articles()] == ["new"]
    assert store.search("old") == []


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


def test_overlapping_all_runs_do_not_hand_feeds_back_and_forth(store: SQLiteStore) -> None:
    """Two `run --all` at once: a feed one run has done is not taken again by the other
    (it was attempted after that run started), nor by the first."""
    import time

    started = int(time.time() * 1000) - 1
    assert claim(store, "h:1:runA", force=True, limit=1, started_ms=started) == [A]
    record(store, A, owner="h:1:runA")
    assert claim(store, "h:2:runB", force=True, started_ms=started) == [B]
    assert claim(store, "h:1:runA", force=True, started_ms=started) == []
    # a run that starts later takes A again
    assert claim(store, "h:3:runC", force=True, started_ms=int(time.time() * 1000) + 1) == [A]


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
