"""A fetch timeout that expired while this process's own event loop was stalled is not the
server's fault: the request goes once more (ingest/loopwatch.py). Real loopback server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from feedserver import FeedServer

from ingest.errors import TimeoutError_
from ingest.fetch import Fetcher
from ingest.loopwatch import LoopWatch
from ingest.models import Feed, FetchResult
from ingest.settings import Settings

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ours</title></channel></rss>'
TIMEOUT = 1.5  # connect and read timeouts of these tests
STALL = 4.0  # a synchronous stretch of the loop, longer than either timeout


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer().start()
    yield s
    s.stop()


def _settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "allow_private_networks": True,
        "per_host_delay_s": 0.0,
        "connect_timeout_s": TIMEOUT,
        "read_timeout_s": TIMEOUT,
    }
    base.update(kw)
    return Settings(**base)


def _fetch_during_stall(url: str, stall_s: float, **kw: Any) -> FetchResult:
    """Fetch `url` while the loop is blocked for `stall_s` right after the request began
    (what a store write under the lock, or a big parse, does to the fetches in flight)."""

    async def go() -> FetchResult:
        async with Fetcher(_settings(**kw)) as f:
            task = asyncio.create_task(f.fetch(Feed(url=url)))
            for _ in range(3):  # a few turns of the loop: the connection is being made
                await asyncio.sleep(0)
            time.sleep(stall_s)  # the stall under test
            return await task

    return asyncio.run(go())


def test_a_timeout_during_our_own_stall_is_retried(server: FeedServer) -> None:
    url = server.route("/feed.xml", body=RSS)
    r = _fetch_during_stall(url, STALL)
    assert r.error is None and r.status == 200 and r.body == RSS
    assert len(server.requests_for("/feed.xml")) in (1, 2)  # sent again only if it was lost


def test_a_server_that_is_really_slow_still_times_out(server: FeedServer) -> None:
    # no stall of ours: the server's own silence is the timeout's to report
    url = server.route("/slow.xml", body=RSS, delay_s=3 * TIMEOUT)
    r = _fetch_during_stall(url, 0.0)
    assert isinstance(r.error, TimeoutError_)
    assert "read timeout" in r.error.reason
    assert len(server.requests_for("/slow.xml")) == 1


def test_the_watch_sees_a_stall_and_only_while_requests_are_in_flight() -> None:
    async def go() -> tuple[float, float, float]:
        watch = LoopWatch()
        since = watch.enter()
        await asyncio.sleep(0.3)
        calm = watch.stalled(since)
        time.sleep(1.2)  # the stall under test
        await asyncio.sleep(0.3)  # the watch's tick runs and records the stall
        seen = watch.stalled(since)
        watch.leave()
        # no request in flight: the watch no longer ticks (an idle daemon is not woken)
        ticking = sum(1 for h in asyncio.get_running_loop()._scheduled if not h.cancelled())  # type: ignore[attr-defined]
        return calm, seen, float(ticking)

    calm, seen, ticking = asyncio.run(go())
    assert calm < 0.5
    assert 0.7 <= seen <= 2.5
    assert ticking == 0.0
