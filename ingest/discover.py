"""Feed discovery: from a site's page to its feed(s), for `ingest feeds add URL`.

    fetch the page (the guarded Fetcher)
      | a feed itself?        (is_feed: Content-Type, or the document's first element)
      | <link rel=alternate>  (alternates: lxml, hrefs resolved against <base> / the page URL)
      | else common paths     (COMMON_PATHS, each fetched)
      | check each candidate  (fetched: a 404 or an HTML page is not a feed)
      | choose                (choose: the first site-wide feed, comments feeds last)

The pure parts (`looks_like_page`, `is_feed`, `alternates`, `choose`) do no I/O; `discover`
is the shell around them. Every failure is a `DiscoveryError` naming the URL and the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from .errors import FeedError
from .models import Feed, FeedOptions
from .settings import Settings

if TYPE_CHECKING:
    from .fetch import Fetcher

__all__ = [
    "COMMON_PATHS",
    "FEED_TYPES",
    "Candidate",
    "Discovery",
    "DiscoveryError",
    "alternates",
    "choose",
    "describe",
    "discover",
    "is_feed",
    "looks_like_page",
    "run_discovery",
]

#: the MIME types of a feed, as <link type=...> and Content-Type give them
FEED_TYPES = (
    "application/atom+xml",
    "application/rss+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",  # JSON Feed 1.0's advice before feed+json existed
    "application/xml",
    "text/xml",
)
#: tried in this order when the page names no feed (WordPress, Hugo, Jekyll, Ghost, ...)
COMMON_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml", "/feed.json")
_PAGE_SUFFIXES = (".html", ".htm", ".php", ".asp", ".aspx")
_COMMENTS = re.compile(r"comment", re.IGNORECASE)
_FIRST_TAG = re.compile(rb"<\s*([A-Za-z_][\w:.-]*)")
_MAX_CANDIDATES = 8  # a page with dozens of category feeds: the first few are checked


class DiscoveryError(FeedError):
    """No feed could be found (or the page could not be had) at the URL given."""

    kind = "discovery"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A feed URL found on the page (`how`: "alternate" or "common path")."""

    url: str
    type: str | None = None
    title: str | None = None
    how: str = "alternate"

    @property
    def comments(self) -> bool:
        """A comments feed (WordPress's "Comments Feed", /comments/feed): not the site's."""
        return bool(_COMMENTS.search(self.title or "") or _COMMENTS.search(self.url))


@dataclass(frozen=True, slots=True)
class Discovery:
    """What discovery found: the feed chosen, why, and the others (`rejected`: candidates
    that did not answer with a feed, with the reason)."""

    page: str
    chosen: Candidate
    why: str
    others: tuple[Candidate, ...] = ()
    rejected: tuple[tuple[Candidate, str], ...] = field(default=())


# --------------------------------------------------------------------------- pure parts


def looks_like_page(url: str) -> bool:
    """A site's address rather than a feed's: no path, a path ending in "/" or an HTML
    page's suffix. `feeds add` discovers on these only (anything else is added as given,
    without a request, as before discovery existed)."""
    path = urlsplit(url).path
    return path in ("", "/") or path.endswith("/") or path.lower().endswith(_PAGE_SUFFIXES)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_feed(body: bytes, content_type: str | None = None) -> bool:
    """The body is a feed (RSS, Atom, RDF, JSON Feed), by its first element or its JSON
    `version`; the Content-Type decides only for the unambiguous feed types (servers send
    text/xml or text/html for anything)."""
    media = _media_type(content_type)
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        version = doc.get("version") if isinstance(doc, dict) else None
        return isinstance(version, str) and "jsonfeed.org" in version
    if media in ("application/atom+xml", "application/rss+xml", "application/rdf+xml"):
        return True
    pos = 0
    while True:  # skip the XML declaration, processing instructions, comments, DOCTYPE
        match = _FIRST_TAG.search(head, pos)
        if match is None:
            return False
        before = head[match.start() - 1 : match.start()] if match.start() else b""
        if before in (b"?", b"!"):
            pos = match.end()
            continue
        name = match.group(1).split(b":")[-1].lower()
        return name in (b"rss", b"feed", b"rdf")


