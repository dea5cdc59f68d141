"""ParsedFeed entries -> Article records (pure: no I/O).

    normalize_feed(parsed, feed_url=, fetched_at=, options=)  every entry, identities
                                                              assigned, filters applied
    normalize_entry(entry, parsed, ...)                       one entry, identity ""

Field rules (README "Record schema"; tests/test_normalize*.py table them):

- url: feedburner:origLink (the publisher's address) before the entry link, resolved
  against the entry's xml:base, else the feed URL; canonical_url via ingest.urls.
- title: plain text (HTML titles stripped, entities decoded, whitespace collapsed); an
  entry without a title gets the start of its text (extra["title_source"] = "content").
- content_html: the richest content (longest HTML, else text), else the summary; sanitized
  by nh3 (ingest.text.sanitize); relative links/images resolved against the xml:base in
  force, else the article's own url (the page the HTML was copied from), else the feed
  URL; plain text becomes <p>s;
  with options.cleanup (default) repeated blocks and page debris removed (ingest.text).
- content_text: block-aware text of content_html. word_count: its whitespace-split words.
- summary: the entry summary as plain text when it is not just the content again, else the
  start of the content text; at most ~300 characters.
- content_hash: xxh3-128 hex of casefolded, whitespace-collapsed title + "\\n" + text.
- published_at: the entry's published date, else its updated date (date_source
  "updated"), else fetched_at (date_source "first_seen"). A date more than
  `future_tolerance_s` after fetched_at is clamped to fetched_at (date_source "clamped");
  published_raw always keeps the string the feed gave. updated_at is clamped the same way
  and never earlier than published_at. Dates without an offset are UTC (see ingest.parse).
- authors: names only: "jo@x.org (Jo Smith)" / "Jo Smith <jo@x.org>" / "(Jo Smith)
  jo@x.org" -> "Jo Smith" (any length of top-level domain: feedparser's cut of ".media" /
  ".online" is mended in ingest.authors), a bare email address is dropped; de-duplicated
  case-insensitively, order kept.
- tags: trimmed, whitespace collapsed, de-duplicated case-insensitively (first spelling).
- language: entry declaration, else feed declaration (ingest.language.normalize_language),
  else detected from the text when it is long enough (extra["language_source"] =
  "detected"), else (normalize_feed only) detected once from the titles and texts of all
  the feed's undetected articles together ("detected_feed").
- image_url: media:content image (the widest), media:thumbnail, an image enclosure, itunes:image / JSON
  Feed image, else the first <img> of the content; http(s) only, resolved.
- enclosures: resolved http(s) URLs, de-duplicated, with type and integer length.
"""

from __future__ import annotations

import dataclasses
import html as _html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

import xxhash

from . import language as _language
from .entrydigest import entry_digest, feed_context
from .filters import filter_reason
from .identity import identity_keys
from .models import (
    Article,
    Content,
    Enclosure,
    FeedOptions,
    ParsedFeed,
    RawEntry,
    SeenEntry,
)
from .text import (
    cleanup,
    collapse_ws,
    first_image,
    html_to_text,
    sanitize,
    summarize,
    text_to_html,
    xml_safe,
)
from .urls import canonical_url, is_web_url

__all__ = [
    "clean_authors",
    "clean_tags",
    "content_hash",
    "normalize_entry",
    "normalize_feed",
    "resolve_dates",
]

SUMMARY_CHARS = 300
TITLE_FALLBACK_CHARS = 100


@dataclass(frozen=True, slots=True)
class _FeedContext:
    """What normalize needs from the feed, worked out once per feed."""

    feed_url: str
    base: str
    language: str | None
    fetched_at: datetime
    options: FeedOptions
    future_limit: datetime


def _context(
    parsed: ParsedFeed,
    feed_url: str,
    fetched_at: datetime,
    options: FeedOptions,
    future_tolerance_s: int,
) -> _FeedContext:
    return _FeedContext(
        feed_url=feed_url,
        base=feed_url,
        language=_language.normalize_language(parsed.language),
        fetched_at=fetched_at,
        options=options,
        future_limit=fetched_at + timedelta(seconds=future_tolerance_s),
    )


