"""`ingest sinks ...`: the push sinks of the config ([[sinks]], README "Push sinks"), their
backlog and dead letters; and `push_backlog`, the delivery `ingest run` makes after its
store step."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

from .cli_app import App, UsageProblem, handle_errors
from .cli_text import plural
from .timeutil import utcnow

if TYPE_CHECKING:
    from .sinks import SinkBacklog, SinkResult, SinkSpec

__all__ = ["configured_sinks", "push_backlog", "register_sinks", "sinks"]


def configured_sinks(app: App) -> list[SinkSpec]:
    """The config's [[sinks]], validated (a bad entry: ConfigError, exit 2)."""
    from .sinks import load_sinks

    return load_sinks(app.settings.config)


def register_sinks(app: App, specs: list[SinkSpec]) -> None:
    """Make the config's sinks the ones new articles are queued for. Without a config file
    (another working directory, say) the registered sinks stay as they are: a run that did
    not read the sinks must not stop queueing for them."""
    from pathlib import Path

    if specs or Path(app.settings.config).exists():
        app.creating_store.sync_sinks([s.name for s in specs], now=utcnow())


def push_backlog(app: App, specs: list[SinkSpec]) -> list[SinkResult]:
    """Deliver what waits in the outbox for the configured sinks (what this run stored, and
    what an earlier run committed but did not deliver). A sink that fails gets one warning
    line on stderr; it never changes the run's exit code."""
    from storage import lease_owner

    from .sinks import deliver

    if not specs:
        return []
    store = app.creating_store
    results = asyncio.run(deliver(store, specs, app.settings, owner=lease_owner()))
    failed = any(r.error for r in results)
    pending = {b.sink: b.pending for b in store.sink_backlogs()} if failed else {}
    for r in results:
        line = r.warning(pending.get(r.sink, 0))
        if line:
            click.echo(f"warning: {line}", err=True)
    return results


@click.group()
def sinks() -> None:
    """Push sinks: webhook, Redis stream, NATS JetStream ([[sinks]] in the config)."""


@sinks.command("list")
@click.pass_obj
@handle_errors
def sinks_list(app: App) -> None:
    """The configured sinks, where they deliver (secrets masked), and their backlog."""
    specs = configured_sinks(app)
    if not specs:
        click.echo(f"no sinks in {app.settings.config} (README: Push sinks)")
        return
    from pathlib import Path

    from storage import is_url

    db = app.settings.db
    stored = is_url(db) or Path(db).exists()  # (no store yet: nothing queued)
    backlog = {b.sink: b for b in _backlogs(app)} if stored else {}
    for s in specs:
        b = backlog.get(s.name)
        waits = f"{b.pending} waiting, {b.dead} dead" if b else "nothing queued yet"
        click.echo(f"{s.name}  {s.type}  {s.target}  ({waits})")


@sinks.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def sinks_status(app: App, as_json: bool) -> None:
    """Per sink the store knows: backlog, dead letters, delivered, last error (reads only).
    A sink removed from the config keeps its backlog, shown as not configured."""
    rows = _backlogs(app)
    if as_json:
        click.echo(json.dumps([_as_dict(b) for b in rows], indent=2))
        return
    if not rows:
        click.echo("no sink has received anything yet")
        return
    for b in rows:
        line = f"{b.sink}: {b.pending} waiting, {b.dead} dead, {b.delivered} delivered" + (
            "" if b.active else " (not configured)"
        )
        if b.oldest_pending:
            line += f"; oldest waiting since {b.oldest_pending}"
        if b.last_error:
            line += f"; last error: {b.last_error}"
        click.echo(line)


@sinks.command("retry")
@click.option("--sink", "name", help="Only this sink's dead letters (default: every sink's).")
@click.pass_obj
@handle_errors
def sinks_retry(app: App, name: str | None) -> None:
    """Move dead letters back to the outbox (attempts reset); they go out with the next run,
    or now with `ingest sinks deliver`."""
    store = app.store
    if name is not None and name not in {b.sink for b in store.sink_backlogs()}:
        raise UsageProblem(f"no such sink: {name} (see `ingest sinks status`)")
    moved = store.retry_dead(name, now=utcnow())
    click.echo(f"{plural(moved, 'dead letter')} moved back to the outbox")


@sinks.command("replay")
@click.option("--sink", "name", required=True, help="The configured sink to send them to.")
@click.option(
    "--since", required=True, help="First stored since: a date, a timestamp or an age (7d)."
)
@click.pass_obj
@handle_errors
def sinks_replay(app: App, name: str, since: str) -> None:
    """Queue for one sink every article first stored since then (a sink added later gets
    only what is stored after it was added); they go out with the next run or `sinks
    deliver`. Consumers de-duplicate by key, so overlapping replays are harmless."""
    from .cli_app import parse_since

    specs = configured_sinks(app)
    if name not in {s.name for s in specs}:
        raise UsageProblem(
            f"no such sink in {app.settings.config}: {name} (see `ingest sinks list`)"
        )
    when = parse_since(since)
    assert when is not None
    register_sinks(app, specs)
    queued = app.store.replay(name, since=when, now=utcnow())
    click.echo(f"{plural(queued, 'article')} queued for {name}")


@sinks.command("deliver")
@click.pass_obj
@handle_errors
def sinks_deliver(app: App) -> None:
    """Deliver what is due in the outbox now, without a run. Exit 1 when a sink failed."""
    specs = configured_sinks(app)
    if not specs:
        click.echo(f"no sinks in {app.settings.config} (README: Push sinks)")
        return
    register_sinks(app, specs)
    results = push_backlog(app, specs)
    for r in results:
        if r.busy:
            click.echo(f"{r.sink}: another process is delivering it")
        elif r.error is None:
            click.echo(f"{r.sink}: {plural(r.delivered, 'article')} delivered")
    if any(r.error for r in results):
        raise SystemExit(1)


def _backlogs(app: App) -> list[SinkBacklog]:
    return app.reader.sink_backlogs()


def _as_dict(b: SinkBacklog) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(b)
