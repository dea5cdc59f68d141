"""The PostgreSQL backend (psycopg 3): one database shared by many workers.

schema.py       tables, versioned migrations (schema_migrations), the tsvector column
base.py         the connection, transactions, advisory write locks
feeds.py        the feed list and claims (FOR UPDATE SKIP LOCKED, leases, per host)
story_index.py  the story index as indexed tables
stories.py      a new article's story: candidates in, `ingest.dedupe.decide` applied
writes.py       a fetch's articles, sources, feed state, history (idempotent); prune
reads.py        typed reads, full-text search
websub.py       WebSub subscriptions
"""

from __future__ import annotations

from storage.interface import Store

from .feeds import PgFeeds
from .portable import PgPortable
from .websub import PgWebSub

__all__ = ["PostgresStore", "open_postgres"]


class PostgresStore(PgFeeds, PgPortable, PgWebSub):
    """The Store protocol on one PostgreSQL database."""


def open_postgres(url: str) -> Store:
    return PostgresStore(url)
