"""No traceback reaches an operator; stores are never created or written by mistake; a run
says what it does (issue #19, problems 5-8). Real CLI, real SQLite files, a real loopback
feed server, real signals, a real read-only mount and a real terminal (pty)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clikit import invoker
from feedserver import FeedServer
from samplefeeds import make_items, opml, rss
from terminal import in_pty

from storage import lease_owner, open_store

LOCAL = {"INGEST_ALLOW_PRIVATE_NETWORKS": "1", "INGEST_PER_HOST_DELAY": "0"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(extra)
    return env


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return invoker(tmp_path, monkeypatch)


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield int(sock.getsockname()[1])
    sock.close()


def _garble(db: Path) -> None:
    """A row another program wrote with bytes that are not UTF-8."""
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO feeds (url, title, added_at) VALUES "
        "(CAST(x'68747470733a2f2f782e6578616d706c652fff' AS TEXT), CAST(x'c328' AS TEXT), 'x')"
    )
    conn.commit()
    conn.close()


# (setup, args, exit code, the one line that says it); setup gets the tmp dir and returns
# extra arguments
Case = tuple[Callable[[Path], list[str]], list[str], int, str]


def _non_utf8_config(tmp: Path) -> list[str]:
    (tmp / "bad.toml").write_bytes(b"[settings]\nuser_agent = 'caf\xe9'\n")
    return ["--config", str(tmp / "bad.toml")]


def _store(tmp: Path) -> list[str]:
    store = open_store(tmp / "t.db")
    from ingest.settings import FeedSpec

    store.add_feed(FeedSpec(url="https://a.example/rss"))
    store.close()
    return []


def _garbled_store(tmp: Path) -> list[str]:
    _store(tmp)
    _garble(tmp / "t.db")
    return []


CASES: list[tuple[str, Case]] = [
    (
        "non-UTF-8 config",
        (_non_utf8_config, ["stats"], 2, "not UTF-8 text (byte 0xe9 at offset 28); TOML files"),
    ),
    (
        "age overflow",
        (
            _store,
            ["articles", "list", "--since", "99999999999d"],
            2,
            "a duration of at most 100 years is expected, got '99999999999d'",
        ),
    ),
    (
        "huge --limit",
        (_store, ["articles", "list", "--limit", "99999999999999999999999"], 0, ""),
    ),
    (
        "huge --since-id",
        (_store, ["articles", "export", "--since-id", "99999999999999999999999"], 0, ""),
    ),
    (
        "garbled row",
        (_garbled_store, ["feeds", "list"], 0, "https://x.example/\ufffd"),
    ),
    ("no such feed", (_store, ["feeds", "show", "https://b.example/rss"], 2, "no such feed")),
    ("empty search", (_store, ["articles", "search", " "], 2, "empty search query")),
    (
        "search syntax",
        (
            _store,
            ["articles", "search", "NOT storm"],
            2,
            "invalid search syntax in 'NOT storm': fts5: syntax error near \"NOT\" (hint: NOT "
            "joins two terms, e.g. `rain NOT storm`)",
        ),
    ),
    (
        "URL with a space",
        (
            _store,
            ["feeds", "add", "https://a.example/my feed"],
            2,
            "contains whitespace (' ' at position 20); percent-encode it",
        ),
    ),
    (
        "URL with a newline",
        (_store, ["feeds", "add", "https://a.example/\nrss"], 2, "contains whitespace ('\\n'"),
    ),
    (
        "10 KB URL",
        (
            _store,
            ["feeds", "add", "https://a.example/" + "x" * 10_000],
            2,
            "10018 characters, at most 2048",
        ),
    ),
    (
        "unknown setting",
        (
            lambda tmp: (
                (tmp / "c.toml").write_text("[settings]\nmax_bdy = '1MB'\n")
                and ["--config", str(tmp / "c.toml")]
            ),
            ["stats"],
            2,
            "max_bdy: unknown setting (did you mean max_body? known: ",
        ),
    ),
]


@pytest.mark.parametrize(("setup", "args", "code", "line"), [c for _, c in CASES],
                         ids=[name for name, _ in CASES])  # fmt: skip
def test_bad_input_gets_one_line_and_the_documented_exit_code(
    tmp_path: Path, setup: Callable[[Path], list[str]], args: list[str], code: int, line: str
) -> None:
    """Each as a real process: what the operator sees, never a traceback."""
    extra = setup(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(tmp_path / "t.db"), *extra, *args],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(), timeout=60,
    )  # fmt: skip
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr and "Error" not in out.stdout
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
    if code:
        assert len(errors) == 1 and line in errors[0], out.stderr
    else:
        assert not errors and line in out.stdout


def test_a_metrics_port_in_use_is_one_line(ingest, busy_port: int) -> None:  # type: ignore[no-untyped-def]
    r = ingest("daemon", "--metrics-port", str(busy_port))
    assert r.exit_code == 2
    assert r.output == (
        f"Error: command line: --metrics-port: cannot listen on 127.0.0.1:{busy_port}: Address"
        " already in use (another daemon running? choose another port)\n"
    )


def test_unknown_ingest_variables_are_named(ingest) -> None:  # type: ignore[no-untyped-def]
    ingest("run")
    r = ingest("stats", env={"INGEST_CONCURENCY": "4", "INGEST_MAX_BODY": "1MB"})
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == (
        "warning: environment: INGEST_CONCURENCY is not a setting (did you mean "
        "INGEST_CONCURRENCY?); ignored"
    )


# ------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_stops_every_worker_quietly_and_says_what_was_kept(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """SIGINT to the whole process group (what a terminal's Ctrl-C does) during a run with
    two worker processes: no traceback from any of them, the feeds written are kept, the
    others stay due."""
    n = 40
    for i in range(n):
        body = rss(
            f"F{i}", f"https://s{i}.example/", make_items(i, 2, site=f"https://s{i}.example")
        )
        feed_server.route(f"/f{i}.xml", body=body, delay_s=0.4)
    db = tmp_path / "c.db"
    env = clean_env(INGEST_DB=str(db), INGEST_WORKERS="2", INGEST_CONCURRENCY="2", **LOCAL)
    (tmp_path / "f.opml").write_bytes(opml([feed_server.url(f"/f{i}.xml") for i in range(n)]))
    subprocess.run([sys.executable, "-m", "ingest", "feeds", "import", str(tmp_path / "f.opml")],
                   env=env, check=True, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while sum(len(feed_server.requests_for(f"/f{i}.xml")) for i in range(n)) < 6:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    (last,) = [ln for ln in stderr.splitlines() if ln.startswith("interrupted:")]
    fetched = int(last.split()[1])
    assert 0 < fetched < n
    assert last == (
        f"interrupted: {fetched} feeds fetched and kept ({2 * fetched} new articles); "
        f"{n - fetched} feeds not started stay due"
    )
    store = open_store(db)
    assert store.stats().articles == 2 * fetched
    assert store.due_count(__import__("datetime").datetime.now().astimezone()) == n - fetched
    store.close()


# ------------------------------------------------------------------ stores


READ_COMMANDS = [
    ["feeds", "list"],
    ["feeds", "export"],
    ["articles", "list"],
    ["articles", "export"],
    ["articles", "search", "storm"],
    ["articles", "filtered"],
    ["articles", "tombstones"],
    ["stories", "list"],
    ["stats"],
    ["feeds", "remove", "https://a.example/rss", "--yes"],
    ["feeds", "set", "https://a.example/rss", "--tag", "x"],
    ["articles", "prune", "--older-than", "90d", "--yes"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_no_store_at_a_mistyped_path(ingest, tmp_path: Path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    typo = tmp_path / "dta" / "ingest.db"
    r = ingest("--db", str(typo), *args)
    assert (r.exit_code, r.output) == (1, f"Error: no store at {typo}\n")
    assert not (tmp_path / "dta").exists()


def _read_only_mount(directory: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` in a mount namespace of its own where `directory` is a read-only bind
    mount: what root sees on a read-only file system (chmod would not stop root)."""
    script = (
        f"mount --bind {directory} {directory} && "
        f'mount -o remount,ro,bind {directory} {directory} && exec "$@"'
    )
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *command],
                          capture_output=True, text=True, env=clean_env(), timeout=60)  # fmt: skip


