"""A fast lxml path for well-formed RSS 2.0 and Atom 1.0: bytes -> ParsedFeed, or None.

    fast_parse(body, url, headers) -> ParsedFeed | None
    iter_fast_parse(body, url, headers) -> (ParsedFeed without entries, Iterator[RawEntry]) | None
                                           the same, streamed in constant memory (big feeds)

It produces exactly what `ingest.parse.parse` (feedparser with sanitize_html=False,
resolve_relative_uris=False) produces for the same document, about fifty times faster, and
returns None on any doubt so the caller falls back to feedparser:

- not well-formed, a DOCTYPE / entity declarations (never resolved: resolve_entities=False,
  no_network=True, huge_tree off), a BOM, an encoding other than UTF-8 (or plain ASCII);
- a root other than <rss version="2.0..."> or an Atom 1.0 <feed>;
- an element feedparser maps specially that this module does not reproduce (media:*, itunes:*,
  source, xhtml content, duplicated single-valued elements, xml:base / xml:lang in RSS ...),
  or an unknown element that would land on a key the parse stage reads.

Values go through the same steps as in feedparser's `_FeedParserMixin.pop`: strip, resolve
link / id / comments against the base URI, guess HTML in RSS titles, undo UTF-8-read-as-Latin-1
and map the cp1252 range. The equality is proven by tests/test_fastparse_differential.py over
every well-formed file of the shared corpus (see issue #6).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from lxml import etree

from ..authors import feedparser_author
from ..models import Content, Enclosure, Media, ParsedFeed, RawEntry

__all__ = ["fallback_reason", "fast_parse", "iter_fast_parse"]

_ATOM = "http://www.w3.org/2005/Atom"
_DC = "http://purl.org/dc/elements/1.1/"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_SY = "http://purl.org/rss/1.0/modules/syndication/"
_FEEDBURNER = "http://rssnamespace.org/feedburner/ext/1.0"
_XML = "http://www.w3.org/XML/1998/namespace"

# feedparser's own prefixes for the namespaces it knows (lower-cased URI -> prefix)
_KNOWN_NS: dict[str, str] = {}
# method names of feedparser's strict parser ("_start_dc_creator" ...)
_HANDLERS: frozenset[str] = frozenset()
# feedparser internals reused so values are produced the same way
_urljoin: Any = None
_make_safe: Any = None
_looks_like_html: Any = None
_parse_date: Any = None
_CP1252: dict[int, str] = {}
_localized_date: Any = None  # ingest.parse's reader for non-English month names
_unsentinel: Any = None  # ingest.parse._u: the sentinel document base taken back out
_skips: Any = None  # ingest.parse._skips: skipHours / skipDays read from the raw bytes
_SENTINEL_DIR = ""
_SENTINEL_ROOT = "\x00"  # set from ingest.parse in _setup

# entry keys that ingest.parse reads: an unknown element landing on one of them means doubt
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

_PARSER: etree.XMLParser | None = None
_LATIN1_PARSER: etree.XMLParser | None = None
_LATIN1_NAMES = ("iso-8859-1", "latin-1", "latin1")
_XML_DECL = re.compile(rb"^<\?xml[^>]*?>")
_PI_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
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


def _setup() -> etree.XMLParser:
    global _PARSER, _KNOWN_NS, _HANDLERS, _urljoin, _make_safe, _looks_like_html, _parse_date
    global _CP1252, _localized_date, _unsentinel, _SENTINEL_DIR, _SENTINEL_ROOT, _skips
    if _PARSER is not None:
        return _PARSER
    import feedparser.api
    import feedparser.datetimes
    import feedparser.mixin
    import feedparser.urls

    from . import _fallback as _parse_mod

    _localized_date = _parse_mod._localized_date
    _unsentinel = _parse_mod._u
    _skips = _parse_mod._skips
    _SENTINEL_DIR = _parse_mod._SENTINEL_DIR
    _SENTINEL_ROOT = _parse_mod._SENTINEL_ROOT
    cls = feedparser.api.StrictFeedParser
    known: dict[str, str] = {}
    for c in cls.__mro__:
        known.update(getattr(c, "supported_namespaces", {}))
    _KNOWN_NS = {k.lower(): v for k, v in known.items()}
    _HANDLERS = frozenset(n for n in dir(cls) if n.startswith(("_start_", "_end_")))
    _urljoin = feedparser.urls._urljoin
    _make_safe = feedparser.urls.make_safe_absolute_uri
    _looks_like_html = feedparser.mixin._FeedParserMixin.looks_like_html
    _parse_date = feedparser.datetimes._parse_date
    _CP1252 = dict(feedparser.mixin._cp1252)
    global _LATIN1_PARSER
    _LATIN1_PARSER = _make_parser("iso-8859-1")
    _PARSER = _make_parser("utf-8")
    return _PARSER


# no entities, no network, no DTD, no huge trees: the same for the tree and streaming parsers
_SAFE: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_comments": True,
    "remove_pis": True,
    "strip_cdata": True,
    "recover": False,
}


def _make_parser(encoding: str) -> etree.XMLParser:
    """A safe parser reading the bytes as `encoding` whatever the declaration says."""
    parser: etree.XMLParser = etree.XMLParser(encoding=encoding, **_SAFE)
    return parser


# --------------------------------------------------------------------------- entry point


def fast_parse(
    body: bytes, url: str, headers: Mapping[str, str] | None = None
) -> ParsedFeed | None:
    """ParsedFeed for a well-formed RSS 2.0 / Atom 1.0 document, or None to mean "use
    feedparser". Never raises."""
    try:
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        # as ingest.parse: no header means application/xml (the declaration picks the encoding)
        hdrs.setdefault("content-type", "application/xml")
        return _fast_parse(body, url, hdrs)
    except Exception:
        return None


