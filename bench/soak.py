"""Concurrency soak (issue #17): one `ingest daemon` and three cron lines of `ingest run` on one
store for N minutes, over a farm whose feeds gain, revise, drop and syndicate items, and fail
and recover.

    python -m bench.soak --minutes 60            # make soak (SOAK_MINUTES)
    python -m bench.soak --minutes 3 --db postgresql://...

Every `--cron-every` seconds each cron line starts an `ingest run` (staggered, as cron would:
whether or not its last one ended, at most two of a line at once); the daemon ticks every
`--tick`. Every 5 s the farm gets a round of news; every 20 s one feed starts failing (503)
for 30 s. At the end:

- duplicates: none (one article per feed and identity, one per canonical URL), the story
  index whole and the store's own check clean (bench/churn.py's Audit, `Store.check()`);
- lock errors surfaced to the operator: none in any process's stdout / stderr ("locked",
  "busy", "deadlock", "lock timeout"), nor any traceback or store error line;
- schedules: every fetch the store recorded (read every few seconds: it keeps a feed's last
  20) scheduled its next poll within the bounds
  (min_interval .. max_interval after a success, min_interval .. the backoff cap + 25 %
  jitter after a failure), and how late feeds were fetched against their schedule;
- metrics: the daemon's /metrics counters plus the cron runs' summaries equal the store's
  counts and the farm's (fetches = fetch records seen = requests the farm answered; new
  articles = the store's articles), at a moment when the daemon is between passes (read
  until they agree, 60 s at most);
- the daemon's RSS sampled every `--sample` seconds (the curve, its slope over the second
  half), and its CPU per pass.

Exit 1 when an invariant fails (the RSS curve is reported, not judged).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.churn import Audit, ChurnFarm, cli_env, is_pg
from bench.crash import add_feeds

__all__ = ["SoakReport", "lock_errors", "main", "rss_slope", "schedule_faults", "soak"]

MIN_S, MAX_S, BACKOFF_S = 2, 10, 60
_JITTER = 0.25  # ingest.schedule's on failures
LOCK_WORDS = re.compile(r"locked|\bbusy\b|deadlock|lock timeout|could not obtain lock", re.I)
_SUMMARY = re.compile(r"^\d+ feeds?: .*; (\d+) new, (\d+) updated articles", re.M)
_FEEDS = re.compile(r"^(\d+) feeds?: ", re.M)


@dataclass
class SoakReport:
    seconds: float = 0.0
    cron_runs: int = 0
    cron_skipped: int = 0  # a line's start left out: two of its runs still running
    daemon_passes: float = 0.0
    fetches_store: int = 0  # fetch records seen
    fetches_farm: int = 0  # requests the farm answered
    fetches_reported: int = 0
    articles_store: int = 0
    new_reported: int = 0
    problems: list[str] = field(default_factory=list)  # duplicates, story index, check
    lock_errors: list[str] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)  # tracebacks, store errors
    schedule_faults: list[str] = field(default_factory=list)
    intervals_ok: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (minute, MB)
    cpu_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not (
            self.problems
            or self.lock_errors
            or self.other_errors
            or self.schedule_faults
            or not self.fetches_store == self.fetches_farm == self.fetches_reported
            or self.articles_store != self.new_reported
        )


def lock_errors(text: str) -> list[str]:
    """Lines an operator would read as a lock problem."""
    return [line for line in text.splitlines() if LOCK_WORDS.search(line)]


def other_errors(text: str) -> list[str]:
    """Tracebacks and store failures (a run's "Error: ..." line, a failed tick)."""
    return [
        line
        for line in text.splitlines()
        if line.startswith(("Traceback", "Error: ")) or "tick failed" in line
    ]


def schedule_faults(
    rows: list[tuple[str, str, str, str | None]], lo: float, hi: float, cap: float
) -> tuple[list[str], list[float], list[float]]:
    """Fetch records (feed, at, outcome, next_poll_at) whose next poll is outside the bounds;
    the intervals after successes; how late each fetch came after the poll its feed's
    previous fetch scheduled."""
    faults: list[str] = []
    intervals: list[float] = []
    late: list[float] = []
    previous: dict[str, datetime] = {}
    for feed, at_raw, outcome, next_raw in rows:
        at = _when(at_raw)
        if feed in previous:
            late.append((at - previous[feed]).total_seconds())
        if next_raw is None:
            faults.append(f"{feed} at {at_raw}: no next poll")
            continue
        nxt = _when(next_raw)
        previous[feed] = nxt
        interval = (nxt - at).total_seconds()
        top = hi if outcome != "error" else cap * (1 + _JITTER)
        if not lo - 1 <= interval <= top + 1:  # whole seconds
            faults.append(f"{feed} at {at_raw} ({outcome}): next poll in {interval:.0f} s")
        if outcome != "error":
            intervals.append(interval)
    return faults, intervals, late


def _when(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def rss_slope(samples: list[tuple[float, float]]) -> float:
    """MB per minute, least squares over the second half of the samples (the first is
    warm-up: imports, caches, the store's pages)."""
    if len(samples) < 4:
        return 0.0
    pts = samples[len(samples) // 2 :]
    if len(pts) < 2:
        return 0.0
    return statistics.linear_regression([p[0] for p in pts], [p[1] for p in pts]).slope


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS in MB) of a process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class _CronLine(threading.Thread):
    """One crontab line: `ingest run` every `every_s`, from `offset_s` on."""

    def __init__(self, db: str | Path, env: dict[str, str], every_s: float, offset_s: float):
        super().__init__(daemon=True)
        self.db, self.env, self.every_s, self.offset_s = db, env, every_s, offset_s
        self.stop = threading.Event()
        self.outputs: list[str] = []
        self.started = 0
        self.skipped = 0
        self.running: list[subprocess.Popen[str]] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        if self.stop.wait(self.offset_s):
            return
        while not self.stop.is_set():
            with self.lock:
                self.running = [p for p in self.running if p.poll() is None]
                if len(self.running) >= 2:
                    self.skipped += 1
                else:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "ingest", "--db", str(self.db), "run"],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                        env=self.env,
                    )
                    self.running.append(proc)
                    self.started += 1
                    threading.Thread(target=self._collect, args=(proc,), daemon=True).start()
            self.stop.wait(self.every_s)

    def _collect(self, proc: subprocess.Popen[str]) -> None:
        out, _ = proc.communicate()
        with self.lock:
            self.outputs.append(out)

    def finish(self) -> None:
        self.stop.set()
        self.join()
        for proc in list(self.running):
            proc.wait(timeout=300)
        time.sleep(0.2)  # the collectors' last appends