def alternates(html: bytes, page_url: str) -> list[Candidate]:
    """The feeds a page names with <link rel="alternate" type="(a feed type)" href=...>, in
    document order, hrefs resolved against <base href> or the page's URL; duplicates once.
    Broken HTML is read as far as it goes (lxml's HTML parser recovers)."""
    import lxml.html
    from lxml import etree

    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    base = page_url
    for el in doc.iter("base"):
        href = (el.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
            break
    out: list[Candidate] = []
    seen: set[str] = set()
    for el in doc.iter("link", "a"):
        rel = (el.get("rel") or "").lower().split()
        media = _media_type(el.get("type"))
        href = (el.get("href") or "").strip()
        if "alternate" not in rel or media not in FEED_TYPES or not href:
            continue
        if media in ("application/json", "application/xml", "text/xml") and el.tag == "a":
            continue
        try:
            url = urljoin(base, href)
        except ValueError:
            continue
        if urlsplit(url).scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        out.append(Candidate(url, media, (el.get("title") or "").strip() or None))
    return out


def common_paths(page_url: str) -> list[Candidate]:
    """The usual feed addresses on the page's site."""
    return [Candidate(urljoin(page_url, p), how="common path") for p in COMMON_PATHS]


def choose(page: str, found: Sequence[Candidate]) -> Discovery | None:
    """The feed to add among `found` (feeds all, in the order found): the first that is
    not a comments feed, else the first. None when nothing was found."""
    if not found:
        return None
    site = [c for c in found if not c.comments]
    chosen = site[0] if site else found[0]
    if chosen.how == "common path":
        why = f"the page names no feed; {urlsplit(chosen.url).path} answers with one"
    elif chosen is found[0]:
        why = "the page's first feed link"
    else:
        why = "the page's first feed link that is not a comments feed"
    return Discovery(page, chosen, why, tuple(c for c in found if c is not chosen))


# --------------------------------------------------------------------------- the shell


async def _get(fetcher: Fetcher, url: str, options: FeedOptions) -> tuple[str, str, bytes]:
    """(final URL, Content-Type, body) of one guarded GET; raises the fetch's FeedError."""
    result = await fetcher.fetch(Feed(url=url, options=options))
    if result.error is not None:
        raise result.error
    return result.final_url, result.headers.get("content-type", ""), result.body or b""


async def _check(fetcher: Fetcher, cand: Candidate, options: FeedOptions) -> str | None:
    """Why `cand` is not a feed (None: it is one)."""
    try:
        _, ctype, body = await _get(fetcher, cand.url, options)
    except FeedError as exc:
        return exc.reason
    if not is_feed(body, ctype):
        return f"not a feed ({_media_type(ctype) or 'no Content-Type'})"
    return None


async def discover(url: str, options: FeedOptions, fetcher: Fetcher) -> Discovery:
    """Find the feed(s) at `url` (a page, or a feed: then that feed). `fetcher` is an open
    Fetcher. Raises DiscoveryError naming `url` and the reason."""
    try:
        final, ctype, body = await _get(fetcher, url, options)
    except FeedError as exc:
        raise DiscoveryError(url, f"cannot fetch the page: {exc.reason}") from None
    if is_feed(body, ctype):
        return Discovery(url, Candidate(url, _media_type(ctype), how="given"), "it is a feed")
    named = alternates(body, final)[:_MAX_CANDIDATES]
    found: list[Candidate] = []
    rejected: list[tuple[Candidate, str]] = []
    for cand in named or common_paths(final):
        why = await _check(fetcher, cand, options)
        if why is None:
            found.append(cand)
        else:
            rejected.append((cand, why))
    result = choose(url, found)
    if result is None:
        if named:
            reasons = "; ".join(f"{c.url}: {why}" for c, why in rejected[:3])
            what = f"none of the page's {len(named)} feed links answers with a feed ({reasons})"
        else:
            what = "the page names no feed, and none of " + ", ".join(COMMON_PATHS) + " is one"
        raise DiscoveryError(url, f"no feed found: {what}")
    return Discovery(result.page, result.chosen, result.why, result.others, tuple(rejected))


def run_discovery(url: str, options: FeedOptions, settings: Settings) -> Discovery:
    """`discover` in its own event loop with a Fetcher of its own (for the CLI)."""
    import asyncio

    from .fetch import Fetcher

    async def go() -> Discovery:
        async with Fetcher(settings) as fetcher:
            return await discover(url, options, fetcher)

    return asyncio.run(go())


def describe(found: Discovery) -> list[str]:
    """What discovery found, a line each: the feed chosen and why, the others, and the
    candidates that were no feed."""

    def named(c: Candidate) -> str:
        bits = [b for b in (c.type, f'"{c.title}"' if c.title else None) if b]
        return f"{c.url} ({', '.join(bits)})" if bits else c.url

    lines = [f"chose {found.chosen.url} ({found.why})"]
    lines += [f"other {named(c)}" for c in found.others]
    lines += [f"no feed at {c.url}: {why}" for c, why in found.rejected if c.how == "alternate"]
    return lines
