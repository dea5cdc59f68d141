"""ingest.filters: per-feed keep / block rules (issue #4 item 9)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ingest.filters import filter_reason, rule_matches
from ingest.models import Article, FeedOptions, FilterRule

A = Article(
    feed_url="https://f.example/feed", identity="g:1", guid="1",
    url="https://f.example/sport/match?id=3", canonical_url="https://f.example/sport/match?id=3",
    title="Cup final ends in a draw", authors=("Sam Reporter",), published_at=None,
    updated_at=None, fetched_at=datetime(2025, 1, 1, tzinfo=UTC), summary="Both sides scored.",
    content_html="", content_text="Both sides scored twice in extra time.", language="en",
    tags=("Sport", "Football"), image_url=None, enclosures=(), word_count=7, content_hash="h",
)  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        (FilterRule("title", "cup final"), True),
        (FilterRule("title", "CUP"), True),
        (FilterRule("title", "extra time"), False),
        (FilterRule("content", "extra time"), True),
        (FilterRule("url", "/sport/"), True),
        (FilterRule("author", "sam"), True),
        (FilterRule("tags", "football"), True),
        (FilterRule("tags", "politics"), False),
        (FilterRule("any", "reporter"), True),
        (FilterRule("title", r"^cup\b", regex=True), True),
        (FilterRule("title", r"^draw", regex=True), False),
        (FilterRule("title", "a.draw"), False),  # keyword: the dot is literal
        (FilterRule("title", "(unclosed", regex=True), False),  # bad regex never matches
    ],
)
def test_rule_matches(rule: FilterRule, matches: bool) -> None:
    assert rule_matches(rule, A) is matches


def test_no_rules_keeps() -> None:
    assert filter_reason(A, FeedOptions()) is None


def test_block_reason_names_the_rule() -> None:
    opts = FeedOptions(
        block=(FilterRule("tags", "politics"), FilterRule("url", r"/sport/", regex=True))
    )
    assert filter_reason(A, opts) == "block rule url~//sport//"


def test_keep_rules_drop_non_matching() -> None:
    opts = FeedOptions(keep=(FilterRule("title", "election"),))
    assert filter_reason(A, opts) == "no keep rule matched"
    other = dataclasses.replace(A, title="Election night")
    assert filter_reason(other, opts) is None


def test_block_applies_after_keep() -> None:
    opts = FeedOptions(keep=(FilterRule("any", "cup"),), block=(FilterRule("author", "sam"),))
    assert filter_reason(A, opts) == "block rule author~'sam'"