@pytest.fixture
def can_mount(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or _read_only_mount(tmp_path, "true").returncode:
        pytest.skip("needs unshare and mount (root, or a user namespace)")


@pytest.mark.parametrize("live", [False, True], ids=["closed", "with a live writer"])
def test_a_read_only_store_is_read_read_only(tmp_path: Path, can_mount: None, live: bool) -> None:
    """Closed: no -wal / -shm beside it (opened immutable). With a live writer: its
    -wal and -shm exist, and a feed only in the WAL is seen (opened mode=ro)."""
    from ingest.settings import FeedSpec

    store_dir = tmp_path / "ro"
    store_dir.mkdir()
    db = store_dir / "t.db"
    writer = open_store(db)
    writer.add_feed(FeedSpec(url="https://a.example/rss"))
    if not live:
        writer.close()
    ingest = [sys.executable, "-m", "ingest", "--db", str(db)]
    try:
        out = _read_only_mount(store_dir, *ingest, "feeds", "list")
        assert (out.returncode, out.stdout) == (
            0,
            f"{'ok':<10} next {'now':<20} https://a.example/rss\n",
        )
        assert out.stderr == f"note: {db} is not writable here: reading it read-only\n"
        for args in (["stats"], ["articles", "search", "storm"], ["articles", "export"]):
            out = _read_only_mount(store_dir, *ingest, *args)
            assert out.returncode == 0, out.stderr
        out = _read_only_mount(store_dir, *ingest, "feeds", "add", "https://b.example/rss")
        assert out.returncode == 1
        assert out.stderr == (
            f"Error: {db}: the store is not writable here (a read-only file system or file): "
            "only read commands (list, show, search, export, stats) can use it\n"
        )
    finally:
        if live:
            writer.close()


# ------------------------------------------------------------------ progress and status


def test_run_on_a_terminal_shows_a_progress_bar(tmp_path: Path, feed_server: FeedServer) -> None:
    env = clean_env(INGEST_DB=str(tmp_path / "p.db"), **LOCAL)
    for i in range(3):
        body = rss(
            f"F{i}", f"https://s{i}.example/", make_items(i, 2, site=f"https://s{i}.example")
        )
        url = feed_server.route(f"/p{i}.xml", body=body)
        subprocess.run([sys.executable, "-m", "ingest", "feeds", "add", url], env=env,
                       check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "ingest", "feeds", "add", "http://127.0.0.1:9/x"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    code, shown = in_pty(["run"], env)
    assert code == 1  # the closed port failed
    assert "fetching  [" in shown and "4/4" in shown and "1 failed, 6 new articles" in shown
    assert "4 feeds: 3 ok, 0 not modified, 0 unchanged, 1 failed; 6 new" in shown
    # --quiet (cron): no bar, and only the failures
    code, shown = in_pty(["run", "--all", "--quiet"], env)
    assert "fetching" not in shown and "failed http://127.0.0.1:9/x" in shown


def test_nothing_due_says_when_and_fails_when_every_feed_is_failing(ingest) -> None:  # type: ignore[no-untyped-def]
    ingest("feeds", "add", "http://127.0.0.1:9/a.xml", "--allow-private-network")
    assert ingest("run").exit_code == 1
    r = ingest("run")
    assert r.exit_code == 1
    assert r.output.startswith("0 feeds due; next in ")
    assert r.output.endswith(
        "; 1 of 1 feed failing (`ingest feeds list` says why): every feed is failing\n"
    )
    ingest("feeds", "add", "https://b.example/rss")
    ingest("feeds", "set", "https://b.example/rss", "--interval", "1h")
    store = open_store(Path("t.db"))  # b: fetched an hour ago by someone else
    import datetime as dt

    store.conn.execute(
        "UPDATE feeds SET next_poll_at = ? WHERE url = 'https://b.example/rss'",
        ((dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),),
    )
    store.close()
    r = ingest("run")
    assert r.exit_code == 0
    assert "; 1 of 2 feeds failing" in r.output and "every" not in r.output


def test_a_run_names_the_due_feeds_another_run_held(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    urls = [
        feed_server.route(f"/h{i}.xml", body=rss("H", "https://h.example/", make_items(i, 1)))
        for i in range(2)
    ]
    for url in urls:
        ingest("feeds", "add", url)
    other = open_store(Path("t.db"))  # another run holds the first feed (and so its host)
    from datetime import UTC, datetime

    (held,) = other.claim_feeds(now=datetime.now(UTC), owner=lease_owner(), lease_s=600, limit=1)
    other.close()
    r = ingest("run", env=LOCAL)
    assert r.exit_code == 0, r.output
    # both are on the loopback host: the held one's lease keeps the other back too
    first, second = sorted(urls)
    assert held.url == first
    skipped = [ln.split(" until ")[0] for ln in r.output.splitlines() if ln.startswith("skipped")]
    assert skipped == [
        f"skipped {first}: another run holds it",
        f"skipped {second}: another run holds another feed of its host",
    ]
    assert json.loads(ingest("feeds", "list", "--json").output)[0]["last_fetched_at"] is None
