"""Words the CLI prints, decided without I/O (table-tested in tests/test_cli_text.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from .schedule import format_duration

__all__ = ["next_poll_short", "next_poll_text", "plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 feed", "2 feeds", "0 stories" (with many="stories")."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def next_poll_short(status: str, next_poll_at: str | None) -> str:
    """The next poll in `feeds list`: "disabled", "gone", "now" or the stored time."""
    if status in ("disabled", "gone"):
        return status
    return next_poll_at or "now"


def next_poll_text(
    status: str, next_poll_at: datetime | None, reason: str | None, now: datetime
) -> str:
    """When a feed is polled next and why, e.g. "in 25 min (2026-12-04T14:30:00Z):
    fixed 30 min" or "now: settings changed"."""
    if status == "disabled":
        return "never while disabled (`ingest feeds enable URL` polls it again)"
    if status == "gone":
        return "never: the feed is gone (410); `ingest feeds enable URL` polls it again"
    why = reason or "never polled"
    if next_poll_at is None:
        return f"now: {why}"
    wait = (next_poll_at - now).total_seconds()
    when = next_poll_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if wait <= 0:
        return f"now (due since {when}): {why}"
    return f"in {format_duration(wait)} ({when}): {why}"
