"""Refusals and repairs made before any parser sees a body (the feedparser path's guards).

- A document whose DTD declares entities that expand other entities (the "billion laughs"
  shape) is refused: expat's own amplification limit still lets such a document burn
  seconds of CPU in the worker, holding up every feed in flight. Plain declarations
  (`<!ENTITY id "tag:example.com,">`) are parsed as before. External entities are never
  resolved (feedparser turns off expat's external general entities).
- A gzip body served without Content-Encoding is inflated (capped at MAX_GUNZIP_BYTES).
- An HTML page is told apart from a broken feed (for the error message).
"""

from __future__ import annotations

import re
import zlib

from ..errors import ParseError

_GZIP_MAGIC = b"\x1f\x8b"
MAX_GUNZIP_BYTES = 128 * 1024 * 1024
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+([^\s%]+)\s+(?:\"([^\"]*)\"|'([^']*)')")
_ENTITY_REF = re.compile(rb"&([A-Za-z_][\w.-]*);")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


def _nested_entities(head: bytes) -> bool:
    """Whether an internal DTD declares a general entity whose text refers to another
    declared entity: the shape of an expansion bomb; no feed needs it."""
    decls = {m.group(1): m.group(2) or m.group(3) or b"" for m in _ENTITY_DECL.finditer(head)}
    return any(ref in decls for value in decls.values() for ref in _ENTITY_REF.findall(value))


def _gunzip(body: bytes, url: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, MAX_GUNZIP_BYTES)
    except zlib.error as exc:
        raise ParseError(url, f"body looks gzip-compressed but is not: {exc}") from None
    if d.unconsumed_tail:
        raise ParseError(url, f"gzip body inflates beyond {MAX_GUNZIP_BYTES} bytes")
    return out


def _html_page(body: bytes) -> bool:
    """Whether a body feedparser found no feed in starts as an HTML page does."""
    return _HTML_START.match(body[:2048]) is not None
