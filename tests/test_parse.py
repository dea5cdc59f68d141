"""ingest.parse / ingest.jsonfeed: bytes -> ParsedFeed (issue #2 item 6, issue #4 item 7)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.jsonfeed import parse_rfc3339
from ingest.models import Content, Enclosure, Media
from ingest.parse import parse

URL = "https://feeds.example.org/world.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"
     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel>
  <title>Example World</title><link>https://www.example.org/</link>
  <language>en-gb</language><ttl>30</ttl>
  <sy:updatePeriod>Hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>
  <skipHours><hour>1</hour><hour>2</hour></skipHours>
  <skipDays><day>Sunday</day><day>Saturday</day></skipDays>
  <item>
    <title>Bridge reopens &amp; traffic returns</title>
    <link>https://feeds.example.org/~r/world/abc</link>
    <feedburner:origLink>https://www.example.org/news/bridge</feedburner:origLink>
    <guid isPermaLink="false">story-1001</guid>
    <pubDate>Tue, 03 Jun 2025 09:30:00 +0200</pubDate>
    <dc:creator>Ana Writer</dc:creator>
    <category>Transport</category><category> Cities </category>
    <description>The bridge is open again.</description>
    <content:encoded><![CDATA[<p>The bridge is <b>open</b> again.</p>]]></content:encoded>
    <enclosure url="https://cdn.example.org/bridge.mp3" type="audio/mpeg" length="12345"/>
    <media:content url="https://cdn.example.org/bridge.jpg" medium="image" width="800" height="600"/>
    <media:thumbnail url="https://cdn.example.org/bridge-t.jpg" width="80" height="60"/>
    <itunes:duration>00:12:01</itunes:duration>
    <comments>https://www.example.org/news/bridge#comments</comments>
  </item>
</channel></rss>"""


def test_rss20_maps_every_field() -> None:
    feed = parse(RSS, URL)
    assert (feed.format, feed.parser, feed.title, feed.link) == (
        "rss20", "feedparser", "Example World", "https://www.example.org/",
    )  # fmt: skip
    assert feed.language == "en-gb"
    assert (feed.ttl_minutes, feed.sy_update_period, feed.sy_update_frequency) == (30, "hourly", 2)
    assert feed.skip_hours == (1, 2)
    assert feed.skip_days == ("Saturday", "Sunday")
    assert feed.bozo is None
    (e,) = feed.entries
    assert e.guid == "story-1001"
    assert e.link == "https://feeds.example.org/~r/world/abc"
    assert e.orig_link == "https://www.example.org/news/bridge"
    assert e.title == "Bridge reopens & traffic returns"
    assert e.published == datetime(2025, 6, 3, 7, 30, tzinfo=UTC)  # +0200 -> UTC
    assert e.published_raw == "Tue, 03 Jun 2025 09:30:00 +0200"
    assert e.authors == ("Ana Writer",)
    assert e.tags == ("Transport", "Cities")
    assert e.summary is not None and e.summary.value == "The bridge is open again."
    assert e.content[0].value == "<p>The bridge is <b>open</b> again.</p>"
    assert e.content[0].type == "text/html"
    assert e.enclosures == (Enclosure("https://cdn.example.org/bridge.mp3", "audio/mpeg", 12345),)
    assert (
        Media("https://cdn.example.org/bridge.jpg", "content", None, "image", 800, 600) in e.media
    )
    assert any(m.kind == "thumbnail" and m.url.endswith("bridge-t.jpg") for m in e.media)
    assert e.extra["duration"] == "00:12:01"
    assert e.extra["comments"] == "https://www.example.org/news/bridge#comments"


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.net/" xml:lang="fr">
  <title type="text">Carnet</title><id>urn:x:feed</id><updated>2025-01-02T03:04:05Z</updated>
  <entry xml:base="posts/">
    <id>urn:x:1</id><title type="html">A &lt;em&gt;bold&lt;/em&gt; plan</title>
    <updated>2025-01-02T03:04:05-05:00</updated>
    <link rel="alternate" href="one.html"/>
    <author><name>Zoé</name><email>zoe@example.net</email></author>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Un <a href="two.html">lien</a></p></div></content>
  </entry>
  <entry>
    <id>urn:x:2</id><title>Plain</title><updated>2025-01-01T00:00:00</updated>
    <content type="text">a &lt; b</content>
  </entry>
