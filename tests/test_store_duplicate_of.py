"""Copies and same-event reports told apart in the store (#18), on both backends: each record's
`duplicate_of` (the earliest article it copies, transitive) beside its `story_id`; the story
reads mark each source; existing stores get the column filled from their duplicate links;
and the no-chains rule keeps unrelated headlines out of one story."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from factories import NOW, article, claim, record

from ingest.models import ArticleRecord
from ingest.settings import FeedSpec
from storage import Store, open_store

A = "https://a.example/feed"
B = "https://b.example/feed"
C = "https://c.example/feed"

WIRE = (
    "A fierce autumn gale forced the closure of three northern ports on Monday, harbour "
    "authorities said, as crews worked through the night to tie down stacked containers and "
    "move small vessels to sheltered berths. Wind gusts above 110 kilometres an hour were "
    "measured at the outer breakwater shortly after dawn, and the coastguard asked all leisure "
    "craft to stay in port until the warning is lifted on Wednesday. Ferry operators cancelled "
    "every sailing to the islands, and the power company said some forty thousand homes along "
    "the coast were without electricity by the afternoon."
)
# another write-up of the same gale: the same names and event words, no shared sentence
REPORT = (
    "Harbour authorities shut three northern ports on Monday as an autumn gale battered the "
    "coast with gusts above 110 kilometres an hour at the breakwater. The coastguard told "
    "leisure craft to stay in port until Wednesday, ferry operators cancelled sailings to the "
    "islands and forty thousand homes lost electricity, the power company said. Container "
    "crews and small vessels sheltered in the northern ports overnight."
)


@pytest.fixture
def store(empty_store: Store) -> Store:
    for url in (A, B, C):
        empty_store.add_feed(FeedSpec(url=url))
    claim(empty_store)
    return empty_store


def _art(feed: str, identity: str, title: str, text: str, minutes: int = 0) -> object:
    host = feed.split("/")[2]
    return article(
        feed_url=feed,
        identity=identity,
        url=f"https://{host}/{identity}",
        canonical_url=f"https://{host}/{identity}",
        title=title,
        content_text=text,
        word_count=len(text.split()),
        published_at=NOW + timedelta(minutes=minutes),
        content_hash=f"hash-{feed}-{identity}",
    )


def _by_title(store: Store) -> dict[str, ArticleRecord]:
    return {r.title: r for r in store.articles()}


def test_copies_point_at_the_earliest_original_and_reports_at_none(store: Store) -> None:
    record(store, A, _art(A, "w1", "Gale shuts northern ports", WIRE))
    record(store, B, _art(B, "w2", "Storm closes harbours", "NORTH BAY (Wire) - " + WIRE, 1))
    # a copy of the copy: it points at the original, not at the copy it matched
    record(
        store, C, _art(C, "w3", "Ports shut by gale", "NORTH BAY (Wire) - " + WIRE + " More.", 2)
    )
    record(store, C, _art(C, "r1", "Northern ports closed as gale hits coast", REPORT, 3))
    rows = _by_title(store)
    original, copy, copy2 = (rows[t] for t in ("Gale shuts northern ports",
        "Storm closes harbours", "Ports shut by gale"))  # fmt: skip
    report = rows["Northern ports closed as gale hits coast"]
    assert original.duplicate_of is None
    assert copy.duplicate_of == copy2.duplicate_of == original.id
    # the same event, not a copy: same story, its own report
    assert report.story_id == original.story_id and report.duplicate_of is None
    (story,) = store.stories(min_sources=2)
    assert story.representative_id == original.id and story.n_sources == 4
    marks = {s.article_id: s.duplicate_of for s in story.sources}
    assert marks == {original.id: None, copy.id: original.id, copy2.id: original.id,
                     report.id: None}  # fmt: skip
    assert [s.copy for s in story.sources] == [False, True, True, False]
    assert store.articles(ids=[copy.id]).__next__().as_dict()["duplicate_of"] == original.id


def test_a_copy_of_two_copy_groups_joins_them_at_the_earliest(store: Store) -> None:
    """Two texts stored apart (neither copies the other), then one that copies both: the
    two groups are one, pointing at the earliest original (copies of copies are copies)."""
    half = len(WIRE) // 2
    first, second = WIRE[:half], WIRE[half:]
    record(store, A, _art(A, "p1", "First half", first))
    record(store, B, _art(B, "p2", "Second half", second, 1))
    record(store, B, _art(B, "p2c", "Second half again", "WIRE - " + second, 2))
    rows = _by_title(store)
    p1, p2 = rows["First half"], rows["Second half"]
    assert p1.duplicate_of is None and p2.duplicate_of is None  # apart so far
    assert rows["Second half again"].duplicate_of == p2.id
    record(store, C, _art(C, "both", "Whole wire", WIRE, 3))
    rows = _by_title(store)
    assert rows["Whole wire"].duplicate_of == p1.id
    assert rows["Second half"].duplicate_of == p1.id
    assert rows["Second half again"].duplicate_of == p1.id
    assert len({r.story_id for r in rows.values()}) == 1


# the chain of #18, as headline-only items minutes apart: single links put them all in one
# story (each matches the one before on a shared name or two)
CHAIN = [
    "Hackers claim bankrupt Mt. Gox still has customers' Bitcoins",
    "Mt. Gox files for Chapter 15 bankruptcy protection in US",
    "Sbarro files for Chapter 11 bankruptcy protection",
    "Pizza Chain Sbarro Files For Bankruptcy A Second Time",
    "Mt. Gox Bitcoin exchange: Japan says Bitcoin not a currency",
    "Japan says Bitcoin not a currency, but taxable",
]


def test_a_chain_of_headlines_does_not_end_in_one_story(store: Store) -> None:
    for i, title in enumerate(CHAIN):
        feed = (A, B, C)[i % 3]
        record(store, feed, _art(feed, f"h{i}", title, "", minutes=5 * i))
    story = {title: r.story_id for title, r in _by_title(store).items()}
    gox, sbarro, japan = (story[CHAIN[k]] for k in (0, 3, 5))
    assert len({gox, sbarro, japan}) == 3, story
    # the Mt. Gox reports stay together
    assert story[CHAIN[1]] == story[CHAIN[4]] == gox


def _downgrade(target: str | Path) -> None:
    """Back to the schema before `duplicate_of` (it and the later `entry_digest` dropped,
    the version lowered)."""
    if isinstance(target, Path):
        conn = sqlite3.connect(target)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.executescript(
            f"""DROP INDEX articles_duplicate_of;
                ALTER TABLE articles DROP COLUMN duplicate_of;
                DROP INDEX sources_feed_seen;
                ALTER TABLE article_sources DROP COLUMN entry_digest;
                PRAGMA user_version = {version - 2};"""
        )
        conn.close()
        return
    with psycopg.connect(target, autocommit=True) as pg:
        pg.execute("ALTER TABLE articles DROP COLUMN duplicate_of")
        pg.execute("DROP INDEX sources_feed_seen")
        pg.execute("ALTER TABLE article_sources DROP COLUMN entry_digest")
        pg.execute(
            "DELETE FROM schema_migrations"
            " WHERE version > (SELECT MAX(version) - 2 FROM schema_migrations)"
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_existing_store_gets_duplicate_of_from_its_duplicate_links(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target: str | Path = tmp_path / "t.db"
    if backend == "postgres":
        target = request.getfixturevalue("pg_url")
    store = open_store(target)
    for url in (A, B, C):
        store.add_feed(FeedSpec(url=url))
    claim(store)
    record(store, A, _art(A, "w1", "Gale shuts northern ports", WIRE))
    record(store, B, _art(B, "w2", "Storm closes harbours", "NORTH BAY (Wire) - " + WIRE, 1))
    record(
        store, C, _art(C, "w3", "Ports shut by gale", "NORTH BAY (Wire) - " + WIRE + " More.", 2)
    )
    record(store, C, _art(C, "r1", "Northern ports closed as gale hits coast", REPORT, 3))
    before = {r.title: r.duplicate_of for r in store.articles()}
    store.close()
    _downgrade(target)
    store = open_store(target)
    try:
        after = {r.title: r.duplicate_of for r in store.articles()}
    finally:
        store.close()
    assert after == before
    original = before["Gale shuts northern ports"]
    assert original is None and set(before.values()) == {None, before["Storm closes harbours"]}
    assert before["Storm closes harbours"] == before["Ports shut by gale"] is not None


def test_pruning_an_original_makes_its_earliest_copy_the_original(store: Store) -> None:
    record(store, A, _art(A, "w1", "Gale shuts northern ports", WIRE, minutes=-200 * 24 * 60))
    copy = "NORTH BAY (Wire) - " + WIRE
    # republished months later: found through a story window that reaches back that far
    record(store, B, _art(B, "w2", "Storm closes harbours", copy, 1), window_days=365)
    record(store, C, _art(C, "w3", "Ports shut by gale", copy + " More.", 2), window_days=365)
    rows = _by_title(store)
    assert rows["Ports shut by gale"].duplicate_of == rows["Gale shuts northern ports"].id
    assert store.prune(NOW - timedelta(days=100)) == 1
    rows = _by_title(store)
    first = rows["Storm closes harbours"]
    assert first.duplicate_of is None
    assert rows["Ports shut by gale"].duplicate_of == first.id


def test_exports_and_story_list_say_which_article_is_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's wire story: Coast Daily and Harbor Herald link the same URL (one article),
    Valley Times carries the same text under its own URL: whichever of the two was stored
    first is the original, the other a copy of it (feeds are fetched in any order)."""
    import csv
    import io
    import json

    from click.testing import CliRunner

    from ingest import demo
    from ingest.cli import cli

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "demo.db"
    assert demo.main(db) == 0
    capsys.readouterr()
    runner = CliRunner()
    lines = runner.invoke(cli, ["--db", str(db), "articles", "export"]).output.splitlines()
    records = {r["title"]: r for r in map(json.loads, lines)}
    pair = [r for t, r in records.items() if t.startswith(("Gale shuts", "Storm forces closure"))]
    original, copy = sorted(pair, key=lambda r: r["id"])
    assert copy["duplicate_of"] == original["id"] and copy["story_id"] == original["story_id"]
    assert [r["title"] for r in records.values() if r["duplicate_of"] is not None] == [
        copy["title"]
    ]
    out = runner.invoke(cli, ["--db", str(db), "articles", "export", "--format", "csv"]).output
    rows = {r["title"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows[copy["title"]]["duplicate_of"] == str(original["id"])
    assert rows[original["title"]]["duplicate_of"] == ""
    listed = runner.invoke(cli, ["--db", str(db), "stories", "list", "--min-sources", "2"]).output
    assert re.search(rf"\[duplicate [0-9.]+\] \(copy of {original['id']}\)\n", listed), listed
