"""A fast lxml path for well-formed RSS 2.0 and Atom 1.0: bytes -> ParsedFeed, or None.

    fast_parse(body, url, headers) -> ParsedFeed | None
    iter_fast_parse(body, url, headers) -> (ParsedFeed without entries, Iterator[RawEntry]) | None
                                           the same, streamed in constant memory (big feeds)

It produces exactly what `ingest.parse.parse` (feedparser with sanitize_html=False,
resolve_relative_uris=False) produces for the same document, many times faster, and
returns None on any doubt so the caller falls back to feedparser:

- not well-formed, a DOCTYPE / entity declarations (never resolved: resolve_entities=False,
  no_network=True, huge_tree off), a BOM, an encoding other than UTF-8 (or plain ASCII);
- a root other than <rss version="2.0..."> or an Atom 1.0 <feed>;
- an element feedparser maps specially that this path does not reproduce (media:*, itunes:*,
  source, xhtml content, duplicated single-valued elements, xml:base / xml:lang in RSS ...),
  or an unknown element that would land on a key the parse stage reads.

Values go through the same steps as in feedparser's `_FeedParserMixin.pop`: strip, resolve
link / id / comments against the base URI, guess HTML in RSS titles, undo UTF-8-read-as-Latin-1
and map the cp1252 range. The equality is proven by tests/test_fastparse_differential.py over
every well-formed file of the shared corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any

from lxml import etree

from ..models import ParsedFeed, RawEntry
from ._fast_atom import _atom, _AtomFeed
from ._fast_rss import _rss, _rss_item, _rss_root, _RssChannel
from ._fast_values import _A, _ATOM, _Ctx, _DoubtError
from ._shared import _SENTINEL_DIR

__all__ = ["fallback_reason", "fast_parse", "iter_fast_parse"]

_PARSER: etree.XMLParser | None = None
_LATIN1_PARSER: etree.XMLParser | None = None
_LATIN1_NAMES = ("iso-8859-1", "latin-1", "latin1")
_PI_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")


def _setup() -> etree.XMLParser:
    """The UTF-8 parser (and the Latin-1 one), built on first use."""
    global _PARSER, _LATIN1_PARSER
    if _PARSER is not None:
        return _PARSER
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
        # as the feedparser path: no header means application/xml (the declaration picks
        # the encoding)
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
    Costs more CPU than fast_parse (two passes), and memory for one item instead of a tree
    many times the body's size."""
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
    # as the feedparser path: with xml:base in the document feedparser gets a sentinel document
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
