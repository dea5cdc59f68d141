"""PostgreSQL going away (issue #17): a loopback TCP proxy in front of the real server at
127.0.0.1:5432 is cut (every connection reset, new ones refused) and restored while real
`ingest run` and `ingest daemon` processes use the store through it.

A run fails cleanly: one line naming the store (password masked) and the reason, exit 1, no
traceback, nothing it or others committed lost. The daemon logs one line per failing tick,
and once the database answers again it resumes: the feeds its failed tick had claimed are
fetched again at once, not after the lease time."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss
from tcpproxy import TcpProxy

from bench.churn import Audit, ChurnFarm, cli_env
from bench.crash import add_feeds
from ingest.errors import StoreError
from ingest.models import FeedOptions
from ingest.pipeline import run_once
from ingest.settings import FeedSpec, load_settings
from storage import open_store

LOCAL = FeedOptions(allow_private_network=True)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "s3cret-pw"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING|ERROR) ")


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", 5432) as p:
        yield p


def through(pg_url: str, proxy: TcpProxy) -> str:
    """`pg_url` by way of the proxy, with a password (the server trusts loopback: unused)."""
    parts = urlsplit(pg_url)
    return f"postgresql://{parts.username}:{SECRET}@127.0.0.1:{proxy.port}{parts.path}"


def env() -> dict[str, str]:
    return cli_env(INGEST_MIN_INTERVAL="1s", INGEST_MAX_INTERVAL="2s")


def ingest(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
    )


def wait_for(what: str, cond: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_run_that_loses_the_database_is_one_line_and_loses_nothing(
    pg_url: str, proxy: TcpProxy
) -> None:
    db = through(pg_url, proxy)
    audit = Audit(pg_url)  # the harness reads directly, not through the proxy
    with ChurnFarm(seed=11, max_delay_s=0.6) as farm:
        add_feeds(db, farm, env())
        assert ingest(db, "run", "--all", "--quiet").returncode == 0
        farm.advance()
        farm.advance()
        before = audit.sources()
        run = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--db", db, "run", "--all"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        try:
            # cut once the run has committed something of this pass (a write in the middle)
            wait_for("a first commit", lambda: len(audit.sources()) > len(before))
            committed = audit.sources()
            proxy.cut()
            out, err = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        assert run.returncode == 1, out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        where = f"postgresql://postgres:***@127.0.0.1:{proxy.port}{urlsplit(pg_url).path}"
        assert lines[0].startswith(f"Error: {where}: "), lines[0]
        assert SECRET not in out + err and "Traceback" not in out + err
        # nothing committed is lost, no duplicate, the story index is whole
        assert audit.lost(committed) == [] and audit.problems() == []
        proxy.restore()
        again = ingest(db, "run", "--all", "--quiet")
        assert again.returncode == 0, again.stdout + again.stderr
        assert audit.missing(farm) == [] and audit.problems() == []


def test_the_daemon_logs_one_line_per_failing_tick_and_resumes(
    pg_url: str, proxy: TcpProxy
) -> None:
    db = through(pg_url, proxy)
    audit = Audit(pg_url)
    with ChurnFarm(seed=12, max_delay_s=0.4) as farm:
        add_feeds(db, farm, env())
        daemon = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--db", db, "daemon", "--tick", "1s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        try:
            wait_for("the first pass", lambda: audit.missing(farm) == [])
            farm.advance()
            asked = farm.answered()
            # cut while the daemon is at work on the new round (feeds claimed, in flight)
            wait_for("a fetch of the new round", lambda: farm.answered() > asked)
            proxy.cut()
            time.sleep(4)  # a few ticks with the database gone
            proxy.restore()
            farm.advance()
            # within seconds, not the 10-minute lease: the failed tick's feeds are released
            wait_for("the daemon to catch up", lambda: audit.missing(farm) == [], timeout=45)
            assert audit.problems() == []
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
        assert SECRET not in err and "Traceback" not in err
        # every line is the daemon's own (no bare warnings of a library), and each failing
        # tick is one line
        lines = err.strip().splitlines()
        assert all(LOG_LINE.match(line) for line in lines), [
            line for line in lines if not LOG_LINE.match(line)
        ]
        failed = [line for line in lines if "ERROR tick failed" in line]
        assert 1 <= len(failed) <= 8, failed  # a 4 s outage, 1 s ticks
        assert all(line.endswith("the next tick will try again") for line in failed)


def test_an_unreachable_database_at_start(pg_url: str, proxy: TcpProxy, tmp_path: Path) -> None:
    db = through(pg_url, proxy)
    proxy.cut()  # nothing listens on its port
    r = ingest(db, "run")
    assert r.returncode == 1
    where = f"postgresql://postgres:***@127.0.0.1:{proxy.port}"
    assert r.stderr.startswith(f"Error: {where}") and "cannot connect" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and SECRET not in r.stderr
    # the daemon started before its database waits for it, a line a try, then runs
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--db", db, "daemon", "--tick", "1s"],
            stderr=out,
            env=env(),
        )
    try:
        wait_for("a line saying it waits", lambda: "cannot open the store" in log.read_text())
        assert daemon.poll() is None
        proxy.restore()
        wait_for("the daemon to start", lambda: "daemon started" in log.read_text())
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    err = log.read_text()
    assert daemon.returncode == 0, err
    waiting = [line for line in err.splitlines() if "cannot open the store" in line]
    assert waiting, err
    assert all(line.endswith("trying again in 1 s") for line in waiting), waiting
    assert SECRET not in err and "Traceback" not in err
    assert "daemon started" in err


def test_a_pass_that_loses_the_store_takes_every_feeds_failure(
    pg_url: str, proxy: TcpProxy, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Eight feeds in flight when the database goes away, in one process: the pass raises
    the store's failure, every feed's own failure is taken (asyncio reports none as "never
    retrieved"), and no feed is left running on the loop, as it would be into a daemon's
    next tick."""
    store = open_store(through(pg_url, proxy))
    for i in range(8):
        body = rss(f"F{i}", feed_server.url("/"), make_items(i, 3))
        store.add_feed(FeedSpec(url=feed_server.route(f"/f{i}.xml", body=body, delay_s=0.8),
                                options=LOCAL))  # fmt: skip
    settings = load_settings(environ={}).replace(
        per_host_delay_s=0.0, per_host_concurrency=8, workers=1
    )

    async def lose_the_store() -> list[asyncio.Task[object]]:
        run = asyncio.create_task(run_once(store, settings, force=True))
        await asyncio.sleep(0.4)  # claimed, and all eight waiting for the server's answer
        proxy.cut()
        with pytest.raises(StoreError):
            await run
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        left = asyncio.run(lose_the_store())
        gc.collect()  # a task whose failure nobody took is reported when it is collected
        assert left == []
        assert "never retrieved" not in caplog.text, caplog.text
    finally:
        proxy.restore()
        store.close()
