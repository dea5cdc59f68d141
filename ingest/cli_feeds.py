"""`ingest feeds ...`: the feed list. What each command does to stored data is in its help.

A feed remembers its source: "config" (`feeds sync`), "cli" (`feeds add`) or "opml"
(`feeds import`). The config owns only the feeds it brought (see ingest.feededit).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .cli_app import App, UsageProblem, confirm_deletion, handle_errors, known_feed
from .cli_text import next_poll_short, next_poll_text, plural
from .errors import ConfigError
from .feedconfig import feed_spec
from .feededit import (
    FeedEdit,
    Removal,
    SyncPlan,
    apply_edit,
    describe_changes,
    given_options,
)
from .models import Feed, Subscription
from .settings import FeedSpec, parse_duration
from .timeutil import to_iso

__all__ = ["feeds"]


@click.group()
def feeds() -> None:
    """Manage the feed list (removing a feed never deletes its articles)."""


def _interval(value: str | None, name: str) -> tuple[bool, int | None]:
    """(given, seconds): "adaptive" (or "auto") puts the feed back on the adaptive schedule."""
    if value is None:
        return False, None
    if value.strip().lower() in ("adaptive", "auto"):
        return True, None
    try:
        seconds = int(parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{name}'") from None
    if seconds < 1:
        raise click.BadParameter("must be at least 1s", param_hint=f"'{name}'")
    return True, seconds


def edit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `feeds add` and `feeds set` share: each changes only what it names."""
    for decorator in reversed(
        (
            click.option("--title", help="Display title (default: the feed's own)."),
            click.option("--tag", "tags", multiple=True, help="Add a tag; repeat for several."),
            click.option(
                "--interval", help="Fixed poll interval, e.g. 30m; 'adaptive' for the default."
            ),
            click.option(
                "--allow-private-network/--no-allow-private-network",
                default=None,
                help="Allow this feed on a private/loopback address.",
            ),
            click.option(
                "--full-text/--no-full-text",
                default=None,
                help="Extract full text from article pages.",
            ),
        )
    ):
        func = decorator(func)
    return func


def _edit(
    title: str | None,
    tags: tuple[str, ...],
    interval: str | None,
    flags: dict[str, bool | None],
    untag: tuple[str, ...] = (),
) -> FeedEdit:
    options: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    given, seconds = _interval(interval, "--interval")
    if given:
        options["interval_s"] = seconds
    clean = tuple(t.strip() for t in tags if t.strip())
    return FeedEdit(title=title or None, add_tags=clean, remove_tags=untag, options=options)


def _spec(feed: Feed) -> FeedSpec:
    return FeedSpec(url=feed.url, title=feed.title, tags=feed.tags, options=feed.options)


def _report_edit(url: str, changes: list[str], reactivated: str | None, source: str | None) -> None:
    if not changes and not reactivated:
        click.echo(f"unchanged {url} (already as given)")
        return
    parts = changes + ([f"{reactivated} -> ok (polled at the next run)"] if reactivated else [])
    click.echo(f"updated {url}: {'; '.join(parts)}")
    if any(c.split(":")[0] not in ("title", "tags") for c in changes):
        click.echo("  settings changed: the feed is due now")
    if changes and source == "config":
        click.echo("  note: the config file manages this feed: `feeds sync` sets it back")


def _given(url: str) -> FeedSpec:
    try:
        return feed_spec({"url": url}, "command line", "feed")
    except ConfigError as exc:
        raise click.BadParameter(exc.reason, param_hint="'URL'") from None


def _discovered(app: App, given: FeedSpec, allow_private_network: bool | None) -> str:
    """The feed found at `given` (a site's page): says which and why, lists the others."""
    from .discover import describe, run_discovery

    options = given.options
    if allow_private_network is not None:
        options = dataclasses.replace(options, allow_private_network=allow_private_network)
    found = run_discovery(given.url, options, app.settings)
    for line in describe(found):
        click.echo(line)
    return found.chosen.url


@feeds.command("discover")
@click.argument("url")
@click.option(
    "--allow-private-network", is_flag=True, help="Allow a page on a private/loopback address."
)
@click.pass_obj
@handle_errors
def feeds_discover(app: App, url: str, allow_private_network: bool) -> None:
    """List the feeds a site's page links to (or the common feed paths that answer), and
    the one `feeds add` would choose. Stores nothing."""
    _discovered(app, _given(url), allow_private_network or None)