def normalize_feed(
    parsed: ParsedFeed,
    *,
    feed_url: str,
    fetched_at: datetime,
    options: FeedOptions = FeedOptions(),
    future_tolerance_s: int = 600,
    seen: Mapping[str, SeenEntry] | None = None,
) -> list[Article]:
    """Every entry of `parsed` as an Article, identities assigned (ingest.identity) and the
    feed's keep/block rules applied: a filtered article is still returned, with `filtered`
    saying why. Each carries the digest of its raw entry (ingest.entrydigest).

    `seen`: the store's sources of this feed by entry digest (`Store.seen_entries`). An entry
    found there, under the identity the feed's items give it now, is not normalized again: it
    comes back `reused`, with the stored links and content hash and its dates (all that the
    store reads of an item it holds unchanged), and the store marks it seen as before."""
    ctx = _context(parsed, feed_url, fetched_at, options, future_tolerance_s)
    context = feed_context(feed_url, ctx.language, options, future_tolerance_s)
    entries = parsed.entries
    digests = [entry_digest(e, context) for e in entries]
    hits: list[SeenEntry | None] = [seen.get(d) for d in digests] if seen else [None] * len(entries)
    # each record is built once, after the feed-level steps (a dataclasses.replace of the
    # frozen 25-field Article cost more than building it)
    records: list[dict[str, Any] | None] = [
        None if hit else _fields(e, ctx) for e, hit in zip(entries, hits, strict=True)
    ]
    guids = [
        r["guid"] if r is not None else _guid(e) for r, e in zip(records, entries, strict=True)
    ]
    links: list[str | None] = []
    hashes: list[str] = []
    for r, hit in zip(records, hits, strict=True):
        if r is not None:
            links.append(r["canonical_url"] or r["url"] or None)
            hashes.append(r["content_hash"])
        elif hit is not None:
            links.append(hit.canonical_url or hit.url or None)
            hashes.append(hit.content_hash)
    keys = identity_keys(guids, links, hashes)

    def redo(why: Callable[[int, SeenEntry], bool]) -> None:
        for i, hit in enumerate(hits):
            if hit is not None and why(i, hit):
                records[i], hits[i] = _fields(entries[i], ctx), None

    # a reused entry gives the same links and hash as when it was stored, hence the same
    # keys to every item; but the feed's other items may now give it another identity
    redo(lambda i, hit: hit.identity != keys[i])
    if ctx.language is None:
        if any(r is not None and r["language"] is None for r in records):
            # the feed-level guess reads the items without a language, in order: a reused
            # entry without a declared one may be among them
            redo(lambda i, _: _language.normalize_language(entries[i].language) is None)
        _detect_feed_language([r for r in records if r is not None])
    articles = []
    for i, r in enumerate(records):
        if r is None:
            hit = hits[i]
            assert hit is not None
            articles.append(_reused(entries[i], hit, guids[i], digests[i], ctx))
            continue
        r["identity"] = keys[i]
        r["entry_digest"] = digests[i]
        articles.append(Article(**r))
    if options.keep or options.block:
        # a reused item was stored, so kept, under these very rules (they are in its digest)
        articles = [
            dataclasses.replace(a, filtered=reason)
            if not a.reused and (reason := filter_reason(a, options))
            else a
            for a in articles
        ]
    return articles


def _guid(entry: RawEntry) -> str | None:
    """The guid `_fields` gives the entry, without its XML-safe copy of every text when the
    guid has nothing to drop (nearly always)."""
    guid = entry.guid
    if guid is None or xml_safe(guid) is guid:
        return guid
    return _xml_safe_entry(entry).guid


def _reused(
    entry: RawEntry, hit: SeenEntry, guid: str | None, digest: str, ctx: _FeedContext
) -> Article:
    """A stored, unchanged item: its identity, links and hash as stored, and its dates
    (the feed's posting rhythm reads them: storage.common.feed_state)."""
    published, updated, source = resolve_dates(
        entry.published, entry.updated, ctx.fetched_at, ctx.future_limit
    )
    return Article(
        feed_url=ctx.feed_url,
        identity=hit.identity,
        guid=guid,
        url=hit.url,
        canonical_url=hit.canonical_url,
        title="",
        authors=(),
        published_at=published,
        updated_at=updated,
        fetched_at=ctx.fetched_at,
        summary="",
        content_html="",
        content_text="",
        language=None,
        tags=(),
        image_url=None,
        enclosures=(),
        word_count=0,
        content_hash=hit.content_hash,
        date_source=source,
        published_raw=entry.published_raw or entry.updated_raw,
        entry_digest=digest,
        reused=True,
    )


