"""Stories on PostgreSQL: candidates from the story index, `ingest.dedupe.decide` applied in
the write's transaction (the write holds advisory locks on the article's band keys, so two
workers storing copies of one story decide one after the other: see `PgWrites`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ingest.dedupe import StoryDecision, better_representative, candidate_since, decide
from ingest.dedupe.story import FULL_TEXT_WORDS
from ingest.models import Article
from ingest.stories import CANDIDATES, Signature, min_shared_keys
from storage.common import iso
from storage.story_state import read_story_state

from .base import Conn, PgBase
from .story_index import PgStoryIndex

__all__ = ["ELECT", "PgStories"]

# a story's representative: its earliest full-text article, else its earliest; ties to the
# lower id (`better_representative` is the same rule for an article not written yet)
ELECT = """(SELECT a.id FROM articles a WHERE a.story_id = stories.id
    ORDER BY a.word_count < %(full)s, COALESCE(a.published_at, a.first_seen_at), a.id LIMIT 1)"""


class PgStories(PgBase):
    """The story part of a PostgreSQL write."""

    def _decide_story(
        self,
        tx: Conn,
        a: Article,
        article_id: int,
        sig: Signature | None,
        keys: Sequence[int],
        window_days: int,
    ) -> StoryDecision:
        when = a.published_at or a.fetched_at
        cands = []
        if sig is not None:
            since = candidate_since(when, window_days)
            cands = PgStoryIndex(tx).candidates(keys, since, CANDIDATES, min_shared_keys(sig))
        d = decide(
            article_id,
            sig,
            cands,
            published_at=when,
            story_of=lambda story_id: read_story_state(tx, story_id, "%s"),
            copy_of=lambda aid: self._duplicate_of(tx, aid),
        )
        if d.founds:
            return d
        # the stories' rows are locked (in id order) before they are changed; one folded by
        # another worker meanwhile (sharing no band key, so not serialized with this one)
        # is followed to where it went
        ids = sorted({d.story_id, *d.fold})
        merged: dict[int, int] = dict(
            tx.execute(
                """WITH locked AS (SELECT id FROM stories WHERE id = ANY(%(ids)s)
                                   ORDER BY id FOR UPDATE)
                   SELECT story_id, into_story_id FROM story_merges
                   WHERE story_id = ANY(%(ids)s) AND (SELECT count(*) FROM locked) >= 0""",
                {"ids": ids},
            ).fetchall()
        )
        if not merged:
            return d
        homes = sorted({int(merged.get(s, s)) for s in ids})
        return dataclasses.replace(d, story_id=homes[0], fold=tuple(homes[1:]))

    def _duplicate_of(self, tx: Conn, article_id: int) -> int | None:
        """A stored article's `duplicate_of`."""
        row = tx.execute("SELECT duplicate_of FROM articles WHERE id = %s", (article_id,))
        found = row.fetchone()
        return None if found is None or found[0] is None else int(found[0])

    def _apply_story_before(self, tx: Conn, d: StoryDecision, article_id: int, now_s: str) -> None:
        """What a decision changes before the new article's row is written: folds, and copy
        groups joined to an earlier original."""
        if d.repoint:
            tx.execute(
                "UPDATE articles SET duplicate_of = %(to)s"
                " WHERE id = ANY(%(ids)s) OR duplicate_of = ANY(%(ids)s)",
                {"to": d.duplicate_of, "ids": list(d.repoint)},
            )
        for old in d.fold:
            tx.execute(
                """UPDATE story_sig SET story_id = %s WHERE article_id IN
                   (SELECT id FROM articles WHERE story_id = %s)""",
                (d.story_id, old),
            )
            tx.execute("UPDATE articles SET story_id = %s WHERE story_id = %s", (d.story_id, old))
            tx.execute(
                "UPDATE story_links SET story_id = %s WHERE story_id = %s", (d.story_id, old)
            )
            tx.execute(
                """UPDATE story_links SET level = 'merged', reason = 'story merged into ' || %s
                   WHERE article_id = %s AND level = 'self'""",
                (str(d.story_id), old),
            )
            tx.execute(
                """INSERT INTO story_merges (story_id, into_story_id, article_id, at, reason)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (story_id) DO UPDATE SET
                   into_story_id = EXCLUDED.into_story_id, article_id = EXCLUDED.article_id,
                   at = EXCLUDED.at, reason = EXCLUDED.reason""",
                (old, d.story_id, article_id, now_s, "a new article is a copy of both"),
            )
            tx.execute(
                "UPDATE story_merges SET into_story_id = %s WHERE into_story_id = %s",
                (d.story_id, old),
            )
            tx.execute("DELETE FROM stories WHERE id = %s", (old,))
        if d.fold:
            tx.execute(
                f"""UPDATE stories SET updated_at = %(now)s,
                      first_seen_at = (SELECT MIN(first_seen_at) FROM articles a
                                       WHERE a.story_id = stories.id),
                      n_articles = (SELECT COUNT(*) FROM articles a
                                    WHERE a.story_id = stories.id),
                      representative_id = {ELECT}
                    WHERE id = %(id)s""",
                {"now": now_s, "full": FULL_TEXT_WORDS, "id": d.story_id},
            )

    def _apply_story_after(
        self, tx: Conn, d: StoryDecision, a: Article, article_id: int, now_s: str
    ) -> None:
        """What a decision writes once the new article's row is in: the story, the link."""
        if d.founds:
            tx.execute(
                """INSERT INTO stories (id, representative_id, first_seen_at, updated_at,
                   n_articles) VALUES (%s, %s, %s, %s, 1)""",
                (d.story_id, article_id, now_s, now_s),
            )
        else:
            row = tx.execute(
                """UPDATE stories SET n_articles = n_articles + 1, updated_at = %s WHERE id = %s
                   RETURNING (SELECT ARRAY[r.id, r.word_count]::text[]
                                     || COALESCE(r.published_at, r.first_seen_at)
                              FROM articles r WHERE r.id = stories.representative_id)""",
                (now_s, d.story_id),
            ).fetchone()
            if row is not None and row[0] is not None:
                rep_id, rep_words, rep_when = row[0]
                new = (a.word_count, iso(a.published_at or a.fetched_at), article_id)
                if better_representative(new, (int(rep_words), rep_when, int(rep_id))):
                    tx.execute(
                        "UPDATE stories SET representative_id = %s WHERE id = %s",
                        (article_id, d.story_id),
                    )
        tx.execute(
            """INSERT INTO story_links (article_id, story_id, level, score, reason,
               matched_article_id) VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (article_id) DO NOTHING""",
            (article_id, d.story_id, d.level, d.score, d.reason, d.matched_article_id),
        )
