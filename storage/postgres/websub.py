"""`WebSubState` on PostgreSQL."""

from __future__ import annotations

from ingest.models import Subscription
from storage.websub_rows import COLUMNS, push_until, sub_from_row, sub_to_row

from .base import PgBase
from .schema import WEBSUB_LOCK

__all__ = ["PgWebSub"]

_UPSERT = (
    f"INSERT INTO websub ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    " ON CONFLICT (feed_url) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
)


class PgWebSub(PgBase):
    _leading = False

    def lead_subscriptions(self) -> bool:
        conn = self.conn
        if self._leading:  # still ours unless the connection was lost (and made again)
            row = conn.execute(
                """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                   AND classid = %s AND objid = %s AND pid = pg_backend_pid() AND granted)""",
                WEBSUB_LOCK,
            ).fetchone()
            self._leading = bool(row and row[0])
        if not self._leading:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", WEBSUB_LOCK).fetchone()
            self._leading = bool(row and row[0])
        return self._leading

    def subscriptions(self) -> list[Subscription]:
        return [sub_from_row(r) for r in self._rows("SELECT * FROM websub ORDER BY feed_url")]

    def subscription(self, callback_id: str) -> Subscription | None:
        rows = self._rows("SELECT * FROM websub WHERE callback_id = %s", (callback_id,))
        return sub_from_row(rows[0]) if rows else None

    def save_subscription(self, sub: Subscription) -> None:
        with self._tx() as tx:
            tx.execute(_UPSERT.encode(), sub_to_row(sub))
            tx.execute(
                "UPDATE feeds SET push_until = %s WHERE url = %s", (push_until(sub), sub.feed_url)
            )

    def drop_subscription(self, feed_url: str) -> bool:
        with self._tx() as tx:
            cur = tx.execute("DELETE FROM websub WHERE feed_url = %s", (feed_url,))
            tx.execute("UPDATE feeds SET push_until = NULL WHERE url = %s", (feed_url,))
            return bool(cur.rowcount)
