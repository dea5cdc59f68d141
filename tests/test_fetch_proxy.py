"""Fetching through a forward proxy (tests/proxyserver.py) started by the test on loopback:
the environment's proxy variables, the `proxy` setting (global and per feed), proxy
credentials, CONNECT tunnels for https, and the private-network guard through a proxy."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer
from proxyserver import ProxyServer, Socks5Server

from ingest import netguard
from ingest.errors import BlockedAddressError, CredentialsError, NetworkError
from ingest.fetch import Fetcher
from ingest.models import Feed, FeedOptions, FetchResult
from ingest.settings import Settings
from ingest.transport import bypassed, proxy_for

RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
PRETEND_PUBLIC = "127.0.0.2"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the machine running the tests leaks in."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer().start()
    yield server
    server.stop()


def _fetch_all(feeds: list[Feed], **kw: Any) -> list[FetchResult]:
    base: dict[str, Any] = {"allow_private_networks": True, "per_host_delay_s": 0.0}
    base.update(kw)

    async def go() -> list[FetchResult]:
        async with Fetcher(Settings(**base)) as f:
            return [await f.fetch(feed) for feed in feeds]

    return asyncio.run(go())


def _dead_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_environment_proxy_sees_every_feed_request_but_no_proxy_hosts(
    variable: str,
    proxy: ProxyServer,
    feed_server_factory: Callable[..., FeedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxied = feed_server_factory("127.0.0.1")
    direct = feed_server_factory("127.0.0.2")
    urls = [proxied.route(f"/f{i}", body=RSS) for i in range(3)]
    urls.append(direct.route("/d", body=RSS))
    monkeypatch.setenv(variable, proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.2")
    results = _fetch_all([Feed(url=u) for u in urls])
    assert [r.error for r in results] == [None] * 4 and all(r.body == RSS for r in results)
    assert proxy.seen == [f"GET {u}" for u in urls[:3]]  # every feed request, in order
    assert len(proxied.requests) == 3  # forwarded by the proxy
    assert len(direct.requests) == 1  # the NO_PROXY host: reached directly


def test_proxy_setting_overrides_the_environment_and_a_feed_may_go_direct(
    proxy: ProxyServer, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_dead_port()}")  # would fail
    a = feed_server.route("/a", body=RSS)
    b = feed_server.route("/b", body=RSS)
    results = _fetch_all(
        [Feed(url=a), Feed(url=b, options=FeedOptions(proxy="direct"))], proxy=proxy.url
    )
    assert [r.error for r in results] == [None, None]
    assert proxy.seen == [f"GET {a}"]
    # a feed's own proxy wins over the global one
    other = ProxyServer().start()
    try:
        (r,) = _fetch_all([Feed(url=a, options=FeedOptions(proxy=other.url))], proxy=proxy.url)
        assert r.error is None and other.seen == [f"GET {a}"] and len(proxy.seen) == 1
    finally:
        other.stop()


def test_dead_proxy_is_a_named_network_error(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS)
    (r,) = _fetch_all([Feed(url=url)], proxy=f"http://127.0.0.1:{_dead_port()}")
    assert isinstance(r.error, NetworkError) and url in str(r.error)
    assert feed_server.requests == []


def test_proxy_credentials(feed_server: FeedServer) -> None:
    proxy = ProxyServer(auth=("px", "pxsecret")).start()
    try:
        url = feed_server.route("/f", body=RSS)
        (refused,) = _fetch_all([Feed(url=url)], proxy=proxy.url)
        assert isinstance(refused.error, CredentialsError) and refused.error.status == 407
        assert "proxy needs credentials" in str(refused.error)
        wrong = f"http://px:nope@127.0.0.1:{proxy.port}"
        (bad,) = _fetch_all([Feed(url=url)], proxy=wrong)
        assert "proxy needs credentials" in str(bad.error) and "nope" not in str(bad.error)
        good = f"http://px:pxsecret@127.0.0.1:{proxy.port}"
        (ok,) = _fetch_all([Feed(url=url)], proxy=good)
        assert ok.error is None and ok.body == RSS
        assert len(feed_server.requests) == 1
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- https: CONNECT


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FeedServer, str]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = FeedServer(tls=ctx).start()
    yield server, str(bundle)
    server.stop()


def test_https_feed_goes_through_a_connect_tunnel(
    proxy: ProxyServer, tls_server: tuple[FeedServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, bundle = tls_server
    url = server.route("/feed.xml", body=RSS)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    (r,) = _fetch_all([Feed(url=url)], ca_bundle=bundle)
    assert r.error is None and r.body == RSS
    assert proxy.seen == [f"CONNECT 127.0.0.1:{server.port}"]


def test_connect_refused_for_want_of_credentials_is_named(
    tls_server: tuple[FeedServer, str],
) -> None:
    server, bundle = tls_server
    proxy = ProxyServer(auth=("px", "pxsecret")).start()
    try:
        (r,) = _fetch_all(
            [Feed(url=server.route("/f", body=RSS))], proxy=proxy.url, ca_bundle=bundle
        )
        assert isinstance(r.error, CredentialsError) and "proxy needs credentials" in str(r.error)
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- the guard


@pytest.fixture
def pretend_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = netguard.blocked_reason

    def fake(address: Any) -> str | None:
        return None if str(address) == PRETEND_PUBLIC else real(address)

    monkeypatch.setattr(netguard, "blocked_reason", fake)


def test_guard_checks_the_target_before_the_proxy_is_asked(
    pretend_public: None,
    proxy: ProxyServer,
    feed_server_factory: Callable[..., FeedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy (on loopback: the operator's choice) is used; a feed whose host is
    internal is refused before anything is sent to it, whatever name it goes by."""
    public = feed_server_factory(PRETEND_PUBLIC)
    internal = feed_server_factory("127.0.0.1")
    ok_url = public.route("/ok", body=RSS)
    internal.route("/secret", body=b"admin panel")
    redirecting = public.route("/moved", status=302, location=internal.url("/secret"))

    async def fake_resolve(host: str, port: int) -> list[str]:
        return {"intranet.example.test": ["10.0.0.5"]}[host]

    monkeypatch.setattr(netguard, "resolve", fake_resolve)
    feeds = [
        Feed(url=ok_url),
        Feed(url=internal.url("/secret")),
        Feed(url="http://intranet.example.test/rss"),
        Feed(url=redirecting),
    ]
    ok, loopback, named, redirected = _fetch_all(
        feeds, proxy=proxy.url, allow_private_networks=False
    )
    assert ok.error is None and ok.body == RSS
    assert isinstance(loopback.error, BlockedAddressError) and "loopback" in str(loopback.error)
    assert isinstance(named.error, BlockedAddressError)
    assert "intranet.example.test resolves to 10.0.0.5" in str(named.error)
    assert isinstance(redirected.error, BlockedAddressError)  # the redirect hop checked too
    assert proxy.seen == [f"GET {ok_url}", f"GET {redirecting}"]
    assert internal.requests == []


