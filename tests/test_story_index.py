"""The persistent LSH index (storage.story_index) on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_stories import BRIDGE, FERRY, FERRY_OTHER, GALE  # tests/ is on sys.path (see conftest)

from ingest.stories import band_keys, match, signature
from storage import story_index

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(tmp_path / "stories.db")
    story_index.ensure_schema(c)
    story_index.ensure_schema(c)  # idempotent
    yield c
    c.close()


def test_copy_is_found_and_matched(conn: sqlite3.Connection) -> None:
    story_index.add(conn, 1, 1, signature("Ferry runs aground", FERRY), T0)
    story_index.add(conn, 2, 2, signature("Tay bridge closed", BRIDGE), T0)
    conn.commit()
    new = signature("Hundreds rescued off Orkney", "Advertisement. " + FERRY + " More news")
    found = story_index.candidates(conn, band_keys(new), since=T0 - timedelta(days=3))
    assert [c.article_id for c in found] == [1]
    assert found[0].published_at == T0 and found[0].story_id == 1
    m = match(new, found)
    assert m is not None and m.story_id == 1 and m.level == "duplicate"


def test_time_window_excludes_old_articles(conn: sqlite3.Connection) -> None:
    sig = signature("Ferry runs aground", FERRY)
    story_index.add(conn, 1, 1, sig, T0 - timedelta(days=10))
    story_index.add(conn, 2, 2, sig, None)
    assert story_index.candidates(conn, band_keys(sig), since=T0 - timedelta(days=3)) == []
    assert {c.article_id for c in story_index.candidates(conn, band_keys(sig), None)} == {1, 2}


def test_limit_and_deterministic_order(conn: sqlite3.Connection) -> None:
    sig = signature("Ferry runs aground", FERRY)
    other = signature("Everyone rescued", FERRY_OTHER)
    for aid in (5, 3, 9):
        story_index.add(conn, aid, aid, sig, T0)
    story_index.add(conn, 4, 4, other, T0 + timedelta(hours=1))
    keys = band_keys(sig)
    got = [c.article_id for c in story_index.candidates(conn, keys, None, limit=10)]
    # most shared keys first; equal counts: newest, then highest id
    assert got[:3] == [9, 5, 3]
    assert [c.article_id for c in story_index.candidates(conn, keys, None, limit=2)] == [9, 5]
    assert story_index.candidates(conn, [], None) == []


def test_re_adding_replaces_old_keys(conn: sqlite3.Connection) -> None:
    story_index.add(conn, 1, 1, signature("Ferry", FERRY), T0)
    story_index.add(conn, 1, 7, signature("Bridge", BRIDGE), T0)  # a revision, another story
    n_keys = conn.execute("SELECT count(*) FROM story_band WHERE article_id = 1").fetchone()[0]
    assert n_keys == len(band_keys(signature("Bridge", BRIDGE)))
    ferry_keys = band_keys(signature("Ferry", FERRY))[:20]
    assert story_index.candidates(conn, ferry_keys, None) == []
    [c] = story_index.candidates(conn, band_keys(signature("Bridge", BRIDGE)), None)
    assert c.story_id == 7


def test_remove(conn: sqlite3.Connection) -> None:
    sig = signature("Ferry", FERRY)
    story_index.add(conn, 1, 1, sig, T0)
    story_index.remove(conn, 1)
    story_index.remove(conn, 1)  # absent: no error
    assert story_index.candidates(conn, band_keys(sig), None) == []
    assert conn.execute("SELECT count(*) FROM story_band").fetchone()[0] == 0


def test_caller_owns_the_transaction(tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "tx.db")
    story_index.ensure_schema(c)
    c.commit()
    story_index.add(c, 1, 1, signature("Ferry", FERRY), T0)
    c.rollback()
    assert c.execute("SELECT count(*) FROM story_sig").fetchone()[0] == 0
    c.close()


def test_lookup_uses_the_primary_key(conn: sqlite3.Connection) -> None:
    plan = " ".join(
        str(r)
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT article_id FROM story_band "
            "WHERE key IN (1, 2) AND published_at >= 0"
        )
    )
    assert "PRIMARY KEY" in plan and "SCAN" not in plan


def test_rows_of_another_signature_version_are_skipped_and_replaced(
    conn: sqlite3.Connection,
) -> None:
    sig = signature("Ferry runs aground", FERRY)
    story_index.add(conn, 1, 1, sig, T0)
    old = bytearray(sig.to_bytes())
    old[0] = 1  # as written by signature version 1
    conn.execute("UPDATE story_sig SET sig = ? WHERE article_id = 1", (bytes(old),))
    assert story_index.candidates(conn, band_keys(sig), None) == []  # skipped, no error
    story_index.add(conn, 1, 1, sig, T0)  # re-indexing drops the old rows by article id
    assert [c.article_id for c in story_index.candidates(conn, band_keys(sig), None)] == [1]
    n = conn.execute("SELECT count(*) FROM story_band WHERE article_id = 1").fetchone()[0]
    assert n == len(band_keys(sig))
    story_index.remove(conn, 1)
    assert conn.execute("SELECT count(*) FROM story_band").fetchone()[0] == 0


def test_candidates_carry_shared_key_counts_and_undecoded_signatures(
    conn: sqlite3.Connection,
) -> None:
    sig = signature("Ferry runs aground", FERRY)
    story_index.add(conn, 1, 1, sig, T0)
    keys = band_keys(sig)
    (full,) = story_index.candidates(conn, keys, None)
    (one,) = story_index.candidates(conn, [*keys[:1], 12345], None)
    assert full.shared_keys == len(keys) and one.shared_keys == 1
    assert full.signature == sig.to_bytes()  # decoded only when match scores it in full
    assert full.decoded() == sig
    conn.execute("UPDATE story_sig SET sig = ? WHERE article_id = 1", (sig.to_bytes()[:-1],))
    assert story_index.candidates(conn, keys, None) == []  # truncated blob: skipped


def test_a_crowded_key_reads_only_its_newest_postings(conn: sqlite3.Connection) -> None:
    """A key shared by thousands of stored articles (a common name) must not make the lookup
    read them all: each key contributes its newest POSTINGS_PER_KEY rows, and an article
    sharing many keys with the new one is still found."""
    sig = signature("Ferry runs aground", FERRY)
    common = band_keys(sig)[0]
    crowd = story_index.POSTINGS_PER_KEY * 5
    base = int(T0.timestamp())  # the crowd is newer than the real copy below
    conn.executemany(
        "INSERT INTO story_band (key, published_at, article_id) VALUES (?, ?, ?)",
        [(common, base + i, 1_000 + i) for i in range(crowd)],
    )
    conn.executemany(
        "INSERT INTO story_sig (article_id, story_id, published_at, sig) VALUES (?, ?, ?, ?)",
        [(1_000 + i, 1_000 + i, base + i, sig.to_bytes()) for i in range(crowd)],
    )
    story_index.add(conn, 1, 1, sig, T0 - timedelta(days=2))  # the real copy, older
    found = story_index.candidates(conn, band_keys(sig), None, limit=500)
    crowd_found = [c.article_id for c in found if c.article_id >= 1_000]
    assert len(crowd_found) == story_index.POSTINGS_PER_KEY  # only the newest rows of the key
    assert min(crowd_found) == 1_000 + crowd - story_index.POSTINGS_PER_KEY
    assert found[0].article_id == 1  # shares every key: first


def test_min_shared_drops_only_the_tail_of_the_order(conn: sqlite3.Connection) -> None:
    sig = signature("Ferry runs aground", FERRY)
    other = signature("Everyone rescued", FERRY_OTHER)
    for aid in (5, 3, 9):
        story_index.add(conn, aid, aid, sig, T0)
    story_index.add(conn, 4, 4, other, T0 + timedelta(hours=1))
    own = [k for k in band_keys(sig) if k not in band_keys(other)]
    keys = [*own, next(k for k in band_keys(other) if k not in band_keys(sig))]
    every = story_index.candidates(conn, keys, None, limit=10)
    counts = {c.article_id: c.shared_keys for c in every}
    assert counts == {9: len(own), 5: len(own), 3: len(own), 4: 1} and len(own) >= 2
    two = story_index.candidates(conn, keys, None, limit=10, min_shared=2)
    assert two == [c for c in every if (c.shared_keys or 0) >= 2]


def test_without_event_terms_only_copies_need_reading() -> None:
    """min_shared_keys: a signature with no event terms (text the rarity prior does not
    know) can only match a copy, which shares two keys; with terms, one key may do."""
    from ingest.stories import min_shared_keys

    assert min_shared_keys(signature("Ferry runs aground", FERRY)) == 1
    unknown = signature("Zorvak", " ".join(f"blorp{i} quanzil{i}" for i in range(60)))
    assert unknown.terms == () and min_shared_keys(unknown) == 2


def test_a_headline_sharing_only_commoner_names_is_found(conn: sqlite3.Connection) -> None:
    """A headline-only item is indexed under all its names, so a later headline that shares
    two of its commoner names (not among its three rarest) finds it and joins its story."""
    story_index.add(conn, 1, 1, signature(GALE, ""), T0)
    sig = signature("Gale warning for Sutherland and the Highlands", "")
    found = story_index.candidates(conn, band_keys(sig), T0 - timedelta(days=3))
    assert [c.article_id for c in found] == [1]
    m = match(sig, found, published_at=T0 + timedelta(minutes=5))
    assert m is not None and (m.story_id, m.level) == (1, "event")
