"""Feed bytes -> ParsedFeed (pure: no I/O).

    parse(body, url, headers) -> ParsedFeed        raises errors.ParseError only when the
                                                   body is not a feed at all

- JSON documents (sniffed: first non-blank byte `{`) go to `ingest.jsonfeed`.
- Everything else goes to feedparser (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF, CDF) with
  `sanitize_html=False, resolve_relative_uris=False`: normalize sanitizes with nh3 and
  resolves URLs itself against xml:base / the feed URL, identically for every parser.
- feedparser's `*_parsed` dates are UTC struct_times; a date without an offset is read as
  UTC by feedparser (RFC 822 says so for RSS; for Atom it is the usual intent). The raw
  strings are kept in `published_raw` / `updated_raw`.
- External entities are never resolved (feedparser turns off expat's external general
  entities; the test suite feeds it laminas' XXE probe). A document whose DTD declares
  entities that expand other entities (the "billion laughs" shape) is refused before
  feedparser sees it: expat's own amplification limit still lets such a document burn
  seconds of CPU in the worker, holding up every feed in flight. Plain declarations
  (`<!ENTITY id "tag:example.com,">`) are parsed as before.
- Dates feedparser cannot read because their month / weekday names are not English
  ("Seg, 24 Set 2018 19:42:40 -0300": pt, es, fr, de, it, nl) are translated and re-read.
- A gzip body served without Content-Encoding is inflated (capped at MAX_GUNZIP_BYTES).
- Relative links stay relative unless an xml:base is in force (normalize resolves them
  against the feed URL); guids are kept as the feed wrote them.
- A recoverable problem (ill-formed XML that feedparser's loose parser still read, a wrong
  declared encoding) is reported in `ParsedFeed.bozo`, not raised.
- ParseError (naming the URL and the reason): empty body, an HTML page, JSON that is not a
  JSON Feed or is truncated, or anything feedparser finds no feed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import feedparser

from ..authors import feedparser_author
from ..errors import ParseError, in_words
from ..jsonfeed import looks_like_json, parse_json_feed
from ..models import Content, Enclosure, Media, ParsedFeed, RawEntry
from ._guards import _GZIP_MAGIC, _gunzip, _html_page, _nested_entities
from ._shared import (
    _SENTINEL_DIR,
    _dt,
    _entry_base,
    _entry_language,
    _int,
    _localized_date,
    _s,
    _skips,
    _u,
)

__all__ = ["parse"]

_FORMATS = {
    "rss20": "rss20", "rss": "rss20", "rss10": "rss10", "rss090": "rss10",
    "rss091n": "rss09x", "rss091u": "rss09x", "rss092": "rss09x", "rss093": "rss09x",
    "rss094": "rss09x", "atom10": "atom10", "atom": "atom10", "atom03": "atom03",
    "atom02": "atom03", "atom01": "atom03", "cdf": "cdf", "json1": "json10", "json11": "json11",
}  # fmt: skip


def parse(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse one feed document. See the module docstring."""
    try:
        return _parse(body, url, headers or {})
    except ParseError:
        raise
    except Exception as exc:  # a parser bug must not take the pipeline down
        raise ParseError(url, f"parser failed ({in_words(exc)})") from exc


