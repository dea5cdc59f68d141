"""What only the PostgreSQL backend has: its migrations, clean errors, and many writers at
once (the real server at 127.0.0.1:5432, a fresh database per test session)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from factories import NOW, article, decision, ok_result
from test_story_merge import _words

from ingest.errors import StoreError
from ingest.settings import FeedSpec
from ingest.stories import signature
from storage import open_store
from storage.postgres import PostgresStore
from storage.postgres.schema import MIGRATIONS
from storage.postgres.stories import PgStories


def test_schema_is_versioned_and_reopening_is_idempotent(pg_url: str) -> None:
    open_store(pg_url).close()
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    row = store.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    assert row == (len(MIGRATIONS),)
    store.close()


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    try:
        with pytest.raises(StoreError, match="schema version 99 is newer than this program"):
            open_store(pg_url)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = 99")


def test_an_unreachable_server_is_one_clear_line_without_the_password() -> None:
    url = "postgresql://ingest:s3cret@127.0.0.1:1/news"  # nothing listens on port 1
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert message.startswith("postgresql://ingest:***@127.0.0.1:1/news: cannot connect")
    assert "s3cret" not in message and "\n" not in message


def test_concurrent_claims_never_share_a_feed_nor_a_host(pg_url: str) -> None:
    """Eight runs claim at once, over and over, each writing what it claimed: every feed is
    done exactly once, and no host is leased to two owners at the same moment."""
    setup = open_store(pg_url)
    urls = [f"https://h{i % 6}.example/f{i}" for i in range(60)]
    for url in urls:
        setup.add_feed(FeedSpec(url=url))
    setup.close()
    claimed: list[tuple[str, str]] = []
    overlaps: list[str] = []
    held: dict[str, str] = {}  # host -> owner holding it now
    guard = threading.Lock()
    start = threading.Barrier(8)
    started_ms = int(time.time() * 1000)

    def worker(n: int) -> None:
        store = open_store(pg_url)
        owner = f"host:{n}:run{n}"
        start.wait()
        try:
            while batch := store.claim_feeds(
                now=NOW, owner=owner, lease_s=600, limit=3, force=True, started_ms=started_ms
            ):
                hosts = {f.url.split("/")[2] for f in batch}
                with guard:
                    for h in hosts:
                        if held.get(h, owner) != owner:
                            overlaps.append(h)
                        held[h] = owner
                    claimed.extend((owner, f.url) for f in batch)
                time.sleep(0.005)
                with guard:
                    for h in hosts:
                        del held[h]
                for f in batch:  # done: the lease goes, the run does not take it again
                    store.record_fetch(f, ok_result(f.url), decision(), owner=owner)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(url for _, url in claimed)
    assert set(counts) == set(urls) and set(counts.values()) == {1}
    assert overlaps == []


def test_two_workers_storing_copies_of_one_story_at_once_make_one_story(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each writer looks for candidates, then waits a moment before it decides (widening
    the race): without the band-key locks both find none and found two stories."""
    real = PgStories._decide_story

    def slow(self: PgStories, *args: object, **kw: object) -> object:
        decided = real(self, *args, **kw)  # type: ignore[arg-type]
        time.sleep(0.3)
        return decided

    monkeypatch.setattr(PgStories, "_decide_story", slow)
    feeds = [f"https://{x}.example/feed" for x in "pq"]
    setup = open_store(pg_url)
    for url in feeds:
        setup.add_feed(FeedSpec(url=url))
    setup.close()
    words = _words(7, 250)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(url: str, text: str) -> None:
        store = open_store(pg_url)
        try:
            feed = store.get_feed(url)
            assert feed is not None
            a = article(feed_url=url, identity="x", url=f"{url}/x", canonical_url=f"{url}/x",
                        content_text=text, word_count=len(text.split()), content_hash=url)  # fmt: skip
            start.wait()
            store.record_fetch(feed, ok_result(url), decision(), owner="w",
                               articles=[(a, signature(a.title, a.content_text))])  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    texts = [" ".join(words), "Advertisement. " + " ".join(words) + " Share this."]
    threads = [
        threading.Thread(target=writer, args=args) for args in zip(feeds, texts, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_store(pg_url)
    try:
        rows = list(store.articles())
        assert len(rows) == 2 and len({r.story_id for r in rows}) == 1
        (story,) = store.stories()
        assert sorted(s.level or "" for s in story.sources) == ["duplicate", "self"]
    finally:
        store.close()


def test_a_lease_expires_for_another_machine(pg_url: str) -> None:
    """A lease held by a process of another host (its liveness unknown here) holds until
    it expires, then the feed is taken over."""
    store = open_store(pg_url)
    try:
        store.add_feed(FeedSpec(url="https://a.example/feed"))
        assert store.claim_feeds(now=NOW, owner="other-host:1:r1", lease_s=30, limit=5)
        assert store.claim_feeds(now=NOW, owner="me:2:r2", lease_s=30, limit=5) == []
        later = NOW + timedelta(seconds=31)
        taken = store.claim_feeds(now=later, owner="me:2:r2", lease_s=30, limit=5)
        assert [f.url for f in taken] == ["https://a.example/feed"]
    finally:
        store.close()