@feeds.command("add")
@click.argument("url")
@edit_options
@click.option(
    "--discover/--no-discover",
    default=None,
    help="Find the feed on the page at URL [default: when URL looks like a page: no path, "
    "a trailing / or .html].",
)
@click.option("--dry-run", is_flag=True, help="Only say which feed discovery would add.")
@click.pass_obj
@handle_errors
def feeds_add(
    app: App,
    url: str,
    title: str | None,
    tags: tuple[str, ...],
    interval: str | None,
    allow_private_network: bool | None,
    full_text: bool | None,
    discover: bool | None,
    dry_run: bool,
) -> None:
    """Add a feed. On a feed already stored, change only what is given (tags are added to
    its tags), say what changed, and reactivate it if it was gone or disabled. Given a
    site's page, add the feed it links to (README "Feed discovery")."""
    from .discover import looks_like_page

    edit = _edit(
        title,
        tags,
        interval,
        {"allow_private_network": allow_private_network, "full_text": full_text},
    )
    given = _given(url)
    if dry_run and discover is False:
        raise UsageProblem("--dry-run shows what discovery would add: drop --no-discover")
    if discover is None and not dry_run and looks_like_page(given.url):
        # a feed stored under a page-like address is edited, as before discovery
        discover = app.creating_store.get_feed(given.url) is None
    if discover or dry_run:
        chosen = _discovered(app, given, allow_private_network)
        if dry_run:
            return
        given = dataclasses.replace(_given(chosen), options=given.options)
    url = given.url  # normalized; user:password in it became options (never stored in it)
    edit = dataclasses.replace(edit, options={**given_options(given.options), **edit.options})
    store = app.creating_store
    current = store.get_feed(url)
    base = _spec(current) if current else FeedSpec(url=url)
    spec = apply_edit(base, edit)
    store.add_feed(spec)
    if current is None:
        click.echo(f"added {url}")
        return
    gone_or_off = current.status if current.status in ("gone", "disabled") else None
    _report_edit(url, describe_changes(base, spec), gone_or_off, store.feed_source(url))


@feeds.command("set")
@click.argument("url")
@edit_options
@click.option("--untag", multiple=True, help="Remove a tag; repeat for several.")
@click.pass_obj
@handle_errors
def feeds_set(
    app: App,
    url: str,
    title: str | None,
    tags: tuple[str, ...],
    interval: str | None,
    allow_private_network: bool | None,
    full_text: bool | None,
    untag: tuple[str, ...],
) -> None:
    """Change a stored feed's title, tags or options; only what is given changes. A changed
    option (interval, opt-ins) makes the feed due at once. Status stays as it is."""
    flags = {"allow_private_network": allow_private_network, "full_text": full_text}
    edit = _edit(title, tags, interval, flags, untag)
    if edit == FeedEdit():
        raise UsageProblem(
            "nothing to change: give --title, --tag, --untag, --interval, "
            "--[no-]allow-private-network or --[no-]full-text"
        )
    store = app.store
    url = known_feed(store, url)
    current = store.get_feed(url)
    assert current is not None
    spec = apply_edit(_spec(current), edit)
    store.update_feed(spec)
    _report_edit(url, describe_changes(_spec(current), spec), None, store.feed_source(url))


@feeds.command("remove")
@click.argument("url")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not on a terminal).")
@click.pass_obj
@handle_errors
def feeds_remove(app: App, url: str, yes: bool) -> None:
    """Remove a feed: its options, schedule and fetch history are deleted; the articles it
    brought stay. Shows what goes and asks on a terminal; elsewhere needs --yes."""
    store = app.store
    url = known_feed(store, url)
    carried = sum(1 for _ in store.articles(feed_url=url))
    confirm_deletion(
        [
            f"will remove feed {url} (source: {store.feed_source(url)}): its options, "
            f"schedule and fetch history; the {plural(carried, 'article')} it carried stay"
        ],
        yes,
    )
    store.remove_feed(url)
    click.echo(f"removed {url}")


@feeds.command("enable")
@click.argument("url")
@click.pass_obj
@handle_errors
def feeds_enable(app: App, url: str) -> None:
    """Poll a disabled or gone feed again, right away."""
    store = app.store
    url = known_feed(store, url)
    store.set_status(url, "ok")
    click.echo(f"enabled {url}")


@feeds.command("disable")
@click.argument("url")
@click.pass_obj
@handle_errors
def feeds_disable(app: App, url: str) -> None:
    """Stop polling a feed (kept, with its articles)."""
    store = app.store
    url = known_feed(store, url)
    store.set_status(url, "disabled")
    click.echo(f"disabled {url}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of feed records.")
@click.pass_obj
@handle_errors
def feeds_list(app: App, as_json: bool) -> None:
    """List feeds with their status, last error and next poll (reads only)."""
    states = app.reader.feed_states()
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in states], indent=2, ensure_ascii=False))
        return
    if not states:
        click.echo("no feeds (add one with `ingest feeds add URL`)")
        return
    for f in states:
        state = f.status + (f" x{f.error_count}" if f.error_count else "")
        nxt = next_poll_short(f.status, f.next_poll_at)
        click.echo(f"{state:<10} next {nxt:<20} {f.url}")
        if f.last_error:
            click.echo(f"{'':<10} last error: {f.last_error}")


