"""The push sinks' outbox on SQLite (`storage.interface.Outbox`).

One row per (active sink, new or revised article), queued by `queue` inside the write
transaction that stored the article; a sink's rows leave when delivered, or move to
dead_letters after `max_attempts` failures. A sink is delivered by one owner at a time
(a lease on its `sinks` row; a dead owner's lease is void at once, as feeds' are)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ingest.sinks.types import OutboxItem, SinkBacklog
from ingest.timeutil import to_iso
from storage._outbox import BACKLOG, REPLAY, epoch_ms
from storage.leases import lease_taken

from .base import SQLiteBase

__all__ = ["SQLiteOutbox", "queue"]

_REPLAY = REPLAY.format(p="?")


def queue(tx: sqlite3.Connection, events: Sequence[tuple[int, str, str]], now_s: str) -> None:
    """In the caller's write transaction: (article id, content hash, new | revised) for
    every active sink."""
    if not events or tx.execute("SELECT 1 FROM sinks WHERE active = 1 LIMIT 1").fetchone() is None:
        return  # (no sink: the write costs one lookup, not a JSON list scanned per article)
    tx.execute(
        """INSERT INTO outbox (sink, article_id, content_hash, kind, queued_at)
           SELECT s.name, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'),
                  json_extract(e.value, '$[2]'), ?
           FROM sinks s, json_each(?) e WHERE s.active = 1 ORDER BY s.name, e.key""",
        (now_s, json.dumps(events)),
    )


class SQLiteOutbox(SQLiteBase):
    """`Outbox` on SQLite."""

    def sync_sinks(self, names: Sequence[str], *, now: datetime) -> list[str]:
        wanted = list(dict.fromkeys(names))
        known = dict(self.conn.execute("SELECT name, active FROM sinks").fetchall())
        new = [n for n in wanted if n not in known]
        changed = new or any(bool(active) != (name in wanted) for name, active in known.items())
        if not changed:  # (every run calls this: no write lock when nothing changed)
            return []
        with self._tx() as tx:
            tx.executemany(
                "INSERT OR IGNORE INTO sinks (name, added_at) VALUES (?, ?)",
                [(n, to_iso(now)) for n in new],
            )
            tx.execute(
                "UPDATE sinks SET active = (name IN (SELECT value FROM json_each(?)))",
                (json.dumps(wanted),),
            )
        return new

    def lease_sink(self, sink: str, *, owner: str, now: datetime, lease_s: float) -> bool:
        with self._tx() as tx:
            row = tx.execute(
                "SELECT lease_owner, lease_until_ms FROM sinks WHERE name = ?", (sink,)
            ).fetchone()
            if row is None:
                return False
            holder, until = row
            if lease_taken(holder, int(until), owner, epoch_ms(now)):
                return False
            tx.execute(
                "UPDATE sinks SET lease_owner = ?, lease_until_ms = ? WHERE name = ?",
                (owner, epoch_ms(now) + int(lease_s * 1000), sink),
            )
            return True

    def release_sink(self, sink: str, owner: str) -> None:
        with self._tx() as tx:
            tx.execute(
                """UPDATE sinks SET lease_owner = NULL, lease_until_ms = 0
                   WHERE name = ? AND lease_owner = ?""",
                (sink, owner),
            )

    def outbox_due(self, sink: str, *, now: datetime, limit: int) -> list[OutboxItem]:
        rows = self.conn.execute(
            """SELECT id, sink, article_id, content_hash, kind, attempts, queued_at FROM outbox
               WHERE sink = ? AND due_ms <= ? ORDER BY id LIMIT ?""",
            (sink, epoch_ms(now), limit),
        ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def outbox_done(self, sink: str, ids: Sequence[int], *, now: datetime) -> None:
        with self._tx() as tx:
            cur = tx.execute(
                "DELETE FROM outbox WHERE sink = ? AND id IN (SELECT value FROM json_each(?))",
                (sink, json.dumps(list(ids))),
            )
            tx.execute(
                """UPDATE sinks SET delivered = delivered + ?, last_delivered_at = ?,
                   last_error = NULL WHERE name = ?""",
                (cur.rowcount, to_iso(now), sink),
            )

    def outbox_failed(
        self,
        sink: str,
        ids: Sequence[int],
        *,
        error: str,
        now: datetime,
        retry_at: datetime,
        max_attempts: int,
    ) -> int:
        chosen = json.dumps(list(ids))
        with self._tx() as tx:
            tx.execute(
                """UPDATE outbox SET attempts = attempts + 1, due_ms = ?, last_error = ?
                   WHERE sink = ? AND id IN (SELECT value FROM json_each(?))""",
                (epoch_ms(retry_at), error, sink, chosen),
            )
            tx.execute(
                """INSERT OR REPLACE INTO dead_letters (id, sink, article_id, content_hash,
                   kind, queued_at, attempts, last_error, failed_at)
                   SELECT id, sink, article_id, content_hash, kind, queued_at, attempts,
                   last_error, ? FROM outbox WHERE sink = ? AND attempts >= ?
                   AND id IN (SELECT value FROM json_each(?))""",
                (to_iso(now), sink, max_attempts, chosen),
            )
            dead = tx.execute(
                """DELETE FROM outbox WHERE sink = ? AND attempts >= ?
                   AND id IN (SELECT value FROM json_each(?))""",
                (sink, max_attempts, chosen),
            ).rowcount
            tx.execute("UPDATE sinks SET last_error = ? WHERE name = ?", (error, sink))
        return int(dead)

    def retry_dead(self, sink: str | None = None, *, now: datetime) -> int:
        where, params = ("WHERE sink = ?", (sink,)) if sink else ("", ())
        with self._tx() as tx:
            # back under a new id: the outbox's ids only grow, so the item sorts after
            # what is waiting (AUTOINCREMENT never hands out an id twice)
            tx.execute(
                f"""INSERT INTO outbox (sink, article_id, content_hash, kind, queued_at,
                    due_ms) SELECT sink, article_id, content_hash, kind, queued_at, ?
                    FROM dead_letters {where} ORDER BY id""",
                (epoch_ms(now), *params),
            )
            return int(tx.execute(f"DELETE FROM dead_letters {where}", params).rowcount)

    def replay(self, sink: str, *, since: datetime, now: datetime) -> int:
        with self._tx() as tx:
            cur = tx.execute(_REPLAY, (sink, to_iso(now), to_iso(since)))
            return int(cur.rowcount)

    def sink_backlogs(self) -> list[SinkBacklog]:
        return [SinkBacklog.from_row(r) for r in self.conn.execute(BACKLOG).fetchall()]
