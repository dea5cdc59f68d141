"""What every `ingest` command shares: the store it may open, how errors become one line
and an exit code, and how destructive commands ask before they delete.

Stores: read commands open theirs with `App.reader` (never created; opened read-only when
this process cannot write it), commands that change a store with `App.store` (never created)
and only `feeds add / import / sync`, `run` and `daemon` with `App.creating_store`.

Exit codes (README "Using it"): 2 usage and configuration errors (a bad option, an unknown
feed, a search FTS5 cannot read), 1 a store or feed problem (and declined confirmations),
130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import ConfigError, IngestError, SearchSyntaxError, StoreError
from .settings import Settings, parse_duration

if TYPE_CHECKING:
    from storage import Store

__all__ = [
    "COUNT",
    "App",
    "UsageProblem",
    "confirm_deletion",
    "handle_errors",
    "known_feed",
    "parse_since",
]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("ingest")

#: counts and limits: SQLite integers are 64-bit, so a bigger one means "no limit"
COUNT = click.IntRange(1, 2**63 - 1, clamp=True)


class UsageProblem(click.ClickException):
    """A usage error shown as one line ("Error: ...") with exit code 2."""

    exit_code = 2


class App:
    """What every command gets: the settings and lazily opened stores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def _open(self, *, create: bool, read_only: bool) -> Store:
        if self._store is None:
            from storage import open_store

            self._store = open_store(self.settings.db, create=create, read_only=read_only)
            if self._store.read_only:
                click.echo(
                    f"note: {self.settings.db} is not writable here: reading it read-only",
                    err=True,
                )
        return self._store

    @property
    def store(self) -> Store:
        """The store, to change it; "no store at PATH" when there is none."""
        return self._open(create=False, read_only=False)

    @property
    def creating_store(self) -> Store:
        """The store, created when missing (feeds add / import / sync, run, daemon)."""
        return self._open(create=True, read_only=False)

    @property
    def reader(self) -> Store:
        """The store, to read it: never created, read-only when it cannot be written."""
        return self._open(create=False, read_only=True)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def handle_errors(func: F) -> F:
    """Map every exception to one line and an exit code: no traceback reaches an operator
    (an unexpected one is logged in full at DEBUG: INGEST_LOG_LEVEL=DEBUG shows it)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except SearchSyntaxError as exc:
            from storage.fts_query import syntax_hint

            click.echo(f"Error: {exc} (hint: {syntax_hint(exc.query)})", err=True)
            sys.exit(2)
        except (StoreError, IngestError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-written is kept (each write is whole)", err=True)
            sys.exit(130)
        except Exception as exc:
            log.debug("unexpected error", exc_info=True)
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} (a bug: please report it; "
                "INGEST_LOG_LEVEL=DEBUG shows where)",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def parse_since(value: str | None) -> datetime | None:
    """A date (2026-11-24), a timestamp (ISO 8601) or an age (90m, 24h, 7d)."""
    if value is None:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        if "at most" in str(exc):
            raise click.BadParameter(str(exc)) from None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a date (2026-11-24), a timestamp nor an age (24h, 7d)"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def known_feed(store: Store, url: str) -> str:
    """The stored URL of the feed `url` names (as typed, or as `feeds add` normalized it);
    a usage error when there is none."""
    from .urls import validate_feed_url

    if store.get_feed(url) is not None:
        return url
    try:
        normalized = validate_feed_url(url)
    except ValueError:
        normalized = url
    if normalized != url and store.get_feed(normalized) is not None:
        return normalized
    raise UsageProblem(f"no such feed: {url} (see `ingest feeds list`)")


def confirm_deletion(plan: list[str], yes: bool) -> None:
    """Show `plan` (what will be deleted). With --yes, go on; on a terminal, ask; elsewhere
    (cron, a pipe) refuse: a destructive command never runs unattended by accident."""
    for line in plan:
        click.echo(line)
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageProblem("not confirmed (input is not a terminal): pass --yes to delete")
    if not click.confirm("Go ahead?", default=False, err=True):
        click.echo("cancelled: nothing deleted", err=True)
        sys.exit(1)