@feeds.command("show")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.pass_obj
@handle_errors
def feeds_show(app: App, url: str, as_json: bool) -> None:
    """One feed's state, when it is polled next and why, its WebSub subscription (when
    `ingest serve` holds one) and its recent fetch history."""
    from .timeutil import from_iso

    store = app.reader
    url = known_feed(store, url)
    state = next(f for f in store.feed_states() if f.url == url)
    history = store.fetch_history(url)
    record = state.as_dict()
    record["next_poll"] = next_poll_text(
        state.status, from_iso(state.next_poll_at), state.schedule_reason, datetime.now(UTC)
    )
    sub = next((s for s in store.subscriptions() if s.feed_url == url), None)
    record["websub"] = None if sub is None else websub_state(sub)
    if as_json:
        record["history"] = [h.as_dict() for h in history]
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    for key, value in record.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
        shown = ", ".join(value) if isinstance(value, list | tuple) else value
        click.echo(f"{key}: {'' if shown is None else shown}")
    click.echo("history:")
    for h in history:
        line = f"  {h.at} {h.outcome:<12} http={h.http_status} bytes={h.bytes} new={h.new} updated={h.updated} {h.duration_ms}ms"
        if h.error:
            line += f" error: {h.error}"
        click.echo(line)


def websub_state(sub: Subscription) -> dict[str, str | None]:
    """What an operator needs of a feed's WebSub subscription (never its secret): whether
    pushes come (state "active" until `lease_until`; while they do, the feed is polled only
    at its longest interval), from which hub, and why not when they do not."""
    return {
        "state": sub.state,
        "hub": sub.hub,
        "lease_until": to_iso(sub.lease_until) if sub.lease_until else None,
        "checked_at": to_iso(sub.checked_at) if sub.checked_at else None,
        "error": sub.error,
    }


@feeds.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
@handle_errors
def feeds_import(app: App, file: str) -> None:
    """Add every feed of an OPML file (creating the store if needed). Feeds already stored
    keep their settings and gain the file's tags."""
    from .opml import parse_opml

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise ConfigError(file, None, exc.strerror or str(exc)) from None
    specs, problems = parse_opml(data, file)
    for problem in problems:
        click.echo(f"skipped {problem}", err=True)
    store = app.creating_store
    added = 0
    for spec in specs:
        current = store.get_feed(spec.url)
        if current is None:
            added += store.add_feed(spec, source="opml")
        else:
            edit = FeedEdit(add_tags=spec.tags, options=given_options(spec.options))
            store.update_feed(apply_edit(_spec(current), edit))
    click.echo(f"imported {plural(len(specs), 'feed')} from {file} ({added} new)")


@feeds.command("export")
@click.pass_obj
@handle_errors
def feeds_export(app: App) -> None:
    """Write the feed list as OPML to stdout (reads only)."""
    from .opml import export_opml

    click.echo(export_opml(app.reader.feeds()), nl=False)


def _plan_lines(plan: SyncPlan, removal: str) -> list[str]:
    lines = [f"add {s.url}" for s in plan.add] + [f"update {s.url}" for s in plan.update]
    why = "not in the config" if removal == "all" else "came from the config, no longer in it"
    lines += [f"remove {u} ({why})" for u in plan.remove]
    keep_why = "added by hand or imported" if removal == "config" else "--no-remove"
    lines += [f"keep {u} (not in the config; {keep_why})" for u in plan.kept]
    return lines


@feeds.command("sync")
@click.option(
    "--prune", is_flag=True, help="Also remove feeds added by hand or imported (asks first)."
)
@click.option("--no-remove", is_flag=True, help="Only add and update; remove nothing.")
@click.option("--dry-run", is_flag=True, help="Only show what would change.")
@click.option("--yes", is_flag=True, help="Do not ask (needed for --prune off a terminal).")
@click.pass_obj
@handle_errors
def feeds_sync(app: App, prune: bool, no_remove: bool, dry_run: bool, yes: bool) -> None:
    """Make the stored feed list follow the config file's [[feeds]]: add and update its
    feeds, and remove the feeds that came from the config and are no longer in it. Feeds
    added with `feeds add` or `feeds import` stay unless --prune (which shows them and asks).
    Articles are never deleted. `make run` syncs with --no-remove."""
    from .feedconfig import load_feeds

    if prune and no_remove:
        raise UsageProblem("--prune and --no-remove contradict each other: give one")
    removal: Removal = "all" if prune else "none" if no_remove else "config"
    specs = load_feeds(app.settings.config)
    store = app.creating_store
    plan = store.sync_feeds(specs, removal=removal, dry_run=True)
    if dry_run:
        for line in _plan_lines(plan, removal) or ["nothing to change"]:
            click.echo(f"would {line}")
        return
    if plan.remove and (prune or not specs):
        head = f"the config {app.settings.config} lists no feeds: " if not specs else "--prune: "
        confirm_deletion(
            [head + f"will remove {plural(len(plan.remove), 'feed')} (their articles stay):"]
            + [f"  {u}" for u in plan.remove],
            yes,
        )
    done = store.sync_feeds(specs, removal=removal)
    click.echo(
        f"synced {plural(len(specs), 'feed')} from {app.settings.config}: "
        f"{len(done.add)} added, {len(done.update)} updated, {len(done.remove)} removed"
    )
    for url in done.remove:
        click.echo(f"removed {url} (its articles stay)")
    if done.kept:
        hint = "" if no_remove else ": added by hand or imported (--prune removes them)"
        click.echo(f"kept {plural(len(done.kept), 'feed')} not in the config{hint}")
