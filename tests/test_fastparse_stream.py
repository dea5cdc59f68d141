"""Big feeds in constant memory: ingest.fastparse.iter_fast_parse and ingest.stream (issue #6).

- iter_fast_parse declines exactly what fast_parse declines, and streams the same entries
  (small table of documents, the bench farm's feeds, every well-formed corpus file);
- normalize_stream equals normalize_feed for a feed in one chunk, and keeps identities unique
  and stable across chunks;
- a ~50 MB generated feed streams through both in a child process whose peak RSS grows by
  a bounded amount (slow).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.farm import generate_feed
from ingest.errors import ParseError
from ingest.models import Article, FeedOptions, FilterRule, ParsedFeed, RawEntry
from ingest.normalize import normalize_feed
from ingest.parse import fast_parse, iter_fast_parse
from ingest.stream import normalize_stream

URL = "http://127.0.0.1:8098/big.xml"
FETCHED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BASE = datetime(2026, 11, 24, 11, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def _item(n: int, guid: str | None = None, link: str | None = None, text: str = "") -> str:
    g = f"<guid isPermaLink='false'>{guid}</guid>" if guid is not None else ""
    lk = f"<link>{link}</link>" if link is not None else ""
    body = text or f"Notes on the tide tables, part {n}, and why the harbour opens late."
    return (
        f"<item><title>Tide note {n}</title>{lk}{g}"
        f"<pubDate>Mon, 23 Nov 2026 0{n % 10}:00:00 GMT</pubDate>"
        f"<description>{body}</description></item>"
    )


def _rss(head: str, items: str, tail: str = "", ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel>'
        f"{head}{items}{tail}</channel></rss>"
    ).encode()


HEAD = "<title>Quay Notes</title><link>https://quay.example/</link><language>en</language>"
ITEMS = "".join(_item(i, f"q-{i}", f"https://quay.example/n/{i}") for i in range(4))
SY = ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">
  <title>Moorings</title><link href="https://moor.example/"/><id>urn:moor</id>
  <updated>2026-11-23T10:00:00Z</updated>
  <entry><id>urn:moor:1</id><title>Buoys repainted</title>
    <link href="https://moor.example/1"/><updated>2026-11-23T09:00:00Z</updated>
    <summary>The yellow buoys got a fresh coat.</summary></entry>
  <entry><id>urn:moor:2</id><title type="html">Dredging &lt;b&gt;starts&lt;/b&gt;</title>
    <link href="https://moor.example/2"/><updated>2026-11-22T09:00:00Z</updated>
    <content type="html">&lt;p&gt;The channel is dredged.&lt;/p&gt;</content></entry>
</feed>
"""

# (name, document, does fast_parse take it?)
DOCS: list[tuple[str, bytes, bool]] = [
    ("rss header first", _rss(HEAD, ITEMS), True),
    (
        "rss ttl, sy and skipHours after the items",
        _rss(
            HEAD,
            ITEMS,
            "<ttl>45</ttl><sy:updatePeriod>daily</sy:updatePeriod>"
            "<sy:updateFrequency>2</sy:updateFrequency>"
            "<skipHours><hour>1</hour><hour>2</hour></skipHours>",
            SY,
        ),
        True,
    ),
    ("rss no items", _rss(HEAD, ""), True),
    (
        "rss title after items",
        _rss("<link>https://quay.example/</link>", ITEMS, "<title>T</title>"),
        False,
    ),
    ("rss truncated at the end", _rss(HEAD, ITEMS)[:-20], False),
    ("rss two channels", _rss(HEAD, ITEMS).replace(b"</rss>", b"<channel></channel></rss>"), False),
    ("rss channel attribute", _rss(HEAD, ITEMS).replace(b"<channel>", b'<channel a="1">'), False),
    (
        "rss lang attribute deep in the last item",
        _rss(HEAD, ITEMS + "<item><title lang='fr'>Marée</title></item>"),
        False,
    ),
    ("rss doctype", b"<!DOCTYPE rss>" + _rss(HEAD, ITEMS)[38:], False),
    (
        "rss unknown element feedparser reads",
        _rss(HEAD, ITEMS + "<item><source>x</source></item>"),
        False,
    ),
    ("atom", ATOM, True),
    ("atom id after entries", ATOM.replace(b"</feed>", b"<id>urn:late</id></feed>"), False),
    ("not a feed", b'<?xml version="1.0"?><html><body>hi</body></html>', False),
    ("empty", b"", False),
]


