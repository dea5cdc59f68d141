"""Atom 1.0 on the lxml fast path: the feed's fields and each entry, with feedparser's
xml:base / xml:lang scoping. Anything feedparser would read differently is a doubt."""

from __future__ import annotations

from lxml import etree

from ..authors import feedparser_author
from ..models import Content, Enclosure, ParsedFeed, RawEntry
from ._fast_values import (
    _A,
    _XML_BASE,
    _XML_LANG,
    _amp_ref,
    _content_type,
    _Ctx,
    _date,
    _DoubtError,
    _finish,
    _harmless_unknown,
    _join,
    _make_safe,
    _text,
    _urljoin,
)
from ._shared import _entry_base, _entry_language, _int, _s, _u

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = frozenset(("text/plain", "text/html"))


def _scope(el: etree._Element, base: str, lang: str | None) -> tuple[str, str | None]:
    """feedparser's unknown_starttag bookkeeping of xml:base / xml:lang for `el`."""
    if not el.attrib:
        return base, lang
    xb = el.get(_XML_BASE, el.get("base"))
    if xb is not None:
        if not base:
            # feedparser only restores a truthy parent base: the child's would leak
            raise _DoubtError("xml:base without a document base")
        base = _make_safe(base, xb) or base
    xl = el.get(_XML_LANG, el.get("lang"))
    if xl == "":
        lang = None
    elif xl is not None:
        lang = xl
    return base, lang


def _push_lang(lang: str | None) -> str | None:
    return lang.replace("_", "-") if lang else lang


def _atom_type(el: etree._Element) -> str:
    t = _content_type(el.get("type", "text"))
    if t not in _TEXT_TYPES:
        raise _DoubtError(f"content type {t}")
    if el.get("mode") is not None or el.get("src") is not None:
        raise _DoubtError("content mode / src")
    return t


def _atom_link(el: etree._Element, base: str) -> tuple[str, str, str, str | None]:
    """(rel, type, resolved href, length) of an atom:link, as feedparser's _start_link."""
    if len(el):
        raise _DoubtError("link children")
    rel = el.get("rel", "alternate")
    ltype = el.get("type", "application/atom+xml" if rel == "self" else "text/html")
    href = el.get("url", el.get("uri", el.get("href")))
    if not href:
        raise _DoubtError("link without href")
    return rel, ltype, _urljoin(base, href), el.get("length")


class _AtomFeed:
    """The feed-level fields of an Atom document: `__init__` reads the root's start tag
    (xml:base / xml:lang scope), `child` each non-entry child in document order; shared by
    `fast_parse` and `iter_fast_parse`."""

    __slots__ = ("base", "ctx", "entries", "feed_lang", "lang", "link", "seen", "title")

    def __init__(self, root: etree._Element, ctx: _Ctx, base: str) -> None:
        if root.get("version") is not None:
            raise _DoubtError("atom version attribute")
        self.ctx = ctx
        self.base, self.lang = _scope(root, base, None)
        self.feed_lang = _push_lang(self.lang) if self.lang else None
        self.entries = 0
        self.title: str | None = None
        self.link: str | None = None
        self.seen: set[str] = set()

    def entry(self, el: etree._Element) -> RawEntry:
        self.entries += 1
        return _atom_entry(el, self.ctx, self.base, self.lang, self.feed_lang)

    def child(self, el: etree._Element) -> None:
        ctx, seen = self.ctx, self.seen
        tag = el.tag
        if not isinstance(tag, str):
            return
        if self.entries and tag in (_A + "title", _A + "link", _A + "id"):
            raise _DoubtError("feed metadata after entries")
        ebase, _ = _scope(el, self.base, self.lang)
        if tag == _A + "title":
            if "title" in seen:
                raise _DoubtError("two feed titles")
            seen.add("title")
            _atom_type(el)
            self.title = _finish(ctx, _text(el).strip())
        elif tag == _A + "link":
            rel, ltype, href, _ = _atom_link(el, ebase)
            if rel == "alternate" and _content_type(ltype) in _HTML_TYPES:
                self.link = href
        elif tag == _A + "id":
            if "id" in seen or el.attrib:
                raise _DoubtError("feed id")
            seen.add("id")
            v = _text(el).strip()
            feed_id = _finish(ctx, _join(ebase, v))
            if self.link is None:
                self.link = feed_id
        elif tag in (_A + "subtitle", _A + "rights"):
            _atom_type(el)
            _text(el)
        elif tag in (
            _A + "updated",
            _A + "published",
            _A + "generator",
            _A + "icon",
            _A + "logo",
            _A + "category",
        ):
            if len(el):
                raise _DoubtError(f"{tag} children")
        elif tag in (_A + "author", _A + "contributor"):
            _person(el)
        else:
            _harmless_unknown(el)

    def feed(self, bozo: str | None, entries: tuple[RawEntry, ...]) -> ParsedFeed:
        link = _amp_ref(self.link) if self.link is not None else None
        return ParsedFeed(
            url=self.ctx.url,
            format="atom10",
            title=_s(self.title),
            link=_u(link),
            language=_s(self.feed_lang),
            entries=entries,
            bozo=bozo,
            parser="fast",
        )


def _atom(root: etree._Element, ctx: _Ctx, base: str, bozo: str | None) -> ParsedFeed:
    state = _AtomFeed(root, ctx, base)
    entries: list[RawEntry] = []
    for el in root:
        if el.tag == _A + "entry":
            entries.append(state.entry(el))
        else:
            state.child(el)
    return state.feed(bozo, tuple(entries))


