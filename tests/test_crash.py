"""The crash harness's short form (issue #17): a few SIGKILLs of real `ingest run` and
`ingest daemon` processes per backend, aimed at fetch, parse, a write transaction and (on
PostgreSQL) a story-index write, over a loopback farm whose feeds change between kills.
`make crash` runs 50 a backend (bench/crash.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench.churn import Audit, ChurnFarm
from bench.crash import crash_series, summary

pytestmark = pytest.mark.slow


def _run(db: str | Path, kills: list[tuple[str, str]]) -> None:
    with ChurnFarm(seed=7) as farm:
        results = crash_series(db, farm, kills, seed=7)
    print(summary(results))
    assert len(results) == len(kills)
    for r in results:
        assert r.passed, f"{r.command} killed in {r.phase} at {r.at_s} s: {r.problems}"
    # each kill was a kill (the process was alive when it came) and hit what it aimed at
    hit = [(r.command, r.phase) for r in results]
    assert all(phase != "exited" for _, phase in hit), hit
    assert sum(r.phase == r.target for r in results) >= len(kills) - 1, hit


def test_sigkill_of_run_and_daemon_on_sqlite_loses_and_doubles_nothing(tmp_path: Path) -> None:
    _run(tmp_path / "crash.db", [("run", "write"), ("daemon", "fetch"), ("run", "parse")])


@pytest.mark.postgres
def test_sigkill_of_run_and_daemon_on_postgres_loses_and_doubles_nothing(pg_url: str) -> None:
    _run(pg_url, [("run", "story"), ("daemon", "write"), ("run", "fetch")])


def test_the_audit_sees_a_lost_a_doubled_and_an_orphaned_article(tmp_path: Path) -> None:
    """The harness's own checks are not vacuous: each fault made by hand is named."""
    db = tmp_path / "crash.db"
    with ChurnFarm(seed=3, hosts=1, feeds_per_host=2) as farm:
        crash_series(db, farm, [])  # the feeds added and fetched once, nothing killed
        audit = Audit(db)
        assert audit.problems() == [] and audit.missing(farm) == []
        before = audit.sources()
        conn = sqlite3.connect(db)
        with conn:
            first, second = (r[0] for r in conn.execute("SELECT id FROM articles LIMIT 2"))
            conn.execute(
                """INSERT INTO articles (feed_url, identity, guid, url, canonical_url, title,
                   fetched_at, content_hash, story_id, first_seen_at)
                   SELECT feed_url, identity, guid, url, canonical_url, title, fetched_at,
                   content_hash, story_id, first_seen_at FROM articles WHERE id = ?""",
                (first,),
            )
            conn.execute("DELETE FROM article_sources WHERE article_id = ?", (second,))
            conn.execute("UPDATE stories SET representative_id = -1 WHERE id = ("
                         "SELECT MAX(id) FROM stories)")  # fmt: skip
        conn.close()
        problems = audit.problems()
        assert any(p.startswith("duplicate: ") for p in problems), problems
        assert any("representative -1 does not exist" in p for p in problems), problems
        assert any("story links" in p for p in problems), problems  # the copy has none
        assert audit.lost(before) and audit.missing(farm)
