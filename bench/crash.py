"""Crash harness (issue #17): SIGKILL `ingest run` and `ingest daemon` at aimed moments over a
farm whose feeds change between kills, and check the store after each.

    python -m bench.crash --kills 50 --backend sqlite --backend postgres     # make crash

Each kill: the farm gets a round of news (bench/churn.py: new items, revisions, dropped
items, syndicated copies), an `ingest run --all` or an `ingest daemon --tick 1s` (in turn)
starts in its own process group, and the harness watches it until the phase it aims at
(fetch, parse, write, story, or a random moment), then SIGKILLs the whole group (the run's
forked workers too: a machine or container dying). Then:

- the store's integrity check (`Store.check()`, what `ingest store check` runs) finds nothing;
- no article committed before the kill is gone (the committed sources, read just before it);
- no duplicate (one article per feed and identity, one per canonical URL) and the story index
  is whole (every article in exactly one existing story, every representative exists), read
  by the harness's own SQL, not the store's;
- the next `ingest run --all` exits 0 and the store then holds every item the farm serves,
  at its latest revision.

How the phase at the kill is told (from outside, without touching the processes):
- write: a process of the group holds the store's write lock -- on SQLite the WAL write lock
  (a POSIX lock on byte 120 of the -shm file, read from /proc/locks), on PostgreSQL a backend
  of the store's database with a transaction id (it has written);
- story (PostgreSQL only): that backend's current statement touches the story index tables;
- fetch: the farm is answering one of its requests (each waits 0..0.3 s first);
- parse: requests were answered, none is in flight and nothing is written: parse,
  normalize, dedupe, scheduling, or a batch waiting to be written;
- claim: a write before anything was asked of the farm (the claim of the feeds: leases);
- startup: nothing asked of the farm yet and nothing written (imports, opening the store).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.churn import Audit, ChurnFarm, cli_env, is_pg

__all__ = ["CrashResult", "PhaseProbe", "crash_series", "main", "plan", "summary"]

PHASES = ("startup", "claim", "fetch", "parse", "write", "story")
_STORY_SQL = re.compile(r"\b(story_\w+|stories)\b", re.I)
_HARNESS = "crash-harness"  # the application_name of the harness's own connections
_WAL_WRITE_LOCK = 120  # unix VFS: the -shm byte whose lock is the WAL write lock


@dataclass
class CrashResult:
    backend: str
    command: str  # run | daemon
    target: str  # the phase aimed at (or "random")
    phase: str  # the phase the kill hit
    at_s: float  # seconds after the start
    recovery_s: float = 0.0  # how long the next run took
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class PhaseProbe:
    """What a process group is doing to a store and a farm, seen from outside."""

    def __init__(self, db: str | Path, farm: ChurnFarm) -> None:
        self.db = db
        self.farm = farm
        self._pg: Any = None
        if is_pg(db):
            import psycopg

            self._pg = psycopg.connect(str(db), autocommit=True, application_name=_HARNESS)

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()

    def phase(self, pgid: int, answered_at_start: int) -> str:
        write = self._writing(pgid)
        if write:  # before anything was fetched, the write is the claim of the feeds
            return write if self.farm.answered() > answered_at_start else "claim"
        if self.farm.in_flight():
            return "fetch"
        if self.farm.answered() > answered_at_start:
            return "parse"
        return "startup"

    def _writing(self, pgid: int) -> str | None:
        if self._pg is not None:
            rows = self._pg.execute(
                """SELECT query FROM pg_stat_activity WHERE datname = current_database()
                   AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"""
            ).fetchall()
            if not rows:
                return None
            return "story" if any(_STORY_SQL.search(q or "") for (q,) in rows) else "write"
        try:  # a new file each time the last connection closes: looked up every time
            shm_inode = os.stat(f"{self.db}-shm").st_ino
        except FileNotFoundError:
            return None
        try:
            locks = Path("/proc/locks").read_text()
        except OSError:
            return None
        for line in locks.splitlines():
            parts = line.split()
            if len(parts) < 8 or parts[1] == "->" or parts[3] != "WRITE":
                continue
            pid, dev, start = parts[4], parts[5], parts[6]
            if int(dev.rsplit(":", 1)[1]) != shm_inode or int(start) != _WAL_WRITE_LOCK:
                continue
            try:
                if os.getpgid(int(pid)) == pgid:
                    return "write"
            except (ProcessLookupError, ValueError):
                continue
        return None


def _ingest(db: str | Path, *args: str, env: dict[str, str], timeout: float = 180) -> Any:
    if not is_pg(db):
        db = Path(db).resolve()  # it runs in the store's folder: a relative path would nest
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=Path(str(db)).parent if not is_pg(db) else None,
    )


def _env() -> dict[str, str]:
    # short intervals: a daemon finds feeds due again within seconds of the last pass
    return cli_env(INGEST_MIN_INTERVAL="1s", INGEST_MAX_INTERVAL="3s", INGEST_LOG_LEVEL="ERROR")


def _aim(
    proc: subprocess.Popen[bytes],
    probe: PhaseProbe,
    audit: Audit,
    target: str,
    rng: random.Random,
    limit_s: float,
    random_within_s: float,
) -> tuple[str, float, dict[tuple[str, str], int]]:
    """Watch `proc` until it is in phase `target` (or a random moment for "random", or
    `limit_s` passed), reading what is committed every ~0.2 s. The phase, when, and the
    last committed sources read before it."""
    t0 = time.monotonic()
    answered = probe.farm.answered()
    committed = audit.sources()
    last_read = time.monotonic()
    at_random = rng.uniform(0.2, random_within_s)
    while True:
        now = time.monotonic()
        if now - last_read > 0.2:
            committed = audit.sources()
            last_read = time.monotonic()
        phase = probe.phase(proc.pid, answered)
        elapsed = time.monotonic() - t0
        if proc.poll() is not None:
            return "exited", elapsed, committed
        if (target == "random" and elapsed >= at_random) or phase == target or elapsed > limit_s:
            return phase, elapsed, committed
        time.sleep(0.002)


def crash_once(
    db: str | Path,
    farm: ChurnFarm,
    probe: PhaseProbe,
    *,
    command: str,
    target: str,
    rng: random.Random,
    limit_s: float = 12.0,
    pass_s: float = 2.0,
) -> CrashResult:
    """One kill (see the module docstring). `pass_s`: how long a whole pass takes (a random
    kill lands within it)."""
    backend = "postgres" if is_pg(db) else "sqlite"
    audit = Audit(db)
    env = _env()
    args = ["run", "--all", "--quiet"] if command == "run" else ["daemon", "--tick", "1s"]
    window_s = pass_s if command == "run" else pass_s + 2
    for _attempt in range(3):  # a run that ended before its moment was not killed: again
        farm.advance()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--db", str(db), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: the kill takes its workers too
        )
        try:
            phase, at_s, committed = _aim(proc, probe, audit, target, rng, limit_s, window_s)
            if phase != "exited":
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
        if phase != "exited" or proc.returncode != 0:
            break
        window_s = at_s * 0.8
    result = CrashResult(backend, command, target, phase, round(at_s, 2))
    if phase == "exited":
        result.problems.append(f"{command} exited {proc.returncode} before the kill: {stderr}")
    # the group is dead; a PostgreSQL backend may still be rolling back its transaction
    _wait_for_backends(db)
    result.problems += _checks(db, committed, audit)
    t0 = time.monotonic()
    again = _ingest(db, "run", "--all", "--quiet", env=env)
    result.recovery_s = time.monotonic() - t0
    if again.returncode != 0 or "Traceback" in again.stderr:
        result.problems.append(
            f"the next run exited {again.returncode}: {(again.stdout + again.stderr).strip()}"
        )
    result.problems += _checks(db, committed, audit) + audit.missing(farm)
    return result


def _checks(db: str | Path, committed: dict[tuple[str, str], int], audit: Audit) -> list[str]:
    from storage import open_store

    store = open_store(db)
    try:
        problems = [f"store check: {p}" for p in store.check()]
    finally:
        store.close()
    return problems + audit.problems() + audit.lost(committed)


def add_feeds(db: str | Path, farm: ChurnFarm, env: dict[str, str]) -> None:
    """The farm's feeds into the store (created), by `ingest feeds import` of an OPML file."""
    import tempfile

    from samplefeeds import opml

    with tempfile.NamedTemporaryFile(suffix=".opml") as f:
        f.write(opml(farm.urls))
        f.flush()
        r = _ingest(db, "feeds", "import", f.name, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"feeds import: {(r.stdout + r.stderr).strip()}")


