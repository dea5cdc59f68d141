"""OPML import / export."""

from __future__ import annotations

import pytest

from ingest.errors import ConfigError
from ingest.models import Feed
from ingest.opml import export_opml, parse_opml

DOC = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="World">
    <outline text="Alpha" type="rss" xmlUrl="https://alpha.example/rss"/>
    <outline text="Nested"><outline title="Beta" xmlUrl="http://beta.example/atom" category="/tech,/x"/></outline>
  </outline>
  <outline text="Gamma" xmlUrl="https://gamma.example/feed.json"/>
  <outline text="Again" xmlUrl="https://gamma.example/feed.json"/>
  <outline text="Broken" xmlUrl="javascript:alert(1)"/>
  <outline text="Just a folder"/>
</body></opml>"""


def test_parse_outlines_folders_and_problems() -> None:
    specs, problems = parse_opml(DOC, "mine.opml")
    assert [(s.url, s.title, s.tags) for s in specs] == [
        ("https://alpha.example/rss", "Alpha", ("World",)),
        ("http://beta.example/atom", "Beta", ("World", "Nested", "tech", "x")),
        ("https://gamma.example/feed.json", "Gamma", ()),
    ]
    assert problems == [
        "outline 'Broken': invalid URL 'javascript:alert(1)': only http and https feeds can be fetched"
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body/></html>", "not an OPML file (root element <'html'>)"),
        (b"<opml version='2.0'><head/></opml>", "OPML file has no <body>"),
        (b"not xml at all", "not a valid OPML file"),
    ],
)
def test_not_opml_names_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_opml(data, "farm.opml")
    assert str(info.value).startswith("farm.opml: ") and reason in str(info.value)


def test_external_entities_are_not_resolved() -> None:
    doc = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&x;" xmlUrl="https://a.example/rss"/></body></opml>"""
    with pytest.raises(ConfigError, match="external entity") as info:
        parse_opml(doc, "x.opml")
    assert "root:" not in str(info.value)


def test_export_round_trips() -> None:
    feeds = [
        Feed(url="https://a.example/rss?x=1&y=2", title='A "quoted" <feed>', tags=("world", "uk")),
        Feed(url="https://b.example/atom"),
    ]
    text = export_opml(feeds)
    specs, problems = parse_opml(text.encode(), "export")
    assert problems == []
    assert [(s.url, s.title, s.tags) for s in specs] == [
        ("https://a.example/rss?x=1&y=2", 'A "quoted" <feed>', ("world", "uk")),
        ("https://b.example/atom", "https://b.example/atom", ()),
    ]
