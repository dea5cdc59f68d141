"""Fetches that bring no articles (304s, unchanged bodies, errors) are written several to a
transaction: fewer commits and fewer turns of the write lock, nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from factories import NOW, decision, ok_result
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest import pipeline
from ingest.models import FetchResult
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
    assert calls == {"record_fetch": 0, "record_fetches": 2}  # 25 + the last 5
    rows = store.feed_rows()
    assert all(r["last_http_status"] == 304 and r["lease_owner"] is None for r in rows)
    history = store.fetch_history(rows[0]["url"])
    assert [h["outcome"] for h in history[:2]] == ["not_modified", "ok"]
    # the next run sees every feed done: nothing is fetched twice
    assert asyncio.run(run_once(store, _settings())).outcomes == []


def test_errors_are_batched_too_and_articles_are_not(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    good = rss("Good", "https://g.example/", make_items(1, 3, site="https://g.example"))
    store.add_feed(FeedSpec(url=feed_server.route("/good.xml", body=good)))
    store.add_feed(FeedSpec(url=feed_server.route("/gone.xml", status=410)))
    store.add_feed(
        FeedSpec(
            url=feed_server.route(
                "/broken.xml", body=b"<html><body><p>Not a feed at all.</p></body></html>"
            )
        )
    )
    calls = _count_calls(store, monkeypatch)
    report = asyncio.run(run_once(store, _settings(), force=True))
    assert report.new == 3
    assert calls == {"record_fetch": 1, "record_fetches": 1}  # the articles go on their own
    status = {r["url"].rsplit("/", 1)[1]: r["status"] for r in store.feed_rows()}
    assert status == {"good.xml": "ok", "gone.xml": "gone", "broken.xml": "error"}


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
        [(f, r, decision()) for f, r in zip(feeds, results, strict=True)],  # type: ignore[misc]
        owner="me",
    )
    assert [s.feed_url for s in out] == urls
    assert store.get_feed(urls[0]) is None
    b = store.get_feed(urls[1])
    assert b is not None and b.last_http_status == 304 and b.last_fetched_at == NOW
