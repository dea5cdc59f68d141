"""The persistent LSH index for story grouping, on a plain sqlite3 connection.

The caller owns the transaction (the store calls this inside its per-feed transaction); these
functions never commit.  Tables:

    story_sig(article_id PK, story_id, published_at, sig BLOB)      -- one row per article
    story_band(key, published_at, article_id) PRIMARY KEY (key, published_at, article_id)
        WITHOUT ROWID                                                -- one row per band key
    story_band_new(...)                                              -- the same, recent rows
    story_index_meta(name PK, value)         -- 'new_rows': band rows added since the last merge

A lookup is one range scan of the clustered primary key per band key, bounded by the time
window, so its cost depends on how many articles share a band in the window, not on how many
articles are stored.  `published_at` is stored as integer Unix seconds; None is stored as 0
(such rows are only found when `since` is None).

New band rows go to the small `story_band_new`, and are moved into `story_band` in one sorted
pass once it holds `MERGE_ROWS` of them (a two-level LSM).  Band keys are random, so every
insert lands on a random leaf page: written straight into the big table, each commit of a
batch rewrote most of its leaf pages (a cold run wrote many times the index's size in
WAL).  The small table has few pages to rewrite, and a merge walks the big one once,
in key order.  A lookup reads both (the same rows as one table would hold: an article's rows
are in one of the two).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.dedupe import Candidate, Signature, band_keys
from ingest.errors import StoreError
from storage.common import MAX_INDEX_KEYS, POSTINGS_PER_KEY

__all__ = [
    "MERGE_ROWS",
    "POSTINGS_PER_KEY",
    "IndexRow",
    "SQLiteStoryIndex",
    "add",
    "add_many",
    "candidates",
    "ensure_schema",
    "merge",
    "remove",
]

#: what `add_many` indexes: (article_id, story_id, published_at, signature -- or its bytes,
#: `Signature.to_bytes` --, its band keys)
IndexRow = tuple[int, int, datetime | None, Signature | bytes, Sequence[int]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS story_sig (
    article_id   INTEGER PRIMARY KEY,
    story_id     INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    sig          BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS story_band (
    key          INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    article_id   INTEGER NOT NULL,
    PRIMARY KEY (key, published_at, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_band_new (
    key          INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    article_id   INTEGER NOT NULL,
    PRIMARY KEY (key, published_at, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_index_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO story_index_meta (name, value) VALUES ('new_rows', 0);
"""
_MAX_KEYS = MAX_INDEX_KEYS  # well under SQLite's bound-parameter limit
#: band rows `story_band_new` holds before they are moved into `story_band` (about 2,000
#: articles' worth: a commit then rewrites at most a few hundred pages of the small table,
#: and a cold run of 50,000 articles merges ~25 times; smaller and larger sizes timed
#: the same)
MERGE_ROWS = 50_000


