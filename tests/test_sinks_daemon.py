"""The daemon pushes after every pass: a sink that is down shows as backlog in the metrics
while ingestion goes on, and drains once the sink is back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss
from sinkkit import SECRET, Receiver, free_port, write_config

from ingest.models import FeedOptions
from ingest.settings import FeedSpec
from storage import open_store

pytestmark = pytest.mark.slow


def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(rf'^{re.escape(name)}\{{sink="hook"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_daemon_shows_a_down_sinks_backlog_and_drains_it_when_back(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    db, config = tmp_path / "d.db", tmp_path / "d.toml"
    hook = Receiver(port=free_port())  # not started yet: the sink is down
    write_config(
        config,
        [{"type": "webhook", "name": "hook", "url": hook.url, "secret": "${HOOK_SECRET}",
          "allow_private_network": True, "retry_backoff": "0s", "timeout": "1s"}],
    )  # fmt: skip
    url = feed_server.route("/f.xml", body=rss("f", "https://f.example/", make_items(7, 3)))
    store = open_store(db)
    store.add_feed(FeedSpec(url=url, options=FeedOptions(allow_private_network=True)))
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_PER_HOST_DELAY="0", INGEST_CONFIG=str(config), HOOK_SECRET=SECRET)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--db", str(db), "--log-format", "json", "daemon",
         "--tick", "1s", "--metrics-port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        port = 0
        for _ in range(200):
            m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", proc.stderr.readline())
            if m:
                port = int(m.group(1))
                break
        assert port
        wait_for(lambda: metric(port, "ingest_sink_backlog") == 3.0, "a backlog of 3")
        assert (metric(port, "ingest_sink_failures_total") or 0) >= 1
        hook.start()
        wait_for(lambda: metric(port, "ingest_sink_backlog") == 0.0, "the backlog drained")
        assert metric(port, "ingest_sink_delivered_total") == 3.0
        assert len(set(hook.keys())) == 3
        assert all(d.signed_by(SECRET) for d in hook.deliveries)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        hook.stop()
    assert proc.stderr is not None
    rest = proc.stderr.read()
    assert f"sink hook: {hook.url}: cannot connect" in rest, rest  # the warning lines
