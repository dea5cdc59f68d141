"""The SQLite connection every part of the store shares: opening, transactions, migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ingest.errors import StoreError
from storage.common import host_key
from storage.sqlite_guard import check as integrity_problems
from storage.sqlite_guard import header_problem, rollback, store_error

from . import story_index
from .schema import FTS_COLUMNS, FTS_TRIGGERS, MIGRATIONS

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteBase"]

BUSY_TIMEOUT_MS = 30_000  # how long a write waits for another writer's lock before failing


def _writable(path: Path) -> bool:
    """Whether this process may write the store and create its -wal / -shm files beside it
    (False on a read-only mount or an immutable file, for root as well)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _lenient_text(value: bytes) -> str:
    """TEXT as read by the read commands: bytes that are not UTF-8 (written by another
    program) become U+FFFD instead of failing the whole command."""
    return value.decode("utf-8", "replace")


class SQLiteBase:
    """One SQLite file: WAL, a busy timeout, writers in `BEGIN IMMEDIATE` transactions."""

    def __init__(self, path: Path | str, *, create: bool = True, read_only: bool = False) -> None:
        """`create` False: a missing file is an error (nothing is created). `read_only`: the
        caller only reads; a store it cannot write (a read-only mount, an immutable file) is
        then opened read-only instead of failing, and text that is not UTF-8 reads as U+FFFD
        instead of failing the command."""
        self.path = Path(path)
        self.read_only = False
        self._reader_uri = f"file:{quote(str(self.path))}?mode=ro"
        memory = str(path) == ":memory:"
        if not create and not memory and not self.path.is_file():
            raise StoreError(f"no store at {path}")
        try:
            if not memory and self.path.is_file() and not _writable(self.path):
                if not read_only:
                    raise StoreError(
                        f"{path}: the store is not writable here (a read-only file system "
                        "or file): only read commands (list, show, search, export, stats) "
                        "can use it"
                    )
                self._conn = self._open_read_only()
                return
            if create and not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn = conn
            if read_only:
                conn.text_factory = _lenient_text
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # a checkpoint every 16 MB of WAL rather than 4 MB: each commit rewrites most of
            # the story index's leaf pages (random keys), which a checkpoint then copies and
            # syncs once instead of four times
            conn.execute("PRAGMA wal_autocheckpoint=4000")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            # the file is looked at only once SQLite has refused it: opening and closing it
            # here would drop every POSIX lock this process holds on it, those of its open
            # connections too, and another process closing its last connection would then
            # delete the write-ahead log under them (a server opening a store per thread
            # while others read saw "database disk image is malformed")
            if not memory and (problem := header_problem(self.path)):
                raise StoreError(
                    f"{path}: cannot open the database: {problem}; restore it from a backup"
                ) from exc
            raise store_error(path, exc) from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from exc

    def _open_read_only(self) -> sqlite3.Connection:
        """A store this process cannot write: `mode=ro`, which still needs the WAL index
        (-shm) file or leave to create it; where neither holds (a read-only mount of a WAL
        store), `immutable=1`: read as the file stands, no locks, no WAL."""
        self.read_only = True
        for uri in (self._reader_uri, self._reader_uri + "&immutable=1"):
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
            conn.text_factory = _lenient_text
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError:
                conn.close()
                continue
            self._reader_uri = uri
            if version != len(MIGRATIONS):
                conn.close()
                raise StoreError(
                    f"{self.path}: schema version {version}, this program's is "
                    f"{len(MIGRATIONS)}, and the store is read-only here: open it once where "
                    "it is writable (any command) to upgrade it"
                )
            return conn
        raise StoreError(f"{self.path}: cannot open the read-only database")

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    # ------------------------------------------------------------------ infrastructure

    def _begin(self, *, wait: bool = True) -> bool:
        """BEGIN IMMEDIATE: the write lock, taken up front so concurrent writers wait on the
        busy timeout instead of failing half-way. With `wait` False, False at once while
        another connection holds it (SQLite's busy handler would sleep in steps of up to
        100 ms, oversleeping the other writer's commit, with this process's loop stalled)."""
        conn = self.conn
        if not wait:
            conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if (
                not wait and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            ):  # (extended codes too)
                return False
            raise store_error(self.path, exc) from exc
        finally:
            if not wait:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    @contextmanager
    def _tx(self, *, begun: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (begun here unless `begun`): committed, or rolled back when
        the block raises."""
        conn = self.conn
        if not begun:
            self._begin()
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # (SQLite may have rolled back already: a full disk)
            raise

    def _migrate(self) -> None:
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this program "
                f"({len(MIGRATIONS)}); upgrade ingest"
            )
        for number in range(version, len(MIGRATIONS)):
            with self._tx() as tx:
                for statement in MIGRATIONS[number].split(";\n"):
                    if statement.strip():
                        tx.execute(statement)
                if number == 0:
                    # sqlite-utils creates the FTS5 table; imported here only, because
                    # importing it is slow for a cron run and pulls in numpy when installed
                    import sqlite_utils

                    sqlite_utils.Database(tx).table("articles").enable_fts(
                        list(FTS_COLUMNS),
                        fts_version="FTS5",
                        create_triggers=False,
                        tokenize="unicode61 remove_diacritics 2",
                    )
                    for body in FTS_TRIGGERS.split("END;"):
                        if body.strip():
                            tx.execute(body + "END;")
                if number == 4:
                    urls = [r[0] for r in tx.execute("SELECT url FROM feeds")]
                    tx.executemany(
                        "UPDATE feeds SET host_key = ? WHERE url = ?",
                        [(host_key(u), u) for u in urls],
                    )
                tx.execute(f"PRAGMA user_version = {number + 1}")
        with self._tx() as tx:
            story_index.ensure_schema(tx)

    def close(self) -> None:
        self.conn.close()

    def check(self) -> list[str]:
        """The store's problems, one line each (empty when sound): `sqlite_guard.check`."""
        return integrity_problems(self.conn)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
