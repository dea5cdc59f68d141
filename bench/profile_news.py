"""Where a steady-state poll's CPU goes (issue #13 "news"): the news scenario, profiled.

    python -m bench.profile_news [--feeds 200] [--data ../shared/newsdata] [--top 30]

The farm (bench.farm, a separate process) serves `--feeds` feeds x 50 items; a cold
`ingest run --all` stores them (not profiled), the farm moves to `/_farm/news?round=1` (one new
item on top of each feed, its oldest gone), and that second run is `python -m cProfile -m
ingest ... run --all` with one worker process (INGEST_WORKERS=1) and no per-host delay.
Printed: CPU per NEW article by area (bench.profile_cold's areas) and the top functions by own
time; the raw profile is bench/out/profile-news.prof.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import time
from pathlib import Path

from bench import run_bench
from bench.profile_cold import by_area
from bench.realtext import DEFAULT_DATA
from bench.run_bench import OUR_ENV, ROOT, Farm, ensure_user_venv, our_cmd, our_env, remove_db

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_news", description=__doc__)
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args(argv)
    if not a.data.is_dir():
        print(f"profile: {a.data} is absent; nothing run", file=sys.stderr)
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    run_bench.OUR_BIN = ensure_user_venv()
    db = a.out / "profile-news.db"
    prof = a.out / "profile-news.prof"
    remove_db(db)
    env = our_env({**OUR_ENV, "INGEST_WORKERS": "1"})
    opml = a.out / "profile-news-farm.opml"
    farm = Farm(a.feeds, opml, octet=8, data=a.data)
    try:
        run = our_cmd(db, "run", "--all")
        subprocess.run(our_cmd(db, "feeds", "import", str(opml)), env=env, check=True,
                       capture_output=True, cwd=ROOT)  # fmt: skip
        subprocess.run(run, env=env, check=True, capture_output=True, cwd=ROOT)
        farm.news(1)
        py = str(run_bench.OUR_BIN / "python")
        cmd = [py, "-m", "cProfile", "-o", str(prof), "-m", "ingest", "--db", str(db),
               "run", "--all"]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
    finally:
        farm.stop()
    print(done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr[-500:])
    stats = pstats.Stats(str(prof))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    new = a.feeds  # one new item a feed
    print(f"\n{a.feeds} feeds, one new item of 50 each, one process; wall {wall:.2f} s "
          f"(under cProfile), profiled CPU {total:.2f} s = {1e3 * total / new:.2f} ms "
          "a new article")  # fmt: skip
    for area, tt in sorted(by_area(raw).items(), key=lambda kv: -kv[1]):
        print(f"  {100 * tt / total:5.1f} %  {1e3 * tt / new:6.2f} ms/new article  {area}")
    print(f"\ntop {a.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(a.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