</feed>""".encode()


def test_atom_content_types_and_base() -> None:
    feed = parse(ATOM, URL)
    assert feed.format == "atom10"
    first, second = feed.entries
    assert first.title_type == "text/html"
    assert first.updated == datetime(2025, 1, 2, 8, 4, 5, tzinfo=UTC)
    assert first.published is None
    assert first.content[0].type == "application/xhtml+xml"
    assert '<a href="two.html">lien</a>' in first.content[0].value  # not resolved here
    assert first.content[0].base == "https://blog.example.net/posts/"
    assert first.base == "https://blog.example.net/posts/"
    assert first.authors == ("Zoé <zoe@example.net>",)
    assert second.content[0] == Content("a < b", "text/plain", "https://blog.example.net/", "fr")
    # a date without an offset is read as UTC (documented in ingest.parse)
    assert second.updated == datetime(2025, 1, 1, tzinfo=UTC)


RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://r.example.com/"><title>R</title><link>https://r.example.com/</link>
    <dc:language>de</dc:language></channel>
  <item rdf:about="https://r.example.com/a"><title>Eins</title><link>https://r.example.com/a</link>
    <dc:date>2024-12-31T23:00:00+01:00</dc:date><dc:subject>Politik</dc:subject></item>
</rdf:RDF>"""


def test_rdf() -> None:
    feed = parse(RDF, URL)
    assert feed.format == "rss10"
    assert feed.language == "de"
    (e,) = feed.entries
    assert e.guid == "https://r.example.com/a"  # rdf:about
    # feedparser files dc:date as "updated"; normalize falls back to it (date_source)
    assert e.updated == datetime(2024, 12, 31, 22, 0, tzinfo=UTC)
    assert e.tags == ("Politik",)


def _jsonfeed(version: str, **item: object) -> bytes:
    doc = {
        "version": f"https://jsonfeed.org/version/{version}",
        "title": "JF",
        "home_page_url": "https://j.example.com/",
        "language": "en-US",
        "authors": [{"name": "Feed Author"}],
        "items": [item],
    }
    return json.dumps(doc).encode()


def test_json_feed_11() -> None:
    body = _jsonfeed(
        "1.1",
        id="42",
        url="https://j.example.com/42",
        external_url="https://elsewhere.example/x",
        title="Answer",
        content_html="<p>hi</p>",
        content_text="hi",
        summary="S",
        image="https://j.example.com/i.png",
        date_published="2025-02-03T04:05:06+01:00",
        date_modified="2025-02-04T00:00:00Z",
        tags=["a", "b"],
        attachments=[
            {"url": "https://j.example.com/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 99}
        ],
    )
    feed = parse(body, URL)
    assert (feed.format, feed.parser, feed.title, feed.language) == (
        "json11",
        "jsonfeed",
        "JF",
        "en-US",
    )
    (e,) = feed.entries
    assert (e.guid, e.link, e.title) == ("42", "https://j.example.com/42", "Answer")
    assert [c.type for c in e.content] == ["text/html", "text/plain"]
    assert e.summary == Content("S", "text/plain", None, "en-US")
    assert e.published == datetime(2025, 2, 3, 3, 5, 6, tzinfo=UTC)
    assert e.updated == datetime(2025, 2, 4, tzinfo=UTC)
    assert e.authors == ("Feed Author",)  # inherited from the feed
    assert e.tags == ("a", "b")
    assert e.media == (Media("https://j.example.com/i.png", "image", None, "image"),)
    assert e.enclosures == (Enclosure("https://j.example.com/a.mp3", "audio/mpeg", 99),)
    assert e.extra["external_url"] == "https://elsewhere.example/x"


def test_json_feed_10_author_and_numeric_id() -> None:
    doc = json.loads(_jsonfeed("1", id=7, content_text="t", author={"name": "Old Style"}))
    del doc["authors"]
    feed = parse(json.dumps(doc).encode(), URL)
    assert feed.format == "json10"
    assert feed.entries[0].guid == "7"
    assert feed.entries[0].authors == ("Old Style",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-01T10:00:00Z", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("2025-01-01T10:00:00-03:30", datetime(2025, 1, 1, 13, 30, tzinfo=UTC)),
        ("2025-01-01T10:00:00", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_rfc3339(value: str | None, expected: datetime | None) -> None:
    assert parse_rfc3339(value) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (
            b"<!DOCTYPE html><html><head><title>Hi</title></head><body>page</body></html>",
            "HTML page",
        ),
        (b"\x00\x01garbage\xff", "not a recognizable feed"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "ti',
            "invalid JSON",
        ),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b"[1, 2]", "not a recognizable feed"),
    ],
)
def test_not_a_feed_raises_parse_error(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, URL)
    assert info.value.url == URL
    assert reason in info.value.reason