def normalize_entry(
    entry: RawEntry,
    parsed: ParsedFeed,
    *,
    feed_url: str,
    fetched_at: datetime,
    options: FeedOptions = FeedOptions(),
    future_tolerance_s: int = 600,
) -> Article:
    """One entry as an Article with identity "" (no filters applied)."""
    ctx = _context(parsed, feed_url, fetched_at, options, future_tolerance_s)
    return Article(**_fields(entry, ctx))


# --------------------------------------------------------------------------- the record


def _fields(entry: RawEntry, ctx: _FeedContext) -> dict[str, Any]:
    """The Article fields of one entry (identity "")."""
    entry = _xml_safe_entry(entry)
    xml_base = _resolve(ctx.base, entry.base)
    base = xml_base or ctx.base
    url = _http_url(entry.orig_link, base) or _http_url(entry.link, base)
    if url is None and entry.guid and entry.guid.startswith(("http://", "https://")):
        url = _http_url(entry.guid, base)  # RSS guid isPermaLink
    extra: dict[str, Any] = dict(entry.extra)

    body = _pick_content(entry.content, entry.summary)
    # the item's HTML was copied from its own page: its relative links mean that page (a
    # feedburner-hosted feed of site.example articles), unless an xml:base says otherwise
    html_base = xml_base or url or ctx.base
    content_html = ""
    if body is not None:
        content_html = _to_html(body, _resolve(base, body.base) or html_base)
        if ctx.options.cleanup:
            content_html = cleanup(content_html)
    content_text = html_to_text(content_html)
    if "<" in content_text and _ESCAPED_MARKUP.search(content_text):
        # double-escaped HTML ("&amp;lt;p&amp;gt;", WordPress comment feeds): its text is
        # markup; read that as the HTML it was meant to be
        content_html = sanitize(content_text.replace("\n", " "), html_base)
        if ctx.options.cleanup:
            content_html = cleanup(content_html)
        content_text = html_to_text(content_html)

    title = _title(entry)
    if not title and content_text:
        title = summarize(content_text, TITLE_FALLBACK_CHARS)
        extra["title_source"] = "content"

    summary = ""
    if entry.summary is not None and entry.summary is not body:
        s = entry.summary
        if not (body is not None and body.value.startswith(s.value[:200])):
            if s.type == "text/plain":
                s_text = s.value
            elif "<" in s.value:
                s_text = html_to_text(sanitize(s.value))
            else:
                s_text = _html.unescape(s.value)
            if "<" in s_text and _ESCAPED_MARKUP.search(s_text):
                s_text = html_to_text(sanitize(s_text))
            if s_text and not content_text.startswith(collapse_ws(s_text)[:80]):
                summary = summarize(s_text, SUMMARY_CHARS)
    if not summary and content_text:
        cut = content_text.find("\n\n")
        summary = summarize(content_text if cut < 0 else content_text[:cut], SUMMARY_CHARS)

    published, updated, source = resolve_dates(
        entry.published, entry.updated, ctx.fetched_at, ctx.future_limit
    )
    lang = _language.normalize_language(entry.language) or ctx.language
    if lang is None and content_text:
        lang = _language.detect(content_text)
        if lang:
            extra["language_source"] = "detected"

    enclosures = _enclosures(entry.enclosures, base)
    flat_text, words = _flat_text(content_text)
    return dict(
        feed_url=ctx.feed_url,
        identity="",
        guid=entry.guid,
        url=url,
        canonical_url=canonical_url(url) if url else None,
        title=title,
        authors=clean_authors(entry.authors),
        published_at=published,
        updated_at=updated,
        fetched_at=ctx.fetched_at,
        summary=summary,
        content_html=content_html,
        content_text=content_text,
        language=lang,
        tags=clean_tags(entry.tags),
        image_url=_image(entry, enclosures, content_html, base, html_base),
        enclosures=enclosures,
        word_count=words,
        content_hash=_hash(collapse_ws(title), flat_text),
        date_source=source,
        published_raw=entry.published_raw or entry.updated_raw,
        extra=extra,
    )


