"""The feed list and claims on PostgreSQL: due feeds leased with `FOR UPDATE SKIP LOCKED`.

Claims are serialized by one transaction-level advisory lock (they take milliseconds): a
host's live leases are only visible once committed, so two claims at once could each hand
out a feed of one host; one after the other, each sees the other's leases and keeps per-host
politeness across workers and machines. `SKIP LOCKED` passes over feed rows a writer is
updating at that moment (they are leased anyway)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from ingest.feededit import Removal, SyncPlan, plan_sync
from ingest.models import Feed, Held
from ingest.settings import FeedSpec
from ingest.timeutil import from_iso, to_iso
from storage._reads import SharedFeedReads
from storage.common import (
    feed_from_row,
    feed_update_params,
    new_feed_values,
    options_to_json,
    stored_feeds,
)
from storage.leases import dead_owner, run_token

from .base import Conn, PgBase
from .dialect import POSTGRES
from .schema import CLAIM_LOCK

__all__ = ["PgFeeds"]


class PgFeeds(SharedFeedReads, PgBase):
    """`FeedsAndClaims` on PostgreSQL."""

    DIALECT = POSTGRES

    def add_feed(self, spec: FeedSpec, *, source: str = "cli") -> bool:
        """As SQLite's: a known feed gets `spec`, reactivated; its source stays."""
        now = to_iso(datetime.now().astimezone())
        with self._tx() as tx:
            cur = tx.execute(
                """INSERT INTO feeds (url, title, tags, options, source, added_at, host_key)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (url) DO NOTHING""",
                new_feed_values(spec, source, now),
            )
            if cur.rowcount:
                return True
            self._write_spec(tx, spec, reactivate=True)
            return False

    def update_feed(self, spec: FeedSpec) -> bool:
        with self._tx() as tx:
            return self._write_spec(tx, spec, reactivate=False)

    @staticmethod
    def _write_spec(tx: Conn, spec: FeedSpec, *, reactivate: bool) -> bool:
        """As SQLite's: changed options make the feed due now and drop the kept interval."""
        row = tx.execute(
            "SELECT options FROM feeds WHERE url = %s FOR UPDATE", (spec.url,)
        ).fetchone()
        if row is None:
            return False
        options = options_to_json(spec.options)
        changed = options != row[0]
        tx.execute(
            """UPDATE feeds SET title = COALESCE(%(title)s, title), tags = %(tags)s,
               options = %(options)s,
               next_poll_at = CASE WHEN %(changed)s OR (%(re)s AND status IN ('gone', 'disabled'))
                              THEN NULL ELSE next_poll_at END,
               interval_s = CASE WHEN %(changed)s THEN NULL ELSE interval_s END,
               schedule_reason = CASE WHEN %(changed)s THEN 'settings changed'
                                 ELSE schedule_reason END,
               error_count = CASE WHEN %(re)s AND status = 'gone' THEN 0 ELSE error_count END,
               status = CASE WHEN %(re)s AND status IN ('gone', 'disabled') THEN 'ok'
                        ELSE status END
               WHERE url = %(url)s""",
            feed_update_params(spec, options, changed=changed, reactivate=reactivate),
        )
        return True

    def remove_feed(self, url: str) -> bool:
        with self._tx() as tx:
            return tx.execute("DELETE FROM feeds WHERE url = %s", (url,)).rowcount > 0

    def set_status(self, url: str, status: str) -> bool:
        if status not in ("ok", "disabled"):
            raise ValueError(f"status must be ok or disabled, got {status!r}")
        with self._tx() as tx:
            cur = tx.execute(
                """UPDATE feeds SET status = %(s)s, next_poll_at = NULL,
                   schedule_reason = CASE WHEN %(s)s = 'ok' THEN 'enabled'
                                     ELSE schedule_reason END,
                   error_count = CASE WHEN %(s)s = 'ok' THEN 0 ELSE error_count END
                   WHERE url = %(url)s""",
                {"s": status, "url": url},
            )
            return cur.rowcount > 0

    def sync_feeds(
        self, specs: Sequence[FeedSpec], *, removal: Removal = "config", dry_run: bool = False
    ) -> SyncPlan:
        """Apply `plan_sync` (the decision: `ingest.feededit`) in one transaction."""
        with self._tx() as tx:
            rows = tx.execute(
                "SELECT url, title, tags, options, source FROM feeds FOR UPDATE"
            ).fetchall()
            stored = stored_feeds(rows)
            plan = plan_sync(stored, specs, removal=removal)
            if dry_run:
                return plan
            now = to_iso(datetime.now().astimezone())
            for spec in plan.update:
                self._write_spec(tx, spec, reactivate=False)
            for s in plan.add:
                tx.execute(
                    """INSERT INTO feeds (url, title, tags, options, source, added_at, host_key)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                    new_feed_values(s, "config", now),
                )
            for url in plan.remove:
                tx.execute("DELETE FROM feeds WHERE url = %s", (url,))
        return plan

    def claim_feeds(
        self,
        *,
        now: datetime,
        owner: str,
        lease_s: int,
        limit: int,
        force: bool = False,
        urls: Sequence[str] | None = None,
        started_ms: int | None = None,
        partition: tuple[int, int] | None = None,
    ) -> list[Feed]:
        """As SQLite's (`started_ms`: feeds attempted since the run began are not taken
        again; a host another owner holds a live lease on is left alone; `partition` puts
        worker i's share of the hosts first)."""
        now_s = to_iso(now)
        until = to_iso(now + timedelta(seconds=lease_s))
        where = [
            "(lease_until IS NULL OR lease_until < %(now)s)",
            "(last_run IS NULL OR last_run != %(run)s)",
            "(last_attempt_ms IS NULL OR last_attempt_ms < %(started)s)",
            """NOT EXISTS (SELECT 1 FROM feeds AS o WHERE o.host_key = c.host_key
                 AND o.lease_owner IS NOT NULL AND o.lease_owner != %(owner)s
                 AND o.lease_until >= %(now)s)""",
        ]
        params: dict[str, Any] = {
            "now": now_s,
            "until": until,
            "run": run_token(owner),
            "started": started_ms or 1 << 62,
            "owner": owner,
            "urls": list(urls or ()),
        }
        due = "next_poll_at NULLS FIRST, url"
        passes: list[tuple[str, str]] = []
        if urls is not None:
            where.append("url = ANY(%(urls)s)")
            passes.append(("TRUE", due))
        else:
            where.append("status IN ('ok', 'error')")
            if force:
                passes.append(("TRUE", "last_attempt_ms NULLS FIRST, url"))
            else:
                passes.append(("(next_poll_at IS NULL OR next_poll_at <= %(now)s)", due))
        shares = ["TRUE"]
        if partition is not None and partition[1] > 1:
            shares.insert(0, f"mod(c.host_key, {int(partition[1])}) = {int(partition[0])}")
        rows: list[dict[str, Any]] = []
        with self._tx() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(%s, %s)", CLAIM_LOCK)
            self._expire_dead_leases(tx, now_s)
            for share in shares:
                if rows:
                    break
                for extra, order in passes:
                    if len(rows) >= limit:
                        break
                    sql = f"""UPDATE feeds SET lease_owner = %(owner)s, lease_until = %(until)s
                        WHERE url IN (SELECT c.url FROM feeds AS c
                                      WHERE {" AND ".join(where)} AND {extra} AND {share}
                                      ORDER BY {order} LIMIT {int(limit - len(rows))}
                                      FOR UPDATE SKIP LOCKED)
                        RETURNING *"""
                    with tx.cursor(row_factory=dict_row) as cur:
                        cur.execute(sql.encode(), params)
                        rows += cur.fetchall()
        return sorted((feed_from_row(r) for r in rows), key=lambda f: f.url)

    @staticmethod
    def _expire_dead_leases(tx: Conn, now_s: str | None) -> None:
        """A lease held by a process of this host that no longer exists is void at once."""
        owners = tx.execute(
            "SELECT DISTINCT lease_owner FROM feeds"
            " WHERE lease_owner IS NOT NULL AND lease_until >= %s",
            (now_s,),
        ).fetchall()
        for (owner,) in owners:
            if dead_owner(str(owner)):
                tx.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL"
                    " WHERE lease_owner = %s",
                    (owner,),
                )

    def renew(self, owner: str, urls: Sequence[str], *, now: datetime, lease_s: int) -> int:
        with self._tx() as tx:
            cur = tx.execute(
                "UPDATE feeds SET lease_until = %s WHERE lease_owner = %s AND url = ANY(%s)",
                (to_iso(now + timedelta(seconds=lease_s)), owner, list(urls)),
            )
            return cur.rowcount

    def release(self, owner: str, urls: Sequence[str]) -> None:
        if not urls:
            return
        with self._tx() as tx:
            tx.execute(
                """UPDATE feeds SET lease_owner = NULL, lease_until = NULL
                   WHERE lease_owner = %s AND url = ANY(%s)""",
                (owner, list(urls)),
            )

    def held_elsewhere(
        self,
        *,
        now: datetime,
        owner: str,
        force: bool = False,
        urls: Sequence[str] | None = None,
        started_ms: int | None = None,
    ) -> list[Held]:
        """As SQLite's: what this run skipped because another live run holds the feed or
        its host, and until when."""
        other = (
            "lease_owner IS NOT NULL AND lease_until >= %(now)s"
            " AND lease_owner NOT LIKE '%%:' || %(run)s"
        )
        which = "url = ANY(%(urls)s)" if urls is not None else (
            "status IN ('ok', 'error')"
            + ("" if force else " AND (next_poll_at IS NULL OR next_poll_at <= %(now)s)")
        )  # fmt: skip
        rows = self.conn.execute(
            f"""SELECT url, until, by FROM (
                  SELECT url, CASE WHEN {other} THEN lease_until ELSE (SELECT MAX(o.lease_until)
                         FROM feeds o WHERE o.host_key = c.host_key AND o.{other}) END AS until,
                       CASE WHEN {other} THEN 'feed' ELSE 'host' END AS by
                  FROM feeds AS c WHERE {which}
                    AND (last_run IS NULL OR last_run != %(run)s)
                    AND (last_attempt_ms IS NULL OR last_attempt_ms < %(started)s)) AS h
                WHERE until IS NOT NULL ORDER BY url""".encode(),
            {"now": to_iso(now), "run": run_token(owner), "urls": list(urls or ()),
             "started": started_ms or 1 << 62},
        ).fetchall()  # fmt: skip
        return [Held(url, until, by) for url, until_s, by in rows if (until := from_iso(until_s))]
