"""The daemon and cron runs as real processes: signals, hostile servers, overlap, SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer, Request, gzip_bomb
from samplefeeds import make_items, rss

ROOT = Path(__file__).resolve().parents[1]


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    e.update(
        INGEST_ALLOW_PRIVATE_NETWORKS="1",
        INGEST_PER_HOST_DELAY="0",
        INGEST_PER_HOST_CONCURRENCY="8",
        INGEST_CONFIG=str(ROOT / "tests" / "data" / "empty.toml"),
    )
    e.update(extra)
    return e


def ingest(db: Path, *args: str, **kw: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=env(**kw),
        timeout=120,
    )


def count(db: Path, sql: str = "SELECT COUNT(*) FROM articles") -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(db: Path, **kw: str) -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingest",
                "--db",
                str(db),
                "--log-format",
                "json",
                "daemon",
                "--tick",
                "1s",
                "--metrics-port",
                "0",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env(**kw),
        )
        procs.append(proc)
        assert proc.stderr is not None
        for _ in range(200):
            line = proc.stderr.readline()
            m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            if m:
                return proc, int(m.group(1))
        raise AssertionError("daemon did not start its metrics server")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def add_healthy(server: FeedServer, db: Path, n: int, items: int = 5) -> list[str]:
    urls = [
        server.route(
            f"/ok{i}.xml",
            body=rss(
                f"OK {i}",
                "https://ok.example/",
                make_items(500 + i, items, site=f"https://ok{i}.example"),
            ),
            etag="auto",
        )
        for i in range(n)
    ]
    for url in urls:
        assert ingest(db, "feeds", "add", url).returncode == 0
    return urls


def test_daemon_ingests_serves_metrics_and_stops_cleanly(
    daemon, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "d.db"
    add_healthy(feed_server, db, 3)
    proc, port = daemon(db)
    wait_for(lambda: count(db) == 15, 30, "15 articles")
    assert (
        http_get(port, "/healthz") == (200, '{"status": "ok", "last_tick_age_s": 0.0}')
        or http_get(port, "/healthz")[0] == 200
    )
    status, metrics = http_get(port, "/metrics")
    assert status == 200
    assert 'ingest_fetches_total{outcome="ok"} 3.0' in metrics
    assert 'ingest_articles_total{kind="new"} 15.0' in metrics
    assert 'ingest_feeds{status="ok"} 3.0' in metrics
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert count(db) == 15
    assert count(db, "SELECT COUNT(*) FROM feeds WHERE lease_owner IS NOT NULL") == 0


def test_sigterm_mid_fetch_lets_the_write_commit(
    daemon, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "d.db"
    slow = feed_server.route(
        "/slow.xml", body=rss("Slow", "https://s.example/", make_items(77, 4)), delay_s=2.0
    )
    ingest(db, "feeds", "add", slow)
    proc, _ = daemon(db)
    wait_for(lambda: bool(feed_server.requests_for("/slow.xml")), 20, "the slow fetch to start")
    proc.send_signal(signal.SIGTERM)  # while the server is still holding the answer
    assert proc.wait(timeout=20) == 0
    assert count(db) == 4  # the fetch in flight finished and committed


def test_hostile_servers_do_not_stop_the_daemon(
    daemon, feed_server: FeedServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "d.db"
    good = add_healthy(feed_server, db, 3)
    s = feed_server
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10)
            for i in range(9)
        )
        + b']><rss version="2.0"><channel><title>&j;</title><item><title>&j;</title></item></channel></rss>'
    )
    bad = {
        "/404": {"status": 404, "body": b"nope"},
        "/410": {"status": 410, "body": b"gone"},
        "/500": {"status": 500, "body": b"oops"},
        "/502": {"status": 502, "body": b""},
        "/503": {"status": 503, "retry_after": "120", "body": b"busy"},
        "/429": {"status": 429, "retry_after": "600", "body": b"slow down"},
        "/401": {"status": 401, "body": b"login"},
        "/403-cf": {
            "status": 403,
            "headers": {"cf-mitigated": "challenge"},
            "content_type": "text/html",
            "body": b"<html><title>Just a moment...</title></html>",
        },
        "/loop-a": {"status": 302, "location": "/loop-b"},
        "/loop-b": {"status": 302, "location": "/loop-a"},
        "/redirect-to-404": {"status": 301, "location": "/404"},
        "/trickle": {"body": b"<rss>" + b" " * 200, "trickle_s": 0.5},
        "/slow": {"body": b"<rss/>", "delay_s": 10.0},
        "/huge": {"size": 8 * 1024 * 1024},
        "/gzip-bomb": {"body": gzip_bomb(64 * 1024 * 1024), "content_encoding": "gzip"},
        "/html": {
            "body": b"<html><body><p>Welcome to our site</p></body></html>",
            "content_type": "text/html",
        },
        "/garbage": {"body": bytes(range(256)) * 40, "content_type": "application/octet-stream"},
        "/empty": {"body": b""},
        "/truncated": {
            "body": b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>x'
        },
        "/bad-json": {
            "body": b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
            "content_type": "application/feed+json",
        },
        "/laughs": {"body": laughs},
        "/reset": {"handler": lambda req: (_ for _ in ()).throw(ConnectionResetError("reset"))},
    }
    for path, options in bad.items():
        s.route(path, **options)
        assert ingest(db, "feeds", "add", s.url(path)).returncode == 0
    kw = {
        "INGEST_READ_TIMEOUT": "2s",
        "INGEST_TOTAL_TIMEOUT": "4s",
        "INGEST_CONNECT_TIMEOUT": "2s",
        "INGEST_MAX_BODY": "2MiB",
        "INGEST_MAX_DECOMPRESSED": "8MiB",
    }
    proc, port = daemon(db, **kw)
    urls = [s.url(p) for p in bad if p != "/loop-b"]

    def all_tried() -> bool:
        out = ingest(db, "feeds", "list", "--json")
        return out.returncode == 0 and all(f["last_attempt_at"] for f in json.loads(out.stdout))

    wait_for(all_tried, 60, "every feed to be tried once")
    assert proc.poll() is None, "the daemon died"
    assert http_get(port, "/healthz")[0] == 200
    feeds = {f["url"]: f for f in json.loads(ingest(db, "feeds", "list", "--json").stdout)}
    assert all(feeds[u]["status"] == "ok" for u in good)
    assert count(db, "SELECT COUNT(*) FROM articles WHERE feed_url LIKE '%/ok_.xml'") == 15
    reasons = {}
    for url in urls:
        f = feeds[url]
        if f["status"] == "ok":
            # what a lenient parser recovers from is kept, with the problem named
            assert url.rsplit("/", 1)[1] in ("truncated", "laughs"), (url, f)
            assert f["last_warning"], (url, f)
            continue
        assert f["status"] in ("error", "gone"), (url, f)
        assert f["last_error"] and f["last_error"].startswith(url + ": "), (url, f)
        assert f["error_kind"] and f["next_poll_at"] and f["schedule_reason"], (url, f)
        reasons[url.rsplit("/", 1)[1]] = (f["error_kind"], f["last_error"])
    assert feeds[s.url("/410")]["status"] == "gone"
    assert reasons["403-cf"][0] == "bot_wall" and "Cloudflare" in reasons["403-cf"][1]
    assert reasons["429"][0] == "rate_limited" and "600" in feeds[s.url("/429")]["schedule_reason"]
    assert reasons["loop-a"][0] == "redirect"
    assert reasons["trickle"][0] == "timeout" and reasons["slow"][0] == "timeout"
    assert reasons["huge"][0] == "too_large" and reasons["gzip-bomb"][0] == "too_large"
    assert reasons["html"][0] == "parse" and reasons["garbage"][0] == "parse"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_overlapping_cron_runs_never_fetch_a_feed_twice(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "c.db"
    for i in range(16):
        url = feed_server.route(
            f"/f{i}.xml",
            body=rss(f"F{i}", "https://f.example/", make_items(900 + i, 3)),
            delay_s=0.3,
        )
        assert ingest(db, "feeds", "add", url).returncode == 0
    cmd = [sys.executable, "-m", "ingest", "--db", str(db), "run", "--all"]
    procs = [
        subprocess.Popen(cmd, env=env(INGEST_CONCURRENCY="4"), stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    for i in range(16):
        assert len(feed_server.requests_for(f"/f{i}.xml")) == 1
    assert sum(int(o.split(" feeds:")[0]) for o in outs) == 16
    assert count(db) == 48
    assert (
        count(
            db,
            "SELECT COUNT(*) FROM (SELECT feed_url, identity FROM article_sources GROUP BY 1, 2 HAVING COUNT(*) > 1)",
        )
        == 0
    )


def test_sigkill_mid_fetch_leaves_a_consistent_store(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "k.db"
    for i in range(4):
        url = feed_server.route(
            f"/k{i}.xml", body=rss(f"K{i}", "https://k.example/", make_items(700 + i, 5))
        )
        ingest(db, "feeds", "add", url)
    hang = feed_server.route(
        "/hang.xml", body=rss("H", "https://h.example/", make_items(799, 5)), delay_s=30
    )
    ingest(db, "feeds", "add", hang)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--db", str(db), "run"],
        env=env(),
        stdout=subprocess.DEVNULL,
    )
    wait_for(lambda: bool(feed_server.requests_for("/hang.xml")), 30, "the hanging fetch")
    wait_for(lambda: count(db) == 20, 30, "the other feeds to commit")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    feed_server.update("/hang.xml", delay_s=0.0)
    # the killed run's lease is void (its process is gone): the next run takes the feed at once
    r = ingest(db, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("1 feed: 1 ok")
    assert count(db) == 25


def test_cron_run_with_nothing_due_imports_no_fetch_stack(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    assert ingest(db, "run").returncode == 0  # the database exists, as it does under cron
    code = (
        f"import sys; from ingest.cli import main; sys.argv = ['ingest', '--db', {str(db)!r}, 'run']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('httpx', 'feedparser', 'numpy', 'apscheduler', 'nh3') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60
    )
    assert out.stdout.splitlines() == [
        "0 feeds due: no feed to poll (`ingest feeds add URL` or `feeds sync`)",
        "[]",
    ], out.stderr


def test_a_run_with_many_feeds_due_splits_them_over_worker_processes(
    feed_server_factory: Callable[..., FeedServer], tmp_path: Path
) -> None:
    from storage.sqlite import host_key

    db = tmp_path / "w.db"
    # eight hosts, each with its share of the feeds: the workers split them by host
    hosts = [f"127.0.0.{n}" for n in range(10, 18)]
    assert {host_key(f"http://{h}/") % 2 for h in hosts} == {0, 1}  # both workers have hosts
    servers = [feed_server_factory(host=h) for h in hosts]
    # Every answer waits until both processes hold leases. A worker takes others' hosts once
    # its own are all claimed, so on a loaded machine the parent could claim every feed
    # before the forked worker started; held answers keep the parent's claims to its own
    # fetch slots (INGEST_CONCURRENCY) until the second worker has claimed its share.
    both_claimed = threading.Event()
    lock = threading.Lock()

    def held(body: bytes) -> Callable[[Request], bytes]:
        def answer(_: Request) -> bytes:
            with lock:  # one poller; the others wait for its verdict
                deadline = time.monotonic() + 15  # under the run's read timeout
                while not both_claimed.is_set() and time.monotonic() < deadline:
                    if count(db, "SELECT COUNT(DISTINCT lease_owner) FROM feeds") >= 2:
                        both_claimed.set()
                    else:
                        time.sleep(0.05)
                both_claimed.set()  # waited once: the assertions below say what came of it
            return body

        return answer

    paths = []
    for i in range(24):  # at least workers.PARALLEL_MIN_FEEDS: `ingest run` forks a second worker
        server = servers[i % len(servers)]
        body = rss(f"W{i}", "https://w.example/", make_items(300 + i, 2))
        url = server.route(f"/w{i}.xml", body=held(body))
        paths.append((server, f"/w{i}.xml"))
        assert ingest(db, "feeds", "add", url).returncode == 0
    r = ingest(db, "--log-format", "json", "run", "-v", INGEST_WORKERS="2", INGEST_CONCURRENCY="4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("24 feeds: 24 ok, 0 not modified, 0 unchanged, 0 failed; 48 new")
    lines = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    fetched = [line for line in lines if line["msg"] == "fetch"]
    assert len(fetched) == 24
    assert len({line["worker"] for line in fetched}) == 2  # two processes shared the work
    assert all(len(server.requests_for(path)) == 1 for server, path in paths)
    assert count(db) == 48
    owners = count(db, "SELECT COUNT(DISTINCT last_run) FROM feeds")
    assert owners == 1  # one run token shared by the workers


def test_worker_processes_never_ask_one_host_more_than_its_limit_at_once(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """Per-host politeness holds for the host, not per process: with two workers, a host
    with many feeds still sees at most per_host_concurrency requests at a time (each worker
    has its own limit, so without the host rule of claims it saw twice that)."""
    db = tmp_path / "p.db"
    for i in range(24):
        url = feed_server.route(
            f"/p{i}.xml",
            body=rss(f"P{i}", "https://p.example/", make_items(400 + i, 1)),
            delay_s=0.15,  # each answer takes a while: requests overlap if they can
        )
        assert ingest(db, "feeds", "add", url).returncode == 0
    r = ingest(db, "run", INGEST_WORKERS="2", INGEST_PER_HOST_CONCURRENCY="2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("24 feeds: 24 ok")
    assert all(len(feed_server.requests_for(f"/p{i}.xml")) == 1 for i in range(24))
    assert feed_server.peak_in_flight == 2
