"""What the SQLite store says when the file or the disk under it fails.

    store_error(path, exc)   an sqlite3 error -> one StoreError line: the file, the reason,
                             what to do (a full disk, a read-only file, a damaged file, ...)
    guarded(cls)             a class decorator: no sqlite3 error leaves a public method raw
    header_problem(path)     why SQLite refused to open the file, from its header:
                             truncated, or not an SQLite file at all
    rollback(conn)           ROLLBACK only when a transaction is open (SQLite has rolled it
                             back itself after some errors, e.g. SQLITE_FULL), never hiding
                             the error that caused it
    check(conn)              `ingest store check`: integrity, foreign keys, story index

The operator sees one line and exit code 1 (the CLI prints StoreError as it is); a
transaction that failed wrote nothing, so nothing stored before is lost.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ingest.errors import StoreError

__all__ = ["STORY_CHECKS", "check", "guarded", "header_problem", "rollback", "store_error"]

T = TypeVar("T")

_DAMAGED = (
    "run `ingest store check` to see what is damaged, then restore the file from a backup"
    " (or salvage it with `sqlite3 FILE .recover`)"
)
#: primary result code -> (reason, what to do)
_REASONS: dict[int, tuple[str, str]] = {
    sqlite3.SQLITE_FULL: (
        "the disk is full",
        "nothing of this write was stored; free some space and run again",
    ),
    sqlite3.SQLITE_READONLY: (
        "the database is read-only",
        "check the permissions of the file and its directory, and that the disk is mounted"
        " read-write",
    ),
    sqlite3.SQLITE_CORRUPT: ("the database file is damaged", _DAMAGED),
    sqlite3.SQLITE_NOTADB: (
        "the file is not an SQLite database, or its header is damaged",
        _DAMAGED,
    ),
    sqlite3.SQLITE_IOERR: (
        "the disk failed to read or write",
        "check the disk (dmesg) and its free space, then run again",
    ),
    sqlite3.SQLITE_CANTOPEN: (
        "cannot open the database file",
        "check that its directory exists and is writable",
    ),
    sqlite3.SQLITE_PERM: ("access denied", "check the permissions of the file and its directory"),
    sqlite3.SQLITE_BUSY: (
        "the database is busy (another process held the write lock too long)",
        "run again",
    ),
    sqlite3.SQLITE_LOCKED: ("the database is locked", "run again"),
}


def store_error(path: Path | str, exc: sqlite3.Error, words: str | None = None) -> StoreError:
    """One line naming the file, the reason (SQLite's own words in brackets, or `words`:
    those of a StoreError raised deeper, e.g. by the story index) and what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    known = _REASONS.get(code & 0xFF) if isinstance(code, int) else None
    said = words or str(exc)
    if known is None:
        return StoreError(f"{path}: database error ({said})")
    reason, todo = known
    return StoreError(f"{path}: {reason} ({said}): {todo}")