def soak(
    db: str | Path,
    minutes: float,
    *,
    crons: int = 3,
    cron_every_s: float = 5.0,
    tick: str = "2s",
    sample_s: float = 10.0,
    seed: int = 1,
    log_dir: Path | None = None,
    verbose: bool = False,
) -> SoakReport:
    env = cli_env(
        INGEST_MIN_INTERVAL=f"{MIN_S}s",
        INGEST_MAX_INTERVAL=f"{MAX_S}s",
        INGEST_MAX_BACKOFF=f"{BACKOFF_S}s",
    )
    report = SoakReport()
    audit = Audit(db)
    log_dir = log_dir or Path(".")
    log_dir.mkdir(parents=True, exist_ok=True)
    daemon_log = log_dir / "soak-daemon.log"
    with ChurnFarm(seed=seed, max_delay_s=0.2) as farm:
        add_feeds(db, farm, env)
        port = _free_port()
        with daemon_log.open("w") as logf:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "ingest", "--db", str(db), "daemon", "--tick", tick,
                 "--metrics-port", str(port)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip
            lines = [
                _CronLine(db, env, cron_every_s, cron_every_s * i / crons) for i in range(crons)
            ]
            for line in lines:
                line.start()
            t0 = time.monotonic()
            end = t0 + minutes * 60
            next_news = next_fail = next_sample = next_records = t0
            records: dict[int, tuple[int, str, str, str, str | None]] = {}
            failing: dict[str, float] = {}
            cpu0 = None
            try:
                while (now := time.monotonic()) < end:
                    if now >= next_news:
                        farm.advance()
                        next_news = now + 5
                    if now >= next_fail:
                        url = farm.rng.choice(farm.urls)
                        farm.fail(url, True)
                        failing[url] = now + 30
                        next_fail = now + 20
                    for url, until in list(failing.items()):
                        if now >= until:
                            farm.fail(url, False)
                            del failing[url]
                    if now >= next_records:
                        # every row each time (at most 20 a feed): on PostgreSQL ids do not
                        # commit in order, so "after the last id seen" could miss one
                        records.update((r[0], r) for r in audit.fetch_records())
                        next_records = now + 5
                    if now >= next_sample:
                        cpu, rss = _proc_cpu_rss(daemon.pid)
                        cpu0 = cpu if cpu0 is None else cpu0
                        report.rss_mb.append((round((now - t0) / 60, 3), round(rss, 2)))
                        if verbose:
                            print(
                                f"{(now - t0) / 60:6.2f} min  daemon RSS {rss:7.2f} MB", flush=True
                            )
                        next_sample = now + sample_s
                    time.sleep(0.2)
                for url in failing:
                    farm.fail(url, False)
                for line in lines:
                    line.finish()
                cpu, _ = _proc_cpu_rss(daemon.pid)
                report.cpu_s = cpu - (cpu0 or 0.0)
                outputs = [out for line in lines for out in line.outputs]
                cron_fetches = sum(int(m.group(1)) for o in outputs for m in _FEEDS.finditer(o))
                cron_new = sum(int(m.group(1)) for o in outputs for m in _SUMMARY.finditer(o))
                deadline = time.monotonic() + 60
                while True:  # the daemon between passes: every count in step
                    metrics = _metrics(port)
                    records.update((r[0], r) for r in audit.fetch_records())
                    report.fetches_farm = farm.answered()
                    report.fetches_reported = cron_fetches + int(
                        sum(v for k, v in metrics.items() if k.startswith("ingest_fetches_total"))
                    )
                    report.new_reported = cron_new + int(
                        metrics.get('ingest_articles_total{kind="new"}', 0)
                    )
                    report.fetches_store = len(records)
                    report.articles_store = audit.counts()["articles"]
                    if time.monotonic() > deadline or (
                        report.fetches_store == report.fetches_farm == report.fetches_reported
                        and report.new_reported == report.articles_store
                    ):
                        break
                    time.sleep(0.1)
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=120)
            report.seconds = time.monotonic() - t0
    tick_s = float(tick.rstrip("s"))
    report.daemon_passes = report.seconds / tick_s
    report.cron_runs = sum(line.started for line in lines)
    report.cron_skipped = sum(line.skipped for line in lines)
    daemon_text = daemon_log.read_text()
    for text in [*outputs, daemon_text]:
        report.lock_errors += lock_errors(text)
        report.other_errors += other_errors(text)
    if daemon.returncode != 0:
        report.other_errors.append(f"the daemon exited {daemon.returncode}")
    from storage import open_store

    store = open_store(db)
    try:
        report.problems = [f"store check: {p}" for p in store.check()]
    finally:
        store.close()
    report.problems += audit.problems()
    report.schedule_faults, report.intervals_ok, report.lateness = schedule_faults(
        [records[i][1:] for i in sorted(records)], MIN_S, MAX_S, BACKOFF_S
    )
    return report


