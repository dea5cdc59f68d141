"""The story index on PostgreSQL: band keys in an indexed table (`story_band`, its primary
key in lookup order), signatures in `story_sig`. Bound to the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.stories import Candidate, Signature, band_keys
from storage.common import MAX_INDEX_KEYS, POSTINGS_PER_KEY

from .base import Conn

__all__ = ["PgStoryIndex"]

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
        keys = list(dict.fromkeys(keys))[:MAX_INDEX_KEYS]
        lo = _ts(since) if since is not None else -(1 << 62)
        rows = self.tx.execute(
            _CANDIDATES, {"keys": keys, "lo": lo, "min": min_shared, "limit": limit}
        ).fetchall()
        out = []
        for aid, sid, ts, blob, n in rows:
            data = bytes(blob)
            if Signature.valid_bytes(data):  # else written by another SIGNATURE_VERSION
                when = None if ts == 0 else datetime.fromtimestamp(ts, UTC)
                out.append(Candidate(int(aid), int(sid), data, when, int(n)))
        return out

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


def keys_of(sig: Signature | bytes) -> tuple[Signature, bytes, list[int]]:
    """A signature decoded, serialized, and its band keys."""
    decoded, blob = Signature.with_bytes(sig)
    return decoded, blob, band_keys(decoded)
