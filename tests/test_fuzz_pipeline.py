"""Property-based fuzzing of parse | normalize | store (issue #17): generated feeds
(tests/fuzzfeeds.py) go through both parsers (the lxml fast path and feedparser), normalize,
and a real SQLite file. Whatever the document, no exception but ParseError escapes, and every
record keeps the schema's promises:

- dates are timezone-aware UTC; published_at is never later than the fetch time plus the
  tolerance; updated_at is never earlier than published_at
- content_html is sanitized: allowed tags only, no on* handler, no style, no URL with a
  scheme other than http, https or mailto
- url, canonical_url, image_url and enclosure URLs are absolute http(s) URLs with a host
- authors and tags are lists of non-empty trimmed strings; word_count counts content_text
- identities are unique within a fetch; the stored records read back with the same promises,
  and the store's own checks (integrity, story index) pass

`make test` runs the "ci" profile (a few derandomized examples); `make fuzz` the "fuzz"
profile. Each failure fuzzing found is a named test at the end of this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fuzzfeeds import FEED_URL, Document, documents
from hypothesis import given
from lxml import html as lxml_html

from ingest.errors import ParseError
from ingest.models import Article, Feed, FetchResult, ParsedFeed, ScheduleDecision
from ingest.normalize import normalize_feed
from ingest.parse import fallback_reason, fast_parse, parse
from ingest.pipeline import process_body, signed
from ingest.text import ALLOWED_TAGS
from storage.sqlite import SQLiteStore

FETCHED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOLERANCE_S = 600
CLASS_NAME = re.compile(r"\b_?[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|\b_[A-Z]\w+")
_URL_ATTRS = ("href", "src", "cite", "poster", "action", "data", "formaction", "xlink:href")


# -- the invariants -------------------------------------------------------------------------


def absolute_http(url: str | None, what: str) -> None:
    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise AssertionError(f"{what}: {url!r} is not a valid URL ({exc})") from None
    assert parts.scheme in ("http", "https"), (what, url)
    assert parts.hostname, (what, url)
    assert url == url.strip() and " " not in url, (what, url)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def no_control_characters(a: Article) -> None:
    """Text fields hold no C0 control character (but tab, newline, carriage return) nor a
    noncharacter: XML 1.0 cannot carry them (an Atom or RSS export of the record would break)."""
    for what in ("title", "summary", "content_html", "content_text"):
        value = getattr(a, what)
        assert not _CONTROL.search(value), (what, value[:200])
    for value in (*a.authors, *a.tags):
        assert not _CONTROL.search(value), value


def sanitized(html: str) -> None:
    if not html.strip():
        return
    assert "<script" not in html.lower() and "javascript:" not in html.lower(), html[:500]
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # a comment or processing instruction: checked below
        if el is not root:
            assert el.tag in ALLOWED_TAGS, (el.tag, html[:500])
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (name, html[:500])
            assert name.lower() != "style", html[:500]
            if name.lower() in _URL_ATTRS:
                v = value.strip()
                assert (
                    v.startswith(("http://", "https://", "mailto:", "#"))
                    or ":" not in v.split("/")[0]
                ), (
                    name,
                    value,
                )
    assert "<!--" not in html


def utc(dt: datetime | None, what: str) -> None:
    if dt is not None:
        assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0), (what, dt)


def strings(values: tuple[str, ...], what: str) -> None:
    assert isinstance(values, tuple), (what, values)
    for v in values:
        assert isinstance(v, str) and v and v == v.strip(), (what, values)


def check_article(a: Article) -> None:
    utc(a.published_at, "published_at")
    utc(a.updated_at, "updated_at")
    assert a.published_at is not None
    assert a.published_at <= FETCHED + timedelta(seconds=TOLERANCE_S), a.published_at
    if a.updated_at is not None:
        assert a.updated_at >= a.published_at
        assert a.updated_at <= FETCHED + timedelta(seconds=TOLERANCE_S)
    no_control_characters(a)
    sanitized(a.content_html)
    for what in ("url", "canonical_url", "image_url"):
        absolute_http(getattr(a, what), what)
    for enc in a.enclosures:
        absolute_http(enc.url, "enclosure")
        assert enc.length is None or enc.length >= 0
    strings(a.authors, "authors")
    strings(a.tags, "tags")
    assert isinstance(a.title, str) and isinstance(a.summary, str)
    assert a.word_count == len(a.content_text.split())
    assert re.fullmatch(r"[0-9a-f]{32}", a.content_hash), a.content_hash
    assert a.identity


def check_articles(articles: list[Article]) -> None:
    for a in articles:
        check_article(a)
    # items identical in link and content are one article (ingest.identity): a shared
    # identity means the same content, never two different items folded together
    by_identity: dict[str, str] = {}
    for a in articles:
        assert by_identity.setdefault(a.identity, a.content_hash) == a.content_hash, a.identity


def parsed_both_ways(doc: Document) -> Iterator[ParsedFeed]:
    """The fast path's ParsedFeed when it takes the document, and feedparser's; a ParseError
    (a body that is no feed) is the one exception allowed out, and it says why in words."""
    fast = fast_parse(doc.body, FEED_URL, doc.headers)
    reason = fallback_reason(doc.body, FEED_URL, doc.headers)
    # the fast path declines on purpose (its doubts), never because it crashed: a crash
    # reads "SomeError: ..." here and silently costs the slow path
    assert reason is None or not CLASS_NAME.match(reason.split(":")[0]), reason
    if fast is not None:
        assert fast.parser == "fast"
        yield fast
    try:
        yield parse(doc.body, FEED_URL, doc.headers)
    except ParseError as exc:
        assert str(exc).startswith(FEED_URL + ": ") and not CLASS_NAME.search(exc.reason), exc


# -- the properties -------------------------------------------------------------------------


@given(documents())
def test_parse_and_normalize_keep_the_record_promises(doc: Document) -> None:
    for parsed in parsed_both_ways(doc):
        for entry in parsed.entries:
            utc(entry.published, "entry.published")
            utc(entry.updated, "entry.updated")
        articles = normalize_feed(
            parsed, feed_url=FEED_URL, fetched_at=FETCHED, future_tolerance_s=TOLERANCE_S
        )
        check_articles(articles)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    yield s
    s.close()


_count = iter(range(1 << 30))


@given(doc=documents())
def test_the_pipeline_stores_every_document_soundly(store: SQLiteStore, doc: Document) -> None:
    """process_body (fast path, else feedparser) | signed | record_fetch into a real SQLite
    file, twice (the second a revisit: nothing new), then read back."""
    from ingest.settings import FeedSpec

    url = f"{FEED_URL}?n={next(_count)}"
    store.add_feed(FeedSpec(url=url))
    feed = store.get_feed(url)
    assert feed is not None
    try:
        parsed, articles, _ = process_body(
            doc.body, url, doc.headers, fetched_at=FETCHED, options=feed.options,
            future_tolerance_s=TOLERANCE_S,
        )  # fmt: skip
    except ParseError:
        return
    check_articles(articles)
    result = FetchResult(url=url, final_url=url, status=200, body=doc.body, fetched_at=FETCHED)
    decision = ScheduleDecision(FETCHED + timedelta(hours=1), 3600, "fuzz")
    for visit in range(2):
        known = store.known_identities(url, [a.identity for a in articles])
        summary = store.record_fetch(
            feed, result, decision, owner="fuzz:1:run", parsed=parsed,
            articles=signed(articles, known),
        )  # fmt: skip
        if visit == 1:
            assert summary.new == 0, "a revisit stored something again"
    stored = [r.as_dict() for r in store.articles(feed_url=url)]  # the export's form
    kept = {a.identity for a in articles if not a.filtered}
    assert len(stored) <= len(kept)
    for record in stored:
        for key in ("authors", "tags", "enclosures"):
            assert isinstance(record[key], list), (key, record[key])
        for key in ("published_at", "updated_at", "fetched_at"):
            value = record[key]
            assert value is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value), value
        sanitized(record["content_html"])
        absolute_http(record["url"], "url")
        assert record["story_id"] is not None


def test_the_store_is_sound_after_the_fuzzing(store: SQLiteStore) -> None:
    """Runs after the property above (file order): every story invariant holds."""
    assert store.check() == []


def feed_for(url: str) -> Feed:
    return Feed(url=url)


# -- what fuzzing found (each fixed) --------------------------------------------------------


def _one(body: bytes, headers: dict[str, str] | None = None) -> list[Article]:
    """`body` through feedparser and normalize (the path recovered documents take)."""
    parsed = parse(body, FEED_URL, headers or {})
    return normalize_feed(parsed, feed_url=FEED_URL, fetched_at=FETCHED)


def test_fuzz_found_control_characters_in_titles_authors_and_text() -> None:
    """A document feedparser recovers from (the fast path declines it) kept C0 controls:
    XML 1.0 cannot carry them, so an Atom or RSS export of the record broke."""
    body = (
        b'<?xml version="1.0" encoding="iso-8859-1"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>t</title><entry><id>e1</id><title>b\x14\x08 title</title>"
        b'<content type="html">F\x13 text\x1b</content><author><name>Jo\x02</name></author>'
        b'<category term="t\x01ag"/></entry></feed>'
    )
    (a,) = _one(body)
    assert (a.title, a.content_text, a.authors, a.tags) == ("b title", "F text", ("Jo",), ("tag",))
    check_article(a)


def test_fuzz_found_a_lone_surrogate_in_a_json_feed() -> None:
    """JSON may escape half a surrogate pair ("\\udc80"): valid JSON, not valid text; SQLite
    could not even store it (UnicodeEncodeError)."""
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "lone \\udc80 half", "content_text": "x"}]}'
    (a,) = _one(body)
    assert a.title == "lone half"
    check_article(a)


@pytest.mark.parametrize(
    "link",
    ["http://", "http://news.example.org:99999/x", "http://[bad-ipv6/x", "https://:80/x"],
)
def test_fuzz_found_urls_without_a_host_or_with_a_bad_port(link: str) -> None:
    """They passed as the article's url, an enclosure or the image (only the scheme was
    checked); a record's URLs are absolute http(s) URLs with a host."""
    body = (
        '<rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
        f"<link>{link}</link><title>x</title>"
        f'<enclosure url="{link}" type="image/jpeg" length="1"/></item></channel></rss>'
    ).encode()
    for parsed in (fast_parse(body, FEED_URL), parse(body, FEED_URL)):
        assert parsed is not None
        (a,) = normalize_feed(parsed, feed_url=FEED_URL, fetched_at=FETCHED)
        assert (a.url, a.image_url, a.enclosures) == (None, None, ())


