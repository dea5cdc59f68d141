"""The push sinks' outbox SQL that both backends write alike (storage/*/outbox.py), with
`{p}` for the backend's placeholder."""

from __future__ import annotations

from datetime import datetime

__all__ = ["BACKLOG", "REPLAY", "epoch_ms"]

#: every sink the store knows (registered, or with items left), fields of `SinkBacklog`
BACKLOG = """WITH names AS (SELECT name FROM sinks UNION SELECT sink FROM outbox
                            UNION SELECT sink FROM dead_letters)
    SELECT n.name, COALESCE(s.active, 0),
      (SELECT COUNT(*) FROM outbox o WHERE o.sink = n.name),
      (SELECT COUNT(*) FROM dead_letters d WHERE d.sink = n.name),
      COALESCE(s.delivered, 0),
      (SELECT MIN(queued_at) FROM outbox o WHERE o.sink = n.name),
      s.last_delivered_at, s.last_error
    FROM names n LEFT JOIN sinks s ON s.name = n.name ORDER BY n.name"""

#: (sink, queued at, since): the articles first seen since then, queued as new
REPLAY = """INSERT INTO outbox (sink, article_id, content_hash, kind, queued_at)
    SELECT {p}, id, content_hash, 'new', {p} FROM articles
    WHERE first_seen_at >= {p} ORDER BY id"""


def epoch_ms(dt: datetime) -> int:
    """Due times and leases are kept in epoch milliseconds (backoffs under a second)."""
    return int(dt.timestamp() * 1000)
