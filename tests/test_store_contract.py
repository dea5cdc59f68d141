"""The store contract: every shared behaviour, on both backends (a SQLite file, and a fresh
PostgreSQL database per test session at 127.0.0.1:5432, see tests/pgdb.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from factories import NOW, article, claim, decision, ok_result, record
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest.dedupe import signature
from ingest.errors import GoneError, HTTPStatusError, StoreError
from ingest.models import ARTICLE_FIELDS
from ingest.settings import FeedSpec
from ingest.timeutil import utcnow
from storage import Store
from storage.common import HISTORY_KEEP, host_key

A = "https://a.example/feed"
B = "https://b.example/feed"
SLOW_FEED = rss("Slow", "https://slow.example/", make_items(1, 3, site="https://slow.example"))


@pytest.fixture
def store(empty_store: Store) -> Store:
    empty_store.add_feed(FeedSpec(url=A))
    empty_store.add_feed(FeedSpec(url=B))
    return empty_store


def test_claims_are_exclusive_and_expire(store: Store) -> None:
    assert claim(store, "one") == [A, B]
    assert claim(store, "two") == []  # leased by "one"
    # a killed run's lease expires
    assert claim(store, "two", now=NOW + timedelta(seconds=601)) == [A, B]


def test_a_host_another_owner_is_fetching_waits_for_it(empty_store: Store) -> None:
    """Politeness across processes: no feed of a host on which another owner holds a live
    lease (a feed of that host in flight elsewhere) is claimed."""
    store = empty_store
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


def test_workers_take_their_share_of_hosts_first_then_the_rest(empty_store: Store) -> None:
    store = empty_store
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


def test_claim_skips_feeds_not_due_and_attempted(store: Store) -> None:
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


def test_new_unchanged_and_revised(store: Store) -> None:
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
    store: Store,
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


def test_guid_changing_every_fetch_with_same_link_is_not_a_new_article(store: Store) -> None:
    claim(store)
    record(store, A, article(identity="rand-1", canonical_url="https://a.example/story"))
    s = record(store, A, article(identity="rand-2", canonical_url="https://a.example/story"))
    assert s.new == 0  # type: ignore[attr-defined]
    assert len(list(store.articles())) == 1


def test_filtered_articles_are_recorded_not_stored(store: Store) -> None:
    claim(store)
    s = record(
        store, A, article(identity="x", filtered="block rule title~'advert'"), article(identity="y")
    )
    assert (s.new, s.filtered) == (1, 1)  # type: ignore[attr-defined]
    assert [f.reason for f in store.filtered(A)] == ["block rule title~'advert'"]


def test_feed_state_after_success_and_errors(store: Store) -> None:
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


def test_permanent_redirect_moves_the_feed(store: Store) -> None:
    claim(store)
    new = "https://a.example/new-feed"
    record(store, A, result=ok_result(A, permanent_redirect=new))
    assert store.get_feed(A) is None
    moved = store.feed_states()
    assert [(r.url, r.moved_from) for r in moved if r.url == new] == [(new, A)]


def test_history_is_trimmed(store: Store) -> None:
    claim(store)
    for _ in range(HISTORY_KEEP + 5):
        record(store, A)
    assert len(store.fetch_history(A, limit=100)) == HISTORY_KEEP


def test_export_fields_and_cursor(store: Store) -> None:
    claim(store)
    record(store, A, *(article(identity=f"g{i}") for i in range(5)))
    rows = list(store.articles())
    assert tuple(rows[0].as_dict()) == ARTICLE_FIELDS
    assert rows[0].authors == ("Jo Writer",) and rows[0].tags == ("news",)
    ids = [r.id for r in rows]
    assert ids == sorted(ids)
    assert [r.id for r in store.articles(since_id=ids[2])] == ids[3:]
    assert all(r.story_id for r in rows)


def test_full_text_search(store: Store) -> None:
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


def test_story_groups_near_duplicates_and_keeps_sources(store: Store) -> None:
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


def test_pruned_articles_do_not_come_back(store: Store) -> None:
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


def test_overlapping_all_runs_do_not_hand_feeds_back_and_forth(store: Store) -> None:
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


# ------------------------------------------------------------------ more of the contract


def test_add_sync_status_remove(empty_store: Store) -> None:
    store = empty_store
    assert store.add_feed(FeedSpec(url=A, title="A")) is True
    assert store.add_feed(FeedSpec(url=A, title="A2", tags=("x",))) is False  # an update
    feed = store.get_feed(A)
    assert feed is not None and (feed.title, feed.tags) == ("A2", ("x",))
    plan = store.sync_feeds([FeedSpec(url=A, title="A2", tags=("x",)), FeedSpec(url=B)])
    assert ([f.url for f in plan.add], plan.update, plan.remove) == ([B], (), ())
    plan = store.sync_feeds([FeedSpec(url=B, title="B")])  # A was added by hand: kept
    assert (len(plan.update), plan.remove, plan.kept) == (1, (), (A,))
    assert store.sync_feeds([FeedSpec(url=B, title="B")], removal="all").remove == (A,)
    assert [f.url for f in store.feeds()] == [B]
    assert store.set_status(B, "disabled") and store.get_feed(B).status == "disabled"  # type: ignore[union-attr]
    assert claim(store) == [] and store.due_count(NOW) == 0
    assert store.set_status(B, "ok") and store.due_count(NOW) == 1
    assert store.next_due_at() is not None
    assert store.remove_feed(B) and not store.remove_feed(B)
    assert store.set_status(B, "ok") is False and store.get_feed(B) is None


def test_origins_edits_and_tombstones(empty_store: Store) -> None:
    """Issue #19 on every backend: sync removes only config feeds that left the config; a
    changed option makes a feed due now and drops the kept interval; prune's plan, its
    tombstones, and lifting them."""
    from ingest.models import FeedOptions

    store = empty_store
    store.add_feed(FeedSpec(url=A), source="cli")
    store.sync_feeds([FeedSpec(url=B)])
    assert (store.feed_source(A), store.feed_source(B), store.feed_source("x")) == (
        "cli", "config", None,
    )  # fmt: skip
    plan = store.sync_feeds([], dry_run=True)
    assert (plan.remove, plan.kept) == ((B,), (A,)) and store.feed_source(B) == "config"
    claim(store)
    record(store, A, article(feed_url=A, identity="old", published_at=NOW - timedelta(days=30)))
    assert store.due_urls(NOW) == [B] and store.get_feed(A).interval_s == 3600  # type: ignore[union-attr]
    assert store.update_feed(FeedSpec(url=A, options=FeedOptions(interval_s=600)))
    feed = store.get_feed(A)
    assert feed is not None and (feed.next_poll_at, feed.interval_s) == (None, None)
    assert feed.schedule_reason == "settings changed" and store.due_urls(NOW) == [A, B]
    assert store.update_feed(FeedSpec(url="https://nope.example/")) is False
    assert store.prune_plan(NOW - timedelta(days=7)) == [(A, 1)]
    assert store.prune(NOW - timedelta(days=7)) == 1
    total, rows = store.tombstones(feed_url=A)
    assert (total, [r.identity for r in rows]) == (1, ["old"])
    assert store.unprune(feed_url=B) == 0 and store.unprune(since=NOW - timedelta(days=1)) == 1
    assert store.tombstones() == (0, [])


def test_a_doubled_write_stores_nothing_twice(store: Store) -> None:
    """A retried batch (the same fetch written again) adds no article, source or story."""
    claim(store)
    arts = [article(identity=f"g{i}", content_text=f"Body {i} of the day.") for i in range(3)]
    first = record(store, A, *arts)
    again = record(store, A, *arts)
    assert (first.new, again.new, again.unchanged) == (3, 0, 3)  # type: ignore[attr-defined]
    stats = store.stats()
    assert (stats.articles, stats.sources) == (3, 3)
    assert store.known_identities(A, ["g0", "g2", "nope"]) == {"g0", "g2"}
    assert store.known_identities(B, ["g0"]) == set()


def test_a_batch_skips_a_feed_removed_meanwhile(store: Store) -> None:
    from ingest.models import FetchWrite

    claim(store)
    writes = [
        FetchWrite(store.get_feed(u), ok_result(u), decision(), None,  # type: ignore[arg-type]
                   [(article(feed_url=u, identity="x"), None)])
        for u in (A, B)
    ]  # fmt: skip
    store.remove_feed(A)
    done = store.record_fetches([store.prepare(w) for w in writes], owner="me")
    assert [(s.feed_url, s.new) for s in done] == [(A, 0), (B, 1)]
    assert [r.feed_url for r in store.articles()] == [B]


def test_reads_are_typed_and_filtered(store: Store) -> None:
    claim(store)
    record(store, A, *(article(identity=f"a{i}", published_at=NOW - timedelta(days=i))
                       for i in range(4)))  # fmt: skip
    record(store, B, article(feed_url=B, identity="b0", canonical_url="https://b.example/b0"))
    rows = list(store.articles(newest_first=True, limit=2))
    assert [r.guid for r in rows] == ["b0", "a3"]
    assert [r.guid for r in store.articles(feed_url=B)] == ["b0"]
    assert [r.guid for r in store.articles(since=NOW - timedelta(days=1, hours=1))] == [
        "a0", "a1", "b0",
    ]  # fmt: skip
    stats = store.stats()
    assert (stats.feeds, stats.articles, stats.sources, stats.filtered) == (2, 5, 5, 0)
    assert stats.feeds_by_status == {"ok": 2, "error": 0, "gone": 0, "disabled": 0}
    assert stats.last_article_id == max(r.id for r in store.articles()) and stats.db_bytes > 0
    states = {f.url: f for f in store.feed_states()}
    assert states[A].last_http_status == 200 and states[A].lease_owner is None
    (hist,) = store.fetch_history(A)
    assert (hist.outcome, hist.new, hist.http_status) == ("ok", 4, 200)
    assert json.loads(json.dumps([s.as_dict() for s in store.stories()]))


def test_read_filters_ids_tag_language_query_story(store: Store) -> None:
    """What `ingest serve` reads by: ids, a tag (the article's own or a carrying feed's, any
    case), a language, a full-text query; one story by id or tag, with its representative."""
    store.add_feed(FeedSpec(url=A, tags=("World",)))
    record(store, A, article(identity="a1", title="Harbour storm closes the port",
                             tags=("Weather",)),
           article(identity="a2", title="Council budget passes", language="fr"))  # fmt: skip
    record(store, B, article(feed_url=B, identity="b1", title="Budget vote in the council",
                             url="https://b.example/b1", canonical_url="https://b.example/b1",
                             content_text="Entirely different words about gardens."))  # fmt: skip
    store.index_pending()  # SQLite indexes after a pass; PostgreSQL as it writes

    def firsts(**kw: object) -> list[str]:  # each found article's title's first word
        return [r.title.split()[0] for r in store.articles(**kw)]  # type: ignore[arg-type]

    a1, a2, b1 = (r.id for r in store.articles())
    assert [r.id for r in store.articles(ids=[b1, a1, 10**9])] == [a1, b1]
    assert list(store.articles(ids=[])) == []
    assert firsts(tag="weather") == ["Harbour"]
    assert firsts(tag="WORLD") == ["Harbour", "Council"]
    assert firsts(tag="nothing") == []
    assert firsts(language="FR") == ["Council"]
    assert firsts(language="en", since_id=a2) == ["Budget"]
    assert firsts(query="budget") == ["Council", "Budget"]
    assert firsts(query="budget", since_id=a2) == ["Budget"]
    assert firsts(query="budget", newest_first=True, limit=1) == ["Budget"]
    with pytest.raises(StoreError, match="empty search query"):
        list(store.articles(query="  "))

    everything = store.stories()
    assert {s.story_id for s in everything} == {r.story_id for r in store.articles()}
    for s in everything:
        (rep,) = store.articles(ids=[s.representative_id])
        assert (rep.story_id, rep.title) == (s.story_id, s.title)
    (only,) = store.stories(story_id=everything[-1].story_id)
    assert only == everything[-1]
    assert store.stories(story_id=10**9) == []
    assert [s.title for s in store.stories(tag="WEATHER")] == ["Harbour storm closes the port"]
    assert {s.title for s in store.stories(tag="world")} == {
        "Harbour storm closes the port",
        "Council budget passes",
    }


def test_a_lease_renewed_in_time_is_not_taken_over(store: Store) -> None:
    assert claim(store, "h:1:r1", lease_s=30) == [A, B]
    later = NOW + timedelta(seconds=20)
    assert store.renew("h:1:r1", [A], now=later, lease_s=30) == 1
    assert store.renew("h:2:r2", [B], now=later, lease_s=30) == 0  # not its lease
    # at +40 s the first lease would have expired: only B (not renewed) is free
    assert claim(store, "h:2:r2", now=NOW + timedelta(seconds=40)) == [B]
    assert claim(store, "h:3:r3", now=NOW + timedelta(seconds=51), force=True) == [A]


def test_a_slow_fetch_keeps_its_lease_while_in_flight(
    empty_store: Store, feed_server: FeedServer
) -> None:
    """The pipeline renews the leases of feeds in flight (a heartbeat every third of the
    lease): a fetch slower than the lease is not handed to another worker meanwhile."""
    import asyncio
    import threading
    import time

    from ingest.pipeline import run_once
    from ingest.settings import Settings
    from storage import open_store

    url = feed_server.route("/slow.xml", body=SLOW_FEED, delay_s=5.0)
    # the first signature loads the word list (a second or more on a busy machine), which
    # would stall the event loop past so short a lease: loaded before, as a daemon has it
    signature("warm up", "the word list")
    # likewise the modules the pipeline imports on its first parse (seconds on a busy
    # machine): imported there, they would stall the event loop while the feed is in flight
    import ingest.normalize
    import ingest.parse
    import ingest.schedule  # noqa: F401

    empty_store.add_feed(FeedSpec(url=url))
    target = getattr(empty_store, "url", None) or empty_store.path  # type: ignore[attr-defined]
    # feeds another worker claimed before the run had recorded them (a claim after the
    # run's record, which frees the lease, is a new poll, not a theft)
    stolen: list[str] = []
    stop = threading.Event()

    def other_worker() -> None:
        other = open_store(target)
        try:
            while not other.feed_states()[0].lease_owner:  # the run has claimed it first
                time.sleep(0.05)
            while not stop.wait(0.3):
                feeds = other.claim_feeds(now=utcnow(), owner="elsewhere:1:x", lease_s=3,
                                          limit=5, force=True)  # fmt: skip
                # the claim reads the feed in its own transaction: no HTTP status yet
                # means the run had not recorded it, so its lease was taken from it
                stolen.extend(f"{f.url} at +{time.monotonic() - t0:.1f} s"
                              for f in feeds if f.last_http_status is None)  # fmt: skip
        finally:
            other.close()

    settings = Settings(allow_private_networks=True, per_host_delay_s=0, lease_s=3)
    thread = threading.Thread(target=other_worker)
    t0 = time.monotonic()
    thread.start()
    try:
        report = asyncio.run(run_once(empty_store, settings, force=True))
    finally:
        stop.set()
        thread.join()
    assert time.monotonic() - t0 > 4.5, report  # the fetch outlived the lease ...
    assert stolen == []  # ... and no other worker got it meanwhile
    assert [o.outcome for o in report.outcomes] == ["ok"]
    assert len(feed_server.requests_for("/slow.xml")) == 1


def test_held_elsewhere_and_check(store: Store) -> None:
    assert claim(store, "h:1:r1", limit=1) == [A]
    held = store.held_elsewhere(now=NOW, owner="h:2:r2")
    assert [(h.url, h.by) for h in held] == [(A, "feed")]
    record(store, A, article(identity="g1"), owner="h:1:r1")
    assert store.held_elsewhere(now=NOW, owner="h:2:r2") == []
    assert store.check() == []


def test_websub_subscriptions_and_the_feeds_push_until(store: Store) -> None:
    from ingest.models import Subscription

    lease = NOW + timedelta(days=5)
    pending = Subscription(A, "cb-a", "pending", "https://hub.example/", A, "s3cret", None, NOW)
    store.save_subscription(pending)
    store.save_subscription(Subscription(B, "cb-b", "nohub", checked_at=NOW))
    assert store.subscriptions() == [pending, Subscription(B, "cb-b", "nohub", checked_at=NOW)]
    assert store.subscription("cb-a") == pending
    assert store.subscription("nope") is None
    assert store.get_feed(A).push_until is None  # type: ignore[union-attr]
    active = Subscription(A, "cb-a", "active", "https://hub.example/", A, "s3cret", lease, NOW)
    store.save_subscription(active)  # replaces the feed's
    assert store.subscriptions()[0] == active
    assert store.get_feed(A).push_until == lease  # type: ignore[union-attr]
    assert [f.push_until for f in store.feeds()] == [lease, None]
    # a claim hands the feed out with it (the schedule reads it)
    assert [f.push_until for f in store.claim_feeds(now=NOW, owner="o", lease_s=60, limit=5, force=True)] == [lease, None]  # fmt: skip
    store.save_subscription(dataclasses.replace(active, state="unsubscribing"))
    assert store.get_feed(A).push_until is None  # type: ignore[union-attr]
    # a removed feed's subscription stays (to be unsubscribed), until dropped
    store.save_subscription(active)
    store.remove_feed(A)
    assert [s.feed_url for s in store.subscriptions()] == [A, B]
    assert store.drop_subscription(A) is True
    assert store.drop_subscription(A) is False
    assert [s.feed_url for s in store.subscriptions()] == [B]
    assert store.check() == []


# ------------------------------------------------------------------ the push sinks' outbox


def _due(store: Store, sink: str, now: object = None) -> list[tuple[int, str, str]]:
    items = store.outbox_due(sink, now=now or NOW + timedelta(days=1), limit=100)  # type: ignore[arg-type]
    return [(i.article_id, i.content_hash, i.kind) for i in items]


def test_the_outbox_queues_new_and_revised_articles_for_each_active_sink(store: Store) -> None:
    record(store, A, article(A, "g0"))  # before any sink: queued for none
    assert store.sink_backlogs() == []
    assert store.sync_sinks(["hook", "redis"], now=NOW) == ["hook", "redis"]
    assert store.sync_sinks(["hook", "redis"], now=NOW) == []
    record(store, A, article(A, "g1"), owner="me")
    (g1,) = [r.id for r in store.articles(feed_url=A) if r.guid == "g1"]
    assert _due(store, "hook") == _due(store, "redis") == [(g1, "hash-g1", "new")]
    record(store, A, article(A, "g1"))  # unchanged: nothing more
    record(store, A, article(A, "g1", content_hash="hash-g1b", title="Title g1, revised"))
    assert _due(store, "hook")[-1] == (g1, "hash-g1b", "revised")
    assert len(_due(store, "hook")) == 2
    # a sink added later receives only what is stored after; one removed keeps its backlog
    store.sync_sinks(["hook", "nats"], now=NOW)
    record(store, B, article(B, "g2"))
    assert [k for _, _, k in _due(store, "nats")] == ["new"]
    assert len(_due(store, "redis")) == 2
    backlog = {b.sink: b for b in store.sink_backlogs()}
    assert {s: (b.active, b.pending) for s, b in backlog.items()} == {
        "hook": (True, 3),
        "nats": (True, 1),
        "redis": (False, 2),
    }


def test_the_outbox_leases_acknowledges_backs_off_and_dead_letters(store: Store) -> None:
    store.sync_sinks(["hook"], now=NOW)
    record(store, A, article(A, "g1"), article(A, "g2"), article(A, "g3"))
    assert store.lease_sink("hook", owner="one", now=NOW, lease_s=60)
    assert not store.lease_sink("hook", owner="two", now=NOW, lease_s=60)
    assert store.lease_sink("hook", owner="one", now=NOW, lease_s=60)  # renewed
    assert store.lease_sink("hook", owner="two", now=NOW + timedelta(seconds=61), lease_s=60)
    store.release_sink("hook", "two")
    assert not store.lease_sink("nope", owner="one", now=NOW, lease_s=60)
    items = store.outbox_due("hook", now=NOW, limit=100)
    assert [i.attempts for i in items] == [0, 0, 0]
    assert items[0].key == f"{items[0].article_id}:hash-g1"
    store.outbox_done("hook", [items[0].id], now=NOW)
    rest = [i.id for i in items[1:]]
    later = NOW + timedelta(seconds=30)
    dead = store.outbox_failed(
        "hook", rest, error="HTTP 500", now=NOW, retry_at=later, max_attempts=2
    )
    assert dead == 0
    assert store.outbox_due("hook", now=NOW, limit=100) == []  # backed off
    again = store.outbox_due("hook", now=later, limit=100)
    assert [i.attempts for i in again] == [1, 1]
    dead = store.outbox_failed(
        "hook", rest, error="HTTP 500", now=later, retry_at=later, max_attempts=2
    )
    assert dead == 2
    (b,) = store.sink_backlogs()
    assert (b.pending, b.dead, b.delivered, b.last_error) == (0, 2, 1, "HTTP 500")
    assert store.retry_dead("other", now=later) == 0
    assert store.retry_dead("hook", now=later) == 2
    back = store.outbox_due("hook", now=later, limit=100)
    assert [(i.attempts, i.content_hash) for i in back] == [(0, "hash-g2"), (0, "hash-g3")]
    assert min(i.id for i in back) > max(rest)  # behind anything already waiting
    store.outbox_done("hook", [i.id for i in back], now=later)
    (b,) = store.sink_backlogs()
    assert (b.pending, b.dead, b.delivered, b.last_error) == (0, 0, 3, None)


def test_replay_queues_what_was_stored_before_a_sink_was_added(store: Store) -> None:
    record(store, A, article(A, "g1"))  # first seen at NOW
    store.sync_sinks(["late"], now=NOW)
    record(store, B, article(B, "g2"))
    assert [k for _, _, k in _due(store, "late")] == ["new"]  # g2 only
    assert store.replay("late", since=NOW - timedelta(days=1), now=NOW) == 2
    due = _due(store, "late")
    assert [h for _, h, _ in due] == ["hash-g2", "hash-g1", "hash-g2"]
    assert store.replay("late", since=NOW + timedelta(days=3650), now=NOW) == 0