def _detect_feed_language(records: list[dict[str, Any]]) -> None:
    """Articles too short to detect one by one (no declaration anywhere) get the language
    of their titles and texts taken together, when the model is sure of it: one detection
    per feed. A mixed-language feed gets no answer, which is right. (In place, on the
    records of `_fields`.)"""
    missing = [r for r in records if r["language"] is None]
    if not missing:
        return
    sample = "\n".join(f"{r['title']}\n{r['content_text'][:400]}" for r in missing)
    lang = _language.detect(sample[: _language.DETECT_SAMPLE_CHARS * 2])
    if lang is None:
        return
    for r in missing:
        r["language"] = lang
        r["extra"] = {**r["extra"], "language_source": "detected_feed"}


# --------------------------------------------------------------------------- fields


def content_hash(title: str, text: str) -> str:
    """xxh3-128 hex of the casefolded, whitespace-collapsed title and text."""
    return _hash(collapse_ws(title), collapse_ws(text))


def _hash(flat_title: str, flat_text: str) -> str:
    key = flat_title.casefold() + "\n" + flat_text.casefold()
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8"))


# ASCII characters str.split() takes for whitespace besides " \t\n\r\f\v"
_ODD_ASCII_WS = ("\x1c", "\x1d", "\x1e", "\x1f")


def _flat_text(text: str) -> tuple[str, int]:
    """(collapse_ws(text), len(text.split())) for `text` from html_to_text, without
    splitting it into words (issue #6). html_to_text output is stripped, has no runs of
    spaces, no space next to a newline, no 3+ newlines and, when ASCII, no \t \r \f \v:
    its only whitespace is " ", "\n" and "\n\n" between words, unless it holds one of the
    odd ASCII separators or non-ASCII whitespace (then: the general way)."""
    if not text:
        return "", 0
    if text.isascii() and not any(c in text for c in _ODD_ASCII_WS):
        if "\n" in text:
            text = text.replace("\n\n", " ").replace("\n", " ")
        return text, text.count(" ") + 1
    words = text.split()
    return " ".join(words), len(words)


def resolve_dates(
    published: datetime | None,
    updated: datetime | None,
    fetched_at: datetime,
    future_limit: datetime,
) -> tuple[datetime, datetime | None, str]:
    """(published_at, updated_at, date_source); see the module docstring."""
    if published is not None:
        when, source = published, "feed"
    elif updated is not None:
        when, source = updated, "updated"
    else:
        when, source = fetched_at, "first_seen"
    if when > future_limit:
        when, source = fetched_at, "clamped"
    if updated is not None:
        if updated > future_limit:
            updated = fetched_at
        if updated < when:
            updated = when
    return when, updated, source


_ANGLE_EMAIL = re.compile(r"\s*<[^<>@\s]+@[^<>\s]+>\s*")
_PAREN_NAME = re.compile(r"^\s*\S+@\S+\s*\((.+)\)\s*$")
_EMAIL = re.compile(r"^\s*(?:mailto:)?[^\s@()<>]+@[^\s@()<>]+\.[^\s@()<>]+\s*$")
_BARE_EMAIL = re.compile(r"\(?\b[^\s@()<>]+@[^\s@()<>]+\.[a-z]{2,}\b\)?", re.I)


def _unique(raw: Iterable[str], clean: Callable[[str], str]) -> tuple[str, ...]:
    """`clean` of each non-empty value, empty results dropped, the first of each
    case-insensitive spelling kept, in order."""
    out: dict[str, str] = {}
    for value in raw:
        v = clean(value) if value else ""
        if v and v.casefold() not in out:
            out[v.casefold()] = v
    return tuple(out.values())


def clean_authors(raw: Iterable[str]) -> tuple[str, ...]:
    """Author names, emails stripped, de-duplicated case-insensitively."""
    return _unique(raw, _author_name)


@lru_cache(maxsize=4096)  # a feed names the same few authors in every entry
def _author_name(value: str) -> str:
    v = _html.unescape(value)
    m = _PAREN_NAME.match(v)
    if m:
        v = m.group(1)
    elif _EMAIL.match(v):
        return ""
    else:
        v = _ANGLE_EMAIL.sub(" ", v)
        v = _BARE_EMAIL.sub(" ", v)
    name = collapse_ws(v).strip(" ,;()")
    if name.lower().startswith("by "):
        name = name[3:].strip()
    return name


