"""Scaling benchmark of story dedup (issue #5): cost per new article as the store grows.

    python -m bench.dedup_scale [--sizes 10000,100000,1000000] [--db PATH] [--probes 300]

Builds one real SQLite file (WAL) and grows it to each size in turn; at each size it ingests
`--probes` new articles the way the store does -- signature, band_keys, candidates (3-day
window, limit 50), match, add -- inside a transaction per 20 articles, and reports the median
and p95 time of each stage per article.

The stored articles are bulk-inserted index rows (`story_sig` + `story_band`) with random
band keys (real keys are uniform 64-bit hashes; as many per article as real signatures of
the synthetic text have) and one shared real signature blob, at a steady
5,000 articles a day, so a bigger store is a longer history: the 3-day window always holds
about 15,000 articles.  Each size also gets 200 real articles (synthetic text through the
real `signature`) whose near-copies are among the probes, so matching does real work.

Not modelled: keys shared by many articles in real news (an anchor shingle such as "the
prime minister", a common name as an event key) -- random keys are all distinct, so the
candidate query reads ~1 row per key here.  The connection uses the store's PRAGMAs (WAL,
synchronous=NORMAL) and SQLite's default page cache, as `storage.sqlite` does.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.dedupe import CANDIDATES, band_keys, match, signature
from storage import story_index

__all__ = ["main"]

PER_DAY = 5000
WINDOW = timedelta(days=3)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SEED = 7


def _vocab(rng: random.Random, n: int = 20000) -> tuple[list[str], list[float]]:
    syll = ["ka", "to", "ri", "mon", "el", "sa", "vin", "du", "per", "lo", "an", "sti", "gra"]
    words = sorted({"".join(rng.choices(syll, k=rng.randint(1, 4))) for _ in range(n * 2)})[:n]
    weights = [1.0 / (r + 1) for r in range(len(words))]  # Zipf
    return words, weights


def _text(rng: random.Random, vocab: tuple[list[str], list[float]], n: int = 300) -> str:
    words = rng.choices(vocab[0], weights=vocab[1], k=n)
    return " ".join(words)


def _grow(conn: sqlite3.Connection, start: int, stop: int, rng: random.Random) -> None:
    """Bulk-insert index rows for article ids start..stop-1 (random keys)."""
    vocab = _vocab(random.Random(SEED))
    sigs = [signature(f"s{k}", _text(random.Random(k), vocab)) for k in range(20)]
    blob = sigs[0].to_bytes()
    n_keys = round(statistics.mean(len(band_keys(s)) for s in sigs))  # as many as real ones
    base = int(T0.timestamp())
    batch = 50_000
    for lo in range(start, stop, batch):
        hi = min(stop, lo + batch)
        sig_rows = [(i, i, base + i * 86400 // PER_DAY, blob) for i in range(lo, hi)]
        band_rows = [
            (rng.getrandbits(64) - (1 << 63), ts, i)
            for i, _, ts, _ in sig_rows
            for _ in range(n_keys)
        ]
        band_rows.sort()
        conn.executemany("INSERT INTO story_sig VALUES (?, ?, ?, ?)", sig_rows)
        conn.executemany("INSERT OR IGNORE INTO story_band VALUES (?, ?, ?)", band_rows)
        conn.commit()


def _when(article_no: int) -> datetime:
    return T0 + timedelta(seconds=article_no * 86400 // PER_DAY)


def _measure(
    conn: sqlite3.Connection,
    size: int,
    probes: int,
    rng: random.Random,
    vocab: tuple[list[str], list[float]],
) -> dict[str, list[float]]:
    now = _when(size)
    originals = [_text(rng, vocab) for _ in range(200)]
    next_id = 10**9 + size  # ids above the bulk rows
    for k, text in enumerate(originals):
        story_index.add(conn, next_id + k, next_id + k, signature(f"o{k}", text), now)
    conn.commit()
    next_id += len(originals)
    stages: dict[str, list[float]] = {
        k: [] for k in ("signature", "band_keys", "candidates", "match", "add", "total")
    }
    matched = 0
    for p in range(probes):
        if p % 2 == 0:  # a near-copy of a stored article
            words = originals[p % len(originals)].split()
            words[rng.randrange(len(words))] = "edited"
            text = "Advertisement " + " ".join(words) + " Share this story"
        else:
            text = _text(rng, vocab)
        t0 = time.perf_counter()
        sig = signature(f"probe {p}", text)
        t1 = time.perf_counter()
        keys = band_keys(sig)
        t2 = time.perf_counter()
        cands = story_index.candidates(conn, keys, now - WINDOW, CANDIDATES)
        t3 = time.perf_counter()
        m = match(sig, cands, published_at=now)
        t4 = time.perf_counter()
        story_index.add(conn, next_id + p, m.story_id if m else next_id + p, sig, now)
        t5 = time.perf_counter()
        matched += m is not None
        if p % 20 == 19:
            conn.commit()
        for name, dt in zip(
            stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True
        ):
            stages[name].append(dt * 1000)
    conn.commit()
    stages["matched"] = [float(matched)]
    return stages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dedup_scale")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--db", type=Path, default=None, help="default: a temporary file")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    tmp = tempfile.TemporaryDirectory() if args.db is None else None
    path = args.db or Path(tmp.name if tmp else ".") / "scale.db"
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    story_index.ensure_schema(conn)
    conn.commit()
    rng = random.Random(SEED)
    vocab = _vocab(rng)
    print(
        f"{'stored':>9} {'build s':>8} {'db MB':>7} {'sig':>6} {'keys':>6} {'cands':>6} "
        f"{'match':>6} {'add':>6} {'total':>6} {'p95':>6}  (ms per article, median)"
    )
    have = 0
    for size in sizes:
        t0 = time.perf_counter()
        _grow(conn, have, size, rng)
        build = time.perf_counter() - t0
        have = size
        st = _measure(conn, size, args.probes, rng, vocab)
        med = {k: statistics.median(v) for k, v in st.items()}
        p95 = statistics.quantiles(st["total"], n=20)[-1]
        mb = path.stat().st_size / 1e6
        print(
            f"{size:>9,} {build:>8.1f} {mb:>7.0f} {med['signature']:>6.2f} {med['band_keys']:>6.2f} "
            f"{med['candidates']:>6.2f} {med['match']:>6.2f} {med['add']:>6.2f} "
            f"{med['total']:>6.2f} {p95:>6.2f}  matched {int(st['matched'][0])}/{args.probes}",
            flush=True,
        )
    conn.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
