"""ingest.normalize: RawEntry -> Article, one rule per test (issue #4 items 1, 2, 4, 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import Content, Enclosure, FeedOptions, FilterRule, Media, ParsedFeed, RawEntry
from ingest.normalize import (
    clean_authors,
    clean_tags,
    content_hash,
    normalize_entry,
    normalize_feed,
    resolve_dates,
)
from ingest.parse import parse

FEED_URL = "https://feeds.example.org/world.xml"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = NOW + timedelta(seconds=600)


def norm(entry: RawEntry, feed: ParsedFeed | None = None, **kw: object):  # type: ignore[no-untyped-def]
    feed = feed or ParsedFeed(url=FEED_URL, format="rss20")
    return normalize_entry(entry, feed, feed_url=FEED_URL, fetched_at=NOW, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dates

T = datetime(2025, 5, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("published", "updated", "expected"),
    [
        (T, None, (T, None, "feed")),
        (T, T + timedelta(hours=1), (T, T + timedelta(hours=1), "feed")),
        (None, T, (T, T, "updated")),
        (None, None, (NOW, None, "first_seen")),
        (NOW + timedelta(seconds=300), None, (NOW + timedelta(seconds=300), None, "feed")),
        (NOW + timedelta(days=3), None, (NOW, None, "clamped")),
        (T, NOW + timedelta(days=3), (T, NOW, "feed")),
        (T, T - timedelta(days=1), (T, T, "feed")),  # updated never before published
    ],
)
def test_resolve_dates(
    published: datetime | None, updated: datetime | None, expected: tuple[object, ...]
) -> None:
    assert resolve_dates(published, updated, NOW, LIMIT) == expected


def test_clamped_date_keeps_raw_string() -> None:
    art = norm(
        RawEntry(title="t", published=NOW + timedelta(days=400), published_raw="Mon, 01 Jun 2026")
    )
    assert (art.published_at, art.date_source, art.published_raw) == (
        NOW,
        "clamped",
        "Mon, 01 Jun 2026",
    )


def test_future_tolerance_is_a_parameter() -> None:
    art = norm(RawEntry(title="t", published=NOW + timedelta(seconds=30)), future_tolerance_s=10)
    assert art.date_source == "clamped"


# --------------------------------------------------------------------------- people / labels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["Jo Smith"], ("Jo Smith",)),
        (["jo@example.org (Jo Smith)"], ("Jo Smith",)),
        (["Jo Smith <jo@example.org>"], ("Jo Smith",)),
        (["jo@example.org"], ()),
        (["noreply@blogger.com (Unknown)"], ("Unknown",)),
        (["By Ana Lee"], ("Ana Lee",)),
        (["Ana Lee", "ana lee", " Ana  Lee "], ("Ana Lee",)),
        (["A &amp; B Desk"], ("A & B Desk",)),
        (["", "X"], ("X",)),
    ],
)
def test_clean_authors(raw: list[str], expected: tuple[str, ...]) -> None:
    assert clean_authors(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([" World ", "world", "Europe"], ("World", "Europe")),
        (["Middle\n  East"], ("Middle East",)),
        (["", "  "], ()),
        (["Q&amp;A"], ("Q&A",)),
    ],
)
def test_clean_tags(raw: list[str], expected: tuple[str, ...]) -> None:
    assert clean_tags(raw) == expected


# --------------------------------------------------------------------------- content


def test_content_is_sanitized_and_resolved_against_entry_base() -> None:
    html = (
        '<p onclick="x()">Hi <a href="next.html">n</a><script>bad()</script><img src="/i.png"></p>'
    )
    art = norm(
        RawEntry(title="t", content=(Content(html, "text/html", "https://b.example.com/dir/"),))
    )
    assert "script" not in art.content_html and "onclick" not in art.content_html
    assert 'href="https://b.example.com/dir/next.html"' in art.content_html
    assert 'src="https://b.example.com/i.png"' in art.content_html
    assert art.content_text == "Hi n"
    assert art.image_url == "https://b.example.com/i.png"


HTML = '<p><a href="x">x</a> <img src="pic.jpg"></p>'
FEEDBURNER = "https://feeds.feedburner.com/~r/site/~3/abc/story"


@pytest.mark.parametrize(
    ("link", "orig_link", "base", "expected"),
    [
        # no xml:base, no link: the feed URL
        (None, None, None, "https://feeds.example.org/"),
        # the item's own link, itself relative to the feed URL (issue #18)
        ("/news/1", None, None, "https://feeds.example.org/news/"),
        # the publisher's address (feedburner:origLink) before the feedburner link
        (
            FEEDBURNER,
            "https://site.example/2026/12/story.html",
            None,
            "https://site.example/2026/12/",
        ),
        # an xml:base wins over the item's link
        ("https://site.example/a/story", None, "https://cdn.example/b/", "https://cdn.example/b/"),
    ],
    ids=["feed-url", "item-link", "origlink", "xml-base"],
)
def test_relative_links_resolve_against_base_then_item_link_then_feed(
    link: str | None, orig_link: str | None, base: str | None, expected: str
) -> None:
    entry = RawEntry(title="t", link=link, orig_link=orig_link, base=base, content=(Content(HTML),))
    art = norm(entry)
    assert f'href="{expected}x"' in art.content_html
    assert art.image_url == f"{expected}pic.jpg"


def test_plain_text_content_becomes_escaped_paragraphs() -> None:
    art = norm(RawEntry(title="t", content=(Content("a < b\n\nnext", "text/plain"),)))
    assert art.content_html == "<p>a &lt; b</p><p>next</p>"
    assert art.content_text == "a < b\n\nnext"
    assert art.word_count == 4


def test_richest_content_wins_and_summary_stays_separate() -> None:
    entry = RawEntry(
        title="t",
        summary=Content("A short teaser about the budget."),
        content=(
            Content("plain", "text/plain"),
            Content("<p>The full budget story.</p><p>Second.</p>"),
        ),
    )
    art = norm(entry)
    assert art.content_text == "The full budget story.\n\nSecond."
    assert art.summary == "A short teaser about the budget."


def test_summary_falls_back_to_first_paragraph() -> None:
    art = norm(RawEntry(title="t", content=(Content("<p>First para.</p><p>Second para.</p>"),)))
    assert art.summary == "First para."


def test_summary_equal_to_content_is_not_repeated() -> None:
    entry = RawEntry(
        title="t",
        summary=Content("<p>Same words here.</p>"),
        content=(Content("<p>Same words here.</p><p>More.</p>"),),
    )
    assert norm(entry).summary == "Same words here."


def test_summary_is_plain_and_short() -> None:
    long = "<p>" + " ".join(["word"] * 200) + "</p>"
    art = norm(RawEntry(title="t", summary=Content(long)))
    assert len(art.summary) <= 300 and art.summary.endswith("…") and "<" not in art.summary
    assert art.word_count == 200


def test_cleanup_option() -> None:
    html = "<p>Caption of the photo here</p><p>Caption of the photo here</p><p>Read more</p>"
    on = norm(RawEntry(title="t", content=(Content(html),)))
    off = norm(RawEntry(title="t", content=(Content(html),)), options=FeedOptions(cleanup=False))
    assert on.content_text == "Caption of the photo here"
    assert off.content_text.count("Caption") == 2 and "Read more" in off.content_text


@pytest.mark.parametrize(
    ("title", "ttype", "expected"),
    [
        ("  Spaced   out\n title ", "text/plain", "Spaced out title"),
        ("A <em>bold</em> &amp; brave plan", "text/html", "A bold & brave plan"),
        ("x < y", "text/plain", "x < y"),
    ],
)
def test_title(title: str, ttype: str, expected: str) -> None:
    assert norm(RawEntry(title=title, title_type=ttype)).title == expected


def test_missing_title_falls_back_to_text() -> None:
    art = norm(RawEntry(content=(Content("<p>Just a short microblog post.</p>"),)))
    assert art.title == "Just a short microblog post."
    assert art.extra["title_source"] == "content"


def test_content_hash_ignores_case_and_whitespace_only() -> None:
    assert content_hash("Title", "Some  text") == content_hash("title ", "some text")
    assert content_hash("Title", "Some text") != content_hash("Title", "Some text!")
    assert len(content_hash("a", "b")) == 32


# --------------------------------------------------------------------------- urls


def test_orig_link_preferred_and_canonicalized() -> None:
    entry = RawEntry(
        title="t",
        link="https://feedproxy.example.com/~r/x/123",
        orig_link="https://WWW.Example.org:443/news/a?utm_source=rss&id=5#top",
    )
    art = norm(entry)
    assert art.url == "https://WWW.Example.org:443/news/a?utm_source=rss&id=5#top"
    assert art.canonical_url == "https://www.example.org/news/a?id=5"


def test_permalink_guid_used_when_no_link() -> None:
    art = norm(RawEntry(title="t", guid="https://example.org/p/9"))
    assert art.url == "https://example.org/p/9"


def test_non_http_link_is_not_a_url() -> None:
    art = norm(RawEntry(title="t", link="javascript:alert(1)"))
    assert art.url is None and art.canonical_url is None


# --------------------------------------------------------------------------- media


def test_image_priority() -> None:
    media = (
        Media("https://m.example/thumb.jpg", kind="thumbnail"),
        Media("https://m.example/video.mp4", kind="content", type="video/mp4"),
        Media("https://m.example/big.jpg", kind="content", medium="image"),
    )
    assert norm(RawEntry(title="t", media=media)).image_url == "https://m.example/big.jpg"
    assert norm(RawEntry(title="t", media=media[:2])).image_url == "https://m.example/thumb.jpg"
    enc = (Enclosure("https://m.example/e.png", "image/png"),)
    assert norm(RawEntry(title="t", enclosures=enc)).image_url == "https://m.example/e.png"
    itunes = (Media("https://m.example/cover.jpg", kind="image"),)
    assert norm(RawEntry(title="t", media=itunes)).image_url == "https://m.example/cover.jpg"
    nothing = norm(RawEntry(title="t", media=media[1:2], content=(Content("<p>x</p>"),)))
    assert nothing.image_url is None


def test_enclosures_resolved_deduped_and_typed() -> None:
    encs = (
        Enclosure("/a.mp3", "Audio/MPEG", 10),
        Enclosure("https://feeds.example.org/a.mp3", "audio/mpeg", 10),
        Enclosure("ftp://x.example/b.mp3", None, None),
        Enclosure("https://x.example/c.ogg", " ", -1),
    )
    art = norm(RawEntry(title="t", enclosures=encs))
    assert art.enclosures == (
        Enclosure("https://feeds.example.org/a.mp3", "audio/mpeg", 10),
        Enclosure("https://x.example/c.ogg", None, None),
    )


# --------------------------------------------------------------------------- language

ENGLISH = (
    "The city council voted on Tuesday to extend the night bus network to the northern "
    "suburbs, after a year of complaints from shift workers who said the last service left "
    "the centre far too early for anyone finishing work at the hospital or the airport."
)
GERMAN = (
    "Der Stadtrat hat am Dienstag beschlossen, das Nachtbusnetz in die nördlichen Vororte "
    "auszuweiten, nachdem Schichtarbeiter ein Jahr lang geklagt hatten, dass der letzte Bus "
    "viel zu früh abfahre, um nach der Arbeit im Krankenhaus oder am Flughafen nach Hause zu kommen."
)


@pytest.mark.parametrize(
    ("entry_lang", "feed_lang", "text", "expected"),
    [
        ("en-us", None, "short", "en-US"),
        (None, "EN_gb", "short", "en-GB"),
        ("fr", "en", "short", "fr"),
        (None, None, ENGLISH, "en"),
        (None, None, GERMAN, "de"),
        (None, None, "too short to tell", None),
        ("bogus language!", None, "short", None),
    ],
)
def test_language(
    entry_lang: str | None, feed_lang: str | None, text: str, expected: str | None
) -> None:
    feed = ParsedFeed(url=FEED_URL, format="rss20", language=feed_lang)
    art = norm(
        RawEntry(title="t", language=entry_lang, content=(Content(text, "text/plain"),)), feed
    )
    assert art.language == expected


# --------------------------------------------------------------------------- whole feed

RSS = b"""<rss version="2.0"><channel><title>F</title><language>en</language>
<item><guid>a1</guid><title>Budget passes</title><link>https://e.example/1</link>
<description>Lawmakers approved it.</description><pubDate>Sat, 31 May 2025 10:00:00 GMT</pubDate></item>
<item><guid>a2</guid><title>Sponsored: buy now</title><link>https://e.example/2</link>
<description>Advert copy.</description></item>
</channel></rss>"""


def test_normalize_feed_identities_and_filters() -> None:
    options = FeedOptions(block=(FilterRule("title", "sponsored"),))
    arts = normalize_feed(parse(RSS, FEED_URL), feed_url=FEED_URL, fetched_at=NOW, options=options)
    assert [a.identity for a in arts] == ["g:a1", "g:a2"]
    assert [a.filtered for a in arts] == [None, "block rule title~'sponsored'"]
    first, second = arts
    assert first.published_at == datetime(2025, 5, 31, 10, tzinfo=UTC)
    assert first.language == "en"
    assert first.content_text == "Lawmakers approved it."
    assert second.date_source == "first_seen" and second.published_at == NOW
    assert all(a.feed_url == FEED_URL and a.fetched_at == NOW for a in arts)


def test_double_escaped_html_is_read_as_html() -> None:
    escaped = "In reply to &lt;a href=&quot;/c/1&quot;&gt;Kim&lt;/a&gt;. &lt;p&gt;Thanks!&lt;/p&gt;"
    art = norm(RawEntry(title="t", summary=Content("x"), content=(Content(escaped),)))
    assert art.content_text == "In reply to Kim.\n\nThanks!"
    assert 'href="https://feeds.example.org/c/1"' in art.content_html
    art = norm(RawEntry(title="t", summary=Content(escaped), content=(Content("<p>Body.</p>"),)))
    assert art.summary == "In reply to Kim. Thanks!"


def test_text_about_markup_is_left_alone() -> None:
    art = norm(RawEntry(title="t", content=(Content("<p>Use x &lt; y and a &lt;tag&gt;.</p>"),)))
    assert art.content_text == "Use x < y and a <tag>."


def test_widest_media_image_wins() -> None:
    media = (
        Media("https://m.example/s.jpg", kind="content", medium="image", width=140),
        Media("https://m.example/l.jpg", kind="content", medium="image", width=460),
    )
    assert norm(RawEntry(title="t", media=media)).image_url == "https://m.example/l.jpg"


def test_atom_text_html_xhtml_normalized() -> None:
    from test_parse import ATOM

    first, second = normalize_feed(parse(ATOM, FEED_URL), feed_url=FEED_URL, fetched_at=NOW)
    assert first.title == "A bold plan"  # type="html" title -> text
    assert 'href="https://blog.example.net/posts/two.html"' in first.content_html  # xhtml + base
    assert first.content_text == "Un lien"
    assert first.url == "https://blog.example.net/posts/one.html"
    assert first.authors == ("Zoé",)
    assert (first.date_source, first.language) == ("updated", "fr")
    assert second.content_html == "<p>a &lt; b</p>"  # type="text" is escaped, not parsed


def test_short_undeclared_entries_get_the_feed_language() -> None:
    entries = tuple(
        RawEntry(guid=str(i), title=t, content=(Content(t, "text/plain"),))
        for i, t in enumerate(
            [
                "Der Bürgermeister eröffnet die neue Brücke über den Fluss",
                "Die Schulen bleiben wegen des Sturms am Montag geschlossen",
                "Neue Buslinie verbindet ab Juni die Altstadt mit dem Bahnhof",
                "Das Stadtfest findet in diesem Jahr auf dem Marktplatz statt",
            ]
        )
    )
    arts = normalize_feed(
        ParsedFeed(url=FEED_URL, format="rss20", entries=entries), feed_url=FEED_URL, fetched_at=NOW
    )
    assert {a.language for a in arts} == {"de"}
    assert all(a.extra["language_source"] == "detected_feed" for a in arts)
    single = normalize_entry(
        entries[0], ParsedFeed(url=FEED_URL, format="rss20"), feed_url=FEED_URL, fetched_at=NOW
    )
    assert single.language is None  # too short on its own