def clean_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, whitespace collapsed, de-duplicated case-insensitively."""
    return _unique(raw, _tag)


@lru_cache(maxsize=4096)  # the same categories recur in every entry of a feed
def _tag(value: str) -> str:
    return collapse_ws(_html.unescape(value))


def _title(entry: RawEntry) -> str:
    if not entry.title:
        return ""
    if entry.title_type == "text/plain":
        return collapse_ws(entry.title)
    return collapse_ws(html_to_text(sanitize(entry.title)))


def _pick_content(contents: Sequence[Content], summary: Content | None) -> Content | None:
    best: Content | None = None
    for c in contents:
        if best is None or (c.type != "text/plain", len(c.value)) > (
            best.type != "text/plain",
            len(best.value),
        ):
            best = c
    if best is None:
        return summary
    if summary is not None and len(summary.value) > 2 * len(best.value) + 200:
        return summary  # a stub <content> beside the real text in <description>
    return best


def _to_html(c: Content, base: str) -> str:
    if c.type == "text/plain":
        return text_to_html(c.value)
    return sanitize(c.value, base)


def _resolve(base: str, ref: str | None) -> str | None:
    if not ref:
        return None
    if ref.startswith(_ABSOLUTE):  # the common case, without urljoin's cost
        return ref.strip()
    try:
        return urljoin(base, ref.strip())
    except ValueError:
        return None


_ABSOLUTE = ("http://", "https://")
# markup still present in text that came out of HTML: the feed escaped its HTML twice
_ESCAPED_MARKUP = re.compile(
    r"<(?:a\s+href=|img\s+src=|/?(?:p|br|div|span|em|strong|b|i|ul|li|h[1-6])\s*/?>)", re.I
)


def _http_url(ref: str | None, base: str) -> str | None:
    url = _resolve(base, ref)
    return url if url and is_web_url(url) else None


def _xml_safe_entry(entry: RawEntry) -> RawEntry:
    """The entry's texts without the characters XML cannot carry (`text.xml_safe`); the
    entry itself when it has none, as nearly every entry (one regex scan of each text)."""
    texts = [entry.title or "", *entry.authors, *entry.tags, *(c.value for c in entry.content)]
    if entry.summary is not None:
        texts.append(entry.summary.value)
    if all(xml_safe(t) is t for t in texts):
        return entry

    def safe(c: Content) -> Content:
        return dataclasses.replace(c, value=xml_safe(c.value))

    return dataclasses.replace(
        entry,
        title=xml_safe(entry.title) if entry.title is not None else None,
        summary=safe(entry.summary) if entry.summary is not None else None,
        content=tuple(safe(c) for c in entry.content),
        authors=tuple(xml_safe(a) for a in entry.authors),
        tags=tuple(xml_safe(t) for t in entry.tags),
        guid=xml_safe(entry.guid) if entry.guid is not None else None,
    )


def _enclosures(raw: Sequence[Enclosure], base: str) -> tuple[Enclosure, ...]:
    out: list[Enclosure] = []
    seen: set[str] = set()
    for enc in raw:
        url = _http_url(enc.url, base)
        if url is None or url in seen:
            continue
        seen.add(url)
        length = enc.length if enc.length is not None and enc.length >= 0 else None
        ctype = enc.type.strip().lower() if enc.type and enc.type.strip() else None
        out.append(Enclosure(url=url, type=ctype, length=length))
    return tuple(out)


_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)


def _is_image(medium: str | None, ctype: str | None, url: str) -> bool:
    if medium:
        return medium.lower() == "image"
    if ctype:
        return ctype.lower().startswith("image/")
    return _IMAGE_EXT.search(url) is not None


def _image(
    entry: RawEntry, enclosures: Sequence[Enclosure], content_html: str, base: str, html_base: str
) -> str | None:
    candidates: list[str] = []
    media = entry.media
    images = [m for m in media if m.kind == "content" and _is_image(m.medium, m.type, m.url)]
    # the largest declared rendition (Guardian: 140 and 460 px); document order on ties
    images.sort(key=lambda m: -(m.width or 0))
    candidates += [m.url for m in images]
    candidates += [m.url for m in media if m.kind == "thumbnail"]
    candidates += [e.url for e in enclosures if _is_image(None, e.type, e.url)]
    candidates += [m.url for m in media if m.kind == "image"]
    for c in candidates:
        url = _http_url(c, base)
        if url:
            return url
    img = first_image(content_html)
    return _http_url(img, html_base) if img else None
