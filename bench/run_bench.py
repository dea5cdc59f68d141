"""`make bench`: the project against lemon24/reader on a loopback farm of real news (issue #13).

    python -m bench.run_bench [--quick] [--sizes 1000] [--no-reader] [--data ../shared/newsdata]
                              [--latency 0.05] [--text words] [--repeats 3] [--floor] [--big-mb 50]

The farm (bench.farm, a separate process) serves N feeds x 50 items made of real English news
text read at run time from ../shared/newsdata (bench.realtext; never copied into the repo:
where it is absent the bench says so and stops), dated over the last two days, with page
debris and a tenth of wire copies carried by several feeds, over 127.1.x.y hosts, 5 a host,
every tenth feed without validators. `--text words` serves the invented vocabulary instead:
a labelled micro-benchmark, not the headline figures. Then for each tool:

  cold        an empty database, every feed fetched, parsed and stored
  warm        right after: conditional requests, 304 for the feeds that send validators
  unchanged   the farm stops sending validators: every feed answers 200 with the same bytes
  news        a day-to-day poll: each feed has one new item on top (its oldest gone) and new
              validators; CPU per new article is reported
  politeness  ours alone at every default (per_host_delay 1 s): cold, then warm, into a new
              database; the side-by-side above sets per_host_delay = 0 since reader has none

Each scenario is one whole process, timed from spawn to exit, as cron would run it:
`bench/.venv-ingest/bin/ingest --db X run --all --timings` (this checkout installed editable
with its own dependencies only, as a user installs it: created here when missing), and for
reader `update_feeds(scheduled=False)` in its own venv (bench/.venv-reader, likewise). Peak RSS is the peak of the
sum of VmRSS over the process tree, sampled every 10 ms from /proc; CPU is user + system time
of the process and every descendant it waited for (getrusage of the reaped children).
Results: a table on stdout and bench/out/results.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.realtext import DEFAULT_DATA, NewsDataMissingError

__all__ = ["Measure", "main", "measure", "tree_rss_kb"]

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
READER_VENV = BENCH / ".venv-reader"
# ours as a user installs it: the project's own dependencies only. The development venv also
# holds the test tools' packages, and some change what a run imports: trio (selenium's) is
# imported by httpcore whenever installed, rich and pygments (schemathesis') make httpx load
# its command line, h2 and socksio (extras) are loaded by httpcore -- ~10 MB and ~0.1 s more
# in every process, not what a user's process carries
USER_VENV = BENCH / ".venv-ingest"
READER_PKGS = ["reader==3.26", "sgmllib3k"]
TARGETS = {"cold": 4.0, "warm": 6.0, "unchanged": 20.0}  # x reader, at 1,000 feeds
RSS_TARGET_MB = 150.0
POLITE_WARM_TARGET_S = 10.0

# Every other setting is the default a user gets (concurrency 20, 2 requests in flight a
# host, 2 worker processes ...). The farm is on 127.0.0.0/8, which a default install refuses.
BASE_ENV = {"INGEST_ALLOW_PRIVATE_NETWORKS": "1", "INGEST_LOG_LEVEL": "WARNING"}
# the side-by-side with reader: reader keeps no gap between two requests to one host
OUR_ENV = {**BASE_ENV, "INGEST_PER_HOST_DELAY": "0"}


# --------------------------------------------------------------------------- measuring


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree_rss_kb(pid: int) -> int:
    """Sum of VmRSS (kB) of `pid` and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack.extend(_children(p))
    return total


@dataclass(slots=True)
class Measure:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    stages: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0  # user + system of the process and the descendants it reaped


