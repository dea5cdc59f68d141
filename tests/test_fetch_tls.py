"""HTTPS through the fetcher's own asyncio network backend, against a loopback TLS server
with certificates from a throwaway CA (trustme). The only stand-in: the fetcher's trust
store is swapped for one that knows that CA (a real CA cannot sign for 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import pytest
from feedserver import FeedServer

from ingest import fetch
from ingest.errors import NetworkError
from ingest.fetch import Fetcher
from ingest.models import Feed
from ingest.settings import Settings

trustme = pytest.importorskip("trustme")

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def _server(cert_ca: trustme.CA, hostname: str = "127.0.0.1") -> FeedServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert_ca.issue_cert(hostname).configure_cert(ctx)
    return FeedServer(tls=ctx).start()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[ssl.SSLContext]:
    """The fetcher's trust store knows `ca` (and, once loaded, certifi's bundle as usual)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(ctx)
    monkeypatch.setattr(fetch, "_ssl_context", lambda: ctx)
    monkeypatch.setattr(fetch, "_cas_loaded", False)
    yield ctx


def _fetch(url: str, etag: str | None = None) -> fetch.FetchResult:
    async def go() -> fetch.FetchResult:
        async with Fetcher(Settings(allow_private_networks=True, per_host_delay_s=0)) as f:
            return await f.fetch(Feed(url=url, etag=etag))

    return asyncio.run(go())


def test_https_feed_is_fetched_and_revalidated(ca: trustme.CA, trusting: ssl.SSLContext) -> None:
    server = _server(ca)
    try:
        url = server.route("/feed.xml", body=RSS, etag='"v1"')
        assert url.startswith("https://127.0.0.1:")
        first = _fetch(url)
        assert first.error is None and first.status == 200 and first.body == RSS
        again = _fetch(url, etag=first.etag)
        assert again.error is None and again.status == 304 and again.not_modified
        assert server.requests_for("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
        assert fetch._cas_loaded  # the bundle was loaded for the handshake
    finally:
        server.stop()


def test_certificate_from_an_unknown_ca_is_refused(trusting: ssl.SSLContext) -> None:
    server = _server(trustme.CA())  # another CA: not trusted
    try:
        r = _fetch(server.route("/feed.xml", body=RSS))
        assert isinstance(r.error, NetworkError)
        assert "certificate verify failed" in str(r.error) and "127.0.0.1" in str(r.error)
        assert server.requests_for("/feed.xml") == []  # nothing was sent in the clear
    finally:
        server.stop()


def test_certificate_for_another_host_is_refused(ca: trustme.CA, trusting: ssl.SSLContext) -> None:
    server = _server(ca, hostname="feeds.example.org")
    try:
        r = _fetch(server.route("/feed.xml", body=RSS))
        assert isinstance(r.error, NetworkError)
        assert "certificate" in str(r.error).lower()
    finally:
        server.stop()


def test_plain_http_runs_never_load_the_ca_bundle(
    feed_server: FeedServer, trusting: ssl.SSLContext
) -> None:
    r = _fetch(feed_server.route("/feed.xml", body=RSS))
    assert r.error is None and r.status == 200
    assert not fetch._cas_loaded  # ~15 ms a cron run over plain-http feeds does not pay
