"""next_poll: table tests of the pure scheduling decision."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.errors import (
    BotWallError,
    GoneError,
    HTTPStatusError,
    NetworkError,
    RateLimitedError,
)
from ingest.models import Feed, FeedOptions, FetchResult, ParsedFeed, RawEntry
from ingest.schedule import (
    consecutive_errors,
    format_duration,
    next_poll,
    server_hints,
)
from ingest.settings import Settings

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday
URL = "http://feeds.example.test/rss"
S = Settings()  # min 5 min, max 24 h, default 60 min, max backoff 24 h
H = 3600
D = 86400


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def ok(headers: dict[str, str] | None = None, status: int = 200, **kw: Any) -> FetchResult:
    return FetchResult(url=URL, final_url=URL, status=status, headers=headers or {}, **kw)


def failed(error: Exception, headers: dict[str, str] | None = None) -> FetchResult:
    status = getattr(error, "status", None)
    return FetchResult(url=URL, final_url=URL, status=status, error=error, headers=headers or {})


def parsed(**kw: Any) -> ParsedFeed:
    return ParsedFeed(url=URL, format="rss20", **kw)


FETCHED = Feed(url=URL, last_fetched_at=ago(hours=1))
WEEKLY12 = replace(
    FETCHED, recent_entry_times=(*(ago(hours=13 * i + 1) for i in range(12)), ago(days=9))
)


def decide(
    feed: Feed = FETCHED,
    result: FetchResult | None = None,
    p: ParsedFeed | None = None,
    new: int = 0,
    known: int = 0,
    settings: Settings = S,
) -> tuple[int, str]:
    d = next_poll(
        feed, result if result is not None else ok(), parsed=p, new_count=new,
        known_count=known, now=NOW, settings=settings, rng=random.Random(7),
    )  # fmt: skip
    assert d.next_poll_at == NOW + timedelta(seconds=d.interval_s)
    return d.interval_s, d.reason


# --------------------------------------------------------------------------- success


@pytest.mark.parametrize(
    ("feed", "result", "p", "new", "known", "interval", "reason"),
    [
        # no dates at all: the default interval
        (FETCHED, ok(), None, 0, 0, H, "default 60 min"),
        # Miniflux's entry frequency when the whole week is covered: 7 d / 12
        (WEEKLY12, ok(), None, 0, 0, 7 * D // 12, "12 new/week"),
        # a busy feed listing only its last 10 items (5 h): not mistaken for a weekly one
        (
            replace(FETCHED, recent_entry_times=tuple(ago(minutes=30 * i) for i in range(10))),
            ok(), None, 0, 0, 1620, "53 new/day",
        ),
        # parsed entries count too (a feed's first fetch)
        (
            Feed(url=URL), ok(),
            parsed(entries=tuple(RawEntry(published=ago(hours=6 * i + 1)) for i in range(8))),
            8, 0, 19350, "31 new/week",
        ),
        # future-dated entries beyond tolerance are not a rhythm
        (replace(FETCHED, recent_entry_times=(NOW + timedelta(days=30),)), ok(), None, 0, 0,
         H, "default 60 min"),
        # nothing in 7 days: the maximum interval
        (replace(FETCHED, recent_entry_times=(ago(days=10), ago(days=20))), ok(), None, 0, 0,
         D, "no new entries in 7 days"),
        # clamped to the minimum
        (replace(FETCHED, recent_entry_times=tuple(ago(seconds=30 * i) for i in range(100))),
         ok(), None, 0, 0, 300, "2400 new/day (min 5 min)"),
        # Media Cloud feedback: mostly known -> longer, mostly new -> shorter
        (WEEKLY12, ok(), None, 1, 9, 7 * D * 5 // 48, "12 new/week, mostly known"),
        (WEEKLY12, ok(), None, 9, 1, 7 * D * 3 // 48, "12 new/week, mostly new"),
        (WEEKLY12, ok(), None, 5, 5, 7 * D // 12, "12 new/week"),
        (WEEKLY12, ok(), None, 1, 0, 7 * D // 12, "12 new/week"),  # too few items to judge
        (replace(WEEKLY12, last_fetched_at=None), ok(), None, 10, 0, 7 * D // 12,
         "12 new/week"),  # first fetch: everything is new, no signal
        # an operator's fixed interval replaces the rhythm
        (replace(WEEKLY12, options=FeedOptions(interval_s=900)), ok(), None, 0, 9, 900,
         "fixed 15 min"),
        # per-feed bounds override the global ones
        (replace(WEEKLY12, options=FeedOptions(max_interval_s=2 * H)), ok(), None, 0, 0,
         2 * H, "12 new/week (max 2 h)"),
        (replace(FETCHED, options=FeedOptions(min_interval_s=3 * H)), ok(), None, 0, 0, 3 * H,
         "default 60 min (min 3 h)"),
    ],
)  # fmt: skip
def test_rhythm(
    feed: Feed, result: FetchResult, p: ParsedFeed | None, new: int, known: int,
    interval: int, reason: str,
) -> None:  # fmt: skip
    assert decide(feed, result, p, new, known) == (interval, reason)


@pytest.mark.parametrize(
    ("headers", "p", "interval", "reason"),
    [
        ({"cache-control": "public, max-age=7200"}, None, 7200, "max-age 7200 s"),
        ({"cache-control": "max-age=7200", "age": "1200"}, None, 6000, "max-age 7200 s"),
        ({"cache-control": "max-age=600"}, None, H, "default 60 min"),  # shorter: no effect
        ({"cache-control": "no-cache, max-age=7200"}, None, H, "default 60 min"),
        ({"cache-control": "no-store", "expires": "Wed, 04 Mar 2026 14:00:00 GMT"}, None, H,
         "default 60 min"),  # Cache-Control wins over Expires
        ({"expires": "Wed, 04 Mar 2026 13:00:00 GMT"}, None, 3 * H, "Expires in 3 h"),
        ({"expires": "Wed, 04 Mar 2026 13:00:00 GMT", "date": "Wed, 04 Mar 2026 12:00:00 GMT"},
         None, H, "default 60 min"),  # relative to the server's clock: 1 h
        ({"expires": "0"}, None, H, "default 60 min"),  # Expires: 0 is no hint, not "now"
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, None, H, "default 60 min"),
        ({"cache-control": "max-age=31536000"}, None, D, "max-age 31536000 s (max 24 h)"),
        ({}, parsed(ttl_minutes=180), 3 * H, "ttl 180 min"),
        ({}, parsed(sy_update_period="daily", sy_update_frequency=4), 6 * H,
         "sy:updatePeriod daily/4"),
        ({}, parsed(sy_update_period="hourly"), H, "default 60 min"),  # equal: no change
        ({"cache-control": "max-age=7200"}, parsed(ttl_minutes=240), 4 * H, "ttl 240 min"),
    ],
)  # fmt: skip
def test_server_hints(
    headers: dict[str, str], p: ParsedFeed | None, interval: int, reason: str
) -> None:
    assert decide(FETCHED, ok(headers), p) == (interval, reason)


def test_hints_raise_a_fixed_interval_too() -> None:
    feed = replace(FETCHED, options=FeedOptions(interval_s=300))
    assert decide(feed, ok({"cache-control": "max-age=1800"})) == (1800, "max-age 1800 s")


@pytest.mark.parametrize(
    ("skip_hours", "skip_days", "interval", "reason"),
    [
        ((11, 12), (), 3 * H, "default 60 min, skipHours/skipDays"),  # 11:00 -> 13:00
        ((9,), (), H, "default 60 min"),  # not in the way
        ((), ("Wednesday",), 14 * H, "default 60 min, skipHours/skipDays"),  # to Thu 00:00
        (tuple(range(24)), (), H, "default 60 min"),  # skipping everything is ignored
    ],
)
def test_skip_hours_and_days(
    skip_hours: tuple[int, ...], skip_days: tuple[str, ...], interval: int, reason: str
) -> None:
    p = parsed(skip_hours=skip_hours, skip_days=skip_days)
    assert decide(FETCHED, ok(), p) == (interval, reason)


def test_304_keeps_the_hinted_interval_without_a_parsed_feed() -> None:
    after_ttl = replace(FETCHED, interval_s=3 * H, schedule_reason="ttl 180 min")
    not_modified = ok(status=304, not_modified=True)
    assert decide(after_ttl, not_modified) == (3 * H, "kept after 304: ttl 180 min")
    again = replace(after_ttl, schedule_reason="kept after 304: ttl 180 min")
    assert decide(again, not_modified) == (3 * H, "kept after 304: ttl 180 min")
    same_body = ok(not_modified=True, unchanged_body=True)
    assert decide(after_ttl, same_body) == (3 * H, "kept after same body: ttl 180 min")
    # a previous backoff is not a hint to keep
    after_error = replace(after_ttl, error_count=2)
    assert decide(after_error, not_modified) == (H, "default 60 min")
    # a parsed 200 re-reads the hints instead
    assert decide(after_ttl, ok(), parsed()) == (H, "default 60 min")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error_count", "error", "base", "reason"),
    [
        (0, HTTPStatusError(URL, 404, "HTTP 404"), 300, "404: error #1 backoff 5 min"),
        (1, HTTPStatusError(URL, 500, "HTTP 500"), 600, "500: error #2 backoff 10 min"),
        (3, NetworkError(URL, "reset"), 2400, "error #4 backoff 40 min"),
        (99, NetworkError(URL, "reset"), D, "error #100 backoff 24 h"),
        (0, RateLimitedError(URL, 429, "429", retry_after_s=600), 600, "429 Retry-After 600 s"),
        (2, RateLimitedError(URL, 429, "429", retry_after_s=600), 1200,
         "429: error #3 backoff 20 min"),  # the backoff is already longer
        (0, RateLimitedError(URL, 503, "503", retry_after_s=10**7), D,
         "503 Retry-After 10000000 s (capped at 24 h)"),
        (0, RateLimitedError(URL, 429, "429"), 300, "429: error #1 backoff 5 min"),
        (0, BotWallError(URL, 403, "Cloudflare"), 300, "403: error #1 backoff 5 min"),
        (0, GoneError(URL, 410, "gone"), D, "410 Gone"),  # the store parks it as "gone"
    ],
)  # fmt: skip
def test_error_backoff(error_count: int, error: Exception, base: int, reason: str) -> None:
    feed = replace(WEEKLY12, error_count=error_count)
    interval, why = decide(feed, failed(error))
    assert why == reason
    assert base <= interval <= base * 1.25  # jitter only ever adds


def test_backoff_step_follows_the_feed_minimum() -> None:
    feed = replace(FETCHED, options=FeedOptions(min_interval_s=2 * H), error_count=1)
    interval, why = decide(feed, failed(NetworkError(URL, "x")))
    assert why == "error #2 backoff 4 h" and 4 * H <= interval <= 5 * H


def test_backoff_cap_setting() -> None:
    s = S.replace(max_backoff_s=2 * H)
    interval, why = decide(
        replace(FETCHED, error_count=50), failed(NetworkError(URL, "x")), settings=s
    )
    assert why == "error #51 backoff 2 h" and interval <= 2.5 * H


def test_jitter_is_deterministic_and_spreads_feeds() -> None:
    def when(url: str) -> datetime:
        feed = Feed(url=url, error_count=4)
        result = FetchResult(url=url, final_url=url, error=NetworkError(url, "down"))
        return next_poll(
            feed, result, parsed=None, new_count=0, known_count=0, now=NOW, settings=S
        ).next_poll_at

    assert when(URL) == when(URL)  # reruns decide the same
    times = {when(f"http://h{i}.example.test/rss") for i in range(50)}
    assert len(times) >= 45  # no lockstep retries
    base = NOW + timedelta(seconds=300 * 2**4)
    assert all(base <= t <= base + timedelta(seconds=300 * 2**4 * 0.25 + 1) for t in times)


def test_recovered_feed_returns_to_its_rhythm() -> None:
    failing = replace(WEEKLY12, error_count=12, interval_s=D)
    assert decide(failing, ok()) == (7 * D // 12, "12 new/week")


def test_no_fetch_at_all() -> None:
    d = next_poll(Feed(url=URL), None, parsed=None, new_count=0, known_count=0, now=NOW, settings=S)
    assert (d.interval_s, d.reason) == (H, "default 60 min")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("feed", "result", "count"),
    [
        (Feed(url=URL, error_count=0), failed(NetworkError(URL, "x")), 1),
        (Feed(url=URL, error_count=4), failed(NetworkError(URL, "x")), 5),
        (Feed(url=URL, error_count=4), ok(), 0),
        (Feed(url=URL, error_count=4), None, 4),
    ],
)
def test_consecutive_errors(feed: Feed, result: FetchResult | None, count: int) -> None:
    assert consecutive_errors(feed, result) == count


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (600, "10 min"), (7200, "2 h"), (5400, "90 min"), (9000, "2.5 h"),
     (86400, "24 h"), (3 * 86400, "3 d"), (10 * 3600 * 24 + 43200, "10.5 d")],
)  # fmt: skip
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_server_hints_lists_every_hint() -> None:
    hints = server_hints(
        {"cache-control": "max-age=60"}, parsed(ttl_minutes=5, sy_update_period="weekly"), NOW
    )
    assert hints == [(60, "max-age 60 s"), (300, "ttl 5 min"), (7 * D, "sy:updatePeriod weekly/1")]
