"""The lxml fast path's value steps: each element's text becomes what feedparser would make
of it (`_FeedParserMixin.pop`: strip, resolve link / id / comments against the base URI,
undo UTF-8-read-as-Latin-1, map the cp1252 range), RFC 822 dates read without feedparser's
cost, author strings split as feedparser splits them, element names keyed as feedparser keys
them; and `_DoubtError`, raised anywhere in the fast path to hand the document to feedparser.

feedparser's own internals are reused where the fast path must produce the same values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import feedparser.api
import feedparser.datetimes
import feedparser.mixin
import feedparser.urls
from lxml import etree

from ._shared import _dt, _localized_date

_ATOM = "http://www.w3.org/2005/Atom"
_XML = "http://www.w3.org/XML/1998/namespace"
_A = f"{{{_ATOM}}}"
_XML_LANG = f"{{{_XML}}}lang"
_XML_BASE = f"{{{_XML}}}base"


def _known_namespaces() -> dict[str, str]:
    """feedparser's own prefixes for the namespaces it knows (lower-cased URI -> prefix)."""
    known: dict[str, str] = {}
    for c in feedparser.api.StrictFeedParser.__mro__:
        known.update(getattr(c, "supported_namespaces", {}))
    return {k.lower(): v for k, v in known.items()}


_KNOWN_NS = _known_namespaces()
# method names of feedparser's strict parser ("_start_dc_creator" ...)
_HANDLERS = frozenset(
    n for n in dir(feedparser.api.StrictFeedParser) if n.startswith(("_start_", "_end_"))
)
# feedparser internals reused so values are produced the same way
_urljoin: Any = feedparser.urls._urljoin
_make_safe: Any = feedparser.urls.make_safe_absolute_uri
_looks_like_html: Any = feedparser.mixin._FeedParserMixin.looks_like_html
_parse_date: Any = feedparser.datetimes._parse_date
_CP1252: dict[int, str] = dict(feedparser.mixin._cp1252)

# entry keys that the feedparser path reads: an unknown element landing on one means doubt
_READ_KEYS = frozenset(
    [
        "id",
        "link",
        "feedburner_origlink",
        "pheedo_origlink",
        "title",
        "title_detail",
        "summary",
        "summary_detail",
        "content",
        "authors",
        "author",
        "published",
        "published_parsed",
        "updated",
        "updated_parsed",
        "tags",
        "enclosures",
        "links",
        "media_content",
        "media_thumbnail",
        "image",
        "comments",
        "itunes_duration",
        "itunes_episode",
        "itunes_season",
        "itunes_episodetype",
        "itunes_explicit",
        "itunes_subtitle",
        "source",
        "language",
        "ttl",
        "sy_updateperiod",
        "sy_updatefrequency",
        "subtitle",
    ]
)

_RFC822 = re.compile(
    r"^(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) "
    r"(GMT|UTC|UT|Z|[+-]\d{4})$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_AMP_REF = re.compile("&([A-Za-z0-9_]+);")


class _DoubtError(Exception):
    """Raised anywhere inside: the caller should use feedparser."""


class _Ctx:
    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url


# --------------------------------------------------------------------------- values


def _text(el: etree._Element) -> str:
    if len(el):
        raise _DoubtError("markup inside a text element")
    return el.text or ""


def _finish(ctx: _Ctx, s: str) -> str:
    """feedparser's last steps of pop(): UTF-8 read as Latin-1 undone (its parser always
    works on UTF-8, whatever the document's encoding was), cp1252 range mapped."""
    if not s.isascii():
        try:
            s = s.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        s = s.translate(_CP1252)
    return s


def _join(base: str, v: str) -> str:
    """feedparser's resolve_uri (urls._urljoin); the common no-base case without its cost."""
    if not v:
        return v
    if not base and ":///" not in v:
        return v  # _urifixer changes nothing and urljoin("", v) is v
    result: str = _urljoin(base, v)
    return result


def _amp_ref(v: str) -> str:
    """feedparser's fix of `&name;` left in link query strings."""
    return _AMP_REF.sub(r"&\g<1>", v) if "&" in v else v


def _date(value: str) -> datetime | None:
    m = _RFC822.match(value)
    if m:
        day, mon, year, hh, mm, ss, zone = m.groups()
        month = _MONTHS.get(mon)
        if month is not None and int(hh) < 24 and int(mm) < 60 and int(ss) < 60:
            try:
                dt = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
            except ValueError:
                dt = None
            if dt is not None:
                if zone[0] in "+-":
                    sign = 1 if zone[0] == "+" else -1
                    offset = sign * (int(zone[1:3]) * 60 + int(zone[3:5]))
                    if int(zone[3:5]) >= 60:
                        return _dt(_parse_date(value)) or _localized_date(value)
                    try:
                        return datetime.fromtimestamp(dt.timestamp() - offset * 60, UTC)
                    except (OverflowError, ValueError, OSError):
                        return None  # past 9999 in UTC: no date, as on feedparser's path
                return dt
    return _dt(_parse_date(value)) or _localized_date(value)


def _authors_from_string(author: str) -> tuple[str | None, str | None]:
    """feedparser's _sync_author_detail for a plain author string: (name, email)."""
    email = None
    m = _EMAIL.search(author) if "@" in author else None
    if m:
        email = m.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    return (author or None), email


def _content_type(t: str) -> str:
    t = t.lower()
    if t in ("text", "plain"):
        return "text/plain"
    if t == "html":
        return "text/html"
    if t == "xhtml":
        return "application/xhtml+xml"
    return t


_KEY_CACHE: dict[tuple[str, str | None], str] = {}


def _key(el: etree._Element) -> str:
    """The name feedparser gives an element ("dc_creator", "title", "wfw_commentrss")."""
    tag = el.tag
    assert isinstance(tag, str)
    prefix_given = el.prefix
    cached = _KEY_CACHE.get((tag, prefix_given))
    if cached is not None:
        return cached
    qn = etree.QName(tag)
    ns = (qn.namespace or "").lower()
    if "backend.userland.com/rss" in ns:
        ns = "http://backend.userland.com/rss"
    prefix = _KNOWN_NS.get(ns)
    if prefix is None:
        prefix = (prefix_given or "").lower()
    local = qn.localname.lower()
    key = f"{prefix}_{local}" if prefix else local
    if len(_KEY_CACHE) < 4096:
        _KEY_CACHE[(tag, prefix_given)] = key
    return key


def _harmless_unknown(el: etree._Element) -> None:
    """Raise _DoubtError unless feedparser would file `el` under a key nobody reads."""
    key = _key(el)
    if f"_start_{key}" in _HANDLERS or f"_end_{key}" in _HANDLERS or key in _READ_KEYS:
        raise _DoubtError(key)
    if len(el):
        raise _DoubtError(f"{key} has children")
    if el.get(f"{{{_XML}}}lang") is not None or el.get(f"{{{_XML}}}base") is not None:
        raise _DoubtError("xml:lang / xml:base")
