"""RSS 2.0 (and 0.91-0.94) on the lxml fast path: the channel's fields, each item's entry,
Media RSS as feedparser files it. Anything feedparser would read differently is a doubt."""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..authors import feedparser_author
from ..models import Content, Enclosure, Media, ParsedFeed, RawEntry
from ._fast_values import (
    _ATOM,
    _amp_ref,
    _authors_from_string,
    _Ctx,
    _date,
    _DoubtError,
    _finish,
    _harmless_unknown,
    _join,
    _key,
    _looks_like_html,
    _text,
)
from ._shared import _entry_base, _int, _s, _skips, _u

_RSS_CHANNEL_SKIP = frozenset(
    [
        "description",
        "generator",
        "copyright",
        "managingeditor",
        "webmaster",
        "category",
        "docs",
        "cloud",
        "image",
        "lastbuilddate",
        "pubdate",
        "rating",
        "skiphours",
        "skipdays",
        "textinput",
    ]
)


_LANG_BASE_ATTRS = etree.XPath("//@*[local-name()='lang' or local-name()='base']")


def _no_lang_base(root: etree._Element) -> None:
    """RSS here is read without xml:lang / xml:base bookkeeping: refuse documents using them
    (a compiled XPath over the tree: much cheaper than a regex over the bytes)."""
    if _LANG_BASE_ATTRS(root):
        raise _DoubtError("xml:lang / xml:base in RSS")


def _rss_root(root: etree._Element) -> str:
    """The feedparser format name of an <rss> root ("rss20" / "rss09x"); its attributes
    checked (the start tag is all that is needed)."""
    if set(root.attrib) - {"version"}:
        raise _DoubtError("rss attributes")
    version = root.get("version", "")
    return "rss09x" if version in ("0.91", "0.92", "0.93", "0.94") else "rss20"


class _RssChannel:
    """The channel-level fields of an RSS document, given its non-item children one at a
    time in document order (`child`) and told of each item (`items`): shared by the tree walk
    of `fast_parse` and the stream of `iter_fast_parse`, so both read a channel the same way."""

    __slots__ = ("base", "ctx", "items", "language", "link", "seen", "sy_freq", "sy_period",
                 "title", "ttl")  # fmt: skip

    def __init__(self, ctx: _Ctx, base: str) -> None:
        self.ctx = ctx
        self.base = base
        self.items = 0
        self.title: str | None = None
        self.link: str | None = None
        self.language: str | None = None
        self.ttl: str | None = None
        self.sy_period: str | None = None
        self.sy_freq: str | None = None
        self.seen: set[str] = set()

    def child(self, el: etree._Element) -> None:
        ctx, base, seen = self.ctx, self.base, self.seen
        tag = el.tag
        if not isinstance(tag, str):
            return
        if tag[0] != "{":
            tag = tag.lower()
        if self.items and tag in ("title", "link", "language"):
            raise _DoubtError(f"channel {tag} after items")
        if tag in ("title", "link", "language", "ttl"):
            if tag in seen:
                raise _DoubtError(f"two channel <{tag}>")
            seen.add(tag)
            if el.attrib:
                raise _DoubtError(f"attributes on channel <{tag}>")
            text = _text(el)
            if tag == "title":
                self.title = _finish(ctx, text.strip())
            elif tag == "link":
                v = text.strip()
                v = _finish(ctx, _join(base, v))
                self.link = _amp_ref(v)
            elif tag == "language":
                self.language = _finish(ctx, text.strip())
            else:
                self.ttl = _finish(ctx, text.strip())
            return
        if tag in _RSS_CHANNEL_SKIP:
            return
        key = _key(el)
        if key in ("sy_updateperiod", "sy_updatefrequency"):
            if key in seen or el.attrib:
                raise _DoubtError(f"two <{key}>")
            seen.add(key)
            if key == "sy_updateperiod":
                self.sy_period = _finish(ctx, _text(el).strip())
            else:
                self.sy_freq = _finish(ctx, _text(el).strip())
            return
        if tag == f"{{{_ATOM}}}link":
            _atom_link_not_alternate(el)
            return
        _harmless_unknown(el)

    def feed(
        self, fmt: str, bozo: str | None, body: bytes, entries: tuple[RawEntry, ...]
    ) -> ParsedFeed:
        skip_hours, skip_days = _skips(body) if b"skip" in body else ((), ())
        return ParsedFeed(
            url=self.ctx.url,
            format=fmt,
            title=_s(self.title),
            link=_u(self.link),
            language=_s(self.language),
            entries=entries,
            ttl_minutes=_int(self.ttl),
            sy_update_period=(_s(self.sy_period) or "").lower() or None,
            sy_update_frequency=_int(self.sy_freq),
            skip_hours=skip_hours,
            skip_days=skip_days,
            bozo=bozo,
            parser="fast",
        )


