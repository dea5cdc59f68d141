"""Where a feed says its WebSub hub is (W3C WebSub §4, "Discovery"): pure, no I/O.

An HTTP `Link: <https://hub.example/>; rel="hub"` header wins over the document; in the
document, the feed-level `<link rel="hub">` of Atom (RSS carries it as `<atom:link>`) or a
JSON Feed's `hubs`. The topic is the `rel="self"` URL found the same way, else the feed URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

__all__ = ["Advert", "hub_links", "link_header"]

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,=]+(?:=\s*(?:"[^"]*"|[^;,]*))?)*)')
_PARAM = re.compile(r";\s*([A-Za-z*-]+)\s*=\s*(\"[^\"]*\"|[^;,\s]+)")
_ENTRY_TAGS = ("entry", "item")
_HEAD_BYTES = 256 * 1024  # hub links come before the entries; no need to read further


@dataclass(frozen=True, slots=True)
class Advert:
    """The hubs a feed names (first preferred) and the topic URL to subscribe to."""

    hubs: tuple[str, ...]
    topic: str


def link_header(value: str, base: str) -> list[tuple[str, set[str]]]:
    """(URL, rel values) of each link of an RFC 8288 `Link` header, resolved against `base`."""
    out = []
    for match in _LINK.finditer(value):
        rels: set[str] = set()
        for name, raw in _PARAM.findall(match.group(2)):
            if name.lower() == "rel":
                rels.update(raw.strip('"').lower().split())
        try:
            out.append((urljoin(base, match.group(1).strip()), rels))
        except ValueError:
            continue
    return out


def _http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _xml_links(body: bytes, base: str) -> list[tuple[str, set[str]]]:
    """The feed-level <link rel=... href=...> elements (any namespace), before the first
    entry; xml:base is not honoured (hubs are absolute in practice)."""
    from lxml import etree

    out: list[tuple[str, set[str]]] = []
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, recover=True
    )
    try:
        parser.feed(body[:_HEAD_BYTES])
        for _, el in parser.read_events():
            tag = el.tag if isinstance(el.tag, str) else ""
            name = etree.QName(tag).localname if tag else ""
            if name in _ENTRY_TAGS:
                break
            href = el.get("href")
            if name == "link" and href:
                rels = set((el.get("rel") or "").lower().split())
                try:
                    out.append((urljoin(base, str(href).strip()), rels))
                except ValueError:
                    continue
    except etree.LxmlError:
        pass
    return out


def _json_links(body: bytes) -> list[tuple[str, set[str]]]:
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    out: list[tuple[str, set[str]]] = []
    for hub in doc.get("hubs") or []:
        kind = str(hub.get("type", "")).lower() if isinstance(hub, dict) else None
        if kind in ("websub", "pubsubhubbub", "") and isinstance(hub.get("url"), str):
            out.append((hub["url"], {"hub"}))
    if isinstance(doc.get("feed_url"), str):
        out.append((doc["feed_url"], {"self"}))
    return out


def hub_links(body: bytes, headers: Mapping[str, str], feed_url: str) -> Advert | None:
    """The hubs `feed_url` names (its fetched `body` and lower-cased response `headers`),
    and its topic; None when it names no hub."""
    header = link_header(headers.get("link", ""), feed_url)
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    doc = _json_links(body) if head == b"{" else _xml_links(body, feed_url)
    found = []
    for links in (header, doc):
        hubs = [u for u, rels in links if "hub" in rels and _http(u)]
        selves = [u for u, rels in links if "self" in rels and _http(u)]
        found.append((list(dict.fromkeys(hubs)), selves[0] if selves else None))
    (h_hubs, h_self), (d_hubs, d_self) = found
    hubs = h_hubs or d_hubs  # the header first (WebSub §4)
    if not hubs:
        return None
    topic = (h_self or d_self) if h_hubs else (d_self or h_self)
    return Advert(tuple(hubs), topic or feed_url)
