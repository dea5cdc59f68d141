"""Fetcher against a real misbehaving loopback server (tests/feedserver.py).

Loopback is allowed explicitly here (allow_private_networks=True); the guard itself is
tested in test_netguard.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from email.utils import formatdate
from typing import Any

import pytest
from feedserver import (
    FeedServer,
    Reply,
    Request,
    brotli_bomb,
    deflate_bomb,
    gzip_bomb,
)

from ingest.errors import (
    BotWallError,
    FetchError,
    GoneError,
    HTTPStatusError,
    NetworkError,
    RateLimitedError,
    RedirectError,
    TimeoutError_,
    TooLargeError,
)
from ingest.fetch import (
    FEED_ACCEPT,
    Fetcher,
    body_hash,
    detect_bot_wall,
    parse_retry_after,
)
from ingest.models import Feed, FetchResult
from ingest.settings import Settings

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ours</title></channel></rss>'
LM = "Tue, 03 Mar 2026 10:00:00 GMT"


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"allow_private_networks": True, "per_host_delay_s": 0.0}
    base.update(kw)
    return Settings(**base)


def fetch(feed: Feed | str, **kw: Any) -> FetchResult:
    if isinstance(feed, str):
        feed = Feed(url=feed)

    async def go() -> FetchResult:
        async with Fetcher(settings(**kw)) as f:
            return await f.fetch(feed)

    return asyncio.run(go())


# --------------------------------------------------------------------------- basics


def test_plain_200_has_body_hash_validators_and_polite_headers(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, etag='"v1"', last_modified=LM)
    r = fetch(url)
    assert r.error is None and r.status == 200
    assert r.body == RSS and r.body_hash == body_hash(RSS)
    assert (r.etag, r.last_modified) == ('"v1"', LM)
    assert not r.not_modified and not r.unchanged_body
    assert r.headers["content-type"].startswith("application/rss+xml")
    sent = feed_server.requests_for("/f")[0].headers
    assert sent["user-agent"].startswith("ingest/") and "+http" in sent["user-agent"]
    assert sent["accept"] == FEED_ACCEPT
    assert {"gzip", "br"} <= {e.strip() for e in sent["accept-encoding"].split(",")}
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_conditional_get_304_with_etag(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, etag='"v1"')
    r = fetch(Feed(url=url, etag='"v1"', body_hash="old"))
    assert feed_server.requests_for("/f")[0].headers["if-none-match"] == '"v1"'
    assert r.status == 304 and r.not_modified and r.body is None and r.error is None
    assert r.etag == '"v1"' and r.body_hash == "old"  # kept for the next run


def test_conditional_get_304_with_last_modified(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, last_modified=LM)
    r = fetch(Feed(url=url, last_modified=LM))
    assert feed_server.requests_for("/f")[0].headers["if-modified-since"] == LM
    assert r.status == 304 and r.not_modified and r.last_modified == LM


def test_unchanged_body_without_validators_is_not_returned(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)  # no ETag, no Last-Modified
    r = fetch(Feed(url=url, body_hash=body_hash(RSS)))
    assert r.status == 200 and r.unchanged_body and r.not_modified and r.body is None
    changed = fetch(Feed(url=url, body_hash=body_hash(b"something else")))
    assert changed.body == RSS and not changed.unchanged_body


def test_expires_0_server_with_new_etag_each_time_is_unchanged(feed_server: FeedServer) -> None:
    # Validators are useless here (a new ETag every request, Expires: 0): the hash decides.
    count = iter(range(1000))

    def handler(req: Request) -> Reply:
        headers = {"ETag": f'"{next(count)}"', "Expires": "0", "Cache-Control": "no-cache"}
        return Reply(200, headers, RSS)

    url = feed_server.route("/f", handler=handler)
    first = fetch(url)
    again = fetch(Feed(url=url, etag=first.etag, body_hash=first.body_hash))
    assert again.etag != first.etag and again.status == 200
    assert again.unchanged_body and again.body is None


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS * 50, gzip=True)
    r = fetch(url)
    assert r.body == RSS * 50 and r.headers["content-encoding"] == "gzip"
    assert r.bytes_read < len(RSS * 50)  # compressed on the wire


@pytest.mark.parametrize("encoding", ["deflate", "deflate-raw", "br", "gzip-members"])
def test_other_encodings_are_decoded(feed_server: FeedServer, encoding: str) -> None:
    import gzip

    import brotli

    body = RSS * 20
    if encoding == "deflate":
        data, header = zlib.compress(body), "deflate"
    elif encoding == "deflate-raw":
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        data, header = co.compress(body) + co.flush(), "deflate"
    elif encoding == "br":
        data, header = brotli.compress(body), "br"
    else:  # two concatenated gzip members are one valid gzip stream
        data, header = gzip.compress(body[:100]) + gzip.compress(body[100:]), "gzip"
    url = feed_server.route("/f", body=data, content_encoding=header)
    assert fetch(url).body == body


def test_unknown_content_encoding_is_a_named_error(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=b"xx", content_encoding="compress")
    err = fetch(url).error
    assert isinstance(err, FetchError) and "compress" in str(err) and url in str(err)


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_is_reported(feed_server: FeedServer, status: int) -> None:
    feed_server.route("/new", body=RSS)
    url = feed_server.route("/old", status=status, location="/new")
    r = fetch(url)
    assert r.error is None and r.body == RSS
    assert r.permanent_redirect == feed_server.url("/new") == r.final_url


def test_permanent_chain_records_last_permanent_hop(feed_server: FeedServer) -> None:
    feed_server.route("/c", body=RSS)
    feed_server.route("/b", status=308, location="/c")
    url = feed_server.route("/a", status=301, location="/b")
    assert fetch(url).permanent_redirect == feed_server.url("/c")


def test_temporary_hop_stops_recording(feed_server: FeedServer) -> None:
    feed_server.route("/c", body=RSS)
    feed_server.route("/b", status=302, location="/c")
    url = feed_server.route("/a", status=301, location="/b")
    r = fetch(url)
    # /a moved for good to /b; /b -> /c is temporary: the feed's new address is /b
    assert r.permanent_redirect == feed_server.url("/b") and r.final_url == feed_server.url("/c")


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_is_followed_not_recorded(feed_server: FeedServer, status: int) -> None:
    feed_server.route("/tmp-target", body=RSS)
    url = feed_server.route("/f", status=status, location="/tmp-target")
    r = fetch(url)
    assert r.body == RSS and r.permanent_redirect is None
    assert r.final_url == feed_server.url("/tmp-target")


def test_permanent_redirect_to_a_failure_is_not_recorded(feed_server: FeedServer) -> None:
    url = feed_server.route("/old", status=301, location="/missing")
    r = fetch(url)
    assert isinstance(r.error, HTTPStatusError) and r.error.status == 404
    assert r.permanent_redirect is None


def test_redirect_loop_is_reported(feed_server: FeedServer) -> None:
    feed_server.route("/b", status=302, location="/a")
    url = feed_server.route("/a", status=302, location="/b")
    err = fetch(url).error
    assert isinstance(err, RedirectError) and "loop" in str(err) and url in str(err)
    assert len(feed_server.requests) == 2  # noticed at once, not after max_redirects


def test_redirect_limit(feed_server: FeedServer) -> None:
    for i in range(10):
        feed_server.route(f"/r{i}", status=307, location=f"/r{i + 1}")
    feed_server.route("/r10", body=RSS)
    err = fetch(feed_server.url("/r0"), max_redirects=3).error
    assert isinstance(err, RedirectError) and "more than 3 redirects" in str(err)
    assert len(feed_server.requests) == 4
    assert fetch(feed_server.url("/r0"), max_redirects=10).body == RSS


def test_redirect_to_other_scheme_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", status=301, location="file:///etc/passwd")
    err = fetch(url).error
    assert isinstance(err, RedirectError) and "file:///etc/passwd" in str(err)


# --------------------------------------------------------------------------- statuses


def test_410_is_gone(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", status=410, body=b"gone")
    r = fetch(url)
    assert isinstance(r.error, GoneError) and r.status == 410 and r.body is None
    assert r.error.kind == "gone" and url in str(r.error)


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limited_with_retry_after_seconds(feed_server: FeedServer, status: int) -> None:
    url = feed_server.route("/f", status=status, retry_after="600")
    r = fetch(url)
    assert isinstance(r.error, RateLimitedError) and r.error.retry_after_s == 600
    assert r.error.status == status and "Retry-After 600 s" in str(r.error)
    assert r.headers["retry-after"] == "600"


def test_rate_limited_with_retry_after_date(feed_server: FeedServer) -> None:
    when = formatdate(time.time() + 3600, usegmt=True)
    url = feed_server.route("/f", status=429, retry_after=when)
    err = fetch(url).error
    assert isinstance(err, RateLimitedError)
    assert err.retry_after_s is not None and 3590 <= err.retry_after_s <= 3601


def test_rate_limited_without_retry_after(feed_server: FeedServer) -> None:
    err = fetch(feed_server.route("/f", status=429)).error
    assert isinstance(err, RateLimitedError) and err.retry_after_s is None


def test_cloudflare_challenge_header_is_named(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/f", status=403, headers={"cf-mitigated": "challenge"}, content_type="text/html",
        body=b"<html>please wait</html>",
    )  # fmt: skip
    err = fetch(url).error
    assert isinstance(err, BotWallError) and "Cloudflare" in str(err) and err.status == 403


def test_challenge_page_is_named(feed_server: FeedServer) -> None:
    page = b"<html><head><title>Just a moment...</title></head><body>x</body></html>"
    url = feed_server.route("/f", status=403, content_type="text/html", body=page)
    err = fetch(url).error
    assert isinstance(err, BotWallError) and "Cloudflare" in str(err)


def test_plain_403_is_a_status_error_not_a_wall(feed_server: FeedServer) -> None:
    err = fetch(feed_server.route("/f", status=403, body=b"forbidden")).error
    assert type(err) is HTTPStatusError and err.status == 403 and "403" in str(err)


@pytest.mark.parametrize("status", [404, 500, 502])
def test_other_statuses(feed_server: FeedServer, status: int) -> None:
    r = fetch(feed_server.route("/f", status=status, body=b"no"))
    assert type(r.error) is HTTPStatusError and r.error.status == status and r.status == status


@pytest.mark.parametrize(
    ("status", "headers", "body", "wall"),
    [
        (403, {"cf-mitigated": "challenge"}, b"", "Cloudflare"),
        (503, {}, b"<div id='cf-browser-verification'>", "Cloudflare"),
        (202, {"x-amzn-waf-action": "challenge"}, b"", "AWS WAF"),
        (403, {"x-datadome": "protected"}, b"", "DataDome"),
        (403, {}, b"<script src='https://ct.captcha-delivery.com/c.js'>", "DataDome"),
        (403, {"server": "ddos-guard"}, b"", "DDoS-Guard"),
        (403, {}, b"Incapsula incident ID: 123", "Imperva Incapsula"),
        (429, {"x-vercel-mitigated": "challenge"}, b"", "Vercel"),
        (200, {"content-type": "text/html"}, b"<title>Just a moment...</title>", "Cloudflare"),
        (200, {"content-type": "application/rss+xml"}, b"<rss>Just a moment...</rss>", None),
        (200, {"cf-mitigated": "challenge"}, b"<rss/>", None),
        (403, {}, b"Forbidden", None),
        (404, {"server": "cloudflare"}, b"not found", None),
    ],
)
def test_detect_bot_wall(
    status: int, headers: dict[str, str], body: bytes, wall: str | None
) -> None:
    assert detect_bot_wall(status, headers, body) == wall


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now, never negative
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 01 Mar 2026 12:10:00 GMT", now) == 600.0


# --------------------------------------------------------------------------- limits


def test_size_cap_by_content_length(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", size=64 * 1024 * 1024)
    r = fetch(url, max_body_bytes=1024 * 1024)
    assert isinstance(r.error, TooLargeError) and "1 MiB" in str(r.error)
    assert "Content-Length" in str(r.error)
    time.sleep(0.1)
    assert feed_server.bytes_streamed < 16 * 1024 * 1024  # socket buffers, not the body


def test_size_cap_while_streaming_without_content_length(feed_server: FeedServer) -> None:
    # Chunked, no Content-Length: only counting the stream can stop it.
    url = feed_server.route("/f", size=64 * 1024 * 1024, chunked=True)
    t0 = time.monotonic()
    r = fetch(url, max_body_bytes=256 * 1024)
    assert isinstance(r.error, TooLargeError) and "stopped reading" in str(r.error)
    assert time.monotonic() - t0 < 5
    time.sleep(0.1)
    assert feed_server.bytes_streamed < 16 * 1024 * 1024  # the download really stopped early


def test_big_feed_under_the_cap_is_fine(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", size=3 * 1024 * 1024, chunked=True)
    r = fetch(url, max_body_bytes=4 * 1024 * 1024)
    assert r.error is None and r.body is not None and len(r.body) == 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("make", "encoding"),
    [(gzip_bomb, "gzip"), (deflate_bomb, "deflate"), (brotli_bomb, "br")],
)
def test_decompression_bombs_stop_at_the_cap(
    feed_server: FeedServer, make: Any, encoding: str
) -> None:
    bomb = make(64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # small on the wire
    url = feed_server.route("/f", body=bomb, content_encoding=encoding)
    r = fetch(url, max_decompressed_bytes=2 * 1024 * 1024)
    assert isinstance(r.error, TooLargeError)
    assert "decompressed" in str(r.error) and encoding in str(r.error)


def test_trickling_server_is_cut_by_total_timeout(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, trickle_s=0.2)  # 5 bytes/s: never a read timeout
    t0 = time.monotonic()
    r = fetch(url, total_timeout_s=1.0, read_timeout_s=5.0)
    took = time.monotonic() - t0
    assert isinstance(r.error, TimeoutError_) and "total timeout" in str(r.error)
    assert 0.9 <= took < 3


def test_silent_server_hits_read_timeout(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, delay_s=3)
    r = fetch(url, read_timeout_s=0.3, total_timeout_s=10)
    assert isinstance(r.error, TimeoutError_) and "read timeout" in str(r.error)


def test_connect_refused_is_a_network_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = fetch(f"http://127.0.0.1:{port}/f")
    assert isinstance(r.error, NetworkError) and f"127.0.0.1:{port}" in str(r.error)


# --------------------------------------------------------------------------- politeness


def _fetch_many(urls: list[str], **kw: Any) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(settings(**kw)) as f:
            return await asyncio.gather(*(f.fetch(Feed(url=u)) for u in urls))

    return asyncio.run(go())


def test_per_host_concurrency_cap(feed_server: FeedServer) -> None:
    active = 0
    peak = 0
    import threading

    lock = threading.Lock()

    def handler(req: Request) -> Reply:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.15)
        with lock:
            active -= 1
        return Reply(200, {}, RSS)

    for i in range(6):
        feed_server.route(f"/f{i}", handler=handler)
    results = _fetch_many([feed_server.url(f"/f{i}") for i in range(6)])
    assert all(r.error is None for r in results)
    assert peak == 2  # settings default per_host_concurrency


def test_per_host_delay_spaces_requests(feed_server: FeedServer) -> None:
    for i in range(4):
        feed_server.route(f"/f{i}", body=RSS)
    _fetch_many([feed_server.url(f"/f{i}") for i in range(4)], per_host_delay_s=0.25)
    times = sorted(r.time for r in feed_server.requests)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3 and min(gaps) >= 0.2


def test_politeness_is_on_by_default() -> None:
    s = Settings()
    assert s.per_host_concurrency == 2 and s.per_host_delay_s > 0


def test_get_page_returns_bytes_and_raises_named_errors(feed_server: FeedServer) -> None:
    feed_server.route("/a", body=b"<html>article</html>", content_type="text/html", gzip=True)
    feed_server.route("/gone", status=410)

    async def go() -> tuple[bytes, Exception | None]:
        async with Fetcher(settings()) as f:
            page = await f.get_page(feed_server.url("/a"), allow_private=True)
            try:
                await f.get_page(feed_server.url("/gone"), allow_private=True)
            except GoneError as exc:
                return page, exc
            return page, None

    page, err = asyncio.run(go())
    assert page == b"<html>article</html>"
    assert isinstance(err, GoneError) and "/gone" in str(err)
    assert feed_server.requests_for("/a")[0].headers["accept"].startswith("text/html")


def test_one_connection_reused_across_fetches(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)

    async def go() -> int:
        async with Fetcher(settings()) as f:
            for _ in range(5):
                assert (await f.fetch(Feed(url=url))).error is None
            return f.idle_connections()

    assert asyncio.run(go()) == 1  # five requests, one kept-alive connection
    clients = {r.client for r in feed_server.requests}
    assert clients == {"127.0.0.1"}


@pytest.mark.parametrize("url", ["ftp://example.test/feed", "http:///nohost", "http://[::1"])
def test_unfetchable_feed_url_is_a_named_error(url: str) -> None:
    err = fetch(url).error
    assert isinstance(err, FetchError) and not isinstance(err, RedirectError)
    assert url in str(err)
