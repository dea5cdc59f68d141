"""`ingest serve` as a WebSub subscriber, against the loopback hub of tests/websubhub.py, on
both backends: it finds the hub in the feed, subscribes, answers the verification, stores
signed pushes (and ignores badly signed ones), renews its lease, polls the feed rarely
meanwhile, and unsubscribes a removed feed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from feedserver import FeedServer
from samplefeeds import make_items
from servekit import LOCAL, LiveServer
from websubhub import Hub

from ingest.models import Subscription
from ingest.pipeline import run_once
from ingest.settings import FeedSpec, load_settings
from ingest.websub import Timing, WebSubConfig
from storage import Store, open_store

ATOM_NS = "http://www.w3.org/2005/Atom"


def feed_body(url: str, hub: str | None, items: list[dict[str, str]]) -> bytes:
    links = f'<atom:link rel="self" href="{url}"/>'
    if hub:
        links += f'<atom:link rel="hub" href="{hub}"/>'
    parts = [
        f'<?xml version="1.0"?><rss version="2.0" xmlns:atom="{ATOM_NS}"><channel>'
        f"<title>Pushed</title><link>https://pushed.example/</link>{links}"
    ]
    for it in items:
        parts.append(
            f"<item><title>{it['title']}</title><link>{it['link']}</link>"
            f"<guid>{it['guid']}</guid><pubDate>{it['date']}</pubDate>"
            f"<description><![CDATA[{it['html']}]]></description></item>"
        )
    return ("".join(parts) + "</channel></rss>").encode()


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        open_store(tmp_path / "ingest.db").close()
        return str(tmp_path / "ingest.db")
    url: str = request.getfixturevalue("pg_url")
    open_store(url).close()
    return url


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub(lease_s=3) as h:
        yield h


def until(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def config(base_url: str, **settings: object) -> WebSubConfig:
    s = load_settings(environ={}).replace(
        websub_callback_url=base_url, per_host_delay_s=0.0, **settings
    )
    return WebSubConfig(s, tick_s=0.1, timing=Timing(recheck_s=3600, retry_s=2.0))


def one_feed(target: str, hub: Hub, feed_server: FeedServer) -> tuple[str, Store]:
    """A store with one feed that names `hub`."""
    topic = feed_server.url("/pushed.xml")
    feed_server.route("/pushed.xml", body=feed_body(topic, hub.url, make_items(1, 1)))
    store = open_store(target)
    store.add_feed(FeedSpec(url=topic, options=LOCAL))
    return topic, store


def sub_of(store: Store, url: str) -> Subscription | None:
    return next((s for s in store.subscriptions() if s.feed_url == url), None)


def test_subscribe_verify_push_renew_unsubscribe(
    target: str, hub: Hub, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.websub")
    topic = feed_server.url("/pushed.xml")
    feed_server.route("/pushed.xml", body=feed_body(topic, hub.url, make_items(1, 2)))
    quiet = feed_server.route("/quiet.xml", body=feed_body("", None, make_items(2, 1)))
    store = open_store(target)
    store.add_feed(FeedSpec(url=topic, options=LOCAL))
    store.add_feed(FeedSpec(url=quiet, options=LOCAL))
    with LiveServer(target, websub_at=config) as live:
        # subscribed and verified: the hub got the callback's echo of its challenge
        hub.wait_for(lambda h: h.active(topic))
        request = hub.requests[0]
        assert request["hub.mode"] == "subscribe" and request["hub.topic"] == topic
        assert request["hub.callback"].startswith(live.base_url + "/websub/")
        assert len(request["hub.secret"]) == 64 and request["hub.lease_seconds"] == "864000"
        until(lambda: (s := sub_of(store, topic)) is not None and s.state == "active")
        sub = sub_of(store, topic)
        assert sub is not None and sub.lease_until is not None and sub.hub == hub.url
        until(lambda: (s := sub_of(store, quiet)) is not None and s.state == "nohub")

        # a signed push is stored through the pipeline; badly signed ones are acknowledged
        # and ignored
        assert hub.publish(topic, feed_body(topic, hub.url, make_items(3, 2))) == [202]
        titles = [a.title for a in store.articles(feed_url=topic)]
        assert len(titles) == 2
        pushed = feed_body(topic, hub.url, make_items(4, 1))
        assert hub.publish(topic, pushed, secret="not the secret") == [202]
        assert hub.publish(topic, pushed, signed=False) == [202]
        assert hub.publish(topic, pushed, method="sha512") == [202]
        assert len(list(store.articles(feed_url=topic))) == 3
        assert "the sha256 signature does not match" in caplog.text
        assert "no X-Hub-Signature header" in caplog.text
        # not a feed: acknowledged, logged naming the feed
        assert hub.publish(topic, b"<html>oops</html>", content_type="text/html") == [202]
        assert f"push for {topic} ignored" in caplog.text

        # the lease (3 s) is renewed before it ends: verified again, extended
        first = sub.lease_until
        hub.wait_for(
            lambda h: sum(v.mode == "subscribe" and v.echoed for v in h.verifications) >= 2
        )
        until(lambda: (s := sub_of(store, topic)) is not None and s.lease_until > first)  # type: ignore[operator]
        assert len([r for r in hub.requests if r["hub.topic"] == topic]) >= 2

        # polled rarely while pushed (the claim hands the lease end to the schedule): the
        # next renewal gets a 3-day lease, longer than the 1-day maximum interval
        hub.lease_s = 3 * 86400
        until(lambda: (s := sub_of(store, topic)) is not None and s.lease_until > first + timedelta(days=1))  # type: ignore[operator]  # fmt: skip
        settings = load_settings(environ={}).replace(per_host_delay_s=0.0, workers=1)
        asyncio.run(run_once(store, settings, force=True, urls=[topic]))
        polled = store.get_feed(topic)
        assert polled is not None and polled.push_until is not None
        assert polled.schedule_reason == "WebSub pushes it: polled max 24 h"

        # a removed feed is unsubscribed, verified, forgotten
        store.remove_feed(topic)
        hub.wait_for(lambda h: any(v.mode == "unsubscribe" and v.echoed for v in h.verifications))
        until(lambda: sub_of(store, topic) is None)
        assert not hub.active(topic)
        # a push for it now: 410, so the hub drops it
        callback = request["hub.callback"]
        assert httpx.post(callback, content=pushed).status_code == 410
    store.close()


def test_verification_refuses_what_was_not_asked(
    target: str, hub: Hub, feed_server: FeedServer
) -> None:
    topic, store = one_feed(target, hub, feed_server)
    with LiveServer(target, websub_at=config) as live:
        hub.wait_for(lambda h: h.active(topic))
        callback = hub.requests[0]["hub.callback"]

        def ask(url: str, **params: str) -> httpx.Response:
            return httpx.get(url, params={"hub.challenge": "c", **params}, timeout=10)

        # unknown callback, another topic, a mode nobody asked for, no lease
        assert ask(live.base_url + "/websub/nope", **{"hub.mode": "subscribe",
                   "hub.topic": topic, "hub.lease_seconds": "9"}).status_code == 404  # fmt: skip
        other = {"hub.mode": "subscribe", "hub.topic": topic + "?x", "hub.lease_seconds": "9"}
        assert ask(callback, **other).status_code == 404
        assert ask(callback, **{"hub.mode": "unsubscribe", "hub.topic": topic}).status_code == 404
        assert ask(callback, **{"hub.mode": "subscribe", "hub.topic": topic}).status_code == 404
        sub = sub_of(store, topic)
        assert sub is not None and sub.state == "active"
        # the routes are outside the API's document
        assert "/websub/" not in httpx.get(live.base_url + "/openapi.json").text
        # a denial is noted; the feed is polled normally again
        assert hub.deny(callback, topic, "no more").status_code == 200
        denied = sub_of(store, topic)
        assert denied is not None and denied.state == "denied"
        assert denied.error == "the hub denied it: no more"
        feed = store.get_feed(topic)
        assert feed is not None and feed.push_until is None
    store.close()


def test_a_hub_that_refuses_is_noted(target: str, feed_server: FeedServer) -> None:
    with Hub(refuse=400) as hub:
        topic, store = one_feed(target, hub, feed_server)
        with LiveServer(target, websub_at=config):
            until(lambda: (s := sub_of(store, topic)) is not None and s.state == "failed")
        sub = sub_of(store, topic)
        assert sub is not None
        assert sub.error == f"hub {hub.url} answered HTTP 400: Bad Request"
        store.close()


def test_the_token_does_not_guard_the_callbacks(
    target: str, hub: Hub, feed_server: FeedServer
) -> None:
    topic, store = one_feed(target, hub, feed_server)
    with LiveServer(target, websub_at=config, api_token="s3cret") as live:
        hub.wait_for(lambda h: h.active(topic))
        assert httpx.get(live.base_url + "/api/feeds").status_code == 401
    store.close()


def test_serve_subscribes_when_the_callback_url_is_set(
    tmp_path: Path, hub: Hub, feed_server: FeedServer
) -> None:
    """`ingest serve` with INGEST_WEBSUB_CALLBACK_URL: the setting reaches the subscriber,
    whose callbacks live under that public URL (here the server's own address)."""
    db = tmp_path / "ingest.db"
    topic, store = one_feed(str(db), hub, feed_server)
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    public = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env |= {"INGEST_DB": str(db), "INGEST_SERVE_PORT": str(port), "INGEST_PER_HOST_DELAY": "0",
            "INGEST_WEBSUB_CALLBACK_URL": public + "/"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        hub.wait_for(lambda h: h.active(topic), timeout=30)
        assert hub.requests[0]["hub.callback"].startswith(public + "/websub/")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert f"WebSub: subscribing with callbacks under {public}/websub/" in err.decode()


def test_feeds_show_tells_the_subscription(target: str, hub: Hub, feed_server: FeedServer) -> None:
    """`feeds show` says whether pushes come, from which hub, until when -- never the
    secret the hub signs them with."""
    from click.testing import CliRunner

    from ingest.cli import cli

    topic, store = one_feed(target, hub, feed_server)

    def show(*extra: str) -> str:
        done = CliRunner().invoke(cli, ["--db", target, "feeds", "show", topic, *extra])
        assert done.exit_code == 0, done.output
        return done.output

    assert '"websub": null' in show("--json")  # never subscribed
    with LiveServer(target, websub_at=config):
        until(lambda: (s := sub_of(store, topic)) is not None and s.state == "active")
    sub = sub_of(store, topic)
    assert sub is not None and sub.secret
    record = json.loads(show("--json"))
    assert record["websub"]["state"] == "active" and record["websub"]["hub"] == hub.url
    assert record["websub"]["lease_until"] and record["websub"]["error"] is None
    text = show()
    assert f"websub: state active, hub {hub.url}, lease_until " in text
    assert sub.secret not in text and sub.secret not in show("--json")
    store.close()


def test_two_servers_on_one_store_subscribe_once_and_hand_over(
    target: str, hub: Hub, feed_server: FeedServer
) -> None:
    """Two `serve` processes started together on one store: one subscribes and renews (the
    hub hears from a single callback), the other only answers; once the first stops, the
    second takes over and renews the lease itself."""
    topic, store = one_feed(target, hub, feed_server)
    a = LiveServer(target, websub_at=config).__enter__()
    b = LiveServer(target, websub_at=config).__enter__()
    try:
        # subscribed, then renewed twice (3 s leases) while both run
        hub.wait_for(
            lambda h: sum(v.mode == "subscribe" and v.echoed for v in h.verifications) >= 3
        )
        asked = {r["hub.callback"].split("/websub/")[0] for r in hub.requests}
        assert len(asked) == 1, asked
        leader, other = (a, b) if asked == {a.base_url} else (b, a)
        leader.__exit__(None, None, None)
        # the lease is renewed by the one left, under its own callback
        hub.wait_for(
            lambda h: any(r["hub.callback"].startswith(other.base_url) for r in h.requests)
        )
        until(lambda: (s := sub_of(store, topic)) is not None and s.state == "active")
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)
    store.close()
