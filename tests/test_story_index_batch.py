"""story_index.add_many: many articles indexed at once, as adding them one by one would."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_stories import BRIDGE, FERRY, FERRY_OTHER  # tests/ is on sys.path (see conftest)

from ingest.dedupe import Signature, band_keys, signature
from storage.sqlite import story_index

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
Row = tuple[int, int, datetime | None, Signature]


def _tables(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], ...]:
    return (
        conn.execute("SELECT * FROM story_sig ORDER BY article_id").fetchall(),
        conn.execute(
            "SELECT * FROM story_band UNION ALL SELECT * FROM story_band_new"
            " ORDER BY key, published_at, article_id"
        ).fetchall(),
    )


def _both(db: Path, before: list[Row], rows: list[Row]) -> None:
    """`rows` added one by one and with add_many (after `before`, added one by one) leave the
    same tables."""
    out = []
    for many in (False, True):
        conn = sqlite3.connect(f"{db}-{many}.db")
        story_index.ensure_schema(conn)
        for aid, sid, when, sig in before:
            story_index.add(conn, aid, sid, sig, when)
        if many:
            story_index.add_many(conn, [(a, s, w, g, band_keys(g)) for a, s, w, g in rows])
        else:
            for aid, sid, when, sig in rows:
                story_index.add(conn, aid, sid, sig, when)
        out.append(_tables(conn))
        conn.close()
    assert out[0] == out[1]
    assert out[0][1]  # something was indexed


def test_add_many_equals_adding_one_by_one(tmp_path: Path) -> None:
    ferry, bridge = signature("Ferry", FERRY), signature("Bridge", BRIDGE)
    other = signature("Everyone rescued", FERRY_OTHER)
    rows: list[Row] = [
        (3, 3, T0, ferry),
        (4, 3, None, bridge),
        (9, 9, T0 + timedelta(hours=2), other),
    ]
    _both(tmp_path / "new", [], rows)
    # ids already indexed (a revision) are replaced, their old keys dropped
    _both(tmp_path / "revised", [(3, 3, T0 - timedelta(days=1), bridge), (7, 7, T0, ferry)], rows)
    # the same id twice in one call: the later one wins, as one by one
    _both(tmp_path / "twice", [(7, 7, T0, ferry)], [*rows, (3, 5, T0, other)])


def test_add_many_of_nothing_writes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    story_index.ensure_schema(conn)
    story_index.add_many(conn, [])
    assert _tables(conn) == ([], [])
