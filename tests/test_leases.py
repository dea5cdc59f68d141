"""The lease owner format, "host:pid:run", built for each process and read back by the store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss

from storage import dead_owner, lease_owner, run_token


def test_an_owner_names_this_host_this_process_and_the_run() -> None:
    owner = lease_owner("run42")
    assert owner == f"{socket.gethostname()}:{os.getpid()}:run42"
    assert run_token(owner) == "run42"
    fresh = lease_owner()
    assert run_token(fresh) != run_token(lease_owner())  # a new run each time


def test_only_a_gone_process_of_this_host_is_a_dead_owner() -> None:
    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert dead_owner(f"{host}:{gone.stdout.strip()}:r")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as alive:
        try:
            assert not dead_owner(f"{host}:{alive.pid}:r")
        finally:
            alive.kill()
    assert not dead_owner(lease_owner("r"))  # this process
    assert not dead_owner(f"another-host.example:{gone.stdout.strip()}:r")  # cannot tell
    assert not dead_owner("not an owner")
    assert not dead_owner(f"{host}:pid:r")


# -- a killed run's leases (issue #17) ------------------------------------------------------


def zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and that this process has not reaped (state Z)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{proc.pid}/stat").read_bytes()
        if stat[stat.rfind(b")") + 1 :].split()[0] == b"Z":
            return proc
        time.sleep(0.01)
    raise AssertionError("the child did not exit")


def test_a_zombie_is_a_dead_owner() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: zombies cannot be told apart from live processes here")
    proc = zombie()
    try:
        os.kill(proc.pid, 0)  # it still "exists" for the kernel...
        assert dead_owner(f"{socket.gethostname()}:{proc.pid}:r")  # ...but is dead
    finally:
        proc.wait()


def test_a_zombie_runs_leases_are_voided_at_the_next_claim(tmp_path: Path) -> None:
    from ingest.settings import FeedSpec
    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "t.db")
    store.add_feed(FeedSpec(url="https://a.example/feed.xml"))
    proc = zombie()
    try:
        now = datetime.now(UTC)
        killed = f"{socket.gethostname()}:{proc.pid}:run1"
        # the lease was taken while the process lived (the store does not look at the owner)
        store.conn.execute(
            "UPDATE feeds SET lease_owner = ?, lease_until = ?",
            (killed, (now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        )
        assert store.held_elsewhere(now=now, owner=lease_owner("r2"))[0].url.startswith(
            "https://a."
        )
        got = store.claim_feeds(now=now, owner=lease_owner("r2"), lease_s=600, limit=10)
        assert [f.url for f in got] == ["https://a.example/feed.xml"]
    finally:
        proc.wait()
        store.close()


def test_a_run_names_the_feeds_another_live_run_holds_and_until_when(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    from ingest.settings import FeedSpec
    from storage.sqlite import SQLiteStore

    db = tmp_path / "t.db"
    a = feed_server.route("/a.xml", body=rss("A", "https://a.example/", make_items(1, 2)))
    b = feed_server.route("/b.xml", body=rss("B", "https://b.example/", make_items(2, 2)))
    store = SQLiteStore(db)
    for url in (a, b):
        store.add_feed(FeedSpec(url=url))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            now = datetime.now(UTC)
            other = f"{socket.gethostname()}:{alive.pid}:run1"
            (_held,) = store.claim_feeds(now=now, owner=other, lease_s=600, limit=1, urls=[a])
            r = ingest_cli(db, "run", "--all")
            assert r.returncode == 0, r.stderr
            until = datetime.fromisoformat(held_until(store, a))
            when = f"{until:%Y-%m-%d %H:%M:%S}Z"
            assert r.stdout.splitlines()[1:] == [
                f"skipped {a}: another run holds it until {when}",
                # both feeds are on one host (the loopback server): one host, one run at a time
                f"skipped {b}: another run holds another feed of its host until {when}",
            ], r.stdout
            assert r.stdout.startswith("0 feeds: ")
            assert feed_server.requests_for("/a.xml") == []
        finally:
            alive.kill()
            alive.wait()
    # the holder died (SIGKILL, reaped): its lease is void at once, the next run takes `a`
    r = ingest_cli(db, "run", "--feed", a)
    assert r.returncode == 0 and r.stdout.startswith("1 feed: 1 ok"), r.stdout + r.stderr
    store.close()


def test_a_killed_and_unreaped_run_does_not_hold_its_feeds(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`ingest run` SIGKILLed mid-fetch and left a zombie (no init to reap it): the next run
    fetches its feed at once instead of waiting out the 10-minute lease."""
    db = tmp_path / "t.db"
    slow = feed_server.route(
        "/slow.xml", body=rss("S", "https://s.example/", make_items(3, 2)), trickle_s=0.5
    )
    assert ingest_cli(db, "feeds", "add", slow).returncode == 0
    killed = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--db", str(db), "run"], env=cli_env(), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 30
        while not feed_server.requests_for("/slow.xml"):
            assert time.monotonic() < deadline, "the run never fetched"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)  # not reaped: a zombie until wait() below
        time.sleep(0.2)
        feed_server.route("/slow.xml", body=rss("S", "https://s.example/", make_items(3, 2)))
        r = ingest_cli(db, "run", "--all")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("1 feed: 1 ok"), r.stdout
        assert "skipped" not in r.stdout
    finally:
        killed.wait()


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_ALLOW_PRIVATE_NETWORKS="true", INGEST_PER_HOST_DELAY="0")
    return env


def ingest_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=db.parent,
        env=cli_env(),
    )


def held_until(store: object, url: str) -> str:
    rows = [r for r in store.feed_states() if r.url == url]  # type: ignore[attr-defined]
    return str(rows[0].lease_until).replace("Z", "+00:00")
