"""The private-network guard: pure classification, and real connections refused.

These tests keep the default settings (private networks NOT allowed) on purpose.  A "public"
host is simulated by declaring 127.0.0.2 public (monkeypatching netguard.blocked_reason) and
serving it on that loopback address; names are resolved by a monkeypatched netguard.resolve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from feedserver import FeedServer

from ingest import netguard
from ingest.errors import BlockedAddressError
from ingest.fetch import Fetcher
from ingest.models import Feed, FeedOptions, FetchResult
from ingest.settings import Settings

RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
PRETEND_PUBLIC = "127.0.0.2"


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.45.6.7", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "private"),  # documentation range (is_private in Python)
        ("::ffff:127.0.0.1", "loopback (embedded in IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata (embedded in IPv6)"),
        ("64:ff9b::a00:1", "private (embedded in IPv6)"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:101::1", "private (embedded in IPv6)"),  # 6to4 of 192.168.1.1
        ("93.184.215.14", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:1.1.1.1", None),
    ],
)
def test_blocked_reason(ip: str, why: str | None) -> None:
    assert netguard.blocked_reason(ip) == why


def _fetch(feed: Feed, settings: Settings | None = None) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings or Settings(per_host_delay_s=0)) as f:
            return await f.fetch(feed)

    return asyncio.run(go())


@pytest.fixture
def pretend_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = netguard.blocked_reason

    def fake(address: Any) -> str | None:
        return None if str(address) == PRETEND_PUBLIC else real(address)

    monkeypatch.setattr(netguard, "blocked_reason", fake)


def _resolver(monkeypatch: pytest.MonkeyPatch, answers: Callable[[str], list[str]]) -> list[str]:
    asked: list[str] = []

    async def fake(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers(host)

    monkeypatch.setattr(netguard, "resolve", fake)
    return asked


def test_loopback_refused_by_default(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)
    r = _fetch(Feed(url=url))
    assert isinstance(r.error, BlockedAddressError)
    assert "127.0.0.1 is a loopback address" in str(r.error) and url in str(r.error)
    assert feed_server.requests == []  # never connected


def test_localhost_name_refused_after_resolution(feed_server: FeedServer) -> None:
    feed_server.route("/f", body=RSS)
    r = _fetch(Feed(url=f"http://localhost:{feed_server.port}/f"))
    assert isinstance(r.error, BlockedAddressError)
    assert "localhost resolves to" in str(r.error) and "loopback" in str(r.error)
    assert feed_server.requests == []


def test_allowed_per_feed(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)
    r = _fetch(Feed(url=url, options=FeedOptions(allow_private_network=True)))
    assert r.error is None and r.body == RSS


def test_allowed_globally(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)
    r = _fetch(Feed(url=url), Settings(allow_private_networks=True, per_host_delay_s=0))
    assert r.error is None and r.body == RSS


def test_per_feed_permission_does_not_leak_to_other_feeds(feed_server: FeedServer) -> None:
    # the allowed feed's pooled connection must not carry the next, not allowed, feed
    url = feed_server.route("/f", body=RSS)

    async def go() -> tuple[FetchResult, FetchResult]:
        async with Fetcher(Settings(per_host_delay_s=0)) as f:
            ok = await f.fetch(Feed(url=url, options=FeedOptions(allow_private_network=True)))
            refused = await f.fetch(Feed(url=url))
            return ok, refused

    ok, refused = asyncio.run(go())
    assert ok.error is None and isinstance(refused.error, BlockedAddressError)
    assert len(feed_server.requests) == 1


def test_redirect_from_public_host_to_loopback_refused(
    pretend_public: None, feed_server_factory: Callable[..., FeedServer]
) -> None:
    internal = feed_server_factory("127.0.0.1")
    internal.route("/secret", body=b"admin panel")
    public = feed_server_factory(PRETEND_PUBLIC)
    url = public.route("/feed", status=302, location=internal.url("/secret"))
    public.route("/ok", body=RSS)
    assert _fetch(Feed(url=public.url("/ok"))).body == RSS  # the public host itself is fine
    r = _fetch(Feed(url=url))
    assert isinstance(r.error, BlockedAddressError) and "127.0.0.1" in str(r.error)
    assert len(public.requests_for("/feed")) == 1
    assert internal.requests == []  # the redirect target was never contacted


def test_name_resolving_to_metadata_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolver(monkeypatch, lambda host: ["169.254.169.254"])
    r = _fetch(Feed(url="http://feeds.example.test/rss"))
    assert isinstance(r.error, BlockedAddressError)
    assert "feeds.example.test resolves to 169.254.169.254" in str(r.error)
    assert "cloud metadata" in str(r.error)


def test_any_internal_address_in_the_answer_is_refused(
    monkeypatch: pytest.MonkeyPatch, pretend_public: None
) -> None:
    _resolver(monkeypatch, lambda host: [PRETEND_PUBLIC, "10.0.0.5"])
    r = _fetch(Feed(url="http://mixed.example.test/rss"))
    assert isinstance(r.error, BlockedAddressError) and "10.0.0.5" in str(r.error)


def test_dns_rebinding_refused(
    monkeypatch: pytest.MonkeyPatch,
    pretend_public: None,
    feed_server_factory: Callable[..., FeedServer],
) -> None:
    # The name answers "public" first, then an internal address. We resolve once per
    # connection and connect to exactly the address we checked, so the second answer is
    # refused and the internal server never sees a request.
    public = feed_server_factory(PRETEND_PUBLIC)
    internal = feed_server_factory("127.0.0.1", public.port)
    public.route("/rss", body=RSS)
    internal.route("/rss", body=b"internal")
    answers = iter([[PRETEND_PUBLIC], ["127.0.0.1"]])
    asked = _resolver(monkeypatch, lambda host: next(answers))
    url = f"http://rebind.example.test:{public.port}/rss"
    first = _fetch(Feed(url=url))
    second = _fetch(Feed(url=url))
    assert first.body == RSS
    assert public.requests[0].headers["host"] == f"rebind.example.test:{public.port}"
    assert isinstance(second.error, BlockedAddressError) and "127.0.0.1" in str(second.error)
    assert internal.requests == [] and asked == ["rebind.example.test"] * 2
