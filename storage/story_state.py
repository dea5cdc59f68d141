"""What the chain rule reads of a story (`ingest.dedupe.StoryState`), in SQL both backends
run: the latest members' signatures from the story index, with each one's `duplicate_of`;
how many of the story's articles are no copy; its earliest publication date; its
representative's signature (the rule
itself is `ingest.dedupe.chains`). And `duplicate_of` kept pointing at a stored article when
retention deletes an original (`repoint_pruned_copies`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.dedupe import Member, StoryState
from ingest.dedupe.chains import SAMPLE

__all__ = ["FILL_DUPLICATE_OF", "LATEST_ROWS", "read_story_state", "repoint_pruned_copies"]

#: members read per story asked: the rule asks the SAMPLE latest reports, and an article's
#: copies are members too
LATEST_ROWS = 8 * SAMPLE


#: the migration that adds `duplicate_of` fills it from the stored links (both backends): a
#: "duplicate" link's matched article, followed up its own "duplicate" links to the earliest
#: article still stored (a matched article is always stored before the one it matched)
FILL_DUPLICATE_OF = """
    WITH RECURSIVE up(article_id, root, depth) AS (
        SELECT article_id, matched_article_id, 1 FROM story_links
        WHERE level = 'duplicate' AND matched_article_id IS NOT NULL
        UNION ALL
        SELECT up.article_id, l.matched_article_id, up.depth + 1 FROM up
        JOIN story_links l ON l.article_id = up.root
        WHERE l.level = 'duplicate' AND l.matched_article_id IS NOT NULL
            AND l.matched_article_id < up.root AND up.depth < 10000
    )
    UPDATE articles SET duplicate_of = (
        SELECT min(up.root) FROM up JOIN articles o ON o.id = up.root
        WHERE up.article_id = articles.id
    )
    WHERE id IN (SELECT article_id FROM story_links WHERE level = 'duplicate')
"""


def _dt(ts: int | None) -> datetime | None:
    return None if not ts else datetime.fromtimestamp(int(ts), UTC)


def read_story_state(tx: Any, story_id: int, mark: str) -> StoryState:
    """The state of story `story_id` on an open connection `tx` (sqlite3 or psycopg; `mark`:
    its parameter marker, "?" or "%s")."""
    reports, began = tx.execute(
        "SELECT SUM(CASE WHEN a.duplicate_of IS NULL THEN 1 ELSE 0 END),"
        " MIN(NULLIF(s.published_at, 0))"
        f" FROM articles a JOIN story_sig s ON s.article_id = a.id WHERE a.story_id = {mark}",
        (story_id,),
    ).fetchone()
    rows = tx.execute(
        "SELECT s.article_id, s.sig, s.published_at, a.duplicate_of"
        f" FROM articles a JOIN story_sig s ON s.article_id = a.id WHERE a.story_id = {mark}"
        f" ORDER BY s.published_at DESC, s.article_id DESC LIMIT {LATEST_ROWS}",
        (story_id,),
    ).fetchall()
    rep = tx.execute(
        "SELECT s.article_id, s.sig, s.published_at, a.duplicate_of FROM stories st"
        " JOIN story_sig s ON s.article_id = st.representative_id"
        f" JOIN articles a ON a.id = s.article_id WHERE st.id = {mark}",
        (story_id,),
    ).fetchone()
    latest = [_member(row) for row in rows]
    representative = None if rep is None else _member(rep)
    return StoryState(latest, int(reports or 0), _dt(began), representative)


def _member(row: tuple[Any, ...]) -> Member:
    aid, sig, ts, dup = row
    return Member(int(aid), bytes(sig), _dt(ts), None if dup is None else int(dup))


def repoint_pruned_copies(tx: Any, mark: str) -> None:
    """After articles were deleted: the copies of a deleted original point at the earliest
    copy left, which becomes the group's original (`duplicate_of` never names a deleted
    article)."""
    orphans = tx.execute(
        "SELECT duplicate_of, MIN(id) FROM articles WHERE duplicate_of IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM articles o WHERE o.id = articles.duplicate_of)"
        " GROUP BY duplicate_of"
    ).fetchall()
    for old, new in orphans:
        tx.execute(
            f"UPDATE articles SET duplicate_of = CASE WHEN id = {mark} THEN NULL ELSE {mark} END"
            f" WHERE duplicate_of = {mark}",
            (new, new, old),
        )
