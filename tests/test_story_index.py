"""The persistent LSH index (storage.story_index) on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_stories import BRIDGE, FERRY, FERRY_OTHER, GALE  # tests/ is on sys.path (see conftest)

from ingest.dedupe import Candidate, Signature, band_keys, match, signature
from storage.sqlite import story_index

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def band_rows(conn: sqlite3.Connection, article_id: int | None = None) -> int:
    """Band rows in both levels of the index (of one article, or all)."""
    where = "" if article_id is None else f" WHERE article_id = {int(article_id)}"
    return sum(
        conn.execute(f"SELECT count(*) FROM {t}{where}").fetchone()[0]
        for t in ("story_band", "story_band_new")
    )


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
    n_keys = band_rows(conn, 1)
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
    assert band_rows(conn) == 0


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
    n = band_rows(conn, 1)
    assert n == len(band_keys(sig))
    story_index.remove(conn, 1)
    assert band_rows(conn) == 0


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
    from ingest.dedupe import min_shared_keys

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


# --- the two levels (story_band_new, merged into story_band) ---------------------------------


def _corpus() -> list[tuple[int, Signature, datetime]]:
    """40 articles: copies of three texts and their variants, published over two days in an
    order unrelated to their ids, so posting lists interleave by time across both levels."""
    texts = [FERRY, BRIDGE, FERRY_OTHER]
    out = []
    for aid in range(1, 41):
        body = texts[aid % 3] + (" Update." * (aid % 4))
        when = T0 + timedelta(hours=(aid * 17) % 48)
        out.append((aid, signature(f"Report {aid % 3}", body), when))
    return out


def _lookups(conn: sqlite3.Connection) -> list[list[Candidate]]:
    sigs = [signature("Ferry runs aground", FERRY), signature("Bridge", BRIDGE)]
    return [
        story_index.candidates(conn, band_keys(s), since, limit=50)
        for s in sigs
        for since in (None, T0 + timedelta(hours=20))
    ]


def test_merge_moves_rows_without_changing_any_lookup(conn: sqlite3.Connection) -> None:
    for aid, sig, when in _corpus()[:25]:
        story_index.add(conn, aid, aid, sig, when)
    story_index.merge(conn)
    for aid, sig, when in _corpus()[25:]:
        story_index.add(conn, aid, aid, sig, when)
    split = _lookups(conn)  # posting lists split over both levels
    assert conn.execute("SELECT count(*) FROM story_band").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM story_band_new").fetchone()[0] > 0
    story_index.merge(conn)
    assert conn.execute("SELECT count(*) FROM story_band_new").fetchone()[0] == 0
    assert _lookups(conn) == split
    # and both equal what a single level gives (every posting list longer than the cut)
    assert max(len(c) for c in split) > story_index.POSTINGS_PER_KEY // 2
    assert all(split)


def test_lookups_read_both_levels_like_one_table(tmp_path: Path) -> None:
    """The same articles indexed with merges at random points and never merged give the
    same candidates, in the same order, including the newest-first cut of long posting
    lists (POSTINGS_PER_KEY) when a list spans both levels."""
    dbs = []
    for name, merge_at in (("one", set()), ("two", {7, 19, 20, 33})):
        c = sqlite3.connect(tmp_path / f"{name}.db")
        story_index.ensure_schema(c)
        for aid, sig, when in _corpus():
            story_index.add(c, aid, aid, sig, when)
            if aid in merge_at:
                story_index.merge(c)
        dbs.append(c)
    one, two = dbs
    assert one.execute("SELECT count(*) FROM story_band").fetchone()[0] == 0  # never merged
    assert band_rows(one) == band_rows(two)
    assert _lookups(one) == _lookups(two)


def test_the_small_level_is_merged_when_full(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus()
    three = sum(len(band_keys(sig)) for _, sig, _ in corpus[:3])
    monkeypatch.setattr(story_index, "MERGE_ROWS", three + 1)
    story_index.add_many(
        conn, [(aid, aid, when, sig, band_keys(sig)) for aid, sig, when in corpus[:3]]
    )
    n_new = conn.execute("SELECT count(*) FROM story_band_new").fetchone()[0]
    assert n_new == three and conn.execute("SELECT count(*) FROM story_band").fetchone()[0] == 0
    story_index.add(conn, 4, 4, corpus[3][1], corpus[3][2])
    # the counter passed MERGE_ROWS: everything moved into the big level
    assert conn.execute("SELECT count(*) FROM story_band_new").fetchone()[0] == 0
    assert band_rows(conn) == n_new + len(band_keys(corpus[3][1]))
    (count,) = conn.execute("SELECT value FROM story_index_meta WHERE name = 'new_rows'").fetchone()
    assert count == 0


def test_remove_and_revision_reach_both_levels(conn: sqlite3.Connection) -> None:
    ferry, bridge = signature("Ferry runs aground", FERRY), signature("Bridge", BRIDGE)
    story_index.add(conn, 1, 1, ferry, T0)
    story_index.merge(conn)
    story_index.add(conn, 2, 2, ferry, T0)
    story_index.add(conn, 1, 1, bridge, T0)  # a revision of a merged article
    assert band_rows(conn, 1) == len(band_keys(bridge))
    assert [c.article_id for c in story_index.candidates(conn, band_keys(ferry), None)] == [2]
    story_index.remove(conn, 1)
    story_index.remove(conn, 2)
    assert band_rows(conn) == 0


def test_an_index_of_the_previous_release_gains_the_small_level(tmp_path: Path) -> None:
    """A database written before the two levels (story_sig and story_band only) is read as
    it is and indexes new articles once `ensure_schema` (run by the store on open) adds
    the small level."""
    c = sqlite3.connect(tmp_path / "old.db")
    story_index.ensure_schema(c)
    old = signature("Ferry runs aground", FERRY)
    story_index.add(c, 1, 1, old, T0)
    story_index.merge(c)  # all its rows in story_band, as the previous release wrote them
    c.execute("DROP TABLE story_band_new")
    c.execute("DROP TABLE story_index_meta")
    c.commit()
    story_index.ensure_schema(c)
    story_index.add(c, 2, 2, signature("Bridge", BRIDGE), T0)
    assert [x.article_id for x in story_index.candidates(c, band_keys(old), None)] == [1]
    assert c.execute("SELECT count(*) FROM story_band_new").fetchone()[0] > 0
    c.close()
