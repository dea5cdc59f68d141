"""The `ingest` command: a thin client of the library.

Each command loads Settings, opens the store, calls one library function and prints. The
groups live beside this module (cli_feeds, cli_articles); what they share (stores, errors
and exit codes, confirmations) in cli_app. Exit codes: 0 success; 1 a store or feed problem
(and for `run`, 1 when any feed failed or every feed is failing); 2 usage and
configuration errors; 130 interrupted.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from .cli_app import App, UsageProblem, handle_errors, known_feed
from .cli_articles import articles, stories
from .cli_feeds import feeds
from .cli_sinks import configured_sinks, push_backlog, register_sinks, sinks
from .cli_text import plural
from .errors import ConfigError, StoreError
from .settings import env_warnings, load_settings

if TYPE_CHECKING:
    from storage import Store

    from .pipeline import FeedOutcome, RunReport

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="SQLite database file, or a postgresql:// URL [env: INGEST_DB].",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Operator config file (TOML) [env: INGEST_CONFIG; default: config/feeds.toml].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log line format [env: INGEST_LOG_FORMAT].",
)
@click.version_option(package_name="ingest")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None, log_format: str | None) -> None:
    """ingest: poll news feeds, normalize and deduplicate stories, store article records.

    Only feeds add / import / sync, run and daemon create a store. Read commands (list,
    show, search, export, stats) read a store they cannot write read-only. Commands that
    delete (feeds remove, feeds sync --prune, articles prune) show what goes and ask first
    on a terminal; elsewhere they need --yes. No command deletes articles but prune."""
    from .logs import setup_logging

    try:
        settings = load_settings(config, overrides={"db": db, "log_format": log_format})
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    for warning in env_warnings(os.environ):
        click.echo(f"warning: {warning}", err=True)
    setup_logging(settings.log_format, settings.log_level)
    app = App(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


cli.add_command(feeds)
cli.add_command(articles)
cli.add_command(stories)
cli.add_command(sinks)


# ------------------------------------------------------------------------------ run


def _print_report(report: RunReport, timings: bool, quiet: bool) -> None:
    if quiet and not report.failed:
        return
    counts: dict[str, int] = {}
    for o in report.outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    parts = [
        f"{counts.get(k, 0)} {label}"
        for k, label in (
            ("ok", "ok"),
            ("not_modified", "not modified"),
            ("unchanged", "unchanged"),
            ("error", "failed"),
        )
    ]
    click.echo(
        f"{plural(len(report.outcomes), 'feed')}: {', '.join(parts)}; "
        f"{report.new} new, {report.updated} updated articles in {report.elapsed_s:.2f} s"
    )
    for o in sorted(report.failed, key=lambda o: o.url):
        click.echo(f"failed {o.url}: {o.error}")
    for h in report.held:  # (another run's: its leases are voided as soon as it dies)
        what = "it" if h.by == "feed" else "another feed of its host"
        click.echo(f"skipped {h.url}: another run holds {what} until {h.until:%Y-%m-%d %H:%M:%S}Z")
    if timings:
        stages = " ".join(f"{k}={v:.3f}s" for k, v in report.stage_s.items())
        click.echo(f"stages: {stages}")
        # items held unchanged are not normalized again (Store.seen_entries)
        click.echo(f"items: {report.normalized} normalized, {report.reused} held unchanged")


def _nothing_due(store: Store, quiet: bool) -> int:
    """Say why a run has nothing to do; the exit code: 1 when every feed is failing."""
    from .schedule import format_duration

    by_status: dict[str, int] = {}
    for feed in store.feed_states():
        by_status[feed.status] = by_status.get(feed.status, 0) + 1
    active = by_status.get("ok", 0) + by_status.get("error", 0)
    failing = by_status.get("error", 0)
    if not active:
        if not quiet:
            click.echo("0 feeds due: no feed to poll (`ingest feeds add URL` or `feeds sync`)")
        return 0
    line = "0 feeds due"
    nxt = store.next_due_at()
    if nxt is not None:
        wait = max(0.0, (nxt - datetime.now(UTC)).total_seconds())
        line += f"; next in {format_duration(wait)} ({nxt.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
    if failing:
        line += f"; {failing} of {plural(active, 'feed')} failing (`ingest feeds list` says why)"
    if failing == active:
        click.echo(line + ": every feed is failing", err=quiet)
        return 1
    if not quiet:
        click.echo(line)
    return 0


class _Progress:
    """click's progress bar on stderr: feeds done / failed and articles new."""

    def __init__(self, total: int) -> None:
        self.done = self.failed = self.new = 0
        self._bar: click._termui_impl.ProgressBar[int] = click.progressbar(
            length=max(1, total),
            label="fetching",
            file=sys.stderr,
            show_pos=True,
            item_show_func=lambda _: f"{self.failed} failed, {self.new} new articles",
        )
        self._bar.__enter__()

    def update(self, o: FeedOutcome) -> None:
        self.done += 1
        self.failed += o.outcome == "error"
        self.new += o.new
        self._bar.update(1)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


