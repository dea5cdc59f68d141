"""Typed reads on SQLite (`Reader`): records, search (FTS5), stories, history, stats."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Sequence
from typing import Any

from ingest.errors import SearchSyntaxError, StoreError
from ingest.models import SearchHit, Tombstone
from storage._reads import SharedReads
from storage.fts_query import any_words, plain_words

from .dialect import SQLITE
from .writes import SQLiteWrites

__all__ = ["SQLiteReads"]


class SQLiteReads(SharedReads, SQLiteWrites):
    """`Reader` on SQLite (over the writes: a search first indexes what was written; the
    full text of `articles(query=...)` is FTS5 over the articles indexed so far, so that a
    cursor never passes an article not indexed yet)."""

    DIALECT = SQLITE

    def _article_rows(
        self, sql: str, params: dict[str, Any], query: str | None
    ) -> Generator[Sequence[Any]]:
        """Text FTS5 rejects is searched as its words."""
        # a separate read connection so a long export never blocks writers (WAL snapshot)
        reader = sqlite3.connect(self._reader_uri, uri=True, timeout=30.0)
        reader.text_factory = self.conn.text_factory
        try:
            try:
                cur = reader.execute(sql, params)
            except sqlite3.OperationalError:
                words = None if query is None else any_words(query)
                if words is None:
                    if query is None:
                        raise
                    return
                params["query"] = words
                cur = reader.execute(sql, params)
            while batch := cur.fetchmany(500):
                yield from batch
        finally:
            reader.close()

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """FTS5 query syntax; plain text that is not valid FTS5 (hyphens, dots) is searched
        as its words; an FTS5 query with a mistake raises SearchSyntaxError (`fts_query`)."""
        sql = f"""SELECT a.id, a.title, a.url, a.published_at, a.feed_url,
                      snippet(articles_fts, 2, '[', ']', '…', 12) AS snippet
                  FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
                  WHERE articles_fts MATCH ? ORDER BY rank LIMIT {int(limit)}"""
        if not query.strip():
            raise StoreError("empty search query")
        if not self.read_only:
            self.index_pending()
        try:
            rows = self.conn.execute(sql, (query,)).fetchall()
        except sqlite3.OperationalError as exc:
            words = plain_words(query)
            if words is None:
                raise SearchSyntaxError(query, str(exc)) from None
            rows = self.conn.execute(sql, (words,)).fetchall()
        return [SearchHit(*row) for row in rows]

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[Tombstone]]:
        """How many tombstones (of `feed_url`) there are, and the newest `limit` of them."""
        where, params = ("WHERE feed_url = ?", [feed_url]) if feed_url else ("", [])
        total = self.conn.execute(f"SELECT COUNT(*) FROM tombstones {where}", params)
        rows = self._rows(
            f"""SELECT feed_url, identity, canonical_url, deleted_at FROM tombstones {where}
                ORDER BY deleted_at DESC, feed_url, identity LIMIT ?""",
            [*params, -1 if limit is None else limit],
        )
        return int(total.fetchone()[0]), [Tombstone(**r) for r in rows]

    def _db_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0