def _rss(root: etree._Element, ctx: _Ctx, base: str, bozo: str | None, body: bytes) -> ParsedFeed:
    _no_lang_base(root)
    fmt = _rss_root(root)
    channels = [c for c in root if c.tag == "channel"]
    if len(channels) != 1 or len(root) != 1:
        raise _DoubtError("not one <channel>")
    channel = channels[0]
    if channel.attrib:
        raise _DoubtError("channel attributes")
    state = _RssChannel(ctx, base)
    entries: list[RawEntry] = []
    for el in channel:
        if el.tag == "item":
            entries.append(_rss_item(el, ctx, base))
            state.items += 1
        else:
            state.child(el)
    return state.feed(fmt, bozo, body, tuple(entries))


def _atom_link_not_alternate(el: etree._Element) -> None:
    rel = el.get("rel", "alternate")
    if rel == "alternate" or el.get("href") is None or len(el):
        raise _DoubtError("atom:link alternate in RSS")


_RSS_ITEM_SINGLE = frozenset(("title", "link", "guid", "pubdate", "description", "comments"))


def _rss_item(item: etree._Element, ctx: _Ctx, base: str) -> RawEntry:
    if item.attrib:
        raise _DoubtError("item attributes")
    seen: set[str] = set()
    guid: str | None = None
    guid_is_link = False
    link: str | None = None
    has_link = False
    title: str | None = None
    title_type = "text/plain"
    has_title = False
    summary: str | None = None
    content_value: str | None = None
    authors: list[str] = []
    split: list[tuple[str | None, str | None, str]] = []  # (name, email, as written)
    published = updated = None
    published_raw: str | None = None
    updated_raw: str | None = None
    tags: list[tuple[str, str | None]] = []
    enclosures: list[Enclosure] = []
    enc_seen: set[str] = set()
    extra: dict[str, Any] = {}
    orig_link: str | None = None
    last_author: str | None = None
    media_content: list[Media] = []
    media_thumbs: list[Media] = []
    for el in item:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        key = tag.lower() if tag[0] != "{" else _key(el)
        if key in _RSS_ITEM_SINGLE or key in ("content_encoded", "dc_date"):
            if key in seen:
                raise _DoubtError(f"two <{key}>")
            seen.add(key)
        if key == "title":
            if el.attrib:
                raise _DoubtError("title attributes")
            v = _text(el).strip()
            if ("<" in v or "&" in v) and _looks_like_html(v):
                title_type = "text/html"
            title = _finish(ctx, v)
            has_title = True
        elif key == "link":
            if el.attrib:
                raise _DoubtError("link attributes")
            v = _text(el).strip()
            v = _finish(ctx, _join(base, v))
            v = v.replace("&amp;", "&")
            link = _amp_ref(v)
            has_link = True
        elif key == "guid":
            attrs = {k.lower(): v for k, v in el.attrib.items()}
            if len(attrs) != len(el.attrib) or set(attrs) - {"ispermalink"}:
                raise _DoubtError("guid attributes")
            guid_is_link = attrs.get("ispermalink", "true") == "true"
            v = _text(el).strip()
            if v and guid_is_link:
                v = _join(base, v)
            guid = _finish(ctx, v)
        elif key == "pubdate":
            published_raw = _finish(ctx, _text(el).strip())
            published = _date(published_raw) if published_raw else None
        elif key == "dc_date":
            updated_raw = _finish(ctx, _text(el).strip())
            updated = _date(updated_raw) if updated_raw else None
        elif key in ("author", "dc_creator"):
            if el.attrib:
                raise _DoubtError("author attributes")
            v = _finish(ctx, _text(el).strip())
            last_author = v
            if v:
                split.append((*_authors_from_string(v), v))
        elif key in ("category", "dc_subject"):
            v = _finish(ctx, _text(el).strip())
            if not v:
                raise _DoubtError("empty category")
            if set(el.attrib) - ({"domain"} if key == "category" else set()):
                raise _DoubtError("category attributes")
            domain = el.get("domain") if key == "category" else None
            t = (v, domain)
            if domain is not None or t not in tags:
                tags.append(t)
        elif key == "description":
            if el.attrib:
                raise _DoubtError("description attributes")
            summary = _finish(ctx, _text(el).strip())
        elif key == "content_encoded":
            if el.attrib:
                raise _DoubtError("content attributes")
            content_value = _finish(ctx, _text(el).strip())
        elif key == "enclosure":
            if len(el) or (el.text or "").strip():
                raise _DoubtError("enclosure content")
            if set(el.attrib) - {"url", "type", "length"}:
                raise _DoubtError("enclosure attributes")
            href = _u(el.get("url"))
            if href and href not in enc_seen:
                enc_seen.add(href)
                enclosures.append(
                    Enclosure(url=href, type=_s(el.get("type")), length=_int(el.get("length")))
                )
        elif key == "comments":
            v = _text(el).strip()
            v = _finish(ctx, _join(base, v))
            if v.strip():
                extra["comments"] = _u(" ".join(v.split()))
        elif key == "feedburner_origlink":
            if "feedburner_origlink" in seen or el.attrib:
                raise _DoubtError("origLink")
            seen.add("feedburner_origlink")
            orig_link = _finish(ctx, _text(el).strip())
        elif key in _MEDIA_KEYS:
            _media(el, key, media_content, media_thumbs, bool(title))
        elif tag == f"{{{_ATOM}}}link":
            _atom_link_not_alternate(el)
        else:
            _harmless_unknown(el)
    for i, (name, email, raw) in enumerate(split):
        # as the feedparser path, which has the written string of the last author only
        a = feedparser_author(name, email, raw if i == len(split) - 1 else None)
        if a:
            authors.append(a)
    if not authors and _s(last_author):
        authors.append(str(_s(last_author)))
    if not has_link and guid_is_link and guid is not None:
        link = guid
    contents: tuple[Content, ...] = ()
    summary_c: Content | None = None
    if content_value is not None:
        contents = (
            (Content(content_value, "text/html", _u(base), None),) if content_value.strip() else ()
        )
    if summary is not None:
        summary_c = Content(summary, "text/html", _u(base), None) if summary.strip() else None
    elif content_value is not None:
        copied = _s(content_value)
        summary_c = Content(copied) if copied else None
    entry_base = _entry_base(contents, summary_c, _u(base) if has_title else None)
    return RawEntry(
        guid=_u(guid),
        link=_u(link),
        orig_link=_u(orig_link),
        title=_s(title),
        title_type=title_type,
        summary=summary_c,
        content=contents,
        authors=tuple(authors),
        published=published,
        published_raw=_s(published_raw),
        updated=updated,
        updated_raw=_s(updated_raw),
        tags=tuple(t for t, _ in tags),
        enclosures=tuple(enclosures),
        media=(*media_content, *media_thumbs),
        language=None,
        base=entry_base,
        extra=extra,
    )


