"""The benchmark's loopback feed farm (bench/farm.py): valid feeds, validators, 304s, hosts."""

from __future__ import annotations

import gzip
import http.client
import os
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.farm import (
    FarmConfig,
    FarmHandle,
    feed_address,
    generate_feed,
    iter_feed_urls,
    split_feed,
    start_farm_thread,
    write_opml,
)
from ingest.parse import fast_parse, parse

BASE = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def farm() -> Iterator[FarmHandle]:
    handle = start_farm_thread(
        FarmConfig(feeds=12, items=50, first_octets=(127, 3), base_time=BASE, slow_share=0.0)
    )
    try:
        yield handle
    finally:
        handle.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/" + path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("index", "address"),
    [(0, "127.1.0.1"), (253, "127.1.0.254"), (254, "127.1.1.1"), (600, "127.1.2.93")],
)
def test_feed_address_spreads_hosts_over_loopback(index: int, address: str) -> None:
    assert feed_address(index) == address


def test_generated_feed_is_deterministic_realistic_and_parses_identically() -> None:
    title, body = generate_feed(7, 50, BASE)
    assert generate_feed(7, 50, BASE) == (title, body)
    assert generate_feed(8, 50, BASE)[1] != body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = parse(body, "http://127.1.0.2/feeds/7.xml")
    assert len(slow.entries) == 50
    assert 700 <= len(body) / 50 <= 1600  # items of about 1 KB
    entries = slow.entries
    assert len({e.guid for e in entries}) == 50
    assert len({e.title for e in entries}) > 40
    assert all(e.published is not None and e.authors and e.tags for e in entries)
    assert [e.published for e in entries] == sorted((e.published for e in entries), reverse=True)  # type: ignore[type-var]
    fast = fast_parse(body, "http://127.1.0.2/feeds/7.xml")
    assert fast is not None and fast.entries == slow.entries


def test_farm_serves_every_feed_on_its_own_host_with_validators(farm: FarmHandle) -> None:
    hosts = {f.host for f in farm.feeds}
    assert len(hosts) == 3  # 12 feeds, 5 per host
    for feed in farm.feeds:
        status, headers, body = _get(feed.url)
        assert status == 200
        assert body == feed.body
        assert headers["content-type"].startswith("application/rss+xml")
        if feed.index % 10 == 9:
            assert "etag" not in headers and "last-modified" not in headers
        else:
            assert headers["etag"] == feed.etag
            assert headers["last-modified"] == feed.last_modified


def test_farm_answers_conditional_requests_with_304(farm: FarmHandle) -> None:
    with_validators = farm.feeds[0]
    without = farm.feeds[9]
    assert with_validators.etag
    status, _, body = _get(with_validators.url, {"If-None-Match": with_validators.etag})
    assert (status, body) == (304, b"")
    assert with_validators.last_modified
    status, _, _ = _get(with_validators.url, {"If-Modified-Since": with_validators.last_modified})
    assert status == 304
    status, _, _ = _get(with_validators.url, {"If-None-Match": '"stale"'})
    assert status == 200
    status, _, _ = _get(without.url, {"If-None-Match": '"anything"'})
    assert status == 200


def test_farm_validators_switch_off_for_the_unchanged_body_scenario(farm: FarmHandle) -> None:
    feed = farm.feeds[1]
    assert feed.etag
    farm.set_validators(False)
    try:
        status, headers, body = _get(feed.url, {"If-None-Match": feed.etag})
        assert status == 200 and body == feed.body and "etag" not in headers
    finally:
        farm.set_validators(True)
    status, _, _ = _get(feed.url, {"If-None-Match": feed.etag})
    assert status == 304


