"""The store's batched write path (issue #6): the rows of a feed's new articles, stories and
index entries are written together at the end of the batch (or when a lookup needs them), and
must come out exactly as if each had been written at once."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import article

from bench.farm import generate_feed
from ingest.dedupe import Signature, signature
from ingest.models import (
    Article,
    Enclosure,
    FeedOptions,
    FetchResult,
    FetchWrite,
    ScheduleDecision,
)
from ingest.pipeline import process_body, signed
from ingest.settings import FeedSpec
from storage.sqlite import SQLiteStore

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FEEDS = [f"http://127.1.0.{i + 1}/f{i}.xml" for i in range(4)]
TABLES = (
    "articles",
    "article_sources",
    "stories",
    "story_links",
    "story_sig",
    "story_band",
    "story_band_new",
    "filtered",
    "sqlite_sequence",
)

Pair = tuple[Article, Signature | bytes | None]


def _farm(index: int, items: int) -> list[Pair]:
    url = FEEDS[index]
    _, body = generate_feed(index, items, NOW)
    _, articles, _ = process_body(
        body, url, {}, fetched_at=NOW, options=FeedOptions(), future_tolerance_s=600
    )
    return [(a, sig) for a, sig in signed(articles)]


def _copy(a: Article, feed_url: str, identity: str, *, wrap: bool = True, **kw: Any) -> Pair:
    """Another feed item carrying `a`'s text (wrapped in a dateline and a credit)."""
    text = f"LONDON (Wire) - {a.content_text} Reporting by the desk." if wrap else a.content_text
    url = f"{feed_url.rsplit('/', 1)[0]}/copy/{identity}"
    b = dataclasses.replace(
        a,
        feed_url=feed_url,
        identity=identity,
        guid=identity,
        url=url,
        canonical_url=url,
        content_text=text,
        word_count=len(text.split()),
        content_hash=f"copy-{identity}-{len(text)}",
    )
    b = dataclasses.replace(b, **kw)
    return b, signature(b.title, b.content_text)


def _revised(pair: Pair, suffix: str) -> Pair:
    a, _ = pair
    text = a.content_text + " " + suffix
    b = dataclasses.replace(
        a, content_text=text, word_count=len(text.split()), content_hash=a.content_hash + "-r"
    )
    return b, signature(b.title, b.content_text)


def scenario() -> list[tuple[str, list[Pair]]]:
    """Feed batches mixing every write path: new articles, same-batch copies of one story,
    cross-feed copies, same canonical URL, a fuller copy, revisions, a changing guid, a
    filtered item, an item without signature or date."""
    f0, f1, f2 = _farm(0, 24), _farm(1, 24), _farm(2, 12)
    a0 = [a for a, _ in f0]
    # a revision of an article written just before it in the same batch
    batch0 = [*f0[:13], _revised(f0[12], "Early correction."), *f0[13:16]]
    # two more copies of one story in the same batch, one plain and one wrapped
    batch0.append(_copy(a0[2], FEEDS[0], "same-batch-1", wrap=False))
    batch0.append(_copy(a0[2], FEEDS[0], "same-batch-2"))
    # a guid that changes while the link stays (same feed, same canonical URL)
    batch0.append((dataclasses.replace(a0[5], identity="rand-guid"), f0[5][1]))
    # the same identity twice in one batch, the second revised
    batch0.append(_revised(f0[6], "Correction appended."))
    # filtered, unsigned, undated
    batch0.append((dataclasses.replace(a0[16], filtered="block: test"), f0[16][1]))
    batch0.append((a0[17], None))
    batch0.append(_copy(a0[3], FEEDS[0], "undated", published_at=None))

    batch1 = list(f1[:14])
    batch1 += [_copy(a0[i], FEEDS[1], f"x{i}") for i in (0, 1, 2, 7)]  # cross-feed copies
    # the same canonical URL as a stored article: one more source
    batch1.append((dataclasses.replace(a0[8], feed_url=FEEDS[1], identity="same-url"), f0[8][1]))
    # a fuller copy of a stored URL: the stored text is replaced
    long_text = " ".join([a0[9].content_text] * 3)
    fuller = dataclasses.replace(
        a0[9],
        feed_url=FEEDS[1],
        identity="fuller",
        content_text=long_text,
        word_count=len(long_text.split()),
        content_hash="fuller",
    )
    batch1.append((fuller, signature(fuller.title, fuller.content_text)))
    # a copy of this batch's own article, in the same batch
    batch1.append(_copy(f1[0][0], FEEDS[1], "own-copy"))

    batch2 = [_revised(f0[i], "Updated with new figures.") for i in (1, 4, 10)]
    batch2 += list(f0[16:24])
    batch2 += [_copy(f1[0][0], FEEDS[0], "back-copy"), _copy(f1[3][0], FEEDS[0], "back-3")]

    batch3 = list(f2)
    batch3 += [_copy(a0[i], FEEDS[2], f"y{i}", title=f"Reworded: {a0[i].title}") for i in (0, 11)]
    batch3 += [_copy(f1[i][0], FEEDS[2], f"z{i}") for i in (1, 2)]
    batch3 += [_copy(f2[0][0], FEEDS[2], "own-2")]
    return [(FEEDS[0], batch0), (FEEDS[1], batch1), (FEEDS[0], batch2), (FEEDS[2], batch3)]