_MEDIA_KEYS = frozenset(
    ("media_content", "media_thumbnail", "media_group", "media_credit", "media_rating",
     "media_restriction", "media_license")
)  # fmt: skip


def _media(
    el: etree._Element, key: str, content: list[Media], thumbs: list[Media], title_done: bool
) -> None:
    """Media RSS as feedparser's mediarss namespace files it (what _fallback._media reads);
    anything with children that feedparser would map elsewhere (media:title, media:description
    inside a group ...) is refused."""
    if key == "media_group":
        if el.attrib:
            raise _DoubtError("media:group attributes")
        for child in el:
            if not isinstance(child.tag, str):
                continue
            ckey = _key(child)
            if ckey == "media_group" or ckey not in _MEDIA_KEYS:
                raise _DoubtError(f"{ckey} in media:group")
            _media(child, ckey, content, thumbs, title_done)
        return
    if len(el):
        if key != "media_content":
            raise _DoubtError(f"{key} children")
        for child in el:
            if not isinstance(child.tag, str):
                continue
            ckey = _key(child)
            if ckey == "media_title" and title_done and not len(child):
                # ignored by feedparser once the entry has a non-empty title (title_depth)
                continue
            if ckey not in ("media_thumbnail", "media_credit", "media_rating", "media_license"):
                raise _DoubtError(f"{ckey} in media:content")
            _media(child, ckey, content, thumbs, title_done)
    if key not in ("media_content", "media_thumbnail"):
        return  # kept by feedparser under keys nobody reads
    attrs = {k.lower(): v for k, v in el.attrib.items()}
    if len(attrs) != len(el.attrib):
        raise _DoubtError("attribute names differing only in case")
    url = _s(attrs.get("url"))
    if key == "media_content":
        if url:
            content.append(
                Media(
                    url=str(_u(url)),
                    kind="content",
                    type=_s(attrs.get("type")),
                    medium=_s(attrs.get("medium")),
                    width=_int(attrs.get("width")),
                    height=_int(attrs.get("height")),
                )
            )
        return
    if "url" not in attrs and (el.text or "").strip():
        raise _DoubtError("media:thumbnail URL as text")
    if url:
        thumbs.append(
            Media(
                url=url,
                kind="thumbnail",
                medium="image",
                width=_int(attrs.get("width")),
                height=_int(attrs.get("height")),
            )
        )
