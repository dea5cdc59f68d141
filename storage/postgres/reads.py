"""Typed reads on PostgreSQL (`Reader`). Search is `websearch_to_tsquery` over the
`articles.search` vector (README "Searching")."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from ingest.errors import StoreError
from ingest.models import SearchHit, Tombstone
from storage._reads import SharedReads
from storage.sqlite_guard import STORY_CHECKS

from .dialect import POSTGRES
from .writes import PgWrites

__all__ = ["PgReads"]


class PgReads(SharedReads, PgWrites):
    """`Reader` on PostgreSQL."""

    DIALECT = POSTGRES

    def _article_rows(
        self, sql: str, params: dict[str, Any], query: str | None
    ) -> Generator[Sequence[Any]]:
        """Through a server-side cursor (every article is indexed as it is written)."""
        with self.conn.transaction(), self.conn.cursor(name="ingest_articles") as cur:
            cur.itersize = 500
            cur.execute(sql.encode(), params)
            yield from cur

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Web-search syntax: words (all must match), "a phrase", `or`, `-word`."""
        if not query.strip():
            raise StoreError("empty search query")
        rows = self.conn.execute(
            f"""SELECT a.id, a.title, a.url, a.published_at, a.feed_url,
                   ts_headline('simple', a.content_text, q, 'StartSel=[, StopSel=],
                       MaxWords=12, MinWords=4, ShortWord=2, FragmentDelimiter=…')
               FROM articles a, websearch_to_tsquery('simple', %s) AS q
               WHERE a.search @@ q ORDER BY ts_rank(a.search, q) DESC, a.id LIMIT {int(limit)}""",
            (query,),
        ).fetchall()
        return [SearchHit(*row) for row in rows]

    def check(self) -> list[str]:
        """The story index's invariants, as on SQLite (`sqlite_guard.STORY_CHECKS`); the
        server keeps its own files and foreign keys sound."""
        problems: list[str] = []
        for sql, what in STORY_CHECKS:
            problems += [what.format(*row) for row in self.conn.execute(sql + " LIMIT 100")]
        return problems

    def _db_bytes(self) -> int:
        return int(self._rows("SELECT pg_database_size(current_database()) AS n")[0]["n"])

    def tombstones(
        self, *, feed_url: str | None = None, limit: int | None = None
    ) -> tuple[int, list[Tombstone]]:
        params = {"feed": feed_url}
        cond = "%(feed)s::text IS NULL OR feed_url = %(feed)s"
        total = self.conn.execute(f"SELECT COUNT(*) FROM tombstones WHERE {cond}", params)
        one = total.fetchone()
        rows = self._rows(
            f"""SELECT feed_url, identity, canonical_url, deleted_at FROM tombstones
                WHERE {cond} ORDER BY deleted_at DESC, feed_url, identity
                LIMIT {"ALL" if limit is None else int(limit)}""",
            params,
        )
        return (int(one[0]) if one else 0), [Tombstone(**r) for r in rows]
