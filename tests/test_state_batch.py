"""Fetch outcomes are written several to a transaction (pipeline._WriteBatch): fewer commits
and fewer turns of the write lock, nothing lost, every feed's outcome counted from what
was written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from factories import NOW, decision, ok_result
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest import pipeline
from ingest.errors import StoreError
from ingest.models import FetchResult, FetchWrite
from ingest.pipeline import STATE_BATCH, run_once
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
    rows = store.feed_rows()
    assert all(r["last_http_status"] == 304 and r["lease_owner"] is None for r in rows)
    history = store.fetch_history(rows[0]["url"])
    assert [h["outcome"] for h in history[:2]] == ["not_modified", "ok"]
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
    status = {r["url"].rsplit("/", 1)[1]: r["status"] for r in store.feed_rows()}
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
    with pytest.raises(StoreError, match="disk full"):
        asyncio.run(run_once(store, _settings(), force=True))
    assert len(list(store.articles())) == before == 2


def test_a_slow_run_writes_a_short_batch_before_it_ends(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished feed's state does not wait for the end of a long run."""
    monkeypatch.setattr(pipeline, "STATE_BATCH_S", 0.2)
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
