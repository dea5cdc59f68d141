"""Fetch outcomes are written several to a transaction (pipeline._WriteBatch): fewer commits
and fewer turns of the write lock, nothing lost, every feed's outcome counted from what
was written."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from factories import NOW, decision, ok_result
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest import _writebatch, pipeline
from ingest._writebatch import STATE_BATCH
from ingest.errors import StoreError
from ingest.models import FetchResult, FetchWrite
from ingest.pipeline import run_once
from ingest.settings import FeedSpec, Settings
from storage.sqlite import SQLiteStore


def _settings() -> Settings:
    return Settings(allow_private_networks=True, per_host_delay_s=0, per_host_concurrency=8)


def _count_calls(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"record_fetch": 0, "record_fetches": 0}
    for name in calls:
        real = getattr(store, name)

        def spy(*args: object, _real: object = real, _name: str = name, **kw: object) -> object:
            calls[_name] += 1
            return _real(*args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(store, name, spy)
    return calls


def test_a_warm_run_writes_its_304s_in_batches(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = STATE_BATCH + 5
    store = SQLiteStore(tmp_path / "t.db")
    for i in range(n):
        body = rss(
            f"Feed {i}", f"https://s{i}.example/", make_items(i, 2, site=f"https://s{i}.example")
        )
        store.add_feed(FeedSpec(url=feed_server.route(f"/f{i}.xml", body=body, etag="auto")))
    cold = asyncio.run(run_once(store, _settings(), force=True))
    assert cold.new == 2 * n

    calls = _count_calls(store, monkeypatch)
    warm = asyncio.run(run_once(store, _settings(), force=True))
    assert [o.outcome for o in warm.outcomes] == ["not_modified"] * n
    assert calls["record_fetch"] == 0
    assert 2 <= calls["record_fetches"] <= n // 3  # batches: at most 25, several on average
    rows = store.feed_states()
    assert all(r.last_http_status == 304 and r.lease_owner is None for r in rows)
    history = store.fetch_history(rows[0].url)
    assert [h.outcome for h in history[:2]] == ["not_modified", "ok"]
    # the next run sees every feed done: nothing is fetched twice
    assert asyncio.run(run_once(store, _settings())).outcomes == []


def test_articles_and_errors_go_in_one_batch_and_are_counted(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    good = rss("Good", "https://g.example/", make_items(1, 3, site="https://g.example"))
    store.add_feed(FeedSpec(url=feed_server.route("/good.xml", body=good)))
    store.add_feed(FeedSpec(url=feed_server.route("/gone.xml", status=410)))
    store.add_feed(FeedSpec(url=feed_server.route("/broken.xml", body=b"<html><p>No.</p></html>")))
    calls = _count_calls(store, monkeypatch)
    outcomes: dict[str, pipeline.FeedOutcome] = {}
    report = asyncio.run(
        run_once(
            store,
            _settings(),
            force=True,
            on_outcome=lambda o: outcomes.setdefault(o.url.rsplit("/", 1)[1], o),
        )
    )
    assert calls["record_fetch"] == 0 and calls["record_fetches"] >= 1
    assert report.new == 3 and outcomes["good.xml"].new == 3  # counted from the write
    assert outcomes["gone.xml"].error_kind == "gone" and outcomes["gone.xml"].new == 0
    status = {r.url.rsplit("/", 1)[1]: r.status for r in store.feed_states()}
    assert status == {"good.xml": "ok", "gone.xml": "gone", "broken.xml": "error"}
    assert len(list(store.articles())) == 3


def test_a_batch_that_fails_to_write_fails_the_run_and_keeps_what_was_stored(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store failure is not one feed's problem: the run stops with it, and nothing
    written before is lost (the transaction of the failed batch rolls back whole)."""
    store = SQLiteStore(tmp_path / "t.db")
    body = rss("F", "https://f.example/", make_items(1, 2, site="https://f.example"))
    store.add_feed(FeedSpec(url=feed_server.route("/f.xml", body=body)))
    asyncio.run(run_once(store, _settings(), force=True))
    before = len(list(store.articles()))

    def broken(*args: object, **kw: object) -> object:
        raise StoreError("disk full (simulated)")

    monkeypatch.setattr(store, "record_fetches", broken)
    monkeypatch.setattr(store, "try_record_fetches", broken)
    with pytest.raises(StoreError, match="disk full"):
        asyncio.run(run_once(store, _settings(), force=True))
    assert len(list(store.articles())) == before == 2