def test_farm_sends_gzip_when_accepted_and_404_for_a_feed_on_the_wrong_host(
    farm: FarmHandle,
) -> None:
    feed = farm.feeds[0]
    status, headers, body = _get(feed.url, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == feed.body
    other = farm.feeds[5]  # second host
    wrong = other.url.replace(other.host, feed.host)
    assert _get(wrong)[0] == 404


def test_farm_counts_requests(farm: FarmHandle) -> None:
    farm.reset()
    feed = farm.feeds[2]
    _get(feed.url)
    assert feed.etag
    _get(feed.url, {"If-None-Match": feed.etag})
    deadline = time.monotonic() + 5
    while farm.stats()["requests"] != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = farm.stats()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"200": 1, "304": 1}


def test_opml_lists_every_feed(farm: FarmHandle, tmp_path: Path) -> None:
    opml = tmp_path / "farm.opml"
    write_opml(farm.feeds, opml)
    assert list(iter_feed_urls(opml)) == [f.url for f in farm.feeds]


def test_slow_hosts_answer_late() -> None:
    handle = start_farm_thread(
        FarmConfig(feeds=2, items=2, first_octets=(127, 4), slow_share=1.0, slow_delay_s=0.3)
    )
    try:
        feed = handle.feeds[0]
        assert feed.slow
        t0 = time.monotonic()
        status, _, body = _get(feed.url)
        assert status == 200 and body == feed.body
        assert time.monotonic() - t0 >= 0.3
    finally:
        handle.stop()


def test_a_generated_feed_splits_into_its_items_and_back() -> None:
    _, body = generate_feed(3, 50, BASE)
    head, items, tail = split_feed(body)
    assert len(items) == 50 and all(i.startswith("<item>") for i in items)
    assert (head + "".join(items) + tail).encode() == body


def test_rounds_of_news_add_items_on_top_with_new_validators(farm: FarmHandle) -> None:
    """The bench's news scenario: after N rounds each feed has N new items on top (newest
    first), its N oldest gone and a new ETag; the same round gives the same bytes (both
    tools see the same feeds); round 0 is the farm as built."""
    feed = farm.feeds[4]
    built_body, built_etag = feed.body, feed.etag
    assert built_etag
    built = parse(built_body, feed.url).entries
    try:
        farm.news(1)
        status, headers, body = _get(feed.url, {"If-None-Match": built_etag})
        assert status == 200 and headers["etag"] != built_etag
        one = parse(body, feed.url).entries
        assert len(one) == 50 and one[1:] == built[:-1]
        assert one[0].guid not in {e.guid for e in built}
        assert one[0].published is not None and built[0].published is not None
        assert one[0].published > built[0].published
        farm.news(2)
        two = parse(_get(feed.url)[2], feed.url).entries
        assert two[1:] == one[:-1] and two[0].guid != one[0].guid
        farm.news(1)
        assert _get(feed.url)[2] == body  # deterministic
        assert _get(feed.url, {"If-None-Match": headers["etag"]})[0] == 304
    finally:
        farm.news(0)
    assert feed.body == built_body and feed.etag == built_etag
    assert _get(feed.url, {"If-None-Match": built_etag})[0] == 304


