"""What the store's outbox hands to the sinks and tells about them (records, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OutboxItem", "SinkBacklog", "idempotency_key"]


def idempotency_key(article_id: int, content_hash: str) -> str:
    """The key a consumer de-duplicates by: one article in one version ("42:9f2c...")."""
    return f"{article_id}:{content_hash}"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One article (version) waiting for one sink. `kind`: new | revised."""

    id: int
    sink: str
    article_id: int
    content_hash: str
    kind: str
    attempts: int
    queued_at: str

    @property
    def key(self) -> str:
        return idempotency_key(self.article_id, self.content_hash)


@dataclass(frozen=True, slots=True)
class SinkBacklog:
    """A sink as the store knows it: what waits for it, what failed for good, what went."""

    sink: str
    active: bool  # configured now (False: removed from the config; its backlog is kept)
    pending: int
    dead: int
    delivered: int
    oldest_pending: str | None  # when the oldest waiting item was queued
    last_delivered_at: str | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SinkBacklog:
        """From a row of the backends' backlog query, in the fields' order."""
        name, active, pending, dead, delivered, oldest, last_at, error = row
        return cls(
            str(name), bool(active), int(pending), int(dead), int(delivered), oldest, last_at, error
        )
