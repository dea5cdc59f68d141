"""Which claimed feed a pass starts next (ingest/hostqueue.py), and the pass that uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from feedserver import FeedServer
from test_daemon import ingest, make_items, rss

from ingest.hostqueue import HostQueue, host_of


def test_a_host_in_its_delay_gives_way_to_other_hosts() -> None:
    q: HostQueue[str] = HostQueue(per_host=2, delay_s=1.0)
    for item in ("a1", "a2", "a3", "b1", "b2", "c1"):
        q.add(item[0], item)
    # one of each host now: a's second must wait out a's delay, not take a slot meanwhile
    assert q.pop_ready(0.0, 10) == [("a", "a1"), ("b", "b1"), ("c", "c1")]
    assert len(q) == 3
    assert q.pop_ready(0.5, 10) == []
    assert q.wait_s(0.5) == pytest.approx(0.5)
    assert q.pop_ready(1.0, 10) == [("a", "a2"), ("b", "b2")]
    q.done("a")
    q.done("a")
    assert q.pop_ready(1.5, 10) == []  # a's delay counts from its last start, not its end
    assert q.pop_ready(2.0, 10) == [("a", "a3")]
    assert len(q) == 0 and q.wait_s(2.0) is None


@pytest.mark.parametrize(
    ("per_host", "limit", "expected"),
    [
        (2, 10, ["a1", "a2", "b1"]),  # no delay: up to per_host at once from a host
        (1, 10, ["a1", "b1"]),
        (2, 2, ["a1", "a2"]),  # never more than the free slots
        (2, 0, []),
    ],
)
def test_without_delay_only_the_in_flight_cap_holds_a_feed_back(
    per_host: int, limit: int, expected: list[str]
) -> None:
    q: HostQueue[str] = HostQueue(per_host=per_host, delay_s=0.0)
    for item in ("a1", "a2", "a3", "b1"):
        q.add(item[0], item)
    assert [item for _, item in q.pop_ready(0.0, limit)] == expected


def test_a_host_at_its_in_flight_cap_waits_for_a_done_not_for_time() -> None:
    q: HostQueue[str] = HostQueue(per_host=1, delay_s=0.0)
    q.add("a", "a1")
    q.add("a", "a2")
    assert q.pop_ready(0.0, 5) == [("a", "a1")]
    assert q.wait_s(100.0) is None  # only a done frees it
    assert q.pop_ready(100.0, 5) == []
    q.done("a")
    assert q.wait_s(100.0) == 0.0
    assert q.pop_ready(100.0, 5) == [("a", "a2")]


def test_hosts_are_served_round_robin_and_drain_returns_the_rest() -> None:
    q: HostQueue[str] = HostQueue(per_host=5, delay_s=0.0)
    for item in ("a1", "a2", "b1", "b2", "c1"):
        q.add(item[0], item)
    assert [i for _, i in q.pop_ready(0.0, 1)] == ["a1"]
    assert [i for _, i in q.pop_ready(0.0, 1)] == ["b1"]  # a went behind the others
    assert [i for _, i in q.pop_ready(0.0, 1)] == ["c1"]
    assert sorted(q.drain()) == ["a2", "b2"]
    assert len(q) == 0 and q.pop_ready(0.0, 5) == []


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://News.Example.com/feed", "news.example.com"),
        ("http://127.0.0.1:8080/a.xml", "127.0.0.1"),
        ("http://[::1]:80/x", "::1"),
        ("not a url", ""),
        ("http://[bad/", ""),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_a_pass_fetches_other_hosts_while_one_waits_out_its_delay(
    feed_server_factory: Callable[..., FeedServer], tmp_path: Path
) -> None:
    """One fetch slot, two hosts of three feeds each, a 0.4 s delay a host: the slot turns
    to the other host's feeds instead of sleeping through host a's delay (in claim order it
    would fetch a1, a2, a3 first, each 0.4 s after the last)."""
    db = tmp_path / "h.db"
    a, b = feed_server_factory(host="127.0.0.21"), feed_server_factory(host="127.0.0.22")
    for server, name in ((a, "a"), (b, "b")):
        for i in range(3):
            body = rss(f"{name}{i}", "https://h.example/", make_items(500 + i, 1))
            assert ingest(db, "feeds", "add", server.route(f"/{i}.xml", body=body)).returncode == 0
    r = ingest(
        db,
        "run",
        INGEST_WORKERS="1",
        INGEST_CONCURRENCY="1",
        INGEST_PER_HOST_CONCURRENCY="1",
        INGEST_PER_HOST_DELAY="0.4",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("6 feeds: 6 ok")
    order = sorted(
        [(req.time, "a") for req in a.requests] + [(req.time, "b") for req in b.requests]
    )
    assert [host for _, host in order] == ["a", "b", "a", "b", "a", "b"]
