"""Stores: the narrow interface the pipeline writes through, and its backends.

    storage/interface.py   the `Store` protocol, in parts
    storage/common.py      what backends share that is not SQL
    storage/sqlite/        one SQLite file (the default)
    storage/postgres/      a PostgreSQL database shared by many workers

`open_store(path_or_url)` picks the backend: a `postgresql://` (or `postgres://`) URL opens
PostgreSQL, anything else is a SQLite file path.
"""

from __future__ import annotations

from pathlib import Path

from ingest.errors import StoreError

from .interface import FeedsAndClaims, FetchWriter, Outbox, Reader, Store, StoryIndex
from .leases import dead_owner, lease_owner, redact_url, run_token

__all__ = [
    "FeedsAndClaims",
    "FetchWriter",
    "Outbox",
    "Reader",
    "Store",
    "StoryIndex",
    "dead_owner",
    "is_url",
    "lease_owner",
    "open_store",
    "redact_url",
    "run_token",
]

PG_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: Path | str) -> bool:
    """True for a store URL (scheme://...), False for a file path."""
    return "://" in str(target)


def open_store(target: Path | str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open (migrating) the store at `target`: a PostgreSQL URL or a SQLite file path.
    Another URL scheme is refused (it would otherwise become a file name). A missing SQLite
    file is created if `create`, else StoreError("no store at PATH"); `read_only`: the
    caller only reads, and a SQLite store it cannot write is opened read-only."""
    text = str(target)
    if text.startswith(PG_SCHEMES):
        from .postgres import open_postgres

        return open_postgres(text)
    if is_url(text):
        scheme = text.split("://", 1)[0]
        raise StoreError(
            f"{redact_url(text)}: unsupported store URL scheme {scheme!r} "
            "(a SQLite file path, or postgresql://user@host/database)"
        )
    from .sqlite import SQLiteStore

    return SQLiteStore(target, create=create, read_only=read_only)
