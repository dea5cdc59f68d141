"""Interleaved A/B of the steady state (the bench's "news" scenario): CPU per new article of
each source tree, one farm.

    python -m bench.ab_news --src /tmp/base --src . [--feeds 200] [--rounds 3] [--workers 1]

The real-text farm (bench.farm) serves `--feeds` feeds x 50 items. Each tree gets its own
store, filled by one cold `ingest run --all` (its CPU an article shown, not compared). Then,
for each round r, the farm moves to `/_farm/news?round=r` (one new item on top of every
feed, its oldest gone) and every tree in turn (A, B, A, B ...) runs `python -P -m ingest --db
X run --all --timings` on its store, with PYTHONPATH=<tree> (-P: the working directory, this
checkout, does not come first on the path), at `INGEST_PER_HOST_DELAY=0` and every other
setting default (`--workers` sets INGEST_WORKERS). Reported per tree: the median CPU (user +
system of the whole process tree) per new article, the median wall time, the per-stage sums
and the items normalized / held unchanged that the run prints.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bench.realtext import DEFAULT_DATA
from bench.run_bench import ROOT, Farm, ensure_user_venv, measure, our_env, remove_db

__all__ = ["main"]


def _new(stdout: str) -> int:
    return int(stdout.split(" new")[0].rsplit(" ", 1)[-1]) if " new" in stdout else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab_news", description=__doc__)
    ap.add_argument("--src", action="append", default=[], help="a source tree (repeatable)")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=str, default="")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args(argv)
    if not a.data.is_dir():
        print(f"ab_news: {a.data} is absent (real news text); nothing run", file=sys.stderr)
        return 0
    srcs = [str(Path(s).resolve()) for s in (a.src or ["."])]
    a.out.mkdir(parents=True, exist_ok=True)
    env0 = our_env()
    if a.workers:
        env0["INGEST_WORKERS"] = a.workers
    py = str(ensure_user_venv() / "python")  # ours as a user installs it (see run_bench)
    opml = a.out / "ab-news-farm.opml"
    farm = Farm(a.feeds, opml, octet=10, data=a.data)
    results: dict[int, list[tuple[float, float, dict[str, float]]]] = {
        i: [] for i in range(len(srcs))
    }
    try:
        for i, src in enumerate(srcs):
            env = {**env0, "PYTHONPATH": src}
            db = a.out / f"ab-news-{i}.db"
            remove_db(db)
            for cmd in (("feeds", "import", str(opml)), ("run", "--all")):
                m = measure([py, "-P", "-m", "ingest", "--db", str(db), *cmd], env)
                if m.returncode:
                    print(m.stdout, m.stderr, file=sys.stderr)
                    return 1
            if new := _new(m.stdout):  # the cold run: not the figure compared, shown
                print(f"  cold {i} {src}: {1e3 * m.cpu_s / new:.2f} ms CPU an article", flush=True)
        for r in range(1, a.rounds + 1):
            farm.news(r)
            for i, src in enumerate(srcs):
                env = {**env0, "PYTHONPATH": src}
                db = a.out / f"ab-news-{i}.db"
                m = measure(
                    [py, "-P", "-m", "ingest", "--db", str(db), "run", "--all", "--timings"], env
                )
                new = _new(m.stdout)
                if m.returncode or not new:
                    print(m.stdout, m.stderr, file=sys.stderr)
                    return 1
                results[i].append((1e3 * m.cpu_s / new, m.seconds, m.stages))
                items = [ln for ln in m.stdout.splitlines() if ln.startswith("items:")]
                print(f"  round {r} {i} {src}: {new} new, {1e3 * m.cpu_s / new:.2f} ms CPU a new"
                      f" article, wall {m.seconds:.1f} s {' '.join(items)}", flush=True)  # fmt: skip
    finally:
        farm.stop()
    print(f"\n{a.feeds} feeds x 50, news (one new item a feed), medians of {a.rounds} rounds:")
    for i, src in enumerate(srcs):
        rs = results[i]
        stages = {k: statistics.median(r[2].get(k, 0.0) for r in rs) for k in rs[0][2]}
        print(f"  {src}: CPU {statistics.median(r[0] for r in rs):.2f} ms a new article (runs"
              f" {', '.join(f'{r[0]:.2f}' for r in rs)}), wall"
              f" {statistics.median(r[1] for r in rs):.1f} s")  # fmt: skip
        print("    stages: " + " ".join(f"{k}={v:.2f}s" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
