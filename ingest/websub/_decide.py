"""WebSub decisions, pure and table-tested: what to do about each feed's subscription
(`plan`), whether a hub's verification of intent is answered (`verify`), whether a pushed
body is signed by the hub (`signature_ok`)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.models import Feed, Subscription

__all__ = ["Action", "Timing", "Verdict", "plan", "signature_ok", "verify"]

_LIVE = ("ok", "error")  # feed statuses that are polled (gone and disabled feeds are not)
_SUBSCRIBED = ("pending", "active")
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
           "sha512": hashlib.sha512}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Timing:
    """How often things are looked at again (seconds)."""

    #: a feed without a hub (or refused by it) is looked at again after this
    recheck_s: float = 86400.0
    #: a request the hub did not verify is asked again (or given up on) after this
    retry_s: float = 600.0
    #: a lease is renewed this long before it ends (half the lease when that is shorter)
    renew_before_s: float = 86400.0


@dataclass(frozen=True, slots=True)
class Action:
    """look: fetch the feed, find its hub, subscribe (or note there is none);
    renew: ask the hub again for the same subscription; unsubscribe; forget: drop the row."""

    kind: str
    feed_url: str
    sub: Subscription | None = None
    feed: Feed | None = None


def _since(t: datetime | None, now: datetime) -> float:
    return float("inf") if t is None else (now - t).total_seconds()


def _live(sub: Subscription, feed: Feed, now: datetime, t: Timing) -> Action | None:
    state = sub.state
    if state in ("nohub", "failed", "denied"):
        due = _since(sub.checked_at, now) >= t.recheck_s
        return Action("look", feed.url, sub, feed) if due else None
    if state == "pending" or state == "unsubscribing":  # not verified (or the feed is back)
        due = _since(sub.requested_at, now) >= t.retry_s
        return Action("look", feed.url, sub, feed) if due else None
    # active
    if sub.lease_until is None or sub.lease_until <= now:
        return Action("look", feed.url, sub, feed)  # lapsed: subscribe afresh
    granted = _since(sub.checked_at, sub.lease_until)  # (verified at checked_at)
    before = min(t.renew_before_s, granted / 2)
    if (sub.lease_until - now).total_seconds() > before:
        return None
    asked = sub.requested_at
    in_flight = asked is not None and (sub.checked_at is None or asked > sub.checked_at)
    if in_flight and _since(asked, now) < t.retry_s:
        return None
    return Action("renew", feed.url, sub, feed)


def plan(
    feeds: Sequence[Feed], subs: Sequence[Subscription], now: datetime, timing: Timing
) -> list[Action]:
    """What to do now, feed by feed: live feeds get looked at, subscribed and renewed;
    subscriptions of feeds removed (or disabled, or gone) are unsubscribed, then forgotten."""
    by_feed = {s.feed_url: s for s in subs}
    out: list[Action] = []
    live = {f.url for f in feeds if f.status in _LIVE}
    for feed in feeds:
        if feed.url not in live:
            continue
        sub = by_feed.get(feed.url)
        action = (
            Action("look", feed.url, None, feed) if sub is None else _live(sub, feed, now, timing)
        )
        if action is not None:
            out.append(action)
    for sub in subs:
        if sub.feed_url in live:
            continue
        if sub.state in _SUBSCRIBED:
            out.append(Action("unsubscribe", sub.feed_url, sub))
        elif sub.state != "unsubscribing" or _since(sub.requested_at, now) >= timing.retry_s:
            out.append(Action("forget", sub.feed_url, sub))
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to a hub's GET: `status` (200 echoes the challenge), and the subscription
    to save (`drop`: forget it; neither: nothing changes)."""

    status: int
    save: Subscription | None = None
    drop: bool = False
    why: str = ""


def verify(
    sub: Subscription | None,
    mode: str,
    topic: str,
    lease_seconds: str | None,
    reason: str | None,
    now: datetime,
) -> Verdict:
    """WebSub §5.3 (verification of intent) and §5.2 (denial), for the subscription the
    callback URL names: only a request this subscriber made is confirmed."""
    if sub is None:
        return Verdict(404, why="no such subscription")
    if topic != sub.topic:
        return Verdict(404, why=f"topic {topic!r} is not this subscription's")
    if mode == "subscribe" and sub.state in _SUBSCRIBED:
        try:
            lease = int(lease_seconds or "")
        except ValueError:
            return Verdict(404, why=f"hub.lease_seconds {lease_seconds!r} is not a number")
        if lease < 1:
            return Verdict(404, why=f"hub.lease_seconds {lease} is not a lease")
        until = now + timedelta(seconds=lease)
        active = dataclasses.replace(
            sub, state="active", lease_until=until, checked_at=now, error=None
        )
        return Verdict(200, save=active)
    if mode == "unsubscribe" and sub.state == "unsubscribing":
        return Verdict(200, drop=True)
    if mode == "denied":
        why = f"the hub denied it: {reason}" if reason else "the hub denied it"
        denied = dataclasses.replace(
            sub, state="denied", lease_until=None, checked_at=now, error=why
        )
        return Verdict(200, save=denied)
    return Verdict(404, why=f"no {mode or 'hub.mode'} request pending (state {sub.state})")


def signature_ok(header: str | None, body: bytes, secret: str | None) -> tuple[bool, str]:
    """Whether `body` carries the hub's X-Hub-Signature (`method=hex`, an HMAC of the body
    with the subscription's secret; WebSub §8), and why not."""
    if not secret:
        return False, "the subscription has no secret"
    if not header:
        return False, "no X-Hub-Signature header"
    method, _, given = header.strip().partition("=")
    digest = _HASHES.get(method.strip().lower())
    if digest is None:
        return False, f"unknown signature method {method!r}"
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower()):
        return False, f"the {method.lower()} signature does not match"
    return True, ""
