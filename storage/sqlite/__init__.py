"""The SQLite backend (sqlite-utils for FTS5): one file, WAL, versioned migrations.

    schema.py       tables, migrations, full-text triggers
    base.py         the connection, transactions, migrating on open
    feeds.py        the feed list and claims (leases)
    batch.py        a write batch's queue of new rows
    stories.py      a new article's story: candidates in, `ingest.dedupe.decide` applied
    story_index.py  the story index (LSH band keys in two levels)
    writes.py       a fetch's articles, sources, feed state, history; prune; FTS catch-up
    reads.py        typed reads
    portable.py     tables as rows, for `store copy`
    websub.py       WebSub subscriptions

Concurrency: writers take `BEGIN IMMEDIATE`; feeds are claimed with a lease (owner + expiry)
so overlapping runs never fetch one feed at once and a killed run's lease simply expires.
"""

from __future__ import annotations

from ingest.models import ARTICLE_FIELDS
from storage.common import HISTORY_KEEP, host_key
from storage.sqlite_guard import guarded

from .feeds import SQLiteFeeds
from .portable import SQLitePortable
from .schema import MIGRATIONS
from .websub import SQLiteWebSub

__all__ = ["ARTICLE_FIELDS", "HISTORY_KEEP", "MIGRATIONS", "SQLiteStore", "host_key"]


@guarded  # a failing disk or file: one StoreError line naming the file (issue #17)
class SQLiteStore(SQLiteFeeds, SQLitePortable, SQLiteWebSub):
    """The Store protocol on one SQLite file."""
