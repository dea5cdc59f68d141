"""Two record slips (issue #18), on real feed shapes, through both parse paths.

- authors with e-mail addresses whose top-level domain is longer than feedparser's 2-4
  letters (.media, .online: real domains) come out as the name alone;
- relative links and images of an item's HTML resolve against xml:base, else the item's
  own link (its origLink first), else the feed URL.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ingest.authors import feedparser_author
from ingest.models import Article
from ingest.normalize import normalize_feed
from ingest.parse import fast_parse, parse

FEED_URL = "https://feeds.feedburner.com/SiteExample"
FETCHED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _both(body: bytes) -> list[list[Article]]:
    """The normalized records of `body` by the feedparser path and the fast path, which
    must take the document and agree."""
    slow = parse(body, FEED_URL)
    fast = fast_parse(body, FEED_URL)
    assert fast is not None, "the fast path declined the document"
    assert dataclasses.replace(fast, parser="feedparser") == slow
    return [normalize_feed(p, feed_url=FEED_URL, fetched_at=FETCHED) for p in (slow, fast)]


def _rss(items: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">
<channel>
  <title>Site Example</title>
  <link>https://site.example/</link>
  <description>News</description>
  {items}
</channel>
</rss>""".encode()


# --------------------------------------------------------------------------- authors

RSS_AUTHORS = [
    ("<author>desk@wire.news (Jane Doe)</author>", ("Jane Doe",)),
    ("<author>jane@x.media (Jane Doe)</author>", ("Jane Doe",)),
    ("<author>Jane Doe &lt;jane@x.online&gt;</author>", ("Jane Doe",)),
    ("<author>(Jane Doe) jane@x.news</author>", ("Jane Doe",)),
    ("<author>(Jane Doe) jane@x.media</author>", ("Jane Doe",)),
    ("<author>jane@newsroom.online</author>", ()),
    ("<author>JANE@X.MEDIA (Jane Doe)</author>", ("Jane Doe",)),
    ("<dc:creator>Jane Doe &lt;jane@x.online&gt;</dc:creator>", ("Jane Doe",)),
    ("<dc:creator><![CDATA[jane@x.media (Jane Doe)]]></dc:creator>", ("Jane Doe",)),
    # feedparser keeps the written string of the last author only: the first is mended
    (
        "<dc:creator>jane@x.media (Jane Doe)</dc:creator>"
        "<dc:creator>Bob Roe &lt;bob@y.online&gt;</dc:creator>",
        ("Jane Doe", "Bob Roe"),
    ),
    (
        "<dc:creator>Jane Doe &lt;jane@x.online&gt;</dc:creator>"
        "<dc:creator>(Bob Roe) bob@y.media</dc:creator>"
        "<dc:creator>cy@z.website</dc:creator>",
        ("Jane Doe", "Bob Roe"),
    ),
    ("<dc:creator>jane@x.online</dc:creator><dc:creator>Bob Roe</dc:creator>", ("Bob Roe",)),
]


@pytest.mark.parametrize(("author", "expected"), RSS_AUTHORS, ids=range(len(RSS_AUTHORS)))
def test_rss_authors_with_long_domains_come_out_as_names(
    author: str, expected: tuple[str, ...]
) -> None:
    body = _rss(f"<item><title>t</title><link>https://site.example/a</link>{author}</item>")
    for articles in _both(body):
        assert articles[0].authors == expected


ATOM_AUTHORS = [
    ("<author><name>Jane Doe</name><email>jane@x.media</email></author>", ("Jane Doe",)),
    ("<author><name>Jane Doe</name><email>jane@x.info</email></author>", ("Jane Doe",)),
    ("<author><name>jane@x.online (Jane Doe)</name></author>", ("Jane Doe",)),
    ("<author><email>jane@x.online</email></author>", ()),
    # a one-word lower-case name beside a 4-letter domain is a name, not a cut domain
    ("<author><name>editor</name><email>ed@x.info</email></author>", ("editor",)),
]


@pytest.mark.parametrize(("author", "expected"), ATOM_AUTHORS, ids=range(len(ATOM_AUTHORS)))
def test_atom_person_authors(author: str, expected: tuple[str, ...]) -> None:
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Site</title><id>urn:site</id><updated>2026-12-04T10:00:00Z</updated>
  <entry><title>t</title><id>urn:1</id><updated>2026-12-04T10:00:00Z</updated>
    <link href="https://site.example/a"/>{author}</entry>
