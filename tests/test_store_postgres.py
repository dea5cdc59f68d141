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

from ingest.dedupe import signature
from ingest.errors import StoreError
from ingest.settings import FeedSpec
from storage import open_store
from storage.postgres import PostgresStore
from storage.postgres.base import LOCK_STRIPES
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


def test_new_article_ids_become_visible_in_order(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A downstream cursor (`--since-id`) must never pass an id a slower writer commits later:
    while one writer holds a new id (slowed down after taking it), another's new article
    waits, and a reader never sees a gap that is filled afterwards."""
    slow_feed = "https://slow.example/feed"
    real = PgStories._decide_story

    def slow(self: PgStories, tx: object, a: object, *args: object, **kw: object) -> object:
        decided = real(self, tx, a, *args, **kw)  # type: ignore[arg-type]
        if a.feed_url == slow_feed:  # type: ignore[attr-defined]
            time.sleep(0.6)
        return decided

    monkeypatch.setattr(PgStories, "_decide_story", slow)
    setup = open_store(pg_url)
    for url in (slow_feed, "https://fast.example/feed"):
        setup.add_feed(FeedSpec(url=url))
    setup.close()
    seen: list[list[int]] = []
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not stop.wait(0.02):
                seen.append([r[0] for r in conn.execute("SELECT id FROM articles ORDER BY id")])

    def writer(url: str, words: list[str]) -> None:
        store = open_store(pg_url)
        try:
            feed = store.get_feed(url)
            assert feed is not None
            a = article(feed_url=url, identity="x", url=f"{url}/x", canonical_url=f"{url}/x",
                        content_text=" ".join(words), content_hash=url)  # fmt: skip
            store.record_fetch(feed, ok_result(url), decision(), owner="w",
                               articles=[(a, signature(a.title, a.content_text))])  # fmt: skip
        finally:
            store.close()

    watch = threading.Thread(target=reader)
    watch.start()
    slow_writer = threading.Thread(target=writer, args=(slow_feed, _words(11, 80)))
    slow_writer.start()
    time.sleep(0.2)  # it holds id 1 now
    writer("https://fast.example/feed", _words(12, 80))
    slow_writer.join()
    time.sleep(0.1)
    stop.set()
    watch.join()
    assert seen[-1] == [1, 2]
    # every snapshot is a prefix of the ids: no id appeared before a lower one
    assert all(ids == list(range(1, len(ids) + 1)) for ids in seen), [s for s in seen if s]


def test_a_server_gone_mid_session_is_one_clear_line_then_reconnected(pg_url: str) -> None:
    """The store's connection dropped (a server restart, an admin): the call that meets it
    fails with a StoreError naming the database in one line (the CLI prints it, a daemon's
    tick logs it), and the next call connects again."""
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    try:
        for call in (store.stats, store.feeds, lambda: store.due_count(NOW)):
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
            with pytest.raises(StoreError) as info:
                call()
            assert "\n" not in str(info.value) and "postgresql://postgres@" in str(info.value)
        assert store.add_feed(FeedSpec(url="https://a.example/feed"))
        assert [f.url for f in store.feeds()] == ["https://a.example/feed"]
    finally:
        store.close()


def test_a_lease_renewal_chosen_as_a_deadlock_victim_is_run_again(pg_url: str) -> None:
    """A write batch locks its feeds' rows in the order they finished, and may hold a feed
    whose expired lease the renewing run has taken over: the two lock rows in opposite
    orders. The renewal (one statement) is the deadlock's victim and is run again."""
    a, b = "https://a.example/feed", "https://b.example/feed"
    store = open_store(pg_url)
    writer = psycopg.connect(pg_url)  # a transaction, as a write batch's
    try:
        for url in (a, b):
            store.add_feed(FeedSpec(url=url))
        assert [f.url for f in store.claim_feeds(now=NOW, owner="h:1:r1", lease_s=60,
                                                 limit=9)] == [a, b]  # fmt: skip
        writer.execute("SET deadlock_timeout = '30s'")  # the renewal detects the cycle
        writer.execute("SELECT 1 FROM feeds WHERE url = %s FOR UPDATE", (b,))
        renewed: list[object] = []

        def renew() -> None:
            try:
                renewed.append(store.renew("h:1:r1", [a, b], now=NOW, lease_s=120))
            except Exception as exc:  # reported by the assertion below
                renewed.append(exc)

        thread = threading.Thread(target=renew)
        thread.start()
        with psycopg.connect(pg_url, autocommit=True) as watch:
            deadline = time.monotonic() + 60
            while not watch.execute(  # the renewal holds a's row and waits for b's
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE feeds SET lease_until%%'"
            ).fetchone():
                assert time.monotonic() < deadline and thread.is_alive(), renewed
                time.sleep(0.02)
        writer.execute("SELECT 1 FROM feeds WHERE url = %s FOR UPDATE", (a,))  # the cycle
        writer.commit()
        thread.join(60)
        assert renewed == [2]
        assert [f.lease_owner for f in store.feed_states()] == ["h:1:r1", "h:1:r1"]
    finally:
        writer.close()
        store.close()


def test_a_large_write_holds_a_bounded_number_of_advisory_locks(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 300 articles has thousands of band keys; one advisory lock each filled
    the server's shared lock table (6,400 slots at the defaults) as soon as two or three
    workers wrote at once ("out of shared memory"). Counted from another connection while
    the write holds its locks."""
    real = PgStories._decide_story
    held: list[int] = []

    def counting(self: PgStories, *args: object, **kw: object) -> object:
        if not held:
            pid = self.conn.info.backend_pid
            with psycopg.connect(pg_url, autocommit=True) as watch:
                row = watch.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                    " AND pid = %s",
                    (pid,),
                ).fetchone()
            held.append(int(row[0]) if row else -1)
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(PgStories, "_decide_story", counting)
    url = "https://a.example/feed"
    store = open_store(pg_url)
    try:
        store.add_feed(FeedSpec(url=url))
        feed = store.get_feed(url)
        assert feed is not None
        pairs = []
        for i in range(300):
            text = " ".join(_words(1000 + i, 120))
            a = article(feed_url=url, identity=f"g{i}", content_text=text, word_count=120,
                        content_hash=f"h{i}")  # fmt: skip
            pairs.append((a, signature(a.title, a.content_text)))
        store.record_fetch(feed, ok_result(url), decision(), owner="w", articles=pairs)
        assert len(list(store.articles())) == 300
    finally:
        store.close()
    # room for 20 workers writing at once in the server's default lock table
    # (max_locks_per_transaction 64 x max_connections 100)
    assert held and 0 < held[0] <= LOCK_STRIPES <= 64 * 100 // 20, held
