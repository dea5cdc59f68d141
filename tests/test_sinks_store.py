"""A store of the release before the push sinks is upgraded in place on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from factories import NOW, article, record

from ingest.settings import FeedSpec
from storage.sqlite import MIGRATIONS, SQLiteStore

# the outbox's migration and those after it (undone above) run again on open
OUTBOX = next(n for n, sql in enumerate(MIGRATIONS) if "CREATE TABLE IF NOT EXISTS outbox" in sql)


def test_a_database_from_before_the_outbox_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    store.add_feed(FeedSpec(url="https://a.example/feed"))
    record(store, "https://a.example/feed", article(identity="before"))
    store.close()
    conn = sqlite3.connect(path)
    conn.executescript(
        f"""DROP TABLE sinks; DROP TABLE outbox; DROP TABLE dead_letters;
            DROP INDEX articles_duplicate_of; ALTER TABLE articles DROP COLUMN duplicate_of;
            DROP INDEX sources_feed_seen;
            ALTER TABLE article_sources DROP COLUMN entry_digest;
            PRAGMA user_version = {OUTBOX};"""
    )
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.sink_backlogs() == []
        store.sync_sinks(["hook"], now=NOW)
        record(store, "https://a.example/feed", article(identity="after"))
        (item,) = store.outbox_due("hook", now=NOW, limit=10)
        assert (item.content_hash, item.kind) == ("hash-after", "new")
    finally:
        store.close()
