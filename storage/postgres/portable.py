"""PostgreSQL's tables as rows, for `store copy` (storage/copy.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .reads import PgReads

__all__ = ["PgPortable"]

_GENERATED = {"search"}  # computed by the database: never copied
_SERIAL = ("articles", "filtered", "fetches", "outbox")  # id sequences to move past the copied ids


class PgPortable(PgReads):
    """`PortableStore` on PostgreSQL."""

    def table_columns(self, table: str) -> list[str]:
        rows = self.conn.execute(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = %s
               ORDER BY ordinal_position""",
            (table,),
        ).fetchall()
        return [r[0] for r in rows if r[0] not in _GENERATED]

    def table_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        with self.conn.transaction(), self.conn.cursor(name=f"copy_{table}") as cur:
            cur.itersize = 1000
            cur.execute(f"SELECT {', '.join(columns)} FROM {table}".encode())
            for row in cur:
                yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        with self._tx() as tx, tx.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()) as copy:
                n = 0
                for row in rows:
                    copy.write_row(row)
                    n += 1
            return n

    def loaded(self) -> None:
        with self._tx() as tx:
            for table in _SERIAL:
                tx.execute(
                    f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                        COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)""".encode()
                )