def _wait_for_backends(db: str | Path) -> None:
    if not is_pg(db):
        return
    import psycopg

    deadline = time.monotonic() + 10
    with psycopg.connect(str(db), autocommit=True) as conn:
        while time.monotonic() < deadline:
            (n,) = conn.execute(
                """SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()
                   AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                   AND application_name <> %s""",
                (_HARNESS,),
            ).fetchone()  # type: ignore[misc]
            if n == 0:
                return
            time.sleep(0.05)


def plan(kills: int, *, postgres: bool) -> list[tuple[str, str]]:
    """(command, phase aimed at) for each kill: run and daemon in turn, each through the
    phases in turn (story only on PostgreSQL, where it can be told)."""
    targets = ["fetch", "parse", "write", "story", "random"]
    if not postgres:
        targets.remove("story")
    return [
        ("run" if k % 2 == 0 else "daemon", targets[(k // 2) % len(targets)]) for k in range(kills)
    ]


def crash_series(
    db: str | Path,
    farm: ChurnFarm,
    kills: list[tuple[str, str]],
    *,
    seed: int = 0,
    verbose: bool = False,
) -> list[CrashResult]:
    """A kill for each (command, target) of `kills` on the store `db` (created here)."""
    rng = random.Random(seed)
    env = _env()
    add_feeds(db, farm, env)
    t0 = time.monotonic()
    r = _ingest(db, "run", "--all", "--quiet", env=env)
    if r.returncode != 0:
        raise RuntimeError(f"first run: {(r.stdout + r.stderr).strip()}")
    pass_s = time.monotonic() - t0
    probe = PhaseProbe(db, farm)
    results: list[CrashResult] = []
    try:
        for k, (command, target) in enumerate(kills):
            result = crash_once(
                db, farm, probe, command=command, target=target, rng=rng, pass_s=pass_s
            )
            pass_s = result.recovery_s or pass_s
            results.append(result)
            if verbose:
                state = "ok" if result.passed else "FAILED: " + "; ".join(result.problems)
                print(
                    f"{k + 1:3} {result.backend:8} {result.command:6} aim {result.target:6}"
                    f" hit {result.phase:7} at {result.at_s:5.2f} s  {state}",
                    flush=True,
                )
    finally:
        probe.close()
    return results


def summary(results: list[CrashResult]) -> str:
    """The table `make crash` prints: kills per backend, command and phase hit, passed."""
    rows: Counter[tuple[str, str, str]] = Counter()
    ok: Counter[tuple[str, str, str]] = Counter()
    for r in results:
        key = (r.backend, r.command, r.phase)
        rows[key] += 1
        ok[key] += r.passed
    lines = [f"{'backend':9} {'command':8} {'phase':8} {'kills':>5} {'passed':>6}"]
    for key in sorted(rows):
        lines.append(f"{key[0]:9} {key[1]:8} {key[2]:8} {rows[key]:5} {ok[key]:6}")
    for backend in sorted({r.backend for r in results}):
        mine = [r for r in results if r.backend == backend]
        passed = sum(r.passed for r in mine)
        lines.append(f"{backend:9} {'all':8} {'':8} {len(mine):5} {passed:6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=50, help="kills per backend (50)")
    ap.add_argument("--backend", action="append", choices=("sqlite", "postgres"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--work", type=Path, default=Path("bench/out/crash"))
    args = ap.parse_args(argv)
    backends = args.backend or ["sqlite", "postgres"]
    print(f"crash harness: {args.kills} kills per backend, seed {args.seed}", flush=True)
    results: list[CrashResult] = []
    for backend in backends:
        with ChurnFarm(seed=args.seed).start() as farm:
            if backend == "sqlite":
                args.work.mkdir(parents=True, exist_ok=True)
                db: str | Path = args.work / f"crash-{os.getpid()}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                kills = plan(args.kills, postgres=False)
                results += crash_series(db, farm, kills, seed=args.seed, verbose=True)
            else:
                import pgdb

                why = pgdb.unreachable()
                if why:
                    print(f"postgres: skipped ({why})")
                    continue
                name = f"ingest_crash_{os.getpid()}"
                url = pgdb.create(name)
                try:
                    kills = plan(args.kills, postgres=True)
                    results += crash_series(url, farm, kills, seed=args.seed, verbose=True)
                finally:
                    pgdb.drop(name)
    print()
    print(summary(results))
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAILED {r.backend} {r.command} {r.phase}: {'; '.join(r.problems)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
