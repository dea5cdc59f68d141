"""The peer, lemon24/reader, driven as its users drive it (run with bench/.venv-reader's python).

    python bench/reader_run.py add DB FILE.opml   add every feed of the OPML file
    python bench/reader_run.py update DB          update_feeds(scheduled=False), defaults otherwise

`scheduled=False` updates every feed, as `ingest run --all` does (reader's default, scheduled=True,
would skip feeds updated less than an hour ago, which makes a warm run measure nothing);
`workers` is left at reader's default (1). Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import re
import sys
import time


def main() -> int:
    from reader import make_reader  # type: ignore[import-not-found]

    cmd, db = sys.argv[1], sys.argv[2]
    reader = make_reader(db)
    t0 = time.perf_counter()
    if cmd == "add":
        with open(sys.argv[3], encoding="utf-8") as f:
            urls = re.findall(r'xmlUrl="([^"]+)"', f.read())
        for url in urls:
            reader.add_feed(url, exist_ok=True)
        out: dict[str, object] = {"added": len(urls)}
    elif cmd == "update":
        reader.update_feeds(scheduled=False)
        counts = reader.get_entry_counts()
        errors = sum(1 for feed in reader.get_feeds() if feed.last_exception)
        out = {"entries": counts.total, "feeds_with_errors": errors}
    else:
        print(f"unknown command {cmd!r}", file=sys.stderr)
        return 2
    out["elapsed_s"] = round(time.perf_counter() - t0, 3)
    reader.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