def _form(pairs: list[Pair], form: str | None) -> list[Pair]:
    """Every signature as an object (`form` "object") or serialized ("bytes")."""
    if form is None:
        return pairs
    out: list[Pair] = []
    for a, s in pairs:
        if isinstance(s, bytes) and form == "object":
            s = Signature.from_bytes(s)
        elif isinstance(s, Signature) and form == "bytes":
            s = s.to_bytes()
        out.append((a, s))
    return out


def ingest(
    path: Path, form: str | None = None, *, prepared: bool | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Write the scenario into a new store at `path`; every table the write path fills.
    `prepared` True / False: through `record_fetches`, with / without `Store.prepare`
    (None: `record_fetch`)."""
    store = SQLiteStore(path)
    for url in FEEDS:
        store.add_feed(FeedSpec(url))
    feeds = {f.url: f for f in store.feeds()}
    dec = ScheduleDecision(next_poll_at=NOW + timedelta(hours=1), interval_s=3600, reason="t")
    for n, (url, pairs) in enumerate(scenario()):
        res = FetchResult(url=url, final_url=url, status=200, fetched_at=NOW, body_hash=f"h{n}")
        if prepared is None:
            store.record_fetch(feeds[url], res, dec, owner="h:1:r", articles=_form(pairs, form))
            continue
        write = FetchWrite(feeds[url], res, dec, articles=_form(pairs, form))
        if prepared:
            write = store.prepare(write)
            assert [s for _, s in write.articles] != [s for _, s in _form(pairs, form)]
        store.record_fetches([write], owner="h:1:r")
        feeds = {f.url: f for f in store.feeds()}
    out = {t: sorted(store.conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    store.close()
    return out


def test_scenario_exercises_every_story_path(tmp_path: Path) -> None:
    got = ingest(tmp_path / "s.db")
    levels = {row[2] for row in got["story_links"]}
    assert {"self", "duplicate"} <= levels
    by_id = {row[0]: row for row in got["articles"]}
    story_of = {row[0]: row[1] for row in got["story_links"]}
    titles: dict[str, set[int]] = {}
    for aid, row in by_id.items():
        titles.setdefault(row[6].removeprefix("Reworded: "), set()).add(story_of[aid])
    # copies of one story written in the same batch find each other
    same = [r for r in got["articles"] if r[2] in ("same-batch-1", "same-batch-2", "own-copy")]
    assert len(same) == 3
    for r in same:
        assert story_of[r[0]] != r[0], r[2]  # joined an earlier article's story
    assert got["filtered"]
    assert any(row[24] for row in got["articles"])  # revisions counted


def test_batched_writes_equal_immediate_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = ingest(tmp_path / "batched.db")
    # the reference: every pending row written as soon as it is decided, article by article
    monkeypatch.setattr(SQLiteStore, "_DEFER_WRITES", False)
    immediate = ingest(tmp_path / "immediate.db")
    for table in TABLES:
        assert batched[table] == immediate[table], table


def test_the_pipeline_carries_signatures_serialized() -> None:
    """A run holds hundreds of signed articles per process until they are written: as bytes
    (~0.6 KB each), not as `Signature` objects (~14 KB of Python ints)."""
    pairs = _farm(0, 5)
    assert all(isinstance(s, bytes) for _, s in pairs)
    for a, s in pairs:
        assert Signature.from_bytes(s) == signature(a.title, a.content_text)  # type: ignore[arg-type]


def test_signatures_as_bytes_or_objects_store_the_same(tmp_path: Path) -> None:
    as_objects = ingest(tmp_path / "objects.db", "object")
    as_bytes = ingest(tmp_path / "bytes.db", "bytes")
    for table in TABLES:
        assert as_objects[table] == as_bytes[table], table


def test_prepared_writes_store_the_same(tmp_path: Path) -> None:
    """`Store.prepare` (row values and index keys computed before the write lock) changes
    nothing that is written, whichever form the signatures come in."""
    plain = ingest(tmp_path / "plain.db", prepared=False)
    for form in ("bytes", "object"):
        prepared = ingest(tmp_path / f"prepared-{form}.db", form, prepared=True)
        for table in TABLES:
            assert prepared[table] == plain[table], (form, table)


def test_json_columns_are_stored_as_json_dumps_wrote_them(tmp_path: Path) -> None:
    """The encoders built once write what json.dumps(..., ensure_ascii=False) wrote."""
    store = SQLiteStore(tmp_path / "j.db")
    url = "https://a.example/feed"
    store.add_feed(FeedSpec(url))
    (feed,) = store.feeds()
    odd = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    full = article(
        identity="full",
        authors=("Zoë Ødegård", 'Jo "JJ" Writer'),
        tags=("société", "news"),
        enclosures=(Enclosure(url="https://a.example/a.mp3", type="audio/mpeg", length=12),),
        extra={"when": odd, "n": 1, "ü": ["x"]},
        updated_at=odd,
    )
    empty = article(identity="empty", authors=(), tags=(), enclosures=(), extra={})
    res = FetchResult(url=url, final_url=url, status=200, fetched_at=NOW)
    dec = ScheduleDecision(next_poll_at=NOW, interval_s=60, reason="t")
    store.record_fetch(feed, res, dec, owner="h:1:r", articles=[(full, None), (empty, None)])
    rows = store.conn.execute(
        "SELECT authors, tags, enclosures, extra, updated_at, published_at FROM articles "
        "ORDER BY id"
    ).fetchall()
    enc = [{"url": e.url, "type": e.type, "length": e.length} for e in full.enclosures]
    assert rows[0] == (
        json.dumps(list(full.authors), ensure_ascii=False),
        json.dumps(list(full.tags), ensure_ascii=False),
        json.dumps(enc, ensure_ascii=False),
        json.dumps(dict(full.extra), ensure_ascii=False, default=str),
        "2026-01-02T03:04:05Z",
        "2026-11-24T12:00:00Z",
    )
    assert rows[1][:4] == ("[]", "[]", "[]", "{}")
    store.close()


def test_wal_is_checkpointed_every_16_mb(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db")
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
    store.close()


def test_times_in_the_repeated_hour_of_a_dst_change_stay_apart(tmp_path: Path) -> None:
    """Equal (and equally hashed) datetimes of one zone an hour apart are not mixed up by
    the remembered ISO strings."""
    from zoneinfo import ZoneInfo

    first = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))
    second = first.replace(fold=1)
    assert first == second  # what a cache keyed on the datetime would confuse
    store = SQLiteStore(tmp_path / "dst.db")
    url = "https://a.example/feed"
    store.add_feed(FeedSpec(url))
    (feed,) = store.feeds()
    pairs: list[Pair] = [
        (article(identity="one", published_at=first), None),
        (article(identity="two", published_at=second), None),
    ]
    res = FetchResult(url=url, final_url=url, status=200, fetched_at=NOW)
    dec = ScheduleDecision(next_poll_at=NOW, interval_s=60, reason="t")
    store.record_fetch(feed, res, dec, owner="h:1:r", articles=pairs)
    got = store.conn.execute("SELECT published_at FROM articles ORDER BY id").fetchall()
    assert got == [("2026-10-25T00:30:00Z",), ("2026-10-25T01:30:00Z",)]
    store.close()
