"""HTTPS through the fetcher's httpx client, against loopback TLS servers with certificates
from a throwaway CA (trustme), trusted through the `ca_bundle` setting or SSL_CERT_FILE
(a real CA cannot sign for 127.0.0.1); and HTTP/2 when `http2` is on."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer

from ingest.errors import NetworkError
from ingest.fetch import Fetcher
from ingest.models import Feed, FetchResult
from ingest.settings import Settings

trustme = pytest.importorskip("trustme")

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def _server(cert_ca: Any, hostname: str = "127.0.0.1") -> FeedServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert_ca.issue_cert(hostname).configure_cert(ctx)
    return FeedServer(tls=ctx).start()


@pytest.fixture
def ca() -> Any:
    return trustme.CA()


@pytest.fixture
def bundle(ca: Any, tmp_path: Path) -> str:
    """The throwaway CA as a PEM file."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _fetch(url: str, etag: str | None = None, **kw: Any) -> tuple[FetchResult, bool]:
    """The result, and whether the fetcher had loaded its CA certificates."""

    async def go() -> tuple[FetchResult, bool]:
        settings = Settings(allow_private_networks=True, per_host_delay_s=0, **kw)
        async with Fetcher(settings) as f:
            return await f.fetch(Feed(url=url, etag=etag)), f.transport.tls.loaded

    return asyncio.run(go())


@pytest.fixture
def https(ca: Any) -> Iterator[FeedServer]:
    server = _server(ca)
    yield server
    server.stop()


def test_https_feed_is_fetched_and_revalidated(https: FeedServer, bundle: str) -> None:
    url = https.route("/feed.xml", body=RSS, etag='"v1"')
    assert url.startswith("https://127.0.0.1:")
    first, loaded = _fetch(url, ca_bundle=bundle)
    assert first.error is None and first.status == 200 and first.body == RSS
    again, _ = _fetch(url, etag=first.etag, ca_bundle=bundle)
    assert again.error is None and again.status == 304 and again.not_modified
    assert https.requests_for("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
    assert loaded  # the bundle was loaded for the handshake


def test_ssl_cert_file_is_honoured(
    https: FeedServer, bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = https.route("/feed.xml", body=RSS)
    refused, _ = _fetch(url)  # certifi's bundle does not know the throwaway CA
    assert isinstance(refused.error, NetworkError) and "certificate" in str(refused.error)
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    trusted, _ = _fetch(url)
    assert trusted.error is None and trusted.body == RSS


def test_certificate_from_an_unknown_ca_is_refused(bundle: str) -> None:
    server = _server(trustme.CA())  # another CA: not trusted
    try:
        r, _ = _fetch(server.route("/feed.xml", body=RSS), ca_bundle=bundle)
        assert isinstance(r.error, NetworkError)
        assert "certificate verify failed" in str(r.error) and "127.0.0.1" in str(r.error)
        assert server.requests_for("/feed.xml") == []  # nothing was sent in the clear
    finally:
        server.stop()


def test_certificate_for_another_host_is_refused(ca: Any, bundle: str) -> None:
    server = _server(ca, hostname="feeds.example.org")
    try:
        r, _ = _fetch(server.route("/feed.xml", body=RSS), ca_bundle=bundle)
        assert isinstance(r.error, NetworkError)
        assert "certificate" in str(r.error).lower()
    finally:
        server.stop()


def test_plain_http_runs_never_load_the_ca_bundle(feed_server: FeedServer, bundle: str) -> None:
    r, loaded = _fetch(feed_server.route("/feed.xml", body=RSS), ca_bundle=bundle)
    assert r.error is None and r.status == 200
    assert not loaded  # ~15 ms a cron run over plain-http feeds does not pay


# --------------------------------------------------------------------------- HTTP/2


class H2Server:
    """A TLS server on 127.0.0.1 that speaks only HTTP/2 (h2's state machine) and answers
    every request with RSS; `protocols` records what each connection negotiated."""

    def __init__(self, ca: Any) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.ctx)
        self.ctx.set_alpn_protocols(["h2"])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.protocols: list[str | None] = []
        self.paths: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions

        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            return
        self.protocols.append(conn.selected_alpn_protocol())
        h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2c.initiate_connection()
        with conn:
            conn.sendall(h2c.data_to_send())
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    events = h2c.receive_data(data)
                except h2.exceptions.ProtocolError:  # an HTTP/1.1 client: not served
                    return
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        headers = dict(event.headers)
                        self.paths.append(headers[b":path"].decode())
                        h2c.send_headers(
                            event.stream_id,
                            [(":status", "200"), ("content-type", "application/rss+xml"),
                             ("content-length", str(len(RSS)))],
                        )  # fmt: skip
                        h2c.send_data(event.stream_id, RSS, end_stream=True)
                conn.sendall(h2c.data_to_send())

    def close(self) -> None:
        self.sock.close()


def test_http2_setting_speaks_http2(ca: Any, bundle: str) -> None:
    server = H2Server(ca)
    try:
        url = f"https://127.0.0.1:{server.port}/feed.xml"
        r, _ = _fetch(url, ca_bundle=bundle, http2=True)
        assert r.error is None and r.body == RSS
        assert server.protocols == ["h2"] and server.paths == ["/feed.xml"]
        off, _ = _fetch(url, ca_bundle=bundle)  # http2 = false (the default): HTTP/1.1 only
        assert off.error is not None and server.protocols[-1] is None
    finally:
        server.close()


def test_guarded_https_connects_to_the_checked_address_and_verifies_the_name(
    ca: Any, bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the guard on, the name is resolved and checked by us and the socket goes to that
    address, while TLS still sends the name (SNI) and checks the certificate against it."""
    from ingest import netguard

    real = netguard.blocked_reason
    monkeypatch.setattr(
        netguard, "blocked_reason", lambda ip: None if str(ip) == "127.0.0.2" else real(ip)
    )

    async def resolve(host: str, port: int) -> list[str]:
        return {"feeds.example.test": ["127.0.0.2"]}[host]

    monkeypatch.setattr(netguard, "resolve", resolve)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feeds.example.test").configure_cert(ctx)
    server = FeedServer(host="127.0.0.2", tls=ctx).start()
    try:
        server.route("/feed.xml", body=RSS)
        url = f"https://feeds.example.test:{server.port}/feed.xml"

        async def go() -> FetchResult:
            settings = Settings(per_host_delay_s=0, ca_bundle=bundle)  # the guard is on
            async with Fetcher(settings) as f:
                return await f.fetch(Feed(url=url))

        r = asyncio.run(go())
        assert r.error is None and r.body == RSS
        assert server.requests[0].headers["host"] == f"feeds.example.test:{server.port}"
    finally:
        server.stop()
