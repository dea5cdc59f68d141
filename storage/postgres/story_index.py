"""The story index on PostgreSQL: band keys in an indexed table (`story_band`, its primary
key in lookup order), signatures in `story_sig`. Bound to the caller's transaction.

`Lookahead` reads the postings of a feed's new articles in one statement before any of them
is decided, and ranks each article's candidates in the client as `_CANDIDATES` would: a
lookup per article was a round trip the writer waited for, and with it every statement the
previous article had queued (the server worked while the client waited, and the other way
round). What the feed's own articles add to the index meanwhile is kept beside, and merged
into each key's postings: every writer that adds a posting for a key holds that key's
advisory lock, which this transaction holds, so nothing else changes them meanwhile."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ingest.stories import Candidate, Signature, band_keys
from storage.common import MAX_INDEX_KEYS, POSTINGS_PER_KEY

from .base import Conn

__all__ = ["Lookahead", "PgStoryIndex"]

_CANDIDATES = f"""
    WITH hits AS (
        SELECT p.article_id, count(*) AS n, max(p.published_at) AS ts
        FROM unnest(%(keys)s::bigint[]) AS k(key)
        CROSS JOIN LATERAL (
            SELECT b.article_id, b.published_at FROM story_band AS b
            WHERE b.key = k.key AND b.published_at >= %(lo)s
            ORDER BY b.published_at DESC, b.article_id DESC LIMIT {POSTINGS_PER_KEY}
        ) AS p
        GROUP BY p.article_id
        HAVING count(*) >= %(min)s
        ORDER BY n DESC, ts DESC, p.article_id DESC
        LIMIT %(limit)s
    )
    SELECT s.article_id, s.story_id, s.published_at, s.sig, hits.n
    FROM hits JOIN story_sig AS s ON s.article_id = hits.article_id
    ORDER BY hits.n DESC, hits.ts DESC, hits.article_id DESC
"""


# each (key, time bound) pair's newest postings, as `_CANDIDATES` reads them
_POSTINGS = f"""
    SELECT q.key, q.lo, p.published_at, p.article_id
    FROM unnest(%(keys)s::bigint[], %(lo)s::bigint[]) AS q(key, lo)
    CROSS JOIN LATERAL (
        SELECT b.published_at, b.article_id FROM story_band AS b
        WHERE b.key = q.key AND b.published_at >= q.lo
        ORDER BY b.published_at DESC, b.article_id DESC LIMIT {POSTINGS_PER_KEY}
    ) AS p