@cli.command("run")
@click.option("--all", "force", is_flag=True, help="Fetch every active feed, due or not.")
@click.option("--feed", "urls", multiple=True, help="Fetch only this feed (repeatable).")
@click.option("--timings", is_flag=True, help="Print the time spent in each stage.")
@click.option("-v", "--verbose", is_flag=True, help="Log one line per fetch (stderr).")
@click.option("-q", "--quiet", is_flag=True, help="For cron: no progress bar; print only failures.")
@click.pass_obj
@handle_errors
def run(
    app: App, force: bool, urls: tuple[str, ...], timings: bool, verbose: bool, quiet: bool
) -> None:
    """One pass over the due feeds: new and revised articles are stored, nothing is deleted
    (creates the store if missing). On a terminal a progress bar shows feeds done / failed
    and articles new; then a summary, naming each failed feed and why, and the due feeds
    another run or worker held.

    Exit 1 when a feed failed, when a feed asked for with --feed could not be fetched now
    (another run or worker is fetching it, or another feed of its host), or when nothing is
    due and every feed is failing. Ctrl-C stops taking feeds, lets those in flight finish,
    says what was kept and exits 130 (twice: abandon those in flight).
    """
    import logging

    if not verbose:  # the summary names every failed feed: per-fetch lines only with -v
        logging.getLogger("ingest").setLevel(max(logging.ERROR, logging.getLogger("ingest").level))

    sink_specs = configured_sinks(app)  # (a bad [[sinks]] entry stops the run before it starts)
    store = app.creating_store
    register_sinks(app, sink_specs)
    try:
        wanted = [known_feed(store, u) for u in dict.fromkeys(urls)]
    except UsageProblem as exc:
        raise click.BadParameter(exc.message, param_hint="'--feed'") from None
    due = wanted or store.due_urls(datetime.now(UTC), every=force)
    if not due:
        code = _nothing_due(store, quiet)
        push_backlog(app, sink_specs)  # what an earlier run committed and did not deliver
        sys.exit(code)
    from .workers import run_pass

    app.close()  # worker processes are forked with no store connection open
    progress = _Progress(len(due)) if not quiet and sys.stderr.isatty() else None
    try:
        report = run_pass(
            str(app.settings.db),
            app.settings,
            force=force,
            urls=wanted or None,
            expected=len(due),
            log_outcomes=True,
            on_outcome=progress.update if progress else None,
        )
    finally:
        if progress is not None:
            progress.close()
    _print_report(report, timings, quiet and not report.interrupted)
    if not report.interrupted:
        push_backlog(app, sink_specs)  # after the store step: a failing sink only warns
    done = {o.url for o in report.outcomes}
    skipped = [u for u in due if u not in done]
    if report.interrupted:
        click.echo(
            f"interrupted: {plural(len(report.outcomes), 'feed')} fetched and kept "
            f"({report.new} new articles); {plural(len(skipped), 'feed')} not started stay due",
            err=True,
        )
        sys.exit(130)
    if wanted:
        for url in skipped:  # leased elsewhere: claims never take a feed or host in flight
            click.echo(
                f"not fetched {url}: another run or worker is fetching it or another feed of"
                " its host; try again when it is done"
            )
    if report.failed or (wanted and skipped):
        sys.exit(1)


