"""The steady state (issue #13): a poll whose items the store mostly holds already does not
normalize again those it holds unchanged (`Store.seen_entries`, ingest.entrydigest), and
stores exactly what a full pass stores: an edited item is updated, a new one is new."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factories import NOW, article, ok_result, record
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest.entrydigest import NORMALIZER_MODULES
from ingest.models import Article, FeedOptions, SeenEntry
from ingest.normalize import normalize_feed
from ingest.parse import parse
from ingest.pipeline import RunReport, process_body, run_once
from ingest.settings import FeedSpec, Settings
from storage import Store

SITE = "https://steady.example"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _settings() -> Settings:
    return Settings(allow_private_networks=True, per_host_delay_s=0)


def _body(items: list[dict[str, str]], poll: int) -> bytes:
    # a feed-level change only: the body differs (no "unchanged body" short cut), the items not
    return rss("Steady", SITE, items).replace(b"test feed", f"test feed, poll {poll}".encode())


def _poll(store: Store) -> RunReport:
    return asyncio.run(run_once(store, _settings(), force=True))


def _records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.guid or "": dataclasses.asdict(r) for r in store.articles()}


def _sources(store: Store) -> dict[str, tuple[Any, ...]]:
    conn: Any = store.conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT identity, article_id, url, canonical_url, content_hash, first_seen_at,"
        " last_seen_at FROM article_sources"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_a_steady_poll_normalizes_only_the_new_and_the_edited(
    empty_store: Store, feed_server: FeedServer
) -> None:
    store = empty_store
    items = make_items(7, 5, site=SITE)
    url = feed_server.route("/steady.xml", body=_body(items, 1))
    store.add_feed(FeedSpec(url=url))

    cold = _poll(store)
    assert (cold.new, cold.normalized, cold.reused) == (5, 5, 0)
    stored, sources = _records(store), _sources(store)

    feed_server.update("/steady.xml", body=_body(items, 2))
    time.sleep(1.01 - time.time() % 1)  # stored times are whole seconds: the next one
    again = _poll(store)
    assert [o.outcome for o in again.outcomes] == ["ok"]
    assert (again.new, again.updated, again.normalized, again.reused) == (0, 0, 0, 5)
    assert _records(store) == stored  # not a field of a stored article changed
    seen_again = _sources(store)
    assert {k: v[:-1] for k, v in seen_again.items()} == {k: v[:-1] for k, v in sources.items()}
    assert all(seen_again[k][-1] > sources[k][-1] for k in sources)  # last seen: now

    edited = dict(items[1], html="<p>The story was corrected, and says so.</p>" + items[1]["html"])
    added = make_items(7, 1, start=5, site=SITE)[0]
    feed_server.update("/steady.xml", body=_body([added, items[0], edited, *items[2:]], 3))
    news = _poll(store)
    assert (news.new, news.updated, news.normalized, news.reused) == (1, 1, 2, 4)
    after = _records(store)
    assert set(after) == {*stored, added["guid"]}
    for guid, before in stored.items():
        if guid != edited["guid"]:
            assert after[guid] == before
    # the edited and the new item are stored as a full pass normalizes them
    fetched_at = datetime.fromisoformat(after[added["guid"]]["fetched_at"])
    full = {
        a.guid: a
        for a in process_body(
            _body([added, items[0], edited, *items[2:]], 3),
            url,
            {},
            fetched_at=fetched_at,
            options=FeedOptions(),
            future_tolerance_s=_settings().future_tolerance_s,
        )[1]
    }
    for guid in (edited["guid"], added["guid"]):
        a = full[guid]
        got = after[guid]
        assert (got["title"], got["content_html"], got["content_text"], got["content_hash"]) == (
            a.title,
            a.content_html,
            a.content_text,
            a.content_hash,
        )
    assert after[edited["guid"]]["content_hash"] != stored[edited["guid"]]["content_hash"]


# ------------------------------------------------------------------ normalize_feed, pure

FETCHED = T0 + timedelta(days=1)


def _seen(articles: list[Article]) -> dict[str, SeenEntry]:
    """What a store holds after storing `articles` (Store.seen_entries)."""
    out = {}
    for a in articles:
        assert a.entry_digest
        out[a.entry_digest] = SeenEntry(a.identity, a.url, a.canonical_url, a.content_hash)
    return out


def _normalize(body: bytes, **kw: Any) -> list[Article]:
    return normalize_feed(parse(body, SITE + "/feed"), feed_url=SITE + "/feed", **kw)


def _same_as_full(reusing: list[Article], full: list[Article]) -> None:
    """Each article as the full pass gives it; a reused one with what the store reads of it."""
    assert len(reusing) == len(full)
    for r, f in zip(reusing, full, strict=True):
        if r.reused:
            keep = ("identity", "guid", "url", "canonical_url", "content_hash", "published_at")
            keep += ("updated_at", "date_source", "published_raw", "fetched_at", "entry_digest")
            assert {k: getattr(r, k) for k in keep} == {k: getattr(f, k) for k in keep}
        else:
            assert r == f


def test_only_entries_stored_from_the_same_raw_entry_are_reused() -> None:
    items = make_items(3, 4, site=SITE)
    first = _normalize(rss("S", SITE, items), fetched_at=T0)
    body = rss("S", SITE, [make_items(3, 1, start=4, site=SITE)[0], *items])
    reusing = _normalize(body, fetched_at=FETCHED, seen=_seen(first))
    assert [a.reused for a in reusing] == [False, True, True, True, True]
    _same_as_full(reusing, _normalize(body, fetched_at=FETCHED))


def test_another_option_or_identity_means_a_full_pass() -> None:
    body = rss("S", SITE, make_items(4, 3, site=SITE))
    first = _normalize(body, fetched_at=T0)
    # a feed option (here: boilerplate cleanup) is in every entry's digest
    other = _normalize(body, fetched_at=FETCHED, options=FeedOptions(cleanup=False))
    assert {a.entry_digest for a in other}.isdisjoint(a.entry_digest for a in first)
    reusing = _normalize(
        body, fetched_at=FETCHED, seen=_seen(first), options=FeedOptions(cleanup=False)
    )
    assert not any(a.reused for a in reusing)
    # stored under another identity: the store would not find it by this one
    seen = {d: s._replace(identity="g:another") for d, s in _seen(first).items()}
    redone = _normalize(body, fetched_at=FETCHED, seen=seen)
    assert not any(a.reused for a in redone)
    _same_as_full(redone, _normalize(body, fetched_at=FETCHED))


def test_the_feed_language_guess_reads_every_item_it_would_have_read() -> None:
    # short items, no language declared anywhere: detected once from the feed's items
    # together; a new short item gets that guess only with the texts of the others
    short = [
        dict(it, html=f"<p>{it['title']}. The council met again on the budget today.</p>")
        for it in make_items(5, 4, site=SITE)
    ]
    first = _normalize(rss("S", SITE, short[1:]), fetched_at=T0)
    assert {a.extra.get("language_source") for a in first} == {"detected_feed"}
    body = rss("S", SITE, short)
    reusing = _normalize(body, fetched_at=FETCHED, seen=_seen(first))
    full = _normalize(body, fetched_at=FETCHED)
    assert reusing == full and not any(a.reused for a in reusing)


# ------------------------------------------------------------------ the store's side


def test_a_source_keeps_the_digest_its_stored_values_came_from(empty_store: Store) -> None:
    store = empty_store
    url = "https://a.example/feed"
    store.add_feed(FeedSpec(url=url))
    a = article(url, "g1", entry_digest="d1")
    b = article(url, "g2", entry_digest="d2")
    record(store, url, a, b)

    def seen(x: Article) -> SeenEntry:
        return SeenEntry(x.identity, x.url, x.canonical_url, x.content_hash)

    assert store.seen_entries(url) == {"d1": seen(a), "d2": seen(b)}

    # both unchanged (same content hash), from other raw entries: g1's links are the stored
    # ones (it takes the new digest); g2's link moved, which "unchanged" does not store, so
    # no digest stands for its stored values any more
    t1 = NOW + timedelta(minutes=5)
    a1 = dataclasses.replace(a, entry_digest="d1b", fetched_at=t1)
    moved = "https://a.example/moved"
    b1 = dataclasses.replace(b, url=moved, canonical_url=moved, entry_digest="d2b", fetched_at=t1)
    summary = record(store, url, a1, b1, result=ok_result(url, fetched_at=t1))
    assert (summary.new, summary.updated) == (0, 0)  # type: ignore[attr-defined]
    assert store.seen_entries(url) == {"d1b": seen(a)}

    # a revision takes its entry's digest; a source the latest fetch did not carry is out
    t2 = t1 + timedelta(minutes=5)
    a2 = dataclasses.replace(a1, content_hash="hash-new", entry_digest="d1c", fetched_at=t2)
    summary = record(store, url, a2, result=ok_result(url, fetched_at=t2))
    assert summary.updated == 1  # type: ignore[attr-defined]
    assert store.seen_entries(url) == {"d1c": seen(a2)}


def test_the_normalizer_version_covers_every_module_normalize_runs() -> None:
    """A change to any of them must give other digests: each ingest module that one of
    NORMALIZER_MODULES imports is one of them."""
    import ast
    import importlib.util

    listed = set(NORMALIZER_MODULES)
    for name in sorted(listed):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [f"ingest.{node.module}"] if node.module else []
                targets += [f"ingest.{a.name}" for a in node.names if not node.module]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ingest"):
                targets = [str(node.module)]
            else:
                continue
            assert set(targets) <= listed, f"{name} imports {targets}"


def test_parse_workers_reuse_too(feed_server: FeedServer, tmp_path: Path) -> None:
    """With parse workers (a process pool), what the store holds goes to the worker with the
    body and the reused items come back."""
    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "t.db")
    settings = dataclasses.replace(_settings(), parse_workers=1)
    feeds = [make_items(20 + i, 4, site=SITE) for i in range(2)]
    for i, items in enumerate(feeds):
        store.add_feed(FeedSpec(url=feed_server.route(f"/w{i}.xml", body=_body(items, 1))))
    cold = asyncio.run(run_once(store, settings, force=True))
    assert (cold.new, cold.normalized, cold.reused) == (8, 8, 0)
    for i, items in enumerate(feeds):
        feed_server.update(f"/w{i}.xml", body=_body(items, 2))
    again = asyncio.run(run_once(store, settings, force=True))
    assert (again.new, again.updated, again.normalized, again.reused) == (0, 0, 0, 8)
    store.close()


def test_the_latest_fetch_is_found_without_reading_the_feeds_history(tmp_path: Path) -> None:
    """`seen_entries` on a feed that has carried 20,000 items, 50 a fetch: it reads the
    latest fetch's 50 sources through the (feed, last seen) index, not the whole history
    (SQLite has no statistics unless ANALYZE ran, and would pick the primary key)."""
    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "long.db")
    url = "https://a.example/feed"
    store.add_feed(FeedSpec(url))
    store.conn.execute("PRAGMA foreign_keys=OFF")  # sources alone: the read looks at nothing else
    with store._tx() as tx:
        tx.executemany(
            """INSERT INTO article_sources (feed_url, identity, article_id, url, canonical_url,
               content_hash, first_seen_at, last_seen_at, entry_digest)
               VALUES (?, ?, ?, 'u', 'c', 'h', ?, ?, ?)""",
            [
                (
                    url,
                    f"g{k}",
                    k,
                    "2026-01-01T00:00:00Z",
                    f"2026-01-01T00:00:00Z{k // 50:06d}",
                    f"d{k}",
                )
                for k in range(20_000)
            ],
        )
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.conn.set_progress_handler(count, 100)  # one call per 100 VM instructions
    seen = store.seen_entries(url)
    store.conn.set_progress_handler(None, 100)
    assert sorted(seen) == sorted(f"d{k}" for k in range(19_950, 20_000))
    assert steps < 100, steps  # a scan of 20,000 rows takes thousands
    store.close()
