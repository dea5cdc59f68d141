"""bench/story_cpu.py: the story stages replayed over a real store's articles, with a digest
that tells two source trees apart exactly when some signature or decision differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import NOW, article, claim, record
from readpatch import set_read

from bench import story_cpu
from ingest.settings import FeedSpec
from storage import open_store

FEED = "https://a.example/feed"
WIRE = (
    "The central bank raised its main interest rate by half a point on Thursday, the largest "
    "increase in two decades, saying inflation in the euro area was still far above target "
    "and that further steps would follow at its next meetings in the spring. "
) * 3


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    store = open_store(path)
    store.add_feed(FeedSpec(url=FEED))
    claim(store)
    arts = [
        article(FEED, "a1", title="Central bank raises rates", content_text=WIRE),
        article(FEED, "a2", title="Bank lifts rates again", content_text="Reuters - " + WIRE),
        article(FEED, "a3", title="Storm closes schools", content_text="Heavy snow " * 40),
    ]
    record(store, FEED, *arts)
    store.close()
    return path


def test_replay_times_every_stage_and_finds_the_copy(store_path: Path) -> None:
    res = story_cpu.replay(store_path, 100)
    assert res["articles"] == 3
    assert set(res["ns"]) == set(story_cpu.STAGES)  # type: ignore[arg-type]
    assert all(v >= 0 for v in res["ns"].values())  # type: ignore[union-attr]
    # the same replay again: the same digest (signatures and decisions are deterministic)
    assert story_cpu.replay(store_path, 100)["digest"] == res["digest"]


def test_the_digest_changes_with_a_decision(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.dedupe import _match

    before = story_cpu.replay(store_path, 100)["digest"]
    # no copy is a copy any more: the wire copy founds a story of its own
    set_read(monkeypatch, "DUP_CONTAIN", 2.0, _match._score)
    set_read(monkeypatch, "DUP_LEAD", 2.0, _match._score)
    assert story_cpu.replay(store_path, 100)["digest"] != before


def test_a_missing_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert story_cpu.main(["--db", str(tmp_path / "none.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.db" in err


def test_the_articles_are_read_in_id_order_with_dates(store_path: Path) -> None:
    arts = story_cpu._articles(store_path, 10)
    assert [a[0] for a in arts] == [
        "Central bank raises rates",
        "Bank lifts rates again",
        "Storm closes schools",
    ]
    assert all(a[2] == NOW for a in arts)