def _translated(path: Path | str, exc: BaseException) -> StoreError | None:
    """The StoreError to raise instead of `exc` (None: raise `exc` as it is)."""
    if isinstance(exc, sqlite3.Error):
        return store_error(path, exc)
    if (  # a StoreError from a helper that does not know the file (the story index)
        isinstance(exc, StoreError)
        and isinstance(exc.__cause__, sqlite3.Error)
        and not str(exc).startswith(f"{path}: ")
    ):
        return store_error(path, exc.__cause__, str(exc))
    return None


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already. Called while another error
    propagates: a failing ROLLBACK must not replace it ("cannot rollback - no transaction is
    active" hid a full disk)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is unusable; the error being raised says why


def guarded(cls: type[T]) -> type[T]:
    """Wrap every public method of a store class (and the generators it returns) so that a
    sqlite3 error leaves it as `store_error(self.path, exc)`, chained to the original."""
    names = {name for klass in cls.__mro__[:-1] for name in vars(klass)}  # the store's parts too
    for name in sorted(names):
        func = inspect.getattr_static(cls, name)
        if name.startswith("_") or not inspect.isfunction(func):
            continue
        setattr(cls, name, _guard(func))
    return cls


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from func(self, *args, **kwargs)
            except (sqlite3.Error, StoreError) as exc:
                better = _translated(self.path, exc)
                if better is None:
                    raise
                raise better from exc

        return gen

    @functools.wraps(func)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(self, *args, **kwargs)
        except (sqlite3.Error, StoreError) as exc:
            better = _translated(self.path, exc)
            if better is None:
                raise
            raise better from exc

    return call


_MAGIC = b"SQLite format 3\x00"


def header_problem(path: Path) -> str | None:
    """Why the file at `path` cannot be a whole SQLite database, judged from its first 100
    bytes and its size; None when it looks whole (or does not exist yet). Damage inside the
    file is found only by reading it: `check`."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    if not header:
        return None  # an empty file: SQLite makes it a new database
    if len(header) < 100 or not header.startswith(_MAGIC):
        return "it is not an SQLite database, or its header is damaged"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # the page count is valid when the change counter (24) matches "version-valid-for" (92),
    # and the file alone holds the database only without a write-ahead log: a checkpoint
    # that a full disk stopped half-way leaves the newer pages in the WAL, and the store whole
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return None
    if header[24:28] == header[92:96] and pages and size < pages * page_size:
        return f"it is truncated: {size} bytes where its header says {pages * page_size}"
    return None


def check(conn: sqlite3.Connection) -> list[str]:
    """Every problem found, one line each (empty: the store is sound): SQLite's
    integrity_check, the foreign keys, and the story index's invariants -- every article in
    exactly one existing story, every story's representative an article of that story.
    A damaged file is reported by the first alone (reading a damaged table may fail)."""
    try:
        problems = [
            f"integrity: {row[0]}"
            for row in conn.execute("PRAGMA integrity_check(100)")
            if row[0] != "ok"
        ]
    except sqlite3.DatabaseError as exc:
        return [f"integrity: {exc}"]
    if problems:
        return problems
    problems += [
        f"foreign key: {table} row {rowid} points to a missing {parent} row"
        for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
    ]
    for sql, what in STORY_CHECKS:
        problems += [what.format(*row) for row in conn.execute(sql + " LIMIT 100")]
    return problems


STORY_CHECKS: tuple[tuple[str, str], ...] = (
    ("SELECT id FROM articles WHERE story_id IS NULL", "story: article {} has no story"),
    (
        """SELECT a.id, a.story_id FROM articles a
           WHERE a.story_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stories s WHERE s.id = a.story_id)""",
        "story: article {} is in story {}, which does not exist",
    ),
    (
        """SELECT a.id FROM articles a
           WHERE NOT EXISTS (SELECT 1 FROM story_links l WHERE l.article_id = a.id)""",
        "story: article {} has no story link",
    ),
    (
        """SELECT a.id, a.story_id, l.story_id FROM articles a JOIN story_links l ON l.article_id = a.id
           WHERE l.story_id != a.story_id""",
        "story: article {} is in story {} but linked to story {}",
    ),
    (
        """SELECT s.id, s.representative_id FROM stories s
           WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = s.representative_id)""",
        "story: story {}'s representative, article {}, does not exist",
    ),
    (
        """SELECT s.id, s.representative_id, a.story_id FROM stories s
           JOIN articles a ON a.id = s.representative_id WHERE a.story_id != s.id""",
        "story: story {}'s representative, article {}, is in story {}",
    ),
    (
        """SELECT s.id FROM stories s
           WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id)""",
        "story: story {} has no article",
    ),
    (
        """SELECT g.article_id, g.story_id, a.story_id FROM story_sig g
           JOIN articles a ON a.id = g.article_id WHERE g.story_id != a.story_id""",
        "story index: article {} is indexed under story {} but is in story {}",
    ),
    (
        """SELECT g.article_id FROM story_sig g
           WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = g.article_id)""",
        "story index: article {} is indexed but does not exist",
    ),
)
