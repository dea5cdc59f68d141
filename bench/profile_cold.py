"""Where a cold article's CPU goes: one cold `ingest run --all` on the real-text farm, profiled.

    python -m bench.profile_cold [--feeds 200] [--data ../shared/newsdata] [--top 30]
    make profile NEWSDATA=PATH

The farm (bench.farm, real news text, a separate process so that its CPU stays out of the
profile) serves `--feeds` feeds x 50 items; the run is `python -m cProfile -m ingest ... run
--all` with one worker process (INGEST_WORKERS=1: cProfile sees one process) and no per-host
delay, every other setting default. Printed: CPU per article by area (each function's own
time, summed by the module it lives in) and the top functions by own time; the raw profile is
bench/out/profile-cold.prof (`python -m pstats` or snakeviz read it).
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import time
from pathlib import Path

from bench import run_bench
from bench.realtext import DEFAULT_DATA
from bench.run_bench import OUR_ENV, ROOT, Farm, ensure_user_venv, our_cmd, our_env, remove_db

__all__ = ["AREAS", "area_of", "main"]

_MATCH = "story match (ingest/dedupe/_match.py, _keys.py: match, keys, decoding)"
_SIGNATURE = "story signature (ingest/dedupe/_sketch.py, _signature.py: signature, bytes)"
# (area, a substring of the function's file path or name), first match wins
AREAS: tuple[tuple[str, str], ...] = (
    ("language detection (fastText)", "fasttext"),
    ("language detection (py3langid)", "py3langid"),
    (_MATCH, "ingest/dedupe/_match.py"),
    (_MATCH, "ingest/dedupe/_keys.py"),
    (_MATCH, "ingest/dedupe/_signature.py:from_bytes"),
    (_MATCH, "ingest/dedupe/_signature.py:_check"),
    (_MATCH, "ingest/dedupe/_signature.py:valid_bytes"),
    (_MATCH, "ingest/dedupe/_signature.py:with_bytes"),
    (_MATCH, "ingest/dedupe/_signature.py:<genexpr>"),
    (_SIGNATURE, "ingest/dedupe/_signature.py"),
    (_SIGNATURE, "ingest/dedupe/_sketch.py"),
    ("language detection (fastText)", "ingest/language.py"),
    ("story candidates (storage/*/story_index.py)", "story_index.py"),
    ("story decision, store side (storage/*/stories.py, ingest/dedupe/)", "sqlite/stories.py"),
    ("story decision, store side (storage/*/stories.py, ingest/dedupe/)", "ingest/dedupe/"),
    ("sqlite (execute, commit)", "sqlite3"),
    ("store (storage/)", "/storage/"),
    ("sqlite-utils", "sqlite_utils"),
    ("parse (ingest/parse/)", "ingest/parse/"),
    ("feedparser", "feedparser"),
    ("lxml", "lxml"),
    ("normalize / text (ingest/normalize.py, text.py)", "ingest/normalize.py"),
    ("normalize / text (ingest/normalize.py, text.py)", "ingest/text.py"),
    ("nh3 (sanitizing)", "nh3"),
    ("identity / urls", "ingest/identity.py"),
    ("identity / urls", "ingest/urls.py"),
    ("fetch (ingest/fetch.py, http)", "ingest/fetch.py"),
    ("fetch (ingest/fetch.py, http)", "ingest/http11.py"),
    ("fetch (ingest/fetch.py, http)", "ingest/aionet.py"),
    ("fetch (ingest/fetch.py, http)", "httpx"),
    ("fetch (ingest/fetch.py, http)", "httpcore"),
    ("fetch (ingest/fetch.py, http)", "h11"),
    ("gzip / zlib", "zlib"),
    ("pipeline (ingest/pipeline.py)", "ingest/pipeline.py"),
    ("pipeline (ingest/pipeline.py)", "ingest/_writebatch.py"),
    ("asyncio / selectors", "asyncio"),
    ("asyncio / selectors", "selectors"),
    ("regex", "re/"),
    ("regex", "method 'sub' of 're.Pattern'"),
    ("regex", "method 'findall' of 're.Pattern'"),
    ("regex", "method 'finditer' of 're.Pattern'"),
    ("regex", "method 'split' of 're.Pattern'"),
    ("regex", "method 'search' of 're.Pattern'"),
    ("regex", "method 'match' of 're.Pattern'"),
    ("xxhash", "xxhash"),
    ("imports / start-up", "<frozen importlib"),
)


def area_of(file: str, name: str) -> str:
    where = f"{file}:{name}"
    for area, needle in AREAS:
        if needle in where:
            return area
    return "other (builtins, stdlib)"


_Key = tuple[str, int, str]


def by_area(raw: dict[_Key, tuple[int, int, float, float, dict[_Key, tuple]]]) -> dict[str, float]:
    """Own time summed by area. A built-in's own time (sqlite3's execute, dict.get, sorted,
    xxhash ...: file "~") goes to the areas of its callers, in proportion to the time each
    call site spent in it: the candidate lookup's SQL counts as story candidates, a commit
    as the store, fastText's predict as language detection."""
    out: dict[str, float] = {}

    def area(key: _Key, depth: int = 0) -> dict[str, float]:
        file, _line, name = key
        direct = area_of(file, name)
        if file != "~" or depth > 3:
            return {direct: 1.0}
        callers = raw[key][4]
        spent = sum(v[2] for v in callers.values())
        if not spent:
            return {direct: 1.0}
        shares: dict[str, float] = {}
        for caller, v in callers.items():
            for k, w in area(caller, depth + 1).items():
                shares[k] = shares.get(k, 0.0) + w * v[2] / spent
        return shares

    for key, (_cc, _nc, tt, _ct, _callers) in raw.items():
        for k, w in area(key).items():
            out[k] = out.get(k, 0.0) + tt * w
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_cold", description=__doc__)
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args(argv)
    if not a.data.is_dir():
        print(f"profile: {a.data} is absent (real news text, read at run time); nothing run",
              file=sys.stderr)  # fmt: skip
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    run_bench.OUR_BIN = ensure_user_venv()
    db = a.out / "profile-cold.db"
    prof = a.out / "profile-cold.prof"
    remove_db(db)
    env = our_env({**OUR_ENV, "INGEST_WORKERS": "1"})
    opml = a.out / "profile-farm.opml"
    farm = Farm(a.feeds, opml, octet=7, data=a.data)
    try:
        subprocess.run(our_cmd(db, "feeds", "import", str(opml)), env=env, check=True,
                       capture_output=True, cwd=ROOT)  # fmt: skip
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
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    articles = a.feeds * 50
    areas = by_area(raw)  # type: ignore[arg-type]
    print(f"\n{a.feeds} feeds x 50 = {articles} articles, one process; wall {wall:.2f} s "
          f"(under cProfile), profiled CPU {total:.2f} s = {1e3 * total / articles:.3f} ms "
          "an article")  # fmt: skip
    for area, tt in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * tt / total:5.1f} %  {1e6 * tt / articles:7.1f} us/article  {area}")
    print(f"\ntop {a.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(a.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
