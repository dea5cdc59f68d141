"""Feed discovery: the pure parts tabled, then `feeds add` / `feeds discover` against
loopback pages that misbehave."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest.cli import cli
from ingest.discover import Candidate, alternates, choose, is_feed, looks_like_page

HTML = "text/html; charset=utf-8"
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- generated -->
<feed xmlns="http://www.w3.org/2005/Atom"><title>Site</title><id>urn:x</id>
<updated>2026-11-20T00:00:00Z</updated></feed>"""


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://site.example", True),
        ("https://site.example/", True),
        ("https://site.example/blog/", True),
        ("https://site.example/index.html", True),
        ("https://site.example/news.PHP", True),
        ("https://site.example/feed/", True),  # a WordPress feed: fetched, found a feed
        ("https://site.example/rss", False),
        ("https://site.example/feed.xml", False),
        ("https://site.example/atom?x=/", False),
    ],
)
def test_looks_like_page(url: str, page: bool) -> None:
    assert looks_like_page(url) is page


@pytest.mark.parametrize(
    ("body", "ctype", "feed"),
    [
        (ATOM, "text/xml", True),
        (b"\xef\xbb\xbf  <rss version='2.0'><channel/></rss>", "text/html", True),
        (b"<?xml version='1.0'?><!DOCTYPE x><rdf:RDF xmlns:rdf='r'/>", None, True),
        (b"<?xml-stylesheet href='s.xsl'?><rss/>", "application/xml", True),
        (b"<!doctype html><html><head><title>x</title></head></html>", "text/html", False),
        (b"<html><body>not found</body></html>", "application/rss+xml", True),  # it says so
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "application/json", True),
        (b'{"version": "1.0"}', "application/json", False),
        (b"{broken json", "application/feed+json", False),
        (b"", "text/html", False),
        (b"plain text", "text/plain", False),
    ],
)
def test_is_feed(body: bytes, ctype: str | None, feed: bool) -> None:
    assert is_feed(body, ctype) is feed


PAGE = b"""<!doctype html><html><head>
<base href="/blog/">
<link rel="stylesheet" href="s.css">
<link rel="alternate" type="application/rss+xml" title="Site &raquo; Comments Feed" href="comments/feed">
<link rel="alternate" type="application/atom+xml" title="Site" href="atom.xml">
<link rel="Alternate" type="application/rss+xml; charset=utf-8" href="https://cdn.example/rss">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="alternate" type="application/feed+json" href="feed.json">
<link rel="alternate" type="application/atom+xml" href="atom.xml">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><a rel="alternate" type="application/rss+xml" href="/body.rss">RSS</a></body>"""


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            PAGE,
            [
                ("https://s.example/blog/comments/feed", "application/rss+xml"),
                ("https://s.example/blog/atom.xml", "application/atom+xml"),
                ("https://cdn.example/rss", "application/rss+xml"),
                ("https://s.example/blog/feed.json", "application/feed+json"),
                ("https://s.example/body.rss", "application/rss+xml"),
            ],
        ),
        # no <base>: relative to the page's own URL
        (
            b'<link rel=alternate type=application/atom+xml href="../a.xml">',
            [("https://s.example/a.xml", "application/atom+xml")],
        ),
        # broken HTML: unclosed tags, junk; read as far as it goes
        (
            b"<html><head><title>x</b></title></tr><link rel='alternate' "
            b"type='application/rss+xml' href='/r'><body><div><p>\x00\xff<table><td>",
            [("https://s.example/r", "application/rss+xml")],
        ),
        (b"", []),
        (b"<html><head></head><body>no links</body></html>", []),
    ],
)
def test_alternates(html: bytes, expected: list[tuple[str, str]]) -> None:
    found = alternates(html, "https://s.example/x/page.html")
    assert [(c.url, c.type) for c in found] == expected


def _c(url: str, title: str | None = None, how: str = "alternate") -> Candidate:
    return Candidate(url, "application/rss+xml", title, how)


@pytest.mark.parametrize(
    ("found", "chosen", "why"),
    [
        ([_c("https://s/a"), _c("https://s/b")], "https://s/a", "the page's first feed link"),
        (
            [_c("https://s/c", "Site » Comments Feed"), _c("https://s/feed", "Site")],
            "https://s/feed",
            "the page's first feed link that is not a comments feed",
        ),
        (
            [_c("https://s/comments/feed"), _c("https://s/feed")],
            "https://s/feed",
            "the page's first feed link that is not a comments feed",
        ),
        ([_c("https://s/comments/feed")], "https://s/comments/feed", "the page's first feed link"),
        (
            [_c("https://s/rss", how="common path")],
            "https://s/rss",
            "the page names no feed; /rss answers with one",
        ),
    ],
)
def test_choose(found: list[Candidate], chosen: str, why: str) -> None:
    result = choose("https://s/", found)
    assert result is not None
    assert (result.chosen.url, result.why) == (chosen, why)
    assert [c.url for c in result.others] == [c.url for c in found if c.url != chosen]


def test_choose_nothing() -> None:
    assert choose("https://s/", []) is None


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("INGEST_")]:
        monkeypatch.delenv(key)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(
            cli,
            ["--db", str(tmp_path / "t.db"), *args],
            env={"INGEST_PER_HOST_DELAY": "0"},
            catch_exceptions=False,
        )

    return invoke


def stored(ingest) -> list[str]:  # type: ignore[no-untyped-def]
    out = ingest("feeds", "list", "--json")
    return [f["url"] for f in json.loads(out.output)] if out.exit_code == 0 else []


def _site(server: FeedServer, head: str) -> str:
    return server.route(
        "/", body=f"<html><head>{head}</head><body>hi</body></html>".encode(), content_type=HTML
    )


