"""config/datasette.yml: its canned queries run against a real store filled by the pipeline,
and its facets name real columns. (Datasette itself is not a dependency.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from feedserver import FeedServer
from servekit import fill_store

from storage.sqlite import SQLiteStore

METADATA = Path(__file__).resolve().parents[1] / "config" / "datasette.yml"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with FeedServer() as server:
        return fill_store(tmp_path_factory.mktemp("ds") / "ingest.db", server)


@pytest.fixture(scope="module")
def database() -> dict[str, Any]:
    meta = yaml.safe_load(METADATA.read_text())
    # `datasette data/ingest.db` names the database after the file's stem
    assert set(meta["databases"]) == {"ingest"}
    result: dict[str, Any] = meta["databases"]["ingest"]
    return result


def rows(db: Path, sql: str, **params: object) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def test_recent_stories(db: Path, database: dict[str, Any]) -> None:
    got = rows(db, database["queries"]["recent_stories"]["sql"])
    expected = SQLiteStore(db).stories(limit=100)
    assert [r["story_id"] for r in got] == [s.story_id for s in expected]
    for row, story in zip(got, expected, strict=True):
        assert row["title"] == story.title and row["sources"] == story.n_sources
        assert set(row["outlets"].split(" · ")) == {s.outlet for s in story.sources}


def test_multi_source_stories(db: Path, database: dict[str, Any]) -> None:
    got = rows(db, database["queries"]["multi_source_stories"]["sql"])
    expected = SQLiteStore(db).stories(min_sources=2, limit=100)
    assert {r["story_id"] for r in got} == {s.story_id for s in expected}
    assert all(r["sources"] > 1 for r in got)
    assert [r["sources"] for r in got] == sorted((r["sources"] for r in got), reverse=True)


def test_feed_health_puts_failing_feeds_first(db: Path, database: dict[str, Any]) -> None:
    got = rows(db, database["queries"]["feed_health"]["sql"])
    assert len(got) == 7
    assert got[0]["status"] == "error" and "404" in got[0]["last_error"]
    assert {r["status"] for r in got[1:]} == {"ok"}
    assert all(r["next_poll_at"] for r in got)


def test_search_articles(db: Path, database: dict[str, Any]) -> None:
    got = rows(db, database["queries"]["search_articles"]["sql"], q="gale")
    assert got and all(r["story_id"] for r in got)


def test_facets_name_real_columns(db: Path, database: dict[str, Any]) -> None:
    for table, options in database["tables"].items():
        columns = {r["name"] for r in rows(db, f"PRAGMA table_info({table})")}
        assert columns, table
        for facet in options.get("facets", []):
            column = facet if isinstance(facet, str) else next(iter(facet.values()))
            assert column in columns, (table, facet)
        for key in ("sort_desc", "label_column"):
            if key in options:
                assert options[key] in columns, (table, key)
