"""CPU per article of story dedup, stage by stage, and a digest of every decision.

    python bench/story_cpu.py --db bench/out/profile-cold.db [--limit 10000] [--repeats 3]
    python bench/story_cpu.py --db X --src /tmp/base --src . --repeats 3   # A/B, interleaved

Replays the stored articles of a store (e.g. the one `make profile` leaves in bench/out/),
in id order, through what the store does for each new article: `signature` (and its
bytes), `band_keys`, the SQLite story index's `candidates` lookup (3-day window, as the
store asks), `match`, and `add_many` into a fresh in-memory index. Each stage's CPU is
`time.process_time_ns` around it (no profiler overhead), so the machine's load barely moves
it; `--src` runs the replay once per source tree (its `ingest` and `storage` first on the
path), interleaved over `--repeats` rounds, and prints the medians side by side.

The digest (xxh3-128 over every signature's bytes, band keys, candidate ids and match:
level, story, article, score, reason, copies) is printed per source tree: two trees that
print the same digest gave every article the same signature and the same decision.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

STAGES = ("signature", "band_keys", "candidates", "match", "add")


def _articles(db: Path, limit: int) -> list[tuple[str, str, datetime]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT title, content_text, coalesce(published_at, fetched_at) FROM articles"
        " ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    conn.close()
    out = []
    for title, text, when in rows:
        dt = datetime.fromisoformat(when)
        out.append((title, text, dt if dt.tzinfo else dt.replace(tzinfo=UTC)))
    return out


def replay(db: Path, limit: int) -> dict[str, object]:
    """One replay in this process: CPU (ns) per stage, summed, and the digest."""
    import xxhash

    try:
        from ingest.dedupe import CANDIDATES, band_keys, match, min_shared_keys, signature
    except ImportError:  # a --src tree from before the split: the same names, one module
        from ingest.stories import (  # type: ignore[no-redef]
            CANDIDATES,
            band_keys,
            match,
            min_shared_keys,
            signature,
        )
    from storage.sqlite import story_index

    arts = _articles(db, limit)
    conn = sqlite3.connect(":memory:")
    story_index.ensure_schema(conn)
    clock = time.process_time_ns
    spent = dict.fromkeys(STAGES, 0)
    digest = xxhash.xxh3_128()
    signature("warm", "up the idf prior and the module")
    for i, (title, text, when) in enumerate(arts, 1):
        t0 = clock()
        sig = signature(title, text)
        blob = sig.to_bytes()
        t1 = clock()
        keys = band_keys(sig)
        t2 = clock()
        cands = story_index.candidates(
            conn, keys, when - timedelta(days=3), CANDIDATES, min_shared_keys(sig)
        )
        t3 = clock()
        m = match(sig, cands, published_at=when)
        t4 = clock()
        story = m.story_id if m is not None else i
        story_index.add_many(conn, [(i, story, when, blob, keys)])
        t5 = clock()
        spent["signature"] += t1 - t0
        spent["band_keys"] += t2 - t1
        spent["candidates"] += t3 - t2
        spent["match"] += t4 - t3
        spent["add"] += t5 - t4
        digest.update(blob)
        digest.update(repr((keys, [c.article_id for c in cands])).encode())
        if m is not None:
            digest.update(repr((m.level, m.story_id, m.article_id, m.score, m.reason)).encode())
            digest.update(repr(m.copies).encode())
    return {"articles": len(arts), "ns": spent, "digest": digest.hexdigest()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/story_cpu.py", description=__doc__)
    ap.add_argument("--db", type=Path, default=Path("bench/out/profile-cold.db"))
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--src", action="append", default=[], help="a source tree (repeatable)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not a.db.exists():
        print(f"story_cpu: no store at {a.db} (run `make profile` first)", file=sys.stderr)
        return 1
    if a.child or not a.src:
        res = replay(a.db, a.limit)
        if a.child:
            print(json.dumps(res))
            return 0
        runs = {"here": [res]}
    else:
        runs = {src: [] for src in a.src}
        for _ in range(a.repeats):
            for src in a.src:
                env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
                cmd = [sys.executable, __file__, "--child", "--db", str(a.db.resolve()),
                       "--limit", str(a.limit)]  # fmt: skip
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[src].append(json.loads(done.stdout))
    n = runs[next(iter(runs))][0]["articles"]
    print(f"{n} articles, CPU us an article (median of {len(runs[next(iter(runs))])}):")
    print(f"  {'stage':<12}" + "".join(f"{src[-24:]:>26}" for src in runs))
    for stage in (*STAGES, "total"):
        cells = []
        for rs in runs.values():
            vals = [
                (sum(r["ns"].values()) if stage == "total" else r["ns"][stage]) / r["articles"]
                for r in rs
            ]
            cells.append(f"{statistics.median(vals) / 1e3:>26.1f}")
        print(f"  {stage:<12}" + "".join(cells))
    print("  digest      " + "".join(f"{rs[0]['digest'][:24]:>26}" for rs in runs.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