def test_add_a_page_adds_its_feed_and_lists_the_others(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    feed = rss("Site", "https://site.example/", make_items(1, 2))
    feed_server.route("/comments.xml", body=feed)
    feed_server.route("/atom.xml", body=ATOM, content_type="application/atom+xml")
    feed_server.route("/gone.xml", status=404, body=b"nope")
    page = _site(
        feed_server,
        '<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/gone.xml">'
        '<link rel="alternate" type="application/atom+xml" title="Site" href="atom.xml">',
    )
    r = ingest("feeds", "add", page, "--allow-private-network", "--tag", "t")
    assert r.exit_code == 0, r.output
    atom, comments = feed_server.url("/atom.xml"), feed_server.url("/comments.xml")
    assert r.output.splitlines() == [
        f"chose {atom} (the page's first feed link that is not a comments feed)",
        f'other {comments} (application/rss+xml, "Comments")',
        f"no feed at {feed_server.url('/gone.xml')}: HTTP 404 Not Found",
        f"added {atom}",
    ]
    assert stored(ingest) == [atom]
    feed = json.loads(ingest("feeds", "show", atom, "--json").output)
    assert feed["tags"] == ["t"]


def test_dry_run_and_discover_store_nothing(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    feed_server.route("/atom.xml", body=ATOM, content_type="application/atom+xml")
    page = _site(feed_server, '<link rel="alternate" type="application/atom+xml" href="/atom.xml">')
    atom = feed_server.url("/atom.xml")
    for args in (("feeds", "add", "--dry-run"), ("feeds", "discover")):
        r = ingest(*args, page, "--allow-private-network")
        assert (r.exit_code, r.output) == (0, f"chose {atom} (the page's first feed link)\n")
    assert stored(ingest) == []


def test_a_page_without_links_falls_back_to_common_paths(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    feed_server.route("/index.xml", body=ATOM, content_type="text/xml")
    feed_server.route("/feed", body=b"<html>a page</html>", content_type=HTML)
    page = _site(feed_server, "<title>no links</title>")
    r = ingest("feeds", "add", page, "--allow-private-network")
    index = feed_server.url("/index.xml")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        f"chose {index} (the page names no feed; /index.xml answers with one)",
        f"added {index}",
    ]
    asked = {p.path for p in feed_server.requests}
    assert {"/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/feed.json"} <= asked


def test_no_feed_anywhere_is_one_line_naming_the_url(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    page = _site(feed_server, "<title>nothing</title>")
    r = ingest("feeds", "add", page, "--allow-private-network")
    assert r.exit_code == 1
    assert r.output == (
        f"Error: {page}: no feed found: the page names no feed, and none of /feed, /rss,"
        " /feed.xml, /rss.xml, /atom.xml, /index.xml, /feed.json is one\n"
    )
    assert stored(ingest) == []


def test_links_that_all_fail(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    feed_server.route("/html.xml", body=b"<html>oops</html>", content_type=HTML)
    page = _site(
        feed_server,
        '<link rel="alternate" type="application/rss+xml" href="/missing.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/html.xml">',
    )
    r = ingest("feeds", "discover", page, "--allow-private-network")
    assert r.exit_code == 1
    assert r.output == (
        f"Error: {page}: no feed found: none of the page's 2 feed links answers with a feed"
        f" ({feed_server.url('/missing.xml')}: HTTP 404 Not Found;"
        f" {feed_server.url('/html.xml')}: not a feed (text/html))\n"
    )


def test_a_redirected_page_resolves_links_against_where_it_ended(
    ingest,  # type: ignore[no-untyped-def]
    feed_server: FeedServer,
) -> None:
    feed_server.route("/new/", body=b"<link rel=alternate type=application/atom+xml href=a.xml>",
                      content_type=HTML)  # fmt: skip
    feed_server.route("/new/a.xml", body=ATOM, content_type="application/atom+xml")
    old = feed_server.route("/old/", status=301, location="/new/")
    r = ingest("feeds", "add", old, "--allow-private-network")
    assert r.exit_code == 0, r.output
    assert stored(ingest) == [feed_server.url("/new/a.xml")]


def test_a_page_that_is_a_feed_is_added_as_is(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.route("/feed/", body=rss("S", "https://s.example/", make_items(2, 1)),
                            content_type="text/xml")  # fmt: skip
    r = ingest("feeds", "add", url, "--allow-private-network")
    assert (r.exit_code, r.output) == (0, f"chose {url} (it is a feed)\nadded {url}\n")


def test_a_page_that_cannot_be_fetched(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.url("/nothing/")
    r = ingest("feeds", "add", url, "--allow-private-network")
    assert (r.exit_code, r.output) == (
        1,
        f"Error: {url}: cannot fetch the page: HTTP 404 Not Found\n",
    )
    # the private-address guard holds for discovery too
    page = _site(feed_server, "")
    r = ingest("feeds", "discover", page)
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: {page}: cannot fetch the page: ")
    assert "allow_private_network" in r.output


def test_feed_urls_and_known_feeds_are_not_fetched(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    r = ingest("feeds", "add", feed_server.url("/x.xml"))
    assert r.exit_code == 0 and not feed_server.requests
    page = feed_server.url("/site/")
    assert ingest("feeds", "add", page, "--no-discover").exit_code == 0
    r = ingest("feeds", "add", page, "--tag", "x")  # known: edited, as before
    assert r.exit_code == 0 and not feed_server.requests
    r = ingest("feeds", "add", page, "--dry-run", "--no-discover")
    assert (r.exit_code, r.output.splitlines()[-1]) == (
        2,
        "Error: --dry-run shows what discovery would add: drop --no-discover",
    )