def test_ill_formed_but_readable_is_bozo_not_error() -> None:
    body = b"<rss version='2.0'><channel><title>T</title><item><title>A & B</title><link>https://x.example/1</link></item></channel></rss>"
    feed = parse(body, URL)
    assert feed.bozo is not None
    assert feed.entries[0].title == "A & B"


def test_gzip_body_without_content_encoding() -> None:
    feed = parse(gzip.compress(RSS), URL)
    assert feed.entries[0].guid == "story-1001"


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t &xxe;</title>
<entry><id>1</id><title>&xxe;</title><content>&xxe;</content></entry></feed>""".encode()
    try:
        feed = parse(body, URL)
    except ParseError:
        return
    assert "TOP-SECRET-VALUE" not in repr(feed)


def test_json_feed_11_authors_win_over_10_author() -> None:
    body = _jsonfeed("1.1", id="1", authors=[{"name": "New"}], author={"name": "Old"})
    assert parse(body, URL).entries[0].authors == ("New",)


def test_json_feed_rfc822_dates_and_entity_titles() -> None:
    body = _jsonfeed(
        "1.1", id="1", title="A &#8211; B", date_published="Fri, 31 May 2019 12:17:58 -0700"
    )
    (e,) = parse(body, URL).entries
    assert e.title == "A – B"
    assert e.published == datetime(2019, 5, 31, 19, 17, 58, tzinfo=UTC)


SCOPED = b"""<rss version="2.0"><channel><title>S</title><link>https://s.example/</link>
<item xml:base="https://s.example/first/"><title>1</title><link>one</link><guid>g1</guid>
<enclosure url="a.mp3" type="audio/mpeg" length="1"/></item>
<item><title>2</title><link>/two</link><guid>g2</guid></item>
</channel></rss>"""


def test_xml_base_is_scoped_and_relative_refs_stay_relative() -> None:
    first, second = parse(SCOPED, URL).entries
    assert first.link == "https://s.example/first/one"
    assert first.base == "https://s.example/first/"  # normalize resolves "a.mp3" with it
    assert first.guid == "https://s.example/first/g1"  # a permalink guid under xml:base
    assert second.link == "/two"  # no xml:base in force: normalize resolves it
    assert second.base is None
    assert second.guid == "g2"  # not resolved against the feed URL: identities stay raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Seg, 24 Set 2018 19:42:40 -0300", datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)),
        ("mar., 05 févr. 2019 10:00:00 +0100", datetime(2019, 2, 5, 9, 0, tzinfo=UTC)),
        ("Di, 12 Mär 2024 08:00:00 GMT", datetime(2024, 3, 12, 8, 0, tzinfo=UTC)),
        ("lunedì, 3 giugno 2024 10:00:00 +0200", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
        ("Tue, 12 Foo 2024", None),
    ],
)
def test_localized_month_names(raw: str, expected: datetime | None) -> None:
    body = f"<rss version='2.0'><channel><title>T</title><item><title>x</title><pubDate>{raw}</pubDate></item></channel></rss>"
    (e,) = parse(body.encode(), URL).entries
    assert e.published == expected
    assert e.published_raw == raw


def _laughs(levels: int) -> bytes:
    decls = b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10)
        for i in range(levels)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + decls
        + b']><rss version="2.0"><channel><title>&j;</title>'
        + b"<item><title>&j;</title></item></channel></rss>"
    )


@pytest.mark.parametrize("levels", [1, 9])
def test_entities_that_expand_entities_are_refused_before_feedparser(levels: int) -> None:
    # expat's amplification limit still let the 9-level bomb burn seconds of CPU
    with pytest.raises(ParseError, match="expand other entities"):
        parse(_laughs(levels), "http://example.test/laughs")


def test_a_plain_entity_declaration_is_still_parsed() -> None:
    body = (
        b'<!DOCTYPE rss [\n  <!ENTITY id "tag:example.test,">\n]>\n<rss version="2.0">'
        b"<channel><item><guid isPermaLink='false'>&id;2026:/a</guid></item></channel></rss>"
    )
    assert parse(body, "http://example.test/").entries[0].guid == "tag:example.test,2026:/a"
