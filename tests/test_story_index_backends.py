"""Both backends' story indexes (`storage.interface.StoryIndex`) find the same candidates,
in the same order, for the same stored articles: a story groups the same on either."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg

from ingest.dedupe import band_keys, min_shared_keys, signature
from storage import StoryIndex, open_store
from storage.postgres.story_index import PgStoryIndex
from storage.sqlite.story_index import SQLiteStoryIndex, ensure_schema

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def _texts(n: int) -> list[str]:
    """Articles sharing words in overlapping runs: many candidates, many ties."""
    rnd = random.Random(5)
    vocab = ["".join(rnd.choice("bdgklmnprstv") + rnd.choice("aeiou") for _ in range(3))
             for _ in range(300)]  # fmt: skip
    return [" ".join(vocab[(i * 7 + k) % 300] for k in range(60)) for i in range(n)]


def test_sqlite_and_postgresql_find_the_same_candidates(pg_url: str) -> None:
    open_store(pg_url).close()  # the schema
    texts = _texts(60)
    sigs = [signature(f"Story {i}", t) for i, t in enumerate(texts)]
    rows = [(i + 1, (i // 3) + 1, T0 + timedelta(hours=i), s, band_keys(s))
            for i, s in enumerate(sigs)]  # fmt: skip
    lite = sqlite3.connect(":memory:")
    ensure_schema(lite)
    with psycopg.connect(pg_url, autocommit=True) as pg:
        indexes: list[StoryIndex] = [SQLiteStoryIndex(lite), PgStoryIndex(pg)]
        for index in indexes:
            index.add_many(rows)
        for probe in (0, 7, 30, 59):
            sig = sigs[probe]
            since = T0 + timedelta(hours=probe - 24)
            found = [
                [(c.article_id, c.story_id, c.published_at, c.shared_keys) for c in
                 index.candidates(band_keys(sig), since, 24, min_shared_keys(sig))]
                for index in indexes
            ]  # fmt: skip
            assert found[0] == found[1] and len(found[0]) > 3
        indexes[1].remove(1)
        assert pg.execute("SELECT count(*) FROM story_band WHERE article_id = 1").fetchone() == (0,)
