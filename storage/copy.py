"""`ingest store copy`: move every table of one store into another, empty one (SQLite to
PostgreSQL to scale out, or back), then compare counts and checksums table by table.

Both backends keep the same tables and columns with the same stored forms (storage/common.py),
so rows move as they are; each backend reads and writes its own rows (`PortableStore`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ingest.errors import StoreError

__all__ = ["TABLES", "CopyReport", "PortableStore", "copy_between", "copy_store"]

#: every table a store keeps, parents first (article_sources refers to articles)
TABLES = (
    "feeds", "articles", "article_sources", "stories", "story_links", "story_merges",
    "filtered", "fetches", "tombstones", "story_sig", "story_band", "websub",
)  # fmt: skip
BATCH = 1000


@runtime_checkable
class PortableStore(Protocol):
    """A store's tables as rows (each backend, for `store copy`)."""

    where: str

    def table_columns(self, table: str) -> list[str]: ...

    def table_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]: ...

    def load_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert `rows` in one transaction; returns how many."""
        ...

    def loaded(self) -> None:
        """After a load: id sequences past the copied ids, full-text index brought up."""
        ...


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts: dict[str, int]  # rows per table, equal on both sides
    checksum: str  # of every table's rows, equal on both sides


def _row_hash(row: Sequence[Any]) -> int:
    text = json.dumps([v.hex() if isinstance(v, bytes | memoryview) else v for v in row])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def table_digest(store: PortableStore, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(rows, an order-independent checksum of them): backends sort text differently."""
    n = total = 0
    for row in store.table_rows(table, columns):
        n += 1
        total = (total + _row_hash(row)) % (1 << 64)
    return n, total


def copy_store(src: PortableStore, dst: PortableStore) -> CopyReport:
    """Copy every table of `src` into the empty `dst`; a difference afterwards is an error."""
    for table in ("feeds", "articles"):
        if next(iter(dst.table_rows(table, dst.table_columns(table)[:1])), None) is not None:
            raise StoreError(f"{dst.where}: the target store is not empty (it has {table})")
    plan = {}
    for table in TABLES:
        columns = [c for c in src.table_columns(table) if c in set(dst.table_columns(table))]
        plan[table] = columns
        rows = src.table_rows(table, columns)
        while True:
            batch = [row for _, row in zip(range(BATCH), rows, strict=False)]
            if not batch:
                break
            dst.load_rows(table, columns, batch)
    dst.loaded()
    counts: dict[str, int] = {}
    digest = hashlib.blake2b(digest_size=16)
    for table, columns in plan.items():
        theirs, mine = table_digest(src, table, columns), table_digest(dst, table, columns)
        if theirs != mine:
            raise StoreError(
                f"{dst.where}: table {table} differs after the copy "
                f"({theirs[0]} rows in, {mine[0]} rows out, or their contents)"
            )
        counts[table] = theirs[0]
        digest.update(f"{table}:{theirs[0]}:{theirs[1]};".encode())
    return CopyReport(counts, digest.hexdigest())


def copy_between(source: Path | str, target: Path | str) -> CopyReport:
    """`copy_store` between the stores at two paths or URLs (the target created if need be)."""
    from storage import is_url, open_store

    if not is_url(source) and not Path(source).is_file():
        raise StoreError(f"{source}: no such store")
    src = open_store(source)
    try:
        dst = open_store(target)
        try:
            if not isinstance(src, PortableStore) or not isinstance(dst, PortableStore):
                raise StoreError(f"{target}: this backend cannot copy its tables")
            return copy_store(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
