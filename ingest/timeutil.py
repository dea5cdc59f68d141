"""UTC time helpers: one textual form for every stored timestamp (ISO 8601, 'Z', seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .settings import parse_duration

__all__ = ["from_iso", "parse_since", "to_iso", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(dt: datetime | None) -> str | None:
    """2026-11-24T22:45:33Z (UTC, whole seconds); naive datetimes are taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # not strftime("%Y"): glibc writes the year 1 as "1", which neither sorts with the other
    # stored times nor parses back (fuzzing found it, issue #17)
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    if len(text) == 20 and text[19] == "Z":  # to_iso's form (every stored time): read as is
        return datetime.fromisoformat(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A date (2026-11-24), a timestamp (ISO 8601) or an age before `now` (90m, 24h, 7d).
    Raises ValueError saying which forms it takes. A time past the calendar's ends is
    taken as its first or last day (an age of a million years: everything)."""
    try:
        age = timedelta(seconds=parse_duration(value))
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)
    except ValueError as exc:
        if "at most" in str(exc):  # an age longer than parse_duration takes: everything
            return datetime.min.replace(tzinfo=UTC)
    else:
        try:
            return (now or utcnow()) - age
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a date (2026-11-24), a timestamp nor an age (24h, 7d)"
        ) from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # within hours of year 1 or 9999
        return dt.replace(tzinfo=UTC)
