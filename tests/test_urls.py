"""ingest.urls.canonical_url (issue #4 item 4) and validate_feed_url."""

from __future__ import annotations

import pytest

from ingest.urls import canonical_url, validate_feed_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://News.Example.COM/a", "https://news.example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://example.com/a",
        ),
        ("https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"),
        ("https://example.com/a?id=7&utm_source=rss", "https://example.com/a?id=7"),
        ("https://example.com/?p=123", "https://example.com/?p=123"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://user:pw@example.com/a", "https://example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("mailto:x@example.com", "mailto:x@example.com"),
        ("not a url", "not a url"),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_is_idempotent() -> None:
    u = canonical_url("https://Example.com:443/x y?utm_term=a&q=1#f")
    assert canonical_url(u) == u


@pytest.mark.parametrize("url", ["", "ftp://x.example/f", "https://", "http://x.example:99999/"])
def test_validate_feed_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        validate_feed_url(url)


def test_validate_feed_url_strips() -> None:
    assert validate_feed_url(" https://x.example/feed ") == "https://x.example/feed"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://x.example/my feed", "contains whitespace (' ' at position 20)"),
        ("https://x.example/\nfeed", "contains whitespace ('\\n' at position 18)"),
        ("https://x.example/\tfeed", "contains whitespace ('\\t' at position 18)"),
        ("https://x.example/\x00feed", "contains a control character ('\\x00' at position 18)"),
        ("https://x.example/\x85feed", "contains whitespace ('\\x85' at position 18)"),
        ("https://x.example/" + "a" * 2031, "2049 characters, at most 2048"),
    ],
)
def test_validate_feed_url_refuses_whitespace_controls_and_length(url: str, error: str) -> None:
    with pytest.raises(ValueError, match="invalid URL") as info:
        validate_feed_url(url)
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("HTTPS://X.Example/Feed", "https://x.example/Feed"),
        ("https://x.example:443/f", "https://x.example/f"),
        ("http://x.example:8080/f?a=1#top", "http://x.example:8080/f?a=1"),
        ("https://User:Pw@X.example/f", "https://User:Pw@x.example/f"),
        ("https://x.example/" + "a" * 2030, "https://x.example/" + "a" * 2030),
    ],
)
def test_validate_feed_url_normalizes(url: str, normalized: str) -> None:
    assert validate_feed_url(url) == normalized
