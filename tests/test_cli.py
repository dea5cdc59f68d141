"""The CLI: exact output and exit codes (click's CliRunner, real SQLite files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from clikit import invoker

from ingest.cli import cli


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return invoker(tmp_path, monkeypatch)  # no config/feeds.toml: defaults only


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help and cmd.help.strip(), f"`ingest {' '.join(path)}` has no help text"


def test_feeds_add_list_remove(run) -> None:  # type: ignore[no-untyped-def]
    r = run(
        "feeds",
        "add",
        "https://a.example/rss",
        "--title",
        "A",
        "--tag",
        "world",
        "--interval",
        "30m",
    )
    assert (r.exit_code, r.output) == (0, "added https://a.example/rss\n")
    r = run("feeds", "add", "https://a.example/rss")  # nothing given: nothing changes
    assert r.output == "unchanged https://a.example/rss (already as given)\n"
    r = run("feeds", "list")
    assert r.output == f"{'ok':<10} next {'now':<20} https://a.example/rss\n"
    (rec,) = json.loads(run("feeds", "list", "--json").output)
    assert {
        k: rec[k] for k in ("url", "title", "tags", "status", "error_count", "next_poll_at")
    } == {
        "url": "https://a.example/rss",
        "title": "A",
        "tags": ["world"],
        "status": "ok",
        "error_count": 0,
        "next_poll_at": None,
    }
    for key in (
        "last_http_status",
        "last_error",
        "last_fetched_at",
        "interval_s",
        "schedule_reason",
    ):
        assert key in rec
    assert (
        run("feeds", "disable", "https://a.example/rss").output
        == "disabled https://a.example/rss\n"
    )
    assert json.loads(run("feeds", "list", "--json").output)[0]["status"] == "disabled"
    assert (
        run("feeds", "enable", "https://a.example/rss").output == "enabled https://a.example/rss\n"
    )
    assert run("feeds", "remove", "https://a.example/rss", "--yes").output == (
        "will remove feed https://a.example/rss (source: cli): its options, schedule and fetch"
        " history; the 0 articles it carried stay\nremoved https://a.example/rss\n"
    )
    assert run("feeds", "list").output == "no feeds (add one with `ingest feeds add URL`)\n"
    r = run("feeds", "remove", "https://a.example/rss", "--yes")
    assert (r.exit_code, r.output) == (
        2,
        "Error: no such feed: https://a.example/rss (see `ingest feeds list`)\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("feeds", "add", "ftp://x.example/f"),
            "Error: Invalid value for 'URL': invalid URL 'ftp://x.example/f': only http and https feeds can be fetched",
        ),
        (
            ("feeds", "add", "https://x.example/f", "--interval", "often"),
            "Error: Invalid value for '--interval': expected a duration like 30s, 15m or 2h, got 'often'",
        ),
        (
            ("articles", "list", "--since", "last tuesday"),
            "Error: Invalid value: 'last tuesday' is neither a date (2026-11-24), a timestamp nor an age (24h, 7d)",
        ),
        (
            ("articles", "export", "--format", "xml"),
            "Error: Invalid value for '--format': 'xml' is not one of 'jsonl', 'csv'.",
        ),
        (
            ("run", "--feed", "https://nope.example/f"),
            "Error: Invalid value for '--feed': no such feed: https://nope.example/f",
        ),
        (("feeds", "import", "missing.opml"), "Error: missing.opml: No such file or directory"),
        (("feeds", "sync"), "Error: config/feeds.toml: file not found"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    run, args: tuple[str, ...], message: str
) -> None:  # type: ignore[no-untyped-def]
    r = run(*args)
    assert r.exit_code == 2
    assert message in r.output


def test_bad_config_and_env_exit_2(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[settings]\nconcurrency = 'x'\n")
    r = run("--config", str(bad), "stats")
    assert (r.exit_code, r.output) == (
        2,
        f"Error: {bad}: concurrency: expected a whole number, got 'x'\n",
    )
    r = run("stats", env={"INGEST_READ_TIMEOUT": "forever"})
    assert r.exit_code == 2
    assert (
        r.output
        == "Error: environment: INGEST_READ_TIMEOUT: expected a duration like 30s, 15m or 2h, got 'forever'\n"
    )


def test_unreadable_database_is_a_clear_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.db").write_bytes(b"garbage" * 1000)
    r = run("stats")
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: {tmp_path / 't.db'}: cannot open the database")


def test_run_with_nothing_due(run) -> None:  # type: ignore[no-untyped-def]
    r = run("run")
    assert (r.exit_code, r.output) == (
        0,
        "0 feeds due: no feed to poll (`ingest feeds add URL` or `feeds sync`)\n",
    )


def test_sync_import_export(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text(
        '[[feeds]]\nurl = "https://a.example/rss"\n[[feeds]]\nurl = "https://b.example/rss"\n'
    )
    r = run("--config", str(config), "feeds", "sync")
    assert r.output == f"synced 2 feeds from {config}: 2 added, 0 updated, 0 removed\n"
    config.write_text('[[feeds]]\nurl = "https://a.example/rss"\ntitle = "A"\n')
    r = run("--config", str(config), "feeds", "sync")
    assert r.output == (
        f"synced 1 feed from {config}: 0 added, 1 updated, 1 removed\n"
        "removed https://b.example/rss (its articles stay)\n"
    )
    opml = run("feeds", "export").output
    assert 'xmlUrl="https://a.example/rss"' in opml and "b.example" not in opml
    (tmp_path / "more.opml").write_text(opml.replace("a.example", "c.example"))
    r = run("feeds", "import", str(tmp_path / "more.opml"))
    assert r.output == f"imported 1 feed from {tmp_path / 'more.opml'} (1 new)\n"


def test_empty_store_reads(run) -> None:  # type: ignore[no-untyped-def]
    assert run("run").exit_code == 0  # creates the store
    assert run("articles", "export").output == ""
    header = run("articles", "export", "--format", "csv").output.splitlines()
    assert header == [
        "id,feed_url,guid,url,canonical_url,title,authors,published_at,updated_at,fetched_at,"
        "summary,content_html,content_text,language,tags,image_url,enclosures,word_count,"
        "content_hash,story_id,duplicate_of"
    ]
    assert run("articles", "search", "anything").output == "no matches\n"
    stats = json.loads(run("stats", "--json").output)
    assert (stats["feeds"], stats["articles"], stats["stories"]) == (0, 0, 0)


def test_the_cli_freezes_the_heap_before_exit(tmp_path: Path) -> None:
    """The process ends after a command: the collector's final passes are skipped."""
    code = (
        "import gc, sys\nfrom ingest.cli import main\n"
        f"sys.argv = ['ingest', '--db', {str(tmp_path / 'g.db')!r}, 'stats']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('frozen', gc.get_freeze_count() > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[-1] == "frozen True", out.stderr
