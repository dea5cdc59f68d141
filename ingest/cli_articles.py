"""`ingest articles ...` and `ingest stories ...`: reading the records, and retention."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from .cli_app import COUNT, App, UsageProblem, confirm_deletion, handle_errors, parse_since
from .cli_text import plural
from .models import ARTICLE_FIELDS, ArticleRecord
from .settings import parse_duration

__all__ = ["articles", "stories"]

PRUNE_FLOOR_S = 3600  # a younger --older-than is almost always a slip (0 deletes everything)


@click.group()
def articles() -> None:
    """Read stored articles; prune old ones (asks first) and lift what pruning left."""


@articles.command("list")
@click.option("--feed", "feed_url", help="Only articles carried by this feed.")
@click.option("--since", help="Published since a date, timestamp or age (24h, 7d).")
@click.option("--limit", type=COUNT, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines of full records.")
@click.pass_obj
@handle_errors
def articles_list(
    app: App, feed_url: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """The newest articles (reads only)."""
    after = parse_since(since)
    rows = app.reader.articles(feed_url=feed_url, since=after, limit=limit, newest_first=True)
    for r in rows:
        if as_json:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False))
        else:
            click.echo(f"{r.id:>7}  {r.published_at or '':<20}  {r.title}  <{r.url}>")


@articles.command("search")
@click.argument("query")
@click.option("--limit", type=COUNT, default=20, show_default=True)
@click.pass_obj
@handle_errors
def articles_search(app: App, query: str, limit: int) -> None:
    """Full-text search. SQLite: FTS5 syntax (words, "phrases", AND/OR/NOT, prefix*), a
    query with a mistake in that syntax is an error with a hint; PostgreSQL: web-search
    syntax (words, "phrases", or, -word). Reads only."""
    if not query.strip():
        raise UsageProblem("empty search query: give words to look for")
    rows = app.reader.search(query, limit=limit)
    if not rows:
        click.echo("no matches")
    for r in rows:
        click.echo(f"{r.id:>7}  {r.title}  <{r.url}>")
        click.echo(f"         {r.snippet}")


def _csv_rows(records: Iterator[ArticleRecord], fields: tuple[str, ...]) -> Iterator[list[Any]]:
    for record in records:
        r = record.as_dict()
        yield [
            json.dumps(r[k], ensure_ascii=False) if isinstance(r[k], list) else r[k] for k in fields
        ]


@articles.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "--since-id",
    type=click.IntRange(0, 2**63 - 1, clamp=True),
    default=0,
    help="Only ids above N (the cursor).",
)
@click.pass_obj
@handle_errors
def articles_export(app: App, fmt: str, since_id: int) -> None:
    """Stream every article record to stdout, in id order (constant memory; reads only)."""
    out = sys.stdout
    records = app.reader.articles(since_id=since_id)
    if fmt == "jsonl":
        for r in records:
            out.write(json.dumps(r.as_dict(), ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(out)
        writer.writerow(ARTICLE_FIELDS)
        writer.writerows(_csv_rows(records, ARTICLE_FIELDS))
    out.flush()


@articles.command("filtered")
@click.option("--feed", "feed_url", help="Only what this feed's rules dropped.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_obj
@handle_errors
def articles_filtered(app: App, feed_url: str | None, as_json: bool) -> None:
    """Items that keep/block rules dropped, and the rule that did it (reads only)."""
    rows = app.reader.filtered(feed_url)
    if not rows and not as_json:
        click.echo("nothing filtered")
    for r in rows:
        if as_json:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False))
        else:
            click.echo(f"{r.at}  {r.reason}  {r.title}  <{r.url}>")


@articles.command("prune")
@click.option("--older-than", required=True, help="Age to keep, e.g. 90d (at least 1h).")
@click.option("--dry-run", is_flag=True, help="Only show what would go.")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not on a terminal).")
@click.option("--force", is_flag=True, help="Allow an --older-than below 1h.")
@click.pass_obj
@handle_errors
def articles_prune(app: App, older_than: str, dry_run: bool, yes: bool, force: bool) -> None:
    """Delete articles published (else first seen) before the age given. Shows what goes
    and asks on a terminal; elsewhere needs --yes. Each leaves a tombstone so its feed does
    not bring it back (`articles tombstones` lists them, `articles unprune` lifts them)."""
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--older-than'") from None
    if age < PRUNE_FLOOR_S and not force:
        raise UsageProblem(
            f"--older-than {older_than} is below the 1h floor (an age of 0 deletes every "
            "article): pass --force if that is meant"
        )
    cutoff = datetime.now(UTC) - timedelta(seconds=age)
    store = app.store
    plan = store.prune_plan(cutoff)
    total = sum(n for _, n in plan)
    if not total:
        click.echo(f"nothing to prune: no article older than {older_than}")
        return
    head = (
        f"{plural(total, 'article')} older than {older_than} (before "
        f"{cutoff:%Y-%m-%dT%H:%M:%SZ}) from {plural(len(plan), 'feed')}:"
    )
    lines = [head] + [f"  {n:>7}  {url}" for url, n in plan]
    if dry_run:
        click.echo(f"would delete {lines[0]}")
        for line in lines[1:]:
            click.echo(line)
        return
    confirm_deletion([f"will delete {lines[0]}", *lines[1:]], yes)
    n = store.prune(cutoff)
    click.echo(
        f"deleted {plural(n, 'article')} older than {older_than} "
        "(tombstones keep them from coming back: `ingest articles unprune` lifts them)"
    )


@articles.command("tombstones")
@click.option("--feed", "feed_url", help="Only this feed's.")
@click.option("--limit", type=COUNT, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_obj
@handle_errors
def articles_tombstones(app: App, feed_url: str | None, limit: int, as_json: bool) -> None:
    """What `articles prune` deleted and keeps from coming back, newest first (reads only)."""
    total, rows = app.reader.tombstones(feed_url=feed_url, limit=limit)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{plural(total, 'tombstone')}"
        + (f" (newest {len(rows)} shown)" if total > len(rows) else "")
    )
    for r in rows:
        click.echo(f"{r.deleted_at}  {r.feed_url}  {r.canonical_url or r.identity}")


@articles.command("unprune")
@click.option("--feed", "feed_url", help="Only this feed's tombstones.")
@click.option("--since", help="Only tombstones made since a date, timestamp or age (1h, 2d).")
@click.pass_obj
@handle_errors
def articles_unprune(app: App, feed_url: str | None, since: str | None) -> None:
    """Lift tombstones left by `articles prune` (all, or those chosen): the items come back
    when their feeds next list them; those feeds are due now and fetched in full."""
    after = parse_since(since)
    n = app.store.unprune(feed_url=feed_url, since=after)
    click.echo(f"lifted {plural(n, 'tombstone')}" + (
        "; their feeds are due now" if n else ""))  # fmt: skip


# ------------------------------------------------------------------------------ stories


@click.group()
def stories() -> None:
    """Stories: the same article or event across outlets."""


@stories.command("list")
@click.option("--since", help="First seen since a date, timestamp or age (24h, 7d).")
@click.option("--min-sources", type=COUNT, default=1, show_default=True)
@click.option("--limit", type=COUNT, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one story each.")
@click.pass_obj
@handle_errors
def stories_list(app: App, since: str | None, min_sources: int, limit: int, as_json: bool) -> None:
    """Stories, newest first, with their sources (reads only)."""
    after = parse_since(since)
    rows = app.reader.stories(since=after, min_sources=min_sources, limit=limit)
    for s in rows:
        if as_json:
            click.echo(json.dumps(s.as_dict(), ensure_ascii=False))
            continue
        n = plural(s.n_sources, "source")
        click.echo(f"story {s.story_id}: {s.title}  ({n})")
        for src in s.sources:
            how = f" [{src.level} {src.score:.2f}]" if src.score is not None else ""
            copy = f" (copy of {src.duplicate_of})" if src.duplicate_of is not None else ""
            click.echo(f"    {src.outlet or '?':<28} {src.url}{how}{copy}")
