"""The PostgreSQL store's `Lookahead` (a feed's candidates read in one statement, ranked in
the client) against the story index's own lookup, on one transaction: the same candidates in
the same order, while the feed's articles are indexed and stories folded meanwhile."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.stories import signature
from storage.common import POSTINGS_PER_KEY
from storage.postgres.story_index import Lookahead, PgStoryIndex, _lo

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LIMIT = 24


def _random_keys(rnd: random.Random, pool: int, n: int) -> list[int]:
    # a small pool: keys shared by more than POSTINGS_PER_KEY articles (the per-key bound)
    return [rnd.randrange(-pool, pool) for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lookahead_finds_the_candidates_the_index_lookup_finds(pg_url: str, seed: int) -> None:
    from storage import open_store

    open_store(pg_url).close()  # the schema
    rnd = random.Random(seed)
    blob = signature("A headline", " ".join(["word"] * 80)).to_bytes()
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        index = PgStoryIndex(conn)
        stored = []
        for aid in range(1, 401):
            # whole days and hours: equal publication times (ties go to the higher id)
            when = T0 + timedelta(hours=rnd.randrange(0, 24 * 6, 6))
            stored.append((aid, rnd.randrange(1, 60), when, blob, _random_keys(rnd, 40, 12)))
        stored.append((401, 7, None, blob, _random_keys(rnd, 40, 12)))  # published unknown
        index.add_many(stored)
        ahead = Lookahead(conn, LIMIT)
        batch = []
        for aid in range(1000, 1060):
            when = T0 + timedelta(hours=rnd.randrange(24 * 2, 24 * 8, 6))
            keys = [*_random_keys(rnd, 40, 14), rnd.randrange(10**6, 10**7)]  # one key unseen
            batch.append((aid, when, keys))
        ahead.read([(keys, when - timedelta(days=3)) for _, when, keys in batch])
        assert ahead.postings, "read nothing"
        compared = ranked_here = 0
        for i, (aid, when, keys) in enumerate(batch):
            # the time bound read, an earlier one (not read: looked up by the database), none
            for since in (when - timedelta(days=3), when - timedelta(days=5), None):
                for min_shared in (1, 2, 3):
                    ranked_here += ahead._covers(keys, _lo(since))
                    got = ahead.candidates(keys, since, LIMIT, min_shared)
                    ahead.flush()
                    want = PgStoryIndex(conn).candidates(keys, since, LIMIT, min_shared)
                    assert got == want, (aid, since, min_shared)
                    compared += bool(want)
            story = rnd.randrange(1, 60)
            ahead.add(aid, story, when, blob, keys)
            if i % 7 == 3:  # a story folded into another, as PgStories does it
                old, into = rnd.randrange(1, 60), rnd.randrange(1, 60)
                ahead.fold(old, into)
                conn.execute("UPDATE story_sig SET story_id = %s WHERE story_id = %s", (into, old))
        assert compared > 100 and ranked_here >= len(batch) * 3
        # the per-key bound was reached, so it was exercised
        (most,) = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM story_band GROUP BY key) AS c"
        ).fetchone() or (0,)
        assert most > POSTINGS_PER_KEY