def _parse(body: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    if not body or not body.strip():
        raise ParseError(url, "empty document")
    if body[:2] == _GZIP_MAGIC:  # a .gz file served without Content-Encoding
        body = _gunzip(body, url)
    if looks_like_json(body):
        return parse_json_feed(body, url)
    if b"<!ENTITY" in body[:65536] and _nested_entities(body[:65536]):
        raise ParseError(url, "its DTD declares entities that expand other entities (refused)")
    response_headers = {k.lower(): v for k, v in headers.items()}
    # feedparser resolves links, permalink guids and xml:base against the document base,
    # and only restores an outer xml:base after an inner one when the document base is
    # not empty. A sentinel base keeps scoping right and is mapped back to relative
    # references (`_u`), which normalize resolves against the feed URL; guids stay raw.
    # Without any xml:base there is nothing to scope, and resolving is a cost on every entry.
    if b"xml:base" in body:
        response_headers["content-location"] = _SENTINEL_DIR
    else:
        response_headers.pop("content-location", None)
    # no header at all is not the server's "wrong type" (NonXMLContentType bozo); and
    # application/xml lets the XML declaration pick the encoding (text/xml would force ASCII)
    response_headers.setdefault("content-type", "application/xml")
    d = feedparser.parse(
        body,
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = d.get("version") or ""
    raw_entries = d.get("entries") or []
    feed = d.get("feed") or {}
    bozo_exc = d.get("bozo_exception") if d.get("bozo") else None
    if not version and not raw_entries and not (feed.get("title") or feed.get("link")):
        if _html_page(body):
            raise ParseError(url, "an HTML page, not a feed")
        reason = f": {bozo_exc}" if bozo_exc else ""
        raise ParseError(url, f"not a recognizable feed{reason}")
    lang = _s(feed.get("language"))
    atom = version.startswith("atom")
    entries = tuple(_entry(e, lang, atom) for e in raw_entries)
    skip_hours, skip_days = _skips(body) if b"skip" in body else ((), ())
    return ParsedFeed(
        url=url,
        format=_FORMATS.get(version, "unknown"),
        title=_s(feed.get("title")),
        link=_u(feed.get("link")),
        language=lang,
        entries=entries,
        ttl_minutes=_int(feed.get("ttl")),
        sy_update_period=(_s(feed.get("sy_updateperiod")) or "").lower() or None,
        sy_update_frequency=_int(feed.get("sy_updatefrequency")),
        skip_hours=skip_hours,
        skip_days=skip_days,
        bozo=f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo_exc else None,
        parser="feedparser",
    )


def _raw_get(d: Mapping[str, Any], key: str) -> Any:
    return dict.get(d, key) if isinstance(d, dict) else d.get(key)


def _content(detail: Mapping[str, Any] | None, value: object = None) -> Content | None:
    if detail is None:
        v = _s(value)
        return Content(v) if v else None
    v = detail.get("value")
    if not isinstance(v, str) or not v.strip():
        return None
    ctype = (detail.get("type") or "text/html").lower()
    if ctype in ("text", "plain"):
        ctype = "text/plain"
    elif ctype in ("html",):
        ctype = "text/html"
    elif ctype in ("xhtml",):
        ctype = "application/xhtml+xml"
    return Content(v, ctype, _u(detail.get("base")), _s(detail.get("language")))


def _authors(e: Mapping[str, Any], atom: bool) -> tuple[str, ...]:
    out: list[str] = []
    details = [a for a in e.get("authors") or () if isinstance(a, Mapping)]
    # feedparser keeps the string an RSS feed wrote for the last author only
    raw = None if atom else _s(e.get("author"))
    for i, a in enumerate(details):
        last = i == len(details) - 1
        author = feedparser_author(
            _s(a.get("name")), _s(a.get("email")), raw if last else None, atom=atom
        )
        if author:
            out.append(author)
    if not out:
        single = _s(e.get("author"))
        if single:
            out.append(single)
    return tuple(out)


def _media(e: Mapping[str, Any]) -> tuple[Media, ...]:
    out: list[Media] = []
    for m in e.get("media_content") or ():
        if isinstance(m, Mapping) and _s(m.get("url")):
            out.append(
                Media(
                    url=str(_u(m.get("url"))),
                    kind="content",
                    type=_s(m.get("type")),
                    medium=_s(m.get("medium")),
                    width=_int(m.get("width")),
                    height=_int(m.get("height")),
                )
            )
    for m in e.get("media_thumbnail") or ():
        if isinstance(m, Mapping) and _s(m.get("url")):
            out.append(
                Media(
                    url=str(_s(m.get("url"))),
                    kind="thumbnail",
                    medium="image",
                    width=_int(m.get("width")),
                    height=_int(m.get("height")),
                )
            )
    image = e.get("image")
    if isinstance(image, Mapping) and _u(image.get("href")):
        out.append(Media(url=str(_u(image.get("href"))), kind="image", medium="image"))
    return tuple(out)


def _enclosures(e: Mapping[str, Any]) -> tuple[Enclosure, ...]:
    out: list[Enclosure] = []
    seen: set[str] = set()
    for enc in e.get("enclosures") or ():
        if not isinstance(enc, Mapping):
            continue
        href = _u(enc.get("href")) or _u(enc.get("url"))
        if not href or href in seen:
            continue
        seen.add(href)
        out.append(Enclosure(url=href, type=_s(enc.get("type")), length=_int(enc.get("length"))))
    return tuple(out)


_EXTRA_KEYS = (
    ("comments", "comments"),
    ("itunes_duration", "duration"),
    ("itunes_episode", "episode"),
    ("itunes_season", "season"),
    ("itunes_episodetype", "episode_type"),
    ("itunes_explicit", "explicit"),
    ("subtitle", "subtitle"),  # itunes:subtitle
)


def _entry(e: Mapping[str, Any], feed_lang: str | None, atom: bool) -> RawEntry:
    contents = tuple(
        c for c in (_content(x) for x in e.get("content") or () if isinstance(x, Mapping)) if c
    )
    summary = _content(e.get("summary_detail"), e.get("summary"))
    title_detail = e.get("title_detail") or {}
    title_type = (title_detail.get("type") or "text/plain").lower()
    base = _entry_base(contents, summary, _u(title_detail.get("base")))
    extra: dict[str, Any] = {}
    for key, name in _EXTRA_KEYS:
        v = e.get(key)
        if isinstance(v, bool):
            extra[name] = v
        elif isinstance(v, str | int) and str(v).strip():
            extra[name] = _u(" ".join(v.split())) if isinstance(v, str) else v
    source = e.get("source")
    if isinstance(source, Mapping):
        src = {k: source[k] for k in ("title", "href") if isinstance(source.get(k), str)}
        if src:
            extra["source"] = src
    tags = tuple(
        str(t.get("term") or t.get("label")).strip()
        for t in e.get("tags") or ()
        if isinstance(t, Mapping) and (_s(t.get("term")) or _s(t.get("label")))
    )
    language = _entry_language(contents, summary, _s(title_detail.get("language")), feed_lang)
    return RawEntry(
        guid=_u(e.get("id")),
        link=_u(e.get("link")),
        orig_link=_u(e.get("feedburner_origlink")) or _u(e.get("pheedo_origlink")),
        title=_s(e.get("title")),
        title_type="text/html" if "html" in title_type else "text/plain",
        summary=summary,
        content=contents,
        authors=_authors(e, atom),
        published=_dt(e.get("published_parsed")) or _localized_date(_s(e.get("published"))),
        published_raw=_s(e.get("published")),
        # dict.get: FeedParserDict.get("updated") falls back to "published" (feedparser #310)
        updated=_dt(_raw_get(e, "updated_parsed")) or _localized_date(_s(_raw_get(e, "updated"))),
        updated_raw=_s(_raw_get(e, "updated")),
        tags=tags,
        enclosures=_enclosures(e),
        media=_media(e),
        language=language,
        base=base,
        extra=extra,
    )