def fallback_reason(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> str | None:
    """Why `fast_parse` declines this document (None when it takes it): for diagnostics."""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("content-type", "application/xml")
    try:
        _fast_parse(body, url, hdrs)
    except _DoubtError as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def iter_fast_parse(
    body: bytes, url: str, headers: Mapping[str, str] | None = None
) -> tuple[ParsedFeed, Iterator[RawEntry]] | None:
    """`fast_parse` for big documents, in constant memory: (the feed with entries=(), an
    iterator of its entries in document order), or None to mean "use feedparser".

    The document is streamed twice with lxml's iterparse, each item (RSS) / entry (Atom)
    mapped by the same code as `fast_parse` and then dropped from the tree with everything
    before it, so only one item is ever held. The first pass maps and discards every item
    and reads the feed-level fields wherever they are (RSS puts <ttl>, sy:* or <skipHours>
    after the items at times): it settles every doubt fast_parse would have (well-formedness
    to the last byte included) before anything is returned, so None is returned exactly when
    `fast_parse` returns None, and the feed-level fields are complete. The second pass, run
    by the iterator, yields the entries; each equals the one `fast_parse` gives. It cannot
    doubt what the first accepted; should it fail anyway it raises ParseError naming `url`.
    Costs about twice fast_parse's CPU time and a few MB instead of ~20 x the body size."""
    try:
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        hdrs.setdefault("content-type", "application/xml")
        head: list[ParsedFeed] = []
        for _ in _stream(body, url, hdrs, head):
            pass
        parsed = head[0]
    except Exception:
        return None
    return parsed, _second_pass(body, url, hdrs)


def _second_pass(body: bytes, url: str, headers: Mapping[str, str]) -> Iterator[RawEntry]:
    from ..errors import ParseError

    try:
        yield from _stream(body, url, headers, [])
    except Exception as exc:
        raise ParseError(url, f"fast stream failed after its check pass: {exc}") from exc


# any xml:lang / xml:base (or unprefixed lang / base) at or under an element
_LANG_BASE_BELOW = etree.XPath(
    "descendant-or-self::*/@*[local-name()='lang' or local-name()='base']"
)


def _drop(el: etree._Element) -> None:
    """Free a mapped element and every sibling before it (iterparse keeps them otherwise)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _stream(
    body: bytes, url: str, headers: Mapping[str, str], head: list[ParsedFeed]
) -> Iterator[RawEntry]:
    """Yield the entries of `body` one by one, then append the feed (entries=()) to `head`.
    Raises _DoubtError (or anything else) where `_fast_parse` would."""
    read_as, bozo, base = _prepare(body, headers)
    ctx = _Ctx(url=url)
    events = etree.iterparse(
        BytesIO(body),
        events=("start", "end"),
        encoding=read_as,
        **_SAFE,
    )
    rss: _RssChannel | None = None
    atom: _AtomFeed | None = None
    fmt = ""
    depth = 0
    channels = 0
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    docinfo = el.getroottree().docinfo
                    if docinfo.doctype or docinfo.internalDTD is not None:
                        raise _DoubtError("DOCTYPE")
                    if el.tag == "rss":
                        fmt = _rss_root(el)
                        rss = _RssChannel(ctx, base)
                    elif el.tag == f"{{{_ATOM}}}feed":
                        atom = _AtomFeed(el, ctx, base)
                    else:
                        raise _DoubtError(f"root {el.tag!s}")
                elif depth == 2 and rss is not None:
                    channels += 1
                    if channels > 1 or el.tag != "channel":
                        raise _DoubtError("not one <channel>")
                    if el.attrib:
                        raise _DoubtError("channel attributes")
                continue
            depth -= 1
            if rss is not None and depth == 2:  # a child of <channel> is complete
                if _LANG_BASE_BELOW(el):
                    raise _DoubtError("xml:lang / xml:base in RSS")
                if el.tag == "item":
                    yield _rss_item(el, ctx, base)
                    rss.items += 1
                else:
                    rss.child(el)
                _drop(el)
            elif atom is not None and depth == 1:  # a child of <feed> is complete
                if el.tag == _A + "entry":
                    yield atom.entry(el)
                else:
                    atom.child(el)
                _drop(el)
    except etree.XMLSyntaxError as exc:
        raise _DoubtError("not well-formed") from exc
    if rss is not None:
        if channels != 1:
            raise _DoubtError("not one <channel>")
        head.append(rss.feed(fmt, bozo, body, ()))
    elif atom is not None:
        head.append(atom.feed(bozo, ()))
    else:
        raise _DoubtError("no root")


def _encoding(body: bytes, headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(the encoding name feedparser would settle on, its bozo message) when the document is
    certainly read as UTF-8 / ASCII by both parsers; raises _DoubtError otherwise."""
    if not body:
        raise _DoubtError("empty")
    if body[:3] == b"\xef\xbb\xbf" or body[:2] in (b"\xfe\xff", b"\xff\xfe") or body[:1] == b"\x00":
        raise _DoubtError("byte order mark")
    m = _PI_ENCODING.match(body[:200]) if body.startswith(b"<?") else None
    xml_enc = m.group(1).decode("ascii", "replace").lower() if m else ""
    ctype_raw = headers.get("content-type")
    ctype, _, params = (ctype_raw or "").partition(";")
    ctype = ctype.strip()
    http_enc = ""
    for chunk in params.split(";"):
        k, _, v = chunk.partition("=")
        if k.strip().lower() == "charset":
            http_enc = v.strip().strip("\"'")
    bozo = None
    if ctype in (
        "application/xml",
        "application/xml-dtd",
        "application/xml-external-parsed-entity",
    ) or (ctype.startswith("application/") and ctype.endswith("+xml")):
        enc = http_enc or xml_enc or "utf-8"
    elif ctype in ("text/xml", "text/xml-external-parsed-entity") or (
        ctype.startswith("text/") and ctype.endswith("+xml")
    ):
        enc = http_enc or "us-ascii"
    elif ctype.startswith("text/"):
        enc = http_enc or "us-ascii"
        bozo = f"NonXMLContentType: {ctype_raw} is not an XML media type"
    elif ctype_raw is None:
        enc = xml_enc or "iso-8859-1"
        bozo = "NonXMLContentType: no Content-type specified"
    else:
        enc = xml_enc or "utf-8"
        bozo = f"NonXMLContentType: {ctype_raw} is not an XML media type"
    if enc.lower() in ("utf-8", "utf8"):
        if xml_enc not in ("", "utf-8", "utf8"):
            raise _DoubtError(f"declared {xml_enc}, read as {enc}")
        return enc, bozo
    if enc.lower() in ("us-ascii", "ascii", *_LATIN1_NAMES) and body.isascii():
        if xml_enc not in ("", "utf-8", "us-ascii", "iso-8859-1"):
            raise _DoubtError(f"declared {xml_enc}")
        return enc, bozo
    if enc.lower() in _LATIN1_NAMES and xml_enc in ("", *_LATIN1_NAMES):
        return enc, bozo  # every byte is a Latin-1 character: both parsers read the same
    raise _DoubtError(f"encoding {enc}")


def _prepare(body: bytes, headers: Mapping[str, str]) -> tuple[str, str | None, str]:
    """The checks made before any parsing: (encoding to read the bytes as, bozo message,
    document base). Raises _DoubtError."""
    encoding, bozo = _encoding(body, headers)
    if body.lstrip()[:1] != b"<":
        raise _DoubtError("not XML")
    head = body[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head or b"<!doctype" in head:
        raise _DoubtError("DOCTYPE")
    if "content-language" in headers:
        raise _DoubtError("feedparser's initial xml:lang; not reproduced")
    _setup()
    read_as = "iso-8859-1" if encoding.lower() in _LATIN1_NAMES and not body.isascii() else "utf-8"
    # as ingest.parse: with xml:base in the document feedparser gets a sentinel document
    # base (so xml:base scopes right) that _u maps back out; without, no base at all (links
    # and permalink guids stay as the feed wrote them; Content-Location is ignored)
    base = _SENTINEL_DIR if b"xml:base" in body else ""
    return read_as, bozo, base


def _fast_parse(body: bytes, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    read_as, bozo, base = _prepare(body, headers)
    parser = _LATIN1_PARSER if read_as == "iso-8859-1" else _PARSER
    assert parser is not None
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise _DoubtError("not well-formed") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _DoubtError("DOCTYPE")
    ctx = _Ctx(url=url)
    tag = root.tag
    if tag == "rss":
        return _rss(root, ctx, base, bozo, body)
    if tag == f"{{{_ATOM}}}feed":
        return _atom(root, ctx, base, bozo)
    raise _DoubtError(f"root {tag!s}")


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


def _s(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


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


def _u(value: str | None) -> str | None:
    """A URL-ish value as ingest.parse._u hands it on (stripped, sentinel base removed)."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    if v.startswith(_SENTINEL_ROOT):
        result: str | None = _unsentinel(v)
        return result
    return v


def _dt_struct(parsed: Any) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


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
                        return _dt_struct(_parse_date(value)) or _localized_date(value)
                    try:
                        return datetime.fromtimestamp(dt.timestamp() - offset * 60, UTC)
                    except (OverflowError, ValueError, OSError):
                        return None  # past 9999 in UTC: no date, as on feedparser's path
                return dt
    return _dt_struct(_parse_date(value)) or _localized_date(value)


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


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip().replace(",", "")
    return int(v) if v.isdigit() else None


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


# --------------------------------------------------------------------------- RSS 2.0

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
    (a compiled XPath over the tree: ~0.6 us an item, a tenth of a regex over the bytes)."""
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
        # as ingest.parse, which has the written string of the last author only
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
    entry_base = None
    for c in (*contents, summary_c):
        if c is not None and c.base:
            entry_base = c.base
            break
    if entry_base is None and has_title:
        entry_base = _u(base)
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
    """Media RSS as feedparser's mediarss namespace files it (what ingest.parse._media reads);
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


# --------------------------------------------------------------------------- Atom 1.0

_A = f"{{{_ATOM}}}"
_XML_LANG = f"{{{_XML}}}lang"
_XML_BASE = f"{{{_XML}}}base"
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
    entry_base = None
    for c in (*contents, summary_c):
        if c is not None and c.base:
            entry_base = c.base
            break
    if entry_base is None and title_c is not None:
        entry_base = _u(title_c[0])
    language = (
        (contents[0].language if contents else None)
        or (summary_c.language if summary_c else None)
        or (_s(title_c[1]) if title_c else None)
    )
    if language == feed_lang:
        language = None
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
