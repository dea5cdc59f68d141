"""`ingest` with story dedup and the full-text index taken out: what a run costs without them.

    python -m bench.floor --db X run --all --timings      (the `ingest` CLI's arguments)

A what-if for `make bench` (issue #6), never a mode of the product: the cold target asks
for 10x reader, and this run says how much of a cold run those two features are, and how
fast the rest of the pipeline (fetch, parse, normalize, identity and URL dedup, store) is
on its own. The patches, in this process only (and its forked workers):

- `ingest.pipeline.signed` gives every article no story signature, so the store finds no
  candidates and gives each new article a story of its own, writing no story-index rows;
- `SQLiteStore.index_pending` indexes nothing (articles are stored, not made searchable).

Everything else is the product as installed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ingest import pipeline
from ingest.models import Article
from storage.sqlite import SQLiteStore


def _unsigned(
    articles: Sequence[Article], known: Collection[str] = ()
) -> list[tuple[Article, bytes | None]]:
    return [(a, None) for a in articles]


def _no_index(self: SQLiteStore) -> int:
    return 0


def main() -> None:
    pipeline.signed = _unsigned
    SQLiteStore.index_pending = _no_index  # type: ignore[method-assign]
    from ingest.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