def _streamed(body: bytes) -> tuple[ParsedFeed, list[RawEntry]] | None:
    got = iter_fast_parse(body, URL, {"content-type": "application/rss+xml"})
    if got is None:
        return None
    head, entries = got
    return head, list(entries)


def _agrees_with_fast_parse(body: bytes) -> bool:
    """True when taken; asserts iter_fast_parse == fast_parse either way."""
    fast = fast_parse(body, URL, {"content-type": "application/rss+xml"})
    got = _streamed(body)
    assert (got is None) == (fast is None)
    if got is None or fast is None:
        return False
    head, entries = got
    assert head == dataclasses.replace(fast, entries=())
    assert entries == list(fast.entries)
    return True


@pytest.mark.parametrize(("name", "body", "taken"), DOCS, ids=[d[0] for d in DOCS])
def test_iter_fast_parse_takes_and_declines_like_fast_parse(
    name: str, body: bytes, taken: bool
) -> None:
    assert _agrees_with_fast_parse(body) is taken


def test_channel_fields_after_items_are_read() -> None:
    got = _streamed(DOCS[1][1])
    assert got is not None
    head, entries = got
    assert (head.title, head.ttl_minutes, head.sy_update_period, head.sy_update_frequency) == (
        "Quay Notes",
        45,
        "daily",
        2,
    )
    assert head.skip_hours == (1, 2)
    assert head.entries == ()
    assert [e.guid for e in entries] == ["q-0", "q-1", "q-2", "q-3"]


def test_the_iterator_raises_parse_error_if_the_bytes_change_after_the_check() -> None:
    body = bytearray(_rss(HEAD, ITEMS))
    got = iter_fast_parse(body, URL)  # type: ignore[arg-type]  # a bytearray, to mutate
    assert got is not None
    body[-12:] = b"<broken" + b" " * 5
    with pytest.raises(ParseError) as exc:
        list(got[1])
    assert exc.value.url == URL


@pytest.mark.parametrize("index", range(12))
def test_farm_feeds_stream_like_fast_parse(index: int) -> None:
    _, body = generate_feed(index, 30, BASE, self_url=f"http://127.1.0.1/f{index}.xml")
    assert _agrees_with_fast_parse(body)


@pytest.mark.slow
def test_corpus_streams_like_fast_parse() -> None:
    corpus = ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is absent")
    from test_fastparse_differential import well_formed_files

    files = well_formed_files()
    taken = sum(_agrees_with_fast_parse(p.read_bytes()) for p in files)
    assert taken > 500, f"only {taken} of {len(files)} files taken"


# --------------------------------------------------------------------------- normalize_stream


def _feed(items: str, language: str = "<language>en</language>") -> ParsedFeed:
    parsed = fast_parse(_rss(f"<title>Q</title>{language}", items), URL)
    assert parsed is not None
    return parsed


def _stream(
    parsed: ParsedFeed, chunk: int, options: FeedOptions = FeedOptions()
) -> list[list[Article]]:
    return list(
        normalize_stream(
            parsed,
            iter(parsed.entries),
            feed_url=URL,
            fetched_at=FETCHED,
            options=options,
            future_tolerance_s=600,
            chunk=chunk,
        )
    )


OPTIONS = [
    FeedOptions(),
    FeedOptions(block=(FilterRule("title", "note 3"),)),
    FeedOptions(keep=(FilterRule("content", "harbour"),), cleanup=False),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "block", "keep"])
@pytest.mark.parametrize("language", ["<language>en</language>", ""], ids=["lang", "nolang"])
def test_one_chunk_equals_normalize_feed(options: FeedOptions, language: str) -> None:
    items = "".join(_item(i, f"g{i % 9}", f"https://q.example/{i % 7}") for i in range(20))
    parsed = _feed(items, language)
    expected = normalize_feed(parsed, feed_url=URL, fetched_at=FETCHED, options=options)
    assert _stream(parsed, 20, options) == [expected]
    assert _stream(parsed, 1000, options) == [expected]


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_chunks_of_a_farm_feed_concatenate_to_normalize_feed(chunk: int) -> None:
    _, body = generate_feed(3, 50, BASE)
    parsed = fast_parse(body, URL)
    assert parsed is not None
    options = FeedOptions(block=(FilterRule("tags", "sport"),))
    chunks = _stream(parsed, chunk, options)
    assert [len(c) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1)
    flat = [a for c in chunks for a in c]
    assert flat == normalize_feed(parsed, feed_url=URL, fetched_at=FETCHED, options=options)