def describe(r: SoakReport) -> str:
    def pct(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))] if values else 0.0

    curve = r.rss_mb
    marks = [curve[int(i * (len(curve) - 1) / 10)] for i in range(11)] if curve else []
    lines = [
        f"soak: {r.seconds / 60:.1f} min, {r.cron_runs} cron runs ({r.cron_skipped} starts left"
        f" out: two of the line still running), daemon ~{r.daemon_passes:.0f} passes",
        f"duplicates / story index / store check: {len(r.problems)} problems",
        f"lock errors surfaced: {len(r.lock_errors)}; other errors: {len(r.other_errors)}",
        f"schedules: {len(r.schedule_faults)} outside the bounds ({MIN_S}..{MAX_S} s after a"
        f" success, ..{BACKOFF_S} s + 25% after a failure); interval after a success p50"
        f" {pct(r.intervals_ok, 0.5):.0f} s, min {min(r.intervals_ok, default=0):.0f},"
        f" max {max(r.intervals_ok, default=0):.0f}; fetched after due: p50"
        f" {pct(r.lateness, 0.5):.1f} s, p95 {pct(r.lateness, 0.95):.1f} s,"
        f" max {max(r.lateness, default=0):.1f} s",
        f"metrics vs store: fetches {r.fetches_reported} reported / {r.fetches_store} recorded"
        f" / {r.fetches_farm} answered by the farm;"
        f" new articles {r.new_reported} reported / {r.articles_store} stored",
        f"daemon CPU: {r.cpu_s:.1f} s in all, {1000 * r.cpu_s / max(r.daemon_passes, 1):.0f} ms"
        f" a pass",
        "daemon RSS (min: MB): " + ", ".join(f"{t:.1f}: {mb:.1f}" for t, mb in marks),
        f"daemon RSS slope over the second half: {rss_slope(curve):+.3f} MB/min",
        "PASSED" if r.passed else "FAILED",
    ]
    for what in ("problems", "lock_errors", "other_errors", "schedule_faults"):
        for line in getattr(r, what)[:10]:
            lines.append(f"  {what}: {line}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--db", help="a postgresql:// URL (default: a new SQLite file)")
    ap.add_argument("--tick", default="2s")
    ap.add_argument("--cron-every", type=float, default=5.0)
    ap.add_argument("--sample", type=float, default=None, help="RSS sample period (s)")
    ap.add_argument("--work", type=Path, default=Path("bench/out/soak"))
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    db: str | Path = args.db or (args.work / f"soak-{os.getpid()}.db").resolve()
    if not is_pg(db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    sample = args.sample or max(5.0, args.minutes * 60 / 120)
    print(f"soak: {args.minutes} min on {db}", flush=True)
    r = soak(
        db,
        args.minutes,
        cron_every_s=args.cron_every,
        tick=args.tick,
        sample_s=sample,
        log_dir=args.work,
        verbose=True,
    )
    print(describe(r))
    if args.json:
        args.json.write_text(json.dumps(r.__dict__, indent=1, default=str))
    return 0 if r.passed else 1


if __name__ == "__main__":
    sys.exit(main())