def _ts(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _dt(ts: int) -> datetime | None:
    return None if ts == 0 else datetime.fromtimestamp(ts, UTC)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the index tables if missing (idempotent; no commit)."""
    try:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
    except sqlite3.Error as exc:
        raise StoreError(f"story index: cannot create tables: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _candidates_sql(n: int, postings_per_key: int) -> str:
    """The lookup of `n` keys (built once per key count; the text must not vary for the
    same count, so the connection's statement cache finds it compiled).  Parameters:
    ?1 the time bound, ?2 the limit, ?3 the fewest shared keys, ?4.. the keys (numbered:
    the bound is bound once)."""
    # each key contributes at most its `postings_per_key` newest rows: a key shared by
    # thousands of stored articles (a common name, a stock phrase) says little, and reading
    # its whole posting list would make the cost grow with the store
    # both levels of the index, merged in the order one table's primary key would give
    postings = " UNION ALL ".join(
        "SELECT * FROM (SELECT article_id, published_at FROM story_band"
        f" WHERE key = ?{i} AND published_at >= ?1"
        " UNION ALL SELECT article_id, published_at FROM story_band_new"
        f" WHERE key = ?{i} AND published_at >= ?1"
        f" ORDER BY published_at DESC, article_id DESC LIMIT {int(postings_per_key)})"
        for i in range(4, n + 4)
    )
    return f"""
        WITH hits AS (
            SELECT article_id, count(*) AS n, max(published_at) AS ts
            FROM ({postings})
            GROUP BY article_id
            HAVING count(*) >= ?3
            ORDER BY n DESC, ts DESC, article_id DESC
            LIMIT ?2
        )
        SELECT s.article_id, s.story_id, s.published_at, s.sig, hits.n
        FROM hits JOIN story_sig AS s ON s.article_id = hits.article_id
        ORDER BY hits.n DESC, hits.ts DESC, hits.article_id DESC
    """


def candidates(
    conn: sqlite3.Connection,
    keys: Sequence[int],
    since: datetime | None,
    limit: int = 50,
    min_shared: int = 1,
) -> list[Candidate]:
    """Stored articles sharing at least `min_shared` band keys, published at or after
    `since` (all when None): the `limit` with the most shared keys, ties to the newest,
    then the highest article id.  Deterministic order.  Each carries its serialized
    signature (validated, not decoded) and the number of keys it shares.  (`min_shared`
    only drops the tail of that order: the rest is what it would be with 1.)"""
    if not keys or limit <= 0:
        return []
    keys = list(dict.fromkeys(keys))[:_MAX_KEYS]
    lo = _ts(since) if since is not None else -(1 << 62)
    sql = _candidates_sql(len(keys), POSTINGS_PER_KEY)
    try:
        rows = conn.execute(sql, [lo, limit, min_shared, *keys]).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"story index: lookup failed: {exc}") from exc
    out = []
    valid = Signature.valid_bytes
    for aid, sid, ts, blob, n in rows:
        data = bytes(blob)
        if valid(data):  # else written by another SIGNATURE_VERSION: skipped
            # decoded lazily by `match`, which rejects most candidates on a few fields
            out.append(Candidate(int(aid), int(sid), data, _dt(int(ts)), int(n)))
    return out


def _decode(blob: bytes) -> Signature | None:
    try:
        return Signature.from_bytes(bytes(blob))
    except ValueError:
        return None


def add(
    conn: sqlite3.Connection,
    article_id: int,
    story_id: int,
    sig: Signature | bytes,
    published_at: datetime | None,
) -> None:
    """Index an article (replacing what was indexed for the same id, e.g. a revision);
    `sig` may be serialized (`Signature.to_bytes`)."""
    ts = _ts(published_at)
    sig, blob = Signature.with_bytes(sig)
    try:
        old = conn.execute(
            "SELECT published_at, sig FROM story_sig WHERE article_id = ?", (article_id,)
        ).fetchone()
        if old is not None:
            _remove_bands(conn, article_id, int(old[0]), bytes(old[1]))
        conn.execute(
            "INSERT OR REPLACE INTO story_sig (article_id, story_id, published_at, sig) "
            "VALUES (?, ?, ?, ?)",
            (article_id, story_id, ts, blob),
        )
        _add_bands(conn, [(k, ts, article_id) for k in band_keys(sig)])
    except sqlite3.Error as exc:
        raise StoreError(f"story index: cannot add article {article_id}: {exc}") from exc


def add_many(conn: sqlite3.Connection, rows: Sequence[IndexRow]) -> None:
    """`add` for many articles at once, with the same result as adding them one by one in
    order: one lookup for what is already indexed, then one insert per table (the band
    rows sorted by key, so the B-tree is walked in order). `keys` must be
    `band_keys(sig)` (the caller has them already)."""
    if not rows:
        return
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):  # the same article twice: the later one replaces
        for aid, sid, when, sig, _ in rows:
            add(conn, aid, sid, sig, when)
        return
    try:
        olds = conn.execute(
            "SELECT article_id, published_at, sig FROM story_sig"
            " WHERE article_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ).fetchall()
        for aid, ts, blob in olds:
            _remove_bands(conn, int(aid), int(ts), bytes(blob))
        sigs = []
        bands = []
        for aid, sid, when, sig, keys in rows:
            ts = _ts(when)
            sigs.append((aid, sid, ts, sig if isinstance(sig, bytes) else sig.to_bytes()))
            bands += [(k, ts, aid) for k in keys]
        bands.sort()
        conn.executemany(
            "INSERT OR REPLACE INTO story_sig (article_id, story_id, published_at, sig) "
            "VALUES (?, ?, ?, ?)",
            sigs,
        )
        _add_bands(conn, bands)
    except sqlite3.Error as exc:
        raise StoreError(f"story index: cannot add articles {ids[0]}..{ids[-1]}: {exc}") from exc


def _add_bands(conn: sqlite3.Connection, bands: list[tuple[int, int, int]]) -> None:
    """Insert band rows into the small table; move it into the big one when it is full."""
    conn.executemany(
        "INSERT OR IGNORE INTO story_band_new (key, published_at, article_id) VALUES (?, ?, ?)",
        bands,
    )
    (n,) = conn.execute(
        "UPDATE story_index_meta SET value = value + ? WHERE name = 'new_rows' RETURNING value",
        (len(bands),),
    ).fetchone()
    if n >= MERGE_ROWS:
        merge(conn)


def merge(conn: sqlite3.Connection) -> None:
    """Move every row of `story_band_new` into `story_band` (in key order: each leaf page
    of the big table is written once). Lookups find the same rows before and after."""
    try:
        conn.execute(
            "INSERT OR IGNORE INTO story_band (key, published_at, article_id)"
            " SELECT key, published_at, article_id FROM story_band_new"
            " ORDER BY key, published_at, article_id"
        )
        conn.execute("DELETE FROM story_band_new")
        conn.execute("UPDATE story_index_meta SET value = 0 WHERE name = 'new_rows'")
    except sqlite3.Error as exc:
        raise StoreError(f"story index: cannot merge new band rows: {exc}") from exc


def _remove_bands(conn: sqlite3.Connection, article_id: int, ts: int, blob: bytes) -> None:
    """Delete an article's band rows from both levels (it is in one of them)."""
    sig = _decode(blob)
    rows = None if sig is None else [(k, ts, article_id) for k in band_keys(sig)]
    for table in ("story_band", "story_band_new"):
        if rows is None:  # another signature version: its keys are unknown, so scan for them
            conn.execute(f"DELETE FROM {table} WHERE article_id = ?", (article_id,))
        else:
            conn.executemany(
                f"DELETE FROM {table} WHERE key = ? AND published_at = ? AND article_id = ?", rows
            )


def remove(conn: sqlite3.Connection, article_id: int) -> None:
    """Drop an article from the index (retention, deletion). No error when absent."""
    try:
        old = conn.execute(
            "SELECT published_at, sig FROM story_sig WHERE article_id = ?", (article_id,)
        ).fetchone()
        if old is None:
            return
        _remove_bands(conn, article_id, int(old[0]), bytes(old[1]))
        conn.execute("DELETE FROM story_sig WHERE article_id = ?", (article_id,))
    except sqlite3.Error as exc:
        raise StoreError(f"story index: cannot remove article {article_id}: {exc}") from exc


class SQLiteStoryIndex:
    """`storage.interface.StoryIndex` over one SQLite connection in a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def candidates(
        self, keys: Sequence[int], since: datetime | None, limit: int, min_shared: int
    ) -> list[Candidate]:
        return candidates(self.conn, keys, since, limit, min_shared)

    def add_many(self, rows: Sequence[IndexRow]) -> None:
        add_many(self.conn, rows)

    def remove(self, article_id: int) -> None:
        remove(self.conn, article_id)
