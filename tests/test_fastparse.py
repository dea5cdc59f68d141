"""ingest.fastparse: the lxml path equals the feedparser path, and declines whatever it doubts."""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.models import Content, Enclosure, ParsedFeed
from ingest.parse import fallback_reason, fast_parse, parse

URL = "http://127.0.0.1:8080/feeds/world.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:wfw="http://wellformedweb.org/CommentAPI/">
<channel>
  <title>Harbour Town Courier</title>
  <link>https://courier.example/</link>
  <description>Local news</description>
  <language>en-GB</language>
  <ttl>30</ttl>
  <atom:link href="https://courier.example/feed.xml" rel="self" type="application/rss+xml"/>
  <item>
    <title>Ferry timetable &amp; fares change in spring</title>
    <link>https://courier.example/news/ferry?a=1&amp;b=2</link>
    <guid isPermaLink="false">courier-1001</guid>
    <pubDate>Mon, 23 Nov 2026 09:15:00 +0100</pubDate>
    <author>desk@courier.org (Ana Lind)</author>
    <category domain="https://courier.example/t">Transport</category>
    <category>Local</category>
    <category>Local</category>
    <description><![CDATA[<p>The island ferry <b>adds</b> an early crossing.</p>]]></description>
    <content:encoded>&lt;p&gt;Full text of the ferry story, in our own words.&lt;/p&gt;</content:encoded>
    <enclosure url="https://courier.example/img/ferry.jpg" type="image/jpeg" length="12345"/>
    <comments>https://courier.example/news/ferry#comments</comments>
    <wfw:commentRss>https://courier.example/news/ferry/feed</wfw:commentRss>
  </item>
  <item>
    <title>Council &lt;em&gt;approves&lt;/em&gt; the new library</title>
    <guid>https://courier.example/news/library</guid>
    <dc:creator>Bo Strand</dc:creator>
    <dc:date>2026-11-22T18:00:00Z</dc:date>
    <description>Caf\xc3\xa9 opens \xe2\x80\x94 with a reading room.</description>
  </item>
  <item>
    <title></title>
    <guid>relative-guid-7</guid>
    <pubDate>not a date at all</pubDate>
    <description>   </description>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title type="text">Lake Valley Post</title>
  <id>urn:uuid:0e2f6b3c-lake-valley</id>
  <link rel="alternate" type="text/html" href="/"/>
  <link rel="self" href="/atom.xml"/>
  <updated>2026-11-24T08:00:00Z</updated>
  <author><name>Newsroom</name></author>
  <entry>
    <title type="html">Bridge &lt;i&gt;reopens&lt;/i&gt; after repairs</title>
    <id>tag:lake.example,2026:bridge</id>
    <link href="/2026/11/bridge"/>
    <link rel="enclosure" href="/audio/bridge.mp3" type="audio/mpeg" length="999"/>
    <published>2026-11-24T07:30:00+02:00</published>
    <updated>2026-11-24T07:45:00Z</updated>
    <author><name>Kim Ito</name><email>kim@lake.example</email></author>
    <category term="Roads" scheme="https://lake.example/s"/>
    <category term="Local" label="Local news"/>
    <summary>Traffic flows again over the east bridge.</summary>
    <content type="html">&lt;p&gt;The east bridge opened at dawn.&lt;/p&gt;</content>
  </entry>
  <entry xml:lang="fr">
    <title>Le march\xc3\xa9 du samedi</title>
    <id>tag:lake.example,2026:market</id>
    <updated>2026-11-23T10:00:00Z</updated>
    <content type="text">Un texte court, en fran\xc3\xa7ais.</content>
  </entry>
</feed>
"""


MEDIA = b"""<media:content xmlns:media="http://search.yahoo.com/mrss/" url="https://img.example/a.jpg"
  medium="image" width="640" height="360"><media:credit>Photo desk</media:credit>
  <media:thumbnail url="https://img.example/a-small.jpg" width="120"/></media:content>