def test_a_slow_run_writes_a_short_batch_before_it_ends(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished feed's state does not wait for the end of a long run."""
    monkeypatch.setattr(_writebatch, "STATE_BATCH_S", 0.2)
    store = SQLiteStore(tmp_path / "t.db")
    fast = feed_server.route("/fast.xml", status=410)
    slow = feed_server.route("/slow.xml", status=410, delay_s=1.5)
    store.add_feed(FeedSpec(url=fast))
    store.add_feed(FeedSpec(url=slow))
    seen: list[str | None] = []

    def on_outcome(outcome: pipeline.FeedOutcome) -> None:
        if outcome.url == slow:  # by then the fast feed's state must be stored
            seen.append(store.get_feed(fast).status)  # type: ignore[union-attr]

    asyncio.run(run_once(store, _settings(), force=True, on_outcome=on_outcome))
    assert seen == ["gone"]


def test_record_fetches_skips_a_feed_removed_meanwhile(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    urls = ["https://a.example/feed", "https://b.example/feed"]
    for url in urls:
        store.add_feed(FeedSpec(url=url))
    feeds = [store.get_feed(u) for u in urls]
    store.remove_feed(urls[0])
    results: list[FetchResult] = [ok_result(u, status=304, not_modified=True) for u in urls]
    out = store.record_fetches(
        [FetchWrite(f, r, decision()) for f, r in zip(feeds, results, strict=True)],  # type: ignore[arg-type]
        owner="me",
    )
    assert [s.feed_url for s in out] == urls
    assert store.get_feed(urls[0]) is None
    b = store.get_feed(urls[1])
    assert b is not None and b.last_http_status == 304 and b.last_fetched_at == NOW


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another writer (a second process would do the same): holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def _writes(store: SQLiteStore, urls: list[str]) -> list[FetchWrite]:
    feeds = [store.get_feed(u) for u in urls]
    return [
        FetchWrite(f, ok_result(f.url, status=304, not_modified=True), decision())  # type: ignore[union-attr,arg-type]
        for f in feeds
    ]


def test_try_record_fetches_gives_way_at_once_to_another_writer(tmp_path: Path) -> None:
    """While another connection holds the write lock, `try_record_fetches` returns None at
    once and writes nothing (no busy-handler sleeps); a plain `record_fetches` afterwards
    still waits for the lock (the busy timeout is back), and both write once it is free."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    urls = [f"https://s{i}.example/feed" for i in range(3)]
    for url in urls:
        store.add_feed(FeedSpec(url=url))
    other = _hold_write_lock(path)
    t0 = time.monotonic()
    assert store.try_record_fetches(_writes(store, urls[:1]), owner="me") is None
    assert time.monotonic() - t0 < 5  # the busy timeout is 30 s
    assert store.get_feed(urls[0]).last_http_status is None  # type: ignore[union-attr]

    threading.Timer(0.3, other.commit).start()  # the other writer finishes a moment later
    out = store.record_fetches(_writes(store, urls[1:2]), owner="me")  # waits, then writes
    assert [s.feed_url for s in out] == urls[1:2]
    out2 = store.try_record_fetches(_writes(store, [urls[0], urls[2]]), owner="me")
    assert out2 is not None and [s.feed_url for s in out2] == [urls[0], urls[2]]
    assert all(store.get_feed(u).last_http_status == 304 for u in urls)  # type: ignore[union-attr]
    other.close()


def test_a_full_batch_keeps_growing_while_another_process_writes(tmp_path: Path) -> None:
    """A batch that is full but finds the write lock taken stays queued (this process goes
    on with its other feeds) and is written by the next attempt once the lock is free;
    every feed gets its outcome."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    urls = [f"https://s{i}.example/feed" for i in range(STATE_BATCH + 1)]
    for url in urls:
        store.add_feed(FeedSpec(url=url))
    writes = _writes(store, urls)
    other = _hold_write_lock(path)

    async def main() -> list[str]:
        batch = pipeline._WriteBatch(store, "me", {"store": 0.0})
        batch.active = 100  # other feeds are in flight: nobody forces the write
        tasks = [asyncio.create_task(batch.write(w)) for w in writes[:STATE_BATCH]]
        await asyncio.sleep(0.05)
        assert len(batch.items) == STATE_BATCH  # full, tried, and still queued
        assert not any(t.done() for t in tasks)
        other.commit()
        tasks.append(asyncio.create_task(batch.write(writes[STATE_BATCH])))  # tries again
        return [s.feed_url for s in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == urls
    assert all(store.get_feed(u).last_http_status == 304 for u in urls)  # type: ignore[union-attr]
    other.close()


def test_articles_are_prepared_before_they_queue_for_the_write_lock(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline has the store do each write's database-free work (`Store.prepare`)
    as it queues the write, so two workers do it at once instead of in turn under the
    lock: what reaches the store is already prepared."""
    from storage.common import Prepared as _Prepared

    store = SQLiteStore(tmp_path / "t.db")
    for i in range(3):
        body = rss(
            f"F{i}", f"https://f{i}.example/", make_items(i, 4, site=f"https://f{i}.example")
        )
        store.add_feed(FeedSpec(url=feed_server.route(f"/f{i}.xml", body=body)))
    seen: list[object] = []
    for name in ("record_fetches", "try_record_fetches"):
        real = getattr(store, name)

        def spy(fetches: list[FetchWrite], *, owner: str, _real: object = real) -> object:
            seen.extend(sig for w in fetches for _, sig in w.articles)
            return _real(fetches, owner=owner)  # type: ignore[operator]

        monkeypatch.setattr(store, name, spy)
    report = asyncio.run(run_once(store, _settings(), force=True))
    assert report.new == 12 and len(list(store.articles())) == 12
    assert len(seen) >= 12 and all(isinstance(s, _Prepared) for s in seen)


def test_only_articles_the_store_does_not_know_are_signed(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed polled again with one new item among the known ones: only the new item gets
    a story signature (the known ones, revised or not, are updated or skipped by identity,
    never matched). The revised item is still updated and the new one stored."""
    from storage.common import Prepared as _Prepared

    store = SQLiteStore(tmp_path / "t.db")
    items = make_items(7, 6, site="https://f.example")
    url = feed_server.route("/f.xml", body=rss("F", "https://f.example/", items))
    store.add_feed(FeedSpec(url=url))
    assert asyncio.run(run_once(store, _settings(), force=True)).new == 6

    revised = dict(items[2], html=items[2]["html"] + "<p>A correction follows.</p>")
    later = [*make_items(7, 1, start=6, site="https://f.example"), *items[:2], revised, *items[3:]]
    feed_server.update("/f.xml", body=rss("F", "https://f.example/", later))
    seen: list[_Prepared | None] = []
    real = store.prepare

    def spy(fetch: FetchWrite) -> FetchWrite:
        out = real(fetch)
        seen.extend(sig for _, sig in out.articles)
        return out

    monkeypatch.setattr(store, "prepare", spy)
    report = asyncio.run(run_once(store, _settings(), force=True))
    assert (report.new, report.updated) == (1, 1)
    assert len(seen) == 7
    prepared = [s for s in seen if isinstance(s, _Prepared)]
    assert len(prepared) == 1 and prepared[0].blob and len(prepared[0].keys) > 0
    assert seen.count(None) == 6  # known: neither signed nor prepared
    assert len(list(store.articles())) == 7