def test_fuzz_found_year_one_stored_as_a_one_digit_year(tmp_path: Path) -> None:
    """strftime("%Y") writes the year 1 as "1" (glibc): "1-01-01T00:00:00Z" neither sorts
    with the other stored times nor parses back."""
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>e1</id>'
        b"<title>old</title><published>0001-01-01T00:00:00Z</published></entry></feed>"
    )
    store = SQLiteStore(tmp_path / "t.db")
    try:
        from ingest.settings import FeedSpec

        store.add_feed(FeedSpec(url=FEED_URL))
        feed = store.get_feed(FEED_URL)
        assert feed is not None
        articles = _one(body)
        result = FetchResult(
            url=FEED_URL, final_url=FEED_URL, status=200, body=body, fetched_at=FETCHED
        )
        decision = ScheduleDecision(FETCHED, 3600, "test")
        store.record_fetch(feed, result, decision, owner="t:1:r", articles=signed(articles))
        (record,) = store.articles()
        assert record.published_at == "0001-01-01T00:00:00Z"
    finally:
        store.close()


def test_fuzz_found_the_fast_path_crashing_on_a_date_past_9999_in_utc() -> None:
    """ "Fri, 31 Dec 9999 23:59:59 -1200" is in the year 10000 in UTC: the fast path raised
    ValueError and quietly left the document to feedparser, which says "no date"."""
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>x</title>'
        b"<pubDate>Fri, 31 Dec 9999 23:59:59 -1200</pubDate></item></channel></rss>"
    )
    assert fallback_reason(body, FEED_URL) is None
    fast = fast_parse(body, FEED_URL)
    assert fast is not None and fast.entries[0].published is None
    assert parse(body, FEED_URL).entries[0].published is None