def _person(el: etree._Element) -> tuple[str | None, str | None]:
    """(name, email) of an Atom person construct: raw stripped text, as feedparser keeps it."""
    name = email = None
    if el.attrib and set(el.attrib) - {_XML_LANG}:
        raise _DoubtError("person attributes")
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if not child.tag.startswith(_A):
            _harmless_unknown(child)  # Blogger's gd:image ...
            continue
        if child.attrib:
            raise _DoubtError("person child attributes")
        if child.tag == _A + "name":
            name = _text(child).strip()
        elif child.tag == _A + "email":
            email = _text(child).strip()
        elif child.tag == _A + "uri":
            _text(child)
        else:
            raise _DoubtError(f"person child {child.tag}")
    return name, email


def _atom_entry(
    entry: etree._Element, ctx: _Ctx, base: str, lang: str | None, feed_lang: str | None
) -> RawEntry:
    if set(entry.attrib) - {_XML_LANG, _XML_BASE}:
        raise _DoubtError("entry attributes")
    base, lang = _scope(entry, base, lang)
    seen: set[str] = set()
    guid: str | None = None
    link: str | None = None
    title: str | None = None
    title_type = "text/plain"
    title_c: tuple[str, str | None] | None = None  # (base, language) of the title
    summary_c: Content | None = None
    content: Content | None = None
    authors: list[str] = []
    last_author: str | None = None
    published = updated = None
    published_raw: str | None = None
    updated_raw: str | None = None
    tags: list[tuple[str | None, str | None, str | None]] = []
    enclosures: list[Enclosure] = []
    enc_seen: set[str] = set()
    for el in entry:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        ebase, elang = _scope(el, base, lang)
        if tag.startswith(_A):
            local = tag[len(_A) :]
            if local in ("id", "title", "summary", "content", "published", "updated"):
                if local in seen:
                    raise _DoubtError(f"two <{local}>")
                seen.add(local)
            if local == "id":
                if set(el.attrib) - {_XML_LANG, _XML_BASE}:
                    raise _DoubtError("id attributes")
                v = _text(el).strip()
                guid = _finish(ctx, _join(ebase, v))
                if link is None:
                    link = guid
            elif local == "title":
                title_type = _atom_type(el)
                title = _finish(ctx, _text(el).strip())
                title_c = (ebase, _push_lang(elang))
            elif local == "link":
                rel, ltype, href, length = _atom_link(el, ebase)
                if rel == "alternate" and _content_type(ltype) in _HTML_TYPES:
                    link = href
                elif rel == "enclosure" and href not in enc_seen:
                    enc_seen.add(href)
                    enclosures.append(
                        Enclosure(url=str(_u(href)), type=_s(ltype), length=_int(length))
                    )
            elif local in ("published", "updated"):
                if set(el.attrib) - {_XML_LANG, _XML_BASE}:
                    raise _DoubtError("date attributes")
                raw = _finish(ctx, _text(el).strip())
                dt = _date(raw) if raw else None
                if local == "published":
                    published, published_raw = dt, raw
                else:
                    updated, updated_raw = dt, raw
            elif local == "summary":
                t = _atom_type(el)
                v = _finish(ctx, _text(el).strip())
                summary_c = Content(v, t, _u(ebase), _s(_push_lang(elang))) if v.strip() else None
                seen.add("summary_el")
            elif local == "content":
                t = _atom_type(el)
                v = _finish(ctx, _text(el).strip())
                content = Content(v, t, _u(ebase), _s(_push_lang(elang))) if v.strip() else None
                content_value = v
                seen.add("content_el")
            elif local == "author":
                name, email = _person(el)
                last_author = None
                a = feedparser_author(name, email, atom=True)
                if a:
                    authors.append(a)
            elif local == "contributor":
                _person(el)
            elif local == "category":
                if len(el) or (el.text or "").strip():
                    raise _DoubtError("category text")
                t3 = (el.get("term"), el.get("scheme", el.get("domain")), el.get("label"))
                if (t3[0] or t3[1] or t3[2]) and t3 not in tags:
                    tags.append(t3)
            elif local == "rights":
                _atom_type(el)
                _text(el)
            else:
                raise _DoubtError(f"atom:{local} in entry")
        else:
            _harmless_unknown(el)
    if "summary_el" not in seen and "content_el" in seen:
        v2 = _s(content_value)
        summary_c = Content(v2) if v2 else None
    contents = (content,) if content is not None else ()
    entry_base = _entry_base(contents, summary_c, _u(title_c[0]) if title_c else None)
    title_language = _s(title_c[1]) if title_c else None
    language = _entry_language(contents, summary_c, title_language, feed_lang)
    del last_author
    return RawEntry(
        guid=_u(guid),
        link=_u(link),
        title=_s(title),
        title_type="text/html" if "html" in title_type else "text/plain",
        summary=summary_c,
        content=contents,
        authors=tuple(authors),
        published=published,
        published_raw=_s(published_raw),
        updated=updated,
        updated_raw=_s(updated_raw),
        tags=tuple(str(t or lb).strip() for t, _, lb in tags if _s(t) or _s(lb)),
        enclosures=tuple(enclosures),
        language=language,
        base=entry_base,
    )