# --------------------------------------------------------------------------- choosing


@pytest.mark.parametrize(
    ("url", "setting", "environ", "expected"),
    [
        ("http://a.example/f", None, {}, None),
        ("http://a.example/f", None, {"http": "http://p:3128"}, "http://p:3128"),
        ("https://a.example/f", None, {"http": "http://p:3128"}, None),
        ("https://a.example/f", None, {"https": "p:3128"}, "http://p:3128"),
        ("https://a.example/f", None, {"all": "socks5://s:1080"}, "socks5://s:1080"),
        ("http://a.example/f", None, {"http": "http://p", "no": "*"}, None),
        ("http://feeds.a.example/f", None, {"http": "http://p", "no": ".a.example"}, None),
        ("http://a.example/f", None, {"http": "http://p", "no": "a.example"}, None),
        ("http://ba.example/f", None, {"http": "http://p", "no": "a.example"}, "http://p"),
        ("http://10.1.2.3/f", None, {"http": "http://p", "no": "10.0.0.0/8"}, None),
        ("http://a.example:8080/f", None, {"http": "http://p", "no": "a.example:80"}, "http://p"),
        ("http://a.example:8080/f", None, {"http": "http://p", "no": "a.example:8080"}, None),
        ("http://a.example/f", "http://mine:1", {"http": "http://p", "no": "*"}, "http://mine:1"),
        ("http://a.example/f", "direct", {"http": "http://p"}, None),
    ],
)
def test_proxy_for(
    url: str, setting: str | None, environ: dict[str, str], expected: str | None
) -> None:
    import httpx

    assert proxy_for(httpx.URL(url), setting, environ) == expected


def test_bypassed_ipv6() -> None:
    assert bypassed("::1", None, "::1") and bypassed("[::1]", 80, "[::1]:80")
    assert not bypassed("::2", None, "::1")


# --------------------------------------------------------------------------- SOCKS


def test_socks5_proxy(pretend_public: None, feed_server_factory: Callable[..., FeedServer]) -> None:
    public = feed_server_factory(PRETEND_PUBLIC)
    url = public.route("/feed.xml", body=RSS)
    socks = Socks5Server()
    try:
        ok, refused = _fetch_all(
            [Feed(url=url), Feed(url=f"http://127.0.0.1:{public.port}/feed.xml")],
            proxy=socks.url,
            allow_private_networks=False,
        )
        assert ok.error is None and ok.body == RSS
        assert isinstance(refused.error, BlockedAddressError)
        assert socks.seen == [f"{PRETEND_PUBLIC}:{public.port}"]  # the refused one: never asked
        assert len(public.requests) == 1
    finally:
        socks.stop()