def test_floor_run_stores_the_farm_without_story_index_or_search(
    farm: FarmHandle, tmp_path: Path
) -> None:
    """bench/floor.py (the what-if beside the cold run) stores every article as `ingest`
    does, and only leaves out story signatures and full-text indexing."""
    import os
    import sqlite3
    import subprocess
    import sys

    opml = tmp_path / "farm.opml"
    write_opml(farm.feeds[:3], opml)
    env = {**os.environ, "INGEST_ALLOW_PRIVATE_NETWORKS": "1", "INGEST_PER_HOST_DELAY": "0"}
    root = Path(__file__).resolve().parents[1]
    counts = {}
    for name, cmd in (("ingest", ["-m", "ingest"]), ("floor", ["-m", "bench.floor"])):
        db = tmp_path / f"{name}.db"
        for args in (["feeds", "import", str(opml)], ["run", "--all"]):
            r = subprocess.run(
                [sys.executable, *cmd, "--db", str(db), *args],
                env=env, cwd=root, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
        with sqlite3.connect(db) as conn:
            counts[name] = [
                conn.execute(sql).fetchone()[0]
                for sql in (
                    "SELECT count(*) FROM articles",
                    "SELECT count(*) FROM article_sources",
                    "SELECT count(*) FROM story_sig",
                    "SELECT value FROM meta WHERE key = 'fts_indexed_id'",
                )
            ]
    assert counts["ingest"] == [150, 150, 150, 150]
    assert counts["floor"] == [150, 150, 0, 0]


# --------------------------------------------------------------------------- real-text farm

# ../shared/newsdata next to the checkout (NEWSDATA=PATH elsewhere, as for `make bench`)
NEWSDATA = Path(
    os.environ.get("NEWSDATA") or Path(__file__).resolve().parents[2] / "shared" / "newsdata"
)


@pytest.fixture(scope="module")
def news_feeds() -> list[tuple[str, bytes]]:
    from bench.farm import item_text

    if not NEWSDATA.is_dir():
        pytest.skip("../shared/newsdata is absent")
    cfg = FarmConfig(feeds=40, items=50, text="news", data=NEWSDATA, span_hours=48)
    text = item_text(cfg)
    now = datetime.now(UTC)
    return [generate_feed(i, 50, now, 1, None, text, 48) for i in range(40)]


def test_news_farm_items_are_real_text_of_the_last_two_days(
    news_feeds: list[tuple[str, bytes]],
) -> None:
    import csv

    with (NEWSDATA / "bbc_news" / "bbc_news_2225.csv").open(encoding="utf-8", newline="") as f:
        bbc = " ".join(r["text"] for r in csv.DictReader(f))
    now = datetime.now(UTC)
    for _title, body in news_feeds[:5]:
        parsed = parse(body, "http://farm.test/f.xml")
        assert len(parsed.entries) == 50
        for e in parsed.entries:
            assert e.published is not None
            assert 0 <= (now - e.published).total_seconds() <= 48 * 3600 + 60
    # sentences of the corpus appear word for word in the items
    corpus = bbc + _ecb_text()
    found = 0
    for e in parse(news_feeds[0][1], "http://farm.test/f.xml").entries:
        html = e.summary.value if e.summary else ""
        paras = [p.split("</p>")[0] for p in html.split("<p>")[1:]]
        words = max(paras, key=len).split()  # debris and captions are short
        # one word in six is swapped for another corpus word: five-word runs are as written
        runs = (" ".join(words[i : i + 5]).replace("&amp;", "&") for i in range(len(words)))
        found += any(run in corpus for run in runs)
    assert found >= 45  # entity escapes aside


def _ecb_text() -> str:
    import csv

    path = NEWSDATA / "ecb_plus" / "ecbplus_documents.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return " ".join(" ".join(r["text"].split("\n")) for r in csv.DictReader(f))


def test_news_farm_carries_wire_copies_across_feeds_and_page_debris(
    news_feeds: list[tuple[str, bytes]],
) -> None:
    import html
    import re
    from collections import Counter

    bodies: Counter[str] = Counter()
    debris = 0
    for _title, body in news_feeds:
        for item in re.findall(rb"<description>(.*?)</description>", body, re.S):
            text = html.unescape(item.decode().removeprefix("<![CDATA[").removesuffix("]]>"))
            paras = re.findall(r"<p>(.*?)</p>", text)
            if not paras:
                continue  # the channel's own description
            debris += "Share this article" in paras or "Subscribe to our newsletter" in paras
            longest = max(paras, key=len).removeprefix("(")
            bodies[longest[-120:]] += 1
    copies = sum(n for n in bodies.values() if n > 1)
    total = sum(bodies.values())
    assert 0.05 * total <= copies <= 0.2 * total  # about a tenth: wire copies in several feeds
    assert debris > 0.1 * total