def _keys(chunks: list[list[Article]]) -> list[str]:
    return [a.identity for c in chunks for a in c]


def test_a_guid_repeated_in_a_later_chunk_falls_to_its_link() -> None:
    items = "".join(
        _item(i, f"g{i}" if i != 4 else "g1", f"https://q.example/{i}") for i in range(6)
    )
    keys = _keys(_stream(_feed(items), 3))
    assert keys == ["g:g0", "g:g1", "g:g2", "g:g3", "u:https://q.example/4", "g:g5"]


def test_a_repeated_link_keeps_its_key_only_for_the_same_content() -> None:
    same = _item(0, None, "https://q.example/a")
    changed = _item(0, None, "https://q.example/a", text="A different text under the same link.")
    fillers = [_item(i, None, f"https://q.example/{i}") for i in (1, 2, 3)]
    chunks = _stream(_feed(same + fillers[0] + same + fillers[1] + changed + fillers[2]), 2)
    keys = _keys(chunks)
    assert keys == [
        "u:https://q.example/a",
        "u:https://q.example/1",
        "u:https://q.example/a",  # the same article again: one article, as in one chunk
        "u:https://q.example/2",
        "h:" + chunks[2][0].content_hash,  # other content under a used link: its own article
        "u:https://q.example/3",
    ]


def test_guids_distrusted_by_a_chunk_stay_distrusted_in_later_chunks() -> None:
    # the first chunk numbers its items 1..3 (counter guids); the next chunk's guids would
    # look fine on their own
    items = "".join(_item(i, str(i + 1), f"https://q.example/{i}") for i in range(6))
    keys = _keys(_stream(_feed(items), 3))
    assert keys == [f"u:https://q.example/{i}" for i in range(6)]


def test_chunk_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk must be at least 1"):
        _stream(_feed(ITEMS), 0)


# --------------------------------------------------------------------------- memory

_CHILD = """
import json, sys, time
from datetime import UTC, datetime
from ingest.parse import iter_fast_parse
from ingest.models import FeedOptions
from ingest.stream import normalize_stream

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
body = open(sys.argv[1], "rb").read()
before = status("VmHWM")
t0 = time.perf_counter()
parsed, entries = iter_fast_parse(body, "http://127.0.0.1/big.xml")
t1 = time.perf_counter()
n = chunks = 0
for chunk in normalize_stream(parsed, entries, feed_url="http://127.0.0.1/big.xml",
        fetched_at=datetime(2026, 11, 24, 12, tzinfo=UTC), options=FeedOptions(),
        future_tolerance_s=600):
    n += len(chunk)
    chunks += 1
t2 = time.perf_counter()
print(json.dumps({"before_mb": before, "after_mb": status("VmHWM"), "entries": n,
                  "chunks": chunks, "check_s": t1 - t0, "stream_s": t2 - t1}))
"""


def _big_body(path: Path, items: int) -> None:
    """The bench farm's feed generator, `items` distinct items of ~1.2 KB, to `path`."""
    path.write_bytes(generate_feed(0, items, BASE)[1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_50_mb_feed_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Peak RSS growth while streaming ~50 MB / 42,000 items, measured in a child process
    (VmHWM before = interpreter + modules + the 50 MB body, ~74 MB). Measured: ~19 MB. Bound:
    64 MB, room for one chunk of 1,000 RawEntries and Articles (~15 MB: a chunk-size sweep
    gives ~15 KB an item), the key hashes carried across chunks (~5 MB at 42,000), libxml2's
    buffers and one item, and the allocator's slack; and far under what holding the items
    costs (fast_parse's tree ~75 MB, the whole-list path ~+700 MB). A leak of even 1.5 KB an
    item (one RawEntry kept) would break it."""
    path = tmp_path / "big.xml"
    _big_body(path, 42_000)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=580,
    )
    got = json.loads(proc.stdout)
    growth = got["after_mb"] - got["before_mb"]
    print(f"\n[stream 50 MB] {json.dumps(got)} growth {growth:.1f} MB")
    assert got["entries"] > 35_000
    assert growth < 64, got
