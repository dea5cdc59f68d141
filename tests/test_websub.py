"""WebSub's pure parts, tabled: hub discovery in a feed, the signature check, verification of
intent, the subscriber's plan, and the schedule rule for pushed feeds."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from ingest.errors import ConfigError, HTTPStatusError
from ingest.models import Feed, FetchResult, ScheduleDecision, Subscription
from ingest.schedule import next_poll, while_pushed
from ingest.settings import Settings, load_settings
from ingest.websub import Advert, Timing, hub_links, link_header, plan, signature_ok, verify

F = "https://blog.example/feed.xml"
HUB = "https://hub.example/"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ATOM_NS = 'xmlns:atom="http://www.w3.org/2005/Atom"'


def _rss(links: str, items: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {ATOM_NS}><channel><title>B</title>'
        f"{links}{items}</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        # RSS with atom:link hub and self
        (
            _rss(f'<atom:link rel="hub" href="{HUB}"/><atom:link rel="self" href="{F}?x"/>'),
            {},
            Advert((HUB,), F + "?x"),
        ),
        # Atom, two hubs, relative self, no self: the feed URL
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://a.hub/"/>'
            b'<link rel="hub" href="https://b.hub/"/><link rel="alternate" href="/"/></feed>',
            {},
            Advert(("https://a.hub/", "https://b.hub/"), F),
        ),
        # the Link header wins over the document, with its own self
        (
            _rss(f'<atom:link rel="hub" href="{HUB}"/>'),
            {"link": '<https://h.hub/>; rel="hub", <https://t.example/f>; rel="self"'},
            Advert(("https://h.hub/",), "https://t.example/f"),
        ),
        # a header hub, the document's self
        (
            _rss(f'<atom:link rel="self" href="{F}"/>'),
            {"link": "<https://h.hub/>; rel=hub"},
            Advert(("https://h.hub/",), F),
        ),
        # rel="hub self" in one link; a non-http hub ignored
        (
            _rss('<atom:link rel="hub" href="ftp://x/"/><atom:link rel="self hub" href="/s"/>'),
            {},
            Advert(("https://blog.example/s",), "https://blog.example/s"),
        ),
        # a hub link inside an item is the item's, not the feed's
        (_rss("", f'<item><atom:link rel="hub" href="{HUB}"/></item>'), {}, None),
        (_rss(""), {"link": '</next>; rel="next"'}, None),
        (b"<html><body>not a feed", {}, None),
        (b"", {}, None),
        # JSON Feed hubs
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "feed_url": "https://j.example/f",'
            b' "hubs": [{"type": "WebSub", "url": "https://hub.example/"}], "items": []}',
            {},
            Advert((HUB,), "https://j.example/f"),
        ),
        (b'{"hubs": [{"type": "rssCloud", "url": "https://c.example/"}]}', {}, None),
        (b"[1, 2]", {}, None),
    ],
)
def test_hub_links(body: bytes, headers: dict[str, str], expected: Advert | None) -> None:
    assert hub_links(body, headers, F) == expected


def test_link_header_params() -> None:
    assert link_header('<a>; title="x, y"; rel="HUB", <b>;rel=self', "https://s/x/") == [
        ("https://s/x/a", {"hub"}),
        ("https://s/x/b", {"self"}),
    ]


def _sig(method: str, body: bytes, secret: str = "k") -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


@pytest.mark.parametrize(
    ("header", "secret", "ok", "why"),
    [
        (_sig("sha1", b"body"), "k", True, ""),
        (_sig("sha256", b"body"), "k", True, ""),
        (_sig("sha384", b"body"), "k", True, ""),
        (_sig("sha512", b"body").upper().replace("SHA512=", "sha512="), "k", True, ""),
        (_sig("sha256", b"other"), "k", False, "the sha256 signature does not match"),
        (_sig("sha256", b"body", "wrong"), "k", False, "the sha256 signature does not match"),
        ("md5=abc", "k", False, "unknown signature method 'md5'"),
        ("garbage", "k", False, "unknown signature method 'garbage'"),
        (None, "k", False, "no X-Hub-Signature header"),
        ("", "k", False, "no X-Hub-Signature header"),
        (_sig("sha256", b"body"), None, False, "the subscription has no secret"),
    ],
)
def test_signature_ok(header: str | None, secret: str | None, ok: bool, why: str) -> None:
    assert signature_ok(header, b"body", secret) == (ok, why)


def _sub(state: str, **kw: object) -> Subscription:
    args: dict[str, object] = {"hub": HUB, "topic": F, "secret": "s", "checked_at": NOW}
    args.update(kw)
    return Subscription(F, "cb", state, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sub", "mode", "topic", "lease", "status", "then"),
    [
        (_sub("pending"), "subscribe", F, "3600", 200, "active"),
        (_sub("active"), "subscribe", F, "60", 200, "active"),  # a renewal
        (_sub("pending"), "subscribe", "https://other/", "3600", 404, None),
        (_sub("pending"), "subscribe", F, None, 404, None),
        (_sub("pending"), "subscribe", F, "0", 404, None),
        (_sub("nohub"), "subscribe", F, "3600", 404, None),
        (_sub("failed"), "subscribe", F, "3600", 404, None),
        (_sub("active"), "unsubscribe", F, None, 404, None),  # we did not ask
        (_sub("unsubscribing"), "unsubscribe", F, None, 200, "dropped"),
        (_sub("unsubscribing"), "subscribe", F, "60", 404, None),
        (_sub("pending"), "denied", F, None, 200, "denied"),
        (_sub("pending"), "bogus", F, None, 404, None),
        (_sub("pending"), "", F, None, 404, None),
        (None, "subscribe", F, "60", 404, None),
    ],
)
def test_verify(
    sub: Subscription | None, mode: str, topic: str, lease: str | None, status: int,
    then: str | None,
) -> None:  # fmt: skip
    verdict = verify(sub, mode, topic, lease, "spam", NOW)
    assert verdict.status == status
    if then == "dropped":
        assert verdict.drop and verdict.save is None
    elif then is None:
        assert verdict.save is None and not verdict.drop and verdict.why
    else:
        assert verdict.save is not None and verdict.save.state == then
    if then == "active":
        assert verdict.save is not None
        assert verdict.save.lease_until == NOW + timedelta(seconds=int(lease or 0))
        assert verdict.save.checked_at == NOW
    if then == "denied":
        assert verdict.save is not None and verdict.save.error == "the hub denied it: spam"


def RENEWING(asked: datetime) -> Subscription:  # noqa: N802
    return _sub("active", checked_at=NOW - 1.5 * H, lease_until=NOW + 0.5 * H, requested_at=asked)


def renewing(asked: datetime) -> Subscription:
    return _sub("active", checked_at=NOW - 1.5 * H, lease_until=NOW + 0.5 * H, requested_at=asked)


T = Timing(recheck_s=86400, retry_s=600, renew_before_s=86400)
H = timedelta(hours=1)
LIVE = Feed(url=F)


@pytest.mark.parametrize(
    ("feeds", "sub", "expected"),
    [
        ([LIVE], None, "look"),
        ([Feed(url=F, status="error")], None, "look"),
        ([Feed(url=F, status="disabled")], None, None),
        ([LIVE], _sub("nohub", checked_at=NOW - 2 * H), None),
        ([LIVE], _sub("nohub", checked_at=NOW - 25 * H), "look"),
        ([LIVE], _sub("failed", checked_at=NOW - 25 * H), "look"),
        ([LIVE], _sub("denied", checked_at=NOW - H), None),
        ([LIVE], _sub("pending", requested_at=NOW - timedelta(minutes=5)), None),
        ([LIVE], _sub("pending", requested_at=NOW - H), "look"),  # never verified: again
        # a 10-day lease: renewed in its last day
        ([LIVE], _sub("active", checked_at=NOW - 8 * 24 * H, lease_until=NOW + 48 * H), None),
        ([LIVE], _sub("active", checked_at=NOW - 9 * 24 * H, lease_until=NOW + 23 * H), "renew"),
        # a 2-hour lease: renewed in its second half
        ([LIVE], _sub("active", checked_at=NOW - 0.5 * H, lease_until=NOW + 1.5 * H), None),
        ([LIVE], _sub("active", checked_at=NOW - 1.5 * H, lease_until=NOW + 0.5 * H), "renew"),
        # a renewal asked 5 min ago, not verified yet: wait; an hour ago: ask again
        ([LIVE], renewing(NOW - timedelta(minutes=5)), None),
        ([LIVE], renewing(NOW - H), "renew"),
        ([LIVE], _sub("active", lease_until=NOW - H), "look"),  # lapsed
        ([LIVE], _sub("unsubscribing", requested_at=NOW - H), "look"),  # the feed came back
        # the feed was removed, disabled or is gone
        ([], _sub("active", lease_until=NOW + H), "unsubscribe"),
        ([Feed(url=F, status="disabled")], _sub("pending"), "unsubscribe"),
        ([Feed(url=F, status="gone")], _sub("active", lease_until=NOW + H), "unsubscribe"),
        ([], _sub("unsubscribing", requested_at=NOW - timedelta(minutes=1)), None),
        ([], _sub("unsubscribing", requested_at=NOW - H), "forget"),  # the hub never said
        ([], _sub("nohub"), "forget"),
        ([], _sub("failed"), "forget"),
    ],
)
def test_plan(feeds: list[Feed], sub: Subscription | None, expected: str | None) -> None:
    actions = plan(feeds, [sub] if sub else [], NOW, T)
    assert [a.kind for a in actions] == ([expected] if expected else [])
    for a in actions:
        assert a.feed_url == F and a.sub == sub


D = 86400


@pytest.mark.parametrize(
    ("normal_s", "push_until", "expected_s", "reason"),
    [
        (3600, None, 3600, "normal"),  # not subscribed
        (3600, NOW - H, 3600, "normal"),  # the lease lapsed
        (3600, NOW + 10 * 24 * H, D, "WebSub pushes it: polled max 24 h"),
        (3600, NOW + 5 * H, 5 * 3600, "WebSub pushes it: polled until its lease ends"),
        (3 * D, NOW + 10 * 24 * H, 3 * D, "normal"),  # already rarer (a fixed interval)
        (3600, NOW + timedelta(minutes=30), 3600, "normal"),  # the lease ends sooner
    ],
)
def test_while_pushed(
    normal_s: int, push_until: datetime | None, expected_s: int, reason: str
) -> None:
    normal = ScheduleDecision(NOW + timedelta(seconds=normal_s), normal_s, "normal")
    got = while_pushed(normal, push_until, NOW, D)
    assert (got.next_poll_at, got.interval_s, got.reason) == (
        NOW + timedelta(seconds=expected_s),
        expected_s,
        reason,
    )


def test_callback_url_setting() -> None:
    env = {"INGEST_WEBSUB_CALLBACK_URL": "https://ingest.example/base/"}
    assert load_settings(environ=env).websub_callback_url == "https://ingest.example/base"
    assert load_settings(environ={}).websub_callback_url == ""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"INGEST_WEBSUB_CALLBACK_URL": "ingest.example"})
    assert "INGEST_WEBSUB_CALLBACK_URL" in str(caught.value)
    assert "public http(s) base URL" in str(caught.value)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (None, "WebSub pushes it: polled max 24 h"),
        (HTTPStatusError(F, 500, "HTTP 500"), "500: error #1 backoff 5 min"),  # not stretched
    ],
)
def test_next_poll_applies_the_rule_to_successes_only(error: Exception | None, reason: str) -> None:
    feed = Feed(url=F, push_until=NOW + 10 * 24 * H)
    result = FetchResult(url=F, final_url=F, status=200, error=error, fetched_at=NOW)
    decision = next_poll(
        feed, result, parsed=None, new_count=0, known_count=0, now=NOW, settings=Settings()
    )
    assert decision.reason == reason
