"""Everyday commands never lose an operator's data or settings (issue #19, problems 1-4):
feed origins and `feeds sync`, deletions that ask, tombstones, merging edits, settings that
take effect at once. Real CLI (CliRunner, and `make run` / a pty where it matters), real
SQLite files, a real loopback feed server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clikit import invoker
from feedserver import FeedServer
from samplefeeds import make_items, opml, rss
from terminal import in_pty

from ingest.timeutil import from_iso

ROOT = Path(__file__).resolve().parents[1]
FAST = {"INGEST_PER_HOST_DELAY": "0"}


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return invoker(tmp_path, monkeypatch, base_env=FAST)


def urls(ingest) -> list[str]:  # type: ignore[no-untyped-def]
    return [f["url"] for f in json.loads(ingest("feeds", "list", "--json").output)]


def feed(ingest, url: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return dict(json.loads(ingest("feeds", "show", url, "--json").output))


# ------------------------------------------------------------------ 1: origins and sync


def test_sync_removes_only_config_feeds_that_left_the_config(ingest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text(
        '[[feeds]]\nurl = "https://c1.example/rss"\n[[feeds]]\nurl = "https://c2.example/rss"\n'
    )
    assert ingest("--config", str(config), "feeds", "sync").exit_code == 0
    ingest("feeds", "add", "https://hand.example/rss")
    (tmp_path / "i.opml").write_bytes(opml(["https://opml.example/rss"]))
    ingest("feeds", "import", "i.opml")
    assert [f["source"] for f in json.loads(ingest("feeds", "list", "--json").output)] == [
        "config",
        "config",
        "cli",
        "opml",
    ]

    config.write_text('[[feeds]]\nurl = "https://c1.example/rss"\n')
    r = ingest("--config", str(config), "feeds", "sync", "--dry-run")
    assert r.output == (
        "would remove https://c2.example/rss (came from the config, no longer in it)\n"
        "would keep https://hand.example/rss (not in the config; added by hand or imported)\n"
        "would keep https://opml.example/rss (not in the config; added by hand or imported)\n"
    )
    assert len(urls(ingest)) == 4  # a dry run changes nothing
    r = ingest("--config", str(config), "feeds", "sync")
    assert (r.exit_code, r.output) == (
        0,
        f"synced 1 feed from {config}: 0 added, 0 updated, 1 removed\n"
        "removed https://c2.example/rss (its articles stay)\n"
        "kept 2 feeds not in the config: added by hand or imported (--prune removes them)\n",
    )
    assert urls(ingest) == [
        "https://c1.example/rss",
        "https://hand.example/rss",
        "https://opml.example/rss",
    ]

    # --prune removes the others too, but only when confirmed
    r = ingest("--config", str(config), "feeds", "sync", "--prune")
    assert r.exit_code == 2
    assert r.output.splitlines() == [
        "--prune: will remove 2 feeds (their articles stay):",
        "  https://hand.example/rss",
        "  https://opml.example/rss",
        "Error: not confirmed (input is not a terminal): pass --yes to delete",
    ]
    assert len(urls(ingest)) == 3
    r = ingest("feeds", "set", "https://c1.example/rss", "--tag", "mine")
    assert r.output.splitlines()[-1] == (
        "  note: the config file manages this feed: `feeds sync` sets it back"
    )
    r = ingest("--config", str(config), "feeds", "sync", "--prune", "--yes")
    assert r.exit_code == 0, r.output
    assert urls(ingest) == ["https://c1.example/rss"]


def test_an_empty_config_list_removes_nothing_unasked(ingest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text('[[feeds]]\nurl = "https://c1.example/rss"\n')
    ingest("--config", str(config), "feeds", "sync")
    config.write_text("[settings]\nconcurrency = 4\n")
    r = ingest("--config", str(config), "feeds", "sync")
    assert r.exit_code == 2
    assert "lists no feeds: will remove 1 feed" in r.output
    assert urls(ingest) == ["https://c1.example/rss"]


def test_make_run_never_removes_a_feed(tmp_path: Path) -> None:
    """`make run` syncs the config, then runs: with feeds added by hand and a config whose
    feed list is empty (or lost one), every feed is still there afterwards."""
    db, config = tmp_path / "m.db", tmp_path / "c.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_DB=str(db), INGEST_CONFIG=str(config))
    ingest = [str(ROOT / ".venv" / "bin" / "ingest")]
    config.write_text('[[feeds]]\nurl = "http://127.0.0.1:9/c.xml"\n')
    subprocess.run([*ingest, "feeds", "sync"], env=env, check=True, capture_output=True)
    for i in range(3):
        subprocess.run([*ingest, "feeds", "add", f"http://127.0.0.1:9/{i}.xml"], env=env,
                       check=True, capture_output=True)  # fmt: skip
    config.write_text("feeds = []\n")
    for url in ["http://127.0.0.1:9/c.xml", *(f"http://127.0.0.1:9/{i}.xml" for i in range(3))]:
        subprocess.run(
            [*ingest, "feeds", "disable", url], env=env, check=True, capture_output=True
        )  # fmt: skip  (nothing due: no fetch)
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "run"], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    listed = subprocess.run([*ingest, "feeds", "list", "--json"], env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert len(json.loads(listed.stdout)) == 4


# ------------------------------------------------------------------ 2: deletions ask


def _store_with_old_articles(ingest, server: FeedServer) -> str:  # type: ignore[no-untyped-def]
    body = rss("Old", "https://old.example/", make_items(7, 5, site="https://old.example"))
    url = server.route("/old.xml", body=body)
    ingest("feeds", "add", url, "--allow-private-network")
    assert ingest("run").exit_code == 0
    return url


def test_prune_refuses_an_age_below_an_hour_and_asks(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    url = _store_with_old_articles(ingest, feed_server)
    r = ingest("articles", "prune", "--older-than", "0")
    assert (r.exit_code, r.output) == (
        2,
        "Error: --older-than 0 is below the 1h floor (an age of 0 deletes every article): "
        "pass --force if that is meant\n",
    )
    r = ingest("articles", "prune", "--older-than", "7d")  # not a terminal, no --yes
    assert r.exit_code == 2
    assert r.output.startswith("will delete 5 articles older than 7d (before ")
    assert f"\n        5  {url}\n" in r.output
    assert r.output.endswith(
        "Error: not confirmed (input is not a terminal): pass --yes to delete\n"
    )
    assert len(ingest("articles", "export").output.splitlines()) == 5
    r = ingest("articles", "prune", "--older-than", "7d", "--dry-run")
    assert r.output.startswith("would delete 5 articles older than 7d")
    r = ingest("articles", "prune", "--older-than", "7d", "--yes")
    assert r.exit_code == 0
    assert r.output.splitlines()[-1] == (
        "deleted 5 articles older than 7d (tombstones keep them from coming back: "
        "`ingest articles unprune` lifts them)"
    )
    assert ingest("articles", "export").output == ""


def test_a_story_of_one_source_says_so(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    body = rss("One", "https://one.example/", make_items(9, 1, site="https://one.example"))
    ingest("feeds", "add", feed_server.route("/one.xml", body=body), "--allow-private-network")
    assert ingest("run").exit_code == 0
    (head, _) = ingest("stories", "list").output.splitlines()
    assert head.startswith("story 1: ") and head.endswith("  (1 source)")  # not "1 sources"


def test_tombstones_are_listed_and_lifted(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    url = _store_with_old_articles(ingest, feed_server)
    ingest("articles", "prune", "--older-than", "7d", "--yes")
    ingest("run", "--all")  # the feed still lists them: the tombstones keep them out
    assert ingest("articles", "export").output == ""
    r = ingest("articles", "tombstones", "--limit", "2")
    lines = r.output.splitlines()
    assert lines[0] == "5 tombstones (newest 2 shown)"
    assert len(lines) == 3 and f"  {url}  https://old.example/7/story-" in lines[1]

    r = ingest("articles", "unprune", "--feed", url)
    assert r.output == "lifted 5 tombstones; their feeds are due now\n"
    assert ingest("articles", "tombstones").output == "0 tombstones\n"
    r = ingest("run")  # due now, fetched in full (no 304 / same-body shortcut)
    assert r.exit_code == 0, r.output
    assert len(ingest("articles", "export").output.splitlines()) == 5


def test_feeds_remove_shows_what_goes_and_asks(ingest) -> None:  # type: ignore[no-untyped-def]
    ingest("feeds", "add", "https://a.example/rss")
    r = ingest("feeds", "remove", "https://a.example/rss")
    assert r.exit_code == 2 and "pass --yes" in r.output
    assert urls(ingest) == ["https://a.example/rss"]


def test_on_a_terminal_deletions_ask(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env["INGEST_DB"] = str(db)
    for u in ("https://a.example/rss", "https://b.example/rss"):
        subprocess.run([sys.executable, "-m", "ingest", "feeds", "add", u], env=env, check=True,
                       capture_output=True, cwd=tmp_path)  # fmt: skip
    code, out = in_pty(["feeds", "remove", "https://a.example/rss"], env, b"n\n")
    assert code == 1 and "Go ahead? [y/N]" in out and "cancelled: nothing deleted" in out
    code, out = in_pty(["feeds", "remove", "https://a.example/rss"], env, b"y\n")
    assert code == 0 and "removed https://a.example/rss" in out
    listed = subprocess.run([sys.executable, "-m", "ingest", "feeds", "list", "--json"], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert [f["url"] for f in json.loads(listed.stdout)] == ["https://b.example/rss"]


# ------------------------------------------------------------------ 3: merge, not reset


def test_feeds_add_on_a_known_feed_changes_only_what_is_given(ingest) -> None:  # type: ignore[no-untyped-def]
    url = "https://a.example/rss"
    ingest("feeds", "add", url, "--tag", "world", "--tag", "uk", "--interval", "2h",
           "--allow-private-network", "--full-text")  # fmt: skip
    r = ingest("feeds", "add", url, "--tag", "world")
    assert r.output == f"unchanged {url} (already as given)\n"
    r = ingest("feeds", "add", url, "--tag", "europe", "--title", "A")
    assert r.output == f"updated {url}: title: (none) -> A; tags: world, uk -> world, uk, europe\n"
    f = feed(ingest, url)
    assert f["tags"] == ["world", "uk", "europe"]
    r = ingest("feeds", "set", url, "--untag", "uk", "--interval", "10m", "--no-full-text")
    assert r.output == (
        f"updated {url}: tags: world, uk, europe -> world, europe; interval: 2 h -> 10 min; "
        "full_text: on -> off\n  settings changed: the feed is due now\n"
    )
    r = ingest("feeds", "set", url, "--interval", "adaptive")
    assert r.output.startswith(f"updated {url}: interval: 10 min -> adaptive\n")
    r = ingest("feeds", "set", url)
    assert r.exit_code == 2 and "nothing to change" in r.output
    r = ingest("feeds", "set", "https://nope.example/rss", "--tag", "x")
    assert (r.exit_code, r.output) == (
        2,
        "Error: no such feed: https://nope.example/rss (see `ingest feeds list`)\n",
    )


def test_feeds_add_reactivates_and_says_so(ingest) -> None:  # type: ignore[no-untyped-def]
    url = "https://a.example/rss"
    ingest("feeds", "add", url)
    ingest("feeds", "disable", url)
    r = ingest("feeds", "add", url)
    assert r.output == f"updated {url}: disabled -> ok (polled at the next run)\n"


# ------------------------------------------------------------------ 4: settings at once


def test_a_changed_interval_takes_effect_through_304s(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    body = rss("A", "https://a.example/", make_items(3, 3, site="https://a.example"))
    url = feed_server.route("/a.xml", body=body, etag="auto", conditional=True)
    ingest("feeds", "add", url, "--interval", "2h", "--allow-private-network")
    assert ingest("run").exit_code == 0
    assert feed(ingest, url)["schedule_reason"] == "fixed 2 h"
    assert ingest("run", "--all").exit_code == 0  # a 304
    assert feed(ingest, url)["history"][0]["outcome"] == "not_modified"  # type: ignore[index]

    ingest("feeds", "add", url, "--interval", "10m")  # (`feeds set` does the same)
    f = feed(ingest, url)
    assert f["next_poll"] == "now: settings changed"
    feed_server.clear_log()
    assert ingest("run").exit_code == 0  # due at once, no --all
    assert feed_server.requests_for("/a.xml")[0].headers["if-none-match"]  # validators kept
    f = feed(ingest, url)
    assert f["history"][0]["outcome"] == "not_modified"  # type: ignore[index]
    assert f["schedule_reason"] == "fixed 10 min"
    due = from_iso(str(f["next_poll_at"]))
    assert due is not None
    assert timedelta(minutes=9) < due - datetime.now(UTC) <= timedelta(minutes=10)
    assert str(f["next_poll"]).startswith("in 10 min (") and f["next_poll"].endswith(  # type: ignore[union-attr]
        "): fixed 10 min"
    )


def test_an_opt_in_ends_a_backoff_at_once(ingest, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    body = rss("A", "https://a.example/", make_items(4, 2, site="https://a.example"))
    url = feed_server.route("/a.xml", body=body)
    ingest("feeds", "add", url)
    assert ingest("run").exit_code == 1  # a loopback address, not allowed: backoff
    f = feed(ingest, url)
    assert f["status"] == "error" and "backoff" in str(f["schedule_reason"])
    assert str(f["next_poll"]).startswith("in ")
    ingest("feeds", "set", url, "--allow-private-network")
    r = ingest("run")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 feed: 1 ok")
    assert feed(ingest, url)["status"] == "ok"


def test_a_disabled_feed_is_never_shown_as_due(ingest) -> None:  # type: ignore[no-untyped-def]
    url = "https://a.example/rss"
    ingest("feeds", "add", url)
    ingest("feeds", "disable", url)
    assert ingest("feeds", "list").output == f"{'disabled':<10} next {'disabled':<20} {url}\n"
    assert feed(ingest, url)["next_poll"] == (
        "never while disabled (`ingest feeds enable URL` polls it again)"
    )
    ingest("feeds", "enable", url)
    assert feed(ingest, url)["next_poll"] == "now: enabled"


def test_credentials_in_an_added_url_are_kept_as_options_and_never_shown(ingest) -> None:  # type: ignore[no-untyped-def]
    r = ingest("feeds", "add", "https://reader:s3cret@a.example/rss")
    assert r.output == "added https://a.example/rss\n"
    r = ingest("feeds", "add", "https://reader:0ther@a.example/rss", "--tag", "x")
    assert r.output == "updated https://a.example/rss: tags: none -> x; password: changed\n" + (
        "  settings changed: the feed is due now\n"
    )
    from storage import open_store

    store = open_store(Path("t.db"))
    feed = store.get_feed("https://a.example/rss")
    store.close()
    assert feed is not None and (feed.options.username, feed.options.password) == (
        "reader",
        "0ther",
    )
