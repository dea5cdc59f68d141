"""WebSub subscriptions as `websub` rows, the same on every backend."""

from __future__ import annotations

from typing import Any

from ingest.models import Subscription
from ingest.timeutil import from_iso, to_iso

__all__ = ["COLUMNS", "push_until", "sub_from_row", "sub_to_row"]

COLUMNS = (
    "feed_url", "callback_id", "state", "hub", "topic", "secret", "lease_until", "checked_at",
    "requested_at", "error",
)  # fmt: skip


def sub_to_row(sub: Subscription) -> tuple[Any, ...]:
    return (
        sub.feed_url,
        sub.callback_id,
        sub.state,
        sub.hub,
        sub.topic,
        sub.secret,
        to_iso(sub.lease_until) if sub.lease_until else None,
        to_iso(sub.checked_at) if sub.checked_at else None,
        to_iso(sub.requested_at) if sub.requested_at else None,
        sub.error,
    )


def sub_from_row(r: dict[str, Any]) -> Subscription:
    return Subscription(
        feed_url=r["feed_url"],
        callback_id=r["callback_id"],
        state=r["state"],
        hub=r["hub"],
        topic=r["topic"],
        secret=r["secret"],
        lease_until=from_iso(r["lease_until"]),
        checked_at=from_iso(r["checked_at"]),
        requested_at=from_iso(r["requested_at"]),
        error=r["error"],
    )


def push_until(sub: Subscription) -> str | None:
    """The feed's `push_until`: the lease end of an active subscription, else none."""
    if sub.state == "active" and sub.lease_until is not None:
        return to_iso(sub.lease_until)
    return None
