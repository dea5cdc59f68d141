"""`WebSubState` on SQLite."""

from __future__ import annotations

import fcntl
import os

from ingest.models import Subscription
from storage.websub_rows import COLUMNS, push_until, sub_from_row, sub_to_row

from .base import SQLiteBase

__all__ = ["SQLiteWebSub"]

_INSERT = (
    f"INSERT OR REPLACE INTO websub ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


class SQLiteWebSub(SQLiteBase):
    _lead_fd: int | None = None  # the open lock file while this store leads

    def lead_subscriptions(self) -> bool:
        if self._lead_fd is not None or str(self.path) == ":memory:":
            return True
        try:
            fd = os.open(f"{self.path}-websub.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # a folder this process cannot write: nothing to coordinate with
            return True
        try:
            # an flock on its own file: independent of SQLite's POSIX locks on the database
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lead_fd = fd
        return True

    def close(self) -> None:
        if self._lead_fd is not None:
            os.close(self._lead_fd)  # releases the role
            self._lead_fd = None
        super().close()

    def subscriptions(self) -> list[Subscription]:
        return [sub_from_row(r) for r in self._rows("SELECT * FROM websub ORDER BY feed_url")]

    def subscription(self, callback_id: str) -> Subscription | None:
        rows = self._rows("SELECT * FROM websub WHERE callback_id = ?", (callback_id,))
        return sub_from_row(rows[0]) if rows else None

    def save_subscription(self, sub: Subscription) -> None:
        with self._tx() as tx:
            tx.execute(_INSERT, sub_to_row(sub))
            tx.execute(
                "UPDATE feeds SET push_until = ? WHERE url = ?", (push_until(sub), sub.feed_url)
            )

    def drop_subscription(self, feed_url: str) -> bool:
        with self._tx() as tx:
            gone = tx.execute("DELETE FROM websub WHERE feed_url = ?", (feed_url,)).rowcount
            tx.execute("UPDATE feeds SET push_until = NULL WHERE url = ?", (feed_url,))
            return bool(gone)
