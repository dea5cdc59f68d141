"""Stories on SQLite: the candidates for a new article from the story index, and the
decision of `ingest.dedupe.decide` applied (a new story, a link, folded stories, the
representative) inside the batch's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingest.dedupe import (
    CANDIDATES,
    Signature,
    StoryDecision,
    StoryState,
    band_keys,
    better_representative,
    candidate_since,
    decide,
    min_shared_keys,
)
from ingest.models import Article
from storage.common import Prepared, iso
from storage.story_state import read_story_state

from .base import SQLiteBase
from .batch import Known
from .schema import ELECT, FULL_TEXT_WORDS
from .story_index import SQLiteStoryIndex

if TYPE_CHECKING:
    from ingest.dedupe import Candidate

__all__ = ["SQLiteStories"]


class SQLiteStories(SQLiteBase):
    """The story part of a SQLite write."""

    def _assign_story(
        self,
        tx: sqlite3.Connection,
        a: Article,
        article_id: int,
        sig: Signature | bytes | Prepared | None,
        window_days: int,
        known: Known,
    ) -> StoryDecision:
        """Decide the story of a new article (before its row is written). A new story
        takes the id of its first article.

        The rows it decides are queued in `known` and written with the batch's others. A
        lookup sees the store as if they had been written at once: the queue is written
        first when the article shares a band key with a queued one (only then can a queued
        article be a candidate), and before a story is joined (its row and representative
        are read and updated). Only a shared key lets a queued article be found: the index
        rows are all `candidates` reads."""
        blob = b""
        keys: Sequence[int] = ()
        if isinstance(sig, Prepared):  # keys computed before the write lock (`prepare`)
            blob, keys = sig.blob, sig.keys
            sig = Signature.from_bytes(blob)
        elif sig is not None:  # serialized, as the pipeline carries it (see `pipeline.signed`)
            sig, blob = Signature.with_bytes(sig)
            keys = band_keys(sig)
        when = a.published_at or a.fetched_at
        cands: list[Candidate] = []
        if sig is not None:
            if not known.pending_keys.isdisjoint(keys):
                known.write_index(tx)
            since = candidate_since(when, window_days)
            cands = SQLiteStoryIndex(tx).candidates(keys, since, CANDIDATES, min_shared_keys(sig))
        decision = decide(
            article_id,
            sig,
            cands,
            published_at=when,
            story_of=lambda story_id: self._story_state(tx, story_id, known),
            copy_of=lambda aid: self._duplicate_of(tx, aid, known),
        )
        self._apply_story(tx, decision, a, article_id, known)
        if sig is not None:  # queued serialized: a few hundred may wait for the batch
            known.new_index.append((article_id, decision.story_id, when, blob, keys))
            known.pending_keys.update(keys)
        return decision

    def _story_state(self, tx: sqlite3.Connection, story_id: int, known: Known) -> StoryState:
        """What the chain rule reads of a story (`ingest.dedupe.chains`): its latest
        members' signatures, its count of reports, its earliest date."""
        known.write_pending(tx)
        return read_story_state(tx, story_id, "?")

    def _duplicate_of(self, tx: sqlite3.Connection, article_id: int, known: Known) -> int | None:
        """A stored (or queued) article's `duplicate_of`."""
        for row in known.new_articles:  # queued: (..., id, story_id, duplicate_of)
            if row[-3] == article_id:
                return None if row[-1] is None else int(row[-1])
        found = tx.execute("SELECT duplicate_of FROM articles WHERE id = ?", (article_id,))
        stored = found.fetchone()
        return None if stored is None or stored[0] is None else int(stored[0])

    def _apply_story(
        self,
        tx: sqlite3.Connection,
        d: StoryDecision,
        a: Article,
        article_id: int,
        known: Known,
    ) -> None:
        """Write a story decision for the new article `article_id` (whose row is queued)."""
        now_s = iso(a.fetched_at)
        if d.founds:
            known.new_stories.append((d.story_id, article_id, now_s, now_s))
            known.new_links.append((article_id, d.story_id, "self", None, None, None))
            return
        known.write_pending(tx)
        if d.fold:
            self._fold_stories(tx, d.story_id, d.fold, article_id, now_s)
        if d.repoint:  # copy groups the new article joins to an earlier original
            marks = ", ".join("?" * len(d.repoint))
            tx.execute(
                f"UPDATE articles SET duplicate_of = ? WHERE id IN ({marks})"
                f" OR duplicate_of IN ({marks})",
                (d.duplicate_of, *d.repoint, *d.repoint),
            )
        known.new_links.append(
            (article_id, d.story_id, d.level, d.score, d.reason, d.matched_article_id)
        )
        tx.execute(
            "UPDATE stories SET n_articles = n_articles + 1, updated_at = ? WHERE id = ?",
            (now_s, d.story_id),
        )
        self._maybe_promote(tx, d.story_id, article_id, a)

    def _fold_stories(
        self,
        tx: sqlite3.Connection,
        into: int,
        gone: Sequence[int],
        article_id: int,
        now_s: str | None,
    ) -> None:
        """A new article is a copy (by body containment) of articles in several stories: the
        duplicate relation is transitive, so they are one story. The oldest (lowest id) keeps
        its id; each other one is folded into it, and `story_merges` records where it went
        (downstream tools that kept its id follow it, possibly over several merges). The
        representative is elected again over the whole story."""
        for old in gone:
            # the index rows first, found through the articles (story_sig has no story index)
            tx.execute(
                """UPDATE story_sig SET story_id = ? WHERE article_id IN
                   (SELECT id FROM articles WHERE story_id = ?)""",
                (into, old),
            )
            tx.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", (into, old))
            tx.execute("UPDATE story_links SET story_id = ? WHERE story_id = ?", (into, old))
            tx.execute(
                """UPDATE story_links SET level = 'merged', reason = 'story merged into ' || ?
                   WHERE article_id = ? AND level = 'self'""",
                (into, old),
            )
            tx.execute(
                """INSERT OR REPLACE INTO story_merges (story_id, into_story_id, article_id,
                   at, reason) VALUES (?, ?, ?, ?, ?)""",
                (old, into, article_id, now_s, "a new article is a copy of both"),
            )
            # earlier merges into the folded story now lead to the kept one directly
            tx.execute(
                "UPDATE story_merges SET into_story_id = ? WHERE into_story_id = ?", (into, old)
            )
            tx.execute("DELETE FROM stories WHERE id = ?", (old,))
        tx.execute(
            f"""UPDATE stories SET updated_at = ?,
                  first_seen_at = (SELECT MIN(first_seen_at) FROM articles a
                                   WHERE a.story_id = stories.id),
                  n_articles = (SELECT COUNT(*) FROM articles a WHERE a.story_id = stories.id),
                  representative_id = {ELECT}
                WHERE id = ?""",
            (now_s, FULL_TEXT_WORDS, into),
        )

    def _maybe_promote(
        self, tx: sqlite3.Connection, story_id: int, article_id: int, a: Article
    ) -> None:
        """The representative: the earliest full-text article (>= FULL_TEXT_WORDS words);
        without one, the earliest article. Ties go to the lower id."""
        row = tx.execute(
            """SELECT a.id, a.word_count, COALESCE(a.published_at, a.first_seen_at)
               FROM stories s JOIN articles a ON a.id = s.representative_id WHERE s.id = ?""",
            (story_id,),
        ).fetchone()
        if row is None:
            return
        new = (a.word_count, iso(a.published_at or a.fetched_at), article_id)
        if better_representative(new, (row[1], row[2], row[0])):
            tx.execute(
                "UPDATE stories SET representative_id = ? WHERE id = ?", (article_id, story_id)
            )
