"""The store's side of issue #19 (SQLite): feed origins in sync, edits that reschedule,
prune's plan, tombstones and lifting them, read-only and never-created stores."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from factories import NOW, article, decision, ok_result

from ingest.dedupe import signature
from ingest.errors import StoreError
from ingest.models import FeedOptions
from ingest.settings import FeedSpec
from storage import open_store
from storage.sqlite import SQLiteStore

A = "https://a.example/feed"
B = "https://b.example/feed"


def test_origins_edits_and_tombstones(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.add_feed(FeedSpec(url=A), source="cli")
    store.sync_feeds([FeedSpec(url=B)])
    assert (store.feed_source(A), store.feed_source(B), store.feed_source("x")) == (
        "cli",
        "config",
        None,
    )
    plan = store.sync_feeds([], dry_run=True)
    assert (plan.remove, plan.kept) == ((B,), (A,)) and store.feed_source(B) == "config"

    feed = store.claim_feeds(now=NOW, owner="me", lease_s=600, limit=1, urls=[A])[0]
    old = article(feed_url=A, identity="old", published_at=NOW - timedelta(days=30))
    store.record_fetch(feed, ok_result(A), decision(3600, "fixed 1 h"), owner="me",
                       articles=[(old, signature(old.title, old.content_text))])  # fmt: skip
    assert store.due_urls(NOW) == [B]
    assert store.get_feed(A).interval_s == 3600  # type: ignore[union-attr]
    # a title or tags change keeps the schedule; an option change makes the feed due now
    assert store.update_feed(FeedSpec(url=A, tags=("x",)))
    assert store.due_urls(NOW) == [B]
    assert store.update_feed(FeedSpec(url=A, tags=("x",), options=FeedOptions(interval_s=600)))
    feed = store.get_feed(A)
    assert feed is not None and (feed.next_poll_at, feed.interval_s) == (None, None)
    assert feed.schedule_reason == "settings changed" and store.due_urls(NOW) == [A, B]
    assert store.update_feed(FeedSpec(url="https://nope.example/")) is False

    assert store.prune_plan(NOW - timedelta(days=7)) == [(A, 1)]
    assert store.prune(NOW - timedelta(days=7)) == 1
    total, rows = store.tombstones(feed_url=A)
    assert (total, [r.identity for r in rows]) == (1, ["old"])
    store.conn.execute("UPDATE feeds SET etag = 'e', body_hash = 'h', next_poll_at = ?",
                       ("2999-01-01T00:00:00Z",))  # fmt: skip
    assert store.unprune(feed_url=B) == 0
    assert store.unprune(since=NOW - timedelta(days=1)) == 1
    assert store.tombstones() == (0, [])
    lifted = store.get_feed(A)
    assert lifted is not None and (lifted.etag, lifted.body_hash, lifted.next_poll_at) == (
        None,
        None,
        None,
    )
    assert store.get_feed(B).etag == "e"  # type: ignore[union-attr]  # not B's tombstones
    store.close()


def test_read_commands_never_create_a_store(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "s.db"
    for read_only in (False, True):
        with pytest.raises(StoreError, match=f"^no store at {path}$"):
            open_store(path, create=False, read_only=read_only)
    assert not (tmp_path / "no").exists()


def test_a_store_with_text_that_is_not_utf8_reads_with_replacement(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    raw = SQLiteStore(path)
    raw.conn.execute(
        "INSERT INTO feeds (url, title, added_at) VALUES (?, CAST(x'c328' AS TEXT), 'x')", (A,)
    )
    raw.close()
    reader = open_store(path, create=False, read_only=True)
    assert [f.title for f in reader.feed_states()] == ["\ufffd("]
    reader.close()
