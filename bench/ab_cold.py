"""Interleaved A/B of whole cold runs: CPU per new article of each source tree, one farm.

    python -m bench.ab_cold --src /tmp/base --src . [--feeds 200] [--rounds 3] [--workers 1]
    python -m bench.ab_cold --src . --floor        # also the what-if without story dedup

The real-text farm (bench.farm) serves `--feeds` feeds x 50 items for the whole comparison.
Each round runs, for every source tree in turn (A, B, A, B ...), one cold
`python -m ingest --db X run --all --timings` into a fresh database, with that tree's
`ingest` and `storage` first on the path, at `INGEST_PER_HOST_DELAY=0` and every other
setting default (`--workers` sets INGEST_WORKERS). Reported per tree: the median CPU (user +
system of the whole process tree) per new article, the median wall time, the peak tree RSS
and the per-stage sums the run prints. On a machine shared with other work the CPU figures
are the ones to compare: wall time moves with the load, CPU much less, and the interleaving
exposes both trees to the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench.realtext import DEFAULT_DATA
from bench.run_bench import ROOT, Farm, ensure_user_venv, measure, our_env, remove_db

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab_cold", description=__doc__)
    ap.add_argument("--src", action="append", default=[], help="a source tree (repeatable)")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=str, default="")
    ap.add_argument("--floor", action="store_true", help="also --src's first tree, no dedup")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args(argv)
    if not a.data.is_dir():
        print(f"ab_cold: {a.data} is absent (real news text); nothing run", file=sys.stderr)
        return 0
    srcs = [str(Path(s).resolve()) for s in (a.src or ["."])]
    variants = [(s, False) for s in srcs] + ([(srcs[0], True)] if a.floor else [])
    a.out.mkdir(parents=True, exist_ok=True)
    env0 = our_env()
    if a.workers:
        env0["INGEST_WORKERS"] = a.workers
    py = str(ensure_user_venv() / "python")  # ours as a user installs it (see run_bench)
    opml = a.out / "ab-farm.opml"
    farm = Farm(a.feeds, opml, octet=9, data=a.data)
    results: dict[int, list[tuple[float, float, float, dict[str, float]]]] = {
        i: [] for i in range(len(variants))
    }
    try:
        for _ in range(a.rounds):
            for i, (src, floor) in enumerate(variants):
                # -P: without it `-m` puts the working directory (this checkout) first on
                # the path, and every tree would run this checkout's code
                env = {**env0, "PYTHONPATH": os.pathsep.join((src, str(ROOT)))}
                db = a.out / f"ab-{i}.db"
                remove_db(db)
                m = measure([py, "-P", "-m", "ingest", "--db", str(db), "feeds", "import", str(opml)],
                            env)  # fmt: skip
                if m.returncode:
                    print(m.stderr, file=sys.stderr)
                    return 1
                mod = ["-m", "bench.floor"] if floor else ["-m", "ingest"]
                m = measure([py, "-P", *mod, "--db", str(db), "run", "--all", "--timings"], env)
                new = int(m.stdout.split(" new")[0].rsplit(" ", 1)[-1]) if " new" in m.stdout else 0
                if m.returncode or not new:
                    print(m.stdout, m.stderr, file=sys.stderr)
                    return 1
                results[i].append((1e3 * m.cpu_s / new, m.seconds, m.peak_rss_mb, m.stages))
                print(f"  {i} {'floor ' if floor else ''}{src}: {1e3 * m.cpu_s / new:.3f} ms CPU"
                      f" an article, wall {m.seconds:.1f} s, {m.peak_rss_mb:.0f} MB",
                      flush=True)  # fmt: skip
    finally:
        farm.stop()
    print(f"\n{a.feeds} feeds x 50, cold, medians of {a.rounds} interleaved rounds:")
    for i, (src, floor) in enumerate(variants):
        rs = results[i]
        stages = {k: statistics.median(r[3].get(k, 0.0) for r in rs) for k in rs[0][3]}
        print(f"  {'floor ' if floor else ''}{src}: CPU {statistics.median(r[0] for r in rs):.3f}"
              f" ms an article (runs {', '.join(f'{r[0]:.3f}' for r in rs)}), wall"
              f" {statistics.median(r[1] for r in rs):.1f} s, peak RSS"
              f" {max(r[2] for r in rs):.0f} MB")  # fmt: skip
        print("    stages: " + " ".join(f"{k}={v:.2f}s" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