@cli.command("daemon")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve /metrics and /healthz.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--tick", default="15s", show_default=True, help="How often to look for due feeds.")
@click.pass_obj
@handle_errors
def daemon(app: App, metrics_port: int | None, metrics_host: str, tick: str) -> None:
    """Poll due feeds until SIGTERM / SIGINT (stops cleanly, nothing committed is lost).
    Stores new and revised articles, deletes nothing; creates the store if missing."""
    from .daemon import open_when_reachable, run_daemon
    from .settings import parse_duration

    try:
        tick_s = parse_duration(tick)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tick'") from None
    sink_specs = configured_sinks(app)  # a bad entry fails before any wait
    store = open_when_reachable(lambda: app.creating_store, str(app.settings.db), tick_s)
    if store is None:
        return  # stopped while waiting for the database
    register_sinks(app, sink_specs)
    run_daemon(
        store,
        app.settings,
        sinks=sink_specs,
        tick_s=tick_s,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )


@cli.command("serve")
@click.option("--host", help="Address to listen on [env: INGEST_SERVE_HOST; default: 127.0.0.1].")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port to listen on [env: INGEST_SERVE_PORT; default: 8080].",
)
@click.pass_obj
@handle_errors
def serve(app: App, host: str | None, port: int | None) -> None:
    """Serve the read API, merged story feeds and web page (token: INGEST_API_TOKEN).
    Reads only; a missing store is an error."""
    from .serve import create_app, listen, run_server, store_opener

    settings = app.settings
    host = host or settings.serve_host
    port = port or settings.serve_port
    if not 1 <= port <= 65535:
        raise ConfigError("settings", "serve_port", f"not a port: {port}")
    websub = None
    if settings.websub_callback_url:
        from .websub import WebSubConfig

        websub = WebSubConfig(settings)
    web = create_app(store_opener(settings.db), api_token=settings.api_token, websub=websub)
    sock = listen(host, port)
    from storage import redact_url

    where = redact_url(str(settings.db))
    click.echo(f"serving {where} on http://{host}:{port}/ (API docs at /docs)", err=True)
    if websub is not None:
        click.echo(f"WebSub: subscribing with callbacks under {websub.callback('')}", err=True)
    run_server(web, sock, settings.log_level)


@cli.group("store")
def store_group() -> None:
    """The store itself: check it, move it to another backend."""


@store_group.command("copy")
@click.option("--from", "source", required=True, help="SQLite file or postgresql:// URL.")
@click.option("--to", "target", required=True, help="An empty store: file or URL.")
@handle_errors
def store_copy(source: str, target: str) -> None:
    """Copy feeds, articles, sources, stories and history into an empty store (created if
    missing; the source is only read), then compare every table's row count and checksum."""
    from storage.copy import copy_between

    report = copy_between(source, target)
    total = sum(report.counts.values())
    click.echo(f"copied {total} rows in {len(report.counts)} tables; checksum {report.checksum}")
    for table, n in report.counts.items():
        click.echo(f"  {table}: {n}")


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def stats(app: App, as_json: bool) -> None:
    """Counts of feeds, articles, sources and stories (reads only)."""
    store = app.reader
    data = store.stats().as_dict()
    backlogs = store.sink_backlogs()
    if backlogs:  # the push sinks' outbox (README "Push sinks")
        data["sink_backlog"] = {b.sink: b.pending for b in backlogs}
        data["sink_dead_letters"] = {b.sink: b.dead for b in backlogs}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        click.echo(f"{key}: {value}")


@store_group.command("check")
@click.pass_obj
@handle_errors
def store_check(app: App) -> None:
    """Integrity checks on demand: SQLite's own, foreign keys, and the story index (every
    article in exactly one story, every story's representative exists). Exit 1 on a problem.
    Reads only."""
    from storage import redact_url

    where = redact_url(str(app.settings.db))
    problems = app.reader.check()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise StoreError(
            f"{where}: {len(problems)} problem(s) found; restore the file from a backup"
            " (or salvage it with `sqlite3 FILE .recover`)"
        )
    click.echo(f"{where}: ok (integrity, foreign keys, story index)")


def main() -> None:
    try:
        cli(prog_name="ingest")
    finally:
        # the process ends now: the objects it holds need no more cycle collection, and the
        # collector's passes over all of them at interpreter exit are wasted work in every
        # cron run (refcounting, atexit handlers and file flushing still run as usual)
        gc.freeze()