"""
_SIGS = "SELECT article_id, story_id, published_at, sig FROM story_sig WHERE article_id = ANY(%s)"


def _ts(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


class PgStoryIndex:
    """`StoryIndex` over one open transaction (it never commits)."""

    def __init__(self, tx: Conn) -> None:
        self.tx = tx

    def candidates(
        self, keys: Sequence[int], since: datetime | None, limit: int, min_shared: int
    ) -> list[Candidate]:
        """The same candidates, in the same order, as `storage.sqlite.story_index`."""
        if not keys or limit <= 0:
            return []
        keys = _lookup_keys(keys)
        lo = _lo(since)
        with self.tx.cursor(binary=True) as cur:
            rows = cur.execute(
                _CANDIDATES, {"keys": keys, "lo": lo, "min": min_shared, "limit": limit}
            ).fetchall()
        return _candidates(rows)

    def add_many(
        self, rows: Sequence[tuple[int, int, datetime | None, Signature | bytes, Sequence[int]]]
    ) -> None:
        """Index new articles (ids not indexed yet: a revision keeps its story and index)."""
        for aid, sid, when, sig, keys in rows:
            blob = sig if isinstance(sig, bytes) else sig.to_bytes()
            ts = _ts(when)
            self.tx.execute(
                "INSERT INTO story_sig (article_id, story_id, published_at, sig)"
                " VALUES (%s, %s, %s, %s)",
                (aid, sid, ts, blob),
            )
            self.tx.execute(
                "INSERT INTO story_band (key, published_at, article_id)"
                " SELECT k, %s, %s FROM unnest(%s::bigint[]) AS k ON CONFLICT DO NOTHING",
                (ts, aid, list(dict.fromkeys(keys))),
            )

    def remove(self, article_id: int) -> None:
        self.tx.execute("DELETE FROM story_band WHERE article_id = %s", (article_id,))
        self.tx.execute("DELETE FROM story_sig WHERE article_id = %s", (article_id,))


def _lookup_keys(keys: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(keys))[:MAX_INDEX_KEYS]


def _lo(since: datetime | None) -> int:
    return _ts(since) if since is not None else -(1 << 62)


def _candidates(rows: Sequence[tuple[Any, ...]]) -> list[Candidate]:
    """(article id, story id, published, signature, shared keys) rows as candidates."""
    out = []
    for aid, sid, ts, blob, n in rows:
        data = bytes(blob)
        if Signature.valid_bytes(data):  # else written by another SIGNATURE_VERSION
            when = None if ts == 0 else datetime.fromtimestamp(ts, UTC)
            out.append(Candidate(int(aid), int(sid), data, when, int(n)))
    return out


class Lookahead:
    """The candidates of one feed's new articles (see the module's docstring), bound to
    the write's transaction. `read` them first; then, in the order the articles are
    written, `candidates` for one, `fold` the stories its decision folds, `add` it. An
    article `read` did not cover is looked up with `PgStoryIndex` (the same result).

    What `add` indexes is written by `flush`, in one statement a table (two a feed instead
    of two an article): call it before anything else reads story_sig or story_band in
    the transaction (the chain rule's story state; this class flushes before a fold and
    before a lookup of its own) and when the feed is written."""

    def __init__(self, tx: Conn, limit: int) -> None:
        self.tx = tx
        self.limit = limit  # the candidates a lookup asks for (their signatures are read)
        # key -> (time bound, its newest postings (published, article) at or after it in
        # the database when read, newest first; their articles in the same order): the
        # postings of a later bound are a prefix of these (in that order)
        self.postings: dict[int, tuple[int, list[tuple[int, int]], list[int]]] = {}
        self.added: dict[int, list[tuple[int, int]]] = {}  # key -> postings added since
        self.published: dict[int, int] = {}  # article -> published, of every posting here
        # article -> [story, published, signature] as story_sig holds them now (None: no
        # row), for the articles ranked so far
        self.sigs: dict[int, list[Any] | None] = {}
        self.pending: list[tuple[int, int, int, bytes, list[int]]] = []  # not written yet

    def read(self, wants: Sequence[tuple[Sequence[int], datetime | None]]) -> None:
        """Read the postings of articles (their band keys, their earliest candidate's
        publication time), and the signatures of each one's best candidates so far."""
        bounds: dict[int, int] = {}  # key -> the earliest bound asked
        for keys, since in wants:
            lo = _lo(since)
            for k in _lookup_keys(keys):
                if bounds.get(k, lo) >= lo:
                    bounds[k] = lo
        if not bounds:
            return
        with self.tx.cursor(binary=True) as cur:  # (no text to parse, no bytea in hex)
            rows = cur.execute(
                _POSTINGS, {"keys": list(bounds), "lo": list(bounds.values())}
            ).fetchall()
        found: dict[int, list[tuple[int, int]]] = {k: [] for k in bounds}
        for key, _, ts, aid in rows:
            found[key].append((ts, aid))
            if self.published.setdefault(aid, ts) != ts:
                # an article's band rows all carry its publication time (`add_many`); rows
                # that do not are ranked by the database (as `max(published_at)` there)
                self.postings.clear()
                return
        for k, postings in found.items():
            postings.sort(reverse=True)
            self.postings[k] = (bounds[k], postings, [aid for _, aid in postings])
        want: set[int] = set()
        for keys, since in wants:
            want.update(aid for _, _, aid in self._rank(_lookup_keys(keys), _lo(since), 1))
        self._read_sigs(want)

    def _read_sigs(self, ids: set[int]) -> None:
        ids -= self.sigs.keys()
        if not ids:
            return
        self.sigs.update(dict.fromkeys(ids))
        with self.tx.cursor(binary=True) as cur:
            for aid, sid, ts, blob in cur.execute(_SIGS, (sorted(ids),)):
                self.sigs[aid] = [sid, ts, blob]

    def _covers(self, keys: list[int], lo: int) -> bool:
        for k in keys:
            got = self.postings.get(k)
            if got is None or got[0] > lo:
                return False
        return True

    def _rank(self, keys: list[int], lo: int, min_shared: int) -> list[tuple[int, int, int]]:
        """(shared keys, published, article) of the best `limit` candidates, best first:
        each key's POSTINGS_PER_KEY newest postings at or after `lo` counted."""
        hits: Counter[int] = Counter()
        for k in keys:
            _, found, aids = self.postings[k]
            more = [p for p in self.added.get(k, ()) if p[0] >= lo]
            if more:
                found = sorted(found + more, reverse=True)
            elif not found or found[-1][0] >= lo:
                hits.update(aids)  # (at most POSTINGS_PER_KEY)
                continue
            hits.update([aid for ts, aid in found[:POSTINGS_PER_KEY] if ts >= lo])
        published = self.published
        return heapq.nlargest(
            self.limit, [(n, published[aid], aid) for aid, n in hits.items() if n >= min_shared]
        )

    def candidates(
        self, keys: Sequence[int], since: datetime | None, limit: int, min_shared: int
    ) -> list[Candidate]:
        """`PgStoryIndex.candidates`, ranked here when `read` covered these keys."""
        lookup, lo = _lookup_keys(keys), _lo(since)
        if not keys or limit != self.limit or not self._covers(lookup, lo):
            self.flush()
            return PgStoryIndex(self.tx).candidates(keys, since, limit, min_shared)
        ranked = self._rank(lookup, lo, min_shared)
        self._read_sigs({aid for _, _, aid in ranked})
        rows = []
        for n, _, aid in ranked:
            row = self.sigs[aid]
            if row is not None:  # (the lookup joins story_sig)
                rows.append((aid, row[0], row[1], row[2], n))
        return _candidates(rows)

    def add(self, article_id: int, story_id: int, when: datetime | None, blob: bytes,
            keys: Sequence[int]) -> None:  # fmt: skip
        """Index a new article (`PgStoryIndex.add_many`; written by `flush`)."""
        ts = _ts(when)
        keys = list(dict.fromkeys(keys))
        for k in keys:
            self.added.setdefault(k, []).append((ts, article_id))
        self.published[article_id] = ts
        self.sigs[article_id] = [story_id, ts, blob]
        self.pending.append((article_id, story_id, ts, blob, keys))

    def flush(self) -> None:
        """Write what `add` indexed: the band rows in key order (each index page is
        visited once, in order)."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        aids, sids, stamps, blobs, _ = (list(col) for col in zip(*rows, strict=True))
        self.tx.execute(
            "INSERT INTO story_sig (article_id, story_id, published_at, sig)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bytea[])",
            (aids, sids, stamps, blobs),
        )
        bands = sorted((k, ts, aid) for aid, _, ts, _, keys in rows for k in keys)
        keys_, stamps_, aids_ = (
            (list(col) for col in zip(*bands, strict=True)) if bands else ([], [], [])
        )
        self.tx.execute(
            "INSERT INTO story_band (key, published_at, article_id)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])"
            " ON CONFLICT DO NOTHING",
            (keys_, stamps_, aids_),
        )

    def fold(self, old: int, into: int) -> None:
        """Story `old` is about to be folded into `into` (story_sig's rows move with it):
        what `add` indexed is written first, so that the fold moves it too."""
        self.flush()
        for row in self.sigs.values():
            if row is not None and row[0] == old:
                row[0] = into


def keys_of(sig: Signature | bytes) -> tuple[Signature, bytes, list[int]]:
    """A signature decoded, serialized, and its band keys."""
    decoded, blob = Signature.with_bytes(sig)
    return decoded, blob, band_keys(decoded)
