"""The connection every part of the PostgreSQL store shares: opening, transactions, the
write locks that serialize what must be (see `PgBase.lock`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import xxhash
from psycopg.rows import dict_row

from ingest.errors import StoreError
from storage.leases import redact_url

from .schema import migrate

__all__ = ["LOCK_STRIPES", "PgBase", "lock_key"]

#: the most advisory write locks a transaction holds (`PgBase.lock`)
LOCK_STRIPES = 256

Conn = psycopg.Connection[tuple[Any, ...]]

# psycopg warns "error ignored terminating <Pipeline>" when the server goes away inside a
# pipelined write; the StoreError raised for the same failure already says it in one line
logging.getLogger("psycopg").setLevel(logging.ERROR)


def lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key for `value` (a feed URL, a canonical URL)."""
    h = xxhash.xxh3_64_intdigest(f"{kind}\0{value}".encode("utf-8", "surrogatepass"))
    return h - (1 << 64) if h >= 1 << 63 else h


class _Cursor(psycopg.Cursor[Any]):
    """A statement's failure (the server gone, a disk full) as a StoreError naming the
    database in one line; a deadlock stays itself (the writes run again on it)."""

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        try:
            return super().execute(query, params, **kw)
        except psycopg.errors.DeadlockDetected:
            raise
        except psycopg.Error as exc:
            info = self.connection.info
            user = f"{info.user}:***" if info.password else info.user  # as redact_url
            where = f"postgresql://{user}@{info.host}:{info.port}/{info.dbname}"
            raise StoreError(f"{where}: {_first_line(exc)}") from exc


class PgBase:
    """One connection to one database (autocommit; `_tx` opens a transaction)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redact_url(url)
        self.read_only = False  # a database's permissions are the server's to enforce
        self._conn = self._connect()
        try:
            migrate(self._conn, self.where)
        except StoreError:
            self._conn.close()
            raise
        except psycopg.Error as exc:
            self._conn.close()
            raise StoreError(f"{self.where}: cannot migrate: {_first_line(exc)}") from exc

    def _connect(self) -> Conn:
        try:
            return psycopg.connect(
                self.url, autocommit=True, connect_timeout=10, cursor_factory=_Cursor
            )
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot connect: {_first_line(exc)}") from exc

    @property
    def conn(self) -> Conn:
        """The connection; a new one when the last was lost (a server restart: the call
        that saw it fail raised, the next one goes on)."""
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        """One transaction: committed, or rolled back when the block raises."""
        try:
            with self.conn.transaction():
                yield self.conn
        except psycopg.errors.DeadlockDetected:
            raise
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: {_first_line(exc)}") from exc

    @staticmethod
    def lock(tx: Conn, keys: Iterable[int]) -> None:
        """Take the transaction's advisory locks on `keys`, in ascending order (every writer
        takes its set in that order, so two never wait on each other in a cycle).

        Keys are folded into LOCK_STRIPES stripes: each advisory lock held takes a slot of
        the server's shared lock table (max_locks_per_transaction x max_connections, 6,400
        at the defaults), and a batch of a few hundred articles has thousands of band keys:
        two or three workers writing at once ran the server "out of shared memory". A
        stripe covers every key folded into it, so what conflicted still conflicts."""
        ordered = sorted({k % LOCK_STRIPES for k in keys})
        if ordered:
            tx.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k",
                (ordered,),
            )

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.encode(), params)
            return list(cur.fetchall())

    def close(self) -> None:
        self._conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
