"""SQLite's tables as rows, for `store copy` (storage/copy.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .reads import SQLiteReads

__all__ = ["SQLitePortable"]

#: the story index keeps recent band rows in a second table (story_index.py): one table out
_UNION = {"story_band": ("story_band", "story_band_new")}


class SQLitePortable(SQLiteReads):
    """`PortableStore` on SQLite."""

    @property
    def where(self) -> str:
        return str(self.path)

    def table_columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def table_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        cols = ", ".join(columns)
        sql = " UNION ALL ".join(f"SELECT {cols} FROM {t}" for t in _UNION.get(table, (table,)))
        cur = self.conn.execute(sql)
        while batch := cur.fetchmany(1000):
            yield from batch

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        marks = ", ".join("?" * len(columns))
        with self._tx() as tx:
            cur = tx.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            return cur.rowcount

    def loaded(self) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE meta SET value = 0 WHERE key = 'fts_indexed_id'")
            n = tx.execute("SELECT COUNT(*) FROM story_band_new").fetchone()[0]
            tx.execute("UPDATE story_index_meta SET value = ? WHERE name = 'new_rows'", (n,))
        self.index_pending()
