"""make bench's PostgreSQL rows: a cold `run --all` of the farm into one PostgreSQL
database, by 1 process and by 3 processes started together (each its own `ingest run
--all`, INGEST_WORKERS=1), timed from the first spawn to the last exit; beside it the same
single-process cold run into SQLite (run_bench's `cold` row is the SQLite figure with
INGEST_WORKERS at its default).

The database is `ingest_bench_<pid>` on INGEST_BENCH_PG (default
postgresql://postgres@127.0.0.1:5432/postgres), created for each row and dropped after.

Beside the seconds, each row has the CPU of the `ingest` processes (`client_cpu_s`) and,
when the server runs on this machine, of its backends serving the bench's database
(`server_cpu_s`, read from /proc while the run goes; 0 when it is elsewhere): on a machine
shared with other work the CPU says more than the wall time, and the split says which side
a change moved work to."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["run_postgres"]

ADMIN_URL = os.environ.get("INGEST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _database(name: str, create: bool) -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        if create:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _backends_cpu(dbname: str, seen: dict[int, float], stop: threading.Event) -> None:
    """Poll the CPU seconds of the server processes serving `dbname` into `seen` (by pid;
    a backend's last reading stands once it exits) until `stop`."""
    tick = os.sysconf("SC_CLK_TCK")
    marker = f" {dbname} ".encode()
    while not stop.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
                if not cmd.startswith(b"postgres: ") or marker not in cmd:
                    continue
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                seen[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
            except OSError:  # gone meanwhile, or not ours to read
                continue
        stop.wait(0.1)


def run_postgres(
    opml: Path,
    farm: Any,
    cmd: Callable[..., list[str]],
    env: dict[str, str],
    root: Path,
    workers: tuple[int, ...] = (1, 3),
) -> dict[str, dict[str, Any]]:
    """{"pg-1": {...}, "pg-3": {...}}: seconds, articles stored, farm requests."""
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:  # no server: the rows say why instead
        return {f"pg-{n}": {"skipped": str(exc).splitlines()[0]} for n in workers}
    out: dict[str, dict[str, Any]] = {}
    for n in workers:
        name = f"ingest_bench_{os.getpid()}"
        url = _database(name, create=True)
        try:
            full = {**env, "INGEST_WORKERS": "1"}
            subprocess.run(cmd(url, "feeds", "import", str(opml)), env=full, check=True,
                           capture_output=True, cwd=root)  # fmt: skip
            farm.validators(True)
            farm.reset()
            seen: dict[int, float] = {}
            stop = threading.Event()
            poll = threading.Thread(target=_backends_cpu, args=(name, seen, stop), daemon=True)
            poll.start()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    cmd(url, "run", "--all"),
                    env=full,
                    cwd=root,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for _ in range(n)
            ]
            results = [p.communicate(timeout=1800) for p in procs]
            seconds = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            stop.set()
            poll.join()
            client = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
            stats = subprocess.run(cmd(url, "stats", "--json"), env=full, capture_output=True,
                                   text=True, cwd=root, check=True)  # fmt: skip
            out[f"pg-{n}"] = {
                "seconds": round(seconds, 3),
                "client_cpu_s": round(client, 2),
                "server_cpu_s": round(sum(seen.values()), 2),
                "returncodes": [p.returncode for p in procs],
                "articles": json.loads(stats.stdout)["articles"],
                "http": farm.stats().get("by_status"),
                "requests": farm.stats().get("requests"),
                "summaries": [(r[0].strip().splitlines() or [""])[0][:120] for r in results],
            }
        finally:
            _database(name, create=False)
    return out