<media:thumbnail xmlns:media="http://search.yahoo.com/mrss/" url="https://img.example/b.jpg"/>
</item>"""
RSS_MEDIA = RSS.replace(b"</item>", MEDIA, 1)
ATOM_BASE = ATOM.replace(
    b'xml:lang="en">', b'xml:lang="en" xml:base="https://lake.example/news/">', 1
).replace(b'<entry xml:lang="fr">', b'<entry xml:lang="fr" xml:base="../fr/">')


def _slow(body: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse(body, URL, headers)


def _same(body: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    fast = fast_parse(body, URL, headers)
    assert fast is not None, fallback_reason(body, URL, headers)
    assert fast.parser == "fast"
    assert dataclasses.replace(fast, parser="feedparser") == _slow(body, headers)
    return fast


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Content-Type": "application/rss+xml; charset=utf-8"},
        {"content-type": "application/xml"},
        {"content-type": "text/xml; charset=utf-8"},
        {"content-type": "application/atom+xml", "content-location": "https://mirror.example/f"},
    ],
)
@pytest.mark.parametrize(
    "body",
    [RSS, ATOM, RSS_MEDIA, ATOM_BASE],
    ids=["rss", "atom", "rss-media", "atom-xml:base"],
)
def test_fast_path_equals_feedparser_path(body: bytes, headers: dict[str, str] | None) -> None:
    _same(body, headers)


@pytest.mark.parametrize("headers", [None, {"content-type": "application/rss+xml"}])
def test_latin1_document_reads_as_in_the_feedparser_path(headers: dict[str, str] | None) -> None:
    # UTF-8 bytes declared as ISO-8859-1: feedparser undoes the mojibake, and so must we
    feed = _same(RSS.replace(b"utf-8", b"iso-8859-1"), headers)
    summary = feed.entries[1].summary
    assert summary is not None and summary.value == "Café opens — with a reading room."


def test_rss_values_as_feedparser_gives_them() -> None:
    feed = _same(RSS)
    assert (feed.format, feed.title, feed.language, feed.ttl_minutes) == (
        "rss20",
        "Harbour Town Courier",
        "en-GB",
        30,
    )
    first, second, third = feed.entries
    assert first.link == "https://courier.example/news/ferry?a=1&b=2"
    assert first.guid == "courier-1001"
    assert first.published == datetime(2026, 11, 23, 8, 15, tzinfo=UTC)
    assert first.updated is None  # no updated date of its own (no fallback to published)
    assert first.authors == ("Ana Lind <desk@courier.org>",)
    assert first.tags == ("Transport", "Local")
    assert first.summary == Content("<p>The island ferry <b>adds</b> an early crossing.</p>")
    assert first.content[0].value == "<p>Full text of the ferry story, in our own words.</p>"
    assert first.enclosures == (
        Enclosure("https://courier.example/img/ferry.jpg", "image/jpeg", 12345),
    )
    assert first.extra == {"comments": "https://courier.example/news/ferry#comments"}
    assert second.title_type == "text/html"  # HTML guessed in an RSS title, as feedparser does
    assert second.link == second.guid == "https://courier.example/news/library"
    assert second.updated == datetime(2026, 11, 22, 18, tzinfo=UTC)
    assert (
        second.summary is not None and second.summary.value == "Café opens — with a reading room."
    )
    assert third.title is None and third.published is None and third.summary is None
    assert third.published_raw == "not a date at all"


def test_media_rss_values_as_feedparser_gives_them() -> None:
    entry = _same(RSS_MEDIA).entries[0]
    assert [(m.kind, m.url, m.width) for m in entry.media] == [
        ("content", "https://img.example/a.jpg", 640),
        ("thumbnail", "https://img.example/a-small.jpg", 120),
        ("thumbnail", "https://img.example/b.jpg", None),
    ]


def test_xml_base_scopes_as_in_the_feedparser_path() -> None:
    bridge, market = _same(ATOM_BASE).entries
    assert bridge.link == "https://lake.example/2026/11/bridge"
    assert bridge.base == "https://lake.example/news/"
    assert market.base == "https://lake.example/fr/"


def test_atom_values_as_feedparser_gives_them() -> None:
    feed = _same(ATOM)
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "atom10",
        "Lake Valley Post",
        "/",
        "en",
    )
    bridge, market = feed.entries
    assert bridge.link == "/2026/11/bridge"  # relative links stay relative: normalize resolves
    assert bridge.title_type == "text/html"
    assert bridge.authors == ("Kim Ito <kim@lake.example>",)
    assert bridge.tags == ("Roads", "Local")
    assert bridge.published == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    assert bridge.enclosures == (Enclosure("/audio/bridge.mp3", "audio/mpeg", 999),)
    assert bridge.base is None and bridge.language is None
    assert market.language == "fr"
    assert market.link == "tag:lake.example,2026:market"  # no alternate link: the id, as feedparser
    assert market.content[0].type == "text/plain"


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><title>&secret;</title></channel></rss>"""


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (XXE, None, "DOCTYPE"),
        (b"<rss version='2.0'><channel><title>x</channel></rss>", None, "not well-formed"),
        (b"\x1f\x8b\x08\x00rest", None, "not XML"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', None, "not XML"),
        (RSS.replace(b"utf-8", b"windows-1252"), None, "encoding windows-1252"),
        (RSS, {"content-type": "text/xml"}, "encoding us-ascii"),
        (RSS, {"content-language": "de"}, "xml:lang"),
        (b"\xef\xbb\xbf" + RSS, None, "byte order mark"),
        (RSS.replace(b"<ttl>30</ttl>", b'<ttl xml:lang="en">30</ttl>'), None, "xml:lang"),
        (RSS.replace(b"<item>", b'<item xml:base="https://b.example/">', 1), None, "xml:base"),
        (
            RSS.replace(
                b"</item>",
                b"<media:content url='x' xmlns:media='http://search.yahoo.com/mrss/'>"
                b"<media:description>d</media:description></media:content></item>",
                1,
            ),
            None,
            "media_description in media:content",
        ),
        (RSS.replace(b"</item>", b"<title>again</title></item>", 1), None, "two <title>"),
        (RSS.replace(b"<rss ", b"<rdf ").replace(b"</rss>", b"</rdf>"), None, "root"),
        (ATOM.replace(b'type="html"', b'type="xhtml"'), None, "xhtml"),
        (
            ATOM.replace(b"<entry>", b"<entry><source><title>s</title></source>", 1),
            None,
            "source",
        ),
    ],
    ids=[
        "xxe",
        "ill-formed",
        "gzip",
        "json",
        "cp1252",
        "text/xml-non-ascii",
        "content-language",
        "bom",
        "xml:lang-rss",
        "xml:base-rss",
        "media-description",
        "two-titles",
        "rdf-root",
        "xhtml",
        "atom-source",
    ],
)
def test_declines_what_it_doubts(body: bytes, headers: dict[str, str] | None, reason: str) -> None:
    assert fast_parse(body, URL, headers) is None
    why = fallback_reason(body, URL, headers)
    assert why is not None and reason in why


def test_never_resolves_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = XXE.replace(b"file:///etc/hostname", secret.as_uri().encode())
    assert fast_parse(body, URL) is None
    # even without the DOCTYPE pre-check, lxml is set up not to load it
    from lxml import etree

    from ingest.parse._fast import _setup

    root = etree.fromstring(body, _setup())
    assert b"TOP-SECRET" not in etree.tostring(root)
