"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) -> ParsedFeed (pure).

feedparser 6 cannot read JSON Feed, so this maps it ourselves:

    id -> guid            url -> link           external_url -> extra["external_url"]
    title                 content_html / content_text -> content (html first)
    summary -> summary    image / banner_image -> media (image)
    date_published / date_modified (RFC 3339; RFC 822 and other forms real feeds send are
        read with feedparser's date parser) -> published / updated (UTC, raw kept)
    authors (1.1) / author (1.0) -> author names    tags -> tags
    language (1.1, item or feed)                     attachments -> enclosures
"""

from __future__ import annotations

import calendar
import html
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ParseError
from .models import Content, Enclosure, Media, ParsedFeed, RawEntry

__all__ = ["looks_like_json", "parse_json_feed", "parse_rfc3339"]


def looks_like_json(body: bytes) -> bool:
    """True when the document starts (after a BOM and whitespace) with `{`."""
    head = body[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{")


def parse_rfc3339(value: object) -> datetime | None:
    """An RFC 3339 / ISO 8601 timestamp as aware UTC; a missing offset is taken as UTC
    (the same rule feedparser applies to RSS and Atom dates); None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return _other_date(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _other_date(value: str) -> datetime | None:
    """RFC 822 and the other forms feeds put where RFC 3339 belongs (feedparser's reader)."""
    from feedparser.datetimes import _parse_date

    try:
        parsed = _parse_date(value)
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # ids are strings by spec; some feeds send numbers
    return None


def _title(value: object) -> str | None:
    """Titles are plain text by spec, but WordPress exports send "&#8211;" and "&amp;"."""
    s = _str(value)
    return html.unescape(s) if s and "&" in s else s


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    # 1.1 `authors` replaces 1.0 `author`: the old one is read only when the new is absent
    raw: list[Any] = []
    if isinstance(obj.get("authors"), list):
        raw.extend(obj["authors"])
    elif isinstance(obj.get("author"), dict | str):
        raw.append(obj["author"])
    names: list[str] = []
    for a in raw:
        name = _str(a.get("name")) if isinstance(a, dict) else _str(a)
        if name:
            names.append(name)
    return tuple(names)


def _item(
    item: Mapping[str, Any], feed_lang: str | None, feed_authors: tuple[str, ...]
) -> RawEntry:
    content: list[Content] = []
    html = _str(item.get("content_html"))
    text = _str(item.get("content_text"))
    lang = _str(item.get("language")) or feed_lang
    if html:
        content.append(Content(html, "text/html", None, lang))
    if text:
        content.append(Content(text, "text/plain", None, lang))
    summary = _str(item.get("summary"))
    media: list[Media] = []
    for key in ("image", "banner_image"):
        url = _str(item.get(key))
        if url:
            media.append(Media(url=url, kind="image", medium="image"))
    enclosures: list[Enclosure] = []
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        for att in attachments:
            if isinstance(att, dict) and _str(att.get("url")):
                enclosures.append(
                    Enclosure(
                        url=str(_str(att.get("url"))),
                        type=_str(att.get("mime_type")),
                        length=_int(att.get("size_in_bytes")),
                    )
                )
    tags = item.get("tags")
    extra: dict[str, Any] = {}
    for key in ("external_url",):
        if _str(item.get(key)):
            extra[key] = _str(item.get(key))
    published_raw = _str(item.get("date_published"))
    updated_raw = _str(item.get("date_modified"))
    return RawEntry(
        guid=_str(item.get("id")),
        link=_str(item.get("url")),
        title=_title(item.get("title")),
        title_type="text/plain",
        summary=Content(summary, "text/plain", None, lang) if summary else None,
        content=tuple(content),
        authors=_authors(item) or feed_authors,
        published=parse_rfc3339(published_raw),
        published_raw=published_raw,
        updated=parse_rfc3339(updated_raw),
        updated_raw=updated_raw,
        tags=tuple(t for t in (_str(x) for x in tags) if t) if isinstance(tags, list) else (),
        enclosures=tuple(enclosures),
        media=tuple(media),
        language=_str(item.get("language")),
        extra=extra,
    )


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Map a JSON Feed document. Raises ParseError when it is not JSON (truncated, broken)
    or not a JSON Feed (no `items` list and no jsonfeed.org version)."""
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(url, "JSON document is not an object, so not a JSON Feed")
    version = _str(doc.get("version")) or ""
    items = doc.get("items")
    if "jsonfeed.org" not in version and not isinstance(items, list):
        raise ParseError(url, "JSON document is not a JSON Feed (no version, no items)")
    fmt = "json11" if version.rstrip("/").endswith("1.1") else "json10"
    lang = _str(doc.get("language"))
    feed_authors = _authors(doc)
    entries = tuple(
        _item(i, lang, feed_authors)
        for i in (items if isinstance(items, list) else [])
        if isinstance(i, dict)
    )
    bozo = None if isinstance(items, list) else "JSON Feed has no items list"
    return ParsedFeed(
        url=url,
        format=fmt,
        title=_title(doc.get("title")),
        link=_str(doc.get("home_page_url")),
        language=lang,
        entries=entries,
        bozo=bozo,
        parser="jsonfeed",
    )
