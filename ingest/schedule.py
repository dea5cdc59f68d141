"""When to poll a feed next, and why: a pure decision, no I/O (table-tested).

    decision = next_poll(feed, result, parsed=parsed, new_count=3, known_count=17,
                         now=now, settings=settings)
    decision.next_poll_at, decision.interval_s, decision.reason   # "12 new/week"

`feed` is the stored state *before* this fetch; `result` the fetch that just ended (None when
nothing was fetched, e.g. a feed just added).  The decision, in order:

1. Errors (result.error set): exponential backoff on the consecutive-failure count INCLUDING
   this failure, n = feed.error_count + 1 (what the store should save as the new error_count;
   `consecutive_errors()` computes it): step x 2^(n-1), step = max(min interval, 5 min),
   capped at settings.max_backoff_s (default one day), and never sooner than Retry-After
   (seconds or HTTP date, capped the same way).  Jitter: + 0..25 % drawn from `rng` (default:
   a Random seeded with the feed URL and n, so reruns decide the same and two feeds failing
   together spread out).  A feed is never parked: 410 Gone returns a capped decision too (the
   store marks the feed "gone"; `feeds add` or an explicit command reactivates it).
2. The feed's rhythm (success, or no fetch): w = entries published in the last 7 days (from
   feed.recent_entry_times and the parsed entries' dates, merged).  Interval = the observed
   span / w, where the span is 7 days when older entries are known (then this is exactly
   Miniflux's entry_frequency, 7 d / w) and otherwise the time since the oldest known entry
   (a busy feed that only lists its last 10 items is not mistaken for a weekly one).  No entry
   in 7 days -> the maximum interval; no dates at all -> settings.default_interval_s.
   feed.options.interval_s (an operator's fixed choice) replaces the rhythm.
3. Feedback (Media Cloud): after a fetch with >= 2 items, interval x 1.25 when >= 67 % of them
   were already known, x 0.75 when < 33 % were (not on a feed's first fetch, when all are new).
4. Bounds: per-feed min/max (feed.options.*_interval_s) else the global ones.
5. Server hints raise the interval (never above the maximum): Cache-Control max-age (minus
   Age; no-cache / no-store cancel both max-age and Expires, as in HTTP caching), Expires
   relative to Date (unparseable values such as `Expires: 0` are no hint), RSS <ttl>,
   sy:updatePeriod / sy:updateFrequency.  skipHours / skipDays (UTC) push the time past the
   skipped hours and days (ignored when they would skip everything).
6. 304 or unchanged body: there is no ParsedFeed, so document hints (ttl, sy:*) cannot be
   re-read.  They persist through feed.interval_s: after a success, the previous interval
   (which included them) is kept as a floor, so a feed that keeps answering 304 keeps its
   hinted interval, and only grows as its entries age.  skipHours/skipDays apply only when
   the document was parsed.  A change of the feed's options clears feed.interval_s (the
   store does, with the feed due at once), so the floor never carries an interval decided
   under the old options: a changed interval takes effect through 304s.
7. WebSub (`while_pushed`): a feed with a live lease (feed.push_until) is polled at the
   maximum interval, or when the lease ends if sooner; once it lapses, the rules above.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from .errors import GoneError, HTTPStatusError
from .models import Feed, FetchResult, ParsedFeed, ScheduleDecision
from .settings import Settings

__all__ = [
    "WINDOW",
    "consecutive_errors",
    "format_duration",
    "next_poll",
    "server_hints",
    "while_pushed",
]

WINDOW = timedelta(days=7)
_MIN_SPAN_S = 3600.0  # a rhythm is never read from less than an hour of history
_ERROR_STEP_S = 300
_JITTER = 0.25
_KNOWN_HIGH = 0.67
_KNOWN_LOW = 0.33
_SY_PERIOD_S = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_KEPT = "kept after "
_KEPT_RE = re.compile(r"^kept after (?:304|same body)(?:: )?")


def format_duration(seconds: float) -> str:
    """ "45 s", "40 min", "6 h", "1.5 h", "3 d" — for reasons and logs."""
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{round(s / 60)} min"
    if s < 2 * 86400:
        h = s / 3600
        return f"{h:.0f} h" if abs(h - round(h)) < 0.05 else f"{h:.1f} h"
    d = s / 86400
    return f"{d:.0f} d" if abs(d - round(d)) < 0.05 else f"{d:.1f} d"


def consecutive_errors(feed: Feed, result: FetchResult | None) -> int:
    """The error count to store after `result`: previous + 1 on failure, 0 on success."""
    if result is not None and result.error is not None:
        return feed.error_count + 1
    return 0 if result is not None else feed.error_count


def _bounds(feed: Feed, settings: Settings) -> tuple[int, int]:
    lo = feed.options.min_interval_s or settings.min_interval_s
    hi = feed.options.max_interval_s or settings.max_interval_s
    return lo, max(lo, hi)


# --------------------------------------------------------------------------- hints


def _cache_control(value: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = arg.strip().strip('"') if arg else None
    return out


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def server_hints(
    headers: Mapping[str, str], parsed: ParsedFeed | None, now: datetime
) -> list[tuple[int, str]]:
    """The minimum intervals the server asks for, as (seconds, reason), from the response
    headers (lower-cased names) and the parsed document."""
    hints: list[tuple[int, str]] = []
    cc = _cache_control(headers.get("cache-control", ""))
    if "no-cache" not in cc and "no-store" not in cc:
        max_age = cc.get("max-age")
        if max_age is not None and max_age.isdigit():
            age = headers.get("age", "0").strip()
            left = int(max_age) - (int(age) if age.isdigit() else 0)
            if left > 0:
                hints.append((left, f"max-age {max_age} s"))
        elif "expires" in headers:
            expires = _http_date(headers.get("expires"))
            date = _http_date(headers.get("date")) or now
            if expires is not None and expires > date:
                left = int((expires - date).total_seconds())
                hints.append((left, f"Expires in {format_duration(left)}"))
    if parsed is not None:
        if parsed.ttl_minutes and parsed.ttl_minutes > 0:
            hints.append((parsed.ttl_minutes * 60, f"ttl {parsed.ttl_minutes} min"))
        period = _SY_PERIOD_S.get((parsed.sy_update_period or "").strip().lower())
        if period is not None:
            freq = parsed.sy_update_frequency or 1
            freq = max(1, freq)
            label = parsed.sy_update_period or ""
            hints.append((period // freq, f"sy:updatePeriod {label.strip().lower()}/{freq}"))
    return hints


def _skip(when: datetime, hours: Iterable[int], days: Iterable[str]) -> datetime:
    """The first moment at or after `when` outside skipHours / skipDays (UTC)."""
    skip_hours = {h % 24 for h in hours if 0 <= h <= 24}
    skip_days = {d.strip().lower() for d in days} & set(_DAYS)
    if len(skip_hours) >= 24 or len(skip_days) >= 7 or not (skip_hours or skip_days):
        return when
    t = when.astimezone(UTC)
    for _ in range(24 * 8):
        if t.hour not in skip_hours and _DAYS[t.weekday()] not in skip_days:
            return t
        t = t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return when


# --------------------------------------------------------------------------- rhythm


def _rhythm(
    feed: Feed, parsed: ParsedFeed | None, now: datetime, settings: Settings, hi: int
) -> tuple[float, str]:
    times = set(feed.recent_entry_times)
    if parsed is not None:
        for e in parsed.entries:
            t = e.published or e.updated
            if t is not None:
                times.add(t)
    horizon = now + timedelta(seconds=settings.future_tolerance_s)
    times = {t for t in times if t <= horizon}
    if not times:
        return float(settings.default_interval_s), (
            f"default {format_duration(settings.default_interval_s)}"
        )
    start = now - WINDOW
    recent = [t for t in times if t >= start]
    if not recent:
        return float(hi), "no new entries in 7 days"
    w = len(recent)
    if len(recent) < len(times):
        span = WINDOW.total_seconds()
    else:
        span = max(_MIN_SPAN_S, (now - min(recent)).total_seconds())
    interval = span / w
    per_week = w * WINDOW.total_seconds() / span
    if per_week >= 70:
        rate = f"{per_week / 7:.0f} new/day"
    else:
        rate = f"{per_week:.0f} new/week" if per_week >= 1 else f"{per_week:.1f} new/week"
    return interval, rate


# --------------------------------------------------------------------------- decision


def _decision(now: datetime, interval: float, reason: str) -> ScheduleDecision:
    seconds = max(1, round(interval))
    return ScheduleDecision(
        next_poll_at=now + timedelta(seconds=seconds), interval_s=seconds, reason=reason
    )


def _error_decision(
    feed: Feed, result: FetchResult, now: datetime, settings: Settings, lo: int,
    rng: random.Random | None,
) -> ScheduleDecision:  # fmt: skip
    error = result.error
    n = feed.error_count + 1
    cap = max(settings.max_backoff_s, 60)
    step = min(max(lo, _ERROR_STEP_S), cap)
    interval = float(min(cap, step * 2 ** min(n - 1, 40)))
    status = error.status if isinstance(error, HTTPStatusError) else None
    prefix = f"{status}: " if status else ""
    if isinstance(error, GoneError):
        interval = float(cap)
        reason = "410 Gone"
    else:
        reason = f"{prefix}error #{n} backoff {format_duration(interval)}"
        retry = error.retry_after_s if isinstance(error, HTTPStatusError) else None
        if retry is not None and retry >= interval:
            interval = float(min(cap, retry))
            reason = f"{status} Retry-After {retry:.0f} s"
            if retry > cap:
                reason += f" (capped at {format_duration(cap)})"
    rng = rng or random.Random(f"{feed.url}#{n}")
    interval += interval * rng.uniform(0.0, _JITTER)
    return _decision(now, interval, reason)


def next_poll(
    feed: Feed,
    result: FetchResult | None,
    *,
    parsed: ParsedFeed | None,
    new_count: int,
    known_count: int,
    now: datetime,
    settings: Settings,
    rng: random.Random | None = None,
) -> ScheduleDecision:
    """Decide the next poll of `feed` after `result` (see the module docstring)."""
    lo, hi = _bounds(feed, settings)
    if result is not None and result.error is not None:
        return _error_decision(feed, result, now, settings, lo, rng)

    fixed = feed.options.interval_s
    if fixed:
        interval, reason = float(fixed), f"fixed {format_duration(fixed)}"
        hi = max(hi, fixed)
    else:
        interval, reason = _rhythm(feed, parsed, now, settings, hi)
        total = new_count + known_count
        first = feed.last_fetched_at is None
        if total >= 2 and not first:
            known = known_count / total
            if known >= _KNOWN_HIGH:
                interval *= 1.25
                reason += ", mostly known"
            elif known < _KNOWN_LOW:
                interval *= 0.75
                reason += ", mostly new"
        if interval < lo:
            interval, reason = float(lo), f"{reason} (min {format_duration(lo)})"
        elif interval > hi:
            interval, reason = float(hi), f"{reason} (max {format_duration(hi)})"

    # 304 / unchanged body: the previous (successful) interval carried the document's hints
    unchanged = result is not None and result.not_modified and parsed is None
    if unchanged and feed.error_count == 0 and feed.interval_s and feed.interval_s > interval:
        previous = _KEPT_RE.sub("", feed.schedule_reason or "")
        what = "304" if result is not None and result.status == 304 else "same body"
        interval = float(min(feed.interval_s, hi))
        reason = f"{_KEPT}{what}: {previous}" if previous else f"{_KEPT}{what}"

    headers = result.headers if result is not None else {}
    hints = server_hints(headers, parsed, now)
    if hints:
        floor, why = max(hints)
        if floor > interval:
            interval = float(min(floor, hi))
            reason = why if floor <= hi else f"{why} (max {format_duration(hi)})"

    if parsed is not None and (parsed.skip_hours or parsed.skip_days):
        when = now + timedelta(seconds=max(1, round(interval)))
        later = _skip(when, parsed.skip_hours, parsed.skip_days)
        if later > when:
            interval = (later - now).total_seconds()
            reason += ", skipHours/skipDays"
    return while_pushed(_decision(now, interval, reason), feed.push_until, now, hi)


def while_pushed(
    decision: ScheduleDecision, push_until: datetime | None, now: datetime, hi: int
) -> ScheduleDecision:
    """A feed a WebSub hub pushes (its lease live until `push_until`) is polled at the
    maximum interval `hi`, a safety net, or when the lease ends if that comes first; never
    sooner than `decision`. A lapsed lease: `decision` as is. (Errors keep their backoff:
    `next_poll` applies this to successes only.)"""
    if push_until is None or push_until <= now:
        return decision
    at = min(now + timedelta(seconds=hi), push_until)
    if at <= decision.next_poll_at:
        return decision
    seconds = max(1, round((at - now).total_seconds()))
    why = f"max {format_duration(hi)}" if at < push_until else "until its lease ends"
    return ScheduleDecision(at, seconds, f"WebSub pushes it: polled {why}")
