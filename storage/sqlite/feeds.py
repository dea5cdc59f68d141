"""The feed list and claims: due feeds leased to one worker at a time, politely per host.

Claims run in one write transaction each, so two processes never lease one feed; a lease
carries an owner ("host:pid:run") and an expiry, so a killed run's feeds come back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

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

from .base import SQLiteBase
from .dialect import SQLITE

__all__ = ["SQLiteFeeds"]


class SQLiteFeeds(SharedFeedReads, SQLiteBase):
    """`FeedsAndClaims` on SQLite."""

    DIALECT = SQLITE

    def add_feed(self, spec: FeedSpec, *, source: str = "cli") -> bool:
        """A known feed gets `spec` (the caller merges what was given into what is stored,
        see `ingest.feededit`) and is reactivated if gone or disabled; its source stays."""
        now = to_iso(datetime.now().astimezone())
        with self._tx() as tx:
            if self._write_spec(tx, spec, reactivate=True):
                return False
            tx.execute(
                """INSERT INTO feeds (url, title, tags, options, source, added_at, host_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                new_feed_values(spec, source, now),
            )
            return True

    def update_feed(self, spec: FeedSpec) -> bool:
        """Give a known feed `spec` (status unchanged). False when there is no such feed."""
        with self._tx() as tx:
            return self._write_spec(tx, spec, reactivate=False)

    @staticmethod
    def _write_spec(tx: sqlite3.Connection, spec: FeedSpec, *, reactivate: bool) -> bool:
        """Changed options (interval, opt-ins, filters) make the feed due now and drop the
        interval kept from the last fetch: it was decided under the old options, and a 304
        would otherwise carry it on (validators stay: they describe the document)."""
        row = tx.execute("SELECT options FROM feeds WHERE url = ?", (spec.url,)).fetchone()
        if row is None:
            return False
        options = options_to_json(spec.options)
        changed = options != row[0]
        tx.execute(
            """UPDATE feeds SET title = COALESCE(:title, title), tags = :tags, options = :options,
               next_poll_at = CASE WHEN :changed OR (:re AND status IN ('gone', 'disabled'))
                              THEN NULL ELSE next_poll_at END,
               interval_s = CASE WHEN :changed THEN NULL ELSE interval_s END,
               schedule_reason = CASE WHEN :changed THEN 'settings changed'
                                 ELSE schedule_reason END,
               error_count = CASE WHEN :re AND status = 'gone' THEN 0 ELSE error_count END,
               status = CASE WHEN :re AND status IN ('gone', 'disabled') THEN 'ok' ELSE status END
               WHERE url = :url""",
            feed_update_params(spec, options, changed=changed, reactivate=reactivate),
        )
        return True

    def remove_feed(self, url: str) -> bool:
        with self._tx() as tx:
            return tx.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount > 0

    def set_status(self, url: str, status: str) -> bool:
        if status not in ("ok", "disabled"):
            raise ValueError(f"status must be ok or disabled, got {status!r}")
        with self._tx() as tx:
            cur = tx.execute(
                """UPDATE feeds SET status = ?, next_poll_at = NULL,
                   schedule_reason = CASE WHEN ? = 'ok' THEN 'enabled' ELSE schedule_reason END,
                   error_count = CASE WHEN ? = 'ok' THEN 0 ELSE error_count END
                   WHERE url = ?""",
                (status, status, status, url),
            )
            return cur.rowcount > 0

    def sync_feeds(
        self, specs: Sequence[FeedSpec], *, removal: Removal = "config", dry_run: bool = False
    ) -> SyncPlan:
        """Apply `plan_sync` (the decision: `ingest.feededit`) in one transaction."""
        with self._tx() as tx:
            stored = stored_feeds(tx.execute("SELECT url, title, tags, options, source FROM feeds"))
            plan = plan_sync(stored, specs, removal=removal)
            if dry_run:
                return plan
            now = to_iso(datetime.now().astimezone())
            for spec in plan.update:
                self._write_spec(tx, spec, reactivate=False)
            tx.executemany(
                """INSERT INTO feeds (url, title, tags, options, source, added_at, host_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [new_feed_values(s, "config", now) for s in plan.add],
            )
            tx.executemany("DELETE FROM feeds WHERE url = ?", [(u,) for u in plan.remove])
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
        """`started_ms`: when the run began (ms since the epoch); a feed attempted since, by
        this run or an overlapping one, is not taken again (two `run --all` at once would
        otherwise hand each other's finished feeds back and forth).

        Politeness across processes: a feed whose host another owner holds a live lease on
        (a feed of that host in flight in another worker, run or daemon) is not taken, so
        each process's per-host limits (requests in flight, gap between them) hold for the
        host as a whole. `partition` (i, n): worker i of n takes the feeds of its share of
        the hosts (host_key % n == i) first, and others' only once its share has none left
        (a run ends with no worker idle while another still has hosts to do)."""
        now_s = to_iso(now)
        until = to_iso(now + timedelta(seconds=lease_s))
        where = [
            "(lease_until IS NULL OR lease_until < ?)",
            "(last_run IS NULL OR last_run != ?)",  # not twice in one run
            "(last_attempt_ms IS NULL OR last_attempt_ms < ?)",
            """NOT EXISTS (SELECT 1 FROM feeds AS o WHERE o.host_key = c.host_key
                 AND o.lease_owner IS NOT NULL AND o.lease_owner != ?
                 AND o.lease_until >= ?)""",  # feeds_host_leased
        ]
        params: list[Any] = [now_s, run_token(owner), started_ms or 1 << 62, owner, now_s]
        # the due order: never polled first, then the most overdue (NULLs sort first); with
        # `force`, never attempted first, then the least recently attempted (feeds_force)
        due = "next_poll_at, url"
        passes: list[tuple[str, list[Any], str]] = []
        if urls is not None:
            where.append("url IN (SELECT value FROM json_each(?))")
            passes.append(("1 = 1", [json.dumps(list(urls))], due))
        else:
            where.append("status IN ('ok', 'error')")  # feeds_claim's own condition
            if force:
                passes.append(("1 = 1", [], "last_attempt_ms, url"))
            else:  # two index ranges: "IS NULL OR <=" would scan every feed
                passes += [("next_poll_at IS NULL", [], due), ("next_poll_at <= ?", [now_s], due)]
        shares: list[tuple[str, list[Any]]] = [("1 = 1", [])]
        if partition is not None and partition[1] > 1:
            shares.insert(0, ("c.host_key % ? = ?", [partition[1], partition[0]]))
        rows: list[dict[str, Any]] = []
        with self._tx() as tx:
            self._expire_dead_leases(tx, now_s)
            for share, share_params in shares:
                if rows:  # the worker's own share had some: others' wait
                    break
                for extra, extra_params, order in passes:
                    if len(rows) >= limit:
                        break
                    cur = tx.execute(
                        f"""UPDATE feeds SET lease_owner = ?, lease_until = ?
                            WHERE url IN (SELECT c.url FROM feeds AS c
                                          WHERE {" AND ".join(where)} AND {extra} AND {share}
                                          ORDER BY {order} LIMIT ?)
                            RETURNING *""",
                        [owner, until, *params, *extra_params, *share_params, limit - len(rows)],
                    )
                    names = [d[0] for d in cur.description]
                    rows += [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return sorted((feed_from_row(r) for r in rows), key=lambda f: f.url)

    @staticmethod
    def _expire_dead_leases(tx: sqlite3.Connection, now_s: str | None) -> None:
        """A lease held by a process of this host that no longer exists (a run killed with
        SIGKILL) is void at once, instead of blocking its feeds until it expires."""
        owners = [
            r[0]
            for r in tx.execute(
                "SELECT DISTINCT lease_owner FROM feeds"
                " WHERE lease_owner IS NOT NULL AND lease_until >= ?",  # feeds_leased
                (now_s,),
            )
        ]
        for owner in owners:
            if dead_owner(str(owner)):
                tx.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                    (owner,),
                )

    def renew(self, owner: str, urls: Sequence[str], *, now: datetime, lease_s: int) -> int:
        with self._tx() as tx:
            cur = tx.execute(
                """UPDATE feeds SET lease_until = ? WHERE lease_owner = ?
                   AND url IN (SELECT value FROM json_each(?))""",
                (to_iso(now + timedelta(seconds=lease_s)), owner, json.dumps(list(urls))),
            )
            return cur.rowcount

    def release(self, owner: str, urls: Sequence[str]) -> None:
        if not urls:
            return
        with self._tx() as tx:
            tx.execute(
                """UPDATE feeds SET lease_owner = NULL, lease_until = NULL
                   WHERE lease_owner = ? AND url IN (SELECT value FROM json_each(?))""",
                (owner, json.dumps(list(urls))),
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
        """What this run skipped because another live run holds the feed or its host (the
        run's own workers share its token and do not count), and until when."""
        now_s, run = to_iso(now), run_token(owner)
        other = (
            "lease_owner IS NOT NULL AND lease_until >= :now AND lease_owner NOT LIKE '%:' || :run"
        )
        which = "url IN (SELECT value FROM json_each(:urls))" if urls is not None else (
            "status IN ('ok', 'error')"
            + ("" if force else " AND (next_poll_at IS NULL OR next_poll_at <= :now)")
        )  # fmt: skip
        rows = self.conn.execute(
            f"""SELECT url, CASE WHEN {other} THEN lease_until ELSE (SELECT MAX(o.lease_until)
                     FROM feeds o WHERE o.host_key = c.host_key AND o.{other}) END AS until,
                   CASE WHEN {other} THEN 'feed' ELSE 'host' END
                FROM feeds AS c WHERE {which}
                  AND (last_run IS NULL OR last_run != :run)
                  AND (last_attempt_ms IS NULL OR last_attempt_ms < :started)
                  AND until IS NOT NULL ORDER BY url""",
            {"now": now_s, "run": run, "urls": json.dumps(list(urls or ())),
             "started": started_ms or 1 << 62},
        ).fetchall()  # fmt: skip
        return [Held(url, until, by) for url, until_s, by in rows if (until := from_iso(until_s))]
