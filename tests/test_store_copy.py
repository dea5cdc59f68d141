"""`ingest store copy`: SQLite -> PostgreSQL -> SQLite loses nothing, and refuses a target
that already holds data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import NOW, article
from test_store_contract import A, B, claim, record
from test_story_merge import _words

from ingest.cli import cli
from ingest.errors import StoreError
from ingest.settings import FeedSpec
from storage import Store, open_store
from storage.copy import copy_between

pytestmark = pytest.mark.postgres


def _fill(store: Store) -> None:
    """Articles, a second source, a story of copies, a filtered item, history, a tombstone,
    a push sink's outbox and a dead letter."""
    store.sync_sinks(["hook"], now=NOW)
    store.add_feed(FeedSpec(url=A, title="Alpha", tags=("x",)))
    store.add_feed(FeedSpec(url=B))
    claim(store)
    text = " ".join(_words(3, 200))
    record(store, A, article(identity="a1", content_text=text, word_count=200),
           article(identity="a2", content_text="Harbour walrus sighting."),
           article(identity="ad", filtered="block rule title~'advert'"),
           article(identity="old", published_at=NOW - timedelta(days=400)))  # fmt: skip
    record(store, B, article(feed_url=B, identity="b1", canonical_url="https://b.example/b1",
                             content_text="Wire: " + text, word_count=201),
           article(feed_url=B, identity="b2", canonical_url="https://a.example/a2"))  # fmt: skip
    assert store.prune(NOW - timedelta(days=90)) == 1
    first = store.outbox_due("hook", now=NOW, limit=1)[0].id
    store.outbox_failed("hook", [first], error="HTTP 500", now=NOW, retry_at=NOW, max_attempts=1)


def _view(store: Store) -> dict[str, object]:
    return {
        "articles": [r.as_dict() for r in store.articles()],
        "stories": [s.as_dict() for s in store.stories()],
        "feeds": [f.as_dict() for f in store.feed_states()],
        "history": [[h.as_dict() for h in store.fetch_history(u)] for u in (A, B)],
        "filtered": [f.as_dict() for f in store.filtered()],
        "stats": {k: v for k, v in store.stats().as_dict().items() if k != "db_bytes"},
        "sinks": store.sink_backlogs(),
        "outbox": [
            (i.id, i.article_id, i.content_hash, i.kind)
            for i in store.outbox_due("hook", now=NOW + timedelta(days=1), limit=100)
        ],
    }


def test_sqlite_to_postgres_and_back_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "src.db"
    store = open_store(src)
    _fill(store)
    before = _view(store)
    store.close()

    report = copy_between(src, pg_url)
    assert report.counts["articles"] == 3 and report.counts["tombstones"] == 1
    assert report.counts["story_band"] > 0 and report.counts["fetches"] == 2
    pg = open_store(pg_url)
    try:
        assert _view(pg) == before
        # the copy goes on as a store: search, the tombstone, new ids after the copied ones
        assert [h.title for h in pg.search("walrus")] == ["Title a2"]
        claim(pg, "later", force=True, now=NOW + timedelta(seconds=10))
        done = record(pg, A, article(identity="old", published_at=NOW - timedelta(days=400)),
                      article(identity="a3"))  # fmt: skip
        assert done.new == 1 and done.new_ids[0] > before["stats"]["last_article_id"]  # type: ignore[attr-defined,index]
        assert len(before["outbox"]) == 3  # type: ignore[arg-type]
        queued = pg.outbox_due("hook", now=NOW + timedelta(days=1), limit=100)
        assert queued[-1].id > max(i[0] for i in before["outbox"])  # type: ignore[attr-defined]
        assert pg.retry_dead("hook", now=NOW) == 1
    finally:
        pg.close()

    back = tmp_path / "back.db"
    again = copy_between(pg_url, back)
    assert again.counts["articles"] == 4
    store = open_store(back)
    try:
        assert [h.title for h in store.search("walrus")] == ["Title a2"]
        assert store.stats().articles == 4
    finally:
        store.close()


def test_a_target_with_data_is_refused_and_a_missing_source_named(
    tmp_path: Path, pg_url: str
) -> None:
    src = tmp_path / "src.db"
    store = open_store(src)
    _fill(store)
    store.close()
    copy_between(src, pg_url)
    with pytest.raises(StoreError, match="the target store is not empty"):
        copy_between(src, pg_url)
    out = CliRunner().invoke(cli, ["store", "copy", "--from", str(tmp_path / "nope.db"),
                                   "--to", str(tmp_path / "t.db")])  # fmt: skip
    assert out.exit_code == 1 and out.output == f"Error: {tmp_path / 'nope.db'}: no such store\n"
    assert not (tmp_path / "t.db").exists()
    out = CliRunner().invoke(cli, ["store", "copy", "--from", pg_url, "--to", str(src)])
    assert out.exit_code == 1 and "the target store is not empty (it has feeds)" in out.output
    out = CliRunner().invoke(cli, ["store", "copy", "--from", pg_url,
                                   "--to", str(tmp_path / "t2.db")])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.output.startswith("copied ") and "  articles: 3\n" in out.output