def measure(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> Measure:
    """Run `cmd` to completion: wall time from spawn to exit and peak RSS of its tree."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    done.set()
    sampler.join()
    stages: dict[str, float] = {}
    m = re.search(r"^stages: (.*)$", out, re.M)
    if m:
        for part in m.group(1).split():
            k, _, v = part.partition("=")
            stages[k] = float(v.rstrip("s"))
    return Measure(elapsed, peak / 1024, proc.returncode, out, err, stages, cpu)


# --------------------------------------------------------------------------- the farm


class Farm:
    """bench.farm in a child process."""

    def __init__(
        self,
        feeds: int,
        opml: Path,
        octet: int,
        big_mb: float = 0.0,
        slow_share: float = 0.0,
        *,
        text: str = "news",
        data: Path | None = None,
        latency: float = 0.0,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "bench.farm",
            "--feeds",
            str(feeds),
            "--opml",
            str(opml),
            "--second-octet",
            str(octet),
            "--max-seconds",
            "10800",  # a loaded machine took over 50 minutes for one make bench
        ]
        if big_mb:
            cmd += ["--big-mb", str(big_mb)]
        if slow_share:
            cmd += ["--slow-share", str(slow_share)]
        cmd += ["--text", text, "--latency", str(latency)]
        if data is not None:
            cmd += ["--data", str(data)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.startswith("NODATA "):
            self.stop()
            raise NewsDataMissingError(line.removeprefix("NODATA ").strip())
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the feed farm did not start: {line!r}")
        self.stats_url = line.split()[1]
        self.base = self.stats_url.rsplit("/_farm/", 1)[0]

    def _get(self, path: str) -> dict[str, object]:
        # generous: a round of news rebuilds every feed (slow on a busy machine)
        with urllib.request.urlopen(self.base + path, timeout=600) as r:
            data: dict[str, object] = json.loads(r.read())
            return data

    def stats(self) -> dict[str, object]:
        return self._get("/_farm/stats")

    def reset(self) -> None:
        self._get("/_farm/reset")

    def validators(self, on: bool) -> None:
        self._get(f"/_farm/validators?on={int(on)}")

    def news(self, rounds: int) -> None:
        self._get(f"/_farm/news?round={rounds}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# --------------------------------------------------------------------------- the two tools


def ensure_reader_venv() -> Path | None:
    """bench/.venv-reader/bin/python with reader installed (created when missing), or None."""
    py = READER_VENV / "bin" / "python"
    if py.exists():
        ok = subprocess.run([str(py), "-c", "import reader"], capture_output=True)
        if ok.returncode == 0:
            return py
    print(f"creating {READER_VENV.relative_to(ROOT)} with {' '.join(READER_PKGS)} ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(READER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *READER_PKGS], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not install reader ({exc}); running without the peer", file=sys.stderr)
        return None
    return py


def ensure_user_venv() -> Path:
    """The bin/ folder of bench/.venv-ingest: this checkout installed editable with its own
    dependencies (and the `postgres` extra, for the PostgreSQL rows), no development tools;
    made when missing and again when pyproject.toml changed. Falls back to .venv/bin (said
    on stderr) when it cannot be installed."""
    py = USER_VENV / "bin" / "python"
    stamp = USER_VENV / ".pyproject"
    want = (ROOT / "pyproject.toml").read_bytes()
    if py.exists() and stamp.exists() and stamp.read_bytes() == want:
        return USER_VENV / "bin"
    print(f"creating {USER_VENV.relative_to(ROOT)} (ours as a user installs it) ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(USER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}[postgres]"],
                       check=True)  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not install {USER_VENV.name} ({exc}); measuring .venv (development "
              "tools included)", file=sys.stderr)  # fmt: skip
        return ROOT / ".venv" / "bin"
    stamp.write_bytes(want)
    return USER_VENV / "bin"


OUR_BIN = USER_VENV / "bin"  # set by main() through ensure_user_venv()


def our_cmd(db: Path, *args: str) -> list[str]:
    return [str(OUR_BIN / "ingest"), "--db", str(db), *args]


def our_env(settings: dict[str, str] = OUR_ENV) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(settings)
    return env


def remove_db(db: Path) -> None:
    """A SQLite store gone, with its write-ahead log and index, for a run from empty."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _new_db(db: Path, opml: Path, env: dict[str, str]) -> None:
    remove_db(db)
    imp = subprocess.run(
        our_cmd(db, "feeds", "import", str(opml)), env=env, capture_output=True, text=True, cwd=ROOT
    )
    if imp.returncode != 0:
        raise RuntimeError(f"ingest feeds import failed: {imp.stderr or imp.stdout}")


_NEW = re.compile(r"(\d+) new")


def _run_ours_once(db: Path, env: dict[str, str]) -> tuple[Measure, int]:
    """One `ingest run --all` and the new articles its summary line reports."""
    m = measure(our_cmd(db, "run", "--all", "--timings"), env)
    found = _NEW.search(m.stdout)
    return m, int(found.group(1)) if found else 0


def run_ours(
    db: Path, opml: Path, farm: Farm, scenarios: list[str], *, floor: bool = False,
    repeats: int = 3,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    env = our_env()
    _new_db(db, opml, env)
    out = _scenarios(
        farm,
        scenarios,
        functools.partial(_run_ours_once, db, env),
        repeats,
    )
    # what a cron run costs when nothing is due (the whole process, imports included)
    idle = min((measure(our_cmd(db, "run"), env) for _ in range(3)), key=lambda m: m.seconds)
    out["idle"] = {
        "seconds": round(idle.seconds, 3),
        "peak_rss_mb": round(idle.peak_rss_mb, 1),
        "returncode": idle.returncode,
        "summary": idle.stdout.strip()[:200],
    }
    if floor:
        out["floor"] = run_floor(db.with_name(f"{db.stem}-floor.db"), opml, farm)
    return out


def run_politeness(db: Path, opml: Path, farm: Farm, repeats: int) -> dict[str, dict[str, Any]]:
    """Ours alone at every default, per_host_delay 1 s included: a cold run into a new
    database, then warm runs (304s). The bound a pass approaches: max over hosts of (feeds of
    the host - 1) x delay, plus transfer time."""
    env = our_env(BASE_ENV)
    _new_db(db, opml, env)
    return _scenarios(
        farm,
        ["cold", "warm"],
        functools.partial(_run_ours_once, db, env),
        repeats,
    )


def run_floor(db: Path, opml: Path, farm: Farm) -> dict[str, Any]:
    """A cold run with story dedup and the search index taken out (bench/floor.py): the
    rest of the pipeline's own floor, beside the cold run's time."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = our_env()
    subprocess.run(our_cmd(db, "feeds", "import", str(opml)), env=env, check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    farm.validators(True)
    farm.reset()
    py = str(OUR_BIN / "python")
    m = measure([py, "-m", "bench.floor", "--db", str(db), "run", "--all", "--timings"], env)
    return {
        "seconds": round(m.seconds, 3),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "returncode": m.returncode,
        "stages": m.stages,
        "summary": (m.stdout.strip().splitlines() or [""])[0][:200],
        "http": farm.stats().get("by_status"),
    }


def run_reader(
    py: Path, db: Path, opml: Path, farm: Farm, scenarios: list[str], repeats: int = 3
) -> dict[str, dict[str, Any]]:
    db.unlink(missing_ok=True)
    script = str(BENCH / "reader_run.py")
    add = subprocess.run(
        [str(py), script, "add", str(db), str(opml)], capture_output=True, text=True
    )
    if add.returncode != 0:
        raise RuntimeError(f"reader add failed: {add.stderr}")
    entries = [0]

    def update() -> tuple[Measure, int]:
        m = measure([str(py), script, "update", str(db)])
        try:
            total = int(json.loads(m.stdout.strip().splitlines()[-1])["entries"])
        except (ValueError, KeyError, IndexError):
            total = entries[0]
        new, entries[0] = total - entries[0], total
        return m, new

    return _scenarios(farm, scenarios, update, repeats)


def _scenarios(
    farm: Farm,
    scenarios: list[str],
    run: Callable[[], tuple[Measure, int]],
    repeats: int = 3,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in scenarios:
        farm.validators(name != "unchanged")
        # a cold run changes the state it starts from; warm and unchanged runs leave it as
        # they found it, so they are repeated and the median taken (runs of ~0.5 s vary by
        # ~10% on a shared 2-core machine: one sample would decide a 10x ratio by chance)
        # news: each run finds one more round of news (one new item on top of each feed, its
        # oldest gone, new validators) -- a day-to-day poll. Both tools see the same rounds;
        # the farm goes back to the feeds as built afterwards (the next tool starts cold)
        runs: list[tuple[Measure, int]] = []
        for r in range(1 if name == "cold" else repeats):
            if name == "news":
                farm.news(r + 1)
            farm.reset()
            runs.append(run())
        if name == "news":
            farm.news(0)
        stats = farm.stats()
        m, new = sorted(runs, key=lambda r: r[0].seconds)[len(runs) // 2]
        print(f"  .. {name}: {m.seconds:.2f} s, {m.peak_rss_mb:.0f} MB", flush=True)
        out[name] = {
            "seconds": round(m.seconds, 3),
            "runs_seconds": [round(r.seconds, 3) for r, _ in runs],
            "peak_rss_mb": round(max(r.peak_rss_mb for r, _ in runs), 1),
            "cpu_s": round(m.cpu_s, 3),
            "new_articles": new,
            "cpu_ms_per_new": round(1000 * m.cpu_s / new, 3) if new else None,
            "returncode": m.returncode,
            "stages": m.stages,
            "summary": (m.stdout.strip().splitlines() or [""])[0][:200],
            "http": stats.get("by_status"),
            "stderr_tail": m.stderr.strip()[-300:],
        }
        farm.validators(True)
    return out


# --------------------------------------------------------------------------- report


def _fmt_row(
    label: str, ours: dict[str, Any], peer: dict[str, Any] | None, target: float | None
) -> str:
    s = float(ours["seconds"])
    per = ours.get("cpu_ms_per_new")
    row = (
        f"  {label:<10} ours {s:7.2f} s {float(ours['peak_rss_mb']):6.1f} MB"
        f" cpu {float(ours.get('cpu_s', 0)):6.2f} s" + (f" ({per:.2f} ms/new)" if per else " " * 15)
    )
    if peer:
        p = float(peer["seconds"])
        ratio = p / s if s else float("inf")
        mark = ""
        if target:
            mark = "  ok" if ratio >= target else f"  BELOW TARGET {target:.0f}x"
        pper = peer.get("cpu_ms_per_new")
        row += (
            f" | reader {p:7.2f} s {float(peer['peak_rss_mb']):6.1f} MB"
            f" cpu {float(peer.get('cpu_s', 0)):6.2f} s"
            + (f" ({pper:.2f} ms/new)" if pper else " " * 15)
            + f" | {ratio:5.1f}x{mark}"
        )
    if ours.get("returncode"):
        row += f"  (exit {ours['returncode']})"
    return row


def _details(name: str, res: dict[str, Any]) -> None:
    st = res["stages"]
    stages = " ".join(f"{k}={v:.2f}" for k, v in st.items()) or "(none printed)"
    print(f"    {name:<10} stages {stages}; farm answered {res['http']}")
    print(f"    {'':<10} {res['summary']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.run_bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--quick", action="store_true", help="100 feeds, one run a scenario")
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the newsdata folder")
    ap.add_argument(
        "--text", choices=("news", "words"), default="news",
        help="words: the invented-vocabulary farm, a micro-benchmark",
    )  # fmt: skip
    ap.add_argument("--latency", type=float, default=0.0, help="farm delay per request (s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of warm / unchanged / news")
    ap.add_argument("--no-politeness", action="store_true")
    ap.add_argument("--floor", action="store_true", help="also the no-dedup what-if")
    ap.add_argument("--big-mb", type=float, default=0.0, help="also one feed of this size")
    ap.add_argument("--slow-share", type=float, default=0.0, help="share of slow farm hosts")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--no-postgres", action="store_true", help="no PostgreSQL rows")
    a = ap.parse_args(argv)
    sizes = [100] if a.quick else [int(x) for x in a.sizes.split(",") if x.strip()]
    repeats = 1 if a.quick else max(1, a.repeats)
    big_mb = 0.0 if a.quick else a.big_mb
    a.out.mkdir(parents=True, exist_ok=True)
    if not (ROOT / ".venv" / "bin" / "ingest").exists():
        print("no .venv/bin/ingest: run `make install` first", file=sys.stderr)
        return 2
    if a.text == "news" and not a.data.is_dir():
        print(
            f"bench: {a.data} is absent. The farm's items are real news text read there at run "
            "time (third-party, never copied into the repo); give --data PATH "
            "(make bench NEWSDATA=PATH). Nothing measured.",
            file=sys.stderr,
        )
        return 0
    global OUR_BIN
    OUR_BIN = ensure_user_venv()
    reader_py = None if a.no_reader else ensure_reader_venv()
    # our package is installed editable, and this machine sets PYTHONDONTWRITEBYTECODE=1:
    # every run would compile our sources again (~30 ms a process), where an installed
    # package -- reader's, in its venv -- ships its bytecode. Compile ours once, as pip would.
    subprocess.run(
        [str(OUR_BIN / "python"), "-m", "compileall", "-q", "ingest", "storage"],
        cwd=ROOT,
        check=True,
    )
    scenarios = ["cold", "warm", "unchanged", "news"]
    label = (
        "real English news text from " + str(a.data)
        if a.text == "news"
        else "MICRO-BENCHMARK: invented words (no real-text costs; not the headline figures)"
    )
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Linux {platform.release()}",
        "python": platform.python_version(),
        "text": label,
        "latency_s": a.latency,
        "settings": OUR_ENV,
        "politeness_settings": BASE_ENV,
        "reader": "reader 3.26, make_reader(db).update_feeds(scheduled=False), workers=1 (default)",
        "sizes": {},
    }
    print(f"machine: {results['machine']}; python {results['python']}")
    print(f"farm:   {label}; latency {a.latency:g} s a request")
    print(
        f"ours:   {OUR_BIN.relative_to(ROOT)}/ingest --db X run --all --timings, default settings but "
        + " ".join(f"{k}={v}" for k, v in OUR_ENV.items())
        + " (reader has no per-host delay)"
    )
    if reader_py:
        print(f"reader: {results['reader']}")
    try:
        for i, n in enumerate(sizes):
            _one_size(a, i, n, scenarios, reader_py, repeats, results)
    except NewsDataMissingError as exc:
        print(f"bench: {exc}. Nothing measured.", file=sys.stderr)
        return 0
    if big_mb:
        opml = a.out / "farm-big.opml"
        farm = Farm(0, opml, octet=9, big_mb=big_mb, text=a.text, data=a.data)
        try:
            big = run_ours(a.out / "ours-big.db", opml, farm, ["cold"], repeats=1)["cold"]
        finally:
            farm.stop()
        results["big_feed"] = {"mb": big_mb, **big}
        print(
            f"\none feed of {big_mb:.0f} MB: {big['seconds']:.2f} s, peak RSS {big['peak_rss_mb']:.1f} MB ({big['summary']})"
        )
    peak = max(
        float(s["ours"][k]["peak_rss_mb"]) for s in results["sizes"].values() for k in scenarios
    )
    print(
        f"\npeak RSS of our process tree over all scenarios: {peak:.1f} MB (target <= {RSS_TARGET_MB:.0f} MB)"
    )
    (a.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {(a.out / 'results.json').relative_to(ROOT)}")
    return 0


def _one_size(
    a: argparse.Namespace,
    i: int,
    n: int,
    scenarios: list[str],
    reader_py: Path | None,
    repeats: int,
    results: dict[str, Any],
) -> None:
    opml = a.out / f"farm-{n}.opml"
    farm = Farm(
        n, opml, octet=1 + i, slow_share=a.slow_share, text=a.text, data=a.data, latency=a.latency
    )
    done = results["sizes"][str(n)] = {}  # saved as each tool finishes

    def save(key: str, value: object) -> None:
        done[key] = value
        (a.out / "results.json").write_text(json.dumps(results, indent=2, default=str))

    try:
        print(f"{n} feeds: ours ...", flush=True)
        ours = run_ours(a.out / f"ours-{n}.db", opml, farm, scenarios, floor=a.floor,
                        repeats=repeats)  # fmt: skip
        save("ours", ours)
        print(f"{n} feeds: reader ...", flush=True)
        peer = (
            run_reader(reader_py, a.out / f"reader-{n}.sqlite", opml, farm, scenarios, repeats)
            if reader_py
            else None
        )
        save("reader", peer)
        print(f"{n} feeds: ours, politeness at the defaults ...", flush=True)
        polite = (
            None
            if a.no_politeness
            else run_politeness(a.out / f"polite-{n}.db", opml, farm, repeats)
        )
        save("politeness", polite)
        if not a.no_postgres:
            print(f"{n} feeds: ours into PostgreSQL ...", flush=True)
            from bench.pg_bench import run_postgres

            ours["postgres"] = run_postgres(opml, farm, our_cmd, our_env(), ROOT)
            save("ours", ours)
    finally:
        farm.stop()
    print(
        f"\n{n} feeds x 50 items (farm: {n // 5} hosts 127.{1 + i}.x.y, 5 feeds a host, "
        "every 10th feed without validators)"
    )
    print("  side by side, per_host_delay = 0 (reader has none); every other setting default")
    for name in scenarios:
        target = TARGETS.get(name) if n >= 1000 else None
        print(_fmt_row(name, ours[name], peer[name] if peer else None, target))
    idle = ours["idle"]
    print(
        f"  {'idle':<10} ours {idle['seconds']:7.2f} s {idle['peak_rss_mb']:6.1f} MB"
        f"  (cron run with nothing due: {idle['summary']!r})"
    )
    if "floor" in ours:
        print(
            _fmt_row("floor", ours["floor"], peer["cold"] if peer else None, None)
            + "  (cold, what-if: no story dedup, no search index; bench/floor.py)"
        )
    if polite:
        bound = 4 * 1.0  # 5 feeds a host, 1 s apart: 4 gaps
        print(f"  politeness, every default (per_host_delay 1 s; bound ~{bound:.0f} s + transfer)")
        for name in ("cold", "warm"):
            row = _fmt_row(name, polite[name], None, None)
            if name == "warm" and n >= 1000:
                ok = polite[name]["seconds"] <= POLITE_WARM_TARGET_S
                row += "  ok" if ok else f"  ABOVE TARGET {POLITE_WARM_TARGET_S:.0f} s"
            print(row)
    for row, pg in ours.get("postgres", {}).items():
        if "skipped" in pg:
            print(f"  {row:<10} skipped: {pg['skipped']}")
            continue
        print(
            f"  {row:<10} ours {pg['seconds']:7.2f} s  cold run --all into PostgreSQL, "
            f"{row[3:]} process(es) at once: {pg['articles']} articles, "
            f"{pg['requests']} requests (farm answered {pg['http']})"
        )
    print("  our stages (--timings):")
    for name in [*scenarios, *(["floor"] if "floor" in ours else [])]:
        _details(name, ours[name])
    for name in ("cold", "warm") if polite else ():
        _details(f"polite-{name}", polite[name])


if __name__ == "__main__":
    raise SystemExit(main())
