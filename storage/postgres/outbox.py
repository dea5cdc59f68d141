"""The push sinks' outbox on PostgreSQL, as SQLite's (storage/sqlite/outbox.py): one row per
(active sink, new or revised article), queued by `queue` in the transaction that stores the
article; a sink is delivered by one owner at a time (a lease on its `sinks` row, taken
under its row lock)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest.sinks.types import OutboxItem, SinkBacklog
from ingest.timeutil import to_iso
from storage._outbox import BACKLOG, REPLAY, epoch_ms
from storage.leases import lease_taken

from .base import Conn, PgBase

__all__ = ["PgOutbox", "queue"]

_REPLAY = REPLAY.format(p="%s")


def queue(tx: Conn, events: Sequence[tuple[int, str, str]], now_s: str) -> None:
    """In the caller's write transaction: (article id, content hash, new | revised) for
    every active sink."""
    if not events:
        return
    ids, hashes, kinds = (list(col) for col in zip(*events, strict=True))
    tx.execute(
        """INSERT INTO outbox (sink, article_id, content_hash, kind, queued_at)
           SELECT s.name, e.aid, e.hash, e.kind, %s FROM sinks s
           CROSS JOIN unnest(%s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY
             AS e(aid, hash, kind, n)
           WHERE s.active = 1 ORDER BY s.name, e.n""",
        (now_s, ids, hashes, kinds),
    )


class PgOutbox(PgBase):
    """`Outbox` on PostgreSQL."""

    def sync_sinks(self, names: Sequence[str], *, now: datetime) -> list[str]:
        wanted = list(dict.fromkeys(names))
        known: dict[str, int] = dict(self.conn.execute("SELECT name, active FROM sinks").fetchall())
        new = [n for n in wanted if n not in known]
        changed = new or any(bool(active) != (name in wanted) for name, active in known.items())
        if not changed:
            return []
        with self._tx() as tx:
            for name in new:
                tx.execute(
                    "INSERT INTO sinks (name, added_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (name, to_iso(now)),
                )
            tx.execute(
                "UPDATE sinks SET active = CASE WHEN name = ANY(%s) THEN 1 ELSE 0 END", (wanted,)
            )
        return new

    def lease_sink(self, sink: str, *, owner: str, now: datetime, lease_s: float) -> bool:
        with self._tx() as tx:
            row = tx.execute(
                "SELECT lease_owner, lease_until_ms FROM sinks WHERE name = %s FOR UPDATE",
                (sink,),
            ).fetchone()
            if row is None:
                return False
            holder, until = row
            if lease_taken(holder, int(until), owner, epoch_ms(now)):
                return False
            tx.execute(
                "UPDATE sinks SET lease_owner = %s, lease_until_ms = %s WHERE name = %s",
                (owner, epoch_ms(now) + int(lease_s * 1000), sink),
            )
            return True

    def release_sink(self, sink: str, owner: str) -> None:
        with self._tx() as tx:
            tx.execute(
                """UPDATE sinks SET lease_owner = NULL, lease_until_ms = 0
                   WHERE name = %s AND lease_owner = %s""",
                (sink, owner),
            )

    def outbox_due(self, sink: str, *, now: datetime, limit: int) -> list[OutboxItem]:
        rows = self.conn.execute(
            """SELECT id, sink, article_id, content_hash, kind, attempts, queued_at FROM outbox
               WHERE sink = %s AND due_ms <= %s ORDER BY id LIMIT %s""",
            (sink, epoch_ms(now), limit),
        ).fetchall()
        return [OutboxItem(int(r[0]), r[1], int(r[2]), r[3], r[4], int(r[5]), r[6]) for r in rows]

    def outbox_done(self, sink: str, ids: Sequence[int], *, now: datetime) -> None:
        with self._tx() as tx:
            cur = tx.execute(
                "DELETE FROM outbox WHERE sink = %s AND id = ANY(%s)", (sink, list(ids))
            )
            tx.execute(
                """UPDATE sinks SET delivered = delivered + %s, last_delivered_at = %s,
                   last_error = NULL WHERE name = %s""",
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
        chosen = list(ids)
        with self._tx() as tx:
            tx.execute(
                """UPDATE outbox SET attempts = attempts + 1, due_ms = %s, last_error = %s
                   WHERE sink = %s AND id = ANY(%s)""",
                (epoch_ms(retry_at), error, sink, chosen),
            )
            cur = tx.execute(
                """WITH gone AS (DELETE FROM outbox WHERE sink = %s AND attempts >= %s
                     AND id = ANY(%s) RETURNING *)
                   INSERT INTO dead_letters (id, sink, article_id, content_hash, kind,
                     queued_at, attempts, last_error, failed_at)
                   SELECT id, sink, article_id, content_hash, kind, queued_at, attempts,
                     last_error, %s FROM gone
                   ON CONFLICT (id) DO UPDATE SET attempts = EXCLUDED.attempts,
                     last_error = EXCLUDED.last_error, failed_at = EXCLUDED.failed_at""",
                (sink, max_attempts, chosen, to_iso(now)),
            )
            dead = cur.rowcount
            tx.execute("UPDATE sinks SET last_error = %s WHERE name = %s", (error, sink))
        return int(dead)

    def retry_dead(self, sink: str | None = None, *, now: datetime) -> int:
        where, params = ("WHERE sink = %s", [sink]) if sink else ("", [])
        with self._tx() as tx:
            cur = tx.execute(
                f"""WITH back AS (DELETE FROM dead_letters {where} RETURNING *)
                    INSERT INTO outbox (sink, article_id, content_hash, kind, queued_at, due_ms)
                    SELECT sink, article_id, content_hash, kind, queued_at, %s FROM back
                    ORDER BY id""".encode(),
                [*params, epoch_ms(now)],
            )
            return int(cur.rowcount)

    def replay(self, sink: str, *, since: datetime, now: datetime) -> int:
        with self._tx() as tx:
            cur = tx.execute(_REPLAY, (sink, to_iso(now), to_iso(since)))
            return int(cur.rowcount)

    def sink_backlogs(self) -> list[SinkBacklog]:
        return [SinkBacklog.from_row(r) for r in self.conn.execute(BACKLOG).fetchall()]
