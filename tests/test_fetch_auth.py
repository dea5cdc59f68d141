"""Private feeds: basic auth (from the config file, ${ENV} included, or the URL), per-feed
headers, cookies and User-Agent, against a real loopback server that checks them; and the
secrets never shown by the CLI, OPML export or error messages."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from feedserver import FeedServer, Reply, Request

from ingest.cli import cli
from ingest.errors import CredentialsError
from ingest.feedconfig import load_feeds
from ingest.fetch import Fetcher
from ingest.models import Feed, FeedOptions, FetchResult
from ingest.settings import FeedSpec, Settings

RSS = b"<rss version='2.0'><channel><title>private</title></channel></rss>"
SECRET = "s3cret-Pa55"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _guarded(feed_server: FeedServer, path: str = "/private.xml") -> str:
    """A route that answers 401 unless the request carries reader:SECRET."""

    def handler(req: Request) -> Reply:
        if req.headers.get("authorization") != _basic("reader", SECRET):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="feeds"'}, b"who are you?")
        return Reply(200, {"Content-Type": "application/rss+xml"}, RSS)

    return feed_server.route(path, handler=handler)


def _fetch(feed: Feed) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(Settings(allow_private_networks=True, per_host_delay_s=0)) as f:
            return await f.fetch(feed)

    return asyncio.run(go())


def _spec(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> FeedSpec:
    path = tmp_path / "feeds.toml"
    path.write_text(body)
    (spec,) = load_feeds(path, environ=environ or {})
    return spec


def _feed(spec: FeedSpec) -> Feed:
    return Feed(url=spec.url, options=spec.options)


def test_basic_auth_feed_with_the_password_from_the_environment(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = _guarded(feed_server)
    spec = _spec(
        tmp_path,
        f'[[feeds]]\nurl = "{url}"\nusername = "reader"\npassword = "${{FEED_PASSWORD}}"\n',
        {"FEED_PASSWORD": SECRET},
    )
    r = _fetch(_feed(spec))
    assert r.error is None and r.body == RSS
    assert feed_server.requests[-1].headers["authorization"] == _basic("reader", SECRET)


def test_wrong_credentials_are_named_without_showing_them(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = _guarded(feed_server)
    spec = _spec(tmp_path, f'[[feeds]]\nurl = "{url}"\nusername = "reader"\npassword = "wrong"\n')
    r = _fetch(_feed(spec))
    assert isinstance(r.error, CredentialsError) and r.error.status == 401
    assert r.error.kind == "needs_credentials"
    assert "needs credentials" in str(r.error) and "refused" in str(r.error)
    assert "wrong" not in str(r.error)
    none = _fetch(Feed(url=url))
    assert isinstance(none.error, CredentialsError)
    assert "needs credentials (set username and password" in str(none.error)


def test_credentials_in_the_url_work_and_leave_the_stored_url(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = _guarded(feed_server)
    with_secret = url.replace("http://", f"http://reader:{SECRET}@")
    spec = _spec(tmp_path, f'[[feeds]]\nurl = "{with_secret}"\n')
    assert spec.url == url and (spec.options.username, spec.options.password) == (
        "reader",
        SECRET,
    )
    assert _fetch(_feed(spec)).body == RSS
    # a Feed made with the user info still in its URL (not through the config): httpx's own
    # handling of URL credentials, and no message shows the password
    direct = _fetch(Feed(url=with_secret))
    assert direct.body == RSS
    wrong = _fetch(Feed(url=url.replace("http://", "http://reader:nope@")))
    assert isinstance(wrong.error, CredentialsError)
    assert "nope" not in str(wrong.error) and "reader:***@" in str(wrong.error)


def test_headers_cookies_and_user_agent_go_to_the_feeds_host_only(
    feed_server_factory: Callable[..., FeedServer], tmp_path: Path
) -> None:
    home = feed_server_factory("127.0.0.1")
    elsewhere = feed_server_factory("127.0.0.2")
    elsewhere.route("/moved.xml", body=RSS)
    home.route("/feed.xml", body=RSS)
    url = home.route("/old.xml", status=302, location=elsewhere.url("/moved.xml"))
    spec = _spec(
        tmp_path,
        f'[[feeds]]\nurl = "{home.url("/feed.xml")}"\nusername = "u"\npassword = "p"\n'
        'user_agent = "MyReader/2"\n'
        'headers = {X-Api-Key = "${API_KEY}", Accept-Language = "de"}\n'
        'cookies = {session = "abc", consent = "yes"}\n',
        {"API_KEY": "k-123"},
    )
    assert _fetch(_feed(spec)).body == RSS
    sent = home.requests[-1].headers
    assert sent["x-api-key"] == "k-123" and sent["accept-language"] == "de"
    assert sent["cookie"] == "session=abc; consent=yes"
    assert sent["user-agent"] == "MyReader/2" and sent["authorization"] == _basic("u", "p")
    moved = _fetch(Feed(url=url, options=spec.options))
    assert moved.body == RSS
    there = elsewhere.requests[-1].headers
    assert there["user-agent"] == "MyReader/2"
    assert not {"x-api-key", "cookie", "authorization"} & set(there)


def test_no_cookie_is_kept_between_fetches(feed_server: FeedServer) -> None:
    url = feed_server.route("/f", body=RSS, headers={"Set-Cookie": "tracker=1; Path=/"})

    async def go() -> None:
        async with Fetcher(Settings(allow_private_networks=True, per_host_delay_s=0)) as f:
            for _ in range(2):
                await f.fetch(Feed(url=url))

    asyncio.run(go())
    assert all("cookie" not in r.headers for r in feed_server.requests)


def test_secrets_never_shown_by_the_cli(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """feeds sync / list / show / export, a run's failure line: no password, no header
    value, no cookie (the URL's user info was moved out of it)."""
    monkeypatch.chdir(tmp_path)
    url = _guarded(feed_server)
    config = tmp_path / "feeds.toml"
    config.write_text(
        "[settings]\nallow_private_networks = true\nper_host_delay = 0\n"
        f'[[feeds]]\nurl = "{url.replace("http://", "http://reader:${FEED_PW}@")}"\n'
        'headers = {X-Token = "tok-${FEED_PW}"}\ncookies = {sid = "${FEED_PW}"}\n'
    )
    runner = CliRunner()
    env = {"FEED_PW": "not-" + SECRET}  # wrong: the run fails with a 401

    def call(*args: str) -> str:
        result = runner.invoke(
            cli, ["--db", str(tmp_path / "t.db"), "--config", str(config), *args], env=env
        )
        return result.output

    outputs = [
        call("feeds", "sync"),
        call("run"),
        call("feeds", "list"),
        call("feeds", "list", "--json"),
        call("feeds", "show", url),
        call("feeds", "export"),
    ]
    assert "needs credentials" in outputs[1]
    assert json.loads(outputs[3])[0]["url"] == url
    for out in outputs:
        assert SECRET not in out and "tok-" not in out, out
    assert "sid" not in repr(Feed(url=url, options=FeedOptions(cookies=(("sid", "x"),))))
    assert SECRET not in repr(FeedOptions(password=SECRET, headers=(("X", SECRET),)))
    assert SECRET not in repr(Settings(proxy=f"http://u:{SECRET}@proxy.lan:3128"))


def test_options_survive_the_store(tmp_path: Path) -> None:
    """Per-feed HTTP options are stored with the feed and read back the same."""
    from storage import open_store

    options = FeedOptions(
        username="u", password="p", headers=(("X-A", "1"),), cookies=(("c", "2"),),
        user_agent="UA/1", proxy="http://127.0.0.1:3128",
    )  # fmt: skip
    store: Any = open_store(tmp_path / "t.db")
    try:
        store.add_feed(FeedSpec(url="https://a.example/f", options=options))
        assert store.get_feed("https://a.example/f").options == options
    finally:
        store.close()


def test_opml_import_moves_url_credentials_out_of_the_url() -> None:
    from ingest.opml import export_opml, parse_opml

    doc = (
        b'<opml version="2.0"><body>'
        b'<outline text="P" xmlUrl="https://reader:s%40cret@a.example/rss"/></body></opml>'
    )
    (spec,), problems = parse_opml(doc, "feeds.opml")
    assert problems == [] and spec.url == "https://a.example/rss"
    assert (spec.options.username, spec.options.password) == ("reader", "s@cret")
    assert "cret" not in export_opml([Feed(url=spec.url, options=spec.options)])
