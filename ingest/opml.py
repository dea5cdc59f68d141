"""OPML import / export (pure: bytes in, specs out; feeds in, text out)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from lxml import etree

from .errors import ConfigError
from .feedconfig import split_userinfo
from .models import Feed, FeedOptions
from .settings import FeedSpec
from .urls import validate_feed_url

__all__ = ["export_opml", "parse_opml"]


def parse_opml(data: bytes, source: str) -> tuple[list[FeedSpec], list[str]]:
    """Feeds of an OPML document: every <outline> with an xmlUrl. Outline folders become
    tags. Returns (specs, problems); problems name the outline and reason. A document that
    is not OPML at all raises ConfigError naming `source`."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(source, None, f"not a valid OPML file: {exc}") from None
    if not isinstance(root.tag, str) or root.tag.lower() != "opml":
        raise ConfigError(source, None, f"not an OPML file (root element <{root.tag!r}>)")
    body = root.find("body")
    if body is None:
        raise ConfigError(source, None, "OPML file has no <body>")
    specs: list[FeedSpec] = []
    problems: list[str] = []
    seen: set[str] = set()

    def walk(node: etree._Element, folders: tuple[str, ...]) -> None:
        for child in node:
            if not isinstance(child.tag, str) or child.tag.lower() != "outline":
                continue
            attrs = {k.lower(): v for k, v in child.attrib.items()}
            name = attrs.get("title") or attrs.get("text") or ""
            url = attrs.get("xmlurl")
            if url is None:
                walk(child, (*folders, name) if name else folders)
                continue
            try:
                url = validate_feed_url(url)
            except ValueError as exc:
                problems.append(f"outline {name or '(untitled)'!r}: {exc}")
                continue
            if url in seen:
                continue
            seen.add(url)
            categories = (c.strip().strip("/") for c in attrs.get("category", "").split(","))
            tags = tuple(dict.fromkeys(t for t in (*folders, *categories) if t))
            bare, user, password = split_userinfo(url)  # a secret never in the stored URL
            options = FeedOptions(username=user, password=password)
            specs.append(FeedSpec(url=bare, title=name or None, tags=tags, options=options))

    walk(body, ())
    return specs, problems


def export_opml(feeds: Sequence[Feed], title: str = "ingest feeds") -> str:
    """An OPML 2.0 document of `feeds` (one outline each, tags as a category attribute)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        name = feed.title or feed.url
        attrs = f'type="rss" text={quoteattr(name)} title={quoteattr(name)} xmlUrl={quoteattr(feed.url)}'
        if feed.tags:
            attrs += f" category={quoteattr(','.join(feed.tags))}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