</feed>""".encode()
    for articles in _both(body):
        assert articles[0].authors == expected


@pytest.mark.parametrize(
    ("name", "email", "raw", "expected"),
    [
        # feedparser's split of "jane@x.media (Jane Doe)" and the like, mended from the name
        ("a (Jane Doe", "jane@x.medi", None, "Jane Doe <jane@x.media>"),
        ("Jane Doe <ne>", "jane@x.onli", None, "Jane Doe <jane@x.online>"),
        ("Jane Doe) a", "jane@x.medi", None, "Jane Doe <jane@x.media>"),
        ("ne", "jane@x.onli", None, "jane@x.online"),
        ("ite", "cy@z.webs", None, "cy@z.website"),
        # ... or re-split from the written string when it is known
        ("a (Jane Doe", "jane@x.medi", "jane@x.media (Jane Doe)", "Jane Doe <jane@x.media>"),
        ("ne", "jane@x.onli", "jane@x.online", "jane@x.online"),
        # not cut: left alone
        ("Jane Doe", "desk@wire.news", None, "Jane Doe <desk@wire.news>"),
        ("Reuters", "desk@reuters.info", None, "Reuters <desk@reuters.info>"),
        ("Reuters (Jane Doe", "x@y.info", None, "Reuters (Jane Doe <x@y.info>"),
        (None, "jane@x.info", None, "jane@x.info"),
        ("Jane Doe", None, None, "Jane Doe"),
        (None, None, None, None),
        # a written string that is not what feedparser split is not used
        ("a (Jane Doe", "jane@x.medi", "someone else", "Jane Doe <jane@x.media>"),
    ],
)
def test_feedparser_author(
    name: str | None, email: str | None, raw: str | None, expected: str | None
) -> None:
    assert feedparser_author(name, email, raw) == expected


def test_a_bare_rest_is_not_looked_for_in_atom() -> None:
    assert feedparser_author("ne", "jane@x.onli", atom=True) == "ne <jane@x.onli>"
    assert feedparser_author("a (Jane Doe", "jane@x.medi", atom=True) == "Jane Doe <jane@x.media>"


# --------------------------------------------------------------------------- link base

HTML = (
    '&lt;p&gt;&lt;img src="img/lead.jpg"&gt; Read &lt;a href="part-2.html"&gt;part 2&lt;/a&gt;'
    ' and &lt;a href="/about"&gt;about us&lt;/a&gt;.&lt;/p&gt;'
)


def test_feedburner_feed_links_resolve_against_the_publisher_page() -> None:
    """A feedburner-hosted feed of site.example articles: the HTML was copied from the
    article's page (feedburner:origLink), not from feeds.feedburner.com."""
    body = _rss(
        f"""<item><title>Harbour plan</title>
  <link>https://feeds.feedburner.com/~r/SiteExample/~3/AbC123/story.html</link>
  <feedburner:origLink>https://site.example/2026/12/harbour/story.html</feedburner:origLink>
  <guid isPermaLink="false">site-1</guid>
  <description>{HTML}</description>
</item>"""
    )
    for articles in _both(body):
        a = articles[0]
        assert a.url == "https://site.example/2026/12/harbour/story.html"
        assert 'href="https://site.example/2026/12/harbour/part-2.html"' in a.content_html
        assert 'href="https://site.example/about"' in a.content_html
        assert a.image_url == "https://site.example/2026/12/harbour/img/lead.jpg"
        assert "feedburner.com" not in a.content_html


def test_item_link_is_the_base_without_origlink_and_feed_url_without_link() -> None:
    body = _rss(
        f"""<item><title>One</title><link>https://site.example/news/one.html</link>
  <description>{HTML}</description></item>
<item><title>Two</title><guid isPermaLink="false">two</guid>
  <description>{HTML}</description></item>"""
    )
    for one, two in _both(body):
        assert 'href="https://site.example/news/part-2.html"' in one.content_html
        assert one.image_url == "https://site.example/news/img/lead.jpg"
        assert 'href="https://feeds.feedburner.com/part-2.html"' in two.content_html


def test_atom_entry_html_resolves_against_its_alternate_link() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Site</title><id>urn:site</id><updated>2026-12-04T10:00:00Z</updated>
  <link rel="self" href="https://feeds.feedburner.com/SiteExample"/>
  <entry><title>t</title><id>urn:1</id><updated>2026-12-04T10:00:00Z</updated>
    <link rel="alternate" href="https://site.example/blog/2026/post/"/>
    <content type="html">&lt;a href="next/"&gt;next&lt;/a&gt;</content></entry>
</feed>"""
    for articles in _both(body):
        assert 'href="https://site.example/blog/2026/post/next/"' in articles[0].content_html


def test_xml_base_wins_over_the_item_link() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://cdn.example/assets/">
  <title>Site</title><id>urn:site</id><updated>2026-12-04T10:00:00Z</updated>
  <entry><title>t</title><id>urn:1</id><updated>2026-12-04T10:00:00Z</updated>
    <link rel="alternate" href="https://site.example/blog/post/"/>
    <content type="html">&lt;a href="next/"&gt;next&lt;/a&gt;</content></entry>
</feed>"""
    for (a,) in _both(body):
        assert a.url == "https://site.example/blog/post/"
        assert 'href="https://cdn.example/assets/next/"' in a.content_html
